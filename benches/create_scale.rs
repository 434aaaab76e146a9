//! Scale benchmark: many tagged events to create against the fake Tencent server with a
//! per-call latency and the documented rate limit enforced (190310 beyond N calls in a sliding
//! minute). calmeet's sync engine, built from a config file as the daemon builds it (one
//! meeting API client, so one client-side limit, across passes), syncs CalDAV calendars in
//! which every event is tagged (4 calendars, polled at once) until a pass calls no API.
//! Measures the time to converge, API calls, and waste (calls refused with 190310), and
//! asserts exactly one meeting and one link per event and zero waste.
//!
//! `cargo bench --bench create_scale [-- SERIES [AT_LIMIT]]`: SERIES is a comma-separated list
//! of create counts run at a raised limit (`CALMEET_BENCH_RAISED`, default 60000/minute, so
//! the figures show calmeet's own cost; default `20,200,2000`), AT_LIMIT the count run at the
//! real limit (`CALMEET_BENCH_LIMIT`, default 300/minute; default 2000, about 6 minutes; 0
//! skips it). `CALMEET_BENCH_LATENCY_MS` (default 20). `CALMEET_BENCH_QUICK=1`: 20 creates
//! raised and 20 at a limit of 20, for CI. Figures go to BENCHMARKS.md.
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

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use calmeet::sync::SyncOptions;
use fixture_dav::{FixtureDav, Tagging};
use support::fake_tencent::{FakeTencent, Route};

const CALENDARS: usize = 4;
const WINDOW: Duration = Duration::from_secs(60);

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Creates `creates` meetings at `limit` calls per minute; prints one line, returns the time
/// to converge and the API calls made.
async fn converge(creates: usize, limit: usize, latency: Duration) -> (Duration, usize) {
    let per_calendar = creates.div_ceil(CALENDARS);
    let dav = FixtureDav::start(CALENDARS, per_calendar, Tagging::All).await;
    let fake = FakeTencent::start().await;
    fake.set_latency(latency);
    fake.set_rate_limit(limit, WINDOW);
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = format!(
        "timezone = \"Asia/Shanghai\"\nstate_db = \"state.db\"\nmax_concurrency = {CALENDARS}\n\
[meeting]\napi_base = \"{}\"\napp_id = \"{}\"\nsecret_id = \"{}\"\nuserid = \"zhangsan\"\n\
max_calls_per_minute = {limit}\n",
        fake.base_url, fake.app_id, fake.secret_id
    );
    if let Some(sdk) = &fake.sdk_id {
        writeln!(cfg, "sdk_id = \"{sdk}\"").unwrap();
    }
    for i in 0..CALENDARS {
        write!(
            cfg,
            "\n[[calendar]]\nname = \"cal{i}\"\nurl = \"{}\"\nkind = \"caldav\"\n",
            dav.calendar_url(i)
        )
        .unwrap();
    }
    let key_path = dir.path().join("secret_key");
    std::fs::write(&key_path, &fake.secret_key).unwrap();
    std::fs::set_permissions(
        &key_path,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    cfg = cfg.replace(
        "userid = \"zhangsan\"\n",
        &format!(
            "userid = \"zhangsan\"\nsecret_key_file = \"{}\"\n",
            key_path.display()
        ),
    );
    let config_path = dir.path().join("config.toml");
    std::fs::write(&config_path, cfg).unwrap();
    let tagged = dav.tagged();
    let config = calmeet::config::Config::load(&config_path).unwrap();
    let (_stop, rx) = tokio::sync::watch::channel(false);
    let engine = calmeet::cli::build_engine(config, false, rx).unwrap();

    let started = Instant::now();
    let mut passes = 0;
    loop {
        passes += 1;
        let calls_before = fake.requests().len();
        let report = engine.run_pass(SyncOptions::default()).await;
        let calls = fake.requests().len() - calls_before;
        let errors: Vec<&String> = report
            .calendars
            .iter()
            .flat_map(|c| c.error.iter().chain(c.event_errors.iter()))
            .collect();
        assert!(
            errors.is_empty(),
            "pass {passes} failed: {:?}",
            &errors[..errors.len().min(5)]
        );
        if calls == 0 {
            break;
        }
        assert!(passes < 5, "no convergence after {passes} passes");
    }
    let took = started.elapsed();
    let calls = fake.requests().len();
    let creates_sent = fake.request_count(Route::Create);
    let waste = fake.rate_limited_count();
    println!(
        "{creates:>5} creates at {limit:>5}/min, {}ms latency: converged in {:>8.1} s ({passes} passes), \
{calls} API calls ({creates_sent} creates), {waste} refused (190310), peak {} calls in a minute, \
{:.1} creates/min",
        latency.as_millis(),
        took.as_secs_f64(),
        fake.peak_calls_in_window(),
        tagged as f64 / took.as_secs_f64() * 60.0,
    );
    assert_eq!(fake.live_meeting_count(), tagged, "one meeting per event");
    assert_eq!(creates_sent, tagged, "no create sent twice");
    assert_eq!(waste, 0, "calls were refused by the rate limit");
    assert!(fake.peak_calls_in_window() <= limit);
    assert_eq!(dav.written_back(), tagged, "one link per event");
    (took, calls)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let quick = std::env::var("CALMEET_BENCH_QUICK").is_ok_and(|v| v == "1");
    let mut args = std::env::args().skip(1).filter(|a| !a.starts_with("--"));
    let series: Vec<usize> = args
        .next()
        .map(|a| {
            a.split(',')
                .filter(|s| !s.is_empty())
                .map(|n| n.trim().parse().unwrap())
                .collect()
        })
        .unwrap_or_else(|| if quick { vec![20] } else { vec![20, 200, 2000] });
    let at_limit: usize = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(if quick { 20 } else { 2000 });
    let latency = Duration::from_millis(env_num("CALMEET_BENCH_LATENCY_MS", 20));
    let raised = usize::try_from(env_num("CALMEET_BENCH_RAISED", 60_000)).unwrap();
    let limit =
        usize::try_from(env_num("CALMEET_BENCH_LIMIT", if quick { 20 } else { 300 })).unwrap();

    for creates in series {
        converge(creates, raised, latency).await;
    }
    if at_limit > 0 {
        let (took, calls) = converge(at_limit, limit, latency).await;
        // The bound set by the limit alone: the calls beyond the first minute's `limit`, at
        // `limit` per minute (the client counts 61-second minutes).
        let bound =
            Duration::from_secs(61) * u32::try_from(calls.saturating_sub(1) / limit).unwrap();
        println!(
            "  the limit alone needs {:.0} s for {calls} calls at {limit}/min: calmeet took {:.1} s more",
            bound.as_secs_f64(),
            took.saturating_sub(bound).as_secs_f64()
        );
    }
}
