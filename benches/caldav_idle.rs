//! CalDAV cost benchmark: a 5,000-event calendar (50 tagged) on Radicale or Xandikos behind a
//! counting proxy.
//! Measures the first full sync (meetings on the fake Tencent server, links written back) and
//! then the idle poll — a pass over an unchanged calendar between two 15-minute
//! re-evaluations — in HTTP requests, bytes and wall time.
//!
//! Run with `cargo bench --bench caldav_idle [EVENTS] [IDLE_PASSES] [radicale|xandikos]`; needs
//! the server (see `scripts/install-test-servers.sh`). Radicale gets the calendar as one PUT onto
//! the collection (it splits it by UID); Xandikos, which has no such upload, gets one file per
//! event committed straight into its git store (5,000 PUTs take it over ten minutes). Figures go to BENCHMARKS.md. Not a test: timing depends
//! on the machine.
#![allow(
    clippy::unwrap_used,
    clippy::cast_precision_loss,
    clippy::too_many_lines,
    dead_code
)]

#[path = "../tests/support/mod.rs"]
mod support;

#[path = "../tests/support/dav_server.rs"]
mod dav_server;

#[path = "../tests/support/dav_fault.rs"]
mod dav_fault;

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use calmeet::source::caldav::{CalDavClient, ChangeMarker};
use calmeet::sync::{PassReport, SyncOptions};
use chrono::Utc;
use dav_fault::{CountingProxy, Counts};
use dav_server::DavServer;
use support::fake_tencent::{FakeTencent, Route};

/// One VCALENDAR holding `n` events (every 100th tagged, every 7th weekly), as a calendar app
/// exports it. Radicale splits it into one object per UID on a collection PUT.
fn calendar(n: usize) -> String {
    let mut s = String::with_capacity(n * 520);
    s.push_str(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Apple Inc.//macOS 14.5//EN\r\n\
X-WR-CALNAME:Work 工作\r\n\
BEGIN:VTIMEZONE\r\nTZID:Asia/Shanghai\r\nBEGIN:STANDARD\r\nTZOFFSETFROM:+0800\r\nTZOFFSETTO:+0800\r\n\
TZNAME:CST\r\nDTSTART:19700101T000000\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n",
    );
    let today = Utc::now().date_naive();
    for i in 0..n {
        let day = (today + chrono::Duration::days(1 + (i % 80) as i64)).format("%Y%m%d");
        let hour = 8 + i % 10;
        let tagged = if i % 100 == 0 {
            "CATEGORIES:腾讯会议\r\n"
        } else {
            ""
        };
        let rule = if i % 7 == 0 {
            "RRULE:FREQ=WEEKLY;COUNT=6\r\n"
        } else {
            ""
        };
        write!(
            s,
            "BEGIN:VEVENT\r\nUID:bench-{i}@example.com\r\nDTSTAMP:20260101T000000Z\r\n\
DTSTART;TZID=Asia/Shanghai:{day}T{hour:02}0000\r\nDTEND;TZID=Asia/Shanghai:{day}T{hour:02}4500\r\n\
SUMMARY:Event {i} 周会\r\nDESCRIPTION:Agenda for event {i}\\, with details\\nand a second line\r\n\
{tagged}{rule}BEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT15M\r\nDESCRIPTION:Reminder\r\nEND:VALARM\r\n\
END:VEVENT\r\n"
        )
        .unwrap();
    }
    s.push_str("END:VCALENDAR\r\n");
    s
}

fn kib(bytes: u64) -> String {
    format!("{:.1} KiB", bytes as f64 / 1024.0)
}

fn summary(report: &PassReport) -> String {
    let errors: Vec<&String> = report
        .calendars
        .iter()
        .flat_map(|c| c.error.iter().chain(c.event_errors.iter()))
        .collect();
    assert!(errors.is_empty(), "the pass failed: {errors:?}");
    format!(
        "{} actions, unchanged = {}",
        report.calendars.iter().map(|c| c.plan.len()).sum::<usize>(),
        report.calendars.iter().all(|c| c.unchanged)
    )
}

fn line(label: &str, took: Duration, c: Counts, log: &[(String, String)]) {
    let mut methods: Vec<&str> = log.iter().map(|(m, _)| m.as_str()).collect();
    methods.dedup();
    println!(
        "{label:<28} {:>9.1} ms (server {:>8.1} ms)  {:>5} requests  up {:>10}  down {:>10}  ({})",
        took.as_secs_f64() * 1000.0,
        c.upstream.as_secs_f64() * 1000.0,
        c.requests,
        kib(c.bytes_up),
        kib(c.bytes_down),
        methods.join(",")
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(5_000);
    let idle_passes: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(20);
    let xandikos = args.next().is_some_and(|a| a == "xandikos");

    let fake = FakeTencent::start().await;
    let radicale = if xandikos {
        DavServer::xandikos().await
    } else {
        DavServer::radicale().await
    };
    let server_name = if xandikos { "Xandikos" } else { "Radicale" };
    println!("server: {server_name}");
    let proxy = CountingProxy::start(radicale.base.as_str()).await;
    let direct = radicale.url_for("work");
    let via_proxy = url::Url::parse(&proxy.base_url)
        .unwrap()
        .join(direct.path())
        .unwrap();

    let body = calendar(n);
    let t = Instant::now();
    if xandikos {
        upload_into_git(&radicale, &body);
    } else {
        // Upload: one PUT of the whole calendar onto the collection (Radicale splits it by UID).
        let reply = reqwest::Client::new()
            .put(direct.clone())
            .basic_auth(&radicale.username, Some(&radicale.password))
            .header("content-type", "text/calendar; charset=utf-8")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert!(
            reply.status().is_success(),
            "upload: {} {}",
            reply.status(),
            reply.text().await.unwrap_or_default()
        );
    }
    println!(
        "uploaded {n} events ({}) in {:.2} s",
        kib(body.len() as u64),
        t.elapsed().as_secs_f64()
    );

    let dir = tempfile::tempdir().unwrap();
    let mut cfg = format!(
        "timezone = \"Asia/Shanghai\"\nstate_db = \"state.db\"\n[meeting]\napi_base = \"{}\"\napp_id = \"{}\"\nsecret_id = \"{}\"\nsecret_key = \"{}\"\nuserid = \"zhangsan\"\n",
        fake.base_url, fake.app_id, fake.secret_id, fake.secret_key
    );
    if let Some(sdk) = &fake.sdk_id {
        writeln!(cfg, "sdk_id = \"{sdk}\"").unwrap();
    }
    write!(
        cfg,
        "[[calendar]]\nname = \"work\"\nurl = \"{via_proxy}\"\nkind = \"caldav\"\nusername = \"{}\"\npassword = \"{}\"\n",
        radicale.username, radicale.password
    )
    .unwrap();
    let config_path = dir.path().join("config.toml");
    std::fs::write(&config_path, &cfg).unwrap();
    // It holds secrets inline: only the owner may read it (calmeet refuses it otherwise).
    std::fs::set_permissions(
        &config_path,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let config = calmeet::config::Config::load(&config_path).unwrap();
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let engine = calmeet::cli::build_engine(config, false, rx).unwrap();
    let opts = SyncOptions::default();

    println!();
    proxy.reset();
    let t = Instant::now();
    let first = engine.run_pass(opts).await;
    let took = t.elapsed();
    line("first full sync", took, proxy.counts(), &proxy.log());
    println!("  {}", summary(&first));
    println!("  meetings created: {}", fake.request_count(Route::Create));

    // The pass after: reads back calmeet's own 50 writes, must plan nothing and PUT nothing.
    proxy.reset();
    let t = Instant::now();
    let second = engine.run_pass(opts).await;
    line(
        "second pass (own writes)",
        t.elapsed(),
        proxy.counts(),
        &proxy.log(),
    );
    println!("  {}", summary(&second));
    assert!(
        proxy.log().iter().all(|(m, _)| m != "PUT"),
        "the pass after the write-back wrote again: {:?}",
        proxy.log()
    );

    // Idle polls: nothing changed, inside the 15-minute re-evaluation window.
    let mut times = Vec::with_capacity(idle_passes);
    let mut counts = Vec::with_capacity(idle_passes);
    for _ in 0..idle_passes {
        proxy.reset();
        let t = Instant::now();
        let report = engine.run_pass(opts).await;
        times.push(t.elapsed());
        counts.push(proxy.counts());
        assert!(
            report.calendars.iter().all(|c| c.unchanged),
            "an idle pass was not idle: {}",
            summary(&report)
        );
    }
    assert!(
        counts.iter().all(|x| x.requests == counts[0].requests),
        "idle passes differ: {counts:?}"
    );
    let mut runs: Vec<(Duration, Counts)> = times.iter().copied().zip(counts).collect();
    runs.sort_by_key(|(t, _)| *t);
    let (median, c) = runs[runs.len() / 2];
    line(
        &format!("idle poll (median of {idle_passes})"),
        median,
        c,
        &proxy.log(),
    );
    println!(
        "  min {:.1} ms, max {:.1} ms; calmeet's own share of the median: {:.1} ms",
        runs[0].0.as_secs_f64() * 1000.0,
        runs[runs.len() - 1].0.as_secs_f64() * 1000.0,
        (median.saturating_sub(c.upstream)).as_secs_f64() * 1000.0
    );

    // What the server alone needs for each candidate idle-poll request, asked directly
    // without the proxy: the sync-collection REPORT with the current token, and Depth-0
    // PROPFINDs of one change marker each.
    let token = engine
        .store
        .calendar("work")
        .unwrap()
        .sync_token
        .expect("a sync token after the first pass");
    let dav = CalDavClient::new(direct.clone(), radicale.auth(), Duration::from_secs(60)).unwrap();
    let mut times: [Vec<Duration>; 5] = Default::default();
    for _ in 0..10 {
        let t = Instant::now();
        let changes = dav.sync_collection(Some(&token)).await.unwrap();
        times[0].push(t.elapsed());
        assert!(changes.changed.is_empty() && changes.deleted.is_empty());
        let t = Instant::now();
        assert!(
            dav.change_marker(ChangeMarker::SyncToken)
                .await
                .unwrap()
                .is_some()
        );
        times[1].push(t.elapsed());
        let t = Instant::now();
        assert!(
            dav.change_marker(ChangeMarker::Ctag)
                .await
                .unwrap()
                .is_some()
        );
        times[2].push(t.elapsed());
        let t = Instant::now();
        dav.etag(direct.path()).await.unwrap();
        times[3].push(t.elapsed());
        let t = Instant::now();
        dav.state().await.unwrap();
        times[4].push(t.elapsed());
    }
    let labels = [
        "REPORT sync-collection with the token",
        "PROPFIND 0 DAV:sync-token",
        "PROPFIND 0 CS:getctag",
        "PROPFIND 0 DAV:getetag",
        "PROPFIND 0 getctag+sync-token+report-set+name",
    ];
    println!("{server_name} alone, median (min-max) of 10:");
    for (label, mut t) in labels.into_iter().zip(times) {
        t.sort();
        println!(
            "  {label:<46} {:>7.1} ms ({:.1}-{:.1})",
            t[5].as_secs_f64() * 1000.0,
            t[0].as_secs_f64() * 1000.0,
            t[9].as_secs_f64() * 1000.0
        );
    }

    // The same idle poll as a whole `calmeet sync` process (start-up, state open, one pass).
    let secret = fake.secret_key.clone();
    let mut proc_times = Vec::new();
    for _ in 0..5 {
        proxy.reset();
        let t = Instant::now();
        let out = support::cli::calmeet(&config_path, &secret, &["sync"]).await;
        proc_times.push(t.elapsed());
        assert!(out.status.success(), "{}", support::cli::text(&out));
    }
    proc_times.sort();
    line(
        "idle `calmeet sync` process",
        proc_times[proc_times.len() / 2],
        proxy.counts(),
        &proxy.log(),
    );
    let rss = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    if let Some(hwm) = rss.lines().find(|l| l.starts_with("VmHWM:")) {
        println!(
            "bench process peak RSS (Radicale not included): {}",
            hwm.trim_start_matches("VmHWM:").trim()
        );
    }
}

/// Fills Xandikos' calendar with one object per event by committing the files straight into
/// its git store (what 5,000 PUTs would leave there, without 5,000 commits).
fn upload_into_git(server: &DavServer, body: &str) {
    let store = server.dir().join("data/user/calendars/work");
    assert!(
        store.join(".git").exists(),
        "no git store at {}",
        store.display()
    );
    let head = body.split("BEGIN:VEVENT").next().unwrap();
    let (tz_start, tz_end) = (head.find("BEGIN:VTIMEZONE").unwrap(), head.len());
    let prolog = &head[..tz_start];
    let vtimezone = &head[tz_start..tz_end];
    for (i, event) in body.split("BEGIN:VEVENT").skip(1).enumerate() {
        let event = event.trim_end_matches("END:VCALENDAR\r\n");
        let object = format!("{prolog}{vtimezone}BEGIN:VEVENT{event}END:VCALENDAR\r\n");
        std::fs::write(store.join(format!("bench-{i}.ics")), object).unwrap();
    }
    for args in [
        &["add", "-A"][..],
        &[
            "-c",
            "user.name=bench",
            "-c",
            "user.email=bench@example.com",
            "commit",
            "-qm",
            "bench events",
        ][..],
    ] {
        let status = std::process::Command::new("git")
            .args(args)
            .current_dir(&store)
            .status()
            .unwrap();
        assert!(status.success(), "git {args:?}");
    }
}
