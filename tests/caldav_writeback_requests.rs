//! What a write-back costs on the wire: the object fetched in the same pass is patched from the
//! cache and PUT with `If-Match` on the ETag the fetch saw — one PUT, no GET — on Radicale and
//! on Xandikos; on sabre/dav (REPORT bodies without CRs) one GET of the stored bytes first. The 412 path (a concurrent edit, or a cache older than the server) is covered
//! by `tests/faults.rs` and `tests/e2e_caldav.rs`.
#![allow(clippy::unwrap_used)]

mod support;

#[path = "support/dav_server.rs"]
mod dav_server;

#[path = "support/dav_fault.rs"]
mod dav_fault;

use std::time::Duration;

use calmeet::source::caldav::CalDavClient;
use calmeet::sync::SyncOptions;
use chrono::Utc;
use dav_fault::CountingProxy;
use dav_server::DavServer;
use support::fake_tencent::{FakeTencent, Route};

async fn write_back_is_one_put_and_no_get(server: DavServer) {
    // sabre/dav's REPORT loses the CRs of calendar-data: calmeet reads the stored bytes with
    // one GET before patching, so no other line's ending changes (issue #13 item 6).
    let gets = usize::from(server.is_sabre());
    let fake = FakeTencent::start().await;
    let proxy = CountingProxy::start(server.base.as_str()).await;
    let direct = server.url_for("work");
    let client = CalDavClient::new(direct.clone(), server.auth(), Duration::from_secs(10)).unwrap();
    let day = (Utc::now() + chrono::Duration::days(2)).format("%Y%m%d");
    for i in 0..3 {
        let tag = if i == 0 {
            "CATEGORIES:Tencent Meeting\r\n"
        } else {
            ""
        };
        let ics = format!(
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:wb-{i}\r\n\
DTSTAMP:20260101T000000Z\r\nDTSTART:{day}T0{i}0000Z\r\nDTEND:{day}T0{i}3000Z\r\nSUMMARY:Event {i}\r\n\
DESCRIPTION:Agenda\\, first line\\nsecond line\r\n{tag}END:VEVENT\r\nEND:VCALENDAR\r\n"
        );
        client
            .create(&format!("{}wb-{i}.ics", direct.path()), ics.as_bytes())
            .await
            .unwrap();
    }
    let href = format!("{}wb-0.ics", direct.path());
    let before = client.get(&href).await.unwrap();

    let dir = tempfile::tempdir().unwrap();
    let via_proxy = url::Url::parse(&proxy.base_url)
        .unwrap()
        .join(direct.path())
        .unwrap();
    let engine = support::engine::caldav_engine(
        dir.path(),
        &fake,
        via_proxy.as_str(),
        &server.username,
        &server.password,
    );

    let report = engine.run_pass(SyncOptions::default()).await;
    assert!(!report.failed(), "{:?}", report.calendars);
    assert_eq!(fake.request_count(Route::Create), 1);
    let log = proxy.log();
    let count = |method: &str| log.iter().filter(|(m, _)| m == method).count();
    assert_eq!(
        count("GET"),
        gets,
        "the write-back read the object again: {log:?}"
    );
    assert_eq!(count("PUT"), 1, "{log:?}");
    assert_eq!(
        log.iter()
            .find(|(m, _)| m == "PUT")
            .map(|(_, p)| p.as_str()),
        Some(href.as_str()),
        "{log:?}"
    );

    // The PUT went through its precondition and carries the link; the user's lines are kept.
    let after = client.get(&href).await.unwrap();
    assert_ne!(after.etag, before.etag);
    let text = String::from_utf8(calmeet::event::unfold_bytes(&after.data)).unwrap();
    let meeting = fake.meetings().pop().unwrap();
    assert_eq!(text.matches("── Tencent Meeting ──").count(), 1, "{text}");
    assert!(text.contains(meeting.join_url.as_str()), "{text}");
    let original = String::from_utf8(calmeet::event::unfold_bytes(&before.data)).unwrap();
    for line in original.lines().filter(|l| !l.starts_with("DESCRIPTION")) {
        assert!(text.lines().any(|l| l == line), "lost {line:?} in {text}");
    }
    // Every line keeps its CRLF ending.
    assert_eq!(
        after.data.iter().filter(|b| **b == b'\n').count(),
        after.data.windows(2).filter(|w| w == b"\r\n").count(),
        "{:?}: a line lost its CR",
        server.kind
    );
    assert_eq!(
        engine
            .store
            .row_by_meeting(&meeting.meeting_id)
            .unwrap()
            .unwrap()
            .etag,
        after.etag,
        "the row records the ETag of calmeet's own write"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn radicale_write_back_is_one_put_and_no_get() {
    write_back_is_one_put_and_no_get(DavServer::radicale().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xandikos_write_back_is_one_put_and_no_get() {
    write_back_is_one_put_and_no_get(DavServer::xandikos().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sabre_write_back_is_one_get_and_one_put() {
    write_back_is_one_put_and_no_get(DavServer::sabre().await).await;
}
