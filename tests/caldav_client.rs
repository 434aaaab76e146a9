//! `CalDavClient` against real servers on 127.0.0.1: Radicale (with Basic auth) and Xandikos.
//! Every scenario runs on both; a missing server binary fails the test with install steps.
#![allow(clippy::unwrap_used)]

#[path = "support/dav_server.rs"]
mod dav_server;

use std::time::Duration;

use calmeet::source::caldav::{Auth, CalDavClient, DavError, protocol};
use calmeet::writeback::{self, MeetingBlock, PatchOptions};
use chrono::{TimeZone, Utc};
use dav_server::{DavServer, Kind};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("read {path}: {e}"))
}

/// A tagged event with Chinese text, escaped punctuation and a fold, CRLF, in UTC (so no
/// server needs to add a VTIMEZONE).
fn tagged_chinese() -> Vec<u8> {
    let description = "DESCRIPTION:议程：讨论第一季度目标\\, 预算\\; 风险。\\n负责人：张三\\n\
                       地点待定，请提前十分钟入会并检查麦克风与摄像头。";
    // Fold at 75 octets on a character boundary, as a client would.
    let mut folded = String::new();
    let mut width = 0;
    for c in description.chars() {
        if width + c.len_utf8() > 75 {
            folded.push_str("\r\n ");
            width = 1;
        }
        folded.push(c);
        width += c.len_utf8();
    }
    [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//calmeet tests//zh//EN",
        "BEGIN:VEVENT",
        "UID:tagged-zh@calmeet.test",
        "DTSTAMP:20250101T000000Z",
        "DTSTART:20250310T020000Z",
        "DTEND:20250310T030000Z",
        "SUMMARY:项目周会",
        "CATEGORIES:腾讯会议",
        &folded,
        "END:VEVENT",
        "END:VCALENDAR",
        "",
    ]
    .join("\r\n")
    .into_bytes()
}

/// (href name, body) of every object the scenarios upload.
fn objects() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        (
            "thunderbird.ics",
            fixture("thunderbird-snoozed-alarm-x-moz.ics"),
        ),
        (
            "google-monthly.ics",
            fixture("google-monthly-last-friday-moved-override.ics"),
        ),
        (
            "evolution-weekly.ics",
            fixture("evolution-allday-weekly-override.ics"),
        ),
        // Not the iPhone file with X-APPLE-MAPKIT-HANDLE: Radicale 3.9 (vobject) rejects its
        // base64 parameter with 400. This Google/Apple one is accepted.
        (
            "apple-location.ics",
            fixture("google-apple-structured-location-weekdays.ics"),
        ),
        ("tagged-zh.ics", tagged_chinese()),
    ]
}

fn client_for(server: &DavServer, auth: Auth) -> CalDavClient {
    CalDavClient::new(server.url_for("work"), auth, Duration::from_secs(10)).unwrap()
}

/// Uploads every object with `If-None-Match: *`; returns the hrefs in `objects()` order.
async fn upload_all(client: &CalDavClient) -> Vec<String> {
    let base = client.collection_url().path().to_owned();
    let mut hrefs = Vec::new();
    for (name, body) in objects() {
        let href = format!("{base}{name}");
        client
            .create(&href, &body)
            .await
            .unwrap_or_else(|e| panic!("create {name}: {e}"));
        hrefs.push(href);
    }
    hrefs
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// The VEVENT content a server keeps even when it re-serialises the object, as sorted lines.
/// Both Radicale (vobject) and Xandikos (icalendar) rewrite what they store: property and
/// parameter order, folding, line endings, RRULE part order, and VTIMEZONE offsets
/// (`+000000` → `+0000`), quotes around parameter values. So: VEVENT/VALARM lines only,
/// unfolded, parameters (unquoted) and RRULE parts sorted.
fn event_content(data: &[u8]) -> Vec<String> {
    let text = String::from_utf8(data.to_vec()).unwrap();
    let mut lines: Vec<String> = Vec::new();
    for physical in text.split_inclusive('\n') {
        let body = physical.trim_end_matches('\n').trim_end_matches('\r');
        match (body.strip_prefix([' ', '\t']), lines.last_mut()) {
            (Some(cont), Some(last)) => last.push_str(cont),
            _ if body.is_empty() => {}
            _ => lines.push(body.to_owned()),
        }
    }
    let mut in_event = false;
    let mut out = Vec::new();
    for line in lines {
        match line.as_str() {
            "BEGIN:VEVENT" => in_event = true,
            "END:VEVENT" => in_event = false,
            _ if !in_event => {}
            _ => out.push(normalise_line(&line)),
        }
    }
    out.sort();
    out
}

fn normalise_line(line: &str) -> String {
    // Split at the first ':' outside double quotes.
    let mut quoted = false;
    let colon = line
        .char_indices()
        .find(|&(_, c)| {
            quoted ^= c == '"';
            c == ':' && !quoted
        })
        .map_or(line.len(), |(i, _)| i);
    let (head, value) = (&line[..colon], &line[colon..]);
    let mut quoted = false;
    let mut params: Vec<&str> = head
        .split(|c| {
            quoted ^= c == '"';
            c == ';' && !quoted
        })
        .collect();
    params[1..].sort_unstable();
    // Radicale drops quotes a parameter value does not need.
    let head = params.join(";").replace('"', "");
    let mut value = value.to_owned();
    if params[0].eq_ignore_ascii_case("RRULE") {
        let mut parts: Vec<&str> = value[1..].split(';').collect();
        parts.sort_unstable();
        value = format!(":{}", parts.join(";"));
    }
    format!("{head}{value}")
}

// ------------------------------------------------------------------------- scenarios

async fn multiget_returns_what_was_put(server: DavServer) {
    let client = client_for(&server, server.auth());
    let hrefs = upload_all(&client).await;
    let fetched_all = client.multiget(&hrefs).await.unwrap();
    assert_eq!(fetched_all.len(), hrefs.len(), "{:?}", server.kind);
    for ((name, sent), href) in objects().into_iter().zip(&hrefs) {
        let got = fetched_all
            .iter()
            .find(|o| protocol::same_href(&o.href, href))
            .unwrap();
        let fetched = client.get(href).await.unwrap();
        // multiget and GET agree byte for byte (CRLF survives the XML layer) — except on
        // sabre/dav 1.8, whose REPORT loses every CR: calmeet can tell such a body and reads it
        // with GET before writing it back (issue #13 item 6).
        if server.is_sabre() {
            let without_cr: Vec<u8> = fetched
                .data
                .iter()
                .copied()
                .filter(|b| *b != b'\r')
                .collect();
            assert_eq!(got.data, without_cr, "{name}: multiget vs GET");
            assert!(
                calmeet::source::caldav::lost_carriage_returns(&got.data),
                "{name}"
            );
        } else {
            assert_eq!(got.data, fetched.data, "{name}: multiget vs GET");
        }
        assert_eq!(got.etag, fetched.etag, "{name}: etags");
        // Neither server stores the bytes it was given (see `content_lines`); every content
        // VEVENT line must still be there.
        let kept = event_content(&got.data);
        let lost: Vec<String> = event_content(&sent)
            .into_iter()
            .filter(|line| !kept.contains(line))
            // Radicale 3.9 (vobject) drops the empty X-TITLE= parameter and cuts the geo: value
            // at its comma: a server-side loss calmeet cannot prevent, only not add to.
            .filter(|line| {
                !(server.kind == Kind::Radicale && line.starts_with("X-APPLE-STRUCTURED-LOCATION"))
            })
            .collect();
        assert!(
            lost.is_empty(),
            "{name} on {:?} lost {lost:#?}",
            server.kind
        );
    }
    // The Chinese text came back intact.
    let zh = fetched_all
        .iter()
        .find(|o| o.href.ends_with("tagged-zh.ics"))
        .unwrap();
    let text = String::from_utf8(zh.data.clone())
        .unwrap()
        .replace("\r\n ", "");
    assert!(
        text.contains("议程：讨论第一季度目标\\, 预算\\; 风险。"),
        "{text}"
    );
    // Unknown hrefs are left out rather than failing the batch.
    let missing = format!("{}nope.ics", client.collection_url().path());
    let some = client.multiget(&[hrefs[0].clone(), missing]).await.unwrap();
    assert_eq!(some.len(), 1);
    // A missing member is an answer about that member, wherever it stands in the batch
    // (sabre/dav answers 404 for the whole REPORT; issue #13 item 2).
    let nope = |i: usize| format!("{}nope-{i}.ics", client.collection_url().path());
    let mut asked = vec![nope(0)];
    for (i, href) in hrefs.iter().enumerate() {
        asked.push(href.clone());
        if i % 3 == 1 {
            asked.push(nope(i + 1));
        }
    }
    let answer = client.multiget_detailed(&asked).await.unwrap();
    let want_missing: Vec<String> = asked
        .iter()
        .filter(|h| h.contains("nope-"))
        .cloned()
        .collect();
    assert_eq!(
        sorted(answer.missing.clone()),
        sorted(want_missing),
        "{:?}",
        server.kind
    );
    assert_eq!(answer.objects.len(), hrefs.len(), "{:?}", server.kind);
}

async fn list_honours_the_time_range(server: DavServer) {
    let client = client_for(&server, server.auth());
    upload_all(&client).await;
    let names = |refs: Vec<calmeet::source::caldav::ObjectRef>| {
        sorted(
            refs.into_iter()
                .map(|r| {
                    assert!(r.etag.is_some(), "{} has no etag", r.href);
                    r.href.rsplit('/').next().unwrap().to_owned()
                })
                .collect(),
        )
    };
    let oct_2024 = client
        .list(
            Utc.with_ymd_and_hms(2024, 10, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(2024, 11, 1, 0, 0, 0).unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(
        names(oct_2024),
        [
            "apple-location.ics",
            "evolution-weekly.ics",
            "google-monthly.ics",
            "thunderbird.ics"
        ],
        "{:?}",
        server.kind
    );
    // Monday 2025-03-10, 01:00–04:00 UTC: only the single tagged event (the weekday series
    // is at 13:00 UTC, the weekly one on Tuesdays, the monthly one on the last Friday).
    let morning = client
        .list(
            Utc.with_ymd_and_hms(2025, 3, 10, 1, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(2025, 3, 10, 4, 0, 0).unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(names(morning), ["tagged-zh.ics"], "{:?}", server.kind);
}

async fn sync_collection_reports_changes_and_deletions(server: DavServer) {
    let client = client_for(&server, server.auth());
    let hrefs = upload_all(&client).await;
    let initial = client.sync_collection(None).await.unwrap();
    assert!(initial.deleted.is_empty());
    let listed = sorted(initial.changed.iter().map(|r| r.href.clone()).collect());
    assert_eq!(listed, sorted(hrefs.clone()), "{:?}", server.kind);

    // Nothing changed: nothing reported.
    let quiet = client.sync_collection(Some(&initial.token)).await.unwrap();
    assert!(
        quiet.changed.is_empty() && quiet.deleted.is_empty(),
        "{quiet:?}"
    );

    // Modify one (conditional PUT), delete another.
    let target = &hrefs[4];
    let current = client.get(target).await.unwrap();
    let body = String::from_utf8(current.data)
        .unwrap()
        .replace("SUMMARY:项目周会", "SUMMARY:项目周会（改）");
    client
        .put(target, body.as_bytes(), current.etag.as_deref().unwrap())
        .await
        .unwrap();
    let doomed = client.get(&hrefs[0]).await.unwrap();
    client
        .delete(&hrefs[0], doomed.etag.as_deref().unwrap())
        .await
        .unwrap();

    let changes = client.sync_collection(Some(&quiet.token)).await.unwrap();
    let changed: Vec<&str> = changes.changed.iter().map(|r| r.href.as_str()).collect();
    assert_eq!(changed.len(), 1, "{changes:?}");
    assert!(protocol::same_href(changed[0], target));
    assert_eq!(changes.deleted.len(), 1, "{changes:?}");
    assert!(protocol::same_href(&changes.deleted[0], &hrefs[0]));
    assert_ne!(changes.token, quiet.token);

    // A token the server never issued (or forgot) is reported as such.
    let bogus = format!("{}x", changes.token);
    let err = client.sync_collection(Some(&bogus)).await.unwrap_err();
    assert!(
        matches!(err, DavError::InvalidSyncToken { .. }),
        "{:?}: {err:?}",
        server.kind
    );
}

async fn conditional_writes_detect_concurrent_edits(server: DavServer) {
    let client = client_for(&server, server.auth());
    let hrefs = upload_all(&client).await;
    let href = &hrefs[1];
    let read = client.get(href).await.unwrap();
    let etag = read.etag.clone().unwrap();
    assert_eq!(
        client.etag(href).await.unwrap().as_deref(),
        Some(etag.as_str())
    );

    // calmeet writes its block back (the real flow: GET, patch, PUT If-Match).
    let text = String::from_utf8(read.data).unwrap();
    let block = MeetingBlock {
        meeting_id: "14583911300049".into(),
        join_url: "https://meeting.tencent.com/dm/abcDEF".into(),
        meeting_code: "637228110".into(),
        password: None,
        live_url: None,
    };
    let uid = "38m812jicsrer5gorh3mlp7qhc@google.com";
    let patched = writeback::apply(&text, uid, &block, &PatchOptions::default()).unwrap();
    let new_etag = client.put(href, patched.as_bytes(), &etag).await.unwrap();
    let new_etag = match new_etag {
        Some(e) => e,
        None => client.etag(href).await.unwrap().unwrap(),
    };
    assert_ne!(new_etag, etag);
    let stored = String::from_utf8(client.get(href).await.unwrap().data).unwrap();
    assert_eq!(
        writeback::meeting_id(&stored, uid).as_deref(),
        Some("14583911300049")
    );

    // A writer holding the old ETag is refused instead of overwriting.
    let err = client.put(href, text.as_bytes(), &etag).await.unwrap_err();
    assert!(
        matches!(err, DavError::PreconditionFailed { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("re-read"), "{err}");
    // Creating over an existing object is refused too.
    let err = client.create(href, text.as_bytes()).await.unwrap_err();
    assert!(
        matches!(err, DavError::PreconditionFailed { .. }),
        "{err:?}"
    );
}

async fn discovery_and_collection_state(server: DavServer) {
    let client = client_for(&server, server.auth());
    let calendars = client.discover(&server.account_url()).await.unwrap();
    let work = calendars
        .iter()
        .find(|c| c.url == server.url_for("work"))
        .unwrap_or_else(|| panic!("{:?}: {calendars:?}", server.kind));
    assert_eq!(work.display_name.as_deref(), Some("Work 工作"));
    assert!(work.supports_vevent);

    let before = client.state().await.unwrap();
    assert!(before.supports_sync, "{:?}: {before:?}", server.kind);
    assert_eq!(before.display_name.as_deref(), Some("Work 工作"));
    let ctag_before = client.ctag().await.unwrap();
    assert!(ctag_before.is_some(), "{:?}", server.kind);
    upload_all(&client).await;
    assert_ne!(client.ctag().await.unwrap(), ctag_before);
}

// ------------------------------------------------------------------------- tests

#[tokio::test]
async fn radicale_multiget_returns_what_was_put() {
    multiget_returns_what_was_put(DavServer::radicale().await).await;
}

#[tokio::test]
async fn xandikos_multiget_returns_what_was_put() {
    multiget_returns_what_was_put(DavServer::xandikos().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sabre_multiget_returns_what_was_put() {
    multiget_returns_what_was_put(DavServer::sabre().await).await;
}

#[tokio::test]
async fn radicale_list_honours_the_time_range() {
    list_honours_the_time_range(DavServer::radicale().await).await;
}

#[tokio::test]
async fn xandikos_list_honours_the_time_range() {
    list_honours_the_time_range(DavServer::xandikos().await).await;
}

#[tokio::test]
async fn radicale_sync_collection_reports_changes_and_deletions() {
    sync_collection_reports_changes_and_deletions(DavServer::radicale().await).await;
}

#[tokio::test]
async fn xandikos_sync_collection_reports_changes_and_deletions() {
    sync_collection_reports_changes_and_deletions(DavServer::xandikos().await).await;
}

#[tokio::test]
async fn radicale_conditional_writes_detect_concurrent_edits() {
    conditional_writes_detect_concurrent_edits(DavServer::radicale().await).await;
}

#[tokio::test]
async fn xandikos_conditional_writes_detect_concurrent_edits() {
    conditional_writes_detect_concurrent_edits(DavServer::xandikos().await).await;
}

#[tokio::test]
async fn radicale_discovery_and_collection_state() {
    discovery_and_collection_state(DavServer::radicale().await).await;
}

#[tokio::test]
async fn xandikos_discovery_and_collection_state() {
    discovery_and_collection_state(DavServer::xandikos().await).await;
}

#[tokio::test]
async fn radicale_wrong_password_is_a_clear_401() {
    let server = DavServer::radicale().await;
    let wrong = Auth::Basic {
        username: server.username.clone(),
        password: "not-the-password".into(),
    };
    let err = client_for(&server, wrong)
        .sync_collection(None)
        .await
        .unwrap_err();
    assert!(matches!(err, DavError::Unauthorized { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("check username/password"), "{text}");
    assert!(text.contains(&server.url_for("work").to_string()), "{text}");
    assert!(!text.contains("not-the-password"), "{text}");
}

#[tokio::test]
async fn unreachable_server_names_the_url() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = url::Url::parse(&format!("http://127.0.0.1:{port}/cal/")).unwrap();
    let client = CalDavClient::new(url, Auth::None, Duration::from_secs(2)).unwrap();
    let err = client.ctag().await.unwrap_err();
    assert!(err.is_transient());
    assert!(
        err.to_string().contains(&format!("127.0.0.1:{port}/cal/")),
        "{err}"
    );
}

#[test]
fn malformed_multistatus_is_an_error() {
    let err = protocol::parse_multistatus(b"<D:multistatus xmlns:D=\"DAV:\"><D:resp").unwrap_err();
    assert!(matches!(err, DavError::Malformed { .. }));
    assert!(err.to_string().contains("invalid XML"), "{err}");
}

async fn discovery_via_well_known(server: DavServer) {
    let client = client_for(&server, server.auth());
    // The server redirects /.well-known/caldav to its root (same host: followed, with the
    // method and credentials kept).
    let well_known = server.base.join(".well-known/caldav").unwrap();
    let calendars = client.discover(&well_known).await.unwrap();
    assert!(
        calendars.iter().any(|c| c.url == server.url_for("work")),
        "{:?}: {calendars:?}",
        server.kind
    );
}

#[tokio::test]
async fn radicale_discovery_via_well_known() {
    discovery_via_well_known(DavServer::radicale().await).await;
}

#[tokio::test]
async fn xandikos_discovery_via_well_known() {
    discovery_via_well_known(DavServer::xandikos().await).await;
}

/// Serves one canned HTTP response per connection; reports every request head it saw.
async fn canned_server(response: String) -> (u16, tokio::sync::mpsc::UnboundedReceiver<String>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut buf = vec![0u8; 16 * 1024];
            let n = socket.read(&mut buf).await.unwrap_or(0);
            let _ = tx.send(String::from_utf8_lossy(&buf[..n]).into_owned());
            let _ = socket.write_all(response.as_bytes()).await;
            let _ = socket.shutdown().await;
        }
    });
    (port, rx)
}

#[tokio::test]
async fn credentials_never_follow_a_redirect_to_another_host() {
    let (other_port, mut other_seen) =
        canned_server("HTTP/1.1 207 Multi-Status\r\nContent-Length: 0\r\n\r\n".into()).await;
    // 127.0.0.1 redirects to localhost: same machine, but another host name.
    let redirect = format!(
        "HTTP/1.1 301 Moved Permanently\r\nLocation: http://localhost:{other_port}/cal/\r\n\
         Content-Length: 0\r\n\r\n"
    );
    let (port, mut seen) = canned_server(redirect).await;
    let url = url::Url::parse(&format!("http://127.0.0.1:{port}/cal/")).unwrap();
    let auth = Auth::Basic {
        username: "alice".into(),
        password: "hunter2".into(),
    };
    let client = CalDavClient::new(url, auth, Duration::from_secs(5)).unwrap();
    let err = client.ctag().await.unwrap_err();
    assert!(matches!(err, DavError::CrossHost { .. }), "{err:?}");
    assert!(
        err.to_string().contains(&format!("localhost:{other_port}")),
        "{err}"
    );
    let first = seen.recv().await.unwrap();
    assert!(first.starts_with("PROPFIND /cal/ "), "{first}");
    // Plain http and no challenge yet: the password is not sent at all (issue #13 item 3).
    assert!(
        !first.to_ascii_lowercase().contains("authorization:"),
        "{first}"
    );
    assert!(
        other_seen.try_recv().is_err(),
        "the other host was contacted"
    );
}

/// A server that asks only for a scheme calmeet lacks gets an error naming it, and the
/// password never goes out over plain http.
#[tokio::test]
async fn an_unsupported_auth_scheme_is_named() {
    let (port, mut seen) = canned_server(
        "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Negotiate\r\nWWW-Authenticate: NTLM\r\n\
         Content-Length: 0\r\n\r\n"
            .into(),
    )
    .await;
    let url = url::Url::parse(&format!("http://127.0.0.1:{port}/cal/")).unwrap();
    let auth = Auth::Basic {
        username: "alice".into(),
        password: "hunter2".into(),
    };
    let client = CalDavClient::new(url, auth, Duration::from_secs(5)).unwrap();
    let err = client.ctag().await.unwrap_err();
    assert!(matches!(err, DavError::UnsupportedAuth { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("Negotiate, NTLM") && text.contains("Basic, Digest"),
        "{text}"
    );
    let first = seen.recv().await.unwrap();
    assert!(
        !first.to_ascii_lowercase().contains("authorization"),
        "{first}"
    );
    // The challenge may come before the body is read (SOGo then resets the connection).
    assert!(
        first.to_ascii_lowercase().contains("connection: close"),
        "{first}"
    );
    assert!(seen.try_recv().is_err(), "asked only once");
}

/// Digest (sabre/dav, Baikal's default): the right password works without ever being sent,
/// a wrong one is "check username/password" after one challenge, not a loop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn digest_auth_against_sabre() {
    let server = DavServer::sabre_digest().await;
    let url = server.url_for("work");
    let client = CalDavClient::new(url.clone(), server.auth(), Duration::from_secs(10)).unwrap();
    let href = format!("{}d-1.ics", url.path());
    let ics = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:d-1\r\n\
DTSTAMP:20260101T000000Z\r\nDTSTART:20261201T100000Z\r\nDTEND:20261201T110000Z\r\nSUMMARY:d\r\n\
END:VEVENT\r\nEND:VCALENDAR\r\n";
    client.create(&href, ics.as_bytes()).await.unwrap();
    assert_eq!(client.get(&href).await.unwrap().data, ics.as_bytes());
    assert!(client.ctag().await.unwrap().is_some());
    let wrong = Auth::Basic {
        username: server.username.clone(),
        password: "not-it".into(),
    };
    // Another user name, so the scheme is learned afresh (it is remembered per user).
    let stranger = Auth::Basic {
        username: "mallory".into(),
        password: "x".into(),
    };
    for auth in [wrong, stranger] {
        let client = CalDavClient::new(url.clone(), auth, Duration::from_secs(10)).unwrap();
        let err = client.ctag().await.unwrap_err();
        assert!(matches!(err, DavError::Unauthorized { .. }), "{err:?}");
        assert!(!err.to_string().contains("not-it"));
    }
}
