//! The fake Tencent server's own rules (recurrence expansion, limits, skew), so tests of other
//! modules that lean on it can trust what it accepts and generates.
#![allow(clippy::unwrap_used)]

mod support;

#[path = "fake_tencent/sub_meeting_model.rs"]
mod sub_meeting_model;

use calmeet::tencent::ApiError;
use calmeet::tencent::types::{CreateMeetingRequest, MeetingInfo, RecurringRule};
use support::fake_tencent::FakeTencent;

const DAY: i64 = 86_400;
/// Monday 2030-01-07 10:00 Asia/Shanghai.
const MONDAY_10AM: i64 = 1_893_981_600;

fn recurring(rule: RecurringRule) -> CreateMeetingRequest {
    CreateMeetingRequest {
        enable_live: None,
        live_config: None,
        sync_to_wework: None,
        end_time: (MONDAY_10AM + 3600).to_string(),
        hosts: None,
        instanceid: 1,
        invitees: None,
        location: None,
        meeting_type: 1,
        password: None,
        recurring_rule: Some(rule),
        settings: serde_json::Map::new(),
        start_time: MONDAY_10AM.to_string(),
        subject: "series".into(),
        time_zone: Some("Asia/Shanghai".into()),
        r#type: 0,
        userid: "zhangsan".into(),
    }
}

async fn create_and_get(fake: &FakeTencent, rule: RecurringRule) -> Result<MeetingInfo, ApiError> {
    let client = fake.client();
    let created = client.create_meeting(&recurring(rule)).await?;
    client.get_meeting(&created.meeting_id, "zhangsan", 1).await
}

fn starts(m: &MeetingInfo) -> Vec<i64> {
    m.sub_meetings
        .iter()
        .map(|s| s.start_time.unwrap() - MONDAY_10AM)
        .collect()
}

#[test]
fn the_fixed_start_is_a_monday_morning_in_beijing() {
    // 2030-01-07T02:00:00Z == 10:00 +08:00; the expectations below depend on it.
    assert_eq!((MONDAY_10AM / DAY + 4) % 7, 1, "1970-01-01 was a Thursday");
    assert_eq!(MONDAY_10AM % DAY, 2 * 3600);
}

#[tokio::test]
async fn weekdays_skip_the_weekend() {
    let fake = FakeTencent::start().await;
    let rule = RecurringRule {
        recurring_type: 1,
        until_type: 1,
        until_count: Some(6),
        ..Default::default()
    };
    let m = create_and_get(&fake, rule).await.unwrap();
    assert_eq!(starts(&m), vec![0, DAY, 2 * DAY, 3 * DAY, 4 * DAY, 7 * DAY]);
}

#[tokio::test]
async fn until_date_is_inclusive_of_the_last_day() {
    let fake = FakeTencent::start().await;
    // Until the start of the third weekly occurrence (DESIGN: UNTIL = start of the last one).
    let rule = RecurringRule {
        recurring_type: 2,
        until_type: 0,
        until_date: Some(MONDAY_10AM + 14 * DAY),
        ..Default::default()
    };
    let m = create_and_get(&fake, rule).await.unwrap();
    assert_eq!(starts(&m), vec![0, 7 * DAY, 14 * DAY]);
}

#[tokio::test]
async fn custom_weekly_mask_every_two_weeks() {
    let fake = FakeTencent::start().await;
    // Every 2 weeks on Monday (2) + Wednesday (8).
    let rule = RecurringRule {
        recurring_type: 5,
        until_type: 1,
        until_count: Some(4),
        customized_recurring_type: Some(1),
        customized_recurring_step: Some(2),
        customized_recurring_days: Some(2 + 8),
        ..Default::default()
    };
    let m = create_and_get(&fake, rule).await.unwrap();
    assert_eq!(starts(&m), vec![0, 2 * DAY, 14 * DAY, 16 * DAY]);
}

#[tokio::test]
async fn custom_rule_must_include_the_first_day() {
    let fake = FakeTencent::start().await;
    let rule = RecurringRule {
        recurring_type: 5,
        until_type: 1,
        until_count: Some(4),
        customized_recurring_type: Some(1),
        customized_recurring_step: Some(1),
        customized_recurring_days: Some(4), // Tuesday only, but the series starts on a Monday
        ..Default::default()
    };
    let err = create_and_get(&fake, rule).await.unwrap_err();
    assert!(
        matches!(&err, ApiError::InvalidRequest { code: 190_004, message } if message.contains("firstStartTime")),
        "{err}"
    );
}

#[tokio::test]
async fn count_limits_depend_on_the_rule() {
    let fake = FakeTencent::start().await;
    let weekly_200 = RecurringRule {
        recurring_type: 2,
        until_type: 1,
        until_count: Some(200),
        ..Default::default()
    };
    assert_eq!(
        create_and_get(&fake, weekly_200)
            .await
            .unwrap()
            .sub_meetings
            .len(),
        200
    );
    for (kind, count) in [(2, 201), (3, 51), (4, 51), (0, 0)] {
        let rule = RecurringRule {
            recurring_type: kind,
            until_type: 1,
            until_count: Some(count),
            ..Default::default()
        };
        let err = create_and_get(&fake, rule).await.unwrap_err();
        assert!(
            matches!(err, ApiError::InvalidRequest { .. }),
            "type {kind} ×{count}: {err}"
        );
    }
}

#[tokio::test]
async fn times_sent_as_numbers_are_rejected() {
    let fake = FakeTencent::start().await;
    let client = reqwest::Client::new();
    let body = br#"{"userid":"zhangsan","instanceid":1,"subject":"x","type":0,"start_time":1894010400,"end_time":"1894014000"}"#;
    let (nonce, ts) = (
        "7",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            .to_string(),
    );
    let sig = calmeet::tencent::sign::signature(
        fake.secret_key.as_bytes(),
        "POST",
        &fake.secret_id,
        nonce,
        &ts,
        "/v1/meetings",
        body,
    );
    let send = |ts: String, sig: String| {
        client
            .post(format!("{}/v1/meetings", fake.base_url))
            .header("X-TC-Key", &fake.secret_id)
            .header("X-TC-Nonce", nonce)
            .header("X-TC-Timestamp", ts)
            .header("X-TC-Signature", sig)
            .header("AppId", &fake.app_id)
            .header("SdkId", fake.sdk_id.clone().unwrap())
            .body(body.to_vec())
            .send()
    };
    let answer = send(ts.clone(), sig).await.unwrap();
    assert_eq!(answer.status(), 400);
    assert!(
        String::from_utf8(answer.bytes().await.unwrap().to_vec())
            .unwrap()
            .contains("190004")
    );

    // Correctly signed but ten minutes old: outside the 5-minute window.
    let old = (ts.parse::<u64>().unwrap() - 600).to_string();
    let old_sig = calmeet::tencent::sign::signature(
        fake.secret_key.as_bytes(),
        "POST",
        &fake.secret_id,
        nonce,
        &old,
        "/v1/meetings",
        body,
    );
    let answer = send(old, old_sig).await.unwrap();
    assert!(
        String::from_utf8(answer.bytes().await.unwrap().to_vec())
            .unwrap()
            .contains("200003")
    );
    assert!(
        fake.requests()[1].signature_valid,
        "the signature itself was fine"
    );
    assert_eq!(fake.meetings().len(), 0);
}

#[tokio::test]
async fn extension_in_place_can_be_refused_while_other_changes_go_through() {
    use calmeet::tencent::types::ModifyMeetingRequest;
    use support::fake_tencent::Route;
    let fake = FakeTencent::start().await;
    fake.refuse_in_place_extension(true);
    let client = fake.client();
    let weekly = |count| RecurringRule {
        recurring_type: 2,
        until_type: 1,
        until_count: Some(count),
        ..Default::default()
    };
    let created = client.create_meeting(&recurring(weekly(4))).await.unwrap();
    let modify = |count, subject: &str| ModifyMeetingRequest {
        userid: "zhangsan".into(),
        instanceid: 1,
        subject: Some(subject.into()),
        start_time: Some(MONDAY_10AM.to_string()),
        end_time: Some((MONDAY_10AM + 3600).to_string()),
        meeting_type: Some(1),
        recurring_rule: Some(weekly(count)),
        ..ModifyMeetingRequest::default()
    };
    // Longer: refused as an invalid parameter, nothing changed.
    let err = client
        .modify_meeting(&created.meeting_id, &modify(6, "longer"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ApiError::InvalidRequest { code: 190_004, message } if message.contains("recurring_rule")),
        "{err:?}"
    );
    assert!(calmeet::sync::apply::refuses_in_place(&err));
    let m = fake.meeting(&created.meeting_id).unwrap();
    assert_eq!((m.subject.as_str(), m.sub_meetings.len()), ("series", 4));
    // Same length or shorter, renamed: accepted.
    client
        .modify_meeting(&created.meeting_id, &modify(3, "shorter"))
        .await
        .unwrap();
    let m = fake.meeting(&created.meeting_id).unwrap();
    assert_eq!((m.subject.as_str(), m.sub_meetings.len()), ("shorter", 3));
    assert!(fake.requests().iter().all(|r| r.signature_valid));
    assert_eq!(fake.request_count(Route::Modify), 2);
    // Switched off: extending is fine again.
    fake.refuse_in_place_extension(false);
    client
        .modify_meeting(&created.meeting_id, &modify(6, "longer"))
        .await
        .unwrap();
    assert_eq!(
        fake.meeting(&created.meeting_id)
            .unwrap()
            .sub_meetings
            .len(),
        6
    );
}

/// The documented limit (reference §4.4): beyond N calls in a minute the fake answers 190310
/// without acting and counts the call as waste; the client surfaces it as `RateLimited`.
#[tokio::test]
async fn rate_limit_answers_190310_without_acting() {
    let fake = FakeTencent::start().await;
    fake.set_rate_limit(3, std::time::Duration::from_secs(60));
    let mut config = fake.client_config();
    config.max_attempts = 1;
    let client = calmeet::tencent::TencentClient::new(config).unwrap();
    for _ in 0..3 {
        client.create_meeting(&recurring_none()).await.unwrap();
    }
    let refused = client.create_meeting(&recurring_none()).await.unwrap_err();
    assert!(
        matches!(refused, ApiError::RateLimited { code: 190_310, .. }),
        "{refused}"
    );
    assert_eq!(fake.meetings().len(), 3, "a refused call must not act");
    assert_eq!(fake.rate_limited_count(), 1);
    assert_eq!(fake.peak_calls_in_window(), 3);
}

fn recurring_none() -> CreateMeetingRequest {
    CreateMeetingRequest {
        recurring_rule: None,
        meeting_type: 0,
        ..recurring(RecurringRule::default())
    }
}
