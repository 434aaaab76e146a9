//! Write-back: patches calmeet's meeting details into the raw text of a calendar object.
//!
//! calmeet owns exactly five things inside a VEVENT: a fenced block at the end of DESCRIPTION,
//! `X-CALMEET-MEETING-ID`, one `X-CALMEET-CONTINUATION` per continuation meeting, the
//! `CONFERENCE` lines labelled "Tencent Meeting" (one per meeting: a long series may be held by
//! an original meeting and continuations, each listed in the block under the dates it covers),
//! and (optionally) a LOCATION it filled in because it was empty. This module adds, replaces
//! and removes those
//! and nothing else. It works on raw content lines: every line it does not own is copied
//! byte for byte, folds, line endings and a missing final newline included.
//!
//! It must never re-serialise an object through a parser (the `icalendar` serialisers add
//! DTSTAMP/UID lines and reorder properties), never touch a nested component (VALARM), and
//! never do I/O.

mod content_line;

use content_line::{
    ContentLine, RawLine, escape_text, fold, line_ending, split_lines, unescape_text,
};

/// First line of calmeet's block inside DESCRIPTION; the block is found by this fence.
pub const BLOCK_START: &str = "── Tencent Meeting ──";
/// Last line of calmeet's block inside DESCRIPTION.
pub const BLOCK_END: &str = "── end of Tencent Meeting ──";
/// VEVENT property that remembers the meeting id inside the calendar itself.
pub const MEETING_ID_PROPERTY: &str = "X-CALMEET-MEETING-ID";
/// VEVENT property that remembers one continuation meeting inside the calendar itself:
/// `X-CALMEET-CONTINUATION;X-CALMEET-FROM=20270120T010000Z:<meeting id>`, one line per
/// continuation, in order of its first occurrence. With `X-CALMEET-MEETING-ID` it lets a lost
/// state database be recovered without creating a second continuation.
pub const CONTINUATION_PROPERTY: &str = "X-CALMEET-CONTINUATION";
/// Parameter of [`CONTINUATION_PROPERTY`] holding the start of the continuation's first
/// occurrence as a UTC DATE-TIME (`YYYYMMDDTHHMMSSZ`): the continuation's identity.
pub const CONTINUATION_FROM_PARAM: &str = "X-CALMEET-FROM";
/// `LABEL` of the RFC 7986 CONFERENCE property calmeet writes.
pub const CONFERENCE_LABEL: &str = "Tencent Meeting";
/// `LABEL` of the second RFC 7986 CONFERENCE property calmeet writes for a meeting that is
/// streamed live: its watch address.
pub const LIVE_CONFERENCE_LABEL: &str = "Tencent Meeting live stream";
/// Prefix of the block line holding a live-stream watch address.
pub const LIVE_LINE_PREFIX: &str = "Live stream:";

/// The meeting details written into an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeetingBlock {
    /// Tencent Meeting `meeting_id` (the API's key), stored in `X-CALMEET-MEETING-ID`.
    pub meeting_id: String,
    /// Join link shown to attendees.
    pub join_url: String,
    /// Numeric meeting code (spaces allowed; rendered grouped 3-3-3).
    pub meeting_code: String,
    /// Meeting password, only when the meeting has one.
    pub password: Option<String>,
    /// Live-stream watch address, only when the meeting is streamed: a `Live stream:` line in
    /// the block and a second CONFERENCE line labelled [`LIVE_CONFERENCE_LABEL`].
    pub live_url: Option<String>,
}

impl MeetingBlock {
    /// The block as it appears in DESCRIPTION (lines joined by `\n`, no trailing newline).
    #[must_use]
    pub fn render(&self) -> String {
        let mut lines = vec![BLOCK_START.to_owned()];
        lines.extend(self.detail_lines());
        lines.push(BLOCK_END.to_owned());
        lines.join("\n")
    }

    /// The lines of this meeting inside a block: join link, code, password.
    fn detail_lines(&self) -> Vec<String> {
        let mut lines = vec![
            format!("Join: {}", single_line(&self.join_url)),
            format!("Meeting code: {}", group_code(&self.meeting_code)),
        ];
        if let Some(password) = &self.password {
            lines.push(format!("Password: {}", single_line(password)));
        }
        if let Some(live) = self
            .live_url
            .as_deref()
            .map(single_line)
            .filter(|l| !l.is_empty())
        {
            lines.push(format!("{LIVE_LINE_PREFIX} {live}"));
        }
        lines
    }
}

/// One meeting of a series that is held by several consecutive meetings (a continuation was
/// created because the API would not extend the first in place), with the dates it covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelledBlock {
    /// The dates the meeting covers, e.g. "2026-12-01 – 2027-01-19" or "from 2027-01-20";
    /// shown on its own line above the meeting's link (line breaks become spaces).
    pub label: String,
    /// The meeting.
    pub block: MeetingBlock,
    /// Start of the first occurrence the meeting holds (unix seconds). For a continuation (a
    /// `later` block of [`apply_segments`]) it is the continuation's identity and is written
    /// into [`CONTINUATION_PROPERTY`]; the first block's is not written (that meeting is
    /// `X-CALMEET-MEETING-ID`).
    pub start: i64,
}

/// The `X-CALMEET-CONTINUATION` line of a continuation, unfolded; `None` for a start no
/// DATE-TIME can show (never a real segment).
fn continuation_line(segment: &LabelledBlock) -> Option<String> {
    let from = chrono::DateTime::from_timestamp(segment.start, 0)?;
    Some(format!(
        "{CONTINUATION_PROPERTY};{CONTINUATION_FROM_PARAM}={}:{}",
        from.format("%Y%m%dT%H%M%SZ"),
        escape_text(&single_line(&segment.block.meeting_id))
    ))
}

/// The block for a series held by several meetings: one fenced block, each meeting's details
/// under its label, separated by a blank line, in the order given. Without `later` it is
/// exactly [`MeetingBlock::render`] of `first` (the label is not shown), so events with one
/// meeting keep the single-link block byte for byte.
#[must_use]
pub fn render_segments(first: &LabelledBlock, later: &[LabelledBlock]) -> String {
    if later.is_empty() {
        return first.block.render();
    }
    let mut lines = vec![BLOCK_START.to_owned()];
    for (i, segment) in std::iter::once(first).chain(later).enumerate() {
        if i > 0 {
            lines.push(String::new());
        }
        lines.push(single_line(&segment.label));
        lines.extend(segment.block.detail_lines());
    }
    lines.push(BLOCK_END.to_owned());
    lines.join("\n")
}

/// Knobs for [`apply`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PatchOptions {
    /// Put the join URL into LOCATION when LOCATION is absent or empty.
    pub location_if_empty: bool,
}

/// Why an object could not be patched. The object is never partially changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatchError {
    /// No VEVENT carries the UID; the object changed on the server since it was read.
    #[error(
        "no VEVENT with UID {uid:?} in the calendar object; re-read the object, the event may have been deleted or replaced"
    )]
    UidNotFound {
        /// The UID that was looked for.
        uid: String,
    },
    /// BEGIN/END lines do not nest; patching such an object could corrupt it.
    #[error("calendar object is malformed at logical line {line}: {reason}; it was left unchanged")]
    Malformed {
        /// 1-based logical line number.
        line: usize,
        /// What is wrong there.
        reason: String,
    },
}

/// The user's text of a DESCRIPTION value (unescaped) without calmeet's block.
///
/// Exact inverse of appending the block: the blank line calmeet put before the block goes too.
/// A block whose end fence was deleted runs to the end of the text; text a user typed after a
/// complete block is kept.
#[must_use]
pub fn strip_block(description: &str) -> String {
    let Some(span) = find_block(description) else {
        return description.to_owned();
    };
    let prefix = &description[..span.start];
    let suffix = &description[span.end..];
    let rest = suffix
        .strip_prefix("\r\n")
        .or_else(|| suffix.strip_prefix('\n'))
        .unwrap_or(suffix);
    if !rest.is_empty() {
        return format!("{prefix}{rest}");
    }
    ["\r\n\r\n", "\n\n", "\r\n", "\n"]
        .iter()
        .find_map(|sep| prefix.strip_suffix(sep))
        .unwrap_or(prefix)
        .to_owned()
}

/// Writes `block` into every VEVENT with `uid` (master and overrides) that is not
/// `STATUS:CANCELLED`: DESCRIPTION block, `X-CALMEET-MEETING-ID`, CONFERENCE, and LOCATION when
/// `opts.location_if_empty`. Applying the same block twice changes nothing the second time; a
/// new block replaces the old one.
///
/// # Errors
/// [`PatchError::UidNotFound`] when no VEVENT has `uid`, [`PatchError::Malformed`] when the
/// components do not nest.
pub fn apply(
    ics: &str,
    uid: &str,
    block: &MeetingBlock,
    opts: &PatchOptions,
) -> Result<String, PatchError> {
    let wanted = Wanted {
        description: block.render(),
        meeting_id: block.meeting_id.clone(),
        continuations: Vec::new(),
        urls: vec![block.join_url.clone()],
        live_urls: wanted_live_urls(std::iter::once(block)),
    };
    patch(ics, uid, &wanted, opts)
}

/// Like [`apply`] for a series held by several meetings: the block lists every meeting under
/// its label ([`render_segments`]), CONFERENCE gets one line per meeting, each later meeting
/// gets an `X-CALMEET-CONTINUATION` line with its start, and `X-CALMEET-MEETING-ID` and
/// LOCATION keep the first meeting (the event's original one, which holds the nearest
/// occurrences). The id and the continuation lines are what a lost database is recovered
/// from. Without `later` it writes exactly what [`apply`] writes for `first.block`.
///
/// # Errors
/// As for [`apply`].
pub fn apply_segments(
    ics: &str,
    uid: &str,
    first: &LabelledBlock,
    later: &[LabelledBlock],
    opts: &PatchOptions,
) -> Result<String, PatchError> {
    let wanted = Wanted {
        description: render_segments(first, later),
        meeting_id: first.block.meeting_id.clone(),
        continuations: later.iter().filter_map(continuation_line).collect(),
        urls: std::iter::once(first)
            .chain(later)
            .map(|s| s.block.join_url.clone())
            .collect(),
        live_urls: wanted_live_urls(std::iter::once(first).chain(later).map(|s| &s.block)),
    };
    patch(ics, uid, &wanted, opts)
}

/// What the event should carry: the block text, the id, the continuation lines, and the join
/// links (the first one is the one LOCATION may show).
struct Wanted {
    description: String,
    meeting_id: String,
    continuations: Vec<String>,
    urls: Vec<String>,
    /// Live-stream watch addresses, one per streamed meeting, in block order.
    live_urls: Vec<String>,
}

/// The live-stream addresses of `blocks` that have one, as written.
fn wanted_live_urls<'b>(blocks: impl Iterator<Item = &'b MeetingBlock>) -> Vec<String> {
    blocks
        .filter_map(|b| b.live_url.as_deref().map(single_line))
        .filter(|l| !l.is_empty())
        .collect()
}

fn patch(ics: &str, uid: &str, wanted: &Wanted, opts: &PatchOptions) -> Result<String, PatchError> {
    let doc = Document::parse(ics)?;
    let events = doc.events_with_uid(uid)?;
    let mut edits = Edits::default();
    for event in events.iter().filter(|event| !doc.is_cancelled(event)) {
        patch_event(&doc, event, wanted, opts, &mut edits);
    }
    Ok(doc.render(&edits))
}

/// Removes everything [`apply`] wrote from every VEVENT with `uid`, restoring the user's
/// DESCRIPTION. A DESCRIPTION holding only the block is removed entirely (calmeet created it);
/// LOCATION is removed only while it still equals the join URL.
///
/// # Errors
/// As for [`apply`].
pub fn remove(ics: &str, uid: &str) -> Result<String, PatchError> {
    let doc = Document::parse(ics)?;
    let events = doc.events_with_uid(uid)?;
    let mut edits = Edits::default();
    for event in &events {
        unpatch_event(&doc, event, &mut edits);
    }
    Ok(doc.render(&edits))
}

/// The live-stream addresses calmeet wrote into the event's block (`Live stream:` lines of the
/// master VEVENT's DESCRIPTION, in block order: the event's own meeting first, then its
/// continuations). What lets a lost state database recover the addresses from the calendar
/// when the API does not report them.
#[must_use]
pub fn live_urls(ics: &str, uid: &str) -> Vec<String> {
    let Ok(doc) = Document::parse(ics) else {
        return Vec::new();
    };
    let Ok(events) = doc.events_with_uid(uid) else {
        return Vec::new();
    };
    let master = events
        .iter()
        .find(|e| doc.first_prop(e, "RECURRENCE-ID").is_none())
        .or_else(|| events.first());
    let Some((_, line)) = master.and_then(|e| doc.first_prop(e, "DESCRIPTION")) else {
        return Vec::new();
    };
    let text = unescape_text(&line.value);
    let Some(span) = find_block(&text) else {
        return Vec::new();
    };
    text[span.start..span.end]
        .lines()
        .filter_map(|l| l.trim().strip_prefix(LIVE_LINE_PREFIX))
        .map(|u| u.trim().to_owned())
        .filter(|u| u.starts_with("https://") || u.starts_with("http://"))
        .collect()
}

/// The meeting id recorded in the event: `X-CALMEET-MEETING-ID` of the master VEVENT, else of
/// the first override that has one.
#[must_use]
pub fn meeting_id(ics: &str, uid: &str) -> Option<String> {
    let doc = Document::parse(ics).ok()?;
    let events = doc.events_with_uid(uid).ok()?;
    let id_of = |event: &&Event| {
        doc.first_prop(event, MEETING_ID_PROPERTY)
            .map(|(_, line)| unescape_text(&line.value).trim().to_owned())
            .filter(|id| !id.is_empty())
    };
    let is_master = |event: &&&Event| doc.first_prop(event, "RECURRENCE-ID").is_none();
    events
        .iter()
        .filter(is_master)
        .find_map(id_of)
        .or_else(|| events.iter().find_map(id_of))
}

fn patch_event(
    doc: &Document<'_>,
    event: &Event,
    wanted: &Wanted,
    opts: &PatchOptions,
    edits: &mut Edits,
) {
    let eol = doc.eol;
    let old_urls = doc.our_urls(event);
    let mut inserts = Vec::new();
    let first_url = wanted.urls.first().map_or("", String::as_str);

    // DESCRIPTION: user text + one blank line + block.
    match doc.first_prop(event, "DESCRIPTION") {
        Some((i, line)) => {
            let current = unescape_text(&line.value);
            let text = compose(&strip_block(&current), &wanted.description);
            if current != text {
                edits.replace(i, doc.rewrite(i, &line.head, &escape_text(&text)));
            }
        }
        None => inserts.push(fold(
            &format!("DESCRIPTION:{}", escape_text(&wanted.description)),
            eol,
        )),
    }

    // LOCATION: only when asked, only when empty or still showing an old link of ours.
    if opts.location_if_empty {
        match doc.first_prop(event, "LOCATION") {
            Some((i, line)) => {
                let current = unescape_text(&line.value);
                let current = current.trim();
                let ours_or_empty = current.is_empty() || old_urls.iter().any(|u| u == current);
                if ours_or_empty && current != first_url {
                    let value = escape_text(first_url);
                    edits.replace(i, doc.rewrite(i, &line.head, &value));
                }
            }
            None => inserts.push(fold(&format!("LOCATION:{}", escape_text(first_url)), eol)),
        }
    }

    // X-CALMEET-MEETING-ID: one line, replaced in place.
    let wanted_id = format!("{MEETING_ID_PROPERTY}:{}", escape_text(&wanted.meeting_id));
    let id_lines: Vec<usize> = doc
        .props_named(event, MEETING_ID_PROPERTY)
        .into_iter()
        .map(|(i, _)| i)
        .collect();
    replace_or_insert(
        doc,
        &id_lines,
        std::slice::from_ref(&wanted_id),
        edits,
        &mut inserts,
    );

    // X-CALMEET-CONTINUATION: one line per continuation, paired in order. New ones go right
    // after the last one, else after the meeting id, so that an event that grows a
    // continuation ends up exactly like one written with it from the start.
    let continuation_lines: Vec<usize> = doc
        .props_named(event, CONTINUATION_PROPERTY)
        .into_iter()
        .map(|(i, _)| i)
        .collect();
    let mut new_continuations = Vec::new();
    replace_or_insert(
        doc,
        &continuation_lines,
        &wanted.continuations,
        edits,
        &mut new_continuations,
    );
    match continuation_lines.last().or(id_lines.first()) {
        Some(&anchor) if !new_continuations.is_empty() => {
            edits.insert_after(anchor, new_continuations);
        }
        _ => inserts.extend(new_continuations),
    }

    // CONFERENCE: only the ones that are ours (one per meeting, then one per live stream);
    // other conference links stay.
    let wanted_conferences: Vec<String> = wanted
        .urls
        .iter()
        .map(|u| conference_line(u))
        .chain(wanted.live_urls.iter().map(|u| live_conference_line(u)))
        .collect();
    let conference_lines: Vec<usize> = doc
        .props_named(event, "CONFERENCE")
        .into_iter()
        .filter(|(_, line)| {
            is_our_conference(line) || {
                let url = line.value.trim();
                wanted
                    .urls
                    .iter()
                    .chain(&wanted.live_urls)
                    .any(|u| u == url)
                    || old_urls.iter().any(|u| u == url)
            }
        })
        .map(|(i, _)| i)
        .collect();
    replace_or_insert(
        doc,
        &conference_lines,
        &wanted_conferences,
        edits,
        &mut inserts,
    );

    if !inserts.is_empty() {
        edits.insert_after(event.insert_after, inserts);
    }
}

/// Pairs `lines` with `wanted` in order: each kept line is rewritten unless already equal,
/// lines beyond `wanted` are deleted, and wanted lines beyond `lines` are queued for insertion.
fn replace_or_insert(
    doc: &Document<'_>,
    lines: &[usize],
    wanted: &[String],
    edits: &mut Edits,
    inserts: &mut Vec<String>,
) {
    for (k, &i) in lines.iter().enumerate() {
        match wanted.get(k) {
            Some(w) => {
                // The server's own spelling of a line calmeet wrote (parameters reordered,
                // quoted) is the same line: rewriting it would change the event every pass.
                let current = doc.lines[i].unfolded();
                let same = current == *w
                    || ContentLine::parse(&current)
                        .zip(ContentLine::parse(w))
                        .is_some_and(|(a, b)| a.same_as(&b));
                if !same {
                    let mut new = fold(w, doc.eol);
                    truncate_eol(&mut new, doc.lines[i].eol(), doc.eol);
                    edits.replace(i, new);
                }
            }
            None => edits.delete(i),
        }
    }
    for w in wanted.iter().skip(lines.len()) {
        inserts.push(fold(w, doc.eol));
    }
}

fn unpatch_event(doc: &Document<'_>, event: &Event, edits: &mut Edits) {
    let urls = doc.our_urls(event);
    if let Some((i, line)) = doc.first_prop(event, "DESCRIPTION") {
        let current = unescape_text(&line.value);
        if find_block(&current).is_some() {
            let user = strip_block(&current);
            if user.is_empty() {
                edits.delete(i);
            } else {
                edits.replace(i, doc.rewrite(i, &line.head, &escape_text(&user)));
            }
        }
    }
    for (i, _) in doc
        .props_named(event, MEETING_ID_PROPERTY)
        .into_iter()
        .chain(doc.props_named(event, CONTINUATION_PROPERTY))
    {
        edits.delete(i);
    }
    for (i, line) in doc.props_named(event, "CONFERENCE") {
        if is_our_conference(line) || urls.iter().any(|u| u == line.value.trim()) {
            edits.delete(i);
        }
    }
    for (i, line) in doc.props_named(event, "LOCATION") {
        let value = unescape_text(&line.value);
        if urls.iter().any(|u| u == value.trim()) {
            edits.delete(i);
        }
    }
}

fn compose(user: &str, rendered: &str) -> String {
    if user.is_empty() {
        rendered.to_owned()
    } else {
        format!("{user}\n\n{rendered}")
    }
}

fn conference_line(join_url: &str) -> String {
    // URI values are not TEXT-escaped; strip line breaks so the line stays one property.
    format!(
        "CONFERENCE;VALUE=URI;FEATURE=VIDEO;LABEL={CONFERENCE_LABEL}:{}",
        single_line(join_url)
    )
}

fn live_conference_line(live_url: &str) -> String {
    format!(
        "CONFERENCE;VALUE=URI;FEATURE=VIDEO;LABEL={LIVE_CONFERENCE_LABEL}:{}",
        single_line(live_url)
    )
}

fn is_our_conference(line: &ContentLine) -> bool {
    line.param("LABEL").is_some_and(|label| {
        let label = label.trim();
        label.eq_ignore_ascii_case(CONFERENCE_LABEL)
            || label.eq_ignore_ascii_case(LIVE_CONFERENCE_LABEL)
    })
}

fn single_line(text: &str) -> String {
    text.replace(['\r', '\n'], " ").trim().to_owned()
}

/// A meeting code grouped 3-3-3 for reading aloud.
#[must_use]
pub fn group_code(code: &str) -> String {
    let digits: Vec<char> = code.chars().filter(|c| !c.is_whitespace()).collect();
    digits
        .chunks(3)
        .map(|chunk| chunk.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Byte range of calmeet's block in an unescaped DESCRIPTION: from the start of the last start
/// fence line to the end of the following end fence line (before its newline), or to the end
/// of the text when the end fence is gone.
struct BlockSpan {
    start: usize,
    end: usize,
}

fn find_block(text: &str) -> Option<BlockSpan> {
    let lines = || {
        text.split_inclusive('\n').scan(0, |offset, line| {
            let start = *offset;
            *offset += line.len();
            let content = line.trim_end_matches('\n').trim_end_matches('\r');
            Some((start, content))
        })
    };
    // The last start fence is ours: a user may have pasted an old block into their own text,
    // but calmeet's block is always appended after everything else.
    let start = lines()
        .filter(|(_, content)| content.trim() == BLOCK_START)
        .map(|(start, _)| start)
        .last()?;
    let end = lines()
        .skip_while(|(offset, _)| *offset <= start)
        .find(|(_, content)| content.trim() == BLOCK_END)
        .map_or(text.len(), |(offset, content)| offset + content.len());
    Some(BlockSpan { start, end })
}

/// A replacement keeps the replaced line's own terminator, so a property that ended a file
/// without a final newline still does.
fn truncate_eol(new: &mut String, original_eol: &str, written_eol: &str) {
    if original_eol != written_eol && new.ends_with(written_eol) {
        new.truncate(new.len() - written_eol.len());
        new.push_str(original_eol);
    }
}

/// A VEVENT's position in the document.
struct Event {
    /// Indices of the VEVENT's own property lines (nested components excluded).
    props: Vec<usize>,
    /// Index of the line after which new properties go: the last own property (new
    /// properties must precede nested VALARMs), or BEGIN:VEVENT when there is none.
    insert_after: usize,
}

/// An object split into logical lines, with the parsed form of each.
struct Document<'a> {
    lines: Vec<RawLine<'a>>,
    parsed: Vec<Option<ContentLine>>,
    events: Vec<Event>,
    eol: &'static str,
}

impl<'a> Document<'a> {
    fn parse(text: &'a str) -> Result<Self, PatchError> {
        let lines = split_lines(text);
        let parsed: Vec<Option<ContentLine>> = lines
            .iter()
            .map(|line| ContentLine::parse(&line.unfolded()))
            .collect();
        let mut stack: Vec<String> = Vec::new();
        let mut events = Vec::new();
        let mut current: Option<Event> = None;
        for (i, line) in parsed.iter().enumerate() {
            let Some(line) = line else { continue };
            let malformed = |reason: String| PatchError::Malformed {
                line: i + 1,
                reason,
            };
            if line.is("BEGIN") {
                let name = line.value.trim().to_ascii_uppercase();
                if name == "VEVENT" && current.is_none() {
                    current = Some(Event {
                        props: Vec::new(),
                        insert_after: i,
                    });
                    stack.push(name);
                    continue;
                }
                stack.push(name);
            } else if line.is("END") {
                let name = line.value.trim().to_ascii_uppercase();
                match stack.pop() {
                    Some(open) if open == name => {}
                    Some(open) => {
                        return Err(malformed(format!("END:{name} closes BEGIN:{open}")));
                    }
                    None => return Err(malformed(format!("END:{name} without BEGIN"))),
                }
                if name == "VEVENT" && !stack.iter().any(|c| c == "VEVENT") {
                    events.extend(current.take());
                }
            } else if let Some(event) = current.as_mut()
                && stack.last().is_some_and(|c| c == "VEVENT")
            {
                event.props.push(i);
                event.insert_after = i;
            }
        }
        if let Some(open) = stack.last() {
            return Err(PatchError::Malformed {
                line: lines.len(),
                reason: format!("BEGIN:{open} is never closed"),
            });
        }
        Ok(Self {
            lines,
            parsed,
            events,
            eol: line_ending(text),
        })
    }

    fn events_with_uid(&self, uid: &str) -> Result<Vec<&Event>, PatchError> {
        let found: Vec<&Event> = self
            .events
            .iter()
            .filter(|event| {
                self.props_named(event, "UID").iter().any(|(_, line)| {
                    let value = &line.value;
                    value == uid || unescape_text(value).trim() == uid.trim()
                })
            })
            .collect();
        if found.is_empty() {
            return Err(PatchError::UidNotFound {
                uid: uid.to_owned(),
            });
        }
        Ok(found)
    }

    /// The VEVENT's own properties called `name` (any case), in document order.
    fn props_named<'s>(&'s self, event: &Event, name: &str) -> Vec<(usize, &'s ContentLine)> {
        event
            .props
            .iter()
            .filter_map(|&i| Some((i, self.parsed[i].as_ref()?)))
            .filter(|(_, line)| line.is(name))
            .collect()
    }

    fn first_prop<'s>(&'s self, event: &Event, name: &str) -> Option<(usize, &'s ContentLine)> {
        self.props_named(event, name).into_iter().next()
    }

    fn is_cancelled(&self, event: &Event) -> bool {
        self.props_named(event, "STATUS")
            .iter()
            .any(|(_, line)| line.value.trim().eq_ignore_ascii_case("CANCELLED"))
    }

    /// Join URLs calmeet wrote earlier into this event: the `Join:` line of the block and the
    /// value of a CONFERENCE labelled as ours.
    fn our_urls(&self, event: &Event) -> Vec<String> {
        let mut urls = Vec::new();
        if let Some((_, line)) = self.first_prop(event, "DESCRIPTION") {
            let text = unescape_text(&line.value);
            if let Some(span) = find_block(&text) {
                urls.extend(
                    text[span.start..span.end]
                        .lines()
                        .filter_map(|line| {
                            let line = line.trim();
                            line.strip_prefix("Join:")
                                .or_else(|| line.strip_prefix(LIVE_LINE_PREFIX))
                        })
                        .map(|url| url.trim().to_owned())
                        .filter(|url| !url.is_empty()),
                );
            }
        }
        for (_, line) in self.props_named(event, "CONFERENCE") {
            if is_our_conference(line) {
                urls.push(line.value.trim().to_owned());
            }
        }
        urls
    }

    /// A replacement for line `i`: `head:value`, folded, with line `i`'s own terminator.
    fn rewrite(&self, i: usize, head: &str, value: &str) -> String {
        let mut new = fold(&format!("{head}:{value}"), self.eol);
        truncate_eol(&mut new, self.lines[i].eol(), self.eol);
        new
    }

    fn render(&self, edits: &Edits) -> String {
        let mut out = String::with_capacity(self.lines.iter().map(|l| l.raw.len()).sum());
        for (i, line) in self.lines.iter().enumerate() {
            match edits.line.get(&i) {
                Some(LineEdit::Replace(new)) => out.push_str(new),
                Some(LineEdit::Delete) => {}
                None => out.push_str(line.raw),
            }
            if let Some(inserted) = edits.after.get(&i) {
                for new in inserted {
                    out.push_str(new);
                }
            }
        }
        out
    }
}

enum LineEdit {
    Replace(String),
    Delete,
}

/// Pending changes, keyed by logical line index. Computed fully before rendering, so an
/// error leaves nothing half-applied.
#[derive(Default)]
struct Edits {
    line: std::collections::BTreeMap<usize, LineEdit>,
    after: std::collections::BTreeMap<usize, Vec<String>>,
}

impl Edits {
    fn replace(&mut self, i: usize, new: String) {
        self.line.insert(i, LineEdit::Replace(new));
    }
    fn delete(&mut self, i: usize) {
        self.line.insert(i, LineEdit::Delete);
    }
    fn insert_after(&mut self, i: usize, new: Vec<String>) {
        self.after.entry(i).or_default().extend(new);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn live_urls_are_read_back_from_the_block() {
        let ics = "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:u1\r\nDTSTART:20300101T010000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
        let mut b = block();
        b.live_url = Some("https://meeting.tencent.com/l/live1".into());
        let patched = apply(ics, "u1", &b, &PatchOptions::default()).unwrap();
        assert_eq!(
            live_urls(&patched, "u1"),
            ["https://meeting.tencent.com/l/live1"]
        );
        assert!(live_urls(ics, "u1").is_empty());
        assert!(live_urls(&patched, "other").is_empty());
    }

    fn block() -> MeetingBlock {
        MeetingBlock {
            meeting_id: "1234567890".into(),
            join_url: "https://meeting.tencent.com/dm/abc".into(),
            meeting_code: "637228110".into(),
            password: Some("1111".into()),
            live_url: None,
        }
    }

    fn labelled(label: &str) -> LabelledBlock {
        LabelledBlock {
            label: label.into(),
            block: block(),
            start: 1_796_000_000,
        }
    }

    #[test]
    fn a_server_reordering_conference_parameters_is_not_patched_again() {
        let ics = "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:u\r\nDESCRIPTION:agenda\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
        let opts = PatchOptions {
            location_if_empty: false,
        };
        let ours = apply(ics, "u", &block(), &opts).unwrap();
        let head = "CONFERENCE;VALUE=URI;FEATURE=VIDEO;LABEL=Tencent Meeting:";
        assert!(ours.contains(head), "{ours}");
        // As a server re-serialising the object might store it (the value stays folded).
        for spelled in [
            "CONFERENCE;LABEL=Tencent Meeting;FEATURE=VIDEO;VALUE=URI:",
            "CONFERENCE;FEATURE=VIDEO;LABEL=\"Tencent Meeting\";VALUE=URI:",
        ] {
            let stored = ours.replace(head, spelled);
            assert_eq!(apply(&stored, "u", &block(), &opts).unwrap(), stored);
        }
    }

    #[test]
    fn segments_render_under_their_labels_and_one_renders_as_before() {
        assert_eq!(render_segments(&labelled("ignored"), &[]), block().render());
        let second = LabelledBlock {
            label: "from 2027-01-20".into(),
            block: MeetingBlock {
                meeting_id: "2".into(),
                join_url: "https://meeting.tencent.com/dm/def".into(),
                meeting_code: "111222333".into(),
                password: None,
                live_url: None,
            },
            // 2027-01-20 01:00 UTC
            start: 1_800_406_800,
        };
        assert_eq!(
            render_segments(
                &labelled("2026-12-01 – 2027-01-19"),
                std::slice::from_ref(&second)
            ),
            "── Tencent Meeting ──\n2026-12-01 – 2027-01-19\nJoin: https://meeting.tencent.com/dm/abc\n\
             Meeting code: 637 228 110\nPassword: 1111\n\nfrom 2027-01-20\n\
             Join: https://meeting.tencent.com/dm/def\nMeeting code: 111 222 333\n\
             ── end of Tencent Meeting ──"
        );
        let ics =
            "BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:u\nDESCRIPTION:agenda\nEND:VEVENT\nEND:VCALENDAR\n";
        let opts = PatchOptions {
            location_if_empty: true,
        };
        let one = apply(ics, "u", &block(), &opts).unwrap();
        let two = apply_segments(
            &one,
            "u",
            &labelled("a"),
            std::slice::from_ref(&second),
            &opts,
        )
        .unwrap();
        assert_eq!(
            apply_segments(
                &two,
                "u",
                &labelled("a"),
                std::slice::from_ref(&second),
                &opts
            )
            .unwrap(),
            two,
            "idempotent"
        );
        assert_eq!(two.matches("CONFERENCE;").count(), 2, "{two}");
        assert_eq!(two.matches("X-CALMEET-MEETING-ID:1234567890").count(), 1);
        assert_eq!(
            two.matches("\nX-CALMEET-CONTINUATION;X-CALMEET-FROM=20270120T010000Z:2\n")
                .count(),
            1,
            "{two}"
        );
        assert!(
            two.find("X-CALMEET-MEETING-ID").unwrap() < two.find("X-CALMEET-CONTINUATION").unwrap()
        );
        assert!(
            two.contains("LOCATION:https://meeting.tencent.com/dm/abc"),
            "{two}"
        );
        // Back to one meeting: exactly the single-link object again.
        assert_eq!(apply(&two, "u", &block(), &opts).unwrap(), one);
        assert_eq!(remove(&two, "u").unwrap(), ics);
    }

    #[test]
    fn render_groups_code_and_fences_the_block() {
        assert_eq!(
            block().render(),
            "── Tencent Meeting ──\nJoin: https://meeting.tencent.com/dm/abc\n\
             Meeting code: 637 228 110\nPassword: 1111\n── end of Tencent Meeting ──"
        );
        let no_password = MeetingBlock {
            password: None,
            live_url: None,
            ..block()
        };
        assert!(!no_password.render().contains("Password"));
    }

    #[test]
    fn strip_block_is_inverse_of_compose() {
        for user in ["", "hello", "a\n", "\n", "x\n\ny", "中文,;\\"] {
            assert_eq!(
                strip_block(&compose(user, &block().render())),
                user,
                "{user:?}"
            );
            let two = render_segments(
                &labelled("2026-12-01 – 2027-01-19"),
                &[labelled("from 2027-01-20")],
            );
            assert_eq!(strip_block(&compose(user, &two)), user, "{user:?}");
        }
    }

    #[test]
    fn strip_block_tolerates_missing_end_fence_and_crlf() {
        let text = "agenda\r\n\r\n── Tencent Meeting ──\r\nJoin: x\r\nMeeting code: 1";
        assert_eq!(strip_block(text), "agenda");
        let text = "agenda\n\n── Tencent Meeting ──\nJoin: x\n── end of Tencent Meeting ──\nP.S.";
        assert_eq!(strip_block(text), "agenda\n\nP.S.");
        assert_eq!(strip_block("no block"), "no block");
    }

    #[test]
    fn apply_inserts_before_nested_alarm() {
        let ics = "BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:u\nSUMMARY:s\nBEGIN:VALARM\n\
                   DESCRIPTION:alarm\nEND:VALARM\nEND:VEVENT\nEND:VCALENDAR\n";
        let out = apply(ics, "u", &block(), &PatchOptions::default()).unwrap();
        let summary = out.find("SUMMARY:s\n").unwrap();
        let alarm = out.find("BEGIN:VALARM").unwrap();
        let description = out.find("DESCRIPTION:── Tencent").unwrap();
        assert!(summary < description && description < alarm, "{out}");
        assert!(out.contains("DESCRIPTION:alarm\n"));
        assert_eq!(meeting_id(&out, "u").as_deref(), Some("1234567890"));
        assert_eq!(remove(&out, "u").unwrap(), ics);
    }

    #[test]
    fn malformed_nesting_is_an_error() {
        let err = apply(
            "BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:u\nEND:VCALENDAR\n",
            "u",
            &block(),
            &PatchOptions::default(),
        )
        .unwrap_err();
        assert!(
            matches!(err, PatchError::Malformed { line: 4, .. }),
            "{err}"
        );
    }

    #[test]
    fn unknown_uid_is_reported() {
        let err = remove("BEGIN:VEVENT\nUID:a\nEND:VEVENT\n", "b").unwrap_err();
        assert_eq!(err, PatchError::UidNotFound { uid: "b".into() });
    }
}
