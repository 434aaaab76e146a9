//! The fake Tencent server's checks of the create-meeting fields calmeet now sends (hosts,
//! live streaming, location, settings, `sync_to_wework`) and its answers (`live_addr`,
//! `user_non_registered`), driven through calmeet's own client; and userids with the characters
//! SSO ids use, signed and percent-encoded as the official SDK does (reference §1.5).
#![allow(clippy::unwrap_used)]

mod support;

use calmeet::tencent::ApiError;
use calmeet::tencent::types::{
    CreateMeetingRequest, LiveConfig, MeetingUser, ModifyMeetingRequest,
};
use serde_json::json;
use support::fake_tencent::{FakeTencent, Route};

/// 2030-01-07 10:00 Asia/Shanghai.
const START: i64 = 1_893_981_600;

fn user(u: &str) -> MeetingUser {
    MeetingUser {
        is_anonymous: None,
        nick_name: None,
        userid: u.into(),
    }
}

fn meeting(userid: &str) -> CreateMeetingRequest {
    CreateMeetingRequest {
        enable_live: None,
        end_time: (START + 3600).to_string(),
        hosts: None,
        instanceid: 1,
        invitees: None,
        live_config: None,
        location: None,
        meeting_type: 0,
        password: None,
        recurring_rule: None,
        settings: serde_json::Map::new(),
        start_time: START.to_string(),
        subject: "fields".into(),
        sync_to_wework: None,
        time_zone: None,
        r#type: 0,
        userid: userid.into(),
    }
}

fn live() -> LiveConfig {
    LiveConfig {
        live_subject: Some("Town hall".into()),
        live_summary: Some("Results".into()),
        enable_live_password: Some(true),
        live_password: Some("2468".into()),
        enable_live_im: Some(true),
        enable_live_replay: Some(false),
        live_addr: None,
    }
}

fn rejected(r: Result<impl std::fmt::Debug, ApiError>, what: &str) {
    match r {
        Err(ApiError::InvalidRequest { .. }) => {}
        other => panic!("{what}: expected 190004, got {other:?}"),
    }
}

#[tokio::test]
async fn live_addr_and_unregistered_invitees_come_back_as_the_api_answers() {
    let fake = FakeTencent::start().await;
    fake.set_unregistered(&["ghost"], false);
    let client = fake.client();
    let req = CreateMeetingRequest {
        enable_live: Some(true),
        live_config: Some(live()),
        invitees: Some(vec![user("lisi"), user("ghost")]),
        hosts: Some(vec![user("zhangsan"), user("lisi")]),
        ..meeting("zhangsan")
    };
    let info = client.create_meeting(&req).await.unwrap();
    let addr = info.live_addr().unwrap().to_owned();
    assert!(addr.starts_with("https://"), "{addr}");
    let unregistered: Vec<&str> = info
        .user_non_registered
        .iter()
        .map(|u| u.userid())
        .collect();
    assert_eq!(unregistered, ["ghost"]);
    // The other shape the docs allow reads the same.
    fake.set_unregistered(&["ghost"], true);
    let objects = client.create_meeting(&req).await.unwrap();
    assert_eq!(objects.user_non_registered[0].userid(), "ghost");
    fake.set_unregistered(&[], false);
    // GET reports the stream, without its password.
    let got = client
        .get_meeting(&info.meeting_id, "zhangsan", 1)
        .await
        .unwrap();
    assert_eq!(got.enable_live, Some(true));
    assert_eq!(got.live_addr(), Some(addr.as_str()));
    assert_eq!(got.live_config.unwrap().live_password, None);
    let stored = fake.meeting(&info.meeting_id).unwrap();
    assert_eq!(stored.extra.hosts, ["zhangsan", "lisi"]);
    // Turning live off clears it; the create answer can also leave the address out.
    let off = ModifyMeetingRequest {
        userid: "zhangsan".into(),
        instanceid: 1,
        enable_live: Some(false),
        ..ModifyMeetingRequest::default()
    };
    client.modify_meeting(&info.meeting_id, &off).await.unwrap();
    let got = client
        .get_meeting(&info.meeting_id, "zhangsan", 1)
        .await
        .unwrap();
    assert_eq!(got.live_addr(), None);
    fake.omit_live_addr_on_create(true);
    let second = client.create_meeting(&req).await.unwrap();
    assert_eq!(second.live_addr(), None);
    assert!(
        fake.meeting(&second.meeting_id)
            .unwrap()
            .extra
            .live_addr
            .is_some()
    );
}

#[tokio::test]
async fn the_fake_refuses_what_the_api_documents_as_invalid() {
    let fake = FakeTencent::start().await;
    let client = fake.client();
    let mut settings = serde_json::Map::new();
    settings.insert("auto_in_waitng_room".into(), json!(true));
    rejected(
        client
            .create_meeting(&CreateMeetingRequest {
                settings,
                ..meeting("zhangsan")
            })
            .await,
        "unknown settings key",
    );
    let mut settings = serde_json::Map::new();
    settings.insert("only_user_join_type".into(), json!("2"));
    rejected(
        client
            .create_meeting(&CreateMeetingRequest {
                settings,
                ..meeting("zhangsan")
            })
            .await,
        "settings value of the wrong type",
    );
    rejected(
        client
            .create_meeting(&CreateMeetingRequest {
                location: Some("深圳总部 3F 大会议室 A 座北翼 301 房间".into()),
                ..meeting("zhangsan")
            })
            .await,
        "location over 18 CJK characters",
    );
    rejected(
        client
            .create_meeting(&CreateMeetingRequest {
                live_config: Some(live()),
                ..meeting("zhangsan")
            })
            .await,
        "live_config without enable_live",
    );
    rejected(
        client
            .create_meeting(&CreateMeetingRequest {
                enable_live: Some(true),
                live_config: Some(LiveConfig {
                    live_password: Some("secret".into()),
                    ..live()
                }),
                ..meeting("zhangsan")
            })
            .await,
        "live password not digits",
    );
    rejected(
        client
            .create_meeting(&CreateMeetingRequest {
                enable_live: Some(true),
                live_config: Some(LiveConfig {
                    live_summary: Some("x".repeat(300)),
                    ..live()
                }),
                ..meeting("zhangsan")
            })
            .await,
        "live summary over 512 bytes",
    );
    rejected(
        client
            .create_meeting(&CreateMeetingRequest {
                hosts: Some(vec![user("")]),
                ..meeting("zhangsan")
            })
            .await,
        "host without a userid",
    );
    // On modify: hosts must include the creator, sync_to_wework cannot change.
    let created = client.create_meeting(&meeting("zhangsan")).await.unwrap();
    let base = ModifyMeetingRequest {
        userid: "zhangsan".into(),
        instanceid: 1,
        ..ModifyMeetingRequest::default()
    };
    rejected(
        client
            .modify_meeting(
                &created.meeting_id,
                &ModifyMeetingRequest {
                    hosts: Some(vec![user("lisi")]),
                    ..base.clone()
                },
            )
            .await,
        "hosts without the creator",
    );
    let body = fake
        .requests()
        .into_iter()
        .filter(|r| r.route == Some(Route::Modify))
        .count();
    assert_eq!(body, 1);
    // The typed modify request cannot even carry sync_to_wework (not in the PUT model).
    let text = serde_json::to_string(&base).unwrap();
    assert!(!text.contains("sync_to_wework"), "{text}");
}

#[tokio::test]
async fn sso_userids_are_percent_encoded_and_signed_as_sent() {
    let fake = FakeTencent::start().await;
    let client = fake.client();
    let userid = "li.si+test@example.com";
    let created = client.create_meeting(&meeting(userid)).await.unwrap();
    let got = client
        .get_meeting(&created.meeting_id, userid, 1)
        .await
        .unwrap();
    assert_eq!(got.meeting_id, created.meeting_id);
    let listed = client.list_meetings(userid, 1, START - 1).await.unwrap();
    assert_eq!(listed.len(), 1);
    for r in fake
        .requests()
        .iter()
        .filter(|r| matches!(r.route, Some(Route::Get | Route::List)))
    {
        // The SDK's encoding (reference §1.8, vector get_list_meetings_query_percent_encoded).
        assert!(
            r.uri
                .contains("userid=li.si%2Btest%40example.com&instanceid=1"),
            "{}",
            r.uri
        );
        assert!(r.signature_valid, "{}", r.uri);
        assert_eq!(r.query["userid"], userid);
    }
}
