//! Issue #11, the rules without I/O: the backoff across passes, quota holds, the subject cut,
//! which rows need attention, what counts as a change of the create request, reading a
//! meeting back as cancelled, the config checks, and the live-recurring count.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use calmeet::config::Config;
use calmeet::store::{EventKey, EventRow, RowState};
use calmeet::sync::apply::{
    create_request_for, is_cancelled, quota_reset, request_hash, retry_delay,
};
use calmeet::sync::plan::{Desired, MeetingOptions, SUBJECT_MAX_BYTES, subject_of};
use calmeet::sync::{count_live_recurring, needs_attention, recurring_limit_warnings};
use calmeet::tencent::types::MeetingInfo;
use chrono::{DateTime, Utc};
use proptest::prelude::*;
use unicode_segmentation::UnicodeSegmentation;

#[test]
fn backoff_grows_from_minutes_to_hours_capped_and_jittered() {
    let (first, max) = (300, 6 * 3600);
    let table = [
        (1, 300),
        (2, 600),
        (3, 1200),
        (5, 4800),
        (7, 19_200),
        (8, 21_600),
        (40, 21_600),
    ];
    for (attempts, full) in table {
        for _ in 0..50 {
            let d = retry_delay(first, max, attempts);
            assert!(
                d <= full && d >= full - full / 4,
                "{attempts}: {d} vs {full}"
            );
        }
    }
    assert_eq!(retry_delay(0, 0, 3), 0);
}

#[test]
fn quota_answers_hold_creates_until_the_quota_can_have_reset() {
    // 2026-03-31 20:30 UTC = 2026-04-01 04:30 in Beijing.
    let now = DateTime::parse_from_rfc3339("2026-03-31T20:30:10Z")
        .unwrap()
        .timestamp();
    let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().timestamp();
    assert_eq!(quota_reset(500_029, now), now + 3600);
    assert_eq!(quota_reset(190_311, now), at("2026-04-02T00:00:00+08:00"));
    assert_eq!(quota_reset(500_168, now), at("2026-05-01T00:00:00+08:00"));
    assert_eq!(quota_reset(9008, now), at("2026-03-31T20:32:00Z"));
    let december = at("2026-12-15T12:00:00Z");
    assert_eq!(
        quota_reset(500_168, december),
        at("2027-01-01T00:00:00+08:00")
    );
}

#[test]
fn subjects_are_cut_at_384_bytes_on_a_grapheme_boundary() {
    let family = "👨‍👩‍👧‍👦"; // one cluster, 25 bytes, 7 chars
    let table: &[(&str, usize, &str)] = &[
        ("  Weekly sync  ", 100, "Weekly sync"),
        ("", 100, "(no title)"),
        ("e\u{301}e\u{301}e\u{301}", 4, "e\u{301}e\u{301}"),
        ("🇨🇳🇯🇵", 3, "🇨🇳"),
    ];
    for (summary, max, want) in table {
        assert_eq!(subject_of(summary, *max), *want, "{summary:?}");
    }
    // 384 bytes of CJK is 128 characters: a 200-character title stops there.
    let cjk = "会".repeat(200);
    assert_eq!(subject_of(&cjk, 384), "会".repeat(128));
    // Families are never split: 15 of them are 375 bytes, the 16th would pass 384.
    let families = family.repeat(20);
    let cut = subject_of(&families, 384);
    assert_eq!(cut, family.repeat(15));
}

proptest! {
    #[test]
    fn any_subject_fits_the_api_and_is_a_grapheme_prefix(s in "\\PC{0,300}", max in 10usize..=384) {
        let cut = subject_of(&s, max);
        prop_assert!(cut.len() <= SUBJECT_MAX_BYTES);
        prop_assert!(cut.chars().count() <= max);
        let trimmed = s.trim();
        if !trimmed.is_empty() {
            prop_assert!(trimmed.starts_with(&cut));
            let boundaries: Vec<usize> = trimmed.grapheme_indices(true).map(|(i, _)| i).collect();
            prop_assert!(cut.len() == trimmed.len() || boundaries.contains(&cut.len()));
        }
    }
}

#[test]
fn a_subject_max_that_can_never_fit_is_a_config_error() {
    let cfg = |n: usize| {
        format!(
            "[meeting]\napp_id = \"1\"\nsecret_id = \"id\"\nuserid = \"alice\"\nsubject_max_chars = {n}\n\
             [[calendar]]\nname = \"t\"\nurl = \"https://dav.example.com/c/\"\nkind = \"caldav\"\n"
        )
    };
    assert!(Config::parse(&cfg(384), "t.toml", Path::new("/")).is_ok());
    let err = Config::parse(&cfg(385), "t.toml", Path::new("/"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("subject_max_chars") && err.contains("384 bytes"),
        "{err}"
    );
}

fn row(state: RowState, error: Option<&str>, end: i64) -> EventRow {
    let key = EventKey {
        calendar: "work".into(),
        uid: "u1@example.com".into(),
        recurrence_id: None,
    };
    let mut r = EventRow::new(key, state, 0);
    r.subject = "Standup".into();
    r.last_error = error.map(str::to_owned);
    r.end_at = Some(end);
    r.series_end_at = Some(end);
    r
}

#[test]
fn rows_need_attention_while_their_event_lacks_its_meeting_and_is_not_over() {
    let now = 1_000;
    let failed = row(RowState::Failed, Some("refused (190004)"), 2_000);
    assert!(needs_attention(&failed, now).unwrap().contains("190004"));
    assert_eq!(needs_attention(&failed, 2_000), None, "over: no longer");
    let mut pending = row(RowState::Pending, Some("may or may not"), 2_000);
    assert_eq!(
        needs_attention(&pending, now),
        None,
        "a create about to be sent"
    );
    pending.attempts = 1;
    assert!(
        needs_attention(&pending, now)
            .unwrap()
            .contains("looks for it")
    );
    let stale = row(RowState::Created, Some("update failed"), 2_000);
    assert!(
        needs_attention(&stale, now)
            .unwrap()
            .contains("does not match")
    );
    for fine in [
        row(RowState::Created, None, 2_000),
        row(RowState::Cancelled, Some("gone"), 2_000),
        row(RowState::Skipped, Some("all-day"), 2_000),
    ] {
        assert_eq!(needs_attention(&fine, now), None, "{fine:?}");
    }
}

fn desired() -> Desired {
    let start: DateTime<Utc> = DateTime::from_timestamp(1_900_000_000, 0).unwrap();
    Desired {
        subject: "Standup".into(),
        start,
        end: start + chrono::Duration::hours(1),
        rule: None,
        series_end: start + chrono::Duration::hours(1),
        truncated: false,
        occurrences: vec![start],
        userid: "alice".into(),
        invitees: None,
        time_zone: Some("Asia/Shanghai".into()),
        hosts: None,
        options: MeetingOptions {
            instanceid: 1,
            ..MeetingOptions::default()
        },
        fingerprint: "fp".into(),
    }
}

#[test]
fn the_request_hash_follows_what_shapes_the_request_but_not_the_next_occurrence() {
    let base = request_hash(&create_request_for(&desired()));
    let mut later = desired();
    later.start += chrono::Duration::days(7);
    later.end += chrono::Duration::days(7);
    assert_eq!(request_hash(&create_request_for(&later)), base);
    // The options come resolved from `[calendar.meeting]` over `[meeting]`: any config that
    // shapes the request changes the hash.
    let mut with_password = desired();
    with_password.options.password = Some("1234".into());
    let mut with_settings = desired();
    with_settings
        .options
        .settings
        .insert("mute_enable_join".into(), serde_json::Value::Bool(true));
    let mut other_instance = desired();
    other_instance.options.instanceid = 2;
    let mut invited = desired();
    invited.invitees = Some(vec!["lisi".into()]);
    let mut renamed = desired();
    renamed.subject = "Retro".into();
    let mut creator = desired();
    creator.userid = "bob".into();
    for changed in [
        with_password,
        with_settings,
        other_instance,
        invited,
        renamed,
        creator,
    ] {
        assert_ne!(request_hash(&create_request_for(&changed)), base);
    }
}

#[test]
fn a_meeting_reads_back_as_cancelled_by_state_or_by_occurrence_status() {
    let info = |json: &str| serde_json::from_str::<MeetingInfo>(json).unwrap();
    assert!(is_cancelled(
        &info(r#"{"meeting_id":"1","status":"MEETING_STATE_CANCELLED"}"#),
        None
    ));
    assert!(!is_cancelled(
        &info(r#"{"meeting_id":"1","status":"MEETING_STATE_INIT"}"#),
        None
    ));
    let series = info(
        r#"{"meeting_id":"1","status":"MEETING_STATE_INIT","sub_meetings":[
            {"sub_meeting_id":"10","status":1},{"sub_meeting_id":"20","status":"0"}]}"#,
    );
    assert!(is_cancelled(&series, Some("10")));
    assert!(!is_cancelled(&series, Some("20")));
    assert!(!is_cancelled(&series, None));
}

#[test]
fn live_recurring_meetings_are_counted_per_creator_and_warned_from_45() {
    let mut rows = Vec::new();
    for i in 0..47 {
        let mut r = row(RowState::Created, None, 10_000);
        r.key.uid = format!("u{i}");
        r.recurring = true;
        r.userid = Some(if i < 45 { "alice" } else { "bob" }.into());
        rows.push(r);
    }
    let mut over = row(RowState::Created, None, 10);
    over.recurring = true;
    over.userid = Some("alice".into());
    rows.push(over);
    let mut single = row(RowState::Created, None, 10_000);
    single.userid = Some("alice".into());
    rows.push(single);
    let counts = count_live_recurring(rows.iter(), 100);
    assert_eq!(counts["alice"], 45);
    assert_eq!(counts["bob"], 2);
    let warnings = recurring_limit_warnings(&counts);
    assert_eq!(warnings.len(), 1);
    assert!(
        warnings[0].contains("'alice' has 45 live recurring meetings"),
        "{warnings:?}"
    );
}
