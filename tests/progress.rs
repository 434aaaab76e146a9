//! A pass reports every calendar and every action to its progress hook: the daemon feeds its
//! systemd watchdog from it, so a pass of thousands of creates paced by the API's rate limit
//! (longer than `WatchdogSec`) is not killed as hung.
#![allow(clippy::unwrap_used)]

mod support;

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use calmeet::sync::{Progress, SyncOptions};
use chrono::Utc;
use support::fake_tencent::{FakeTencent, Route};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_calendar_and_action_ticks_the_progress_hook() {
    let fake = FakeTencent::start().await;
    let dir = tempfile::tempdir().unwrap();
    let day = (Utc::now() + chrono::Duration::days(3)).format("%Y%m%d");
    let mut ics = String::from("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n");
    for i in 0..3 {
        write!(
            ics,
            "BEGIN:VEVENT\r\nUID:progress-{i}@calmeet.test\r\nDTSTAMP:20260101T000000Z\r\n\
             DTSTART:{day}T0{i}0000Z\r\nDTEND:{day}T0{i}3000Z\r\nSUMMARY:Sync {i}\r\n\
             CATEGORIES:Tencent Meeting\r\nEND:VEVENT\r\n"
        )
        .unwrap();
    }
    ics.push_str("END:VCALENDAR\r\n");
    std::fs::write(dir.path().join("team.ics"), ics).unwrap();
    std::fs::write(dir.path().join("key"), &fake.secret_key).unwrap();
    let mut cfg = format!(
        "timezone = \"Asia/Shanghai\"\nstate_db = \"state.db\"\n[meeting]\napi_base = \"{}\"\n\
         app_id = \"{}\"\nsecret_id = \"{}\"\nsecret_key_file = \"key\"\nuserid = \"zhangsan\"\n",
        fake.base_url, fake.app_id, fake.secret_id
    );
    if let Some(sdk) = &fake.sdk_id {
        writeln!(cfg, "sdk_id = \"{sdk}\"").unwrap();
    }
    cfg.push_str("[[calendar]]\nname = \"team\"\nurl = \"team.ics\"\nkind = \"ics\"\n");
    std::fs::write(dir.path().join("config.toml"), cfg).unwrap();
    let config = calmeet::config::Config::load(&dir.path().join("config.toml")).unwrap();
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let mut engine = calmeet::cli::build_engine(config, false, rx).unwrap();
    let ticks = Arc::new(AtomicUsize::new(0));
    engine.progress = Progress::new({
        let ticks = Arc::clone(&ticks);
        move || {
            ticks.fetch_add(1, Ordering::Relaxed);
        }
    });

    let report = engine.run_pass(SyncOptions::default()).await;
    assert!(!report.failed(), "{:?}", report.calendars);
    assert_eq!(fake.request_count(Route::Create), 3);
    // One calendar and three creates.
    assert_eq!(ticks.load(Ordering::Relaxed), 4);

    // Nothing to do: the calendar still counts.
    let report = engine.run_pass(SyncOptions::default()).await;
    assert!(!report.failed(), "{:?}", report.calendars);
    assert_eq!(fake.request_count(Route::Create), 3);
    assert_eq!(ticks.load(Ordering::Relaxed), 5);
}
