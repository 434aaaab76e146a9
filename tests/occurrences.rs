//! The differential test of issue #10: every event's meeting holds exactly the event's
//! occurrences, or the event is refused with a named reason.
//!
//! For every fixture calendar in `tests/fixtures/` (at two fixed instants each) and every case
//! in `tests/fixtures/cases/recurrence/` (at the case's `now`), one sync pass runs in-process
//! against an ICS feed and the fake Tencent server with every event tagged and
//! `horizon_days = 400`; then each UID's live occurrence intervals at the fake are compared
//! with an independent expansion (`oracle`: its own content-line reader and the `rrule` crate)
//! over the span the meetings hold. A second pass 16 minutes later (past the re-evaluation
//! interval) must make no API call. Cases are also checked against `cases.json` itself, and a
//! proptest runs generated events through the same comparison.
#![allow(clippy::unwrap_used)]

mod support;

#[path = "occurrences/oracle.rs"]
mod oracle;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use calmeet::store::RowState;
use calmeet::sync::SyncOptions;
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use oracle::{NoTruth, Truth};
use serde_json::Value;
use support::engine::{FixedClock, feed_engine};
use support::fake_tencent::{FakeTencent, SeriesModify, SubMeetingWindow};
use support::feed::FeedServer;

const HORIZON_DAYS: i64 = 400;
/// The configured zone (floating times).
const CONFIG_ZONE: Tz = chrono_tz::Asia::Shanghai;

/// How the fake answers: all sub-meetings listed, or only a window of them (kind 9).
#[derive(Clone, Copy, Debug)]
struct Fake {
    partial: bool,
    series_modify: SeriesModify,
}

const FULL: Fake = Fake {
    partial: false,
    series_modify: SeriesModify::ResetExceptions,
};
const PARTIAL: Fake = Fake {
    partial: true,
    series_modify: SeriesModify::KeepExceptions,
};

/// What a sync did to one calendar.
#[derive(Debug, Default)]
struct Run {
    /// Live occurrence intervals at the fake per UID, ending after `now`.
    held: BTreeMap<String, Vec<(i64, i64)>>,
    /// Skip reasons per UID (skipped rows and per-event read failures).
    refused: BTreeMap<String, String>,
    /// Errors of the first pass.
    errors: Vec<String>,
    /// Errors of the second pass.
    errors_again: Vec<String>,
    /// Live meetings no row accounts for.
    orphans: Vec<String>,
    /// API calls of the second pass.
    calls_again: Vec<String>,
}

async fn run(ics: &str, now: DateTime<Utc>, how: Fake) -> Run {
    let fake = FakeTencent::start().await;
    fake.set_series_modify(how.series_modify);
    if how.partial {
        fake.set_sub_meeting_window(Some(SubMeetingWindow {
            shown: 2,
            from: Some(now.timestamp()),
        }));
    }
    let feed = FeedServer::start().await;
    feed.set("/cal.ics", ics.as_bytes().to_vec());
    let dir = tempfile::tempdir().unwrap();
    let clock = FixedClock::at(now);
    let engine = feed_engine(
        dir.path(),
        &fake,
        &feed.url("/cal.ics"),
        &format!("horizon_days = {HORIZON_DAYS}"),
        "[calendar.match]\nkeywords = [\"\"]",
        Arc::clone(&clock),
    );
    let first = engine.run_pass(SyncOptions::default()).await;
    let mut out = Run {
        errors: first
            .calendars
            .iter()
            .flat_map(|c| c.error.iter().chain(&c.event_errors).cloned())
            .collect(),
        ..Run::default()
    };
    let rows = engine.store.rows("feed").unwrap();
    let segments = engine.store.segments("feed").unwrap();
    let live = fake.live_occurrences();
    let mut accounted = std::collections::HashSet::new();
    for r in rows.iter().chain(segments.iter().map(|s| &s.row)) {
        if r.state == RowState::Skipped {
            let reason = r.last_error.clone().unwrap_or_default();
            out.refused.entry(r.key.uid.clone()).or_insert(reason);
        }
        let Some(mid) = r
            .meeting_id
            .as_ref()
            .filter(|_| r.state == RowState::Created)
        else {
            continue;
        };
        if !accounted.insert(mid.clone()) {
            continue;
        }
        let spans = live.get(mid).cloned().unwrap_or_default();
        let held = out.held.entry(r.key.uid.clone()).or_default();
        held.extend(spans.into_iter().filter(|s| s.1 > now.timestamp()));
        held.sort_unstable();
        held.dedup();
    }
    out.orphans = live
        .keys()
        .filter(|id| !accounted.contains(*id))
        .cloned()
        .collect();
    for e in &out.errors {
        if let Some(uid) = e
            .strip_prefix("calendar 'feed' event ")
            .and_then(|r| r.split(": ").next())
        {
            // Components without a UID are grouped under "" by the oracle.
            let uid = if uid == "(no UID)" { "" } else { uid };
            out.refused
                .entry(uid.to_owned())
                .or_insert_with(|| e.clone());
        }
    }
    let before = fake.requests().len();
    clock.set(now + Duration::minutes(16));
    let second = engine.run_pass(SyncOptions::default()).await;
    out.errors_again = second
        .calendars
        .iter()
        .flat_map(|c| c.error.iter().chain(&c.event_errors).cloned())
        .collect();
    out.calls_again = fake.requests()[before..]
        .iter()
        .map(|r| format!("{} {}", r.method, r.uri))
        .collect();
    out
}

/// A UID's verdict: `Ok("same" | "refused …" | "nothing due")` or `Err(what is wrong)`.
fn judge(uid: &str, truth: &Truth, run: &Run, now: DateTime<Utc>) -> Result<String, String> {
    let now_s = now.timestamp();
    let horizon_end = (now + Duration::days(HORIZON_DAYS)).timestamp();
    let held = run.held.get(uid).cloned().unwrap_or_default();
    let erred: Vec<&String> = run
        .errors
        .iter()
        .chain(&run.errors_again)
        .filter(|e| e.contains(uid))
        .collect();
    if !held.is_empty() {
        if !erred.is_empty() {
            return Err(format!("held, but the passes report errors: {erred:?}"));
        }
        return match truth {
            Ok(all) => {
                let last = held.last().unwrap().0;
                let want: Vec<(i64, i64)> = all
                    .iter()
                    .copied()
                    .filter(|s| s.1 > now_s && s.0 <= last)
                    .collect();
                if want == held {
                    Ok(format!("same ({} occurrences)", held.len()))
                } else {
                    Err(format!(
                        "held {} but the calendar has {}",
                        show(&held, &want),
                        show(&want, &held)
                    ))
                }
            }
            Err(NoTruth::NotTimed(why)) => Err(format!("held although {why}")),
            Err(NoTruth::Unreadable(why)) => Err(format!("held; the oracle cannot read it: {why}")),
        };
    }
    if let Some(reason) = run.refused.get(uid) {
        return if reason.trim().is_empty() {
            Err("refused without a reason".into())
        } else {
            Ok(format!("refused: {reason}"))
        };
    }
    match truth {
        Ok(all) => {
            let due: Vec<&(i64, i64)> = all.iter().filter(|s| s.1 > now_s).collect();
            match due.first() {
                None => Ok("nothing due".into()),
                Some(first) if first.0 > horizon_end => Ok("beyond the horizon".into()),
                Some(_) => Err(format!(
                    "no meeting and no refusal; the calendar has {} occurrences ahead; errors {erred:?}",
                    due.len()
                )),
            }
        }
        Err(e) => Err(format!("neither held nor refused ({e:?})")),
    }
}

/// Intervals of `a` missing from `b`, in UTC, for a readable failure.
fn show(a: &[(i64, i64)], b: &[(i64, i64)]) -> String {
    let only: Vec<String> = a
        .iter()
        .filter(|s| !b.contains(s))
        .take(6)
        .map(|(s, e)| {
            let f = |t: i64| {
                DateTime::from_timestamp(t, 0)
                    .unwrap()
                    .format("%Y-%m-%dT%H:%MZ")
            };
            format!("[{},{})", f(*s), f(*e))
        })
        .collect();
    format!(
        "{} intervals (not in the other: {})",
        a.len(),
        only.join(" ")
    )
}

/// Checks of one calendar run shared by fixtures, cases and the proptest; failures appended.
fn check_run(name: &str, run: &Run, failures: &mut Vec<String>) {
    if !run.orphans.is_empty() {
        failures.push(format!(
            "{name}: live meetings no row accounts for: {:?}",
            run.orphans
        ));
    }
    if !run.calls_again.is_empty() {
        failures.push(format!(
            "{name}: the second pass made {} API calls: {:?}",
            run.calls_again.len(),
            run.calls_again
        ));
    }
}

fn earliest_start(ics: &str) -> DateTime<Utc> {
    let far = Utc::now() + Duration::days(365 * 50);
    oracle::truth(ics, CONFIG_ZONE, far)
        .values()
        .filter_map(|t| t.as_ref().ok())
        .filter_map(|spans| spans.first())
        .map(|s| DateTime::from_timestamp(s.0, 0).unwrap())
        .min()
        .unwrap_or_else(|| DateTime::from_timestamp(1_767_225_600, 0).unwrap())
}

fn fixtures() -> Vec<(String, String)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut out: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| {
            let p = e.ok()?.path();
            (p.extension()? == "ics").then(|| {
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                let bytes = std::fs::read(&p).unwrap();
                (name, String::from_utf8_lossy(&bytes).into_owned())
            })
        })
        .collect();
    out.sort();
    out
}

/// Every fixture calendar, just before its first event and 45 days into it, with the fake
/// listing every sub-meeting and with it listing only a window of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fixture_calendar_is_held_exactly_or_refused() {
    let mut failures = Vec::new();
    let mut table = String::new();
    let (mut same, mut refused, mut other) = (0, 0, 0);
    let calendars = fixtures();
    assert!(calendars.len() >= 20, "fixtures missing");
    for (name, ics) in &calendars {
        let first = earliest_start(ics);
        for (now, how) in [
            (first - Duration::days(1), FULL),
            (first + Duration::days(45), PARTIAL),
        ] {
            let truth = oracle::truth(ics, CONFIG_ZONE, now + Duration::days(2000));
            let run = run(ics, now, how).await;
            let label = format!("{name} @ {} ({how:?})", now.format("%Y-%m-%d"));
            check_run(&label, &run, &mut failures);
            for (uid, t) in &truth {
                match judge(uid, t, &run, now) {
                    Ok(v) => {
                        match v.as_str() {
                            v if v.starts_with("same") => same += 1,
                            v if v.starts_with("refused") => refused += 1,
                            _ => other += 1,
                        }
                        writeln!(table, "{label} {uid}: {v}").unwrap();
                    }
                    Err(e) => failures.push(format!("{label} {uid}: {e}")),
                }
            }
        }
    }
    println!("{table}");
    println!(
        "fixtures: {} calendars × 2 instants: {same} same, {refused} refused, {other} nothing due, {} failures",
        calendars.len(),
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// One acceptable outcome of a case: intervals per UID, or the property a refusal names.
fn case_outcome_ok(alt: &Value, run: &Run, now: DateTime<Utc>) -> Result<(), String> {
    if let Some(prop) = alt.get("refuse").and_then(Value::as_str) {
        let named: Vec<&String> = run
            .refused
            .values()
            .filter(|r| r.to_uppercase().contains(&prop.to_uppercase()))
            .collect();
        let held_any = run.held.values().any(|h| !h.is_empty());
        return if named.is_empty() || held_any {
            Err(format!(
                "expected a refusal naming {prop}; refused {:?}, held {:?}",
                run.refused, run.held
            ))
        } else {
            Ok(())
        };
    }
    let expected = alt.get("expected").and_then(Value::as_object).unwrap();
    for (uid, spans) in expected {
        let want: Vec<(i64, i64)> = spans
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                let t = |i: usize| {
                    DateTime::parse_from_rfc3339(p[i].as_str().unwrap())
                        .unwrap()
                        .timestamp()
                };
                (t(0), t(1))
            })
            .collect();
        let held = run.held.get(uid).cloned().unwrap_or_default();
        if held != want {
            return Err(format!(
                "{uid}: held {} but cases.json says {} (refused: {:?}, errors {:?})",
                show(&held, &want),
                show(&want, &held),
                run.refused.get(uid),
                run.errors
            ));
        }
        let _ = now;
    }
    Ok(())
}

/// The oracle agrees with `cases.json` wherever a case names intervals: a check of the
/// oracle itself against the independent truth.
fn oracle_agrees(ics: &str, alt: &Value, now: DateTime<Utc>) -> Result<(), String> {
    let Some(expected) = alt.get("expected").and_then(Value::as_object) else {
        return Ok(());
    };
    let truth = oracle::truth(ics, CONFIG_ZONE, now + Duration::days(2000));
    for (uid, spans) in expected {
        let want: Vec<(i64, i64)> = spans
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                let t = |i: usize| {
                    DateTime::parse_from_rfc3339(p[i].as_str().unwrap())
                        .unwrap()
                        .timestamp()
                };
                (t(0), t(1))
            })
            .collect();
        let got: Vec<(i64, i64)> = match truth.get(uid) {
            Some(Ok(all)) => all
                .iter()
                .copied()
                .filter(|s| s.1 > now.timestamp())
                .collect(),
            other => return Err(format!("{uid}: oracle {other:?}")),
        };
        if got != want {
            return Err(format!("{uid}: oracle {}", show(&got, &want)));
        }
    }
    Ok(())
}

/// Every case of `cases.json` gives its outcome in one pass, and the next pass is quiet.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_recurrence_case_gives_its_outcome_in_one_pass() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cases/recurrence");
    let cases: Value =
        serde_json::from_slice(&std::fs::read(dir.join("cases.json")).unwrap()).unwrap();
    let mut failures = Vec::new();
    let mut count = 0;
    for (file, case) in cases.as_object().unwrap() {
        if file.starts_with('_') {
            continue;
        }
        count += 1;
        let ics = String::from_utf8(std::fs::read(dir.join(file)).unwrap()).unwrap();
        let now: DateTime<Utc> = case["now"].as_str().unwrap().parse().unwrap();
        let alternatives: Vec<Value> = match case.get("either") {
            Some(Value::Array(alts)) => alts.clone(),
            _ => vec![case.clone()],
        };
        if alternatives
            .iter()
            .all(|a| oracle_agrees(&ics, a, now).is_err())
        {
            let why: Vec<String> = alternatives
                .iter()
                .filter_map(|a| oracle_agrees(&ics, a, now).err())
                .collect();
            failures.push(format!(
                "{file}: the oracle disagrees with cases.json: {why:?}"
            ));
        }
        for how in [FULL, PARTIAL] {
            let run = run(&ics, now, how).await;
            let label = format!("{file} ({how:?})");
            check_run(&label, &run, &mut failures);
            let results: Vec<Result<(), String>> = alternatives
                .iter()
                .map(|a| case_outcome_ok(a, &run, now))
                .collect();
            if results.iter().all(Result::is_err) {
                let why: Vec<String> = results.into_iter().filter_map(Result::err).collect();
                failures.push(format!("{label}: {}", why.join(" / or: ")));
            }
            if case
                .get("also")
                .is_some_and(|a| a.as_str().unwrap_or("").contains("exits 0"))
                && !(run.errors.is_empty() && run.errors_again.is_empty())
            {
                failures.push(format!(
                    "{label}: passes must succeed: {:?} {:?}",
                    run.errors, run.errors_again
                ));
            }
        }
    }
    assert_eq!(count, 13, "cases.json lists 13 calendars");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
