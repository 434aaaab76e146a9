//! The interoperability scenario of issue #13, run with the `calmeet` binary against one CalDAV
//! server through a recording proxy: two passes create and write back, the second is quiet,
//! an idle poll costs one request, an edit modifies, a 412 race keeps both edits, a deletion
//! cancels, and no stored line changes except calmeet's own.
//!
//! The server is sabre/dav 1.8 with Digest authentication (started here), or the calendar
//! collection named by `CALMEET_INTEROP_URL` with `CALMEET_INTEROP_USER` and
//! `CALMEET_INTEROP_PASSWORD` (`scripts/interop.sh` sets them for DAViCal, Cyrus and SOGo).
#![allow(clippy::unwrap_used)]

mod support;

#[path = "support/dav_server.rs"]
mod dav_server;

#[path = "support/dav_proxy.rs"]
mod dav_proxy;

use std::time::Duration;

use calmeet::source::caldav::{Auth, CalDavClient};
use chrono::Utc;
use dav_proxy::{DavProxy, ProxyFault};
use dav_server::DavServer;
use support::cli::{calmeet, text};
use support::fake_tencent::{FakeTencent, Route};

fn event(uid: &str, summary: &str, days: i64) -> String {
    let day = (Utc::now() + chrono::Duration::days(days)).format("%Y%m%d");
    format!(
        "BEGIN:VCALENDAR\r\nPRODID:-//calmeet interop//EN\r\nVERSION:2.0\r\n\
BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20261101T020355Z\r\nSUMMARY:{summary}\r\n\
CATEGORIES:腾讯会议\r\nDTSTART:{day}T020000Z\r\nDTEND:{day}T030000Z\r\n\
DESCRIPTION:议程：1. 上周进展\\, 风险与阻塞\\; 2. 下周计划。请提前阅读文档并准备好问题\\, 会议将准\r\n 时开始。\r\n\
LOCATION:Room 1\r\nSEQUENCE:1\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
}

/// Logical lines with their line endings.
fn lines(data: &[u8]) -> Vec<String> {
    let text = String::from_utf8(calmeet::event::unfold_bytes(data)).unwrap();
    text.split_inclusive('\n')
        .filter(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .collect()
}

fn ours(line: &str) -> bool {
    let upper = line.to_ascii_uppercase();
    upper.starts_with("DESCRIPTION")
        || upper.starts_with("X-CALMEET-MEETING-ID")
        || upper.starts_with("CONFERENCE")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interop_scenario() {
    let local;
    let (collection, username, password, label) = match std::env::var("CALMEET_INTEROP_URL") {
        Ok(url) => (
            url::Url::parse(&url).unwrap(),
            std::env::var("CALMEET_INTEROP_USER").unwrap(),
            std::env::var("CALMEET_INTEROP_PASSWORD").unwrap(),
            url,
        ),
        Err(_) => {
            local = DavServer::sabre_digest().await;
            (
                local.url_for("work"),
                local.username.clone(),
                local.password.clone(),
                "sabre/dav 1.8 (Digest)".to_owned(),
            )
        }
    };
    let auth = || Auth::Basic {
        username: username.clone(),
        password: password.clone().into(),
    };
    let fake = FakeTencent::start().await;
    let direct = CalDavClient::new(collection.clone(), auth(), Duration::from_secs(20)).unwrap();
    let run = Utc::now().timestamp_nanos_opt().unwrap();
    let href = |i: usize| format!("{}calmeet-{run}-{i}.ics", collection.path());
    let uid = |i: usize| format!("calmeet-{run}-{i}@interop.test");
    // Meetings of this run only: a shared server may hold leftovers of an earlier one.
    let subject = |i: usize| format!("Interop {i} r{run}");
    let mine = |cancelled: bool| {
        fake.meetings()
            .iter()
            .filter(|m| m.cancelled == cancelled && m.subject.contains(&format!("r{run}")))
            .count()
    };
    for i in 0..3 {
        direct
            .create(
                &href(i),
                event(&uid(i), &subject(i), 2 + i as i64).as_bytes(),
            )
            .await
            .unwrap();
    }
    let before: Vec<Vec<u8>> = {
        let mut v = Vec::new();
        for i in 0..3 {
            v.push(direct.get(&href(i)).await.unwrap().data);
        }
        v
    };

    let proxy = DavProxy::start(collection.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pw"), format!("{password}\n")).unwrap();
    let mut cfg = format!(
        "state_db = \"state.db\"\n[meeting]\napi_base = \"{}\"\napp_id = \"{}\"\nsecret_id = \"{}\"\nuserid = \"zhangsan\"\n",
        fake.base_url, fake.app_id, fake.secret_id
    );
    if let Some(sdk) = &fake.sdk_id {
        cfg.push_str(&format!("sdk_id = \"{sdk}\"\n"));
    }
    cfg.push_str(&format!(
        "[[calendar]]\nname = \"interop\"\nurl = \"{}\"\nkind = \"caldav\"\nusername = \"{username}\"\npassword_file = \"pw\"\n",
        proxy.url_for(&collection)
    ));
    let config = dir.path().join("config.toml");
    std::fs::write(&config, cfg).unwrap();
    let sync = || async {
        let out = calmeet(&config, &fake.secret_key, &["sync"]).await;
        assert!(out.status.success(), "{label}: {}", text(&out));
        assert!(!text(&out).contains(&password), "password printed");
        out
    };
    let writes = |from: usize| {
        proxy.log()[from..]
            .iter()
            .filter(|(m, _, _)| m == "PUT" || m == "DELETE")
            .count()
    };

    // 1. Two passes: meetings created and written back; the second pass is quiet.
    sync().await;
    sync().await;
    assert_eq!(mine(false), 3, "{label}: created");
    let api_calls = fake.requests().len();
    let from = proxy.log().len();
    sync().await;
    assert_eq!(
        fake.requests().len(),
        api_calls,
        "{label}: quiet pass called the API"
    );
    assert_eq!(writes(from), 0, "{label}: quiet pass wrote");
    for (i, old) in before.iter().enumerate() {
        let now = direct.get(&href(i)).await.unwrap().data;
        let text = String::from_utf8(calmeet::event::unfold_bytes(&now)).unwrap();
        assert_eq!(
            text.matches("X-CALMEET-MEETING-ID").count(),
            1,
            "{label}: {text}"
        );
        let keep =
            |d: &[u8]| -> Vec<String> { lines(d).into_iter().filter(|l| !ours(l)).collect() };
        assert_eq!(
            keep(old),
            keep(&now),
            "{label}: a stored line other than calmeet's changed"
        );
    }

    // 2. Idle poll: one request (besides the authentication challenge of a new process).
    let from = proxy.log().len();
    sync().await;
    let answered: Vec<_> = proxy.log()[from..]
        .iter()
        .filter(|(_, _, s)| *s != 401)
        .cloned()
        .collect();
    assert_eq!(answered.len(), 1, "{label}: idle poll: {answered:?}");

    // SOGo's ctag changes at most once a second: a user's change in the same second as the
    // ctag read is invisible (issue #13 item 7, not covered here). Users wait a second.
    let next_second = || tokio::time::sleep(Duration::from_millis(1100));

    // 3. An edit modifies the meeting.
    next_second().await;
    let obj = direct.get(&href(0)).await.unwrap();
    let renamed = String::from_utf8(obj.data).unwrap().replace(
        &format!("SUMMARY:{}", subject(0)),
        "SUMMARY:Interop 0 renamed",
    );
    direct
        .put(&href(0), renamed.as_bytes(), obj.etag.as_deref().unwrap())
        .await
        .unwrap();
    sync().await;
    assert!(
        fake.meetings()
            .iter()
            .any(|m| m.subject == "Interop 0 renamed"),
        "{label}: edit not applied"
    );
    assert_eq!(
        mine(false),
        2,
        "{label}: the renamed one no longer has the run's subject"
    );

    // 4. A 412 race: the user edits the event between calmeet's read and its PUT.
    next_second().await;
    direct
        .create(&href(3), event(&uid(3), &subject(3), 5).as_bytes())
        .await
        .unwrap();
    let racer = CalDavClient::new(collection.clone(), auth(), Duration::from_secs(20)).unwrap();
    proxy.inject(
        "PUT",
        ProxyFault::Before(Box::new(move |path: String| {
            Box::pin(async move {
                let obj = racer.get(&path).await.unwrap();
                let text = String::from_utf8(obj.data).unwrap();
                let edited = text.replace("LOCATION:Room 1", "LOCATION:Room 2 (user)");
                assert_ne!(edited, text);
                racer
                    .put(&path, edited.as_bytes(), obj.etag.as_deref().unwrap())
                    .await
                    .unwrap();
            })
        })),
    );
    let from = proxy.log().len();
    sync().await;
    sync().await;
    let puts: Vec<u16> = proxy.log()[from..]
        .iter()
        .filter(|(m, _, _)| m == "PUT")
        .map(|(_, _, s)| *s)
        .collect();
    assert!(puts.contains(&412), "{label}: race provoked: {puts:?}");
    let raced = String::from_utf8(calmeet::event::unfold_bytes(
        &direct.get(&href(3)).await.unwrap().data,
    ))
    .unwrap();
    assert!(
        raced.contains("LOCATION:Room 2 (user)"),
        "{label}: user edit lost: {raced}"
    );
    assert_eq!(
        raced.matches("X-CALMEET-MEETING-ID").count(),
        1,
        "{label}: {raced}"
    );
    assert_eq!(mine(false), 3);

    // 5. A deletion cancels its meeting; the calendar keeps syncing.
    next_second().await;
    let gone = direct.get(&href(1)).await.unwrap();
    direct
        .delete(&href(1), gone.etag.as_deref().unwrap())
        .await
        .unwrap();
    sync().await;
    assert_eq!(fake.request_count(Route::Cancel), 1, "{label}: deletion");
    assert_eq!(
        mine(true),
        1,
        "{label}: the deleted event's meeting is cancelled"
    );
    assert_eq!(mine(false), 2);
    let api_calls = fake.requests().len();
    let from = proxy.log().len();
    sync().await;
    assert_eq!(
        fake.requests().len(),
        api_calls,
        "{label}: quiet after the deletion"
    );
    assert_eq!(writes(from), 0, "{label}: quiet after the deletion");

    // Leave a shared server as it was.
    for i in [0, 2, 3] {
        if let Ok(obj) = direct.get(&href(i)).await {
            let _ = direct
                .delete(&href(i), obj.etag.as_deref().unwrap_or("*"))
                .await;
        }
    }
    eprintln!("interop scenario passed against {label}");
}
