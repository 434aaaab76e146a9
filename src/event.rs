//! iCalendar text → the events calmeet cares about.
//!
//! This module owns reading: byte-level unfolding (a fold may split a UTF-8 sequence), parsing
//! with the `icalendar` crate's low-level parser, resolving times to instants through `tz`,
//! and deciding which events are tagged for an online meeting. It never writes iCalendar
//! (that is `writeback`) and does no I/O.
//!
//! Only tagged events (or events calmeet already gave a meeting) are returned. A problem in an
//! untagged event is irrelevant and ignored; a problem in a tagged event is reported as an
//! `EventFailure` naming its UID, so that the sync keeps that event's meeting untouched instead
//! of mistaking it for a deleted event.

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use icalendar::parser::{Component, Property};
use thiserror::Error;

use crate::config::{
    DEFAULT_CATEGORIES, DEFAULT_LIVE_CATEGORIES, DEFAULT_LOCATION_KEYWORDS, MatchRules,
};
use crate::tz::{Zone, ZoneResolver};

/// Property that records the meeting id inside the event itself.
pub const MEETING_ID_PROP: &str = "X-CALMEET-MEETING-ID";
/// Property that records one continuation meeting inside the event itself (see
/// `writeback::CONTINUATION_PROPERTY`).
pub const CONTINUATION_PROP: &str = "X-CALMEET-CONTINUATION";
/// Its parameter holding the continuation's first occurrence as a UTC DATE-TIME.
pub const CONTINUATION_FROM_PARAM: &str = "X-CALMEET-FROM";
/// Most continuations read from one event; more lines are ignored (calmeet writes one per
/// continuation, and a series needs one per ~200 occurrences: years of daily meetings).
pub const MAX_CONTINUATIONS: usize = 32;
/// Longest meeting id accepted from a continuation line (Tencent ids are ~20 digits).
const MAX_MEETING_ID_CHARS: usize = 64;
/// Length given to a timed event that has neither DTEND nor DURATION.
pub const DEFAULT_LENGTH_MINUTES: i64 = 60;
/// Longest event accepted (a hostile DURATION would otherwise overflow date arithmetic).
pub const MAX_EVENT_DAYS: i64 = 366;

/// A whole calendar (feed or object) could not be read; nothing in it may be acted upon.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ParseError {
    /// The bytes are not UTF-8 even after unfolding.
    #[error("not valid UTF-8 (first bad byte at offset {0}); calendars must be UTF-8")]
    NotUtf8(usize),
    /// The text does not start with BEGIN:VCALENDAR (an error page, garbage, empty body).
    #[error("not an iCalendar file: it does not start with BEGIN:VCALENDAR (starts with {0:?})")]
    NotICalendar(String),
    /// The text stops before END:VCALENDAR (a truncated download).
    #[error("truncated: the calendar does not end with END:VCALENDAR")]
    Truncated,
    /// The iCalendar syntax is broken.
    #[error("invalid iCalendar syntax: {0}")]
    Syntax(String),
    /// Components nest deeper than [`MAX_NESTING`]: no calendar app writes that, and the
    /// parser recurses per level, so such input is refused before parsing.
    #[error(
        "components nest more than {MAX_NESTING} levels deep (BEGIN: inside BEGIN:, line {line} \
         of the unfolded text); refusing it as malformed"
    )]
    TooDeep {
        /// The (unfolded) line where the limit was passed.
        line: usize,
    },
}

/// Deepest component nesting accepted. Real calendars need 3 (VCALENDAR › VEVENT › VALARM,
/// VCALENDAR › VTIMEZONE › STANDARD); the `icalendar` parser recurses once per level, so
/// thousands of levels would overflow the stack.
pub const MAX_NESTING: usize = 16;

/// Longest `ParseError::Syntax` message kept (the parser may quote a 10 MB line).
const MAX_MESSAGE_CHARS: usize = 300;

/// Why one tagged event could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventFailure {
    /// The event's UID, when it has one.
    pub uid: Option<String>,
    /// The event's RECURRENCE-ID as an instant (unix seconds), for overrides.
    pub recurrence_id: Option<i64>,
    /// What is wrong.
    pub message: String,
}

/// When an event happens — or why calmeet will not say.
///
/// A `Timed` event carries its whole recurrence set in [`Event::rrule`] and
/// [`Event::exdates`]: every recurrence property was read (RFC 5545 §3.8.5). An event whose
/// set cannot be held exactly is `Refused` instead, with `rrule` `None` and no EXDATEs, so the
/// planner can never act on a recurrence set it read only in part.
#[derive(Debug, Clone)]
pub enum Timing {
    /// A DATE-valued (all-day) event; calmeet skips these.
    AllDay,
    /// The event cannot be held exactly; the planner skips it naming `property`.
    Refused {
        /// The iCalendar property (or parameter) at fault: `RDATE`, `EXRULE`, `RRULE`,
        /// `RANGE`, `UID`, `TZID`.
        property: String,
        /// Why, and what to do, in words a user can act on.
        reason: String,
    },
    /// A timed event.
    Timed {
        /// First start as an instant.
        start: DateTime<Utc>,
        /// First end as an instant.
        end: DateTime<Utc>,
        /// DTSTART as wall time in `zone` (recurrences repeat in wall time).
        local_start: NaiveDateTime,
        /// The zone of DTSTART.
        zone: Zone,
    },
}

/// One VEVENT (a master or a RECURRENCE-ID override) that is tagged for a meeting.
#[derive(Debug, Clone)]
pub struct Event {
    /// UID.
    pub uid: String,
    /// For an override: the original start of the occurrence it replaces (unix seconds).
    pub recurrence_id: Option<i64>,
    /// SUMMARY, unescaped ("" when absent).
    pub summary: String,
    /// LOCATION, unescaped.
    pub location: String,
    /// DESCRIPTION without calmeet's block.
    pub description: String,
    /// STATUS:CANCELLED.
    pub cancelled: bool,
    /// Times.
    pub timing: Timing,
    /// RRULE value, verbatim.
    pub rrule: Option<String>,
    /// EXDATE instants.
    pub exdates: Vec<DateTime<Utc>>,
    /// X-CALMEET-MEETING-ID, when calmeet already wrote one.
    pub meeting_id: Option<String>,
    /// The continuation meetings calmeet recorded in the event (`X-CALMEET-CONTINUATION`), in
    /// order of start, at most [`MAX_CONTINUATIONS`]; malformed lines are ignored.
    pub continuations: Vec<Continuation>,
    /// Whether the event itself matches the tag rules (an override may inherit the master's).
    pub tagged: bool,
    /// ORGANIZER e-mail address (`mailto:` stripped, lowercased), when it has one.
    pub organizer: Option<String>,
    /// ATTENDEE e-mail addresses (`mailto:` stripped, lowercased, deduplicated, in order).
    pub attendees: Vec<String>,
    /// SEQUENCE, DTSTAMP and LAST-MODIFIED: which of two components claiming one
    /// (UID, RECURRENCE-ID) is current (RFC 5546 §2.1.5).
    pub revision: Revision,
    /// An override whose master is not in the calendar (an invitation to one occurrence of
    /// somebody else's series): held as a single event keyed by UID + RECURRENCE-ID.
    pub standalone: bool,
    /// The attendees among them with `ROLE=CHAIR` (RFC 5545 §3.2.16), in order.
    pub chairs: Vec<String>,
    /// The event carries the live-stream tag (`[calendar.live_match]`, default categories
    /// "Live" / "直播"); an override inherits its master's.
    pub live: bool,
}

/// The version of a component, compared as (SEQUENCE, DTSTAMP, LAST-MODIFIED): the larger
/// tuple is the newer component (RFC 5546 §2.1.5; absent stamps compare lowest).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Revision {
    /// SEQUENCE (0 when absent or malformed).
    pub sequence: i64,
    /// DTSTAMP as unix seconds.
    pub dtstamp: Option<i64>,
    /// LAST-MODIFIED as unix seconds.
    pub last_modified: Option<i64>,
}

/// A continuation meeting named in an event: the meeting holding the series' occurrences from
/// `start` on (until the next continuation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Continuation {
    /// Start of its first occurrence (unix seconds): the segment's identity.
    pub start: i64,
    /// Its Tencent Meeting id.
    pub meeting_id: String,
}

/// The continuations named in a VEVENT's properties: each `X-CALMEET-CONTINUATION` whose
/// `X-CALMEET-FROM` is a UTC DATE-TIME and whose value is a plausible meeting id (non-empty,
/// short, no spaces or control characters). Sorted by start; one per start (the first line
/// wins); at most [`MAX_CONTINUATIONS`], however many lines a hostile event carries.
fn read_continuations(c: &Component<'_>) -> Vec<Continuation> {
    let mut found: Vec<Continuation> = Vec::new();
    for p in c
        .properties
        .iter()
        .filter(|p| p.name.as_str().eq_ignore_ascii_case(CONTINUATION_PROP))
    {
        if found.len() >= MAX_CONTINUATIONS {
            break;
        }
        let Some(start) = param(p, CONTINUATION_FROM_PARAM).and_then(utc_stamp) else {
            continue;
        };
        let id = p.val.as_str().trim();
        let plausible = !id.is_empty()
            && id.chars().count() <= MAX_MEETING_ID_CHARS
            && !id.chars().any(|ch| ch.is_whitespace() || ch.is_control());
        if plausible && found.iter().all(|f| f.start != start) {
            found.push(Continuation {
                start,
                meeting_id: id.to_owned(),
            });
        }
    }
    found.sort_by_key(|f| f.start);
    found
}

/// A UTC DATE-TIME (`20270120T010000Z`) as unix seconds.
fn utc_stamp(value: &str) -> Option<i64> {
    let body = value.trim().strip_suffix('Z')?;
    NaiveDateTime::parse_from_str(body, "%Y%m%dT%H%M%S")
        .ok()
        .map(|t| t.and_utc().timestamp())
}

/// The result of reading one calendar text.
#[derive(Debug, Default)]
pub struct Parsed {
    /// Tagged events (and events carrying a calmeet meeting id).
    pub events: Vec<Event>,
    /// Tagged events that could not be used.
    pub failures: Vec<EventFailure>,
    /// Total VEVENTs seen, tagged or not.
    pub vevents: usize,
}

/// Decides whether an event is tagged for an online meeting.
#[derive(Debug, Clone)]
pub struct TagMatcher {
    /// `[calendar.match] all = true`: every event is tagged.
    all: bool,
    categories: Vec<String>,
    keywords: Vec<String>,
    location_keywords: Vec<String>,
    /// Tags asking for a live stream (only looked at on events tagged for a meeting).
    live: Option<Box<TagMatcher>>,
}

impl TagMatcher {
    /// Builds the matcher from a calendar's `[calendar.match]` table, or the defaults.
    #[must_use]
    pub fn new(rules: Option<&MatchRules>) -> Self {
        Self::from_rules(rules, DEFAULT_CATEGORIES, DEFAULT_LOCATION_KEYWORDS)
    }

    /// This matcher with the live-stream tag rules of `[calendar.live_match]` (categories
    /// "Live" / "直播" when `None`); [`Event::live`] says whether an event carries them.
    #[must_use]
    pub fn with_live(mut self, rules: Option<&MatchRules>) -> Self {
        self.live = Some(Box::new(Self::from_rules(
            rules,
            DEFAULT_LIVE_CATEGORIES,
            &[],
        )));
        self
    }

    /// A matcher (without live rules) from `rules`, or from the default categories and
    /// LOCATION keywords when the table is absent; every string compared lowercased.
    fn from_rules(
        rules: Option<&MatchRules>,
        default_categories: &[&str],
        default_location_keywords: &[&str],
    ) -> Self {
        let lower = |v: &[String]| v.iter().map(|s| s.trim().to_lowercase()).collect();
        let lower_defaults = |v: &[&str]| v.iter().map(|s| s.to_lowercase()).collect();
        match rules {
            Some(r) => Self {
                all: r.all,
                categories: lower(&r.categories),
                keywords: lower(&r.keywords),
                location_keywords: Vec::new(),
                live: None,
            },
            None => Self {
                all: false,
                categories: lower_defaults(default_categories),
                keywords: Vec::new(),
                location_keywords: lower_defaults(default_location_keywords),
                live: None,
            },
        }
    }

    /// A short key that changes when the rules change: a feed cached as filtered by one set
    /// of rules is not reused under another.
    #[must_use]
    pub fn selection_key(&self) -> String {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(format!("{self:?}").as_bytes());
        digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
    }

    /// A cheap pre-check on a VEVENT's lower-cased raw text: `false` means it cannot match (and
    /// carries no calmeet meeting id), so it need not be parsed. Needles that iCalendar would
    /// escape (`,` `;` `\\`) cannot be searched in raw text; then every event is a candidate.
    #[must_use]
    pub fn may_match(&self, raw_lower: &str) -> bool {
        if self.all {
            return true;
        }
        let needles = self
            .categories
            .iter()
            .chain(&self.keywords)
            .chain(&self.location_keywords);
        let mut any = false;
        for n in needles {
            if n.contains([',', ';', '\\', '\n']) {
                return true;
            }
            any |= raw_lower.contains(n.as_str());
        }
        any || raw_lower.contains("x-calmeet-meeting-id")
    }

    /// Whether these fields carry the tag. `description` must already be stripped of
    /// calmeet's own block, so that our text never counts as a tag.
    #[must_use]
    pub fn matches(
        &self,
        categories: &[String],
        summary: &str,
        location: &str,
        description: &str,
    ) -> bool {
        if self.all {
            return true;
        }
        let cat_hit = categories.iter().any(|c| {
            let c = c.trim().to_lowercase();
            self.categories.contains(&c)
        });
        if cat_hit {
            return true;
        }
        let location_l = location.to_lowercase();
        if self
            .location_keywords
            .iter()
            .any(|k| location_l.contains(k))
        {
            return true;
        }
        if self.keywords.is_empty() {
            return false;
        }
        let summary_l = summary.to_lowercase();
        let description_l = description.to_lowercase();
        self.keywords
            .iter()
            .any(|k| summary_l.contains(k) || location_l.contains(k) || description_l.contains(k))
    }
}

/// Unfolds content lines at the byte level (RFC 5545 §3.1): CRLF or LF followed by a space or
/// tab is removed. Doing this before UTF-8 decoding keeps a character split by a fold intact.
#[must_use]
pub fn unfold_bytes(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        let b = input[i];
        if b == b'\r' && input.get(i + 1) == Some(&b'\n') {
            if matches!(input.get(i + 2), Some(b' ' | b'\t')) {
                i += 3;
                continue;
            }
        } else if b == b'\n' && matches!(input.get(i + 1), Some(b' ' | b'\t')) {
            i += 2;
            continue;
        }
        out.push(b);
        i += 1;
    }
    out
}

/// Every line of `text` ending in CRLF: a bare LF becomes CRLF. The parser reads a value up
/// to the next CRLF when the text has one further on, so a bare LF inside a CRLF object
/// (scripts write them, servers keep the bytes) would swallow the following property into
/// this one; and a parser that looks for CRLF first scans to the end of an LF-only text for
/// every property (quadratic on big feeds). Text already all-CRLF is returned as is.
fn crlf_lines(text: String) -> String {
    let bytes = text.as_bytes();
    let bare = |i: usize| bytes[i] == b'\n' && (i == 0 || bytes[i - 1] != b'\r');
    if !(0..bytes.len()).any(bare) {
        return text;
    }
    let mut out = String::with_capacity(text.len() + text.len() / 16);
    let mut previous = '\0';
    for ch in text.chars() {
        if ch == '\n' && previous != '\r' {
            out.push('\r');
        }
        out.push(ch);
        previous = ch;
    }
    out
}

/// Unfolds and decodes calendar bytes, rejecting what is not an iCalendar file. Line endings
/// come out as CRLF only (CRLF, LF or a mix of both go in; RFC 5545 §3.1 says CRLF, real files
/// mix them).
///
/// # Errors
/// `ParseError` for non-UTF-8, non-iCalendar or truncated input.
pub fn decode(bytes: &[u8]) -> Result<String, ParseError> {
    let unfolded = unfold_bytes(bytes);
    let text = String::from_utf8(unfolded)
        .map_err(|e| ParseError::NotUtf8(e.utf8_error().valid_up_to()))?;
    let text = crlf_lines(text);
    let trimmed = text.trim_start_matches('\u{feff}').trim();
    let first = trimmed.lines().next().unwrap_or("");
    if !first.trim_end().eq_ignore_ascii_case("BEGIN:VCALENDAR") {
        let shown: String = first.chars().take(40).collect();
        return Err(ParseError::NotICalendar(shown));
    }
    let last = trimmed.lines().last().unwrap_or("");
    if !last.trim_end().eq_ignore_ascii_case("END:VCALENDAR") {
        return Err(ParseError::Truncated);
    }
    Ok(text)
}

/// Reads a calendar (a feed or one CalDAV object) and returns its tagged events.
///
/// Besides reading each VEVENT, it decides for the calendar as a whole:
/// - one component per (UID, RECURRENCE-ID): the highest [`Revision`] wins; a tie between
///   different components refuses the key naming `UID` (see [`resolve_duplicates`]);
/// - an override whose master is not in the calendar is [`Event::standalone`];
/// - a `RECURRENCE-ID;RANGE=THISANDFUTURE` override refuses its whole series naming `RANGE`.
///
/// A property calmeet does not read never fails anything; a malformed line it does read fails
/// that event only (an [`EventFailure`] naming the UID and the line).
///
/// # Errors
/// `ParseError` when the calendar as a whole cannot be read.
pub fn parse_calendar(
    bytes: &[u8],
    default_zone: chrono_tz::Tz,
    matcher: &TagMatcher,
) -> Result<Parsed, ParseError> {
    let text = decode(bytes)?;
    let text = text.trim_start_matches('\u{feff}');
    // Each top-level component is parsed on its own, and a VEVENT only when its raw text could
    // carry a tag: a feed of 100,000 events never becomes one tree in memory.
    let blocks = split_blocks(text)?;
    let mut resolver = ZoneResolver::new(default_zone);
    for block in blocks.iter().filter(|b| b.is("VTIMEZONE")) {
        // An unreadable VTIMEZONE is left out: an event that needs it fails naming its TZID.
        let readable = readable_lines(block.text);
        let Ok(cal) = parse_block(&readable) else {
            continue;
        };
        if let Some(c) = cal.components.first() {
            resolver.add_vtimezone(c);
        }
    }
    let vevents: Vec<&Block<'_>> = blocks.iter().filter(|b| b.is("VEVENT")).collect();
    // UIDs whose master (a VEVENT without RECURRENCE-ID) is in the calendar, tagged or not.
    let master_uids: std::collections::HashSet<&str> = vevents
        .iter()
        .filter(|b| !has_recurrence_id(b.text))
        .filter_map(|b| raw_uid(b.text))
        .collect();
    let mut parsed = Parsed {
        vevents: vevents.len(),
        ..Parsed::default()
    };
    let (candidates, others): (Vec<&Block<'_>>, Vec<&Block<'_>>) = vevents
        .into_iter()
        .partition(|b| matcher.may_match(&b.text.to_lowercase()));
    // One tree at a time: events are built and the tree dropped before the next is parsed.
    let mut tagged_uids = std::collections::HashSet::new();
    let mut live_uids = std::collections::HashSet::new();
    let mut deferred: Vec<&Block<'_>> = Vec::new();
    let push = |parsed: &mut Parsed, raw: RawEvent<'_>| match raw.into_event(&resolver) {
        Ok(ev) => parsed.events.push(ev),
        Err(f) => parsed.failures.push(f),
    };
    for block in &candidates {
        let readable = readable_lines(block.text);
        let tree = match parse_block(&readable) {
            Ok(t) => t,
            Err(e) => {
                parsed.failures.push(block_failure(block, &e));
                continue;
            }
        };
        for c in &tree.components {
            let raw = evaluate(c, matcher);
            if raw.tagged
                && raw.recurrence_id.is_none()
                && let Some(uid) = &raw.uid
            {
                tagged_uids.insert(uid.clone());
                if raw.live {
                    live_uids.insert(uid.clone());
                }
            }
            if raw.tagged || raw.meeting_id.is_some() {
                push(&mut parsed, raw);
            } else if raw.recurrence_id.is_some() {
                deferred.push(block);
            }
        }
    }
    // An override without the tag inherits it from its master (wherever it stands).
    deferred.extend(others);
    for block in deferred {
        if !raw_uid(block.text).is_some_and(|u| tagged_uids.contains(u)) {
            continue;
        }
        let readable = readable_lines(block.text);
        let tree = match parse_block(&readable) {
            Ok(t) => t,
            Err(e) => {
                parsed.failures.push(block_failure(block, &e));
                continue;
            }
        };
        for c in &tree.components {
            let raw = evaluate(c, matcher);
            if !raw.tagged && raw.meeting_id.is_none() {
                push(&mut parsed, raw);
            }
        }
    }
    for ev in &mut parsed.events {
        ev.tagged = ev.tagged || tagged_uids.contains(&ev.uid);
        ev.live = ev.live || live_uids.contains(&ev.uid);
        ev.standalone = ev.recurrence_id.is_some() && !master_uids.contains(ev.uid.as_str());
    }
    parsed.events = resolve_duplicates(
        std::mem::take(&mut parsed.events),
        |e| e,
        |e| e,
        |_| String::new(),
    );
    refuse_ranged_series(&mut parsed.events);
    Ok(parsed)
}

/// Whether a VEVENT block has a RECURRENCE-ID of its own (not a nested component's).
fn has_recurrence_id(block: &str) -> bool {
    let mut depth = 0usize;
    for line in block.lines() {
        let l = line.trim_end();
        if strip_prefix_ci(l, "BEGIN:").is_some() {
            depth += 1;
        } else if strip_prefix_ci(l, "END:").is_some() {
            depth = depth.saturating_sub(1);
        } else if depth == 1
            && (strip_prefix_ci(l, "RECURRENCE-ID:").is_some()
                || strip_prefix_ci(l, "RECURRENCE-ID;").is_some())
        {
            return true;
        }
    }
    false
}

/// Properties calmeet reads, in VEVENTs and VTIMEZONEs (and their sub-components). Every other
/// line is dropped before parsing, so that a malformed property calmeet never reads (Apple's
/// `X-APPLE-STRUCTURED-LOCATION;X-TITLE=a\;b`) can never fail an event.
const READ_PROPERTIES: [&str; 25] = [
    "UID",
    "DTSTART",
    "DTEND",
    "DURATION",
    "RRULE",
    "RDATE",
    "EXRULE",
    "EXDATE",
    "RECURRENCE-ID",
    "SUMMARY",
    "LOCATION",
    "DESCRIPTION",
    "CATEGORIES",
    "STATUS",
    "ORGANIZER",
    "ATTENDEE",
    "SEQUENCE",
    "DTSTAMP",
    "LAST-MODIFIED",
    "TZID",
    "TZOFFSETFROM",
    "TZOFFSETTO",
    "TZNAME",
    MEETING_ID_PROP,
    CONTINUATION_PROP,
];

/// The name of a content line: its leading run of name characters (RFC 5545 §3.1: letters,
/// digits, `-`). A line whose separator is broken (`RRULE FREQ=…`) still has its name, so a
/// property calmeet reads is never dropped for being malformed: it fails its event instead.
fn line_name(line: &str) -> &str {
    let end = line
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .unwrap_or(line.len());
    &line[..end]
}

/// A block's text with only BEGIN/END lines and the lines of [`READ_PROPERTIES`].
fn readable_lines(block: &str) -> String {
    let mut out = String::with_capacity(block.len());
    for line in block.split_inclusive('\n') {
        let name = line_name(line.trim_end());
        let keep = name.eq_ignore_ascii_case("BEGIN")
            || name.eq_ignore_ascii_case("END")
            || READ_PROPERTIES.iter().any(|p| p.eq_ignore_ascii_case(name));
        if keep {
            out.push_str(line);
            if !line.ends_with('\n') {
                out.push_str("\r\n");
            }
        }
    }
    out
}

/// The failure of a VEVENT block whose properties calmeet reads do not parse: names its UID
/// and the first bad line (numbered in the unfolded calendar).
fn block_failure(block: &Block<'_>, error: &ParseError) -> EventFailure {
    let bad = block.text.lines().enumerate().find(|(_, line)| {
        let l = line.trim_end();
        let name = line_name(l);
        !(name.eq_ignore_ascii_case("BEGIN") || name.eq_ignore_ascii_case("END"))
            && READ_PROPERTIES.iter().any(|p| p.eq_ignore_ascii_case(name))
            && parse_block(&format!("BEGIN:VEVENT\n{l}\nEND:VEVENT\n")).is_err()
    });
    let message = match bad {
        Some((i, line)) => {
            let shown: String = line.trim_end().chars().take(120).collect();
            format!(
                "line {} cannot be read ('{shown}'): fix that property in the calendar",
                block.line + i
            )
        }
        None => format!(
            "the event starting at line {} cannot be read: {error}",
            block.line
        ),
    };
    EventFailure {
        uid: raw_uid(block.text).map(str::to_owned),
        recurrence_id: None,
        message,
    }
}

/// Keeps one component per (UID, RECURRENCE-ID): the one with the highest [`Revision`]
/// (RFC 5546 §2.1.5). When the highest revision is shared by components that differ, nothing
/// decides: the key is refused naming `UID` (an override's tie refuses its series, whose
/// recurrence set is then unknown). Identical copies are one. The outcome never depends on
/// the order of `items`.
///
/// Generic so that a whole CalDAV collection (events with their hrefs) is resolved the same
/// way as one calendar text: `event` / `event_mut` reach the event of an item, and `place`
/// orders identical copies (the href), so even which copy is kept does not depend on order.
pub fn resolve_duplicates<T>(
    items: Vec<T>,
    event: impl Fn(&T) -> &Event,
    event_mut: impl Fn(&mut T) -> &mut Event,
    place: impl Fn(&T) -> String,
) -> Vec<T> {
    use std::collections::BTreeMap;
    let mut groups: BTreeMap<(String, Option<i64>), Vec<T>> = BTreeMap::new();
    for item in items {
        let e = event(&item);
        groups
            .entry((e.uid.clone(), e.recurrence_id))
            .or_default()
            .push(item);
    }
    let mut out = Vec::new();
    let mut undecided_series: Vec<(String, String)> = Vec::new();
    for ((uid, rid), group) in groups {
        if group.len() == 1 {
            out.extend(group);
            continue;
        }
        // Newest first; among equals, by content then place, so the pick never depends on
        // the order of the calendar.
        let mut keyed: Vec<(Revision, String, String, T)> = group
            .into_iter()
            .map(|item| {
                let e = event(&item);
                (e.revision, format!("{e:?}"), place(&item), item)
            })
            .collect();
        keyed.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| (&a.1, &a.2).cmp(&(&b.1, &b.2))));
        let top = keyed[0].0;
        let tied: Vec<&String> = keyed.iter().filter(|k| k.0 == top).map(|k| &k.1).collect();
        let distinct = tied.iter().any(|c| *c != tied[0]);
        let count = tied.len();
        let Some((_, _, _, mut winner)) = keyed.into_iter().next() else {
            continue;
        };
        if distinct {
            let what = match rid {
                None => format!("UID {uid}"),
                Some(r) => format!("UID {uid} with RECURRENCE-ID {}", stamp_text(r)),
            };
            let reason = format!(
                "{count} components share {what} with the same SEQUENCE ({}) and \
                 DTSTAMP/LAST-MODIFIED; nothing decides which is current: remove the stale \
                 copy or give the current one a higher SEQUENCE",
                top.sequence
            );
            if rid.is_some() && !event(&winner).standalone {
                undecided_series.push((uid, reason));
                continue;
            }
            event_mut(&mut winner).refuse("UID", reason);
        }
        out.push(winner);
    }
    for (uid, reason) in undecided_series {
        for item in &mut out {
            let e = event_mut(item);
            if e.uid == uid && e.recurrence_id.is_none() {
                e.refuse("UID", reason.clone());
            }
        }
    }
    out
}

/// A series with a `RECURRENCE-ID;RANGE=THISANDFUTURE` override is refused as a whole naming
/// `RANGE`: that override moves every later occurrence too (RFC 5545 §3.8.4.4).
fn refuse_ranged_series(events: &mut [Event]) {
    let ranged: Vec<(String, String)> = events
        .iter()
        .filter_map(|e| match &e.timing {
            Timing::Refused { property, reason } if property == "RANGE" => {
                Some((e.uid.clone(), reason.clone()))
            }
            _ => None,
        })
        .collect();
    for (uid, reason) in ranged {
        for ev in events
            .iter_mut()
            .filter(|e| e.uid == uid && e.recurrence_id.is_none())
        {
            ev.refuse("RANGE", reason.clone());
        }
    }
}

/// Unix seconds as a UTC DATE-TIME (`20270106T010000Z`), for messages.
fn stamp_text(t: i64) -> String {
    DateTime::from_timestamp(t, 0)
        .map_or_else(|| t.to_string(), |d| d.format("%Y%m%dT%H%M%SZ").to_string())
}

impl Event {
    /// Marks the event refused: no times, no recurrence set the planner could act on.
    fn refuse(&mut self, property: &str, reason: String) {
        self.timing = Timing::Refused {
            property: property.to_owned(),
            reason,
        };
        self.rrule = None;
        self.exdates.clear();
    }
}

/// Reads a VEVENT's fields and decides whether it carries the tag itself.
fn evaluate<'c>(c: &'c Component<'c>, matcher: &TagMatcher) -> RawEvent<'c> {
    let mut raw = RawEvent::new(c);
    raw.tagged = matcher.matches(
        &raw.categories,
        &raw.summary,
        &raw.location,
        &raw.description,
    );
    raw.live = matcher.live.as_ref().is_some_and(|live| {
        live.matches(
            &raw.categories,
            &raw.summary,
            &raw.location,
            &raw.description,
        )
    });
    raw
}

/// One top-level component (VEVENT, VTIMEZONE, …) of a calendar, as unfolded text.
struct Block<'t> {
    name: &'t str,
    text: &'t str,
    /// Line number (1-based, in the unfolded text) of its BEGIN line.
    line: usize,
}

impl Block<'_> {
    fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name)
    }
}

/// Splits unfolded calendar text into its top-level components. VCALENDAR lines are
/// transparent (some feeds concatenate or nest calendars).
fn split_blocks(text: &str) -> Result<Vec<Block<'_>>, ParseError> {
    let mut blocks = Vec::new();
    let mut depth = 0usize;
    let mut start = 0usize;
    let mut name = "";
    let mut first_line = 0usize;
    let mut offset = 0usize;
    let mut calendars = 0usize;
    for (number, line) in text.split_inclusive('\n').enumerate() {
        let here = offset;
        offset += line.len();
        let content = line.trim_end();
        let (is_begin, rest) = if let Some(r) = strip_prefix_ci(content, "BEGIN:") {
            (true, r)
        } else if let Some(r) = strip_prefix_ci(content, "END:") {
            (false, r)
        } else {
            continue;
        };
        let comp = rest.trim();
        if comp.eq_ignore_ascii_case("VCALENDAR") {
            // Transparent, but not unbounded: calendars nested thousands deep are hostile.
            if is_begin {
                calendars += 1;
                if calendars > MAX_NESTING {
                    return Err(ParseError::TooDeep { line: number + 1 });
                }
            } else {
                calendars = calendars.saturating_sub(1);
            }
            continue;
        }
        if is_begin {
            if depth == 0 {
                start = here;
                name = comp;
                first_line = number + 1;
            }
            depth += 1;
            if depth > MAX_NESTING {
                return Err(ParseError::TooDeep { line: number + 1 });
            }
        } else {
            depth = depth.checked_sub(1).ok_or_else(|| {
                ParseError::Syntax(format!(
                    "END:{} without a matching BEGIN (line {})",
                    comp.chars().take(40).collect::<String>(),
                    number + 1
                ))
            })?;
            if depth == 0 {
                blocks.push(Block {
                    name,
                    text: &text[start..offset],
                    line: first_line,
                });
            }
        }
    }
    if depth != 0 {
        return Err(ParseError::Truncated);
    }
    Ok(blocks)
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// Parses one component's text with the `icalendar` parser.
fn parse_block(text: &str) -> Result<icalendar::parser::Calendar<'_>, ParseError> {
    icalendar::parser::read_calendar(text).map_err(|e| {
        // The crate's message can quote the whole input; keep the first lines only.
        let message = e.lines().take(4).collect::<Vec<_>>().join(" ");
        ParseError::Syntax(message.chars().take(MAX_MESSAGE_CHARS).collect())
    })
}

/// The UID of a VEVENT block, read from its raw lines (its own, not a nested VALARM's).
fn raw_uid(block: &str) -> Option<&str> {
    block
        .lines()
        .find_map(|l| {
            let l = l.trim_end();
            strip_prefix_ci(l, "UID:").or_else(|| {
                strip_prefix_ci(l, "UID;").and_then(|r| r.split_once(':').map(|(_, v)| v))
            })
        })
        .map(str::trim)
}

/// Fields read from a VEVENT before times are resolved.
struct RawEvent<'c> {
    component: &'c Component<'c>,
    uid: Option<String>,
    summary: String,
    location: String,
    description: String,
    categories: Vec<String>,
    recurrence_id: Option<&'c Property<'c>>,
    meeting_id: Option<String>,
    tagged: bool,
    live: bool,
}

impl<'c> RawEvent<'c> {
    fn new(c: &'c Component<'c>) -> Self {
        let text = |name: &str| {
            prop(c, name)
                .map(|p| p.val.as_str().to_owned())
                .unwrap_or_default()
        };
        let categories = c
            .properties
            .iter()
            .filter(|p| p.name.as_str().eq_ignore_ascii_case("CATEGORIES"))
            .flat_map(|p| split_text_list(p.val.as_str()))
            .collect();
        let description = crate::writeback::strip_block(&text("DESCRIPTION"));
        Self {
            component: c,
            uid: prop(c, "UID")
                .map(|p| p.val.as_str().trim().to_owned())
                .filter(|u| !u.is_empty()),
            summary: text("SUMMARY").trim().to_owned(),
            location: text("LOCATION"),
            description,
            categories,
            recurrence_id: prop(c, "RECURRENCE-ID"),
            meeting_id: prop(c, MEETING_ID_PROP)
                .map(|p| p.val.as_str().trim().to_owned())
                .filter(|s| !s.is_empty()),
            tagged: false,
            live: false,
        }
    }

    fn into_event(self, resolver: &ZoneResolver) -> Result<Event, EventFailure> {
        let c = self.component;
        let fail = |uid: &Option<String>, rid: Option<i64>, message: String| EventFailure {
            uid: uid.clone(),
            recurrence_id: rid,
            message,
        };
        let Some(uid) = self.uid.clone() else {
            return Err(fail(
                &None,
                None,
                format!(
                    "event '{}' has no UID; calmeet cannot track it",
                    self.summary
                ),
            ));
        };
        let timing = resolve_timing(c, resolver);
        // Floating EXDATE / RDATE / RECURRENCE-ID values take DTSTART's zone (RFC 5545
        // §3.8.5.1: they have DTSTART's form), not the configured `timezone`.
        let floating = match &timing {
            Ok(Timing::Timed { zone, .. }) => Some(zone.clone()),
            _ => None,
        };
        let floating = floating.as_ref();
        let rid = match self.recurrence_id {
            Some(p) => match read_time_in(p, resolver, floating) {
                Ok(TimeValue::Date(d)) => Some(midnight(d).and_utc().timestamp()),
                Ok(TimeValue::DateTime { utc, .. }) => Some(utc.timestamp()),
                Err(e) => return Err(fail(&self.uid, None, format!("RECURRENCE-ID: {e}"))),
            },
            None => None,
        };
        let status = prop(c, "STATUS").map(|p| p.val.as_str().trim().to_ascii_uppercase());
        let cancelled = status.as_deref() == Some("CANCELLED");
        let timing = timing.map_err(|e| fail(&self.uid, rid, e))?;
        let mut exdates = Vec::new();
        for p in props(c, "EXDATE") {
            for value in list_values(p) {
                match read_time_value(
                    value,
                    param(p, "TZID"),
                    param(p, "VALUE"),
                    resolver,
                    floating,
                ) {
                    Ok(TimeValue::DateTime { utc, .. }) => exdates.push(utc),
                    // A DATE EXDATE on a timed series excludes the occurrence on that day.
                    Ok(TimeValue::Date(d)) => {
                        if let Timing::Timed {
                            local_start, zone, ..
                        } = &timing
                        {
                            exdates.push(zone.to_utc(d.and_time(local_start.time())));
                        }
                    }
                    Err(e) => return Err(fail(&self.uid, rid, format!("EXDATE: {e}"))),
                }
            }
        }
        exdates.sort();
        exdates.dedup();
        let mut event = Event {
            uid,
            recurrence_id: rid,
            summary: self.summary,
            location: self.location,
            description: self.description,
            cancelled,
            timing,
            rrule: prop(c, "RRULE").map(|p| p.val.as_str().trim().to_owned()),
            exdates,
            meeting_id: self.meeting_id,
            continuations: read_continuations(c),
            tagged: self.tagged,
            organizer: prop(c, "ORGANIZER").and_then(|p| mail_address(p.val.as_str())),
            attendees: {
                let mut seen = std::collections::HashSet::new();
                c.properties
                    .iter()
                    .filter(|p| p.name.as_str().eq_ignore_ascii_case("ATTENDEE"))
                    .filter_map(|p| mail_address(p.val.as_str()))
                    .filter(|a| seen.insert(a.clone()))
                    .collect()
            },
            chairs: {
                let mut chairs: Vec<String> = Vec::new();
                for p in c
                    .properties
                    .iter()
                    .filter(|p| p.name.as_str().eq_ignore_ascii_case("ATTENDEE"))
                    .filter(|p| {
                        param(p, "ROLE").is_some_and(|r| r.trim().eq_ignore_ascii_case("CHAIR"))
                    })
                {
                    if let Some(a) = mail_address(p.val.as_str())
                        && !chairs.contains(&a)
                    {
                        chairs.push(a);
                    }
                }
                chairs
            },
            live: self.live,
            revision: Revision {
                sequence: prop(c, "SEQUENCE")
                    .and_then(|p| p.val.as_str().trim().parse().ok())
                    .unwrap_or(0),
                dtstamp: prop(c, "DTSTAMP").and_then(|p| utc_stamp(p.val.as_str())),
                last_modified: prop(c, "LAST-MODIFIED").and_then(|p| utc_stamp(p.val.as_str())),
            },
            standalone: false,
        };
        if let Some((property, reason)) = recurrence_refusal(c, &event, resolver) {
            event.refuse(property, reason);
        }
        match exrule_exclusions(c, &event) {
            Ok(excluded) if !excluded.is_empty() => {
                event.exdates.extend(excluded);
                event.exdates.sort();
                event.exdates.dedup();
            }
            Ok(_) => {}
            Err(reason) => event.refuse("EXRULE", reason),
        }
        Ok(event)
    }
}

/// Most instants expanded from an RRULE or an EXRULE to apply the EXRULE (more than 50 years
/// of daily meetings).
const MAX_EXRULE_INSTANTS: usize = 20_000;

/// The series' occurrences its EXRULEs exclude (RFC 2445 §4.8.5.2; deprecated by RFC 5545
/// but still written): each one is then cancelled like an EXDATE. Exact only when the series
/// or the EXRULE ends; both open-ended is refused, as is an EXRULE calmeet cannot expand.
///
/// # Errors
/// Why the EXRULE cannot be held exactly (the caller refuses naming `EXRULE`).
fn exrule_exclusions(c: &Component<'_>, event: &Event) -> Result<Vec<DateTime<Utc>>, String> {
    use crate::recurrence::{Rrule, Series, rule_instants};
    let exrules: Vec<&str> = props(c, "EXRULE").map(|p| p.val.as_str().trim()).collect();
    if exrules.is_empty() || event.recurrence_id.is_some() {
        return Ok(Vec::new());
    }
    let Timing::Timed {
        start,
        end,
        local_start,
        zone,
    } = &event.timing
    else {
        return Ok(Vec::new());
    };
    let Some(rrule_text) = &event.rrule else {
        return Err(format!(
            "EXRULE:{} on an event without RRULE: use STATUS:CANCELLED or delete the event",
            exrules[0]
        ));
    };
    let Ok(rrule) = Rrule::parse(rrule_text) else {
        // The RRULE itself is refused by the planner, naming it.
        return Ok(Vec::new());
    };
    let master = Series {
        rule: &rrule,
        dtstart: *local_start,
        zone,
        duration: *end - *start,
        exdates: &[],
    };
    let Ok((occurrences, series_complete)) =
        rule_instants(&master, false, None, MAX_EXRULE_INSTANTS)
    else {
        // An RRULE the expander cannot evaluate is refused by the planner, naming it.
        return Ok(Vec::new());
    };
    let series_last = occurrences.last().copied();
    let mut excluded = Vec::new();
    for text in exrules {
        let exrule = Rrule::parse(text).map_err(|e| format!("EXRULE:{text} is invalid: {e}"))?;
        let exclusion = Series {
            rule: &exrule,
            ..master.clone()
        };
        // Only up to the series' last occurrence when the series ends.
        let through = series_complete.then_some(series_last).flatten();
        let (instants, complete) = rule_instants(&exclusion, true, through, MAX_EXRULE_INSTANTS)
            .map_err(|e| format!("EXRULE:{text} cannot be evaluated: {e}"))?;
        let covers_series = complete || series_complete && instants.last() >= series_last.as_ref();
        if !covers_series {
            return Err(format!(
                "EXRULE:{text} and the RRULE both go on without end; calmeet holds an EXRULE \
                 only on a series with COUNT or UNTIL, or with an EXRULE that ends: list the \
                 excluded dates as EXDATE instead"
            ));
        }
        if !series_complete && instants.last() > series_last.as_ref() {
            return Err(format!(
                "EXRULE:{text} reaches beyond the {MAX_EXRULE_INSTANTS} occurrences calmeet \
                 expands: list the excluded dates as EXDATE instead"
            ));
        }
        let set: std::collections::HashSet<DateTime<Utc>> = instants.into_iter().collect();
        excluded.extend(occurrences.iter().filter(|o| set.contains(o)).copied());
    }
    Ok(excluded)
}

/// The properties of a component with this name, in order.
fn props<'a>(c: &'a Component<'a>, name: &'a str) -> impl Iterator<Item = &'a Property<'a>> {
    c.properties
        .iter()
        .filter(move |p| p.name.as_str().eq_ignore_ascii_case(name))
}

/// The comma-separated values of a property, trimmed, empty ones left out.
fn list_values<'a>(p: &'a Property<'a>) -> impl Iterator<Item = &'a str> {
    p.val
        .as_str()
        .split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// Why an event's recurrence set cannot be held exactly, naming the property (RFC 5545
/// §3.8.5): a second RRULE, an EXRULE, an RDATE that adds a start, or a RANGE parameter on
/// RECURRENCE-ID. `None` when the set is RRULE + EXDATE only, which Tencent holds exactly.
fn recurrence_refusal(
    c: &Component<'_>,
    event: &Event,
    resolver: &ZoneResolver,
) -> Option<(&'static str, String)> {
    let Timing::Timed { start, zone, .. } = &event.timing else {
        return None;
    };
    if let Some(p) = event.recurrence_id.and(prop(c, "RECURRENCE-ID"))
        && let Some(range) = param(p, "RANGE")
    {
        return Some((
            "RANGE",
            format!(
                "RECURRENCE-ID;RANGE={range} ({}) changes this occurrence and every later one; \
                 calmeet holds only single-occurrence overrides: edit the occurrences one by \
                 one, or split the series into two events",
                p.val.as_str().trim()
            ),
        ));
    }
    if event.recurrence_id.is_some() {
        return None;
    }
    let rrules = props(c, "RRULE").count();
    if rrules > 1 {
        return Some((
            "RRULE",
            format!(
                "the event has {rrules} RRULE properties; a Tencent meeting repeats by one rule: \
                 split it into one event per rule"
            ),
        ));
    }
    for p in props(c, "RDATE") {
        let value_type = param(p, "VALUE").unwrap_or("DATE-TIME");
        for value in list_values(p) {
            // An RDATE that repeats DTSTART adds nothing (some producers write one).
            let same_as_start = !value_type.eq_ignore_ascii_case("PERIOD")
                && matches!(
                    read_time_value(value, param(p, "TZID"), param(p, "VALUE"), resolver, Some(zone)),
                    Ok(TimeValue::DateTime { utc, .. }) if utc == *start
                );
            if !same_as_start {
                return Some((
                    "RDATE",
                    format!(
                        "RDATE;VALUE={}:{value} adds an occurrence outside the rule; a Tencent \
                         meeting holds only the rule's dates: make the extra date an event of \
                         its own",
                        value_type.to_ascii_uppercase()
                    ),
                ));
            }
        }
    }
    None
}

/// The e-mail address of a CAL-ADDRESS value (`mailto:` in any case), lowercased; `None` for
/// other URIs (`urn:`, `sip:`) and empty addresses.
#[must_use]
pub fn mail_address(value: &str) -> Option<String> {
    let v = value.trim();
    let scheme = v.get(..7)?;
    if !scheme.eq_ignore_ascii_case("mailto:") {
        return None;
    }
    let addr = v.get(7..)?.trim().to_lowercase();
    (addr.contains('@') && !addr.contains(char::is_whitespace)).then_some(addr)
}

fn prop<'a>(c: &'a Component<'a>, name: &str) -> Option<&'a Property<'a>> {
    c.properties
        .iter()
        .find(|p| p.name.as_str().eq_ignore_ascii_case(name))
}

fn param<'a>(p: &'a Property<'a>, key: &str) -> Option<&'a str> {
    p.params
        .iter()
        .find(|x| x.key.as_str().eq_ignore_ascii_case(key))
        .and_then(|x| x.val.as_ref())
        .map(icalendar::parser::ParseString::as_str)
}

/// Splits a TEXT list value (CATEGORIES) on unescaped commas and unescapes each item.
fn split_text_list(value: &str) -> Vec<String> {
    let mut items = Vec::new();
    let mut cur = String::new();
    let mut chars = value.chars();
    while let Some(ch) = chars.next() {
        match ch {
            '\\' => match chars.next() {
                Some('n' | 'N') => cur.push('\n'),
                Some(o) => cur.push(o),
                None => {}
            },
            ',' => items.push(std::mem::take(&mut cur)),
            o => cur.push(o),
        }
    }
    items.push(cur);
    items
        .into_iter()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

enum TimeValue {
    Date(NaiveDate),
    DateTime {
        utc: DateTime<Utc>,
        local: NaiveDateTime,
        zone: Zone,
    },
}

fn midnight(d: NaiveDate) -> NaiveDateTime {
    d.and_time(NaiveTime::MIN)
}

fn read_time(p: &Property<'_>, resolver: &ZoneResolver) -> Result<TimeValue, String> {
    read_time_in(p, resolver, None)
}

/// Reads a DATE / DATE-TIME property; a floating value is read in `floating` when given
/// (DTSTART's zone), else in the configured zone.
fn read_time_in(
    p: &Property<'_>,
    resolver: &ZoneResolver,
    floating: Option<&Zone>,
) -> Result<TimeValue, String> {
    read_time_value(
        p.val.as_str(),
        param(p, "TZID"),
        param(p, "VALUE"),
        resolver,
        floating,
    )
}

fn read_time_value(
    raw: &str,
    tzid: Option<&str>,
    value_type: Option<&str>,
    resolver: &ZoneResolver,
    floating: Option<&Zone>,
) -> Result<TimeValue, String> {
    let v = raw.trim();
    let is_date = value_type.is_some_and(|t| t.eq_ignore_ascii_case("DATE"))
        || (v.len() == 8 && !v.contains('T'));
    if is_date {
        // Some producers put a `Z` on a DATE (Google birthdays); the date is what counts.
        let d = v.trim_end_matches('Z');
        let date = NaiveDate::parse_from_str(d, "%Y%m%d")
            .map_err(|_| format!("'{v}' is not a valid DATE"))?;
        return Ok(TimeValue::Date(date));
    }
    let (body, utc) = match v.strip_suffix('Z').or_else(|| v.strip_suffix('z')) {
        Some(b) => (b, true),
        None => (v, false),
    };
    let local = NaiveDateTime::parse_from_str(body, "%Y%m%dT%H%M%S")
        .map_err(|_| format!("'{v}' is not a valid DATE-TIME"))?;
    if utc {
        let utc = local.and_utc();
        return Ok(TimeValue::DateTime {
            utc,
            local,
            zone: Zone::Utc,
        });
    }
    let zone = match (tzid, floating) {
        (None, Some(z)) => z.clone(),
        _ => resolver.resolve(tzid).map_err(|e| e.to_string())?,
    };
    let utc = zone.to_utc(local);
    Ok(TimeValue::DateTime { utc, local, zone })
}

fn resolve_timing(c: &Component<'_>, resolver: &ZoneResolver) -> Result<Timing, String> {
    let start_p = prop(c, "DTSTART").ok_or_else(|| "event has no DTSTART".to_owned())?;
    let (start, local_start, zone) =
        match read_time(start_p, resolver).map_err(|e| format!("DTSTART: {e}"))? {
            TimeValue::Date(_) => return Ok(Timing::AllDay),
            TimeValue::DateTime { utc, local, zone } => (utc, local, zone),
        };
    let end = if let Some(end_p) = prop(c, "DTEND") {
        match read_time(end_p, resolver).map_err(|e| format!("DTEND: {e}"))? {
            TimeValue::DateTime { utc, .. } => utc,
            TimeValue::Date(_) => return Err("DTEND is a DATE but DTSTART a DATE-TIME".into()),
        }
    } else if let Some(d) = prop(c, "DURATION") {
        let dur = parse_duration(d.val.as_str())
            .ok_or_else(|| format!("DURATION '{}' is invalid", d.val.as_str()))?;
        start
            .checked_add_signed(dur)
            .ok_or_else(|| format!("DURATION '{}' is out of range", d.val.as_str()))?
    } else {
        start + Duration::minutes(DEFAULT_LENGTH_MINUTES)
    };
    if end < start {
        return Err(format!("DTEND ({end}) is before DTSTART ({start})"));
    }
    if end - start > Duration::days(MAX_EVENT_DAYS) {
        return Err(format!(
            "the event lasts longer than {MAX_EVENT_DAYS} days ({start} to {end}); not a meeting"
        ));
    }
    // A zero-length event (Thunderbird writes DURATION:PT0S) still needs a meeting that lasts.
    let end = if end == start {
        start + Duration::minutes(DEFAULT_LENGTH_MINUTES)
    } else {
        end
    };
    Ok(Timing::Timed {
        start,
        end,
        local_start,
        zone,
    })
}

/// Parses an RFC 5545 DURATION (`P1D`, `PT1H30M`, `-PT15M`, `P2W`).
#[must_use]
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let (neg, s) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let s = s.strip_prefix('P').or_else(|| s.strip_prefix('p'))?;
    let mut total = 0i64;
    let mut num = String::new();
    let mut in_time = false;
    let mut any = false;
    for ch in s.chars() {
        match ch.to_ascii_uppercase() {
            'T' => in_time = true,
            d if d.is_ascii_digit() => num.push(d),
            unit => {
                let n: i64 = num.parse().ok()?;
                num.clear();
                any = true;
                let unit_seconds = match (unit, in_time) {
                    ('W', false) => 604_800,
                    ('D', false) => 86_400,
                    ('H', true) => 3_600,
                    ('M', true) => 60,
                    ('S', true) => 1,
                    _ => return None,
                };
                // Hostile values (P99999999999999W) are invalid, not an overflow.
                total = total.checked_add(n.checked_mul(unit_seconds)?)?;
            }
        }
    }
    if !num.is_empty() || !any {
        return None;
    }
    Duration::try_seconds(if neg { -total } else { total })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn cal(body: &str) -> Vec<u8> {
        format!("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n{body}END:VCALENDAR\r\n")
            .into_bytes()
    }

    fn parse(body: &str) -> Parsed {
        parse_calendar(
            &cal(body),
            chrono_tz::Asia::Shanghai,
            &TagMatcher::new(None),
        )
        .unwrap()
    }

    #[test]
    fn unfold_joins_split_utf8() {
        let bytes = "SUMMARY:周\r\n 会\r\n".as_bytes().to_vec();
        // Split the 3-byte 会 across a fold.
        let mut split = b"SUMMARY:".to_vec();
        let hui = "会".as_bytes();
        split.extend_from_slice(hui.get(..1).unwrap());
        split.extend_from_slice(b"\r\n ");
        split.extend_from_slice(hui.get(1..).unwrap());
        assert_eq!(unfold_bytes(&split), "SUMMARY:会".as_bytes());
        assert_eq!(unfold_bytes(&bytes), "SUMMARY:周会\r\n".as_bytes());
    }

    #[test]
    fn default_tags_match_categories_and_location() {
        let m = TagMatcher::new(None);
        assert!(m.matches(&["腾讯会议".into()], "", "", ""));
        assert!(m.matches(&["tencent meeting".into()], "", "", ""));
        assert!(m.matches(&[], "", "Room 3 / Tencent Meeting", ""));
        assert!(!m.matches(&["Work".into()], "Tencent Meeting", "", "Tencent Meeting"));
    }

    #[test]
    fn keyword_rules_search_summary_location_description() {
        let rules = MatchRules {
            categories: vec![],
            keywords: vec!["#TM".into()],
            all: false,
        };
        let m = TagMatcher::new(Some(&rules));
        assert!(m.matches(&[], "Sync #tm", "", ""));
        assert!(m.matches(&[], "", "", "please #tm"));
        assert!(!m.matches(&["Tencent Meeting".into()], "", "", ""));
    }

    #[test]
    fn match_all_takes_every_event_untagged_or_not() {
        let rules = MatchRules {
            all: true,
            ..MatchRules::default()
        };
        let m = TagMatcher::new(Some(&rules));
        assert!(m.may_match("summary:lunch"));
        assert!(m.matches(&[], "Lunch", "", ""));
        let body = "BEGIN:VEVENT\r\nUID:plain\r\nDTSTART:20300101T010000Z\r\nSUMMARY:Lunch\r\nEND:VEVENT\r\n";
        let p = parse_calendar(&cal(body), chrono_tz::UTC, &m).unwrap();
        assert_eq!(p.events.len(), 1, "{:?}", p.failures);
        let none = TagMatcher::new(None);
        let p = parse_calendar(&cal(body), chrono_tz::UTC, &none).unwrap();
        assert!(p.events.is_empty());
    }

    #[test]
    fn our_own_block_never_counts_as_a_tag() {
        let rules = MatchRules {
            categories: vec![],
            keywords: vec!["tencent meeting".into()],
            all: false,
        };
        let m = TagMatcher::new(Some(&rules));
        let body = "BEGIN:VEVENT\r\nUID:a\r\nDTSTART:20300101T010000Z\r\nSUMMARY:x\r\nDESCRIPTION:notes\\n\\n── Tencent Meeting ──\\nJoin: https://meeting.tencent.com/dm/1\\nMeeting code: 123 456 789\\n── end of Tencent Meeting ──\r\nEND:VEVENT\r\n";
        let p = parse_calendar(&cal(body), chrono_tz::UTC, &m).unwrap();
        assert!(p.events.is_empty(), "{:?}", p.events);
    }

    #[test]
    fn categories_list_with_escaped_comma() {
        assert_eq!(
            split_text_list("Work,腾讯会议, A\\,B"),
            vec!["Work", "腾讯会议", "A,B"]
        );
    }

    #[test]
    fn tagged_event_times_resolve_with_tzid_and_floating() {
        let p = parse(
            "BEGIN:VEVENT\r\nUID:u1\r\nDTSTART;TZID=Europe/Berlin:20300601T093000\r\nDTEND;TZID=Europe/Berlin:20300601T103000\r\nCATEGORIES:Tencent Meeting\r\nSUMMARY:Berlin\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nUID:u2\r\nDTSTART:20300601T093000\r\nDURATION:PT30M\r\nCATEGORIES:腾讯会议\r\nSUMMARY:Floating\r\nEND:VEVENT\r\n",
        );
        assert_eq!(p.events.len(), 2);
        let Timing::Timed { start, end, .. } = &p.events[0].timing else {
            panic!()
        };
        assert_eq!(start.to_rfc3339(), "2030-06-01T07:30:00+00:00");
        assert_eq!(end.to_rfc3339(), "2030-06-01T08:30:00+00:00");
        let Timing::Timed { start, end, .. } = &p.events[1].timing else {
            panic!()
        };
        assert_eq!(
            start.to_rfc3339(),
            "2030-06-01T01:30:00+00:00",
            "floating in Asia/Shanghai"
        );
        assert_eq!((*end - *start).num_minutes(), 30);
    }

    #[test]
    fn windows_zone_name_resolves() {
        let p = parse(
            "BEGIN:VEVENT\r\nUID:w\r\nDTSTART;TZID=China Standard Time:20300601T093000\r\nDTEND;TZID=China Standard Time:20300601T100000\r\nCATEGORIES:Tencent Meeting\r\nEND:VEVENT\r\n",
        );
        let Timing::Timed { start, .. } = &p.events[0].timing else {
            panic!()
        };
        assert_eq!(start.to_rfc3339(), "2030-06-01T01:30:00+00:00");
    }

    #[test]
    fn all_day_event_is_marked() {
        let p = parse(
            "BEGIN:VEVENT\r\nUID:d\r\nDTSTART;VALUE=DATE:20300601\r\nCATEGORIES:Tencent Meeting\r\nEND:VEVENT\r\n",
        );
        assert!(matches!(p.events[0].timing, Timing::AllDay));
    }

    #[test]
    fn untagged_broken_event_is_ignored_tagged_broken_is_reported() {
        let p = parse(
            "BEGIN:VEVENT\r\nUID:x\r\nDTSTART:garbage\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nUID:y\r\nDTSTART:2030BAD\r\nCATEGORIES:Tencent Meeting\r\nEND:VEVENT\r\n",
        );
        assert!(p.events.is_empty());
        assert_eq!(p.failures.len(), 1);
        assert_eq!(p.failures[0].uid.as_deref(), Some("y"));
        assert!(
            p.failures[0].message.contains("DTSTART"),
            "{:?}",
            p.failures
        );
        assert_eq!(p.vevents, 2);
    }

    #[test]
    fn unknown_tzid_is_a_failure_naming_it() {
        let p = parse(
            "BEGIN:VEVENT\r\nUID:z\r\nDTSTART;TZID=Nowhere/Land:20300601T093000\r\nCATEGORIES:Tencent Meeting\r\nEND:VEVENT\r\n",
        );
        assert!(
            p.failures[0].message.contains("Nowhere/Land"),
            "{:?}",
            p.failures
        );
    }

    #[test]
    fn override_inherits_tag_from_master_listed_after_it() {
        let p = parse(
            "BEGIN:VEVENT\r\nUID:s\r\nRECURRENCE-ID:20300608T010000Z\r\nDTSTART:20300608T020000Z\r\nDTEND:20300608T030000Z\r\nSUMMARY:moved\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nUID:s\r\nDTSTART:20300601T010000Z\r\nDTEND:20300601T020000Z\r\nRRULE:FREQ=WEEKLY;COUNT=4\r\nEXDATE:20300615T010000Z\r\nCATEGORIES:Tencent Meeting\r\nSUMMARY:series\r\nEND:VEVENT\r\n",
        );
        assert_eq!(p.events.len(), 2, "master and override both kept");
        let ov = p.events.iter().find(|e| e.recurrence_id.is_some()).unwrap();
        assert!(ov.tagged);
        let master = p.events.iter().find(|e| e.recurrence_id.is_none()).unwrap();
        assert_eq!(master.rrule.as_deref(), Some("FREQ=WEEKLY;COUNT=4"));
        assert_eq!(master.exdates.len(), 1);
    }

    #[test]
    fn whole_calendar_errors() {
        let m = TagMatcher::new(None);
        let z = chrono_tz::UTC;
        assert!(matches!(
            parse_calendar(b"<html>oops</html>", z, &m),
            Err(ParseError::NotICalendar(_))
        ));
        assert_eq!(
            parse_calendar(b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:a\r\n", z, &m).unwrap_err(),
            ParseError::Truncated
        );
        assert!(matches!(
            parse_calendar(
                b"BEGIN:VCALENDAR\r\nSUMMARY:\xff\xfe\r\nEND:VCALENDAR\r\n",
                z,
                &m
            ),
            Err(ParseError::NotUtf8(_))
        ));
        assert!(matches!(
            parse_calendar(b"", z, &m),
            Err(ParseError::NotICalendar(_))
        ));
    }

    #[test]
    fn deep_nesting_and_stray_end_are_errors_not_crashes() {
        let m = TagMatcher::new(None);
        let deep = format!(
            "BEGIN:VCALENDAR\r\n{}{}END:VCALENDAR\r\n",
            "BEGIN:VEVENT\r\n".repeat(10_000),
            "END:VEVENT\r\n".repeat(10_000)
        );
        assert!(matches!(
            parse_calendar(deep.as_bytes(), chrono_tz::UTC, &m),
            Err(ParseError::TooDeep { line: 18 })
        ));
        let stray = b"BEGIN:VCALENDAR\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
        assert!(matches!(
            parse_calendar(stray, chrono_tz::UTC, &m),
            Err(ParseError::Syntax(_))
        ));
    }

    #[test]
    fn prefilter_keeps_escaped_needles_and_meeting_ids() {
        let rules = MatchRules {
            categories: vec!["A, B".into()],
            keywords: vec![],
            all: false,
        };
        assert!(TagMatcher::new(Some(&rules)).may_match("anything"));
        let m = TagMatcher::new(None);
        assert!(!m.may_match("summary:lunch"));
        assert!(m.may_match("x-calmeet-meeting-id:1"));
        assert!(m.may_match("categories:腾讯会议"));
    }

    #[test]
    fn organizer_and_attendees_are_mail_addresses() {
        let p = parse(
            "BEGIN:VEVENT\r\nUID:o\r\nDTSTART:20300601T010000Z\r\nCATEGORIES:Tencent Meeting\r\nORGANIZER;CN=\"Zhang, San\":MAILTO:ZhangSan@Example.com\r\nATTENDEE;CN=Li Si;PARTSTAT=NEEDS-ACTION:mailto:lisi@example.com\r\nATTENDEE:urn:uuid:0000\r\nATTENDEE:Mailto:LISI@example.com\r\nATTENDEE:mailto:wang@example.com\r\nEND:VEVENT\r\n",
        );
        let e = &p.events[0];
        assert_eq!(e.organizer.as_deref(), Some("zhangsan@example.com"));
        assert_eq!(e.attendees, vec!["lisi@example.com", "wang@example.com"]);
        assert_eq!(mail_address("mailto:"), None);
        assert_eq!(mail_address("sip:a@b"), None);
    }

    #[test]
    fn continuations_are_read_sorted_bounded_and_checked() {
        let p = parse(
            "BEGIN:VEVENT\r\nUID:c\r\nDTSTART:20300601T010000Z\r\nRRULE:FREQ=DAILY\r\n\
             CATEGORIES:Tencent Meeting\r\nX-CALMEET-MEETING-ID:100\r\n\
             X-CALMEET-CONTINUATION;X-CALMEET-FROM=20310101T010000Z:300\r\n\
             x-calmeet-continuation;x-calmeet-from=20301201T010000Z: 200 \r\n\
             X-CALMEET-CONTINUATION;X-CALMEET-FROM=20301201T010000Z:999\r\n\
             X-CALMEET-CONTINUATION;X-CALMEET-FROM=20301201T010000:400\r\n\
             X-CALMEET-CONTINUATION;X-CALMEET-FROM=garbage:500\r\n\
             X-CALMEET-CONTINUATION:600\r\n\
             X-CALMEET-CONTINUATION;X-CALMEET-FROM=20320101T010000Z:\r\n\
             X-CALMEET-CONTINUATION;X-CALMEET-FROM=20320101T010000Z:7 7\r\nEND:VEVENT\r\n",
        );
        let e = &p.events[0];
        assert_eq!(e.meeting_id.as_deref(), Some("100"));
        let got: Vec<(i64, &str)> = e
            .continuations
            .iter()
            .map(|c| (c.start, c.meeting_id.as_str()))
            .collect();
        assert_eq!(got, vec![(1_922_317_200, "200"), (1_924_995_600, "300")]);
        // Old events without the property have none.
        let p = parse(
            "BEGIN:VEVENT\r\nUID:o\r\nDTSTART:20300601T010000Z\r\nCATEGORIES:Tencent Meeting\r\n\
             X-CALMEET-MEETING-ID:1\r\nEND:VEVENT\r\n",
        );
        assert!(p.events[0].continuations.is_empty());
        // Thousands of lines keep at most MAX_CONTINUATIONS.
        let many: String = (0..5_000)
            .map(|i| {
                format!(
                    "X-CALMEET-CONTINUATION;X-CALMEET-FROM={}:{i}\r\n",
                    (chrono::DateTime::from_timestamp(1_900_000_000 - i * 86_400, 0).unwrap())
                        .format("%Y%m%dT%H%M%SZ")
                )
            })
            .collect();
        let p = parse(&format!(
            "BEGIN:VEVENT\r\nUID:h\r\nDTSTART:20300601T010000Z\r\nCATEGORIES:Tencent Meeting\r\n{many}END:VEVENT\r\n"
        ));
        let c = &p.events[0].continuations;
        assert_eq!(c.len(), MAX_CONTINUATIONS);
        assert!(c.windows(2).all(|w| w[0].start < w[1].start));
        assert_eq!(c.last().unwrap().meeting_id, "0");
    }

    /// Line ends and folds as files really mix them: every variant reads the same event, and
    /// a bare LF is a line break (never swallowed into the previous value), while LF or CRLF
    /// followed by a space or tab is still a fold (RFC 5545 §3.1).
    #[test]
    fn bare_lf_is_a_line_break_and_folds_still_unfold() {
        let variants: [(&str, &[u8]); 7] = [
            ("CRLF", b"SUMMARY:Weekly sync\r\nDTSTART:20300601T010000Z\r\nDTEND:20300601T020000Z\r\n"),
            ("LF", b"SUMMARY:Weekly sync\nDTSTART:20300601T010000Z\nDTEND:20300601T020000Z\n"),
            ("bare LF inside CRLF", b"SUMMARY:Weekly sync\nDTSTART:20300601T010000Z\r\nDTEND:20300601T020000Z\r\n"),
            ("bare LF before DTEND", b"SUMMARY:Weekly sync\r\nDTSTART:20300601T010000Z\nDTEND:20300601T020000Z\r\n"),
            ("CRLF fold with space", b"SUMMARY:Weekly\r\n  sync\r\nDTSTART:20300601T010000Z\r\nDTEND:20300601T020000Z\r\n"),
            ("LF fold with tab inside CRLF", b"SUMMARY:Weekly \n\tsync\r\nDTSTART:20300601T010000Z\r\nDTEND:20300601T020000Z\r\n"),
            ("CRLF fold inside a property name", b"SUMMARY:Weekly sync\r\nDTST\r\n ART:20300601T010000Z\nDTEND:20300601T020000Z\r\n"),
        ];
        for (name, lines) in variants {
            let mut ics =
                b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:lf\r\nCATEGORIES:Tencent Meeting\r\n"
                    .to_vec();
            ics.extend_from_slice(lines);
            ics.extend_from_slice(b"END:VEVENT\r\nEND:VCALENDAR\r\n");
            let p = parse_calendar(&ics, chrono_tz::UTC, &TagMatcher::new(None)).unwrap();
            assert!(p.failures.is_empty(), "{name}: {:?}", p.failures);
            let e = &p.events[0];
            assert_eq!(e.summary, "Weekly sync", "{name}");
            let Timing::Timed { start, end, .. } = &e.timing else {
                panic!("{name}: {:?}", e.timing)
            };
            assert_eq!(start.to_rfc3339(), "2030-06-01T01:00:00+00:00", "{name}");
            assert_eq!(end.to_rfc3339(), "2030-06-01T02:00:00+00:00", "{name}");
        }
    }

    /// Floating EXDATE and RECURRENCE-ID values on a zoned series are read in DTSTART's zone
    /// (RFC 5545 §3.8.5.1), not in the configured `timezone` (Asia/Shanghai here).
    #[test]
    fn floating_exdate_and_recurrence_id_take_dtstart_zone() {
        let p = parse(
            "BEGIN:VEVENT\r\nUID:f\r\nDTSTART;TZID=Europe/Berlin:20300603T090000\r\n\
             RRULE:FREQ=WEEKLY;COUNT=3\r\nEXDATE:20300610T090000\r\nCATEGORIES:Tencent Meeting\r\n\
             END:VEVENT\r\nBEGIN:VEVENT\r\nUID:f\r\nRECURRENCE-ID:20300617T090000\r\n\
             DTSTART;TZID=Europe/Berlin:20300617T100000\r\nEND:VEVENT\r\n",
        );
        let master = p.events.iter().find(|e| e.recurrence_id.is_none()).unwrap();
        assert_eq!(master.exdates[0].to_rfc3339(), "2030-06-10T07:00:00+00:00");
        let ov = p.events.iter().find(|e| e.recurrence_id.is_some()).unwrap();
        assert_eq!(ov.recurrence_id, Some(1_907_910_000), "2030-06-17T07:00Z");
        assert!(!ov.standalone, "its master is in the calendar");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("PT1H30M"), Some(Duration::minutes(90)));
        assert_eq!(parse_duration("P1D"), Some(Duration::days(1)));
        assert_eq!(parse_duration("P1W"), Some(Duration::weeks(1)));
        assert_eq!(parse_duration("-PT15M"), Some(Duration::minutes(-15)));
        assert_eq!(parse_duration("PT0S"), Some(Duration::zero()));
        assert_eq!(parse_duration("P"), None);
        assert_eq!(parse_duration("PT5X"), None);
        // Overflow is invalid, not a panic or a wrapped value.
        assert_eq!(parse_duration("P9999999999999999999W"), None);
        assert_eq!(parse_duration("P99999999999999W"), None);
        assert_eq!(parse_duration("PT9223372036854775807S"), None);
    }
}
