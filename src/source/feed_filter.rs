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
    /// Bytes after the last line break seen (a line split between chunks).
    partial: Vec<u8>,
    /// The raw text of the top-level VEVENT being read (reused between events).
    component: Vec<u8>,
    /// Nesting depth inside that VEVENT (VALARM inside counts); 0 outside any VEVENT.
    depth: usize,
    /// Bytes read in total.
    total: usize,
    /// VEVENTs seen in total, kept or not.
    vevents: usize,
    /// The lower-cased text of the component being judged (reused between events).
    lower: String,
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
            partial: Vec::new(),
            component: Vec::new(),
            depth: 0,
            total: 0,
            vevents: 0,
            lower: String::new(),
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
        if !self.partial.is_empty() {
            // Complete the line the previous chunk ended in.
            let Some(nl) = memchr::memchr(b'\n', rest) else {
                self.partial.extend_from_slice(rest);
                return;
            };
            let (head, tail) = rest.split_at(nl + 1);
            let mut line = std::mem::take(&mut self.partial);
            line.extend_from_slice(head);
            self.line(&line);
            line.clear();
            self.partial = line;
            rest = tail;
        }
        while let Some(nl) = memchr::memchr(b'\n', rest) {
            let (line, tail) = rest.split_at(nl + 1);
            self.line(line);
            rest = tail;
        }
        self.partial.extend_from_slice(rest);
    }

    /// Ends the feed and returns what was kept.
    #[must_use]
    pub fn finish(mut self) -> Filtered {
        let partial = std::mem::take(&mut self.partial);
        if !partial.is_empty() {
            self.line(&partial);
        }
        // An unterminated VEVENT is kept, so the parser reports the truncation.
        if self.depth > 0 {
            self.out.extend_from_slice(&self.component);
        }
        Filtered {
            data: self.out,
            total_bytes: self.total,
            vevents: self.vevents,
        }
    }

    /// One physical line, with its line break. Markers are read from physical lines: a folded
    /// BEGIN or END line (no producer folds such short lines) only makes the filter keep
    /// more, never less, since what is not recognised as a VEVENT is kept as it is.
    fn line(&mut self, line: &[u8]) {
        let marker = Marker::of(line);
        if self.depth > 0 {
            self.component.extend_from_slice(line);
            match marker {
                Marker::Begin(_) => self.depth += 1,
                Marker::End(_) => self.depth -= 1,
                Marker::Other => {}
            }
            if self.depth == 0 {
                self.vevents += 1;
                let component = std::mem::take(&mut self.component);
                if self.keeps(&component) {
                    self.out.extend_from_slice(&component);
                }
                self.component = component;
                self.component.clear();
            }
        } else if marker == Marker::Begin(true) {
            self.component.clear();
            self.component.extend_from_slice(line);
            self.depth = 1;
        } else {
            self.out.extend_from_slice(line);
        }
    }

    /// Whether a complete VEVENT may matter to a pass (or must reach the parser's errors).
    fn keeps(&mut self, raw: &[u8]) -> bool {
        let folded = memchr::memmem::find(raw, b"\n ").is_some()
            || memchr::memmem::find(raw, b"\n\t").is_some();
        let unfolded;
        let bytes = if folded {
            unfolded = unfold_bytes(raw);
            &unfolded[..]
        } else {
            raw
        };
        let Ok(text) = std::str::from_utf8(bytes) else {
            return true;
        };
        lowercase_into(text, &mut self.lower);
        self.matcher.may_match(&self.lower) || self.lower.contains("\nrecurrence-id")
    }
}

/// `text.to_lowercase()` into a reused buffer, fast on ASCII runs. Capital sigma is the one
/// character whose lower case depends on its neighbours; text with it takes the slow path.
fn lowercase_into(text: &str, out: &mut String) {
    out.clear();
    if text.contains('Σ') {
        out.push_str(&text.to_lowercase());
        return;
    }
    let mut rest = text;
    while !rest.is_empty() {
        let ascii = rest
            .bytes()
            .position(|b| !b.is_ascii())
            .unwrap_or(rest.len());
        let start = out.len();
        out.push_str(&rest[..ascii]);
        out[start..].make_ascii_lowercase();
        rest = &rest[ascii..];
        let mut chars = rest.chars();
        if let Some(c) = chars.next() {
            out.extend(c.to_lowercase());
            rest = chars.as_str();
        }
    }
}

/// What a line opens or closes; `true` when the component is a VEVENT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Marker {
    Begin(bool),
    End(bool),
    Other,
}

impl Marker {
    fn of(line: &[u8]) -> Self {
        let (begin, rest) = match line.first() {
            Some(b'B' | b'b') if starts_with_ignore_case(line, b"BEGIN:") => (true, &line[6..]),
            Some(b'E' | b'e') if starts_with_ignore_case(line, b"END:") => (false, &line[4..]),
            _ => return Self::Other,
        };
        let is_vevent = rest.trim_ascii().eq_ignore_ascii_case(b"VEVENT");
        if begin {
            Self::Begin(is_vevent)
        } else {
            Self::End(is_vevent)
        }
    }
}

fn starts_with_ignore_case(line: &[u8], prefix: &[u8]) -> bool {
    line.get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
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
    fn lowercasing_matches_the_standard_library() {
        let mut out = String::new();
        for text in ["", "ABC", "Tencent MEETING 腾讯会议 ÉCOLE ΣΑΣ", "ǅ İ x"] {
            lowercase_into(text, &mut out);
            assert_eq!(out, text.to_lowercase(), "{text}");
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
