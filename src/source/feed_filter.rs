//! Reads an ICS feed as a stream and keeps only what a pass can use, so a 100,000-event feed
//! is never held in memory: each top-level VEVENT is collected as its lines arrive, checked
//! with the calendar's cheap tag pre-filter ([`TagMatcher::may_match`]) and dropped unless it
//! may be tagged, carries a calmeet meeting id, or is an override (RECURRENCE-ID: it inherits
//! its master's tag, and the master may come later). Everything outside VEVENTs (the calendar
//! header, VTIMEZONEs) is kept as is.
//!
//! The result is a smaller, valid feed that `event::parse_calendar` reads exactly as it would
//! read the whole one: kept components are byte-for-byte the input, and anything the parser
//! would reject (a component that is not UTF-8, an unterminated or stray component) is kept so
//! that the parser still reports it. Lines may be folded (RFC 5545 §3.1) and split across
//! chunks anywhere, even inside a CRLF or a UTF-8 character.

use crate::event::{TagMatcher, unfold_bytes};

/// Filters a feed chunk by chunk; see the module documentation.
#[derive(Debug)]
pub struct FeedFilter<'m> {
    matcher: &'m TagMatcher,
    /// The kept feed so far.
    out: Vec<u8>,
    /// The current logical line: a physical line and its fold continuations.
    line: Vec<u8>,
    /// Bytes after the last line break seen.
    partial: Vec<u8>,
    /// The raw text of the top-level VEVENT being read, if inside one.
    component: Option<Vec<u8>>,
    /// Nesting depth inside that VEVENT (VALARM inside counts).
    depth: usize,
    /// Bytes read in total.
    total: usize,
    /// VEVENTs seen in total, kept or not.
    vevents: usize,
}

/// What a filtered feed holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filtered {
    /// The feed with only the components a pass can use.
    pub data: Vec<u8>,
    /// Bytes read (the feed's full size).
    pub total_bytes: usize,
    /// VEVENTs in the full feed.
    pub vevents: usize,
}

impl<'m> FeedFilter<'m> {
    /// A filter selecting with `matcher`.
    #[must_use]
    pub fn new(matcher: &'m TagMatcher) -> Self {
        Self {
            matcher,
            out: Vec::new(),
            line: Vec::new(),
            partial: Vec::new(),
            component: None,
            depth: 0,
            total: 0,
            vevents: 0,
        }
    }

    /// Bytes read so far (for the feed size limit).
    #[must_use]
    pub fn total_bytes(&self) -> usize {
        self.total
    }

    /// Reads the next chunk of the feed.
    pub fn push(&mut self, chunk: &[u8]) {
        self.total += chunk.len();
        let mut rest = chunk;
        while let Some(nl) = rest.iter().position(|b| *b == b'\n') {
            let (head, tail) = rest.split_at(nl + 1);
            if self.partial.is_empty() {
                self.physical_line(head);
            } else {
                let mut whole = std::mem::take(&mut self.partial);
                whole.extend_from_slice(head);
                self.physical_line(&whole);
            }
            rest = tail;
        }
        self.partial.extend_from_slice(rest);
    }

    /// Ends the feed and returns what was kept.
    #[must_use]
    pub fn finish(mut self) -> Filtered {
        let partial = std::mem::take(&mut self.partial);
        if !partial.is_empty() {
            self.physical_line(&partial);
        }
        let line = std::mem::take(&mut self.line);
        if !line.is_empty() {
            self.logical_line(line);
        }
        // An unterminated VEVENT is kept, so the parser reports the truncation.
        if let Some(c) = self.component.take() {
            self.out.extend_from_slice(&c);
        }
        Filtered {
            data: self.out,
            total_bytes: self.total,
            vevents: self.vevents,
        }
    }

    /// One physical line, with its line break.
    fn physical_line(&mut self, raw: &[u8]) {
        let continuation = matches!(raw.first(), Some(b' ' | b'\t'));
        if continuation && !self.line.is_empty() {
            self.line.extend_from_slice(raw);
            return;
        }
        let previous = std::mem::replace(&mut self.line, raw.to_vec());
        if !previous.is_empty() {
            self.logical_line(previous);
        }
    }

    /// One logical line: routes it to the current VEVENT or the kept output.
    fn logical_line(&mut self, line: Vec<u8>) {
        let marker = Marker::of(&line);
        match self.component.as_mut() {
            Some(component) => {
                component.extend_from_slice(&line);
                match marker {
                    Marker::Begin(_) => self.depth += 1,
                    Marker::End(_) => self.depth = self.depth.saturating_sub(1),
                    Marker::Other => {}
                }
                if self.depth == 0
                    && let Some(done) = self.component.take()
                {
                    self.vevents += 1;
                    if self.keeps(&done) {
                        self.out.extend_from_slice(&done);
                    }
                }
            }
            None if marker == Marker::Begin(true) => {
                self.component = Some(line);
                self.depth = 1;
            }
            None => self.out.extend_from_slice(&line),
        }
    }

    /// Whether a complete VEVENT may matter to a pass (or must reach the parser's errors).
    fn keeps(&self, raw: &[u8]) -> bool {
        let Ok(text) = std::str::from_utf8(raw) else {
            return true;
        };
        let unfolded = if text.contains("\n ") || text.contains("\n\t") {
            String::from_utf8(unfold_bytes(raw)).unwrap_or_else(|_| text.to_owned())
        } else {
            text.to_owned()
        };
        let lower = unfolded.to_lowercase();
        self.matcher.may_match(&lower) || lower.contains("\nrecurrence-id")
    }
}

/// What a logical line opens or closes; `true` when the component is a VEVENT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Marker {
    Begin(bool),
    End(bool),
    Other,
}

impl Marker {
    fn of(line: &[u8]) -> Self {
        // BEGIN/END lines are short; a long line is content.
        if line.len() > 200 {
            return Self::Other;
        }
        let unfolded = unfold_bytes(line);
        let text = String::from_utf8_lossy(&unfolded);
        let text = text.trim_start_matches('\u{feff}').trim_end();
        let Some((name, value)) = text.split_once(':') else {
            return Self::Other;
        };
        let is_vevent = value.trim().eq_ignore_ascii_case("VEVENT");
        if name.eq_ignore_ascii_case("BEGIN") {
            Self::Begin(is_vevent)
        } else if name.eq_ignore_ascii_case("END") {
            Self::End(is_vevent)
        } else {
            Self::Other
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::config::MatchRules;
    use crate::event::parse_calendar;

    const FEED: &str = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\n\
BEGIN:VTIMEZONE\r\nTZID:Custom/Zone\r\nBEGIN:STANDARD\r\nDTSTART:19700101T000000\r\n\
TZOFFSETFROM:+0300\r\nTZOFFSETTO:+0300\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n\
BEGIN:VEVENT\r\nUID:plain@t\r\nDTSTART:20300101T010000Z\r\nSUMMARY:Lunch\r\n\
DESCRIPTION:a long folded description that goes on and on and on and on and o\r\n n and on\r\n\
ATTENDEE:mailto:a@example.com\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:tagged@t\r\nDTSTART;TZID=Custom/Zone:20300101T100000\r\nSUMMARY:Sync\r\n\
CATEGORIES:Tencent Mee\r\n ting\r\nBEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT5M\r\n\
END:VALARM\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:series@t\r\nRECURRENCE-ID:20300108T010000Z\r\nDTSTART:20300108T020000Z\r\n\
SUMMARY:Moved\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:series@t\r\nDTSTART:20300101T010000Z\r\nRRULE:FREQ=WEEKLY;COUNT=4\r\n\
SUMMARY:Weekly\r\nCATEGORIES:Tencent Meeting\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:linked@t\r\nDTSTART:20300101T010000Z\r\nSUMMARY:Was tagged\r\n\
X-CALMEET-MEETING-ID:123\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";

    fn filter(feed: &[u8], matcher: &TagMatcher, chunk: usize) -> Filtered {
        let mut f = FeedFilter::new(matcher);
        for c in feed.chunks(chunk) {
            f.push(c);
        }
        f.finish()
    }

    fn summary(bytes: &[u8], m: &TagMatcher) -> Vec<String> {
        let p = parse_calendar(bytes, chrono_tz::UTC, m).unwrap();
        let mut v: Vec<String> = p.events.iter().map(|e| format!("{e:?}")).collect();
        v.sort();
        v
    }

    /// For every chunk size, the filtered feed parses to exactly the events of the whole feed,
    /// without the untagged event's text.
    #[test]
    fn filtered_feed_parses_like_the_whole_feed_at_any_chunking() {
        let m = TagMatcher::new(None);
        let whole = summary(FEED.as_bytes(), &m);
        assert_eq!(whole.len(), 4, "tagged, override, master, linked");
        for chunk in [1, 2, 3, 7, 64, 4096] {
            let f = filter(FEED.as_bytes(), &m, chunk);
            assert_eq!(f.vevents, 5, "chunk {chunk}");
            assert_eq!(f.total_bytes, FEED.len());
            let text = String::from_utf8(f.data.clone()).unwrap();
            assert!(
                !text.contains("Lunch") && !text.contains("a@example.com"),
                "{text}"
            );
            assert!(text.contains("TZID:Custom/Zone"), "{text}");
            assert_eq!(summary(&f.data, &m), whole, "chunk {chunk}");
        }
    }

    #[test]
    fn match_all_keeps_every_event() {
        let rules = MatchRules {
            all: true,
            ..MatchRules::default()
        };
        let m = TagMatcher::new(Some(&rules));
        let f = filter(FEED.as_bytes(), &m, 5);
        assert_eq!(f.data, FEED.as_bytes());
    }

    /// What the parser must still reject reaches it: bad UTF-8, a stray END, truncation.
    #[test]
    fn broken_feeds_stay_broken() {
        let m = TagMatcher::new(None);
        let bad_utf8 = FEED
            .replace("Lunch", "L\u{fffd}nch")
            .replace('\u{fffd}', "\u{1}");
        let mut bytes = bad_utf8.into_bytes();
        let at = bytes.iter().position(|b| *b == 1).unwrap();
        bytes[at] = 0xff;
        let f = filter(&bytes, &m, 9);
        assert!(parse_calendar(&f.data, chrono_tz::UTC, &m).is_err());
        let stray = FEED.replace("BEGIN:VEVENT\r\nUID:plain@t", "UID:plain@t");
        let f = filter(stray.as_bytes(), &m, 9);
        assert!(parse_calendar(&f.data, chrono_tz::UTC, &m).is_err());
        let cut = &FEED[..FEED.len() / 2];
        let f = filter(cut.as_bytes(), &m, 9);
        assert!(parse_calendar(&f.data, chrono_tz::UTC, &m).is_err());
    }
}
