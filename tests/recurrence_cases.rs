//! Reading the recurrence set whole and right (issue #10, kinds 1–5 and 8), through the parser,
//! the expander and the planner, without I/O.
//!
//! Each calendar of `tests/fixtures/cases/recurrence/` (copied from the bug reports' cases, with
//! `cases.json` naming the right outcome) is planned at its "now" with empty state; every
//! action is applied to a model of the meeting(s) (create → its occurrences, cancel/move of an
//! occurrence → that slot), and passes repeat until one is quiet. The occurrences held from
//! now on, or the skip line, are compared with the case. Kind tables follow: every recurrence
//! property × value form, duplicate components in every order, zones, malformed lines.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, HashSet};

use calmeet::config::{CalendarConfig, Config, MatchRules};
use calmeet::event::{Parsed, TagMatcher, parse_calendar};
use calmeet::store::{EventRow, RowState};
use calmeet::sync::{Action, PlanInput, SourcedEvent, plan};
use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::Value;

/// Tags every event (the cases carry no CATEGORIES): `all = true`.
fn matcher() -> TagMatcher {
    TagMatcher::new(Some(&MatchRules {
        categories: vec![],
        keywords: vec![],
        all: true,
    }))
}

fn config() -> Config {
    let text = "[meeting]\napp_id = \"1\"\nsecret_id = \"s\"\nuserid = \"alice\"\n[[calendar]]\nname = \"team\"\nurl = \"https://dav.example.com/cal/\"\nkind = \"caldav\"\n";
    Config::parse(text, "t", std::path::Path::new("/")).unwrap()
}

/// What the planner made of one UID, after passes until quiet.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    /// Occurrence intervals (unix seconds, [start, end)) the meetings hold, ending after now.
    Held(Vec<(i64, i64)>),
    /// Skip lines naming the event.
    Refused(Vec<String>),
}

/// Parses `ics` (floating times in Asia/Shanghai, so that a floating value read in the
/// configured zone instead of DTSTART's is visible) and plans it at `now` until quiet.
/// Returns the outcome per UID and the number of passes that acted.
fn run(ics: &[u8], now: DateTime<Utc>) -> (BTreeMap<String, Outcome>, Parsed) {
    let (outcomes, parsed, _) = run_with_zones(ics, now);
    (outcomes, parsed)
}

/// Like [`run`], also returning the `time_zone` each created meeting is sent with, by UID.
fn run_with_zones(ics: &[u8], now: DateTime<Utc>) -> (BTreeMap<String, Outcome>, Parsed, Zones) {
    let parsed = parse_calendar(ics, chrono_tz::Asia::Shanghai, &matcher()).unwrap();
    let events: Vec<SourcedEvent> = parsed
        .events
        .iter()
        .cloned()
        .map(|event| SourcedEvent {
            event,
            href: Some("/cal/a.ics".into()),
            etag: Some("\"1\"".into()),
        })
        .collect();
    let config = config();
    let cal: &CalendarConfig = &config.calendars[0];
    let failed: HashSet<String> = parsed
        .failures
        .iter()
        .filter_map(|f| f.uid.clone())
        .collect();
    let mut rows: Vec<EventRow> = Vec::new();
    // Per UID: the slots of its meetings, original start → (start, end) or cancelled.
    let mut held: BTreeMap<String, BTreeMap<i64, Option<(i64, i64)>>> = BTreeMap::new();
    let mut refused: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut zones = Zones::new();
    let mut quiet = false;
    for _pass in 0..4 {
        let actions = plan(&PlanInput {
            calendar: cal,
            meeting: &config.meeting,
            events: &events,
            failed_uids: &failed,
            rows: &rows,
            segments: &[],
            now,
            horizon: Duration::days(1000),
            max_cancel_share: 0.5,
            confirm_deletions: false,
            held_cancels: None,
        });
        let acting: Vec<&Action> = actions
            .iter()
            .filter(|a| !matches!(a, Action::WriteBack { .. }))
            .collect();
        if acting.is_empty() {
            quiet = true;
            break;
        }
        for a in actions {
            match a {
                Action::Create { key, desired, .. } => {
                    zones.insert(key.uid.clone(), desired.time_zone.clone());
                    let len = (desired.end - desired.start).num_seconds();
                    let slots = held.entry(key.uid.clone()).or_default();
                    for s in &desired.occurrences {
                        let at = if desired.rule.is_some() {
                            as_tencent_repeats(desired.start, *s, desired.time_zone.as_deref())
                        } else {
                            s.timestamp()
                        };
                        slots.insert(s.timestamp(), Some((at, at + len)));
                    }
                    let mut r = EventRow::new(key, RowState::Created, 0);
                    r.meeting_id = Some(format!("m-{}", r.key.uid));
                    r.userid = Some(desired.userid.clone());
                    r.fingerprint = Some(desired.fingerprint.clone());
                    r.start_at = Some(desired.start.timestamp());
                    r.end_at = Some(desired.end.timestamp());
                    r.series_end_at = Some(desired.series_end.timestamp());
                    r.recurring = desired.rule.is_some();
                    r.needs_extension = desired.truncated;
                    r.occurrences = desired.occurrences.iter().map(|t| t.timestamp()).collect();
                    r.written_back = true;
                    rows.push(r);
                }
                // Occurrence rows name the meeting and sub-meeting they were sent to, as apply
                // records them.
                Action::CancelOccurrence {
                    key, meeting_id, ..
                } => {
                    let rid = key.recurrence_id.unwrap();
                    held.entry(key.uid.clone()).or_default().insert(rid, None);
                    let mut r = EventRow::new(key, RowState::Cancelled, 0);
                    r.meeting_id = Some(meeting_id);
                    r.sub_meeting_id = Some(rid.to_string());
                    rows.push(r);
                }
                Action::MoveOccurrence {
                    key,
                    meeting_id,
                    start,
                    end,
                    fingerprint,
                    ..
                } => {
                    let rid = key.recurrence_id.unwrap();
                    held.entry(key.uid.clone())
                        .or_default()
                        .insert(rid, Some((start.timestamp(), end.timestamp())));
                    let mut r = EventRow::new(key, RowState::Created, 0);
                    r.meeting_id = Some(meeting_id);
                    r.sub_meeting_id = Some(rid.to_string());
                    r.fingerprint = Some(fingerprint);
                    rows.push(r);
                }
                Action::Skip { key, reason } => {
                    refused
                        .entry(key.uid.clone())
                        .or_default()
                        .push(reason.clone());
                    let mut r = EventRow::new(key, RowState::Skipped, 0);
                    r.last_error = Some(reason);
                    rows.push(r);
                }
                Action::WriteBack { .. } => {}
                other => panic!("unexpected action for a new calendar: {other:?}"),
            }
        }
    }
    assert!(quiet, "the plan never became quiet");
    let mut out = BTreeMap::new();
    for (uid, reasons) in refused {
        out.insert(uid, Outcome::Refused(reasons));
    }
    let now = now.timestamp();
    for (uid, slots) in held {
        let mut v: Vec<(i64, i64)> = slots
            .into_values()
            .flatten()
            .filter(|(_, e)| *e > now)
            .collect();
        v.sort_unstable();
        out.insert(uid, Outcome::Held(v));
    }
    (out, parsed, zones)
}

/// The `time_zone` of each created meeting, by UID.
type Zones = BTreeMap<String, Option<String>>;

/// Where Tencent puts the occurrence calmeet means by `occurrence`: on its date, at the first
/// start's wall time, both read in `time_zone` (Asia/Shanghai when none is sent; API
/// reference §3.1). Equal to `occurrence` exactly when the zone sent agrees with the event's.
fn as_tencent_repeats(
    first: DateTime<Utc>,
    occurrence: DateTime<Utc>,
    time_zone: Option<&str>,
) -> i64 {
    let tz: chrono_tz::Tz = time_zone.unwrap_or("Asia/Shanghai").parse().unwrap();
    let wall = first.with_timezone(&tz).time();
    let date = occurrence.with_timezone(&tz).date_naive();
    tz.from_local_datetime(&date.and_time(wall))
        .earliest()
        .unwrap()
        .timestamp()
}

fn instant(v: &Value) -> i64 {
    DateTime::parse_from_rfc3339(v.as_str().unwrap())
        .unwrap()
        .timestamp()
}

fn cases() -> Value {
    serde_json::from_str(include_str!("fixtures/cases/recurrence/cases.json")).unwrap()
}

fn case_file(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/cases/recurrence/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// Whether `outcome` is one `expected` allows (a case entry or one of its `either` arms).
fn matches_case(got: &BTreeMap<String, Outcome>, arm: &Value) -> Result<(), String> {
    if let Some(property) = arm.get("refuse").and_then(Value::as_str) {
        let named = got.values().any(|o| match o {
            Outcome::Refused(reasons) => reasons.iter().any(|r| r.contains(property)),
            Outcome::Held(_) => false,
        });
        let held_any = got
            .values()
            .any(|o| matches!(o, Outcome::Held(v) if !v.is_empty()));
        return if named && !held_any {
            Ok(())
        } else {
            Err(format!("expected a refusal naming {property}, got {got:?}"))
        };
    }
    let expected = arm.get("expected").and_then(Value::as_object).unwrap();
    for (uid, list) in expected {
        let want: Vec<(i64, i64)> = list
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (instant(&p[0]), instant(&p[1])))
            .collect();
        match got.get(uid) {
            Some(Outcome::Held(have)) if *have == want => {}
            other => return Err(format!("{uid}: expected {want:?}, got {other:?}")),
        }
    }
    Ok(())
}

/// Runs one case of `cases.json` and checks its outcome.
fn check_case(name: &str) -> BTreeMap<String, Outcome> {
    let all = cases();
    let case = &all[name];
    let now = DateTime::parse_from_rfc3339(case["now"].as_str().unwrap())
        .unwrap()
        .with_timezone(&Utc);
    let (got, _) = run(&case_file(name), now);
    let arms: Vec<&Value> = match case.get("either") {
        Some(Value::Array(arms)) => arms.iter().collect(),
        _ => vec![case],
    };
    let errors: Vec<String> = arms
        .iter()
        .filter_map(|a| matches_case(&got, a).err())
        .collect();
    assert!(errors.len() < arms.len(), "{name}: {errors:#?}");
    got
}

#[test]
fn two_rrules_are_refused_naming_rrule() {
    check_case("two-rrules.ics");
}

#[test]
fn floating_exdate_on_zoned_series_is_read_in_dtstart_zone() {
    check_case("floating-exdate-on-zoned-series.ics");
}

#[test]
fn invitation_to_one_occurrence_is_a_single_meeting() {
    check_case("invitation-to-one-occurrence.ics");
}

#[test]
fn unescaped_semicolon_in_x_parameter_fails_nothing() {
    let got = check_case("unescaped-semicolon-in-x-parameter.ics");
    assert_eq!(got.len(), 2, "{got:?}");
}

#[test]
fn rdate_added_dates_are_refused_naming_rdate() {
    check_case("rdate-added-dates.ics");
}

#[test]
fn exrule_excludes_its_occurrences_like_exdates() {
    let got = check_case("exrule.ics");
    // Held exactly, not refused (both are acceptable; exact is better).
    assert!(
        matches!(got.get("case03-exrule@example.com"), Some(Outcome::Held(v)) if v.len() == 6),
        "{got:?}"
    );
}

#[test]
fn duplicate_uid_distinct_events_are_refused_naming_uid() {
    check_case("duplicate-uid-distinct-events.ics");
}

#[test]
fn duplicate_override_keeps_the_higher_sequence() {
    check_case("duplicate-override.ics");
}

#[test]
fn vtimezone_only_zone_across_dst_is_sent_with_an_agreeing_iana_zone() {
    check_case("vtimezone-only-zone-across-dst.ics");
}

#[test]
fn tzone_microsoft_utc_is_resolved() {
    check_case("tzone-microsoft-utc.ics");
}

// ---------------------------------------------------------------------------------------------
// Kind tables.

/// A calendar of VEVENTs (`\r\n` line ends).
fn calendar(body: &str) -> Vec<u8> {
    format!("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\n{body}END:VCALENDAR\r\n")
        .into_bytes()
}

/// 2030-06-01T00:00Z: a Saturday, two days before the table's series starts.
fn table_now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 6, 1, 0, 0, 0).unwrap()
}

/// A VEVENT with UID `t`, DTSTART Monday 2030-06-03 09:00 Europe/Berlin (07:00Z), one hour,
/// and `extra` lines.
fn berlin(extra: &str) -> String {
    format!(
        "BEGIN:VEVENT\r\nUID:t\r\nDTSTAMP:20300101T000000Z\r\nSUMMARY:Table\r\n\
         DTSTART;TZID=Europe/Berlin:20300603T090000\r\nDTEND;TZID=Europe/Berlin:20300603T100000\r\n\
         {extra}END:VEVENT\r\n"
    )
}

/// The outcome of UID `t` as text: `refused <reason>` or the held starts (`MMDDTHHMM` UTC,
/// with `+<minutes>` when not one hour long).
fn outcome_of(body: &str) -> String {
    let (got, parsed) = run(&calendar(body), table_now());
    assert!(parsed.failures.is_empty(), "{:?}", parsed.failures);
    match got.get("t") {
        Some(Outcome::Refused(r)) => format!("refused {}", r.join(" | ")),
        Some(Outcome::Held(v)) => v
            .iter()
            .take(8)
            .map(|(s, e)| {
                let t = DateTime::from_timestamp(*s, 0).unwrap().format("%m%dT%H%M");
                if e - s == 3600 {
                    t.to_string()
                } else {
                    format!("{t}+{}", (e - s) / 60)
                }
            })
            .collect::<Vec<_>>()
            .join(" "),
        None => format!("nothing: {got:?}"),
    }
}

const WEEKLY6: &str = "RRULE:FREQ=WEEKLY;COUNT=6\r\n";
const ALL6: &str = "0603T0700 0610T0700 0617T0700 0624T0700 0701T0700 0708T0700";

/// Every recurrence property × value form is held exactly or refused naming the property
/// (RFC 5545 §3.8.5, RFC 2445 §4.8.5.2 for EXRULE). `held` rows list the exact starts.
#[test]
fn every_recurrence_property_and_value_form_is_exact_or_refused_by_name() {
    let override_at = |rid: &str, extra: &str| {
        format!(
            "BEGIN:VEVENT\r\nUID:t\r\nDTSTAMP:20300101T000000Z\r\nSUMMARY:Table\r\n{rid}\r\n\
             DTSTART;TZID=Europe/Berlin:20300610T140000\r\nDTEND;TZID=Europe/Berlin:20300610T150000\r\n\
             {extra}END:VEVENT\r\n"
        )
    };
    let moved = "0603T0700 0610T1200 0617T0700 0624T0700 0701T0700 0708T0700";
    let table: Vec<(&str, String, &str)> = vec![
        ("RRULE alone", berlin(WEEKLY6), ALL6),
        (
            "RRULE with UNTIL",
            berlin("RRULE:FREQ=WEEKLY;UNTIL=20300708T070000Z\r\n"),
            ALL6,
        ),
        ("no RRULE", berlin(""), "0603T0700"),
        (
            "DURATION",
            berlin("").replace("DTEND;TZID=Europe/Berlin:20300603T100000", "DURATION:PT90M"),
            "0603T0700+90",
        ),
        (
            "no DTEND or DURATION",
            berlin("").replace("DTEND;TZID=Europe/Berlin:20300603T100000\r\n", ""),
            "0603T0700",
        ),
        (
            "DTSTART in UTC",
            berlin("")
                .replace(
                    "DTSTART;TZID=Europe/Berlin:20300603T090000",
                    "DTSTART:20300603T070000Z",
                )
                .replace(
                    "DTEND;TZID=Europe/Berlin:20300603T100000",
                    "DTEND:20300603T080000Z",
                ),
            "0603T0700",
        ),
        (
            "DTSTART floating (configured zone)",
            berlin("")
                .replace(
                    "DTSTART;TZID=Europe/Berlin:20300603T090000",
                    "DTSTART:20300603T150000",
                )
                .replace(
                    "DTEND;TZID=Europe/Berlin:20300603T100000",
                    "DTEND:20300603T160000",
                ),
            "0603T0700",
        ),
        (
            "DTSTART a DATE",
            berlin("")
                .replace(
                    "DTSTART;TZID=Europe/Berlin:20300603T090000",
                    "DTSTART;VALUE=DATE:20300603",
                )
                .replace(
                    "DTEND;TZID=Europe/Berlin:20300603T100000",
                    "DTEND;VALUE=DATE:20300604",
                ),
            "refused all-day",
        ),
        (
            "EXDATE UTC",
            berlin(&format!("{WEEKLY6}EXDATE:20300610T070000Z\r\n")),
            "0603T0700 0617T0700 0624T0700 0701T0700 0708T0700",
        ),
        (
            "EXDATE TZID",
            berlin(&format!(
                "{WEEKLY6}EXDATE;TZID=Europe/Berlin:20300610T090000\r\n"
            )),
            "0603T0700 0617T0700 0624T0700 0701T0700 0708T0700",
        ),
        (
            "EXDATE floating takes DTSTART's zone",
            berlin(&format!("{WEEKLY6}EXDATE:20300610T090000\r\n")),
            "0603T0700 0617T0700 0624T0700 0701T0700 0708T0700",
        ),
        (
            "EXDATE DATE",
            berlin(&format!("{WEEKLY6}EXDATE;VALUE=DATE:20300610\r\n")),
            "0603T0700 0617T0700 0624T0700 0701T0700 0708T0700",
        ),
        (
            "EXDATE list and repeated",
            berlin(&format!(
                "{WEEKLY6}EXDATE;TZID=Europe/Berlin:20300610T090000,20300617T090000\r\nEXDATE:20300708T070000Z\r\n"
            )),
            "0603T0700 0624T0700 0701T0700",
        ),
        (
            "RDATE UTC",
            berlin(&format!("{WEEKLY6}RDATE:20300605T070000Z\r\n")),
            "refused RDATE",
        ),
        (
            "RDATE TZID",
            berlin(&format!(
                "{WEEKLY6}RDATE;TZID=Europe/Berlin:20300605T090000\r\n"
            )),
            "refused RDATE",
        ),
        (
            "RDATE floating",
            berlin(&format!("{WEEKLY6}RDATE:20300605T090000\r\n")),
            "refused RDATE",
        ),
        (
            "RDATE DATE",
            berlin(&format!("{WEEKLY6}RDATE;VALUE=DATE:20300605\r\n")),
            "refused RDATE",
        ),
        (
            "RDATE PERIOD start/end",
            berlin(&format!(
                "{WEEKLY6}RDATE;VALUE=PERIOD:20300605T070000Z/20300605T080000Z\r\n"
            )),
            "refused RDATE",
        ),
        (
            "RDATE PERIOD start/duration",
            berlin(&format!(
                "{WEEKLY6}RDATE;VALUE=PERIOD:20300605T070000Z/PT2H\r\n"
            )),
            "refused RDATE",
        ),
        (
            "RDATE on a single event",
            berlin("RDATE:20300605T070000Z\r\n"),
            "refused RDATE",
        ),
        (
            "RDATE repeating DTSTART adds nothing",
            berlin(&format!(
                "{WEEKLY6}RDATE;TZID=Europe/Berlin:20300603T090000\r\n"
            )),
            ALL6,
        ),
        (
            "second RRULE",
            berlin(&format!(
                "{WEEKLY6}RRULE:FREQ=MONTHLY;BYDAY=1FR;COUNT=2\r\n"
            )),
            "refused RRULE",
        ),
        (
            "EXRULE on a bounded series",
            berlin(&format!("{WEEKLY6}EXRULE:FREQ=WEEKLY;INTERVAL=2\r\n")),
            "0610T0700 0624T0700 0708T0700",
        ),
        (
            "EXRULE that skips DTSTART",
            berlin(&format!("{WEEKLY6}EXRULE:FREQ=MONTHLY;BYDAY=1MO\r\n")),
            "0610T0700 0617T0700 0624T0700 0708T0700",
        ),
        (
            "bounded EXRULE on an open series",
            berlin("RRULE:FREQ=WEEKLY\r\nEXRULE:FREQ=WEEKLY;COUNT=2\r\n"),
            "0617T0700 0624T0700 0701T0700 0708T0700 0715T0700 0722T0700 0729T0700 0805T0700",
        ),
        (
            "open EXRULE on an open series",
            berlin("RRULE:FREQ=WEEKLY\r\nEXRULE:FREQ=MONTHLY;BYDAY=1MO\r\n"),
            "refused EXRULE",
        ),
        (
            "EXRULE without RRULE",
            berlin("EXRULE:FREQ=WEEKLY;COUNT=2\r\n"),
            "refused EXRULE",
        ),
        (
            "EXRULE malformed",
            berlin(&format!("{WEEKLY6}EXRULE:FREQ=SOMETIMES\r\n")),
            "refused EXRULE",
        ),
        (
            "override RECURRENCE-ID TZID",
            format!(
                "{}{}",
                berlin(WEEKLY6),
                override_at("RECURRENCE-ID;TZID=Europe/Berlin:20300610T090000", "")
            ),
            moved,
        ),
        (
            "override RECURRENCE-ID UTC",
            format!(
                "{}{}",
                berlin(WEEKLY6),
                override_at("RECURRENCE-ID:20300610T070000Z", "")
            ),
            moved,
        ),
        (
            "override RECURRENCE-ID floating takes DTSTART's zone",
            format!(
                "{}{}",
                berlin(WEEKLY6),
                override_at("RECURRENCE-ID:20300610T090000", "")
            ),
            moved,
        ),
        (
            "override cancelled",
            format!(
                "{}{}",
                berlin(WEEKLY6),
                override_at(
                    "RECURRENCE-ID;TZID=Europe/Berlin:20300610T090000",
                    "STATUS:CANCELLED\r\n"
                )
            ),
            "0603T0700 0617T0700 0624T0700 0701T0700 0708T0700",
        ),
        (
            "override RANGE=THISANDFUTURE",
            format!(
                "{}{}",
                berlin(WEEKLY6),
                override_at(
                    "RECURRENCE-ID;RANGE=THISANDFUTURE;TZID=Europe/Berlin:20300610T090000",
                    ""
                )
            ),
            "refused RANGE",
        ),
        (
            "override first, master after",
            format!(
                "{}{}",
                override_at("RECURRENCE-ID;TZID=Europe/Berlin:20300610T090000", ""),
                berlin(WEEKLY6)
            ),
            moved,
        ),
    ];
    let mut wrong = Vec::new();
    for (name, body, want) in &table {
        let got = outcome_of(body);
        let ok = match want.strip_prefix("refused ") {
            Some(property) => got.starts_with("refused ") && got.contains(property),
            None => got == *want,
        };
        if !ok {
            wrong.push(format!("{name}: want {want}, got {got}"));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

/// Every order of `parts`.
fn permutations(parts: &[String]) -> Vec<Vec<String>> {
    if parts.len() <= 1 {
        return vec![parts.to_vec()];
    }
    let mut out = Vec::new();
    for i in 0..parts.len() {
        let mut rest = parts.to_vec();
        let head = rest.remove(i);
        for mut p in permutations(&rest) {
            p.insert(0, head.clone());
            out.push(p);
        }
    }
    out
}

/// A VEVENT claiming (`t`, RECURRENCE-ID 2030-06-10 09:00 Berlin) with these revision lines and
/// start hour.
fn claimant(revision: &str, hour: u32) -> String {
    format!(
        "BEGIN:VEVENT\r\nUID:t\r\n{revision}SUMMARY:Table\r\n\
         RECURRENCE-ID;TZID=Europe/Berlin:20300610T090000\r\n\
         DTSTART;TZID=Europe/Berlin:20300610T{hour:02}0000\r\n\
         DTEND;TZID=Europe/Berlin:20300610T{:02}0000\r\nEND:VEVENT\r\n",
        hour + 1
    )
}

/// (UID, RECURRENCE-ID) is one component per calendar: SEQUENCE, then DTSTAMP, then
/// LAST-MODIFIED decide (RFC 5546 §2.1.5); a tie between different components refuses the
/// key naming UID; identical copies are one. Every order of the components gives the same
/// outcome, and the plan is quiet on the next pass (`run` checks that).
#[test]
fn duplicate_components_resolve_by_revision_in_every_order() {
    let stamp = "DTSTAMP:20300101T000000Z\r\n";
    let later = "DTSTAMP:20300102T000000Z\r\n";
    let table: Vec<(&str, Vec<String>, &str)> = vec![
        (
            "higher SEQUENCE wins over a later DTSTAMP",
            vec![
                claimant(&format!("SEQUENCE:2\r\n{stamp}"), 12),
                claimant(&format!("SEQUENCE:1\r\n{later}"), 14),
            ],
            "0603T0700 0610T1000 0617T0700 0624T0700 0701T0700 0708T0700",
        ),
        (
            "same SEQUENCE: later DTSTAMP wins",
            vec![
                claimant(&format!("SEQUENCE:1\r\n{stamp}"), 12),
                claimant(&format!("SEQUENCE:1\r\n{later}"), 14),
            ],
            "0603T0700 0610T1200 0617T0700 0624T0700 0701T0700 0708T0700",
        ),
        (
            "same SEQUENCE and DTSTAMP: later LAST-MODIFIED wins",
            vec![
                claimant(&format!("{stamp}LAST-MODIFIED:20300103T000000Z\r\n"), 12),
                claimant(&format!("{stamp}LAST-MODIFIED:20300102T000000Z\r\n"), 14),
            ],
            "0603T0700 0610T1000 0617T0700 0624T0700 0701T0700 0708T0700",
        ),
        (
            "identical copies are one",
            vec![
                claimant(stamp, 12),
                claimant(stamp, 12),
                claimant(stamp, 12),
            ],
            "0603T0700 0610T1000 0617T0700 0624T0700 0701T0700 0708T0700",
        ),
        (
            "an override tie refuses the series naming UID",
            vec![claimant(stamp, 12), claimant(stamp, 14)],
            "refused UID",
        ),
    ];
    let master = berlin(WEEKLY6);
    let mut wrong = Vec::new();
    for (name, claimants, want) in &table {
        let mut parts = claimants.clone();
        parts.push(master.clone());
        let mut outcomes: Vec<String> = permutations(&parts)
            .iter()
            .map(|p| outcome_of(&p.concat()))
            .collect();
        outcomes.dedup();
        if outcomes.len() != 1 {
            wrong.push(format!("{name}: depends on the order: {outcomes:#?}"));
            continue;
        }
        let got = &outcomes[0];
        let ok = match want.strip_prefix("refused ") {
            Some(p) => got.starts_with("refused ") && got.contains(p),
            None => got == want,
        };
        if !ok {
            wrong.push(format!("{name}: want {want}, got {got}"));
        }
    }
    // Two masters: a tie refuses the UID, a higher SEQUENCE wins, in either order.
    let second = berlin(WEEKLY6)
        .replace("T090000", "T110000")
        .replace("T100000", "T120000");
    for (a, b, want) in [
        (berlin(WEEKLY6), second.clone(), "refused UID"),
        (
            berlin(&format!("{WEEKLY6}SEQUENCE:3\r\n")),
            second.clone(),
            ALL6,
        ),
    ] {
        for body in [format!("{a}{b}"), format!("{b}{a}")] {
            let got = outcome_of(&body);
            let ok = match want.strip_prefix("refused ") {
                Some(p) => got.starts_with("refused ") && got.contains(p),
                None => got == want,
            };
            if !ok {
                wrong.push(format!("two masters: want {want}, got {got}"));
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

/// An override whose master is not in the calendar is a single meeting keyed by UID +
/// RECURRENCE-ID: created once, quiet after, cancelled when the invitation goes away.
#[test]
fn override_without_master_is_a_single_meeting_for_its_lifetime() {
    let ics = case_file("invitation-to-one-occurrence.ics");
    let now = Utc.with_ymd_and_hms(2026, 1, 7, 0, 0, 0).unwrap();
    let parsed = parse_calendar(&ics, chrono_tz::Asia::Shanghai, &matcher()).unwrap();
    assert!(parsed.events[0].standalone);
    let events: Vec<SourcedEvent> = parsed
        .events
        .into_iter()
        .map(|event| SourcedEvent {
            event,
            href: None,
            etag: None,
        })
        .collect();
    let config = config();
    let failed = HashSet::new();
    let plan_with = |events: &[SourcedEvent], rows: &[EventRow]| {
        plan(&PlanInput {
            calendar: &config.calendars[0],
            meeting: &config.meeting,
            events,
            failed_uids: &failed,
            rows,
            segments: &[],
            now,
            horizon: Duration::days(90),
            max_cancel_share: 1.0,
            confirm_deletions: true,
            held_cancels: None,
        })
    };
    let first = plan_with(&events, &[]);
    let [Action::Create { key, desired, .. }] = first.as_slice() else {
        panic!("{first:?}");
    };
    assert_eq!(
        key.recurrence_id,
        Some(1_768_374_000),
        "keyed by RECURRENCE-ID (07:00Z)"
    );
    assert!(desired.rule.is_none());
    let mut row = EventRow::new(key.clone(), RowState::Created, 0);
    row.meeting_id = Some("m1".into());
    row.userid = Some(desired.userid.clone());
    row.fingerprint = Some(desired.fingerprint.clone());
    row.start_at = Some(desired.start.timestamp());
    row.end_at = Some(desired.end.timestamp());
    row.series_end_at = Some(desired.series_end.timestamp());
    row.written_back = true;
    let rows = vec![row];
    let second = plan_with(&events, &rows);
    assert!(second.is_empty(), "{second:?}");
    let gone = plan_with(&[], &rows);
    assert!(
        matches!(gone.as_slice(), [Action::Cancel { key: k, .. }] if k == key),
        "{gone:?}"
    );
}

/// A VTIMEZONE `tzid` with standard offset `std` and, when given, daylight offset `dst` from
/// the `dst_rule` to the `std_rule` (yearly BYDAY/BYMONTH parts).
fn vtimezone(tzid: &str, std: &str, dst: Option<(&str, &str, &str)>) -> String {
    let mut v = format!("BEGIN:VTIMEZONE\r\nTZID:{tzid}\r\n");
    match dst {
        None => v.push_str(&format!(
            "BEGIN:STANDARD\r\nDTSTART:16010101T000000\r\nTZOFFSETFROM:{std}\r\nTZOFFSETTO:{std}\r\nEND:STANDARD\r\n"
        )),
        Some((dst, to_dst, to_std)) => v.push_str(&format!(
            "BEGIN:STANDARD\r\nDTSTART:16010101T020000\r\nTZOFFSETFROM:{dst}\r\nTZOFFSETTO:{std}\r\n\
             RRULE:FREQ=YEARLY;{to_std}\r\nEND:STANDARD\r\nBEGIN:DAYLIGHT\r\nDTSTART:16010101T020000\r\n\
             TZOFFSETFROM:{std}\r\nTZOFFSETTO:{dst}\r\nRRULE:FREQ=YEARLY;{to_dst}\r\nEND:DAYLIGHT\r\n"
        )),
    }
    v.push_str("END:VTIMEZONE\r\n");
    v
}

/// A series (or single event) at 10:00 in `tzid` from Monday 2027-03-01, with `rule`.
fn in_zone(tzid: &str, rule: &str) -> String {
    format!(
        "BEGIN:VEVENT\r\nUID:z\r\nDTSTAMP:20270101T000000Z\r\nSUMMARY:Zone\r\n\
         DTSTART;TZID={tzid}:20270301T100000\r\nDTEND;TZID={tzid}:20270301T110000\r\n{rule}END:VEVENT\r\n"
    )
}

/// A zone known only as a VTIMEZONE: the series is sent with an IANA zone whose offsets agree
/// on every occurrence (the CLDR mapping of the id first), or refused naming TZID when none
/// does; a single meeting needs no zone. The held instants are where Tencent repeats the
/// meeting in the zone sent (see [`as_tencent_repeats`]).
#[test]
fn vtimezone_only_zones_are_named_or_refused() {
    let us = Some(("-0400", "BYDAY=2SU;BYMONTH=3", "BYDAY=1SU;BYMONTH=11"));
    // Daylight time from the third Sunday of March: no IANA zone does that.
    let odd = Some(("-0200", "BYDAY=3SU;BYMONTH=3", "BYDAY=1SU;BYMONTH=11"));
    let weekly4 = "RRULE:FREQ=WEEKLY;COUNT=4\r\n";
    let table: Vec<(&str, String, &str, Option<&str>)> = vec![
        (
            "US rules under an Exchange id: its CLDR zone",
            format!(
                "{}{}",
                vtimezone("Eastern Standard Time 1", "-0500", us),
                in_zone("Eastern Standard Time 1", weekly4)
            ),
            "0301T1500 0308T1500 0315T1400 0322T1400",
            Some("America/New_York"),
        ),
        (
            "US rules under a made-up id: an agreeing zone",
            format!(
                "{}{}",
                vtimezone("Customized Time Zone", "-0500", us),
                in_zone("Customized Time Zone", weekly4)
            ),
            "0301T1500 0308T1500 0315T1400 0322T1400",
            None,
        ),
        (
            "a fixed offset: an agreeing zone",
            format!(
                "{}{}",
                vtimezone("Fixed", "-0300", None),
                in_zone("Fixed", weekly4)
            ),
            "0301T1300 0308T1300 0315T1300 0322T1300",
            None,
        ),
        (
            "odd rules across the change: refused",
            format!(
                "{}{}",
                vtimezone("Odd", "-0300", odd),
                in_zone("Odd", weekly4)
            ),
            "refused TZID",
            None,
        ),
        (
            "odd rules, all before the change: held",
            format!(
                "{}{}",
                vtimezone("Odd", "-0300", odd),
                in_zone("Odd", "RRULE:FREQ=WEEKLY;COUNT=2\r\n")
            ),
            "0301T1300 0308T1300",
            None,
        ),
        (
            "odd rules, a single meeting: held without a zone",
            format!("{}{}", vtimezone("Odd", "-0300", odd), in_zone("Odd", "")),
            "0301T1300",
            None,
        ),
    ];
    let now = Utc.with_ymd_and_hms(2027, 2, 20, 0, 0, 0).unwrap();
    let mut wrong = Vec::new();
    for (name, body, want, want_zone) in &table {
        let (got, parsed, zones) = run_with_zones(&calendar(body), now);
        assert!(parsed.failures.is_empty(), "{name}: {:?}", parsed.failures);
        let text = match got.get("z") {
            Some(Outcome::Refused(r)) => format!("refused {}", r.join(" | ")),
            Some(Outcome::Held(v)) => v
                .iter()
                .map(|(s, _)| {
                    DateTime::from_timestamp(*s, 0)
                        .unwrap()
                        .format("%m%dT%H%M")
                        .to_string()
                })
                .collect::<Vec<_>>()
                .join(" "),
            None => "nothing".into(),
        };
        let ok = match want.strip_prefix("refused ") {
            Some(p) => text.starts_with("refused ") && text.contains(p),
            None => text == *want,
        };
        if !ok {
            wrong.push(format!("{name}: want {want}, got {text}"));
        }
        let sent = zones.get("z").cloned().flatten();
        if let Some(z) = want_zone
            && sent.as_deref() != Some(*z)
        {
            wrong.push(format!("{name}: want time_zone {z}, got {sent:?}"));
        }
        if name.contains("single") && sent.is_some() {
            wrong.push(format!("{name}: a single meeting was sent a zone {sent:?}"));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

/// A property calmeet does not read never fails anything, however malformed; a malformed
/// property it reads fails that event only, naming its UID and the line; the neighbour is held.
#[test]
fn malformed_lines_fail_only_what_reads_them() {
    let neighbour = "BEGIN:VEVENT\r\nUID:n\r\nDTSTAMP:20300101T000000Z\r\nSUMMARY:Neighbour\r\n\
                     DTSTART:20300604T070000Z\r\nDTEND:20300604T080000Z\r\nEND:VEVENT\r\n";
    let unread = [
        "X-APPLE-STRUCTURED-LOCATION;VALUE=URI;X-TITLE=Main Street 1\\; 1010 Town:geo:48.2,16.3",
        "X-APPLE-STRUCTURED-LOCATION;VALUE=URI;X-TITLE=\"unclosed:geo:1,2",
        "GEO;X-A=b;c=d=e;;:48.2;16.3",
        "ATTACH;FMTTYPE=\"a\"b\";X=:https://example.com/x",
        "X-WR-ALARMUID;=:1",
        "no colon or semicolon at all",
        ";starts with a semicolon",
    ];
    for line in unread {
        let body = format!("{}{neighbour}", berlin(&format!("{WEEKLY6}{line}\r\n")));
        let (got, parsed) = run(&calendar(&body), table_now());
        assert!(parsed.failures.is_empty(), "{line}: {:?}", parsed.failures);
        assert_eq!(
            got.get("t"),
            Some(&Outcome::Held(
                ALL6.split(' ')
                    .map(|t| {
                        let s = chrono::NaiveDateTime::parse_from_str(
                            &format!("2030{t}00"),
                            "%Y%m%dT%H%M%S",
                        )
                        .unwrap()
                        .and_utc()
                        .timestamp();
                        (s, s + 3600)
                    })
                    .collect()
            )),
            "{line}"
        );
        assert!(got.contains_key("n"), "{line}: {got:?}");
    }
    let read = [
        (
            "SUMMARY;X-TITLE=Main Street 1\\; 1010 Town:Table",
            "SUMMARY:Table",
        ),
        (
            "DTEND;TZID=Europe/Berlin;X=\"b\"c:20300603T100000",
            "DTEND;TZID=Europe/Berlin:20300603T100000",
        ),
        // A broken separator on a property calmeet reads is never dropped (that would read
        // the series as a single event): the event fails.
        ("RRULE FREQ=WEEKLY;COUNT=6", "RRULE:FREQ=WEEKLY;COUNT=6"),
        (
            "rrule;X=\"b\"c:FREQ=WEEKLY;COUNT=6",
            "RRULE:FREQ=WEEKLY;COUNT=6",
        ),
    ];
    for (line, good) in read {
        let body = format!("{}{neighbour}", berlin(WEEKLY6).replace(good, line));
        let (got, parsed) = run(&calendar(&body), table_now());
        let f = parsed
            .failures
            .iter()
            .find(|f| f.uid.as_deref() == Some("t"));
        let Some(f) = f else {
            panic!("{line}: no failure for t: {got:?} {:?}", parsed.failures);
        };
        // Line 4 opens the VEVENT; the bad line is named by number and text.
        assert!(f.message.starts_with("line "), "{line}: {}", f.message);
        assert!(f.message.contains(line), "{line}: {}", f.message);
        assert!(
            got.contains_key("n"),
            "{line}: the neighbour is held: {got:?}"
        );
        assert!(!got.contains_key("t"), "{line}: {got:?}");
    }
    // An unreadable VTIMEZONE fails only the events that need it, naming the TZID.
    let broken_zone = "BEGIN:VTIMEZONE\r\nTZID;X=\"b\"c:Broken\r\nBEGIN:STANDARD\r\n\
                       DTSTART:16010101T000000\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0100\r\n\
                       END:STANDARD\r\nEND:VTIMEZONE\r\n";
    let zoned = berlin(WEEKLY6).replace("Europe/Berlin", "Broken");
    let (got, parsed) = run(
        &calendar(&format!("{broken_zone}{zoned}{neighbour}")),
        table_now(),
    );
    assert!(got.contains_key("n"), "{got:?}");
    let f = parsed
        .failures
        .iter()
        .find(|f| f.uid.as_deref() == Some("t"));
    assert!(
        f.is_some_and(|f| f.message.contains("Broken")),
        "{:?}",
        parsed.failures
    );
    // An untagged override whose read line is malformed fails its event (it inherits the tag
    // of its master); the master is still read.
    let only_master_tagged = TagMatcher::new(None);
    let master = berlin(&format!("{WEEKLY6}CATEGORIES:Tencent Meeting\r\n"));
    let bad_override = "BEGIN:VEVENT\r\nUID:t\r\nRECURRENCE-ID;TZID=Europe/Berlin:20300610T090000\r\n\
                        DTSTART;TZID=Europe/Berlin;X=\"b\"c:20300610T140000\r\nEND:VEVENT\r\n";
    let parsed = parse_calendar(
        &calendar(&format!("{master}{bad_override}")),
        chrono_tz::UTC,
        &only_master_tagged,
    )
    .unwrap();
    assert_eq!(parsed.events.len(), 1, "{:?}", parsed.events);
    assert!(
        parsed
            .failures
            .iter()
            .any(|f| f.uid.as_deref() == Some("t") && f.message.contains("line 16")),
        "{:?}",
        parsed.failures
    );
}

/// Two CalDAV objects claiming one UID are resolved like two components of one calendar,
/// whatever order the listing gives them in.
#[test]
fn duplicates_across_objects_resolve_in_any_order() {
    let sourced = |body: &str, href: &str| -> Vec<SourcedEvent> {
        parse_calendar(&calendar(body), chrono_tz::UTC, &matcher())
            .unwrap()
            .events
            .into_iter()
            .map(|event| SourcedEvent {
                event,
                href: Some(href.into()),
                etag: None,
            })
            .collect()
    };
    let newer = berlin(&format!("{WEEKLY6}SEQUENCE:2\r\n"));
    let older = berlin(&format!("{WEEKLY6}SEQUENCE:1\r\n")).replace("T090000", "T080000");
    let resolve = |items: Vec<SourcedEvent>| {
        calmeet::event::resolve_duplicates(
            items,
            |se| &se.event,
            |se| &mut se.event,
            |se| se.href.clone().unwrap_or_default(),
        )
    };
    let a = [sourced(&newer, "/a.ics"), sourced(&older, "/b.ics")].concat();
    let b = [sourced(&older, "/b.ics"), sourced(&newer, "/a.ics")].concat();
    for items in [a, b] {
        let kept = resolve(items);
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].href.as_deref(), Some("/a.ics"));
        assert_eq!(kept[0].event.revision.sequence, 2);
    }
    // Identical copies in two objects: one is kept, the same one in either order.
    let same = |first: &str, second: &str| {
        resolve([sourced(&newer, first), sourced(&newer, second)].concat())[0]
            .href
            .clone()
    };
    assert_eq!(same("/x.ics", "/y.ics"), same("/y.ics", "/x.ics"));
}

/// A held series that becomes refusable (an RDATE is added) loses its meeting, which would
/// otherwise hold other instants than the calendar: cancelled once, then one skip line naming
/// the property, then quiet.
#[test]
fn series_that_can_no_longer_be_held_is_cancelled_then_skipped() {
    let config = config();
    let failed = HashSet::new();
    let sourced = |body: &str| -> Vec<SourcedEvent> {
        parse_calendar(&calendar(body), chrono_tz::UTC, &matcher())
            .unwrap()
            .events
            .into_iter()
            .map(|event| SourcedEvent {
                event,
                href: None,
                etag: None,
            })
            .collect()
    };
    let plan_with = |events: &[SourcedEvent], rows: &[EventRow]| {
        plan(&PlanInput {
            calendar: &config.calendars[0],
            meeting: &config.meeting,
            events,
            failed_uids: &failed,
            rows,
            segments: &[],
            now: table_now(),
            horizon: Duration::days(90),
            max_cancel_share: 1.0,
            confirm_deletions: true,
            held_cancels: None,
        })
    };
    let held = sourced(&berlin(WEEKLY6));
    let first = plan_with(&held, &[]);
    let [Action::Create { key, desired, .. }] = first.as_slice() else {
        panic!("{first:?}");
    };
    let mut row = EventRow::new(key.clone(), RowState::Created, 0);
    row.meeting_id = Some("m1".into());
    row.userid = Some(desired.userid.clone());
    row.fingerprint = Some(desired.fingerprint.clone());
    row.start_at = Some(desired.start.timestamp());
    row.end_at = Some(desired.end.timestamp());
    row.series_end_at = Some(desired.series_end.timestamp());
    row.recurring = true;
    row.written_back = true;
    let mut rows = vec![row];
    assert!(plan_with(&held, &rows).is_empty());
    let refused = sourced(&berlin(&format!("{WEEKLY6}RDATE:20300605T070000Z\r\n")));
    let cancel = plan_with(&refused, &rows);
    assert!(
        matches!(
            cancel.as_slice(),
            [Action::Cancel {
                reason: calmeet::sync::CancelReason::Refused,
                ..
            }]
        ),
        "{cancel:?}"
    );
    rows[0].state = RowState::Cancelled;
    let skip = plan_with(&refused, &rows);
    let [Action::Skip { reason, .. }] = skip.as_slice() else {
        panic!("{skip:?}");
    };
    assert!(reason.contains("RDATE"), "{reason}");
    rows[0].state = RowState::Skipped;
    rows[0].last_error = Some(reason.clone());
    assert!(plan_with(&refused, &rows).is_empty());
}

/// Cases of the EXRULE differential proptest (`CALMEET_EXRULE_CASES`, default 300).
fn exrule_cases() -> u32 {
    std::env::var("CALMEET_EXRULE_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300)
}

const WEEKDAY_CODES: [&str; 7] = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"];

/// A bounded series Tencent can hold (its DTSTART on the rule) and an EXRULE of the shapes
/// calendar apps wrote, in zones with and without DST.
fn exrule_event() -> impl proptest::strategy::Strategy<Value = (String, String, String, String)> {
    use chrono::Datelike;
    use proptest::prelude::*;
    let zones = prop::sample::select(vec![
        "Europe/Berlin",
        "America/New_York",
        "Asia/Shanghai",
        "Australia/Sydney",
    ]);
    (
        zones,
        0u32..365,
        8u32..20,
        0usize..5,
        2u32..40,
        0usize..6,
        0usize..7,
        1u32..29,
        2u32..5,
        proptest::option::of(1u32..10),
    )
        .prop_map(
            |(zone, day, hour, shape, count, ex_shape, ex_day, ex_monthday, step, ex_count)| {
                let date = chrono::NaiveDate::from_ymd_opt(2030, 1, 1).unwrap()
                    + chrono::Days::new(u64::from(day));
                let wd = WEEKDAY_CODES[date.weekday().num_days_from_monday() as usize];
                let date = if shape == 3 && date.day() > 28 {
                    date.with_day(28).unwrap()
                } else {
                    date
                };
                let wd = if shape == 3 {
                    WEEKDAY_CODES[date.weekday().num_days_from_monday() as usize]
                } else {
                    wd
                };
                let rrule = match shape {
                    0 => format!("FREQ=DAILY;COUNT={count}"),
                    1 => format!("FREQ=WEEKLY;COUNT={count}"),
                    2 => format!("FREQ=WEEKLY;INTERVAL=2;BYDAY={wd};COUNT={count}"),
                    3 => format!("FREQ=MONTHLY;COUNT={}", count.min(30)),
                    _ => format!("FREQ=DAILY;INTERVAL={step};COUNT={count}"),
                };
                let end = ex_count.map_or(String::new(), |c| format!(";COUNT={c}"));
                let other = WEEKDAY_CODES[ex_day];
                let exrule = match ex_shape {
                    0 => format!("FREQ=WEEKLY;BYDAY={other}{end}"),
                    1 => format!("FREQ=MONTHLY;BYDAY=1{other}{end}"),
                    2 => format!("FREQ=DAILY;INTERVAL={step}{end}"),
                    3 => format!("FREQ=WEEKLY;INTERVAL=2;BYDAY={wd}{end}"),
                    4 => format!("FREQ=MONTHLY;BYMONTHDAY={ex_monthday}{end}"),
                    _ => format!("FREQ=MONTHLY;BYDAY=-1{other}{end}"),
                };
                let dtstart = format!("{}T{hour:02}0000", date.format("%Y%m%d"));
                (zone.to_owned(), dtstart, rrule, exrule)
            },
        )
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(exrule_cases()))]

    /// A series with an EXRULE is held on exactly the instants the `rrule` crate's RRuleSet
    /// (an independent expander, EXRULE feature) gives, through calmeet's parser, expander and
    /// planner and the model of how Tencent repeats the meeting in the zone it is sent.
    #[test]
    fn exrule_series_match_an_independent_expander((zone, dtstart, rrule, exrule) in exrule_event()) {
        let body = format!(
            "BEGIN:VEVENT\r\nUID:p\r\nDTSTAMP:20290101T000000Z\r\nSUMMARY:P\r\n\
             DTSTART;TZID={zone}:{dtstart}\r\nDURATION:PT45M\r\nRRULE:{rrule}\r\nEXRULE:{exrule}\r\n\
             END:VEVENT\r\n"
        );
        let now = Utc.with_ymd_and_hms(2029, 12, 1, 0, 0, 0).unwrap();
        let (got, parsed) = run(&calendar(&body), now);
        proptest::prop_assert!(parsed.failures.is_empty(), "{:?}", parsed.failures);
        let set: rrule::RRuleSet = format!("DTSTART;TZID={zone}:{dtstart}\nRRULE:{rrule}\nEXRULE:{exrule}")
            .parse()
            .unwrap();
        let want: Vec<(i64, i64)> = set
            .all(1000)
            .dates
            .iter()
            .map(|d| (d.timestamp(), d.timestamp() + 45 * 60))
            .collect();
        let have = match got.get("p") {
            Some(Outcome::Held(v)) => v.clone(),
            None => Vec::new(),
            Some(other) => {
                return Err(proptest::test_runner::TestCaseError::fail(format!("{other:?}")));
            }
        };
        proptest::prop_assert_eq!(have, want, "{} {} {} {}", zone, dtstart, rrule, exrule);
    }
}
