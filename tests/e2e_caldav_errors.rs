//! CalDAV failures end to end: one healthy Radicale calendar next to a server that answers 500,
//! one that never answers, one that sends malformed XML with 207 and a Radicale calendar with a
//! wrong password. `calmeet sync` names every failing calendar with its cause, exits 1, never
//! panics, never prints a secret, and the healthy calendar still gets its meeting and link.
//! Also: bearer-token authentication and `calmeet check --discover`.
#![allow(clippy::unwrap_used)]

mod support;

#[path = "support/dav_server.rs"]
mod dav_server;

#[path = "support/dav_fault.rs"]
mod dav_fault;

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use calmeet::source::caldav::CalDavClient;
use chrono::Utc;
use dav_fault::{Fault, FaultServer};
use dav_server::DavServer;
use support::cli::{calmeet, text};
use support::fake_tencent::{FakeTencent, Route};

fn tagged_event(uid: &str) -> String {
    let day = (Utc::now() + chrono::Duration::days(2)).format("%Y%m%d");
    format!(
        "BEGIN:VCALENDAR\r\nPRODID:-//Apple Inc.//macOS 14.5//EN\r\nVERSION:2.0\r\n\
BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:{day}T020000Z\r\nDTEND:{day}T030000Z\r\n\
SUMMARY:Design review\r\nCATEGORIES:Tencent Meeting\r\nDESCRIPTION:Bring the mock-ups\r\n\
X-APPLE-TRAVEL-ADVISORY-BEHAVIOR:AUTOMATIC\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
}

/// The `[meeting]` part of a config pointing at the fake Tencent server.
fn meeting_config(fake: &FakeTencent) -> String {
    let mut cfg = format!(
        "timezone = \"Asia/Shanghai\"\nstate_db = \"state.db\"\n[meeting]\napi_base = \"{}\"\napp_id = \"{}\"\nsecret_id = \"{}\"\nuserid = \"zhangsan\"\n",
        fake.base_url, fake.app_id, fake.secret_id
    );
    if let Some(sdk) = &fake.sdk_id {
        writeln!(cfg, "sdk_id = \"{sdk}\"").unwrap();
    }
    cfg
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_calendars_are_named_and_the_healthy_one_still_syncs() {
    let fake = FakeTencent::start().await;
    let radicale = DavServer::radicale().await;
    radicale.mkcalendar("locked", "Locked").await;
    let broken = FaultServer::start(Fault::Status500).await;
    let hangs = FaultServer::start(Fault::Hang).await;
    let garbled = FaultServer::start(Fault::MalformedXml).await;

    let work = radicale.url_for("work");
    let client = CalDavClient::new(work.clone(), radicale.auth(), Duration::from_secs(10)).unwrap();
    let href = format!("{}review.ics", work.path());
    client
        .create(&href, tagged_event("review@example.com").as_bytes())
        .await
        .unwrap();

    let wrong_password = "not-the-Pa55word";
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pw"), format!("{}\n", radicale.password)).unwrap();
    std::fs::write(dir.path().join("wrong"), wrong_password).unwrap();
    let mut cfg = meeting_config(&fake);
    let user = &radicale.username;
    write!(
        cfg,
        "[[calendar]]\nname = \"healthy\"\nurl = \"{work}\"\nkind = \"caldav\"\nusername = \"{user}\"\npassword_file = \"pw\"\n\
         [[calendar]]\nname = \"broken\"\nurl = \"{}\"\nkind = \"caldav\"\nusername = \"{user}\"\npassword_file = \"pw\"\n\
         [[calendar]]\nname = \"silent\"\nurl = \"{}\"\nkind = \"caldav\"\ntimeout_secs = 2\n\
         [[calendar]]\nname = \"garbled\"\nurl = \"{}\"\nkind = \"caldav\"\n\
         [[calendar]]\nname = \"locked\"\nurl = \"{}\"\nkind = \"caldav\"\nusername = \"{user}\"\npassword_file = \"wrong\"\n",
        broken.url("/cal/"),
        hangs.url("/cal/"),
        garbled.url("/cal/"),
        radicale.url_for("locked"),
    )
    .unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, cfg).unwrap();
    // It holds an inline secret: calmeet refuses such a file unless only its owner can read it.
    std::fs::set_permissions(&config, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();

    let started = Instant::now();
    let out = calmeet(&config, &fake.secret_key, &["sync"]).await;
    let took = started.elapsed();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(!all.contains("panicked"), "{all}");
    for secret in [radicale.password.as_str(), wrong_password, &fake.secret_key] {
        assert!(!all.contains(secret), "secret leaked: {all}");
    }

    // Each failing calendar is named once with a cause a user can act on.
    let line_of = |name: &str| -> String {
        let marker = format!("calendar '{name}':");
        let lines: Vec<&str> = all.lines().filter(|l| l.contains(&marker)).collect();
        assert!(!lines.is_empty(), "no error line names {name}: {all}");
        lines.join("\n")
    };
    let broken_line = line_of("broken");
    assert!(broken_line.contains("HTTP 500"), "{broken_line}");
    let silent_line = line_of("silent");
    // One clear statement: the calendar, its URL and the timeout, each said once per line.
    let silent_url = hangs.url("/cal/");
    for line in silent_line.lines() {
        assert_eq!(line.matches("timed out").count(), 1, "{line}");
        assert_eq!(line.matches("calendar 'silent'").count(), 1, "{line}");
        assert_eq!(line.matches(silent_url.as_str()).count(), 1, "{line}");
        assert!(line.contains("after 2 s"), "{line}");
        assert!(line.contains("timeout_secs"), "{line}");
    }
    let error_line = all
        .lines()
        .find(|l| l.starts_with("error: calendar 'silent':"))
        .unwrap_or_else(|| panic!("no summary line for silent: {all}"));
    assert_eq!(
        error_line,
        format!(
            "error: calendar 'silent': {silent_url} timed out after 2 s: check that the server is up and reachable, or raise timeout_secs for this calendar"
        ),
        "{all}"
    );
    let garbled_line = line_of("garbled");
    assert!(
        garbled_line.contains("malformed response"),
        "{garbled_line}"
    );
    let locked_line = line_of("locked");
    assert!(
        locked_line.contains("check username/password"),
        "{locked_line}"
    );
    assert!(
        !all.contains("calendar 'healthy':"),
        "the healthy calendar reported an error: {all}"
    );
    assert!(all.contains("4 errors"), "{all}");

    // The 2 s per-calendar timeout applied (the default is 60 s), and the silent server was
    // asked once: a timeout is not a reason to retry with a time-range listing.
    assert!(took < Duration::from_secs(30), "pass took {took:?}");
    assert_eq!(hangs.seen().len(), 1, "{:?}", hangs.seen());

    // The healthy calendar got its meeting and its link.
    assert_eq!(fake.request_count(Route::Create), 1);
    let meeting = fake.meetings().pop().unwrap();
    let stored = String::from_utf8(calmeet::event::unfold_bytes(
        &client.get(&href).await.unwrap().data,
    ))
    .unwrap();
    assert_eq!(
        stored.matches("── Tencent Meeting ──").count(),
        1,
        "{stored}"
    );
    assert!(stored.contains(&meeting.join_url), "{stored}");

    // `status` shows the failures per calendar, still without secrets.
    let out = calmeet(&config, &fake.secret_key, &["status"]).await;
    let status = text(&out);
    assert!(out.status.success(), "{status}");
    assert!(status.contains("check username/password"), "{status}");
    assert!(!status.contains(&radicale.password) && !status.contains(wrong_password));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_token_is_sent_and_never_printed() {
    let fake = FakeTencent::start().await;
    let server = FaultServer::start(Fault::Record).await;
    let token = "tok-9f8e7d6c5b4a-SECRET";
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("token"), format!("{token}\n")).unwrap();
    let mut cfg = meeting_config(&fake);
    write!(
        cfg,
        "[[calendar]]\nname = \"tokened\"\nurl = \"{}\"\nkind = \"caldav\"\ntoken_file = \"token\"\n",
        server.url("/cal/")
    )
    .unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, cfg).unwrap();
    // It holds an inline secret: calmeet refuses such a file unless only its owner can read it.
    std::fs::set_permissions(&config, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();

    for args in [
        &["--log-level", "trace", "sync"][..],
        &["--log-level", "trace", "check"][..],
    ] {
        let out = calmeet(&config, &fake.secret_key, args).await;
        let all = text(&out);
        assert!(!all.contains(token), "token printed by {args:?}: {all}");
        assert!(!all.contains("panicked"), "{all}");
        if args.contains(&"sync") {
            assert!(out.status.success(), "{all}");
        }
    }
    let seen = server.seen();
    assert!(!seen.is_empty());
    for request in &seen {
        assert_eq!(
            request.headers.get("authorization").map(String::as_str),
            Some(format!("Bearer {token}").as_str()),
            "{} {}",
            request.method,
            request.path
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_discover_lists_radicale_calendars() {
    let fake = FakeTencent::start().await;
    let radicale = DavServer::radicale().await;
    radicale.mkcalendar("home", "Home 家").await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pw"), &radicale.password).unwrap();
    let mut cfg = meeting_config(&fake);
    write!(
        cfg,
        "[[calendar]]\nname = \"work\"\nurl = \"{}\"\nkind = \"caldav\"\nusername = \"{}\"\npassword_file = \"pw\"\n",
        radicale.url_for("work"),
        radicale.username
    )
    .unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, cfg).unwrap();
    // It holds an inline secret: calmeet refuses such a file unless only its owner can read it.
    std::fs::set_permissions(&config, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();

    let account = radicale.account_url().to_string();
    let out = calmeet(
        &config,
        &fake.secret_key,
        &["check", "--discover", &account],
    )
    .await;
    let all = text(&out);
    assert!(out.status.success(), "{all}");
    assert!(!all.contains(&radicale.password), "{all}");
    for (name, display) in [
        ("work", radicale.calendar_name.as_str()),
        ("home", "Home 家"),
    ] {
        let expected = format!("calendar {display:?}: url = \"{}\"", radicale.url_for(name));
        assert!(all.contains(&expected), "missing {expected}: {all}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discover_sends_no_credentials_to_another_port() {
    let fake = FakeTencent::start().await;
    let configured = FaultServer::start(Fault::Record).await;
    let other = FaultServer::start(Fault::Record).await;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = meeting_config(&fake);
    write!(
        cfg,
        "[[calendar]]\nname = \"work\"\nurl = \"{}\"\nkind = \"caldav\"\nusername = \"alice\"\npassword = \"pw-for-the-first-port\"\n",
        configured.url("/cal/")
    )
    .unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, cfg).unwrap();
    // It holds an inline secret: calmeet refuses such a file unless only its owner can read it.
    std::fs::set_permissions(&config, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();

    // Same host (127.0.0.1), other port: the configured calendar's password must stay home.
    let out = calmeet(
        &config,
        &fake.secret_key,
        &["check", "--discover", &other.url("/")],
    )
    .await;
    let all = text(&out);
    assert!(!all.contains("pw-for-the-first-port"), "{all}");
    assert!(all.contains("discover"), "{all}");
    let seen = other.seen();
    assert!(!seen.is_empty(), "discovery asked nothing: {all}");
    assert!(
        seen.iter()
            .all(|r| !r.headers.contains_key("authorization")),
        "credentials sent to another port: {seen:?}"
    );
}
