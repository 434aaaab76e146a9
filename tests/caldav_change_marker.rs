//! The idle poll asks the collection's change marker first: one Depth-0 PROPFIND of
//! `CS:getctag`, and nothing else while it is the value saved with the cached objects. A
//! change still reaches calmeet (marker, then sync-collection, then multiget), the saved marker
//! moves with the objects it covers, and a server that cannot answer the PROPFIND falls back to
//! one sync-collection REPORT per poll without asking again.
#![allow(clippy::unwrap_used)]

mod support;

#[path = "support/dav_proxy.rs"]
mod dav_proxy;
#[path = "support/dav_server.rs"]
mod dav_server;

use std::time::Duration;

use calmeet::source::caldav::{CalDavClient, ChangeMarker};
use calmeet::sync::{Engine, SyncOptions};
use chrono::Utc;
use dav_proxy::{DavProxy, ProxyFault};
use dav_server::DavServer;
use support::fake_tencent::FakeTencent;

type TestEngine = Engine<calmeet::tencent::TencentClient>;

struct Setup {
    server: DavServer,
    fake: FakeTencent,
    proxy: DavProxy,
    client: CalDavClient,
    engine: TestEngine,
    _dir: tempfile::TempDir,
}

fn ics(i: usize, summary: &str) -> String {
    let day = (Utc::now() + chrono::Duration::days(2)).format("%Y%m%d");
    let tag = if i == 0 {
        "CATEGORIES:Tencent Meeting\r\n"
    } else {
        ""
    };
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:cm-{i}\r\n\
DTSTAMP:20260101T000000Z\r\nDTSTART:{day}T0{i}0000Z\r\nDTEND:{day}T0{i}3000Z\r\nSUMMARY:{summary}\r\n{tag}END:VEVENT\r\nEND:VCALENDAR\r\n"
    )
}

async fn setup(server: DavServer) -> Setup {
    let fake = FakeTencent::start().await;
    let proxy = DavProxy::start(server.base.clone()).await;
    let direct = server.url_for("work");
    let client = CalDavClient::new(direct.clone(), server.auth(), Duration::from_secs(10)).unwrap();
    for i in 0..3 {
        client
            .create(
                &format!("{}cm-{i}.ics", direct.path()),
                ics(i, "Event").as_bytes(),
            )
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
    Setup {
        server,
        fake,
        proxy,
        client,
        engine,
        _dir: dir,
    }
}

/// Runs a pass and returns the methods it sent (with statuses) from the proxy's log.
async fn pass(s: &Setup) -> (calmeet::sync::PassReport, Vec<(String, u16)>) {
    let before = s.proxy.log().len();
    let report = s.engine.run_pass(SyncOptions::default()).await;
    assert!(!report.failed(), "{:?}", report.calendars);
    let sent = s.proxy.log()[before..]
        .iter()
        .map(|(m, _, status)| (m.clone(), *status))
        .collect();
    (report, sent)
}

fn methods(sent: &[(String, u16)]) -> Vec<&str> {
    sent.iter().map(|(m, _)| m.as_str()).collect()
}

async fn idle_poll_is_one_propfind_and_changes_still_arrive(server: DavServer) {
    let s = setup(server).await;
    pass(&s).await;
    pass(&s).await;
    assert_eq!(s.fake.live_meeting_count(), 1);

    // Idle: the marker alone, unchanged.
    let (report, sent) = pass(&s).await;
    assert!(report.calendars[0].unchanged, "{:?}", report.calendars);
    assert_eq!(methods(&sent), ["PROPFIND"], "{sent:?}");
    let marker = s
        .client
        .change_marker(ChangeMarker::Ctag)
        .await
        .unwrap()
        .expect("the server reports a ctag");
    let state = s.engine.store.calendar("work").unwrap();
    assert_eq!(state.ctag.as_deref(), Some(marker.as_str()));

    // A user renames an untagged event: the marker moved, so calmeet lists and fetches it.
    let href = format!("{}cm-1.ics", s.server.url_for("work").path());
    let etag = s.client.get(&href).await.unwrap().etag.unwrap();
    s.client
        .put(&href, ics(1, "Renamed by the user").as_bytes(), &etag)
        .await
        .unwrap();
    let (report, sent) = pass(&s).await;
    assert!(!report.calendars[0].unchanged, "the change was missed");
    assert_eq!(methods(&sent), ["PROPFIND", "REPORT", "REPORT"], "{sent:?}");
    let cached = s.engine.store.object("work", &href).unwrap().unwrap();
    assert!(
        String::from_utf8(cached.data)
            .unwrap()
            .contains("Renamed by the user")
    );
    // The saved marker moved together with the objects it covers.
    let moved = s
        .client
        .change_marker(ChangeMarker::Ctag)
        .await
        .unwrap()
        .unwrap();
    assert_ne!(moved, marker);
    let state = s.engine.store.calendar("work").unwrap();
    assert_eq!(state.ctag.as_deref(), Some(moved.as_str()));

    // Idle again.
    let (report, sent) = pass(&s).await;
    assert!(report.calendars[0].unchanged, "{:?}", report.calendars);
    assert_eq!(methods(&sent), ["PROPFIND"], "{sent:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn radicale_idle_poll_is_one_propfind_and_changes_still_arrive() {
    idle_poll_is_one_propfind_and_changes_still_arrive(DavServer::radicale().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xandikos_idle_poll_is_one_propfind_and_changes_still_arrive() {
    idle_poll_is_one_propfind_and_changes_still_arrive(DavServer::xandikos().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_without_the_marker_falls_back_to_one_report_per_poll() {
    let s = setup(DavServer::radicale().await).await;
    // The marker PROPFIND is refused once (as by a server that does not implement it).
    s.proxy.inject("PROPFIND", ProxyFault::Status(405));
    let (_, sent) = pass(&s).await;
    assert_eq!(
        sent.first(),
        Some(&("PROPFIND".to_owned(), 405)),
        "{sent:?}"
    );
    assert_eq!(
        s.fake.live_meeting_count(),
        1,
        "the pass went on by listing"
    );
    pass(&s).await;

    // From then on: today's path, one sync-collection REPORT per idle poll, no PROPFIND.
    for _ in 0..2 {
        let (report, sent) = pass(&s).await;
        assert!(report.calendars[0].unchanged, "{:?}", report.calendars);
        assert_eq!(methods(&sent), ["REPORT"], "{sent:?}");
    }
    // And a change is still seen that way.
    let href = format!("{}cm-2.ics", s.server.url_for("work").path());
    let etag = s.client.get(&href).await.unwrap().etag.unwrap();
    s.client
        .put(&href, ics(2, "Renamed").as_bytes(), &etag)
        .await
        .unwrap();
    let (report, sent) = pass(&s).await;
    assert!(!report.calendars[0].unchanged);
    assert_eq!(methods(&sent), ["REPORT", "REPORT"], "{sent:?}");
}
