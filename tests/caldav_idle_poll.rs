//! The idle poll of a CalDAV calendar: one request and no object loaded while nothing changed,
//! and the cached objects still used when the 15-minute re-evaluation comes (a pass that saw
//! no objects would plan to cancel every meeting).
#![allow(clippy::unwrap_used)]

mod support;

#[path = "support/dav_server.rs"]
mod dav_server;

#[path = "support/dav_fault.rs"]
mod dav_fault;

use std::time::Duration;

use calmeet::source::caldav::CalDavClient;
use calmeet::sync::{REEVALUATE_EVERY, SyncOptions};
use chrono::Utc;
use dav_fault::CountingProxy;
use dav_server::DavServer;
use support::fake_tencent::{FakeTencent, Route};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_pass_is_one_request_and_reevaluation_keeps_the_meetings() {
    let fake = FakeTencent::start().await;
    let radicale = DavServer::radicale().await;
    let proxy = CountingProxy::start(radicale.base.as_str()).await;
    let direct = radicale.url_for("work");
    let client =
        CalDavClient::new(direct.clone(), radicale.auth(), Duration::from_secs(10)).unwrap();
    let day = (Utc::now() + chrono::Duration::days(2)).format("%Y%m%d");
    for i in 0..3 {
        let tag = if i == 0 {
            "CATEGORIES:Tencent Meeting\r\n"
        } else {
            ""
        };
        let ics = format!(
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:idle-{i}\r\n\
DTSTAMP:20260101T000000Z\r\nDTSTART:{day}T0{i}0000Z\r\nDTEND:{day}T0{i}3000Z\r\nSUMMARY:Event {i}\r\n{tag}END:VEVENT\r\nEND:VCALENDAR\r\n"
        );
        client
            .create(&format!("{}idle-{i}.ics", direct.path()), ics.as_bytes())
            .await
            .unwrap();
    }

    let dir = tempfile::tempdir().unwrap();
    let via_proxy = url::Url::parse(&proxy.base_url)
        .unwrap()
        .join(direct.path())
        .unwrap();
    let engine = support::engine::caldav_engine(
        dir.path(),
        &fake,
        via_proxy.as_str(),
        &radicale.username,
        &radicale.password,
    );
    let opts = SyncOptions::default();

    // First pass creates and writes back; the second reads calmeet's own write.
    for _ in 0..2 {
        let report = engine.run_pass(opts).await;
        assert!(!report.failed(), "{:?}", report.calendars);
    }
    assert_eq!(fake.live_meeting_count(), 1);

    // Idle: exactly one small request, nothing evaluated.
    proxy.reset();
    let report = engine.run_pass(opts).await;
    assert!(!report.failed(), "{:?}", report.calendars);
    assert!(report.calendars[0].unchanged, "{:?}", report.calendars);
    assert_eq!(proxy.counts().requests, 1, "{:?}", proxy.log());
    assert!(proxy.counts().bytes_down < 2048, "{:?}", proxy.counts());

    // Re-evaluation due, server unchanged: the cached objects are read, nothing is planned,
    // the meeting stays.
    let mut state = engine.store.calendar("work").unwrap();
    let stale = REEVALUATE_EVERY.as_secs() as i64 + 60;
    state.evaluated_at = Some(Utc::now().timestamp() - stale);
    engine.store.put_calendar(&state).unwrap();
    proxy.reset();
    let calls = fake.requests().len();
    let report = engine.run_pass(opts).await;
    let outcome = &report.calendars[0];
    assert!(!report.failed(), "{outcome:?}");
    assert!(!outcome.unchanged, "the re-evaluation was skipped");
    assert!(outcome.plan.is_empty(), "{:?}", outcome.plan);
    assert_eq!(proxy.counts().requests, 1, "{:?}", proxy.log());
    assert_eq!(fake.requests().len(), calls, "the API was called");
    assert_eq!(fake.request_count(Route::Cancel), 0);
    assert_eq!(fake.live_meeting_count(), 1);
}
