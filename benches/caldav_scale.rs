//! Scale benchmark: many CalDAV calendars (default 1,000 × 200 events, one tagged event per
//! calendar) on the generated fixture server, synced by the real `calmeet` binary against the
//! fake Tencent server. Per size it measures the first pass (meetings created, links written
//! back), the pass after it (reads back calmeet's own writes) and the idle pass (nothing
//! changed): wall time of the whole `calmeet sync` process, requests and bytes on the CalDAV
//! side, and the process's peak resident memory. Asserts the outcomes (one meeting and one
//! link per tagged event, one request per calendar when idle), so a quick run doubles as a
//! smoke test.
//!
//! `cargo bench --bench caldav_scale [-- SIZES [EVENTS]]`, SIZES a comma-separated list of
//! calendar counts (default `10,100,1000`), EVENTS per calendar (default 200).
//! `CALMEET_BENCH_QUICK=1`: 10 calendars × 20 events, for CI. `CALMEET_BENCH_CONCURRENCY=N`
//! sets `max_concurrency` (default: the config default). The meeting API limit is raised for
//! this bench (`max_calls_per_minute = 100000`): the limit's own cost is `create_scale`'s.
//! Figures go to BENCHMARKS.md; timing depends on the machine.
#![allow(
    clippy::unwrap_used,
    clippy::cast_precision_loss,
    clippy::too_many_lines,
    dead_code
)]

#[path = "../tests/support/mod.rs"]
mod support;

#[path = "support/fixture_dav.rs"]
mod fixture_dav;

#[path = "support/child.rs"]
mod child;

use std::fmt::Write as _;
use std::path::Path;

use child::{Run, median, mib, size};
use fixture_dav::{FixtureDav, Tagging, Traffic};
use support::fake_tencent::{FakeTencent, Route};

/// The config for `calendars` collections of `dav`.
fn config(
    dav: &FixtureDav,
    fake: &FakeTencent,
    calendars: usize,
    concurrency: Option<usize>,
) -> String {
    let mut cfg = String::from("timezone = \"Asia/Shanghai\"\nstate_db = \"state.db\"\n");
    if let Some(c) = concurrency {
        writeln!(cfg, "max_concurrency = {c}").unwrap();
    }
    write!(
        cfg,
        "[meeting]\napi_base = \"{}\"\napp_id = \"{}\"\nsecret_id = \"{}\"\nuserid = \"zhangsan\"\n\
max_calls_per_minute = 100000\n",
        fake.base_url, fake.app_id, fake.secret_id
    )
    .unwrap();
    if let Some(sdk) = &fake.sdk_id {
        writeln!(cfg, "sdk_id = \"{sdk}\"").unwrap();
    }
    for i in 0..calendars {
        write!(
            cfg,
            "\n[[calendar]]\nname = \"cal{i:04}\"\nurl = \"{}\"\nkind = \"caldav\"\n",
            dav.calendar_url(i)
        )
        .unwrap();
    }
    cfg
}

fn kinds(t: &Traffic) -> String {
    t.by_kind
        .iter()
        .map(|(k, n)| format!("{n} {k}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn row(label: &str, run: &Run, t: &Traffic) {
    println!(
        "  {label:<22} {:>9.1} ms  {:>6} requests  up {:>10}  down {:>10}  peak RSS {:>9}  ({})",
        run.wall.as_secs_f64() * 1000.0,
        t.requests,
        size(t.bytes_up),
        size(t.bytes_down),
        mib(run.peak_kib),
        kinds(t)
    );
}

fn check(run: &Run, what: &str) {
    assert!(
        run.success,
        "{what} failed:\n{}",
        run.output
            .lines()
            .rev()
            .take(30)
            .collect::<Vec<_>>()
            .join("\n")
    );
}

async fn one_size(calendars: usize, events: usize, concurrency: Option<usize>, idle_runs: usize) {
    let dav = FixtureDav::start(calendars, events, Tagging::OnePerCalendar).await;
    let fake = FakeTencent::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("config.toml");
    std::fs::write(&config_path, config(&dav, &fake, calendars, concurrency)).unwrap();
    let log = dir.path().join("calmeet.log");
    let secret = fake.secret_key.clone();
    let sync = |path: &Path| {
        let (p, s, l) = (path.to_owned(), secret.clone(), log.clone());
        async move { child::run(&p, &s, &["sync"], &l).await }
    };
    let tagged = dav.tagged();
    println!(
        "{calendars} calendars × {events} events ({} events, {tagged} tagged), max_concurrency {}",
        calendars * events,
        concurrency.map_or("default (4)".to_owned(), |c| c.to_string())
    );

    dav.reset();
    let first = sync(&config_path).await;
    check(&first, "first pass");
    let t = dav.traffic();
    row("first pass", &first, &t);
    assert_eq!(
        fake.request_count(Route::Create),
        tagged,
        "one create per tagged event"
    );
    assert_eq!(fake.live_meeting_count(), tagged);
    assert_eq!(
        dav.written_back(),
        tagged,
        "one link written per tagged event"
    );
    fake.clear_requests();
    let db = std::fs::metadata(dir.path().join("state.db")).map_or(0, |m| m.len());
    let wal = std::fs::metadata(dir.path().join("state.db-wal")).map_or(0, |m| m.len());
    println!(
        "  state after the first pass: {} database + {} WAL (the object cache holds every body)",
        size(db),
        size(wal)
    );

    dav.reset();
    let second = sync(&config_path).await;
    check(&second, "second pass");
    let t = dav.traffic();
    row("next pass (own writes)", &second, &t);
    assert!(!t.by_kind.contains_key("PUT"), "wrote again: {}", kinds(&t));
    // A daily series with an EXDATE is created whole, then its excluded occurrence is
    // cancelled once the meeting's occurrences are known: that is this pass's API work.
    let calls = fake.requests();
    println!(
        "  next pass API calls: {} ({} occurrence cancels)",
        calls.len(),
        calls
            .iter()
            .filter(|r| r.route == Some(Route::Cancel))
            .count()
    );
    fake.clear_requests();

    let mut walls = Vec::new();
    let mut last = None;
    for _ in 0..idle_runs {
        dav.reset();
        let idle = sync(&config_path).await;
        check(&idle, "idle pass");
        let t = dav.traffic();
        assert_eq!(
            t.requests as usize,
            calendars,
            "an idle pass must cost one request per calendar: {}",
            kinds(&t)
        );
        walls.push(idle.wall);
        last = Some((idle, t));
    }
    let (mut idle, t) = last.unwrap();
    idle.wall = median(walls.clone());
    row(&format!("idle pass (median of {idle_runs})"), &idle, &t);
    println!(
        "  idle: min {:.1} ms, max {:.1} ms; {:.0} B up + {:.0} B down per calendar; {:.2} ms per calendar",
        walls.iter().min().unwrap().as_secs_f64() * 1000.0,
        walls.iter().max().unwrap().as_secs_f64() * 1000.0,
        t.bytes_up as f64 / calendars as f64,
        t.bytes_down as f64 / calendars as f64,
        idle.wall.as_secs_f64() * 1000.0 / calendars as f64
    );
    assert!(fake.requests().is_empty(), "an idle pass called the API");
    println!();
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let quick = std::env::var("CALMEET_BENCH_QUICK").is_ok_and(|v| v == "1");
    let mut args = std::env::args().skip(1).filter(|a| !a.starts_with("--"));
    let sizes: Vec<usize> = args
        .next()
        .map(|a| a.split(',').map(|n| n.trim().parse().unwrap()).collect())
        .unwrap_or_else(|| if quick { vec![10] } else { vec![10, 100, 1000] });
    let events: usize = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(if quick { 20 } else { 200 });
    let concurrency: Option<usize> = std::env::var("CALMEET_BENCH_CONCURRENCY")
        .ok()
        .and_then(|v| v.parse().ok());
    let idle_runs = if quick { 1 } else { 5 };
    for calendars in sizes {
        one_size(calendars, events, concurrency, idle_runs).await;
    }
}
