//! End to end against Radicale and the fake Tencent server: the create-meeting fields calmeet
//! drives from the calendar and its configuration (issue 14) — per-calendar settings, password
//! and location, hosts from ORGANIZER and `ROLE=CHAIR`, live streaming with its watch address
//! in the block and a second CONFERENCE line, a config change reaching existing meetings once,
//! and a typo in a settings key refused with exit 78.
#![allow(clippy::unwrap_used)]

mod support;

#[path = "support/dav_server.rs"]
mod dav_server;

#[path = "support/dav_proxy.rs"]
mod dav_proxy;

use std::path::Path;
use std::time::Duration;

use calmeet::source::caldav::CalDavClient;
use chrono::Utc;
use dav_proxy::{DavProxy, ProxyFault};
use dav_server::DavServer;
use support::cli::{calmeet, text};
use support::fake_tencent::{FakeMeeting, FakeTencent, Fault, Route};

const WORK_UID: &str = "live-1@example.com";
const LOBBY_UID: &str = "lobby-1@example.com";

/// A tagged event; `extra_categories` adds e.g. the live tag.
fn event(uid: &str, summary: &str, extra: &str, day_offset: i64) -> String {
    let day = (Utc::now() + chrono::Duration::days(day_offset)).format("%Y%m%d");
    format!(
        "BEGIN:VCALENDAR\r\nPRODID:-//test//EN\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:{uid}\r\n\
DTSTAMP:20261101T000000Z\r\nSUMMARY:{summary}\r\n\
DTSTART;TZID=Asia/Shanghai:{day}T100000\r\nDTEND;TZID=Asia/Shanghai:{day}T110000\r\n\
{extra}END:VEVENT\r\nEND:VCALENDAR\r\n"
    )
}

fn work_event(live: bool) -> String {
    let categories = if live {
        "CATEGORIES:腾讯会议,直播\r\n"
    } else {
        "CATEGORIES:腾讯会议\r\n"
    };
    event(
        WORK_UID,
        "All hands",
        &format!(
            "{categories}ORGANIZER;CN=Alice:mailto:alice@example.com\r\n\
ATTENDEE;ROLE=CHAIR;CN=Bob:mailto:bob@example.com\r\n\
ATTENDEE;ROLE=REQ-PARTICIPANT:mailto:carol@example.com\r\n\
DESCRIPTION:Quarterly results and Q&A.\r\n"
        ),
        3,
    )
}

fn lobby_event() -> String {
    event(
        LOBBY_UID,
        "Visitor briefing",
        "CATEGORIES:Tencent Meeting\r\nLOCATION:深圳总部 3F 大会议室 Building A North Wing Room 301\r\n",
        4,
    )
}

fn config_text(fake: &FakeTencent, server: &DavServer, mute: bool) -> String {
    let mut cfg = format!(
        "timezone = \"Asia/Shanghai\"\nstate_db = \"state.db\"\n[meeting]\napi_base = \"{}\"\napp_id = \"{}\"\nsecret_id = \"{}\"\nuserid = \"zhangsan\"\n",
        fake.base_url, fake.app_id, fake.secret_id
    );
    if let Some(sdk) = &fake.sdk_id {
        cfg.push_str(&format!("sdk_id = \"{sdk}\"\n"));
    }
    cfg.push_str(&format!(
        "[meeting.settings]\nmute_enable_join = {mute}\n\
[meeting.users]\n\"alice@example.com\" = \"alice\"\n\"bob@example.com\" = \"bob\"\n\"carol@example.com\" = \"carol\"\n"
    ));
    for (name, extra) in [
        (
            "work",
            "[calendar.meeting]\nuserid = \"room.1@example.com\"\n[calendar.live]\nall = false\nreplay = true\npassword_file = \"live-pw\"\n",
        ),
        (
            "lobby",
            "[calendar.meeting]\npassword_file = \"lobby-pw\"\nlocation = \"event\"\nsync_to_wework = false\n[calendar.meeting.settings]\nauto_in_waiting_room = true\n",
        ),
    ] {
        cfg.push_str(&format!(
            "[[calendar]]\nname = \"{name}\"\nurl = \"{}\"\nkind = \"caldav\"\nusername = \"{}\"\npassword_file = \"pw\"\n{extra}",
            server.url_for(name),
            server.username
        ));
    }
    cfg
}

async fn get_text(client: &CalDavClient, href: &str) -> (String, Option<String>) {
    let obj = client.get(href).await.unwrap();
    (
        String::from_utf8(calmeet::event::unfold_bytes(&obj.data)).unwrap(),
        obj.etag,
    )
}

fn meeting_of(fake: &FakeTencent, userid: &str) -> FakeMeeting {
    fake.meetings()
        .into_iter()
        .find(|m| m.userid == userid && !m.cancelled)
        .unwrap_or_else(|| panic!("no live meeting by {userid}: {:?}", fake.meetings()))
}

async fn sync(config: &Path, fake: &FakeTencent) -> String {
    let out = calmeet(config, &fake.secret_key, &["sync"]).await;
    assert!(out.status.success(), "{}", text(&out));
    text(&out)
}

/// Asserts a pass that neither calls the API nor writes either event.
async fn assert_quiet(
    config: &Path,
    fake: &FakeTencent,
    clients: &[(&CalDavClient, &str)],
    what: &str,
) {
    let requests = fake.requests().len();
    let mut etags = Vec::new();
    for (c, href) in clients {
        etags.push(get_text(c, href).await.1);
    }
    sync(config, fake).await;
    assert_eq!(
        fake.requests().len(),
        requests,
        "{what}: the pass called the API"
    );
    for ((c, href), etag) in clients.iter().zip(etags) {
        assert_eq!(
            get_text(c, href).await.1,
            etag,
            "{what}: {href} was written"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn radicale_meeting_fields_reach_tencent_and_follow_changes() {
    let server = DavServer::radicale().await;
    server.mkcalendar("lobby", "Lobby").await;
    let fake = FakeTencent::start().await;
    // Some create answers leave the live address out: calmeet must GET it once.
    fake.omit_live_addr_on_create(true);
    fake.set_unregistered(&["carol"], true);
    let work = CalDavClient::new(
        server.url_for("work"),
        server.auth(),
        Duration::from_secs(10),
    )
    .unwrap();
    let lobby = CalDavClient::new(
        server.url_for("lobby"),
        server.auth(),
        Duration::from_secs(10),
    )
    .unwrap();
    let work_href = format!("{}live-1.ics", server.url_for("work").path());
    let lobby_href = format!("{}lobby-1.ics", server.url_for("lobby").path());
    work.create(&work_href, work_event(true).as_bytes())
        .await
        .unwrap();
    lobby
        .create(&lobby_href, lobby_event().as_bytes())
        .await
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pw"), format!("{}\n", server.password)).unwrap();
    std::fs::write(dir.path().join("live-pw"), "8642\n").unwrap();
    std::fs::write(dir.path().join("lobby-pw"), "135790\n").unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, config_text(&fake, &server, true)).unwrap();

    // Pass 1: both meetings are created with their calendar's options.
    let log = sync(&config, &fake).await;
    assert!(
        !log.contains("8642") && !log.contains("135790"),
        "password leaked: {log}"
    );
    assert!(
        log.contains("carol"),
        "unregistered invitee reported: {log}"
    );
    let live = meeting_of(&fake, "room.1@example.com");
    let create = fake
        .requests()
        .into_iter()
        .find(|r| {
            r.route == Some(Route::Create)
                && r.body
                    .as_ref()
                    .is_some_and(|b| b["userid"] == "room.1@example.com")
        })
        .unwrap();
    let body = create.body.unwrap();
    assert_eq!(body["enable_live"], true);
    assert_eq!(body["live_config"]["live_subject"], "All hands");
    assert_eq!(
        body["live_config"]["live_summary"],
        "Quarterly results and Q&A."
    );
    assert_eq!(body["live_config"]["enable_live_password"], true);
    assert_eq!(body["live_config"]["live_password"], "8642");
    assert_eq!(body["live_config"]["enable_live_replay"], true);
    // The organizer is mapped to someone other than the creator: a host, with the CHAIR.
    assert_eq!(live.extra.hosts, ["room.1@example.com", "alice", "bob"]);
    assert_eq!(live.extra.invitees, ["bob", "carol"]);
    assert!(body.get("location").is_none(), "work sends no location");
    // The per-calendar waiting room reaches only the lobby's meetings.
    assert_eq!(live.settings["mute_enable_join"], true);
    assert!(live.settings.get("auto_in_waiting_room").is_none());
    let briefing = meeting_of(&fake, "zhangsan");
    assert_eq!(briefing.settings["auto_in_waiting_room"], true);
    assert_eq!(briefing.settings["mute_enable_join"], true);
    assert_eq!(briefing.password.as_deref(), Some("135790"));
    assert_eq!(briefing.extra.sync_to_wework, Some(false));
    assert!(!briefing.extra.enable_live, "the lobby streams nothing");
    // LOCATION cut to the API's 18 CJK / 36 Latin characters.
    let location = briefing.location.clone().unwrap();
    assert!(location.starts_with("深圳总部 3F 大会议室"), "{location}");
    let width: usize = location
        .chars()
        .map(|c| if c.is_ascii() { 1 } else { 2 })
        .sum();
    assert!(width <= 36, "{location}");
    assert_eq!(
        fake.request_count(Route::Get),
        1,
        "one GET for the live address"
    );

    // The live address is in the block and a second CONFERENCE line.
    let live_addr = live.extra.live_addr.clone().unwrap();
    let (work_text, _) = get_text(&work, &work_href).await;
    assert!(
        work_text.contains(&format!("Live stream: {live_addr}")),
        "{work_text}"
    );
    // Radicale stores parameters sorted; the line is ours by label, feature and address.
    let live_conference = work_text
        .lines()
        .filter(|l| {
            l.starts_with("CONFERENCE;")
                && l.contains("LABEL=Tencent Meeting live stream")
                && l.contains("FEATURE=VIDEO")
                && l.ends_with(&format!(":{live_addr}"))
        })
        .count();
    assert_eq!(live_conference, 1, "{work_text}");
    assert_eq!(work_text.matches(&live.join_url).count(), 2, "{work_text}");
    let (lobby_text, _) = get_text(&lobby, &lobby_href).await;
    assert!(lobby_text.contains("Password: 135790"), "{lobby_text}");
    assert!(!lobby_text.contains("Live stream"), "{lobby_text}");
    // `status` shows the live address.
    let status = calmeet(&config, &fake.secret_key, &["status"]).await;
    assert!(text(&status).contains(&live_addr), "{}", text(&status));

    let both = [(&work, work_href.as_str()), (&lobby, lobby_href.as_str())];
    assert_quiet(&config, &fake, &both, "after the creates").await;

    // A changed [meeting.settings] value and lobby password modify each meeting once.
    std::fs::write(&config, config_text(&fake, &server, false)).unwrap();
    std::fs::write(dir.path().join("lobby-pw"), "2468\n").unwrap();
    sync(&config, &fake).await;
    let live = meeting_of(&fake, "room.1@example.com");
    let briefing = meeting_of(&fake, "zhangsan");
    assert_eq!((live.modifications, briefing.modifications), (1, 1));
    assert_eq!(live.settings["mute_enable_join"], false);
    assert_eq!(briefing.settings["mute_enable_join"], false);
    assert_eq!(briefing.settings["auto_in_waiting_room"], true);
    assert!(live.settings.get("auto_in_waiting_room").is_none());
    assert_eq!(briefing.password.as_deref(), Some("2468"));
    assert_eq!(
        live.extra.hosts,
        ["room.1@example.com", "alice", "bob"],
        "hosts on modify"
    );
    let (lobby_text, _) = get_text(&lobby, &lobby_href).await;
    assert!(
        lobby_text.contains("Password: 2468") && !lobby_text.contains("135790"),
        "the block follows the password: {lobby_text}"
    );
    let (work_text, _) = get_text(&work, &work_href).await;
    assert!(
        work_text.contains(&format!("Live stream: {live_addr}")),
        "kept through a modify"
    );
    assert_quiet(&config, &fake, &both, "after the config change").await;

    // A lost state database: the meetings are adopted, nothing created, and the block stays as
    // it was. The API does not report the live address this time: the event carries it.
    for f in ["state.db", "state.db-wal", "state.db-shm"] {
        let _ = std::fs::remove_file(dir.path().join(f));
    }
    fake.omit_live_addr(true);
    sync(&config, &fake).await;
    fake.omit_live_addr(false);
    assert_eq!(
        fake.request_count(Route::Create),
        2,
        "no meeting made twice"
    );
    let (after_loss, _) = get_text(&work, &work_href).await;
    assert!(
        after_loss.contains(&format!("Live stream: {live_addr}")),
        "{after_loss}"
    );
    let status = calmeet(&config, &fake.secret_key, &["status"]).await;
    assert!(text(&status).contains(&live_addr), "{}", text(&status));
    assert_quiet(&config, &fake, &both, "after adopting").await;

    // Live turned off in the event: the meeting is modified and the live lines leave.
    let current = work.get(&work_href).await.unwrap();
    let edited = String::from_utf8(current.data)
        .unwrap()
        .replace("CATEGORIES:腾讯会议,直播", "CATEGORIES:腾讯会议");
    work.put(
        &work_href,
        edited.as_bytes(),
        current.etag.as_deref().unwrap(),
    )
    .await
    .unwrap();
    // The modify is refused twice (no permission): each pass fails and says which event,
    // and the live lines stay until the meeting really changed.
    fake.inject(Route::Modify, Fault::ErrorCode(500, 9100));
    fake.inject(Route::Modify, Fault::ErrorCode(500, 9100));
    for attempt in 1..=2 {
        let out = calmeet(&config, &fake.secret_key, &["sync"]).await;
        assert_eq!(
            out.status.code(),
            Some(1),
            "attempt {attempt}: {}",
            text(&out)
        );
        assert!(
            text(&out).contains(WORK_UID),
            "attempt {attempt}: {}",
            text(&out)
        );
        assert!(meeting_of(&fake, "room.1@example.com").extra.enable_live);
        let (still, _) = get_text(&work, &work_href).await;
        assert!(still.contains("Live stream"), "attempt {attempt}: {still}");
    }
    sync(&config, &fake).await;
    let live = meeting_of(&fake, "room.1@example.com");
    assert!(!live.extra.enable_live, "live streaming turned off");
    let modify = fake
        .requests()
        .into_iter()
        .rev()
        .find(|r| r.route == Some(Route::Modify))
        .unwrap();
    assert_eq!(modify.body.unwrap()["enable_live"], false);
    let (work_text, _) = get_text(&work, &work_href).await;
    assert!(
        !work_text.contains("Live stream") && !work_text.contains("live stream:"),
        "{work_text}"
    );
    assert_eq!(work_text.matches(&live.join_url).count(), 2, "{work_text}");
    assert_quiet(&config, &fake, &both, "after live off").await;
}

#[tokio::test]
async fn settings_key_typo_exits_78_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    for (text_cfg, key) in [
        (
            "[meeting]\nuserid = \"u\"\n[meeting.settings]\nauto_in_waitng_room = true\n",
            "auto_in_waitng_room",
        ),
        (
            "[[calendar]]\nname = \"c\"\nurl = \"https://x/\"\nkind = \"caldav\"\n[calendar.meeting.settings]\nmute_enable_jion = true\n",
            "mute_enable_jion",
        ),
        (
            "[meeting]\nuserid = \"u\"\n[meeting.settings]\nonly_user_join_type = \"2\"\n",
            "only_user_join_type",
        ),
    ] {
        std::fs::write(&config, text_cfg).unwrap();
        let out = calmeet(&config, "k", &["sync", "--dry-run"]).await;
        assert_eq!(out.status.code(), Some(78), "{}", text(&out));
        assert!(text(&out).contains(key), "{}", text(&out));
    }
}

/// A modify that changes the password the block shows, whose write-back then fails: the pass
/// reports it, and the next pass writes the new block without modifying the meeting again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn radicale_block_follows_a_new_password_after_a_failed_write() {
    let server = DavServer::radicale().await;
    let proxy = DavProxy::start(server.base.clone()).await;
    let fake = FakeTencent::start().await;
    let client = CalDavClient::new(
        server.url_for("work"),
        server.auth(),
        Duration::from_secs(10),
    )
    .unwrap();
    let href = format!("{}pw-1.ics", server.url_for("work").path());
    client
        .create(
            &href,
            lobby_event()
                .replace(LOBBY_UID, "pw-1@example.com")
                .as_bytes(),
        )
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pw"), format!("{}\n", server.password)).unwrap();
    let config = dir.path().join("config.toml");
    let write = |password: &str| {
        let mut cfg = format!(
            "timezone = \"Asia/Shanghai\"\nstate_db = \"state.db\"\n[meeting]\napi_base = \"{}\"\napp_id = \"{}\"\nsecret_id = \"{}\"\nuserid = \"zhangsan\"\npassword = \"{password}\"\n",
            fake.base_url, fake.app_id, fake.secret_id
        );
        if let Some(sdk) = &fake.sdk_id {
            cfg.push_str(&format!("sdk_id = \"{sdk}\"\n"));
        }
        cfg.push_str(&format!(
            "[[calendar]]\nname = \"work\"\nurl = \"{}\"\nkind = \"caldav\"\nusername = \"{}\"\npassword_file = \"pw\"\n",
            proxy.url_for(&server.url_for("work")),
            server.username
        ));
        std::fs::write(&config, cfg).unwrap();
    };
    write("1111");
    sync(&config, &fake).await;
    assert!(get_text(&client, &href).await.0.contains("Password: 1111"));

    write("2222");
    proxy.inject("PUT", ProxyFault::Status(503));
    let out = calmeet(&config, &fake.secret_key, &["sync"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("pw-1@example.com"), "{}", text(&out));
    let m = fake.meetings().pop().unwrap();
    assert_eq!((m.modifications, m.password.as_deref()), (1, Some("2222")));
    assert!(get_text(&client, &href).await.0.contains("Password: 1111"));

    // The next pass writes the block, and only that.
    let requests = fake.requests().len();
    sync(&config, &fake).await;
    assert_eq!(fake.requests().len(), requests, "no second modify");
    let (after, _) = get_text(&client, &href).await;
    assert!(
        after.contains("Password: 2222") && !after.contains("Password: 1111"),
        "{after}"
    );
    assert_quiet(
        &config,
        &fake,
        &[(&client, href.as_str())],
        "after the rewrite",
    )
    .await;
}
