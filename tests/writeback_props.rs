//! Laws of `calmeet::writeback` as property tests, plus example tests on real calendar files
//! from `tests/fixtures/` (byte-exact copies of `/work/shared/corpus`).
#![allow(clippy::unwrap_used)]

use calmeet::writeback::{
    self, BLOCK_END, BLOCK_START, MeetingBlock, PatchError, PatchOptions, apply, remove,
    strip_block,
};
use proptest::prelude::*;

// ---------------------------------------------------------------- helpers (independent of
// the module under test, so a shared bug cannot hide itself)

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"))
}

/// Logical lines with folds removed (CRLF/LF + one SP/HTAB).
fn unfold(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for physical in text.split_inclusive('\n') {
        let body = physical.trim_end_matches('\n').trim_end_matches('\r');
        match (body.strip_prefix([' ', '\t']), out.last_mut()) {
            (Some(cont), Some(last)) => last.push_str(cont),
            _ => out.push(body.to_owned()),
        }
    }
    out
}

/// Unfolded text, for searching content that may straddle a fold.
fn flat(text: &str) -> String {
    unfold(text).join("\n")
}

fn name_of(line: &str) -> String {
    line.split([';', ':'])
        .next()
        .unwrap_or("")
        .to_ascii_uppercase()
}

const OWNED: [&str; 5] = [
    "DESCRIPTION",
    "LOCATION",
    "X-CALMEET-MEETING-ID",
    "X-CALMEET-CONTINUATION",
    "CONFERENCE",
];

fn without_owned(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .filter(|l| !OWNED.contains(&name_of(l).as_str()))
        .cloned()
        .collect()
}

fn escape(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace(';', "\\;")
        .replace(',', "\\,")
        .replace('\n', "\\n")
}

/// Folds like Google Calendar does: 75 octets per physical line, never inside a character.
fn fold75(line: &str, eol: &str) -> String {
    let mut out = String::new();
    let mut width = 0;
    for c in line.chars() {
        if width + c.len_utf8() > 75 {
            out.push_str(eol);
            out.push(' ');
            width = 1;
        }
        out.push(c);
        width += c.len_utf8();
    }
    out + eol
}

/// Every physical line that is not in `before` is at most 75 octets long.
fn assert_new_lines_folded(before: &str, after: &str) {
    let old: std::collections::HashSet<&str> = before.split('\n').collect();
    for physical in after.split('\n').filter(|l| !old.contains(l)) {
        let len = physical.trim_end_matches('\r').len();
        assert!(len <= 75, "{len} octets: {physical:?}");
    }
}

fn block(n: u32) -> MeetingBlock {
    MeetingBlock {
        meeting_id: format!("1234567{n}"),
        join_url: format!("https://meeting.tencent.com/dm/abc{n}"),
        meeting_code: format!("{:09}", 637_228_110 + n),
        password: n.is_multiple_of(2).then(|| format!("{n:04}")),
        // Every third meeting is streamed live: its block and CONFERENCE lines carry the
        // watch address, so every law below also covers live streams coming and going.
        live_url: n
            .is_multiple_of(3)
            .then(|| format!("https://meeting.tencent.com/l/live{n}")),
    }
}

/// The description a calendar client would show: DESCRIPTION of the VEVENT with `uid` and the
/// given RECURRENCE-ID presence, read with the `icalendar` parser (independent unescaping).
fn descriptions_via_icalendar(ics: &str) -> Vec<Option<String>> {
    use icalendar::{Calendar, Component};
    let unfolded = unfold(ics).join("\r\n");
    let calendar: Calendar = unfolded.parse().unwrap();
    calendar
        .components
        .iter()
        .filter_map(|c| c.as_event())
        .map(|e| e.get_description().map(str::to_owned))
        .collect()
}

// ---------------------------------------------------------------- generated objects

#[derive(Debug, Clone)]
struct Object {
    crlf: bool,
    final_newline: bool,
    description: Option<String>,
    /// `None`: no LOCATION line; `Some(text)`: a non-empty LOCATION.
    location: Option<String>,
    with_override: bool,
    other_conference: bool,
}

impl Object {
    fn render(&self) -> String {
        let eol = if self.crlf { "\r\n" } else { "\n" };
        let mut lines = vec![
            "BEGIN:VCALENDAR".to_owned(),
            "PRODID:-//Example Corp.//Cal 1.0//EN".to_owned(),
            "VERSION:2.0".to_owned(),
            "BEGIN:VTIMEZONE".to_owned(),
            "TZID:Asia/Shanghai".to_owned(),
            "BEGIN:STANDARD".to_owned(),
            "DTSTART:19700101T000000".to_owned(),
            "TZOFFSETFROM:+0800".to_owned(),
            "TZOFFSETTO:+0800".to_owned(),
            "END:STANDARD".to_owned(),
            "END:VTIMEZONE".to_owned(),
        ];
        let mut event = |recurrence: Option<&str>| {
            lines.push("BEGIN:VEVENT".to_owned());
            lines.push("UID:prop-test@example.com".to_owned());
            lines.push("DTSTAMP:20250101T000000Z".to_owned());
            if let Some(rid) = recurrence {
                lines.push(format!("RECURRENCE-ID;TZID=Asia/Shanghai:{rid}"));
                lines.push(format!("DTSTART;TZID=Asia/Shanghai:{rid}"));
            } else {
                lines.push("DTSTART;TZID=Asia/Shanghai:20250106T100000".to_owned());
                lines.push("RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=10".to_owned());
            }
            lines.push("SUMMARY:周会\\, weekly sync".to_owned());
            if let Some(text) = &self.description {
                lines.push(format!("DESCRIPTION:{}", escape(text)));
            }
            if let Some(text) = &self.location {
                lines.push(format!("LOCATION:{}", escape(text)));
            }
            lines.push("CATEGORIES:腾讯会议".to_owned());
            if self.other_conference {
                lines.push(
                    "CONFERENCE;VALUE=URI;FEATURE=AUDIO;LABEL=Dial-in:tel:+1-555-0100".to_owned(),
                );
            }
            // A property folded oddly (TAB, early break): must survive byte for byte.
            lines.push(
                "X-APPLE-STRUCTURED-LOCATION;VALUE=URI;X-TITLE=\"Room\n\t 1\":geo:1,2".to_owned(),
            );
            lines.push("BEGIN:VALARM".to_owned());
            lines.push("ACTION:DISPLAY".to_owned());
            lines.push("DESCRIPTION:Reminder".to_owned());
            lines.push("TRIGGER:-PT15M".to_owned());
            lines.push("END:VALARM".to_owned());
            lines.push("END:VEVENT".to_owned());
        };
        event(None);
        if self.with_override {
            event(Some("20250113T100000"));
        }
        lines.push("END:VCALENDAR".to_owned());
        let mut text: String = lines
            .iter()
            .map(|l| fold75(&l.replace('\n', eol), eol))
            .collect();
        if !self.final_newline {
            text.truncate(text.len() - eol.len());
        }
        text
    }
}

fn user_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9 ,;:\\\\\n中文会议议程—é]{1,60}",
        // Long single lines force folding, Chinese forces folds near multi-byte characters.
        "[会议议程中文 a-z,;]{80,300}",
        Just("line one\n\nline three\\n literal".to_owned()),
    ]
}

fn object() -> impl Strategy<Value = Object> {
    (
        any::<bool>(),
        any::<bool>(),
        proptest::option::of(user_text()),
        proptest::option::of("[A-Za-z会议室][A-Za-z 会议室0-9,;]{0,39}"),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(crlf, final_newline, description, location, with_override, other_conference)| {
                Object {
                    crlf,
                    final_newline,
                    description,
                    location,
                    with_override,
                    other_conference,
                }
            },
        )
}

const UID: &str = "prop-test@example.com";

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 200,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn apply_is_idempotent(obj in object(), n in 0u32..9, loc in any::<bool>()) {
        let opts = PatchOptions { location_if_empty: loc };
        let once = apply(&obj.render(), UID, &block(n), &opts).unwrap();
        let twice = apply(&once, UID, &block(n), &opts).unwrap();
        prop_assert_eq!(twice, once);
    }

    #[test]
    fn a_new_block_replaces_the_old_one(obj in object(), a in 0u32..9, b in 0u32..9, loc in any::<bool>()) {
        let opts = PatchOptions { location_if_empty: loc };
        let x = obj.render();
        let via_a = apply(&apply(&x, UID, &block(a), &opts).unwrap(), UID, &block(b), &opts).unwrap();
        let direct = apply(&x, UID, &block(b), &opts).unwrap();
        prop_assert_eq!(&via_a, &direct);
        let events = 1 + usize::from(obj.with_override);
        prop_assert_eq!(flat(&direct).matches(BLOCK_START).count(), events);
        prop_assert_eq!(direct.matches("X-CALMEET-MEETING-ID:").count(), events);
    }

    #[test]
    fn remove_restores_the_object_byte_for_byte(obj in object(), n in 0u32..9, loc in any::<bool>()) {
        let opts = PatchOptions { location_if_empty: loc };
        let x = obj.render();
        let patched = apply(&x, UID, &block(n), &opts).unwrap();
        prop_assert_ne!(&patched, &x);
        prop_assert_eq!(remove(&patched, UID).unwrap(), x);
    }

    #[test]
    fn only_owned_lines_change(obj in object(), n in 0u32..9, loc in any::<bool>()) {
        let opts = PatchOptions { location_if_empty: loc };
        let x = obj.render();
        let patched = apply(&x, UID, &block(n), &opts).unwrap();
        prop_assert_eq!(without_owned(&unfold(&patched)), without_owned(&unfold(&x)));
        // The VALARM's DESCRIPTION is not ours even though the name is.
        prop_assert_eq!(
            patched.matches("DESCRIPTION:Reminder").count(),
            x.matches("DESCRIPTION:Reminder").count()
        );
        // Untouched physical lines keep their odd folding.
        prop_assert!(patched.contains("X-TITLE=\"Room"));
        prop_assert_eq!(patched.ends_with('\n'), x.ends_with('\n'));
        prop_assert_eq!(patched.contains("\r\n"), obj.crlf);
        assert_new_lines_folded(&x, &patched);
    }

    #[test]
    fn live_stream_line_and_conference_follow_the_block(obj in object(), a in 0u32..9, b in 0u32..9) {
        let opts = PatchOptions::default();
        let after_a = apply(&obj.render(), UID, &block(a), &opts).unwrap();
        let after_b = apply(&after_a, UID, &block(b), &opts).unwrap();
        let events = 1 + usize::from(obj.with_override);
        let live = usize::from(b.is_multiple_of(3));
        let flat_b = flat(&after_b);
        prop_assert_eq!(flat_b.matches("Live stream: https://meeting.tencent.com/l/live").count(), live * events);
        prop_assert_eq!(
            flat_b.matches("CONFERENCE;VALUE=URI;FEATURE=VIDEO;LABEL=Tencent Meeting live stream:").count(),
            live * events
        );
        // The join CONFERENCE line stays one per event whatever live did.
        prop_assert_eq!(
            flat_b.matches("LABEL=Tencent Meeting:https://meeting.tencent.com/dm/").count(),
            events
        );
    }

    #[test]
    fn user_text_survives_an_independent_parser(obj in object(), n in 0u32..9) {
        let patched = apply(&obj.render(), UID, &block(n), &PatchOptions::default()).unwrap();
        for description in descriptions_via_icalendar(&patched) {
            let description = description.unwrap();
            prop_assert_eq!(strip_block(&description), obj.description.clone().unwrap_or_default());
            prop_assert!(description.ends_with(BLOCK_END));
        }
    }
}

// ---------------------------------------------------------------- several meetings (a series
// held by its own meeting and continuation meetings)

fn labelled(n: u32, label: &str, start: i64) -> writeback::LabelledBlock {
    writeback::LabelledBlock {
        label: label.to_owned(),
        block: block(n),
        start,
    }
}

/// 2026-12-01 01:00 UTC, and the continuations 50 days apart after it.
const FIRST_START: i64 = 1_796_086_800;
const SEGMENT_DAYS: i64 = 50;

/// The original meeting `a` and `later` continuations numbered after it.
fn segments(a: u32, later: usize) -> (writeback::LabelledBlock, Vec<writeback::LabelledBlock>) {
    let first = labelled(a, "2026-12-01 – 2027-01-19", FIRST_START);
    let rest = (0..later)
        .map(|i| {
            let n = 10 + a * 4 + u32::try_from(i).unwrap();
            let k = i64::try_from(i).unwrap() + 1;
            let start = FIRST_START + k * SEGMENT_DAYS * 86_400;
            labelled(n, &format!("from 2027-0{}-20", i + 1), start)
        })
        .collect();
    (first, rest)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 120,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn segments_apply_is_idempotent_and_remove_restores(obj in object(), a in 0u32..9, later in 0usize..3, loc in any::<bool>()) {
        let opts = PatchOptions { location_if_empty: loc };
        let x = obj.render();
        let (first, rest) = segments(a, later);
        let once = writeback::apply_segments(&x, UID, &first, &rest, &opts).unwrap();
        let twice = writeback::apply_segments(&once, UID, &first, &rest, &opts).unwrap();
        prop_assert_eq!(&twice, &once);
        prop_assert_eq!(remove(&once, UID).unwrap(), x.clone());
        prop_assert_eq!(without_owned(&unfold(&once)), without_owned(&unfold(&x)));
        assert_new_lines_folded(&x, &once);
        let events = 1 + usize::from(obj.with_override);
        prop_assert_eq!(flat(&once).matches(BLOCK_START).count(), events);
        prop_assert_eq!(once.matches("X-CALMEET-MEETING-ID:").count(), events);
        let id_line = format!("X-CALMEET-MEETING-ID:{}", first.block.meeting_id);
        prop_assert_eq!(once.matches(&id_line).count(), events);
        for s in std::iter::once(&first).chain(&rest) {
            let conference = format!("LABEL=Tencent Meeting:{}", s.block.join_url);
            let lines = unfold(&once).into_iter().filter(|l| l.ends_with(&conference)).count();
            prop_assert_eq!(lines, events);
        }
        // One continuation line per later meeting, in every VEVENT, and none for the first.
        prop_assert_eq!(
            unfold(&once).iter().filter(|l| name_of(l) == "X-CALMEET-CONTINUATION").count(),
            events * later
        );
        for s in &rest {
            let from = chrono::DateTime::from_timestamp(s.start, 0).unwrap();
            let line = format!(
                "X-CALMEET-CONTINUATION;X-CALMEET-FROM={}:{}",
                from.format("%Y%m%dT%H%M%SZ"),
                s.block.meeting_id
            );
            prop_assert_eq!(unfold(&once).iter().filter(|l| **l == line).count(), events);
        }
        // The event parser reads back exactly the continuations written, in order.
        let parsed = calmeet::event::parse_calendar(
            once.as_bytes(),
            chrono_tz::Asia::Shanghai,
            &calmeet::event::TagMatcher::new(None),
        )
        .unwrap();
        prop_assert_eq!(parsed.events.len(), events);
        for e in &parsed.events {
            let got: Vec<(i64, &str)> =
                e.continuations.iter().map(|c| (c.start, c.meeting_id.as_str())).collect();
            let want: Vec<(i64, &str)> =
                rest.iter().map(|s| (s.start, s.block.meeting_id.as_str())).collect();
            prop_assert_eq!(got, want);
            prop_assert_eq!(e.meeting_id.as_deref(), Some(first.block.meeting_id.as_str()));
        }
    }

    #[test]
    fn continuations_are_replaced_in_place_and_a_changed_list_converges(obj in object(), a in 0u32..9, before in 0usize..4, after in 0usize..4, loc in any::<bool>()) {
        let opts = PatchOptions { location_if_empty: loc };
        let x = obj.render();
        let (first, old) = segments(a, before);
        let (_, new) = segments(a + 1, after);
        let via = writeback::apply_segments(
            &writeback::apply_segments(&x, UID, &first, &old, &opts).unwrap(),
            UID,
            &first,
            &new,
            &opts,
        )
        .unwrap();
        let direct = writeback::apply_segments(&x, UID, &first, &new, &opts).unwrap();
        prop_assert_eq!(&via, &direct);
        prop_assert_eq!(remove(&via, UID).unwrap(), x.clone());
        // A user's own X- property with a similar name is not ours.
        let foreign = x.replace("CATEGORIES:腾讯会议", "CATEGORIES:腾讯会议\nX-CALMEET-CONTINUATIONS:keep");
        let foreign = if obj.crlf { foreign.replace("\nX-CALMEET-CONTINUATIONS", "\r\nX-CALMEET-CONTINUATIONS") } else { foreign };
        let patched = writeback::apply_segments(&foreign, UID, &first, &new, &opts).unwrap();
        prop_assert_eq!(remove(&patched, UID).unwrap(), foreign);
    }

    #[test]
    fn one_segment_is_the_single_block_and_segments_come_and_go(obj in object(), a in 0u32..9, later in 1usize..3, loc in any::<bool>()) {
        let opts = PatchOptions { location_if_empty: loc };
        let x = obj.render();
        let (first, rest) = segments(a, later);
        let single = apply(&x, UID, &first.block, &opts).unwrap();
        prop_assert!(!single.contains("X-CALMEET-CONTINUATION"));
        prop_assert_eq!(
            writeback::apply_segments(&x, UID, &first, &[], &opts).unwrap(),
            single.clone()
        );
        // Adding continuations to an event with one link, then dropping them again, ends
        // exactly where the single link started; going straight there is the same.
        let grown = writeback::apply_segments(&single, UID, &first, &rest, &opts).unwrap();
        prop_assert_eq!(&grown, &writeback::apply_segments(&x, UID, &first, &rest, &opts).unwrap());
        prop_assert_eq!(apply(&grown, UID, &first.block, &opts).unwrap(), single);
        for description in descriptions_via_icalendar(&grown) {
            let description = description.unwrap();
            prop_assert_eq!(strip_block(&description), obj.description.clone().unwrap_or_default());
            prop_assert!(description.contains(&first.label));
            prop_assert!(description.contains(&rest[0].label));
        }
    }
}

// ---------------------------------------------------------------- corpus examples

fn opts() -> PatchOptions {
    PatchOptions {
        location_if_empty: true,
    }
}

/// Applies, checks the generic laws on a real file and returns the patched text.
fn check_fixture(name: &str, uid: &str) -> String {
    let x = fixture(name);
    let patched = apply(&x, uid, &block(1), &opts()).unwrap();
    assert_eq!(apply(&patched, uid, &block(1), &opts()).unwrap(), patched);
    assert_eq!(
        apply(&patched, uid, &block(2), &opts()).unwrap(),
        apply(&x, uid, &block(2), &opts()).unwrap()
    );
    assert_eq!(without_owned(&unfold(&patched)), without_owned(&unfold(&x)));
    assert_eq!(patched.ends_with('\n'), x.ends_with('\n'), "final newline");
    assert_eq!(patched.contains("\r\n"), x.contains("\r\n"), "line endings");
    assert_new_lines_folded(&x, &patched);
    assert_eq!(
        writeback::meeting_id(&patched, uid).as_deref(),
        Some("12345671")
    );
    assert_eq!(writeback::meeting_id(&x, uid), None);
    patched
}

#[test]
fn thunderbird_crlf_with_alarms_and_x_moz() {
    let name = "thunderbird-snoozed-alarm-x-moz.ics";
    let patched = check_fixture(name, "731b9b91-cf72-499b-bbc9-c53c28e21fc7");
    assert!(patched.contains(
        "X-MOZ-SNOOZE-TIME:20241023T174130Z\r\nDESCRIPTION:── Tencent Meeting ──\\nJoin: "
    ));
    assert_eq!(
        patched
            .matches("DESCRIPTION:Mozilla Standardbeschreibung")
            .count(),
        2
    );
    // No DESCRIPTION and no LOCATION before: removing restores every byte.
    assert_eq!(
        remove(&patched, "731b9b91-cf72-499b-bbc9-c53c28e21fc7").unwrap(),
        fixture(name)
    );
}

#[test]
fn apple_structured_location_with_folded_params_stays_byte_identical() {
    let name = "apple-iphone-structured-location-folded-utf8.ics";
    let uid = "af64eb20-7d10-4482-8b22-921f7656390a";
    let x = fixture(name);
    let patched = check_fixture(name, uid);
    let start = x.find("X-APPLE-STRUCTURED-LOCATION").unwrap();
    let apple = &x[start..x.find("END:VEVENT").unwrap()];
    assert!(patched.contains(apple), "structured location re-folded");
    // LOCATION is not empty, so it is left alone.
    assert!(patched.contains("LOCATION:Hauptstraße 1-5\\; 4041 Linz\n"));
    assert!(patched.contains("DESCRIPTION:Passwesen\\nAntrag auf ID Austria\\n\\n── Tencent"));
    assert_eq!(remove(&patched, uid).unwrap(), x);
}

#[test]
fn google_override_and_master_both_get_the_block_without_final_newline() {
    let name = "google-monthly-last-friday-moved-override.ics";
    let uid = "38m812jicsrer5gorh3mlp7qhc@google.com";
    let x = fixture(name);
    let patched = check_fixture(name, uid);
    assert_eq!(flat(&patched).matches(BLOCK_START).count(), 2);
    assert_eq!(
        patched
            .matches("CONFERENCE;VALUE=URI;FEATURE=VIDEO;LABEL=Tencent Meeting:")
            .count(),
        2
    );
    // The empty LOCATION got the join link, in both VEVENTs.
    assert_eq!(
        patched
            .matches("LOCATION:https://meeting.tencent.com/dm/abc1\n")
            .count(),
        2
    );
    let unpatched = remove(&patched, uid).unwrap();
    // Google folds at 75 octets like calmeet, so DESCRIPTION comes back byte-exact; only the
    // empty LOCATION (now absent, which means the same) differs.
    assert_eq!(unpatched, x.replace("LOCATION:\n", ""));
}

#[test]
fn cancelled_override_is_left_alone() {
    let name = "thunderbird-cancelled-occurrence-count.ics";
    let uid = "b65c2b5b-b785-4edc-9560-e0379036d1f2";
    let x = fixture(name);
    let patched = check_fixture(name, uid);
    assert_eq!(flat(&patched).matches(BLOCK_START).count(), 1);
    let cancelled = &x[x.find("STATUS:CANCELLED").unwrap()..];
    assert!(patched.ends_with(cancelled), "cancelled override changed");
    assert_eq!(remove(&patched, uid).unwrap(), x);
}

#[test]
fn evolution_crlf_override_without_description() {
    let name = "evolution-allday-weekly-override.ics";
    let uid = "212e857f74c7eb0b4874e024f6537b77bd77dbd5";
    let patched = check_fixture(name, uid);
    assert_eq!(flat(&patched).matches(BLOCK_START).count(), 2);
    // The master has a non-empty LOCATION, the override none: only the override gets one.
    assert!(patched.contains("LOCATION:Changed again\r\n"));
    assert_eq!(patched.matches("LOCATION:https://").count(), 1);
    assert_eq!(remove(&patched, uid).unwrap(), fixture(name));
}

#[test]
fn x_alt_desc_and_alarm_untouched() {
    let name = "evolution-arabian-standard-time-x-alt-desc.ics";
    let uid = "421182d9-2d9c-4659-9b7d-d2b17b4c57e0";
    let x = fixture(name);
    let patched = check_fixture(name, uid);
    let alt = &x[x.find("X-ALT-DESC").unwrap()..x.find("X-MICROSOFT-CDO-BUSYSTATUS").unwrap()];
    assert!(patched.contains(alt));
    // New properties go after the last property, before the VALARM.
    let alarm = patched.find("BEGIN:VALARM").unwrap();
    assert!(patched.find("X-CALMEET-MEETING-ID").unwrap() < alarm);
    assert_eq!(remove(&patched, uid).unwrap(), x);
}

#[test]
fn exchange_newline_description_and_folded_uid() {
    let name = "exchange-nz-standard-time-weekly-mo-we.ics";
    let uid = "040000008200E00074C5B7101A82E008000000004315635C6F36DC01000000000000000\
               010000000B1326A1B0D78AA40AC7A9BFA204E7D84";
    let x = fixture(name);
    let patched = check_fixture(name, uid);
    assert_eq!(flat(&patched).matches(BLOCK_START).count(), 1);
    assert!(patched.contains("DESCRIPTION:\\n\\n\\n── Tencent Meeting ──"));
    let unpatched = remove(&patched, uid).unwrap();
    assert_eq!(
        unfold(&unpatched).len(),
        unfold(&x).len() - 1,
        "only LOCATION: is gone"
    );
}

#[test]
fn sabredav_crlf_description_created_then_removed() {
    let name = "sabredav-weekly-count-utc-exdates.ics";
    let uid = "SX2CURHKFTKKFFU3VUD7K";
    let patched = check_fixture(name, uid);
    assert!(patched.contains("X-MOZ-GENERATION:2\r\nDESCRIPTION:"));
    assert_eq!(remove(&patched, uid).unwrap(), fixture(name));
}

#[test]
fn structured_location_folded_mid_parameter() {
    let name = "google-apple-structured-location-weekdays.ics";
    let x = fixture(name);
    let uid_line = unfold(&x)
        .into_iter()
        .find(|l| l.starts_with("UID:"))
        .unwrap();
    let uid = uid_line.trim_start_matches("UID:").to_owned();
    let patched = check_fixture(name, &uid);
    let start = x.find("X-APPLE-STRUCTURED-LOCATION").unwrap();
    let end = start + x[start..].find("\nEND:VEVENT").unwrap();
    assert!(patched.contains(&x[start..end]));
}

// ---------------------------------------------------------------- targeted examples

#[test]
fn description_parameters_and_lowercase_names_are_kept() {
    let x = "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nuid:lc\r\n\
             description;LANGUAGE=zh-CN;ALTREP=\"cid:a:b\":议程\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    let patched = apply(x, "lc", &block(1), &PatchOptions::default()).unwrap();
    assert!(patched.contains("description;LANGUAGE=zh-CN;ALTREP=\"cid:a:b\":议程\\n\\n── Tencent"));
    assert_eq!(remove(&patched, "lc").unwrap(), x);
}

#[test]
fn other_conference_lines_are_never_touched() {
    let x =
        "BEGIN:VEVENT\nUID:c\nCONFERENCE;VALUE=URI;LABEL=Zoom:https://zoom.us/j/1\nEND:VEVENT\n";
    let patched = apply(x, "c", &block(1), &PatchOptions::default()).unwrap();
    assert!(patched.contains("CONFERENCE;VALUE=URI;LABEL=Zoom:https://zoom.us/j/1\n"));
    assert_eq!(patched.matches("CONFERENCE").count(), 2);
    assert_eq!(remove(&patched, "c").unwrap(), x);
}

#[test]
fn user_deleted_end_fence_and_wording_is_still_our_block() {
    let x = "BEGIN:VEVENT\nUID:f\nDESCRIPTION:agenda\\n\\n── Tencent Meeting ──\\nJoin link: old\nEND:VEVENT\n";
    let patched = apply(x, "f", &block(3), &PatchOptions::default()).unwrap();
    assert_eq!(flat(&patched).matches(BLOCK_START).count(), 1);
    assert!(patched.contains("DESCRIPTION:agenda\\n\\n── Tencent Meeting ──\\nJoin: https"));
    assert!(!patched.contains("old"));
}

#[test]
fn location_we_set_is_updated_and_a_user_location_is_kept() {
    let x = "BEGIN:VEVENT\nUID:l\nEND:VEVENT\n";
    let one = apply(x, "l", &block(1), &opts()).unwrap();
    let two = apply(&one, "l", &block(2), &opts()).unwrap();
    assert!(two.contains("LOCATION:https://meeting.tencent.com/dm/abc2\n"));
    // The user changes LOCATION: calmeet neither overwrites nor removes it.
    let edited = two.replace(
        "LOCATION:https://meeting.tencent.com/dm/abc2",
        "LOCATION:Room 5",
    );
    let three = apply(&edited, "l", &block(3), &opts()).unwrap();
    assert!(three.contains("LOCATION:Room 5\n"));
    assert!(remove(&three, "l").unwrap().contains("LOCATION:Room 5\n"));
}

#[test]
fn errors_name_the_problem() {
    let err = apply("BEGIN:VEVENT\nUID:a\nEND:VEVENT\n", "b", &block(1), &opts()).unwrap_err();
    assert!(matches!(err, PatchError::UidNotFound { .. }));
    assert!(err.to_string().contains("\"b\""));
    let err = remove("BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:a\n", "a").unwrap_err();
    assert!(err.to_string().contains("never closed"), "{err}");
}
