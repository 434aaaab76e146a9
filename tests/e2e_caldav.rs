//! End to end against real CalDAV servers (Radicale, Xandikos and sabre/dav with Basic and Digest
//! auth, started by the test) and the fake Tencent server: meetings are created, the join link lands in the event exactly once,
//! nothing else in the stored object changes, a second pass is quiet, and a lost state
//! database never leads to a second meeting.
#![allow(clippy::unwrap_used)]

mod support;

#[path = "support/dav_server.rs"]
mod dav_server;

#[path = "support/dav_proxy.rs"]
mod dav_proxy;

use std::time::Duration;

use calmeet::source::caldav::CalDavClient;
use chrono::Utc;
use dav_proxy::{DavProxy, ProxyFault};
use dav_server::DavServer;
use support::cli::{calmeet, text};
use support::fake_tencent::{FakeTencent, Route};

/// A Thunderbird-style tagged event: VTIMEZONE, VALARM, ATTENDEE parameters, X-MOZ-
/// properties, a long folded Chinese DESCRIPTION with escaped commas.
fn thunderbird_event(uid: &str) -> String {
    let day = (Utc::now() + chrono::Duration::days(3)).format("%Y%m%d");
    format!(
        "BEGIN:VCALENDAR\r\nPRODID:-//Mozilla.org/NONSGML Mozilla Calendar V1.1//EN\r\nVERSION:2.0\r\n\
BEGIN:VTIMEZONE\r\nTZID:Asia/Shanghai\r\nBEGIN:STANDARD\r\nTZOFFSETFROM:+0800\r\nTZOFFSETTO:+0800\r\nTZNAME:CST\r\nDTSTART:19700101T000000\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n\
BEGIN:VEVENT\r\nCREATED:20261101T020311Z\r\nLAST-MODIFIED:20261101T020355Z\r\nDTSTAMP:20261101T020355Z\r\nUID:{uid}\r\n\
SUMMARY:周会：项目进度同步\r\nORGANIZER;CN=\"Zhang, San\":mailto:zhangsan@example.com\r\n\
ATTENDEE;CN=Li Si;PARTSTAT=NEEDS-ACTION;ROLE=REQ-PARTICIPANT;RSVP=TRUE;CUTYPE=INDIVIDUAL:mailto:lisi@example.com\r\n\
CATEGORIES:腾讯会议\r\nRRULE:FREQ=WEEKLY;COUNT=8\r\n\
DTSTART;TZID=Asia/Shanghai:{day}T100000\r\nDTEND;TZID=Asia/Shanghai:{day}T110000\r\n\
DESCRIPTION:议程：1. 上周进展\\, 风险与阻塞\\; 2. 下周计划。请提前阅读文档并准备好问题\\, 会议将准\r\n 时开始。\\n第二行说明\r\n\
X-MOZ-GENERATION:3\r\nSEQUENCE:1\r\n\
BEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER;VALUE=DURATION:-PT15M\r\nDESCRIPTION:Default Mozilla Description\r\nEND:VALARM\r\n\
END:VEVENT\r\nEND:VCALENDAR\r\n"
    )
}

/// Logical lines with their line endings (a CRLF line that became LF is a changed line: issue
/// #13 item 6, sabre/dav serves CRLF on GET but bare LF in REPORT answers).
fn unfolded_lines(data: &[u8]) -> Vec<String> {
    let text = String::from_utf8(calmeet::event::unfold_bytes(data)).unwrap();
    text.split_inclusive('\n')
        .filter(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .collect()
}

/// Lines calmeet owns after a write-back.
fn ours(line: &str) -> bool {
    let upper = line.to_ascii_uppercase();
    upper.starts_with("DESCRIPTION")
        || upper.starts_with("X-CALMEET-MEETING-ID")
        || upper.starts_with("CONFERENCE")
}

async fn full_cycle(server: DavServer) {
    let fake = FakeTencent::start().await;
    let cal_url = server.url_for("work");
    let client =
        CalDavClient::new(cal_url.clone(), server.auth(), Duration::from_secs(10)).unwrap();
    let href = format!("{}tb-1.ics", cal_url.path());
    client
        .create(&href, thunderbird_event("tb-1@example.com").as_bytes())
        .await
        .unwrap();
    let before = client.get(&href).await.unwrap();

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pw"), format!("{}\n", server.password)).unwrap();
    let mut cfg = format!(
        "timezone = \"Asia/Shanghai\"\nstate_db = \"state.db\"\n[meeting]\napi_base = \"{}\"\napp_id = \"{}\"\nsecret_id = \"{}\"\nuserid = \"zhangsan\"\n",
        fake.base_url, fake.app_id, fake.secret_id
    );
    if let Some(sdk) = &fake.sdk_id {
        cfg.push_str(&format!("sdk_id = \"{sdk}\"\n"));
    }
    cfg.push_str(&format!(
        "[[calendar]]\nname = \"work\"\nurl = \"{cal_url}\"\nkind = \"caldav\"\nusername = \"{}\"\npassword_file = \"pw\"\n",
        server.username
    ));
    let config = dir.path().join("config.toml");
    std::fs::write(&config, cfg).unwrap();

    let out = calmeet(&config, &fake.secret_key, &["sync"]).await;
    assert!(out.status.success(), "{:?}: {}", server.kind, text(&out));
    assert!(!text(&out).contains(&server.password), "password leaked");
    assert_eq!(fake.live_meeting_count(), 1);
    let meeting = fake.meetings().pop().unwrap();
    assert_eq!(meeting.subject, "周会：项目进度同步");
    assert_eq!(meeting.meeting_type, 1);

    // The link is in the event exactly once; every other line is as the server held it.
    let after = client.get(&href).await.unwrap();
    let after_text = String::from_utf8(calmeet::event::unfold_bytes(&after.data)).unwrap();
    assert_eq!(
        after_text.matches(&meeting.join_url).count(),
        2,
        "DESCRIPTION block + CONFERENCE: {after_text}"
    );
    assert_eq!(after_text.matches("── Tencent Meeting ──").count(), 1);
    assert!(after_text.contains(&format!("X-CALMEET-MEETING-ID:{}", meeting.meeting_id)));
    assert!(
        after_text.contains("议程：1. 上周进展\\, 风险与阻塞\\; 2. 下周计划"),
        "user text kept: {after_text}"
    );
    let kept_before: Vec<String> = unfolded_lines(&before.data)
        .into_iter()
        .filter(|l| !ours(l))
        .collect();
    let kept_after: Vec<String> = unfolded_lines(&after.data)
        .into_iter()
        .filter(|l| !ours(l))
        .collect();
    assert_eq!(
        kept_before, kept_after,
        "{:?}: lines other than ours changed",
        server.kind
    );

    // Second pass: no API call, no PUT (the ETag stays).
    let requests = fake.requests().len();
    let out = calmeet(&config, &fake.secret_key, &["sync"]).await;
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        fake.requests().len(),
        requests,
        "{:?}: second pass called the API",
        server.kind
    );
    assert_eq!(
        client.get(&href).await.unwrap().etag,
        after.etag,
        "no PUT on a quiet pass"
    );

    // Lost state database: the event's X-CALMEET-MEETING-ID is adopted, no second meeting.
    for f in ["state.db", "state.db-wal", "state.db-shm"] {
        let _ = std::fs::remove_file(dir.path().join(f));
    }
    let out = calmeet(&config, &fake.secret_key, &["sync"]).await;
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        fake.request_count(Route::Create),
        1,
        "{:?}: no second meeting after losing the state",
        server.kind
    );
    assert_eq!(fake.live_meeting_count(), 1);

    // Cancelled in the calendar: the meeting is cancelled and the block removed.
    let current = client.get(&href).await.unwrap();
    let cancelled = String::from_utf8(current.data)
        .unwrap()
        .replace("SEQUENCE:1", "STATUS:CANCELLED\r\nSEQUENCE:2");
    client
        .put(
            &href,
            cancelled.as_bytes(),
            current.etag.as_deref().unwrap(),
        )
        .await
        .unwrap();
    let out = calmeet(&config, &fake.secret_key, &["sync"]).await;
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        fake.live_meeting_count(),
        0,
        "{:?}: meeting cancelled",
        server.kind
    );
    let last = String::from_utf8(calmeet::event::unfold_bytes(
        &client.get(&href).await.unwrap().data,
    ))
    .unwrap();
    assert!(
        !last.contains("Tencent Meeting ──") && !last.contains("X-CALMEET-MEETING-ID"),
        "{last}"
    );
    assert!(
        last.contains("议程：1. 上周进展"),
        "user text survives: {last}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn radicale_full_cycle() {
    full_cycle(DavServer::radicale().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xandikos_full_cycle() {
    full_cycle(DavServer::xandikos().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sabre_full_cycle() {
    full_cycle(DavServer::sabre().await).await;
}

/// Baikal's default: Digest authentication (the password never crosses the wire).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sabre_digest_full_cycle() {
    full_cycle(DavServer::sabre_digest().await).await;
}

/// A config for `server`'s calendar `work` in `dir`, with the password in a file.
fn config_for(server: &DavServer, fake: &FakeTencent, dir: &std::path::Path) -> std::path::PathBuf {
    config_at(&server.url_for("work"), server, fake, dir)
}

/// As [`config_for`], with the calendar at `url` (e.g. behind a proxy).
fn config_at(
    url: &url::Url,
    server: &DavServer,
    fake: &FakeTencent,
    dir: &std::path::Path,
) -> std::path::PathBuf {
    std::fs::write(dir.join("pw"), format!("{}\n", server.password)).unwrap();
    let mut cfg = format!(
        "timezone = \"Asia/Shanghai\"\nstate_db = \"state.db\"\n[meeting]\napi_base = \"{}\"\napp_id = \"{}\"\nsecret_id = \"{}\"\nuserid = \"zhangsan\"\n",
        fake.base_url, fake.app_id, fake.secret_id
    );
    if let Some(sdk) = &fake.sdk_id {
        cfg.push_str(&format!("sdk_id = \"{sdk}\"\n"));
    }
    cfg.push_str(&format!(
        "[[calendar]]\nname = \"work\"\nurl = \"{url}\"\nkind = \"caldav\"\nusername = \"{}\"\npassword_file = \"pw\"\n",
        server.username
    ));
    let config = dir.join("config.toml");
    std::fs::write(&config, cfg).unwrap();
    config
}

/// A deleted event's meeting is cancelled and the calendar keeps syncing: sabre/dav 1.8 answers
/// a multiget naming the deleted object with 404 for the whole REPORT (issue #13 item 2).
async fn deleted_event_is_cancelled_and_the_calendar_keeps_syncing(server: DavServer) {
    let fake = FakeTencent::start().await;
    let cal_url = server.url_for("work");
    let client =
        CalDavClient::new(cal_url.clone(), server.auth(), Duration::from_secs(10)).unwrap();
    let href = |i: usize| format!("{}del-{i}.ics", cal_url.path());
    for i in 0..3 {
        client
            .create(
                &href(i),
                thunderbird_event(&format!("del-{i}@example.com")).as_bytes(),
            )
            .await
            .unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let config = config_for(&server, &fake, dir.path());
    for _ in 0..2 {
        let out = calmeet(&config, &fake.secret_key, &["sync"]).await;
        assert!(out.status.success(), "{:?}: {}", server.kind, text(&out));
    }
    assert_eq!(fake.live_meeting_count(), 3);

    let gone = client.get(&href(1)).await.unwrap();
    client
        .delete(&href(1), gone.etag.as_deref().unwrap())
        .await
        .unwrap();
    client
        .create(&href(3), thunderbird_event("del-3@example.com").as_bytes())
        .await
        .unwrap();
    let out = calmeet(&config, &fake.secret_key, &["sync"]).await;
    assert!(out.status.success(), "{:?}: {}", server.kind, text(&out));
    assert_eq!(
        fake.live_meeting_count(),
        3,
        "{:?}: the deleted event's meeting is cancelled, the new one created",
        server.kind
    );
    assert_eq!(fake.request_count(Route::Create), 4);
    assert_eq!(fake.request_count(Route::Cancel), 1, "{:?}", server.kind);

    // The next passes are quiet and succeed.
    let requests = fake.requests().len();
    for _ in 0..2 {
        let out = calmeet(&config, &fake.secret_key, &["sync"]).await;
        assert!(out.status.success(), "{:?}: {}", server.kind, text(&out));
    }
    assert_eq!(fake.requests().len(), requests, "{:?}: quiet", server.kind);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sabre_deleted_event_is_cancelled_and_the_calendar_keeps_syncing() {
    deleted_event_is_cancelled_and_the_calendar_keeps_syncing(DavServer::sabre().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn radicale_deleted_event_is_cancelled_and_the_calendar_keeps_syncing() {
    deleted_event_is_cancelled_and_the_calendar_keeps_syncing(DavServer::radicale().await).await;
}

/// `calmeet check` sends what a pass sends (ctag PROPFIND, listing REPORT, multiget REPORT),
/// so it fails where a pass fails: SOGo's REPORT answers were rejected while a PROPFIND-only
/// check said "ok" (issue #13 item 1).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_sends_the_requests_a_pass_sends() {
    let server = DavServer::sabre().await;
    let fake = FakeTencent::start().await;
    let cal_url = server.url_for("work");
    let client =
        CalDavClient::new(cal_url.clone(), server.auth(), Duration::from_secs(10)).unwrap();
    for i in 0..2 {
        client
            .create(
                &format!("{}chk-{i}.ics", cal_url.path()),
                thunderbird_event(&format!("chk-{i}@example.com")).as_bytes(),
            )
            .await
            .unwrap();
    }
    let proxy = DavProxy::start(server.base.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let config = config_at(&proxy.url_for(&cal_url), &server, &fake, dir.path());

    let out = calmeet(&config, &fake.secret_key, &["check"]).await;
    let all = text(&out);
    assert!(out.status.success(), "{all}");
    assert!(
        all.contains(
            "calendar 'work': ok (2 objects listed by time range, ctag; 2 read, 2 tagged events)"
        ),
        "{all}"
    );
    let methods: Vec<String> = proxy.log().into_iter().map(|(m, _, _)| m).collect();
    assert!(methods.contains(&"PROPFIND".to_owned()), "{methods:?}");
    // sync-collection (refused by sabre 1.8), calendar-query, calendar-multiget.
    let reports = methods.iter().filter(|m| *m == "REPORT").count();
    assert_eq!(reports, 3, "{methods:?}");

    // The PROPFIND and the listing work, the multiget fails: check and sync both say so.
    for args in [&["check"][..], &["sync"][..]] {
        let pass = || ProxyFault::Before(Box::new(|_| Box::pin(async {})));
        proxy.inject("REPORT", pass());
        proxy.inject("REPORT", pass());
        proxy.inject("REPORT", ProxyFault::Status(500));
        let out = calmeet(&config, &fake.secret_key, args).await;
        assert!(!out.status.success(), "{args:?}: {}", text(&out));
        assert!(text(&out).contains("500"), "{args:?}: {}", text(&out));
        assert_eq!(proxy.pending_faults(), 0, "{args:?}");
    }
}

/// Digest answers and the password stay out of every log line, even at trace level.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn digest_secrets_stay_out_of_trace_logs() {
    let server = DavServer::sabre_digest().await;
    let fake = FakeTencent::start().await;
    let client = CalDavClient::new(
        server.url_for("work"),
        server.auth(),
        Duration::from_secs(10),
    )
    .unwrap();
    client
        .create(
            &format!("{}log-1.ics", server.url_for("work").path()),
            thunderbird_event("log-1@example.com").as_bytes(),
        )
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = config_for(&server, &fake, dir.path());
    for args in [
        &["--log-level", "trace", "sync"][..],
        &["--log-level", "trace", "check"][..],
    ] {
        let out = calmeet(&config, &fake.secret_key, args).await;
        let all = text(&out);
        assert!(out.status.success(), "{args:?}: {all}");
        assert!(
            all.contains("Digest"),
            "{args:?}: the challenge is logged by scheme: {all}"
        );
        assert!(
            !all.contains(&server.password),
            "{args:?}: password in {all}"
        );
        assert!(
            !all.contains("response=\""),
            "{args:?}: a Digest answer in {all}"
        );
    }
    assert_eq!(fake.live_meeting_count(), 1);
}
