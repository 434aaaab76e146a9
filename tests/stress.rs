//! Hostile-input stress harness (issue #6 part 3): the parsers and the write-back patcher fed
//! mutated real inputs and random bytes. The property everywhere: no panic, bounded time, and
//! an error is an error (a typed `Err`, never a crash or a hang).
//!
//! `cargo fuzz` needs a nightly toolchain and the `cargo-fuzz` binary; CI has neither, so this
//! is a proptest-driven harness instead, runnable in CI for a bounded time:
//!
//! - `CALMEET_STRESS_CASES` (default 200): cases per batch and target.
//! - `CALMEET_STRESS_SECONDS` (default: one batch): keep running fresh batches (new random
//!   seeds) until this many seconds have passed, e.g. 600 for the local 10-minute runs:
//!   `CALMEET_STRESS_SECONDS=600 cargo test --release --test stress -- --test-threads 1`.
//! - `CALMEET_STRESS_MAX_MS` (default 5000): the most one case may take.
//!
//! Each target prints how many cases it ran (`--nocapture` shows it). Inputs that once found a
//! bug are kept as regression tests at the end of this file.
#![allow(clippy::unwrap_used)]

use std::fmt::Debug;
use std::path::Path;
use std::time::{Duration, Instant};

use calmeet::config::Config;
use calmeet::event::{Parsed, TagMatcher};
use calmeet::event::{Timing, parse_calendar};
use calmeet::recurrence::{Rrule, Series, map_series, occurrences};
use calmeet::source::caldav::protocol::parse_multistatus;
use calmeet::tz::ZoneResolver;
use calmeet::writeback::{self, MeetingBlock, PatchOptions};
use chrono::{DateTime, Duration as ChronoDuration, NaiveDate, Utc};
use proptest::prelude::*;
use proptest::test_runner::{Config as RunnerConfig, TestCaseError, TestRunner};

// ------------------------------------------------------------------------------ the runner

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Runs `test` on values of `strategy` in batches of `CALMEET_STRESS_CASES` until
/// `CALMEET_STRESS_SECONDS` have passed (one batch when unset). Each case must finish within
/// `CALMEET_STRESS_MAX_MS`. Returns the number of cases run.
fn stress<S>(name: &str, strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>) -> u64
where
    S: Strategy,
    S::Value: Debug,
{
    let cases = u32::try_from(env_u64("CALMEET_STRESS_CASES", 200)).unwrap_or(u32::MAX);
    let seconds = env_u64("CALMEET_STRESS_SECONDS", 0);
    let max_case = Duration::from_millis(env_u64("CALMEET_STRESS_MAX_MS", 5000));
    let started = Instant::now();
    let mut total = 0u64;
    loop {
        let mut runner = TestRunner::new(RunnerConfig {
            cases,
            failure_persistence: None,
            max_shrink_iters: 2000,
            ..RunnerConfig::default()
        });
        let result = runner.run(&strategy, |value| {
            let t = Instant::now();
            test(value)?;
            let took = t.elapsed();
            prop_assert!(
                took <= max_case,
                "one case took {took:?} (limit {max_case:?})"
            );
            Ok(())
        });
        total += u64::from(cases);
        if let Err(e) = result {
            panic!("stress target {name} failed after {total} cases: {e}");
        }
        if started.elapsed() >= Duration::from_secs(seconds) {
            break;
        }
    }
    eprintln!(
        "stress {name}: {total} cases in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    total
}

// ---------------------------------------------------------------------------- the mutator

/// One edit of an input. Positions are taken modulo the input length, so every value applies.
#[derive(Debug, Clone)]
enum Mutation {
    /// Flip one bit.
    Flip(usize, u8),
    /// Overwrite one byte.
    Set(usize, u8),
    /// Insert bytes.
    Insert(usize, Vec<u8>),
    /// Delete a range.
    Delete(usize, usize),
    /// Insert a dictionary token (`index` into the target's dictionary).
    Token(usize, usize),
    /// Copy a range elsewhere (splices structure: duplicate a component, a line…).
    Duplicate(usize, usize, usize),
    /// Cut the input here.
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        1 => (any::<usize>(), 0u8..8).prop_map(|(p, b)| Mutation::Flip(p, b)),
        1 => (any::<usize>(), any::<u8>()).prop_map(|(p, b)| Mutation::Set(p, b)),
        1 => (any::<usize>(), prop::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(p, v)| Mutation::Insert(p, v)),
        1 => (any::<usize>(), 1usize..64).prop_map(|(p, n)| Mutation::Delete(p, n)),
        4 => (any::<usize>(), any::<usize>()).prop_map(|(p, t)| Mutation::Token(p, t)),
        1 => (any::<usize>(), 1usize..400, any::<usize>())
            .prop_map(|(f, n, t)| Mutation::Duplicate(f, n, t)),
        1 => any::<usize>().prop_map(Mutation::Truncate),
    ]
}

/// Applies `mutations` to `seed`; `dictionary` holds the tokens of `Mutation::Token`.
fn mutate(seed: &[u8], mutations: &[Mutation], dictionary: &[&[u8]]) -> Vec<u8> {
    let mut data = seed.to_vec();
    for m in mutations {
        let at = |p: usize, len: usize| if len == 0 { 0 } else { p % (len + 1) };
        let len = data.len();
        match m {
            Mutation::Flip(p, bit) if len > 0 => data[p % len] ^= 1 << bit,
            Mutation::Set(p, b) if len > 0 => data[p % len] = *b,
            Mutation::Insert(p, v) => {
                let i = at(*p, len);
                data.splice(i..i, v.iter().copied());
            }
            Mutation::Delete(p, n) if len > 0 => {
                let i = p % len;
                data.drain(i..(i + n).min(len));
            }
            Mutation::Token(p, t) if !dictionary.is_empty() => {
                let i = at(*p, len);
                let token = dictionary[t % dictionary.len()];
                data.splice(i..i, token.iter().copied());
            }
            Mutation::Duplicate(f, n, t) if len > 0 => {
                let from = f % len;
                let piece = data[from..(from + n).min(len)].to_vec();
                let to = at(*t, len);
                data.splice(to..to, piece);
            }
            Mutation::Truncate(p) if len > 0 => data.truncate(p % len),
            _ => {}
        }
    }
    data
}

/// A seed index and up to `max` mutations.
fn mutated(seeds: usize, max: usize) -> impl Strategy<Value = (usize, Vec<Mutation>)> {
    (0..seeds, prop::collection::vec(mutation(), 0..=max))
}

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("read {path}: {e}"))
}

// ------------------------------------------------------------------- (a) event extraction

/// Real calendar files (byte-exact copies of /work/shared/corpus).
const ICS_FIXTURES: &[&str] = &[
    "android-etar-alarms-utc-dtend.ics",
    "apple-ical15-holidays-duration-p1d-until-date.ics",
    "apple-iphone-structured-location-folded-utf8.ics",
    "apple-macos-tzoffset-seconds-cyrillic.ics",
    "composite-phpicalendar-bysetpos-floating-until.ics",
    "davx5-override-with-exdate-vtimezone-last.ics",
    "emclient-vtimezone-year-0001.ics",
    "evolution-allday-weekly-override.ics",
    "evolution-arabian-standard-time-x-alt-desc.ics",
    "exchange-nz-standard-time-weekly-mo-we.ics",
    "exchange-owa-undefined-utc-offset-tzids.ics",
    "exchange-teams-invite-request.ics",
    "google-apple-structured-location-weekdays.ics",
    "google-birthdays-rdate-recurrence-id-date.ics",
    "google-monthly-last-friday-moved-override.ics",
    "google-weekly-bydays-exdates-across-dst.ics",
    "outlook12-escaped-comma-tzid-tab-folding.ics",
    "sabredav-weekly-count-utc-exdates.ics",
    "thunderbird-cancelled-occurrence-count.ics",
    "thunderbird-moved-occurrences-duration-pt0s.ics",
    "thunderbird-snoozed-alarm-x-moz.ics",
];

/// Tokens that steer mutations into the interesting corners of iCalendar.
const ICS_DICTIONARY: &[&[u8]] = &[
    b"\r\nBEGIN:VEVENT\r\n",
    b"\r\nEND:VEVENT\r\n",
    b"\r\nBEGIN:VCALENDAR\r\n",
    b"\r\nEND:VCALENDAR\r\n",
    b"\r\nBEGIN:VALARM\r\n",
    b"\r\nEND:VTIMEZONE\r\n",
    b"\r\n ",
    b"\n\t",
    b"\r\n",
    b";TZID=",
    b";TZID=\"W. Europe Standard Time\"",
    b";TZID=/mozilla.org/20050126_1/Asia/Shanghai",
    b";VALUE=DATE",
    b":",
    b";",
    b",",
    b"\\",
    b"\\n",
    b"\"",
    b"=",
    b"\xc3",
    b"\xef\xbb\xbf",
    b"\xf4\x8f\xbf\xbf",
    b"\r\nCATEGORIES:Tencent Meeting\r\n",
    b"\r\nLOCATION:\xe8\x85\xbe\xe8\xae\xaf\xe4\xbc\x9a\xe8\xae\xae\r\n",
    b"\r\nX-CALMEET-MEETING-ID:123456789\r\n",
    b"\r\nUID:\r\n",
    b"\r\nUID:dup@x\r\n",
    b"\r\nSTATUS:CANCELLED\r\n",
    b"\r\nRRULE:FREQ=MINUTELY;COUNT=100000000\r\n",
    b"\r\nRRULE:FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30\r\n",
    b"\r\nRRULE:FREQ=MONTHLY;BYDAY=-5MO,53TU;BYSETPOS=-366\r\n",
    b"\r\nRRULE:FREQ=DAILY;INTERVAL=4294967295;UNTIL=99991231T235959Z\r\n",
    b"\r\nRRULE:FREQ=WEEKLY;UNTIL=00010101\r\n",
    b"\r\nDTSTART:99991231T235959Z\r\n",
    b"\r\nDTSTART:00000101T000000\r\n",
    b"\r\nDTSTART;VALUE=DATE:20240229\r\n",
    b"\r\nDTEND:19700101T000000Z\r\n",
    b"\r\nDURATION:P99999999W\r\n",
    b"\r\nDURATION:-PT1S\r\n",
    b"\r\nDURATION:P1Y\r\n",
    b"\r\nEXDATE:20250101T000000Z,,20250102\r\n",
    b"\r\nRECURRENCE-ID:20250101T090000Z\r\n",
    b"\r\nRECURRENCE-ID;RANGE=THISANDFUTURE:20250101T090000\r\n",
    b"\r\nTZOFFSETTO:+9959\r\n",
    b"\r\nTZOFFSETFROM:-240000\r\n",
    b"\r\nRDATE:20250101T000000Z\r\n",
    b"\r\nBEGIN:STANDARD\r\nDTSTART:16010101T030000\r\nRRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nEND:STANDARD\r\n",
    b"99999999999999999999",
    b"-0",
];

/// Fixtures plus a tagged copy of each (CATEGORIES added to every VEVENT), so that mutations
/// reach the deep path (times, zones, recurrence) and not only the tag check.
fn ics_seeds() -> Vec<Vec<u8>> {
    let mut seeds = Vec::new();
    for name in ICS_FIXTURES {
        let raw = fixture(name);
        let text = String::from_utf8_lossy(&raw);
        let eol = if text.contains("\r\n") { "\r\n" } else { "\n" };
        let tagged = text.replace(
            &format!("BEGIN:VEVENT{eol}"),
            &format!("BEGIN:VEVENT{eol}CATEGORIES:Tencent Meeting{eol}"),
        );
        seeds.push(raw);
        seeds.push(tagged.into_bytes());
    }
    seeds
}

/// The pure pipeline a sync pass runs on one calendar text: extraction, then the recurrence
/// mapping of every recurring event (as `sync::plan` does).
fn read_calendar(bytes: &[u8]) -> Result<Parsed, calmeet::event::ParseError> {
    let matcher = TagMatcher::new(None);
    let parsed = parse_calendar(bytes, chrono_tz::Asia::Shanghai, &matcher)?;
    let now = DateTime::parse_from_rfc3339("2025-06-01T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc);
    for ev in &parsed.events {
        let Timing::Timed {
            start,
            end,
            local_start,
            zone,
        } = &ev.timing
        else {
            continue;
        };
        if let Some(Ok(rule)) = ev.rrule.as_deref().map(Rrule::parse) {
            let series = Series {
                rule: &rule,
                dtstart: *local_start,
                zone,
                duration: *end - *start,
                exdates: &ev.exdates,
            };
            let _ = map_series(&series, now);
        }
    }
    Ok(parsed)
}

#[test]
fn event_extraction_survives_mutated_calendars() {
    let seeds = ics_seeds();
    let n = stress(
        "parse_calendar/mutated",
        mutated(seeds.len(), 12),
        |(i, ms)| {
            let data = mutate(&seeds[i], &ms, ICS_DICTIONARY);
            if let Ok(parsed) = read_calendar(&data) {
                prop_assert!(parsed.events.len() + parsed.failures.len() <= parsed.vevents);
            }
            Ok(())
        },
    );
    assert!(n > 0);
}

#[test]
fn event_extraction_survives_random_bytes() {
    // Random bytes alone stop at the header check; half the cases get a valid frame.
    let strategy = (any::<bool>(), prop::collection::vec(any::<u8>(), 0..4096));
    let n = stress("parse_calendar/random", strategy, |(framed, body)| {
        let data = if framed {
            [
                b"BEGIN:VCALENDAR\r\n".as_slice(),
                &body,
                b"\r\nEND:VCALENDAR\r\n",
            ]
            .concat()
        } else {
            body
        };
        let _ = read_calendar(&data);
        Ok(())
    });
    assert!(n > 0);
}

// ------------------------------------------------------------------------ (b) RRULE mapping

fn rrule_part() -> impl Strategy<Value = String> {
    let weekday = prop::sample::select(vec!["MO", "TU", "WE", "TH", "FR", "SA", "SU", "XX", ""]);
    let ordinal = prop_oneof![
        Just(String::new()),
        (-60i32..60).prop_map(|n| n.to_string())
    ];
    let day = (ordinal, weekday).prop_map(|(o, w)| format!("{o}{w}"));
    let int = prop_oneof![
        -400i64..400,
        Just(0),
        Just(i64::from(u32::MAX)),
        Just(i64::MAX),
        any::<i64>()
    ];
    let ints = prop::collection::vec(int.clone(), 1..6).prop_map(|v| {
        v.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",")
    });
    let until = prop_oneof![
        (1i32..10000, 1u32..13, 1u32..32).prop_map(|(y, m, d)| format!("{y:04}{m:02}{d:02}")),
        (
            1i32..10000,
            1u32..13,
            1u32..32,
            0u32..25,
            0u32..61,
            any::<bool>()
        )
            .prop_map(|(y, mo, d, h, mi, z)| format!(
                "{y:04}{mo:02}{d:02}T{h:02}{mi:02}00{}",
                if z { "Z" } else { "" }
            )),
        "[0-9TZ]{0,20}",
    ];
    prop_oneof![
        prop::sample::select(vec![
            "SECONDLY",
            "MINUTELY",
            "HOURLY",
            "DAILY",
            "WEEKLY",
            "MONTHLY",
            "YEARLY",
            "weekly",
            "",
            "FORTNIGHTLY"
        ])
        .prop_map(|f| format!("FREQ={f}")),
        int.clone().prop_map(|n| format!("INTERVAL={n}")),
        int.prop_map(|n| format!("COUNT={n}")),
        until.prop_map(|u| format!("UNTIL={u}")),
        prop::collection::vec(day, 1..8).prop_map(|v| format!("BYDAY={}", v.join(","))),
        ints.clone().prop_map(|v| format!("BYMONTHDAY={v}")),
        ints.clone().prop_map(|v| format!("BYMONTH={v}")),
        ints.clone().prop_map(|v| format!("BYSETPOS={v}")),
        ints.clone().prop_map(|v| format!("BYHOUR={v}")),
        ints.clone().prop_map(|v| format!("BYYEARDAY={v}")),
        ints.prop_map(|v| format!("BYWEEKNO={v}")),
        prop::sample::select(vec!["MO", "SU", "XX"]).prop_map(|w| format!("WKST={w}")),
        "X-[A-Z]{1,6}=[a-z0-9]{0,6}",
        "[A-Z=;, ]{0,12}",
    ]
}

/// Mostly well-formed rules (so that parsing succeeds and the expander runs), sometimes junk.
fn rrule_text() -> impl Strategy<Value = String> {
    let common = prop::sample::select(vec!["DAILY", "WEEKLY", "MONTHLY", "YEARLY", "MINUTELY"])
        .prop_map(|f| format!("FREQ={f}"));
    (
        common,
        prop::collection::vec(rrule_part(), 0..6),
        any::<bool>(),
    )
        .prop_map(|(freq, parts, lead)| {
            let mut all = parts;
            if lead {
                all.insert(0, freq);
            } else {
                all.push(freq);
            }
            all.join(";")
        })
}

#[test]
fn rrule_mapping_survives_generated_rules() {
    let zones = [
        "Asia/Shanghai",
        "Europe/Berlin",
        "America/New_York",
        "UTC",
        "Pacific/Chatham",
    ];
    let strategy = (
        rrule_text(),
        (1i32..3000, 1u32..13, 1u32..29, 0u32..24, 0u32..60),
        0usize..zones.len(),
        0i64..100_000,
        (1990i32..2100, 1u32..13),
        prop::collection::vec(0i64..5000, 0..4),
    );
    let n = stress(
        "recurrence/generated",
        strategy,
        |(text, (y, mo, d, h, mi), z, minutes, (ny, nm), exdays)| {
            let Ok(rule) = Rrule::parse(&text) else {
                return Ok(());
            };
            let zone = ZoneResolver::new(chrono_tz::UTC)
                .resolve(Some(zones[z]))
                .unwrap();
            let dtstart = NaiveDate::from_ymd_opt(y, mo, d)
                .unwrap()
                .and_hms_opt(h, mi, 0)
                .unwrap();
            let start = zone.to_utc(dtstart);
            let exdates: Vec<DateTime<Utc>> = exdays
                .iter()
                .map(|days| start + ChronoDuration::days(*days))
                .collect();
            let duration = ChronoDuration::minutes(minutes);
            let series = Series {
                rule: &rule,
                dtstart,
                zone: &zone,
                duration,
                exdates: &exdates,
            };
            let now = NaiveDate::from_ymd_opt(ny, nm, 1)
                .unwrap()
                .and_hms_opt(0, 0, 0)
                .unwrap()
                .and_utc();
            if let Ok(plan) = map_series(&series, now) {
                // Laws of a plan: it starts at an occurrence not yet over, the occurrences it
                // holds are ascending and exclude EXDATEs, and a COUNT is never exceeded.
                prop_assert!(plan.first_start + duration > now, "{text}: {plan:?}");
                prop_assert!(plan.occurrences.windows(2).all(|w| w[0] < w[1]), "{text}");
                prop_assert!(plan.occurrences.iter().all(|o| !exdates.contains(o)));
                if let (Some(c), Some(total)) = (rule.count, plan.remaining_total) {
                    prop_assert!(total <= c as usize, "{text}: {total} > COUNT");
                }
            }
            if let Ok(list) = occurrences(&series, now, 1000) {
                prop_assert!(list.len() <= 1000);
                prop_assert!(
                    list.windows(2).all(|w| w[0] < w[1]),
                    "{text}: not ascending: {:?}",
                    list.windows(2).find(|w| w[0] >= w[1])
                );
                prop_assert!(list.iter().all(|o| *o >= now));
            }
            Ok(())
        },
    );
    assert!(n > 0);
}

// --------------------------------------------------------- (c) write-back round-trip laws

/// Fixtures with the UID the patcher is asked to edit.
fn writeback_seeds() -> Vec<(Vec<u8>, String)> {
    ICS_FIXTURES
        .iter()
        .filter_map(|name| {
            let raw = fixture(name);
            let text = String::from_utf8_lossy(&raw).into_owned();
            let uid = text
                .lines()
                .find_map(|l| l.strip_prefix("UID:"))?
                .trim()
                .to_owned();
            Some((raw, uid))
        })
        .collect()
}

fn block() -> impl Strategy<Value = MeetingBlock> {
    (
        "[0-9]{1,20}",
        "https://meeting\\.tencent\\.com/dm/[A-Za-z0-9;,\\\\ ]{0,20}",
        "[0-9 ]{0,12}",
        prop::option::of("[0-9a-z\\\\;,\n]{0,8}"),
    )
        .prop_map(
            |(meeting_id, join_url, meeting_code, password)| MeetingBlock {
                meeting_id,
                join_url,
                meeting_code,
                password,
                live_url: None,
            },
        )
}

/// The text unfolded (a rewritten DESCRIPTION is folded anew) and without blank LOCATION and
/// DESCRIPTION lines (empty or whitespace/escaped newlines only): apply + remove drops those,
/// which is accepted.
fn normalized(text: &str) -> String {
    let unfolded = String::from_utf8(calmeet::event::unfold_bytes(text.as_bytes())).unwrap();
    unfolded
        .split_inclusive('\n')
        .filter(|l| {
            // `LOCATION:`, `LOCATION;LANGUAGE=en-US:`, `LOCATION:\n`: a blank value.
            let Some((head, value)) = l.trim_end().split_once(':') else {
                return true;
            };
            let name = head.split(';').next().unwrap_or("");
            let owned =
                name.eq_ignore_ascii_case("LOCATION") || name.eq_ignore_ascii_case("DESCRIPTION");
            !(owned && unescape(value).trim().is_empty())
        })
        .map(|l| {
            // A DESCRIPTION calmeet rewrote is re-escaped (`J;` becomes `J\;`): compare values.
            match l.split_once(':') {
                Some((name, value))
                    if name
                        .split(';')
                        .next()
                        .is_some_and(|n| n.eq_ignore_ascii_case("DESCRIPTION")) =>
                {
                    // Escapes first, then trailing whitespace: `x\<CR>` is an escaped CR (found
                    // by the 10-minute run on the merged main, TESTING.md finding 4d).
                    let value = value.strip_suffix('\n').unwrap_or(value);
                    let value = value.strip_suffix('\r').unwrap_or(value);
                    format!("{name}:{}\n", unescape(value).trim_end())
                }
                _ => l.to_owned(),
            }
        })
        .collect()
}

/// RFC 5545 TEXT unescaping (`\\`, `\;`, `\,`, `\n`, `\N`).
fn unescape(value: &str) -> String {
    let mut out = String::new();
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c == '\r' {
            // A bare CR inside a value comes back as an escaped newline (content kept); a CR
            // right before an escaped newline is one line break (CR LF), written back as `\n`.
            let rest = chars.as_str();
            if !(rest.starts_with("\\n") || rest.starts_with("\\N")) {
                out.push('\n');
            }
        } else if c == '\\' {
            match chars.next() {
                Some('n' | 'N') => out.push('\n'),
                Some(other) => out.push(other),
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The first line where two texts differ, for a readable failure.
fn first_difference(a: &str, b: &str) -> String {
    let (la, lb): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
    let i = la.iter().zip(&lb).take_while(|(x, y)| x == y).count();
    format!(
        "line {}: {:?} vs {:?}",
        i + 1,
        la.get(i).copied().unwrap_or("<end>"),
        lb.get(i).copied().unwrap_or("<end>")
    )
}

#[test]
fn writeback_laws_hold_on_mutated_objects() {
    let seeds = writeback_seeds();
    assert!(seeds.len() >= 10);
    let strategy = (mutated(seeds.len(), 8), block(), any::<bool>());
    let n = stress("writeback/mutated", strategy, |((i, ms), block, loc)| {
        let (raw, uid) = &seeds[i];
        let data = mutate(raw, &ms, ICS_DICTIONARY);
        let Ok(ics) = String::from_utf8(data) else {
            return Ok(());
        };
        let opts = PatchOptions {
            location_if_empty: loc,
        };
        let Ok(patched) = writeback::apply(&ics, uid, &block, &opts) else {
            // An object the patcher refuses must also be refused for removal, or be one
            // `remove` can handle: either way, no panic (checked by reaching here).
            let _ = writeback::remove(&ics, uid);
            return Ok(());
        };
        // Idempotent: applying the same block again changes nothing.
        let again = writeback::apply(&patched, uid, &block, &opts).unwrap();
        prop_assert!(
            again == patched,
            "apply is not idempotent: {}",
            first_difference(&again, &patched)
        );
        // Removing what was applied gives the same as removing from the original, except
        // that an empty `LOCATION:` filled by `location_if_empty` is removed, not emptied
        // (documented; found by this harness, see TESTING.md).
        let removed_after = writeback::remove(&patched, uid).unwrap();
        let removed_before = writeback::remove(&ics, uid).unwrap();
        let (a, b) = (normalized(&removed_after), normalized(&removed_before));
        prop_assert!(
            a == b,
            "remove(apply(x)) != remove(x): {}",
            first_difference(&a, &b)
        );
        Ok(())
    });
    assert!(n > 0);
}

// --------------------------------------------------------------- (d) multistatus XML parser

const XML_SEEDS: &[&str] = &[
    r#"<?xml version="1.0" encoding="utf-8"?>
<D:multistatus xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav" xmlns:CS="http://calendarserver.org/ns/">
  <D:response>
    <D:href>/cal/alice/work/</D:href>
    <D:propstat>
      <D:prop>
        <D:resourcetype><D:collection/><C:calendar/></D:resourcetype>
        <D:displayname>Work &amp; more</D:displayname>
        <CS:getctag>"ctag-42"</CS:getctag>
        <D:sync-token>http://radicale.org/ns/sync/abc</D:sync-token>
        <C:supported-calendar-component-set><C:comp name="VEVENT"/></C:supported-calendar-component-set>
      </D:prop>
      <D:status>HTTP/1.1 200 OK</D:status>
    </D:propstat>
    <D:propstat>
      <D:prop><D:getetag/></D:prop>
      <D:status>HTTP/1.1 404 Not Found</D:status>
    </D:propstat>
  </D:response>
</D:multistatus>"#,
    "<?xml version=\"1.0\"?>\n<multistatus xmlns=\"DAV:\"><sync-token>http://x/sync/2</sync-token><response><href>/c/a%20b.ics</href><propstat><prop><getetag>\"e1\"</getetag></prop><status>HTTP/1.1 200 OK</status></propstat></response><response><href>/c/gone.ics</href><status>HTTP/1.1 404 Not Found</status></response></multistatus>",
    "<d:multistatus xmlns:d=\"DAV:\" xmlns:cal=\"urn:ietf:params:xml:ns:caldav\"><d:response><d:href>/c/e.ics</d:href><d:propstat><d:prop><d:getetag>\"x\"</d:getetag><cal:calendar-data><![CDATA[BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:e\r\nDTSTART:20250101T090000Z\r\nSUMMARY:a ]] b\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n]]></cal:calendar-data></d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response></d:multistatus>",
    "<D:multistatus xmlns:D=\"DAV:\"><D:response><D:href>/p/</D:href><D:propstat><D:prop><D:current-user-principal><D:href>/principals/alice/</D:href></D:current-user-principal><C:calendar-home-set xmlns:C=\"urn:ietf:params:xml:ns:caldav\"><D:href>/cal/alice/</D:href></C:calendar-home-set></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response><!-- c\r\n --><?pi x?></D:multistatus>",
];

const XML_DICTIONARY: &[&[u8]] = &[
    b"<D:response>",
    b"</D:response>",
    b"<D:href>",
    b"</D:href>",
    b"<D:propstat>",
    b"<D:status>HTTP/1.1 200 OK</D:status>",
    b"<![CDATA[",
    b"]]>",
    b"&#13;",
    b"&amp;",
    b"&#x10FFFF;",
    b"&unknown;",
    b"<!--",
    b"-->",
    b"<?",
    b"?>",
    b"\r",
    b"\r\n",
    b"\"",
    b"'",
    b" xmlns:D=\"DAV:\"",
    b" xmlns=\"\"",
    b"<!DOCTYPE m [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\"><!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;\">]>",
    b"&c;",
    b"<x><x><x><x><x><x><x><x>",
    b"\xff",
];

#[test]
fn multistatus_parser_survives_mutated_xml() {
    let n = stress(
        "parse_multistatus/mutated",
        mutated(XML_SEEDS.len(), 12),
        |(i, ms)| {
            let data = mutate(XML_SEEDS[i].as_bytes(), &ms, XML_DICTIONARY);
            if let Ok(m) = parse_multistatus(&data) {
                prop_assert!(m.responses.iter().all(|r| !r.href.is_empty()));
            }
            Ok(())
        },
    );
    assert!(n > 0);
}

#[test]
fn multistatus_parser_survives_random_bytes() {
    let n = stress(
        "parse_multistatus/random",
        prop::collection::vec(any::<u8>(), 0..2048),
        |data| {
            let _ = parse_multistatus(&data);
            Ok(())
        },
    );
    assert!(n > 0);
}

// ---------------------------------------------------------------------- (e) config loader

const TOML_DICTIONARY: &[&[u8]] = &[
    b"\n[[calendar]]\nname = \"x\"\nurl = \"https://h/c/\"\nkind = \"caldav\"\n",
    b"\n[meeting]\n",
    b"\n[calendar.match]\n",
    b"\nschedule = \"0 0 0 31 2 * 2999\"\n",
    b"\nschedule = \"*/0 * * * * *\"\n",
    b"\nschedule = \"0-59/99999999 * * * * *\"\n",
    b"\ntimezone = \"Etc/GMT+14\"\n",
    b"\nhorizon_days = 4294967296\n",
    b"\nmax_cancel_share = nan\n",
    b"\nmax_cancel_share = -inf\n",
    b"\"\"\"",
    b"'''",
    b"[[[[[[[[[[[[[[[[[[[[",
    b"{a={a={a={a={a={a={a={a={a={a=",
    b"\\u0000",
    b"\\U0010FFFF",
    b"=",
    b"\"",
    b"#",
    b"\n",
    b"\r",
    b"\x00",
    b"1979-05-27T07:32:00Z",
    b"9999999999999999999999",
    b"$CREDENTIALS_DIRECTORY/",
    b"https://user:pw@h/",
];

#[test]
fn config_parser_survives_mutated_toml() {
    let minimal = "[meeting]\napp_id = \"200000001\"\nsecret_id = \"id\"\nuserid = \"alice\"\n\
                   [[calendar]]\nname = \"team\"\nurl = \"https://dav.example.com/cal/\"\n\
                   kind = \"caldav\"\n[calendar.match]\ncategories = [\"Online\"]\n";
    let example = std::fs::read_to_string(format!(
        "{}/config.toml.example",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let seeds = [minimal.to_owned(), example];
    let n = stress("config/mutated", mutated(seeds.len(), 10), |(i, ms)| {
        let data = mutate(seeds[i].as_bytes(), &ms, TOML_DICTIONARY);
        let text = String::from_utf8_lossy(&data);
        if let Ok(c) = Config::parse(&text, "stress.toml", Path::new("/nonexistent")) {
            // A config that parsed is valid: its derived values are usable.
            let _ = c.default_zone();
            prop_assert!((1..=64).contains(&c.max_concurrency));
        }
        Ok(())
    });
    assert!(n > 0);
}

// ------------------------------------------------------------ regressions found by the runs

/// The mutated calendar of a seed found by `parse_calendar/mutated` (seed index and mutations
/// exactly as the runner printed them).
fn regression_calendar(seed: usize, mutations: &[Mutation]) -> Vec<u8> {
    mutate(&ics_seeds()[seed], mutations, ICS_DICTIONARY)
}

/// Found after 802,000 cases: an event whose times overflowed chrono (`DateTime + TimeDelta`
/// panicked) — a hostile feed could crash the pass.
#[test]
fn regression_datetime_overflow_is_an_error_not_a_panic() {
    let data = regression_calendar(
        8,
        &[
            Mutation::Delete(516_588_197_064_046_241, 53),
            Mutation::Token(5_280_949_541_996_046_946, 1_747_845_419_706_819_025),
            Mutation::Token(4_804_796_230_720_414_766, 5_394_981_580_343_136_738),
            Mutation::Token(12_317_888_551_085_917_629, 3_870_528_576_955_696_623),
            Mutation::Delete(251_950_646_501_126_186, 1),
        ],
    );
    // The whole-tree parser this was found with read the mutated file; the component-by-
    // component parser refuses it as malformed. Either way: an error, never a panic.
    match read_calendar(&data) {
        Ok(parsed) => assert!(
            parsed
                .failures
                .iter()
                .any(|f| f.message.contains("DURATION")),
            "{:?}",
            parsed.failures
        ),
        Err(e) => assert!(!e.to_string().is_empty(), "{e}"),
    }
    // The same on a plain event, and for values that overflowed the DURATION parser itself.
    for duration in [
        "P99999999W",
        "P9999999999999999999W",
        "PT9223372036854775807S",
    ] {
        let text = format!(
            "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:d@x\r\nCATEGORIES:Tencent Meeting\r\n\
             DTSTART:20300101T090000Z\r\nDURATION:{duration}\r\nRRULE:FREQ=DAILY\r\n\
             END:VEVENT\r\nEND:VCALENDAR\r\n"
        );
        let parsed = read_calendar(text.as_bytes()).unwrap();
        assert_eq!(parsed.failures.len(), 1, "{duration}");
        assert!(
            parsed.failures[0].message.contains("DURATION"),
            "{:?}",
            parsed.failures
        );
    }
}

/// Found after 146,000 cases: `BYDAY=-53MO` in a MONTHLY rule stepped back 52 weeks into the
/// same month of the previous year and yielded that date, so a series went back in time.
#[test]
fn regression_out_of_range_byday_ordinal_yields_nothing() {
    let zone = ZoneResolver::new(chrono_tz::UTC)
        .resolve(Some("Asia/Shanghai"))
        .unwrap();
    let dtstart = NaiveDate::from_ymd_opt(1990, 1, 1)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap();
    let from = zone.to_utc(dtstart);
    // DTSTART (Monday 1990-01-01) always counts; the window is 1990-1991.
    for (text, expected) in [
        ("FREQ=MONTHLY;BYDAY=-53MO,MO", 105),
        ("FREQ=MONTHLY;BYDAY=-53MO", 1),
        ("FREQ=MONTHLY;BYDAY=53MO", 1),
        ("FREQ=MONTHLY;BYDAY=-6MO", 1),
        ("FREQ=MONTHLY;BYDAY=-5MO", 9),
        ("FREQ=YEARLY;BYMONTH=1;BYDAY=-53MO,-1MO", 3),
    ] {
        let rule = Rrule::parse(text).unwrap();
        let series = Series {
            rule: &rule,
            dtstart,
            zone: &zone,
            duration: ChronoDuration::hours(1),
            exdates: &[],
        };
        let year_end = NaiveDate::from_ymd_opt(1991, 12, 31)
            .unwrap()
            .and_hms_opt(23, 59, 0)
            .unwrap();
        let list: Vec<_> = occurrences(&series, from, 1000)
            .unwrap()
            .into_iter()
            .filter(|o| *o <= zone.to_utc(year_end))
            .collect();
        assert!(list.windows(2).all(|w| w[0] < w[1]), "{text}");
        assert!(list.iter().all(|o| *o >= from), "{text}");
        assert_eq!(list.len(), expected, "{text}: {list:?}");
    }
}

/// Found after 2,000 cases (seed and mutation as printed by `writeback/mutated`).
#[test]
fn regression_writeback_law_on_mutated_object() {
    let seeds = writeback_seeds();
    let (raw, uid) = &seeds[18];
    let data = mutate(
        raw,
        &[Mutation::Token(
            10_940_466_284_328_805_063,
            3_314_784_955_793_809_773,
        )],
        ICS_DICTIONARY,
    );
    let ics = String::from_utf8(data).unwrap();
    let block = MeetingBlock {
        meeting_id: "0".into(),
        join_url: "https://meeting.tencent.com/dm/".into(),
        meeting_code: String::new(),
        password: None,
        live_url: None,
    };
    let opts = PatchOptions::default();
    let patched = writeback::apply(&ics, uid, &block, &opts).unwrap();
    let after = writeback::remove(&patched, uid).unwrap();
    let before = writeback::remove(&ics, uid).unwrap();
    // The mutation split a folded DESCRIPTION, leaving an empty `DESCRIPTION:`. apply fills
    // it with the block only; remove then drops the whole line (a DESCRIPTION holding only
    // the block is calmeet's). Empty and absent mean the same, so this is accepted and the law
    // compares modulo empty DESCRIPTION/LOCATION lines.
    let empty_description = |t: &str| t.lines().any(|l| l.trim_end() == "DESCRIPTION:");
    assert!(empty_description(&before) && !empty_description(&after));
    assert_eq!(normalized(&after), normalized(&before));
}

/// Found after 80,000 cases: a bare CR inside DESCRIPTION (`keep me\rCREATED:…`) comes back
/// from apply + remove as an escaped newline; the text is kept, only its line break changes.
#[test]
fn regression_bare_carriage_return_in_description_keeps_the_text() {
    let ics = "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:u\r\nDTSTART:20300101T090000Z\r\n\
               DESCRIPTION:keep me\rCREATED:20190303T154131Z\r\nSUMMARY:s\r\nEND:VEVENT\r\n\
               END:VCALENDAR\r\n";
    let block = MeetingBlock {
        meeting_id: "0".into(),
        join_url: "https://meeting.tencent.com/dm/".into(),
        meeting_code: String::new(),
        password: None,
        live_url: None,
    };
    let patched = writeback::apply(ics, "u", &block, &PatchOptions::default()).unwrap();
    let after = writeback::remove(&patched, "u").unwrap();
    assert!(
        after.contains("DESCRIPTION:keep me\\nCREATED:20190303T154131Z\r\n"),
        "{after:?}"
    );
    assert_eq!(normalized(&after), normalized(ics));
}

/// Found after 158,000 cases of the 10-minute run on the merged main: a CR right before an
/// escaped newline in DESCRIPTION (`same\r\\n`, a CR LF line break) comes back from apply +
/// remove as one escaped newline. The text is kept; the harness now reads CR + `\n` as one
/// line break, as the patcher does.
#[test]
fn regression_carriage_return_before_escaped_newline() {
    let seeds = writeback_seeds();
    let (raw, uid) = &seeds[18];
    let data = mutate(
        raw,
        &[
            Mutation::Delete(1_888_446_267_923_369_926, 14),
            Mutation::Token(14_782_132_822_550_968_692, 6_805_877_408_944_217_563),
            Mutation::Token(54_376_148_892_897, 16_373_464_118_316_233_047),
            Mutation::Token(399_449_159_974_474_846, 15_321_442_264_745_995_317),
            Mutation::Delete(996_805_698_680_963_092, 1),
        ],
        ICS_DICTIONARY,
    );
    let ics = String::from_utf8(data).unwrap();
    let block = MeetingBlock {
        meeting_id: "0".into(),
        join_url: "https://meeting.tencent.com/dm/".into(),
        meeting_code: String::new(),
        password: None,
        live_url: None,
    };
    let opts = PatchOptions::default();
    let patched = writeback::apply(&ics, uid, &block, &opts).unwrap();
    let after = writeback::remove(&patched, uid).unwrap();
    let before = writeback::remove(&ics, uid).unwrap();
    assert!(before.contains("the same\r\\n"), "{before}");
    assert!(
        after.contains("DESCRIPTION:description should be the same\\n\n"),
        "{after}"
    );
    assert_eq!(normalized(&after), normalized(&before));
}

/// Found after 4,782,000 cases of the 10-minute run on the merged main: a DESCRIPTION ending
/// in a backslash before a bare CR (`Passwesen\<CR><CR><LF>`, an escaped CR) comes back from
/// apply + remove without the escaped CR: trailing whitespace, the text is kept.
#[test]
fn regression_backslash_escaped_carriage_return_at_the_end() {
    let seeds = writeback_seeds();
    let (raw, uid) = &seeds[2];
    let data = mutate(
        raw,
        &[
            Mutation::Set(17_421_875_695_924_009_542, 13),
            Mutation::Token(1_159_058_977_017_490, 2_676_157_360_687_616_308),
            Mutation::Token(256_371_417_156_981, 14_398_173_417_022_389_273),
            Mutation::Delete(105_044_715_972_989_706, 1),
        ],
        ICS_DICTIONARY,
    );
    let ics = String::from_utf8(data).unwrap();
    let block = MeetingBlock {
        meeting_id: "0".into(),
        join_url: "https://meeting.tencent.com/dm/".into(),
        meeting_code: String::new(),
        password: None,
        live_url: None,
    };
    let opts = PatchOptions::default();
    let patched = writeback::apply(&ics, uid, &block, &opts).unwrap();
    let after = writeback::remove(&patched, uid).unwrap();
    let before = writeback::remove(&ics, uid).unwrap();
    assert!(before.contains("DESCRIPTION:Passwesen\\\r\r\n"), "{before}");
    assert!(after.contains("DESCRIPTION:Passwesen\r\n"), "{after}");
    assert_eq!(normalized(&after), normalized(&before));
}
