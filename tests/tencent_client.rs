//! The Tencent Meeting client against the fake server over real loopback HTTP: signing on the
//! wire, retry policy per failure kind, and the no-duplicate-create guarantee.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use calmeet::tencent::ApiError;
use calmeet::tencent::types::{
    CancelMeetingRequest, CreateMeetingRequest, ModifyMeetingRequest, RecurringRule,
};
use support::fake_tencent::{FakeTencent, Fault, Route};

const HOUR: i64 = 3600;

fn future_start() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    // Next whole hour plus a day, so every test meeting lies in the future.
    (now.as_secs() as i64 / HOUR + 25) * HOUR
}

fn meeting(subject: &str, start: i64) -> CreateMeetingRequest {
    CreateMeetingRequest {
        enable_live: None,
        live_config: None,
        sync_to_wework: None,
        end_time: (start + HOUR).to_string(),
        hosts: None,
        instanceid: 1,
        invitees: None,
        location: None,
        meeting_type: 0,
        password: None,
        recurring_rule: None,
        settings: serde_json::Map::new(),
        start_time: start.to_string(),
        subject: subject.to_owned(),
        time_zone: None,
        r#type: 0,
        userid: "zhangsan".to_owned(),
    }
}

fn cancel_request() -> CancelMeetingRequest {
    CancelMeetingRequest {
        instanceid: 1,
        meeting_type: None,
        reason_code: 1,
        reason_detail: "event deleted".into(),
        sub_meeting_id: None,
        userid: "zhangsan".into(),
    }
}

#[tokio::test]
async fn create_returns_ids_and_signs_every_header_on_the_wire() {
    let fake = FakeTencent::start().await;
    let info = fake
        .client()
        .create_meeting(&meeting("Standup", future_start()))
        .await
        .unwrap();

    assert_eq!(info.meeting_code.len(), 9);
    assert_eq!(
        info.join_url,
        format!("https://meeting.tencent.com/dm/{}", info.meeting_id)
    );
    assert_eq!(fake.live_meeting_count(), 1);
    let requests = fake.requests();
    assert_eq!(requests.len(), 1);
    let req = &requests[0];
    assert!(req.signature_valid);
    assert_eq!(req.headers["x-tc-key"], fake.secret_id);
    assert_eq!(req.headers["appid"], fake.app_id);
    assert_eq!(req.headers["sdkid"], "18000000001");
    assert_eq!(req.headers["x-tc-registered"], "1");
    assert_eq!(req.headers["content-type"], "application/json");
    assert_eq!(req.headers["x-tc-signature"].len(), 88);
    let body = req.body.as_ref().unwrap();
    assert_eq!(
        body["start_time"],
        serde_json::json!(future_start().to_string())
    );
    assert!(
        body.get("password").is_none(),
        "absent fields are omitted, not null"
    );
}

#[tokio::test]
async fn sdk_id_header_is_left_out_when_not_configured() {
    let fake = FakeTencent::start().await;
    let mut config = fake.client_config();
    config.sdk_id = None;
    let client = calmeet::tencent::TencentClient::new(config).unwrap();
    let err = client
        .create_meeting(&meeting("x", future_start()))
        .await
        .unwrap_err();
    // The fake has an SdkId assigned, so leaving it out is an auth failure: proves it was absent.
    assert!(
        matches!(err, ApiError::AuthFailed { code: 190_303, .. }),
        "{err}"
    );
    assert!(!fake.requests()[0].headers.contains_key("sdkid"));
}

#[tokio::test]
async fn chinese_subject_is_signed_as_raw_utf8_and_round_trips() {
    let fake = FakeTencent::start().await;
    let client = fake.client();
    let subject = "周会：项目进度同步 Weekly sync";
    let mut req = meeting(subject, future_start());
    req.location = Some("深圳总部 3F".into());
    let info = client.create_meeting(&req).await.unwrap();

    let wire = &fake.requests()[0];
    assert!(wire.signature_valid);
    let raw = String::from_utf8(wire.raw_body.clone()).unwrap();
    assert!(
        raw.contains(subject) && !raw.contains("\\u"),
        "raw UTF-8, no escapes: {raw}"
    );
    let got = client
        .get_meeting(&info.meeting_id, "zhangsan", 1)
        .await
        .unwrap();
    assert_eq!(got.subject.as_deref(), Some(subject));
}

#[tokio::test]
async fn rate_limited_create_is_retried_and_succeeds() {
    let fake = FakeTencent::start().await;
    fake.inject(Route::Create, Fault::ErrorCode(400, 190_310));
    fake.inject(Route::Create, Fault::ErrorCode(500, 9061));
    let info = fake
        .client()
        .create_meeting(&meeting("x", future_start()))
        .await
        .unwrap();

    assert!(!info.meeting_id.is_empty());
    assert_eq!(fake.request_count(Route::Create), 3);
    assert_eq!(fake.live_meeting_count(), 1);
    let nonces: std::collections::HashSet<_> = fake
        .requests()
        .iter()
        .map(|r| r.headers["x-tc-nonce"].clone())
        .collect();
    assert_eq!(nonces.len(), 3, "every attempt carries a fresh nonce");
}

#[tokio::test]
async fn persistent_rate_limit_gives_up_after_max_attempts() {
    let fake = FakeTencent::start().await;
    for _ in 0..4 {
        fake.inject(Route::Get, Fault::ErrorCode(400, 190_310));
    }
    let err = fake
        .client()
        .get_meeting("123", "zhangsan", 1)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ApiError::RateLimited { code: 190_310, .. }),
        "{err}"
    );
    assert!(!err.is_permanent());
    assert_eq!(fake.request_count(Route::Get), 4);
}

#[tokio::test]
async fn wrong_secret_is_reported_without_retry() {
    let fake = FakeTencent::start().await;
    let mut config = fake.client_config();
    config.secret_key = "NotTheRealSecretKey".into();
    let client = calmeet::tencent::TencentClient::new(config).unwrap();
    let err = client
        .create_meeting(&meeting("x", future_start()))
        .await
        .unwrap_err();

    assert!(
        matches!(err, ApiError::SignatureRejected { code: 200_003, .. }),
        "{err}"
    );
    assert!(err.is_permanent() && !err.is_ambiguous());
    let text = err.to_string();
    assert!(
        text.contains("check secret_id/secret_key and the system clock"),
        "{text}"
    );
    assert!(!text.contains("NotTheRealSecretKey"));
    assert_eq!(fake.requests().len(), 1);
    assert!(!fake.requests()[0].signature_valid);
    assert_eq!(fake.live_meeting_count(), 0);
}

#[tokio::test]
async fn server_error_on_get_is_retried() {
    let fake = FakeTencent::start().await;
    let client = fake.client();
    let created = client
        .create_meeting(&meeting("x", future_start()))
        .await
        .unwrap();
    fake.inject(Route::Get, Fault::Status(500));
    fake.inject(Route::Get, Fault::Status(502));
    let got = client
        .get_meeting(&created.meeting_id, "zhangsan", 1)
        .await
        .unwrap();
    assert_eq!(got.meeting_id, created.meeting_id);
    assert_eq!(got.status.as_deref(), Some("MEETING_STATE_INIT"));
    assert_eq!(fake.request_count(Route::Get), 3);
}

#[tokio::test]
async fn dropped_create_response_is_ambiguous_and_never_resent() {
    let fake = FakeTencent::start().await;
    fake.inject(Route::Create, Fault::DropResponseAfterApply);
    let err = fake
        .client()
        .create_meeting(&meeting("x", future_start()))
        .await
        .unwrap_err();

    assert!(err.is_ambiguous(), "{err:?}");
    assert!(
        err.to_string().contains("list the user's meetings"),
        "{err}"
    );
    assert_eq!(fake.request_count(Route::Create), 1);
    assert_eq!(
        fake.meetings().len(),
        1,
        "the server acted once and only once"
    );
}

#[tokio::test]
async fn create_timeout_is_ambiguous_and_the_meeting_may_exist() {
    let fake = FakeTencent::start().await;
    let mut config = fake.client_config();
    config.timeout = Duration::from_millis(200);
    let client = calmeet::tencent::TencentClient::new(config).unwrap();
    fake.inject(Route::Create, Fault::Delay(Duration::from_millis(600)));
    let err = client
        .create_meeting(&meeting("slow", future_start()))
        .await
        .unwrap_err();

    assert!(err.is_ambiguous(), "{err:?}");
    assert_eq!(fake.request_count(Route::Create), 1);
    // The slow server still completes the create: exactly why the client must not resend.
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(fake.meetings().len(), 1);
    let listed = client.list_meetings("zhangsan", 1, 0).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].subject.as_deref(), Some("slow"));
}

#[tokio::test]
async fn server_error_on_create_is_ambiguous_not_retried() {
    let fake = FakeTencent::start().await;
    fake.inject(Route::Create, Fault::Status(503));
    let err = fake
        .client()
        .create_meeting(&meeting("x", future_start()))
        .await
        .unwrap_err();
    assert!(err.is_ambiguous(), "{err:?}");
    assert_eq!(fake.request_count(Route::Create), 1);
}

#[tokio::test]
async fn refused_connection_is_retried_for_create_and_not_ambiguous() {
    // Bind then drop a listener to get a port where nothing listens.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let fake = FakeTencent::start().await;
    let mut config = fake.client_config();
    config.api_base = format!("http://127.0.0.1:{port}");
    config.max_attempts = 2;
    let client = calmeet::tencent::TencentClient::new(config)
        .unwrap()
        .with_backoff(Duration::from_millis(1), Duration::from_millis(2));
    let err = client
        .create_meeting(&meeting("x", future_start()))
        .await
        .unwrap_err();
    assert!(matches!(err, ApiError::Transient { .. }), "{err:?}");
    assert!(!err.is_ambiguous() && !err.is_permanent());
}

#[tokio::test]
async fn invalid_fields_are_rejected_once_with_190004() {
    let fake = FakeTencent::start().await;
    let client = fake.client();
    let start = future_start();
    let mut backwards = meeting("x", start);
    backwards.end_time = (start - HOUR).to_string();
    let mut bad_password = meeting("x", start);
    bad_password.password = Some("12ab".into());
    let mut too_long = meeting("x", start);
    too_long.meeting_type = 1;
    too_long.recurring_rule = Some(RecurringRule {
        recurring_type: 4,
        until_type: 1,
        until_count: Some(51),
        ..RecurringRule::default()
    });
    for req in [backwards, bad_password, too_long, meeting(" ", start)] {
        let err = client.create_meeting(&req).await.unwrap_err();
        assert!(
            matches!(err, ApiError::InvalidRequest { code: 190_004, .. }),
            "{err}"
        );
    }
    assert_eq!(fake.request_count(Route::Create), 4);
    assert_eq!(fake.meetings().len(), 0);
}

#[tokio::test]
async fn list_follows_pages_and_deduplicates() {
    let fake = FakeTencent::start().await;
    let client = fake.client();
    let start = future_start();
    for i in 0..45 {
        client
            .create_meeting(&meeting(&format!("m{i}"), start + i * HOUR))
            .await
            .unwrap();
    }
    fake.set_page_overlap(true);
    let listed = client.list_meetings("zhangsan", 1, 0).await.unwrap();

    assert_eq!(listed.len(), 45);
    let mut ids: Vec<_> = listed.iter().map(|m| m.meeting_id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 45);
    assert_eq!(
        fake.request_count(Route::List),
        3,
        "19 new per page with overlap: 20+19+6"
    );
    let later = client
        .list_meetings("zhangsan", 1, start + 40 * HOUR)
        .await
        .unwrap();
    assert_eq!(later.len(), 5, "pos filters by start time");
}

#[tokio::test]
async fn recurring_meeting_reports_sub_meetings() {
    let fake = FakeTencent::start().await;
    let client = fake.client();
    let start = future_start();
    let mut req = meeting("weekly", start);
    req.meeting_type = 1;
    req.recurring_rule = Some(RecurringRule {
        recurring_type: 2,
        until_type: 1,
        until_count: Some(10),
        ..RecurringRule::default()
    });
    let created = client.create_meeting(&req).await.unwrap();
    let got = client
        .get_meeting(&created.meeting_id, "zhangsan", 1)
        .await
        .unwrap();

    assert_eq!(got.sub_meetings.len(), 10);
    assert_eq!(got.sub_meetings[0].sub_meeting_id, start.to_string());
    assert_eq!(got.sub_meetings[1].start_time, Some(start + 7 * 24 * HOUR));
    assert_eq!(got.remain_sub_meetings, Some(10));

    let mut cancel_one = cancel_request();
    cancel_one.meeting_type = Some(1);
    cancel_one.sub_meeting_id = Some(got.sub_meetings[1].sub_meeting_id.clone());
    client
        .cancel_meeting(&created.meeting_id, &cancel_one)
        .await
        .unwrap();
    let after = client
        .get_meeting(&created.meeting_id, "zhangsan", 1)
        .await
        .unwrap();
    assert_eq!(after.sub_meetings[1].status, Some(1));
    assert_eq!(after.remain_sub_meetings, Some(9));
}

#[tokio::test]
async fn modify_changes_subject_and_time_in_place() {
    let fake = FakeTencent::start().await;
    let client = fake.client();
    let start = future_start();
    let created = client.create_meeting(&meeting("old", start)).await.unwrap();
    fake.inject(Route::Modify, Fault::Status(500));
    let change = ModifyMeetingRequest {
        userid: "zhangsan".into(),
        instanceid: 1,
        subject: Some("周会（改期）".into()),
        start_time: Some((start + HOUR).to_string()),
        end_time: Some((start + 2 * HOUR).to_string()),
        ..ModifyMeetingRequest::default()
    };
    client
        .modify_meeting(&created.meeting_id, &change)
        .await
        .unwrap();

    let stored = fake.meeting(&created.meeting_id).unwrap();
    assert_eq!(stored.subject, "周会（改期）");
    assert_eq!(stored.start_time, start + HOUR);
    assert_eq!(stored.modifications, 1);
    assert_eq!(
        fake.request_count(Route::Modify),
        2,
        "a PUT is safe to repeat after a 500"
    );
}

#[tokio::test]
async fn cancel_then_cancel_again_reports_not_found() {
    let fake = FakeTencent::start().await;
    let client = fake.client();
    let created = client
        .create_meeting(&meeting("x", future_start()))
        .await
        .unwrap();
    client
        .cancel_meeting(&created.meeting_id, &cancel_request())
        .await
        .unwrap();
    assert_eq!(fake.live_meeting_count(), 0);

    let again = client
        .cancel_meeting(&created.meeting_id, &cancel_request())
        .await
        .unwrap_err();
    assert!(again.is_not_found(), "{again:?}");
    let unknown = client
        .cancel_meeting("999", &cancel_request())
        .await
        .unwrap_err();
    assert!(
        matches!(unknown, ApiError::NotFound { code: 9003, .. }),
        "{unknown:?}"
    );
    assert_eq!(
        fake.request_count(Route::Cancel),
        3,
        "NotFound is not retried"
    );
}

#[tokio::test]
async fn percent_encoded_query_is_signed_as_sent() {
    let fake = FakeTencent::start().await;
    let listed = fake
        .client()
        .list_meetings("li.si+test@example.com", 1, 0)
        .await
        .unwrap();
    assert!(listed.is_empty());
    let req = &fake.requests()[0];
    assert_eq!(
        req.uri,
        "/v1/meetings?userid=li.si%2Btest%40example.com&instanceid=1&pos=0"
    );
    assert!(req.signature_valid);
    assert_eq!(req.query["userid"], "li.si+test@example.com");
}
