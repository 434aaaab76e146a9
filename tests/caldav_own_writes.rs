//! calmeet's own write-back is no change on the next pass (issue #13 item 7), on real servers:
//! the object cache takes the body and ETag the server stores after calmeet's PUT, so the pass
//! after the write lists (the collection's marker moved) but downloads nothing, plans nothing
//! and writes nothing; the pass after that is the one-request idle poll.
#![allow(clippy::unwrap_used)]

mod support;

#[path = "support/dav_proxy.rs"]
mod dav_proxy;
#[path = "support/dav_server.rs"]
mod dav_server;

use std::time::Duration;

use calmeet::source::caldav::CalDavClient;
use calmeet::sync::SyncOptions;
use chrono::Utc;
use dav_proxy::DavProxy;
use dav_server::DavServer;
use support::fake_tencent::FakeTencent;

fn ics(i: usize) -> String {
    let day = (Utc::now() + chrono::Duration::days(2)).format("%Y%m%d");
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:own-{i}\r\n\
DTSTAMP:20260101T000000Z\r\nDTSTART:{day}T0{i}0000Z\r\nDTEND:{day}T0{i}3000Z\r\nSUMMARY:Own {i}\r\n\
CATEGORIES:Tencent Meeting\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
}

async fn own_writes_are_no_change(server: DavServer) {
    let fake = FakeTencent::start().await;
    let proxy = DavProxy::start(server.base.clone()).await;
    let direct = server.url_for("work");
    let client = CalDavClient::new(direct.clone(), server.auth(), Duration::from_secs(10)).unwrap();
    for i in 0..3 {
        client
            .create(&format!("{}own-{i}.ics", direct.path()), ics(i).as_bytes())
            .await
            .unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let engine = support::engine::caldav_engine(
        dir.path(),
        &fake,
        proxy.url_for(&direct).as_str(),
        &server.username,
        &server.password,
    );
    let pass = || async {
        let before = proxy.log().len();
        let calls = fake.requests().len();
        let report = engine.run_pass(SyncOptions::default()).await;
        assert!(!report.failed(), "{:?}", report.calendars);
        let sent: Vec<(String, u16)> = proxy.log()[before..]
            .iter()
            .map(|(m, _, s)| (m.clone(), *s))
            .collect();
        (report, sent, fake.requests().len() - calls)
    };
    let (_, sent, _) = pass().await;
    assert_eq!(
        sent.iter().filter(|(m, _)| m == "PUT").count(),
        3,
        "{sent:?}"
    );
    // Calmeet's three writes moved the marker: one listing, nothing downloaded or sent.
    let (report, sent, calls) = pass().await;
    let methods: Vec<&str> = sent.iter().map(|(m, _)| m.as_str()).collect();
    assert_eq!(methods, ["PROPFIND", "REPORT"], "{sent:?}");
    assert_eq!(calls, 0, "the API was called");
    assert!(report.calendars[0].unchanged, "{:?}", report.calendars);
    let saved = engine.store.calendar("work").unwrap();
    let (_, sent, calls) = pass().await;
    let methods: Vec<&str> = sent.iter().map(|(m, _)| m.as_str()).collect();
    let now = engine.store.calendar("work").unwrap();
    assert_eq!(
        (methods, calls),
        (vec!["PROPFIND"], 0),
        "{sent:?}\nsaved after pass 2: {saved:?}\nafter pass 3: {now:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn radicale_own_writes_are_no_change_next_pass() {
    own_writes_are_no_change(DavServer::radicale().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xandikos_own_writes_are_no_change_next_pass() {
    own_writes_are_no_change(DavServer::xandikos().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sabre_own_writes_are_no_change_next_pass() {
    own_writes_are_no_change(DavServer::sabre().await).await;
}
