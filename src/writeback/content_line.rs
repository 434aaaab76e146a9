//! Raw iCalendar content lines: grouping physical lines into logical lines without losing a
//! byte, plus RFC 5545 TEXT escaping and 75-octet folding for the lines calmeet writes.
//!
//! This module owns the byte-level view of an object. It must never normalise, re-fold or
//! re-order a line it was not asked to replace: callers rely on untouched lines being copied
//! through verbatim.

/// One logical line (a content line plus its folded continuations) as a span of the source.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawLine<'a> {
    /// The exact source bytes, folds and the final line ending included.
    pub raw: &'a str,
}

impl<'a> RawLine<'a> {
    /// The line ending that terminates this logical line: `"\r\n"`, `"\n"` or `""` (last line
    /// of a file without a final newline).
    pub fn eol(&self) -> &'a str {
        if self.raw.ends_with("\r\n") {
            &self.raw[self.raw.len() - 2..]
        } else if self.raw.ends_with('\n') {
            &self.raw[self.raw.len() - 1..]
        } else {
            ""
        }
    }

    /// The logical line with folds removed and without its line ending.
    pub fn unfolded(&self) -> String {
        let body = &self.raw[..self.raw.len() - self.eol().len()];
        let mut out = String::with_capacity(body.len());
        let mut rest = body;
        // Every line break inside a logical line is a fold: CRLF/LF followed by one SP or HTAB.
        while let Some(pos) = rest.find('\n') {
            let before = &rest[..pos];
            out.push_str(before.strip_suffix('\r').unwrap_or(before));
            let after = &rest[pos + 1..];
            rest = after
                .strip_prefix(' ')
                .or_else(|| after.strip_prefix('\t'))
                .unwrap_or(after);
        }
        out.push_str(rest);
        out
    }
}

/// Splits `text` into logical lines. Concatenating every `raw` gives back `text` exactly.
pub(crate) fn split_lines(text: &str) -> Vec<RawLine<'_>> {
    let mut lines: Vec<RawLine<'_>> = Vec::new();
    let mut start = 0;
    for physical in text.split_inclusive('\n') {
        let end = start + physical.len();
        let is_continuation = physical.starts_with([' ', '\t']);
        match lines.last_mut() {
            Some(last) if is_continuation && !last.eol().is_empty() => {
                let from = end - physical.len() - last.raw.len();
                last.raw = &text[from..end];
            }
            _ => lines.push(RawLine {
                raw: &text[start..end],
            }),
        }
        start = end;
    }
    lines
}

/// The line ending new lines should use: the one the file's first line uses (CRLF when the
/// file has no line break at all, as RFC 5545 prescribes).
pub(crate) fn line_ending(text: &str) -> &'static str {
    match text.find('\n') {
        Some(pos) if pos > 0 && text.as_bytes()[pos - 1] == b'\r' => "\r\n",
        Some(_) => "\n",
        None => "\r\n",
    }
}

/// A content line split into name, parameter text and value (all unfolded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ContentLine {
    /// Property name as written (compare with `eq_ignore_ascii_case`).
    pub name: String,
    /// Everything before the value separator, i.e. the name plus `;PARAM=…` as written.
    pub head: String,
    /// The raw (still escaped) value.
    pub value: String,
}

impl ContentLine {
    /// Parses an unfolded line. Returns `None` for blank lines and lines without a `:`.
    pub fn parse(unfolded: &str) -> Option<Self> {
        let name_end = unfolded.find([';', ':'])?;
        let mut in_quotes = false;
        let colon = unfolded
            .char_indices()
            .skip_while(|(i, _)| *i < name_end)
            .find(|(_, c)| {
                if *c == '"' {
                    in_quotes = !in_quotes;
                }
                *c == ':' && !in_quotes
            })?
            .0;
        let name = &unfolded[..name_end];
        if name.is_empty() {
            return None;
        }
        Some(Self {
            name: name.to_owned(),
            head: unfolded[..colon].to_owned(),
            value: unfolded[colon + 1..].to_owned(),
        })
    }

    /// Whether the property name equals `name`, ignoring ASCII case.
    pub fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name)
    }

    /// The parameters as (upper-case name, value without quotes), sorted: what RFC 5545
    /// §3.2 makes significant about them (their order and the quoting of a value are not).
    fn params_normalized(&self) -> Vec<(String, String)> {
        let mut params: Vec<(String, String)> = self
            .params_raw()
            .into_iter()
            .skip(1)
            .filter_map(|p| {
                let (key, value) = p.split_once('=')?;
                Some((key.trim().to_ascii_uppercase(), value.replace('"', "")))
            })
            .collect();
        params.sort();
        params
    }

    /// Whether `other` says the same as this line: the same property name (any case), the
    /// same parameters in any order and quoting, the same value. A server that re-serialises
    /// an object (reordering `CONFERENCE;VALUE=URI;FEATURE=VIDEO;LABEL=…`) changes none.
    pub fn same_as(&self, other: &ContentLine) -> bool {
        self.name.eq_ignore_ascii_case(&other.name)
            && self.value == other.value
            && self.params_normalized() == other.params_normalized()
    }

    /// The head split at the `;` outside quotes (the first element is the name).
    fn params_raw(&self) -> Vec<String> {
        let mut params = Vec::new();
        let mut current = String::new();
        let mut in_quotes = false;
        for c in self.head.chars() {
            match c {
                '"' => {
                    in_quotes = !in_quotes;
                    current.push(c);
                }
                ';' if !in_quotes => params.push(std::mem::take(&mut current)),
                _ => current.push(c),
            }
        }
        params.push(current);
        params
    }

    /// The value of parameter `name` (quotes removed), ignoring ASCII case of the name.
    pub fn param(&self, name: &str) -> Option<String> {
        // The first element is the property name itself.
        self.params_raw().into_iter().skip(1).find_map(|param| {
            let (key, value) = param.split_once('=')?;
            key.trim()
                .eq_ignore_ascii_case(name)
                .then(|| value.replace('"', ""))
        })
    }
}

/// RFC 5545 §3.3.11 TEXT escaping: backslash, semicolon, comma and newlines.
pub(crate) fn escape_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            '\r' => {
                chars.next_if_eq(&'\n');
                out.push_str("\\n");
            }
            _ => out.push(c),
        }
    }
    out
}

/// Inverse of [`escape_text`], tolerant of what real clients write: `\N` is a newline, an
/// unknown escape keeps the escaped character, a trailing lone backslash is kept.
pub(crate) fn unescape_text(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n' | 'N') => out.push('\n'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

/// Folds a logical line so that every physical line is at most 75 octets (continuations
/// start with one space, counted in the 75) and appends `eol`. Never splits a UTF-8 sequence.
pub(crate) fn fold(logical: &str, eol: &str) -> String {
    const LIMIT: usize = 75;
    let mut out = String::with_capacity(logical.len() + logical.len() / 60 * 3 + 2);
    let mut width = 0;
    for c in logical.chars() {
        let n = c.len_utf8();
        if width + n > LIMIT {
            out.push_str(eol);
            out.push(' ');
            width = 1;
        }
        out.push(c);
        width += n;
    }
    out.push_str(eol);
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_same_property_in_another_spelling_is_the_same() {
        let ours = "CONFERENCE;VALUE=URI;FEATURE=VIDEO;LABEL=Tencent Meeting:https://meeting.tencent.com/dm/x";
        let line = |s: &str| ContentLine::parse(s).unwrap();
        for (other, same) in [
            (ours, true),
            (
                "CONFERENCE;LABEL=Tencent Meeting;FEATURE=VIDEO;VALUE=URI:https://meeting.tencent.com/dm/x",
                true,
            ),
            (
                "conference;value=URI;LABEL=\"Tencent Meeting\";FEATURE=VIDEO:https://meeting.tencent.com/dm/x",
                true,
            ),
            (
                "CONFERENCE;VALUE=URI;FEATURE=AUDIO;LABEL=Tencent Meeting:https://meeting.tencent.com/dm/x",
                false,
            ),
            (
                "CONFERENCE;VALUE=URI;LABEL=Tencent Meeting:https://meeting.tencent.com/dm/x",
                false,
            ),
            (
                "CONFERENCE;VALUE=URI;FEATURE=VIDEO;LABEL=Tencent Meeting:https://meeting.tencent.com/dm/y",
                false,
            ),
        ] {
            assert_eq!(line(ours).same_as(&line(other)), same, "{other}");
        }
    }

    #[test]
    fn split_keeps_every_byte_and_groups_folds() {
        let text = "A:1\r\nB:2\r\n 3\r\n\t4\r\nC:5";
        let lines = split_lines(text);
        assert_eq!(lines.len(), 3);
        assert_eq!(lines.iter().map(|l| l.raw).collect::<String>(), text);
        assert_eq!(lines[1].unfolded(), "B:234");
        assert_eq!(lines[2].eol(), "");
    }

    #[test]
    fn line_ending_follows_first_line() {
        assert_eq!(line_ending("A\r\nB\n"), "\r\n");
        assert_eq!(line_ending("A\nB\r\n"), "\n");
        assert_eq!(line_ending("A"), "\r\n");
    }

    #[test]
    fn parse_honours_quoted_colons() {
        let line = ContentLine::parse("ATTENDEE;CN=\"a:b\";ROLE=X:mailto:a@b").unwrap();
        assert_eq!(line.name, "ATTENDEE");
        assert_eq!(line.head, "ATTENDEE;CN=\"a:b\";ROLE=X");
        assert_eq!(line.value, "mailto:a@b");
        assert_eq!(line.param("cn").as_deref(), Some("a:b"));
        assert_eq!(line.param("role").as_deref(), Some("X"));
        assert_eq!(line.param("missing"), None);
        assert!(ContentLine::parse("").is_none());
    }

    #[test]
    fn escape_round_trips() {
        let text = "a\\b;c,d\ne 中文";
        assert_eq!(escape_text(text), "a\\\\b\\;c\\,d\\ne 中文");
        assert_eq!(unescape_text(&escape_text(text)), text);
        assert_eq!(unescape_text("x\\Ny\\:z\\"), "x\ny:z\\");
        assert_eq!(escape_text("a\r\nb\rc"), "a\\nb\\nc");
    }

    #[test]
    fn fold_respects_octets_and_char_boundaries() {
        let logical = format!("DESCRIPTION:{}", "中".repeat(60));
        let folded = fold(&logical, "\r\n");
        for physical in folded.split("\r\n").filter(|l| !l.is_empty()) {
            assert!(physical.len() <= 75, "{} octets", physical.len());
        }
        let lines = split_lines(&folded);
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].unfolded(), logical);
    }
}
