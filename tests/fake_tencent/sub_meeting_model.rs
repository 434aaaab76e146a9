//! The fake's sub-meeting model (issue #10): expansion of every documented rule kind in its
//! zone, per-occurrence cancel and move, what a series modify does to them (both readings),
//! partial sub-meeting lists, and the live-occurrence accessor tests compare calendars with.

use calmeet::tencent::types::{CancelMeetingRequest, ModifyMeetingRequest, RecurringRule};
use chrono::TimeZone;
use chrono_tz::Tz;

use super::support::fake_tencent::{FakeTencent, SeriesModify, SubMeetingWindow};
use super::{DAY, MONDAY_10AM, create_and_get, recurring, starts};

const HOUR: i64 = 3600;

fn rule(kind: i64, until: Until) -> RecurringRule {
    let mut r = RecurringRule {
        recurring_type: kind,
        ..Default::default()
    };
    match until {
        Until::Count(n) => (r.until_type, r.until_count) = (1, Some(n)),
        Until::Date(t) => (r.until_type, r.until_date) = (0, Some(t)),
    }
    r
}

fn custom(kind: i64, step: i64, days: Option<i64>, until: Until) -> RecurringRule {
    RecurringRule {
        customized_recurring_type: Some(kind),
        customized_recurring_step: Some(step),
        customized_recurring_days: days,
        ..rule(5, until)
    }
}

#[derive(Clone, Copy)]
enum Until {
    Count(i64),
    Date(i64),
}

/// Every documented rule kind (reference §3.1), ended by count and by date, from Monday
/// 2030-01-07 10:00 Beijing time; offsets in days from the first occurrence.
#[tokio::test]
async fn every_rule_kind_expands_as_documented() {
    let fake = FakeTencent::start().await;
    let last = |days: i64| Until::Date(MONDAY_10AM + days * DAY);
    let table: Vec<(&str, RecurringRule, Vec<i64>)> = vec![
        ("daily ×3", rule(0, Until::Count(3)), vec![0, 1, 2]),
        ("daily to +2d", rule(0, last(2)), vec![0, 1, 2]),
        (
            "weekdays ×6",
            rule(1, Until::Count(6)),
            vec![0, 1, 2, 3, 4, 7],
        ),
        (
            "weekdays to +8d",
            rule(1, last(8)),
            vec![0, 1, 2, 3, 4, 7, 8],
        ),
        ("weekly ×3", rule(2, Until::Count(3)), vec![0, 7, 14]),
        ("weekly to +13d", rule(2, last(13)), vec![0, 7]),
        ("bi-weekly ×3", rule(3, Until::Count(3)), vec![0, 14, 28]),
        ("bi-weekly to +28d", rule(3, last(28)), vec![0, 14, 28]),
        // 2030-01-07, 02-07, 03-07: 31 and 28 days apart.
        ("monthly ×3", rule(4, Until::Count(3)), vec![0, 31, 59]),
        ("monthly to +59d", rule(4, last(59)), vec![0, 31, 59]),
        (
            "every 3 days ×3",
            custom(0, 3, None, Until::Count(3)),
            vec![0, 3, 6],
        ),
        (
            "every 2 weeks Mon+Fri ×4",
            custom(1, 2, Some(2 + 32), Until::Count(4)),
            vec![0, 4, 14, 18],
        ),
        // The 7th is in the month's 1st week (days 1–7): Monday of the 1st week is Feb 4, Mar 4.
        (
            "monthly 1st-week Monday ×3",
            custom(2, 1, Some(2 + 128), Until::Count(3)),
            vec![0, 28, 56],
        ),
        (
            "every 2 months on the 7th and 20th ×4",
            custom(3, 2, Some((1 << 6) + (1 << 19)), Until::Count(4)),
            vec![0, 13, 59, 72],
        ),
    ];
    for (name, r, want) in table {
        let m = create_and_get(&fake, r).await.unwrap();
        let got: Vec<i64> = starts(&m).iter().map(|s| s / DAY).collect();
        assert_eq!(got, want, "{name}");
        assert!(
            starts(&m).iter().all(|s| s % DAY == 0),
            "{name}: same wall time"
        );
    }
}

/// Occurrences repeat at the wall time of `time_zone` (across a DST change), and in Beijing
/// time when the meeting has none.
#[tokio::test]
async fn occurrences_keep_the_wall_time_of_the_zone() {
    let fake = FakeTencent::start().await;
    let client = fake.client();
    let ny: Tz = "America/New_York".parse().unwrap();
    // Monday 2030-03-04 09:00 New York (EST); DST starts on Sunday 2030-03-10.
    let first = ny
        .with_ymd_and_hms(2030, 3, 4, 9, 0, 0)
        .unwrap()
        .timestamp();
    for (zone, gap) in [(Some("America/New_York"), 7 * DAY - HOUR), (None, 7 * DAY)] {
        let mut req = recurring(rule(2, Until::Count(2)));
        req.start_time = first.to_string();
        req.end_time = (first + HOUR).to_string();
        req.time_zone = zone.map(str::to_owned);
        let created = client.create_meeting(&req).await.unwrap();
        let spans = &fake.live_occurrences()[&created.meeting_id];
        assert_eq!(
            spans,
            &vec![(first, first + HOUR), (first + gap, first + gap + HOUR)],
            "{zone:?}"
        );
    }
}

fn weekly(count: i64) -> RecurringRule {
    rule(2, Until::Count(count))
}

fn cancel_one(sub: &str) -> CancelMeetingRequest {
    CancelMeetingRequest {
        userid: "zhangsan".into(),
        instanceid: 1,
        reason_code: 1,
        reason_detail: "test".into(),
        meeting_type: Some(1),
        sub_meeting_id: Some(sub.into()),
    }
}

fn move_one(sub: &str, start: i64) -> ModifyMeetingRequest {
    ModifyMeetingRequest {
        userid: "zhangsan".into(),
        instanceid: 1,
        start_time: Some(start.to_string()),
        end_time: Some((start + HOUR).to_string()),
        meeting_type: Some(1),
        recurring_rule: Some(RecurringRule {
            sub_meeting_id: Some(sub.into()),
            ..RecurringRule::default()
        }),
        ..ModifyMeetingRequest::default()
    }
}

/// Cancel and move by `sub_meeting_id`, then a rename of the series: by default the API's
/// fresh expansion brings both back (what calmeet's plan assumes); switched, they stay.
#[tokio::test]
async fn a_series_modify_resets_or_keeps_occurrence_changes() {
    for mode in [SeriesModify::ResetExceptions, SeriesModify::KeepExceptions] {
        let fake = FakeTencent::start().await;
        fake.set_series_modify(mode);
        let client = fake.client();
        let created = client.create_meeting(&recurring(weekly(4))).await.unwrap();
        let id = &created.meeting_id;
        let sub = |k: i64| (MONDAY_10AM + k * 7 * DAY).to_string();
        client
            .cancel_meeting(id, &cancel_one(&sub(1)))
            .await
            .unwrap();
        let moved_to = MONDAY_10AM + 15 * DAY;
        client
            .modify_meeting(id, &move_one(&sub(2), moved_to))
            .await
            .unwrap();
        let changed = vec![
            (MONDAY_10AM, MONDAY_10AM + HOUR),
            (moved_to, moved_to + HOUR),
            (MONDAY_10AM + 21 * DAY, MONDAY_10AM + 21 * DAY + HOUR),
        ];
        assert_eq!(fake.live_occurrences()[id], changed, "{mode:?}");
        let got = client.get_meeting(id, "zhangsan", 1).await.unwrap();
        assert_eq!(
            got.sub_meetings[2].sub_meeting_id,
            sub(2),
            "a move keeps its id"
        );
        assert_eq!(got.remain_sub_meetings, Some(3));
        let rename = ModifyMeetingRequest {
            userid: "zhangsan".into(),
            instanceid: 1,
            subject: Some("renamed".into()),
            start_time: Some(MONDAY_10AM.to_string()),
            end_time: Some((MONDAY_10AM + HOUR).to_string()),
            meeting_type: Some(1),
            recurring_rule: Some(weekly(4)),
            ..ModifyMeetingRequest::default()
        };
        client.modify_meeting(id, &rename).await.unwrap();
        let after = &fake.live_occurrences()[id];
        match mode {
            SeriesModify::ResetExceptions => {
                let fresh: Vec<(i64, i64)> = (0..4)
                    .map(|k| MONDAY_10AM + k * 7 * DAY)
                    .map(|s| (s, s + HOUR))
                    .collect();
                assert_eq!(after, &fresh);
            }
            SeriesModify::KeepExceptions => assert_eq!(after, &changed),
        }
    }
}

/// The documented partial answer (reference §2.3: 5 of 7 listed, `has_more_sub_meeting`),
/// the list endpoint's first-sub-meeting default, and `is_show_all_sub_meetings=1`.
#[tokio::test]
async fn sub_meeting_lists_can_be_partial() {
    let fake = FakeTencent::start().await;
    let client = fake.client();
    let created = client.create_meeting(&recurring(weekly(7))).await.unwrap();
    let id = &created.meeting_id;
    let full = client.get_meeting(id, "zhangsan", 1).await.unwrap();
    assert_eq!(
        (full.sub_meetings.len(), full.has_more_sub_meeting),
        (7, Some(0))
    );

    fake.set_sub_meeting_window(Some(SubMeetingWindow {
        shown: 5,
        from: None,
    }));
    let got = client.get_meeting(id, "zhangsan", 1).await.unwrap();
    assert_eq!(got.sub_meetings.len(), 5);
    assert_eq!(got.has_more_sub_meeting, Some(1));
    assert_eq!(got.remain_sub_meetings, Some(7));
    // The window can start later (an API that shows the current and upcoming ones).
    fake.set_sub_meeting_window(Some(SubMeetingWindow {
        shown: 5,
        from: Some(MONDAY_10AM + 3 * 7 * DAY),
    }));
    let later = client.get_meeting(id, "zhangsan", 1).await.unwrap();
    let first = later.sub_meetings[0].start_time.unwrap();
    assert_eq!(
        (later.sub_meetings.len(), first),
        (4, MONDAY_10AM + 21 * DAY)
    );
    assert_eq!(later.has_more_sub_meeting, Some(1));

    let listed = client.list_meetings("zhangsan", 1, 0).await.unwrap();
    assert_eq!(
        listed[0].sub_meetings.len(),
        1,
        "list shows the first by default"
    );
    let all = client
        .list_meetings_with_all_sub_meetings("zhangsan", 1, 0)
        .await
        .unwrap();
    assert_eq!(all[0].sub_meetings.len(), 7);
    assert_eq!(all[0].has_more_sub_meeting, Some(0));
    let sent = fake.requests();
    let asked = sent.last().unwrap();
    assert_eq!(
        asked
            .query
            .get("is_show_all_sub_meetings")
            .map(String::as_str),
        Some("1")
    );
    // A sub-meeting GET does not show is still addressed by its documented id.
    let hidden = (MONDAY_10AM + 6 * 7 * DAY).to_string();
    client
        .cancel_meeting(id, &cancel_one(&hidden))
        .await
        .unwrap();
    assert_eq!(fake.live_occurrences()[id].len(), 6);
}

/// The accessor: single meetings by their own times, series by live sub-meetings, cancelled
/// meetings not at all.
#[tokio::test]
async fn live_occurrences_are_what_a_user_would_see() {
    let fake = FakeTencent::start().await;
    let client = fake.client();
    let mut single = recurring(weekly(1));
    (single.meeting_type, single.recurring_rule) = (0, None);
    let one = client.create_meeting(&single).await.unwrap();
    let series = client.create_meeting(&recurring(weekly(2))).await.unwrap();
    let gone = client.create_meeting(&single).await.unwrap();
    let mut whole = cancel_one("");
    (whole.sub_meeting_id, whole.meeting_type) = (None, Some(0));
    client
        .cancel_meeting(&gone.meeting_id, &whole)
        .await
        .unwrap();
    let live = fake.live_occurrences();
    assert_eq!(live.len(), 2);
    assert_eq!(
        live[&one.meeting_id],
        vec![(MONDAY_10AM, MONDAY_10AM + HOUR)]
    );
    let week = MONDAY_10AM + 7 * DAY;
    assert_eq!(
        live[&series.meeting_id],
        vec![(MONDAY_10AM, MONDAY_10AM + HOUR), (week, week + HOUR)]
    );
}
