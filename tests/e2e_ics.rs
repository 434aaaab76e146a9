//! End to end: the `calmeet` binary syncs ICS feeds served over real HTTP on loopback against
//! the fake Tencent server, which checks every signature.
#![allow(clippy::unwrap_used)]

mod support;

use std::path::Path;
use std::process::Output;

use chrono::{Duration, Utc};
use support::fake_tencent::{FakeTencent, Fault, Route};
use support::feed::FeedServer;

/// Tomorrow at 10:00 UTC and a weekly series starting the day after, as iCalendar text.
fn feed(summary_suffix: &str) -> String {
    let day = (Utc::now() + Duration::days(1)).format("%Y%m%d");
    let day2 = (Utc::now() + Duration::days(2)).format("%Y%m%d");
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Google Inc//Google Calendar 70.9054//EN\r\nX-WR-TIMEZONE:Asia/Shanghai\r\n\
BEGIN:VEVENT\r\nDTSTART:{day}T020000Z\r\nDTEND:{day}T030000Z\r\nDTSTAMP:20260101T000000Z\r\nUID:single-1@google.com\r\n\
CATEGORIES:腾讯会议\r\nSUMMARY:周会：项目进度同步{summary_suffix}\r\nDESCRIPTION:议程\\, 风险\\n下周计划\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nDTSTART;TZID=Asia/Shanghai:{day2}T093000\r\nDTEND;TZID=Asia/Shanghai:{day2}T094500\r\nRRULE:FREQ=WEEKLY;COUNT=10\r\n\
DTSTAMP:20260101T000000Z\r\nUID:weekly-1@google.com\r\nCATEGORIES:Tencent Meeting\r\nSUMMARY:Stand-up\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nDTSTART:{day}T050000Z\r\nDTEND:{day}T060000Z\r\nDTSTAMP:20260101T000000Z\r\nUID:lunch@google.com\r\n\
SUMMARY:Lunch\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
}

struct Setup {
    dir: tempfile::TempDir,
    secret: String,
}

impl Setup {
    fn new(fake: &FakeTencent, calendars: &[(&str, String)]) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = format!(
            "timezone = \"Asia/Shanghai\"\nstate_db = \"state.db\"\n[meeting]\napi_base = \"{}\"\napp_id = \"{}\"\nsecret_id = \"{}\"\nuserid = \"zhangsan\"\n",
            fake.base_url, fake.app_id, fake.secret_id
        );
        if let Some(sdk) = &fake.sdk_id {
            cfg.push_str(&format!("sdk_id = \"{sdk}\"\n"));
        }
        for (name, url) in calendars {
            cfg.push_str(&format!(
                "[[calendar]]\nname = \"{name}\"\nurl = \"{url}\"\nkind = \"ics\"\n"
            ));
        }
        std::fs::write(dir.path().join("config.toml"), cfg).unwrap();
        Setup {
            dir,
            secret: fake.secret_key.clone(),
        }
    }

    fn config(&self) -> std::path::PathBuf {
        self.dir.path().join("config.toml")
    }

    async fn calmeet(&self, args: &[&str]) -> Output {
        support::cli::calmeet(&self.config(), &self.secret, args).await
    }
}

use support::cli::text;

fn assert_no_secret(o: &Output, secret: &str) {
    assert!(!text(o).contains(secret), "secret leaked: {}", text(o));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feed_becomes_signed_meetings_exactly_once() {
    let fake = FakeTencent::start().await;
    let feeds = FeedServer::start().await;
    feeds.set("/team.ics", feed(""));
    let s = Setup::new(&fake, &[("team", feeds.url("/team.ics"))]);

    let out = s.calmeet(&["sync"]).await;
    assert!(out.status.success(), "{}", text(&out));
    assert_no_secret(&out, &s.secret);
    let meetings = fake.meetings();
    assert_eq!(meetings.len(), 2, "{meetings:?}");
    let single = meetings
        .iter()
        .find(|m| m.subject == "周会：项目进度同步")
        .unwrap();
    assert_eq!(single.meeting_type, 0);
    let weekly = meetings.iter().find(|m| m.subject == "Stand-up").unwrap();
    assert_eq!(weekly.meeting_type, 1);
    let rule = weekly.recurring_rule.as_ref().unwrap();
    assert_eq!(rule["recurring_type"], 2);
    assert_eq!(rule["until_type"], 1);
    assert_eq!(rule["until_count"], 10);
    assert_eq!(weekly.end_time - weekly.start_time, 15 * 60);
    assert!(
        fake.requests().iter().all(|r| r.signature_valid),
        "every request signed correctly"
    );

    // Second pass: the feed answers 304, no API call at all.
    let before = fake.requests().len();
    let out = s.calmeet(&["sync"]).await;
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        fake.requests().len(),
        before,
        "no API call on an unchanged feed"
    );
    assert_eq!(feeds.statuses("/team.ics").last(), Some(&304));

    // Status lists both meetings with their codes.
    let out = s.calmeet(&["status"]).await;
    let shown = text(&out);
    assert!(
        shown.contains("Stand-up") && shown.contains("created"),
        "{shown}"
    );

    // A rename modifies the same meeting, no new create.
    feeds.set("/team.ics", feed(" (renamed)"));
    let creates = fake.request_count(Route::Create);
    let out = s.calmeet(&["sync"]).await;
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(fake.request_count(Route::Create), creates);
    assert!(
        fake.meetings()
            .iter()
            .any(|m| m.subject == "周会：项目进度同步 (renamed)" && m.modifications == 1)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_create_response_never_makes_a_second_meeting() {
    let fake = FakeTencent::start().await;
    let feeds = FeedServer::start().await;
    feeds.set("/team.ics", feed(""));
    let s = Setup::new(&fake, &[("team", feeds.url("/team.ics"))]);
    fake.inject(Route::Create, Fault::DropResponseAfterApply);

    let out = s.calmeet(&["sync"]).await;
    assert_eq!(
        out.status.code(),
        Some(1),
        "an unknown outcome is a failure: {}",
        text(&out)
    );
    assert_eq!(fake.live_meeting_count(), 2, "the server did create both");

    let out = s.calmeet(&["sync"]).await;
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        fake.live_meeting_count(),
        2,
        "reconciled by listing, not created again"
    );
    assert_eq!(fake.request_count(Route::Create), 2);
    assert!(fake.request_count(Route::List) >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_is_retried_and_auth_error_is_not() {
    let fake = FakeTencent::start().await;
    let feeds = FeedServer::start().await;
    feeds.set("/team.ics", feed(""));
    let s = Setup::new(&fake, &[("team", feeds.url("/team.ics"))]);
    fake.inject(Route::Create, Fault::ErrorCode(500, 190_310));
    let out = s.calmeet(&["sync"]).await;
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(fake.live_meeting_count(), 2);
    assert_eq!(
        fake.request_count(Route::Create),
        3,
        "one rate-limited attempt retried"
    );

    // Wrong secret: one attempt per event, a clear message, exit 1, no secret in the output.
    let fake2 = FakeTencent::start().await;
    let mut s2 = Setup::new(&fake2, &[("team", feeds.url("/team.ics"))]);
    s2.secret = "WRONG-secret-value-123".into();
    let out = s2.calmeet(&["sync"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("signature rejected"), "{}", text(&out));
    assert!(!text(&out).contains("WRONG-secret-value-123"));
    assert_eq!(
        fake2.request_count(Route::Create),
        2,
        "no retry of an auth error"
    );
    assert_eq!(fake2.live_meeting_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_feeds_fail_alone() {
    let fake = FakeTencent::start().await;
    let feeds = FeedServer::start().await;
    feeds.set("/good.ics", feed(""));
    let truncated: String = feed("").chars().take(300).collect();
    feeds.set("/truncated.ics", truncated);
    feeds.set("/garbage.ics", vec![0xffu8; 5 * 1024 * 1024]);
    feeds.set("/html.ics", "<html><body>Login required</body></html>");
    feeds.set(
        "/badtz.ics",
        feed("").replace("TZID=Asia/Shanghai", "TZID=Mars/Olympus_Mons"),
    );
    let cals = [
        ("good", feeds.url("/good.ics")),
        ("truncated", feeds.url("/truncated.ics")),
        ("garbage", feeds.url("/garbage.ics")),
        ("html", feeds.url("/html.ics")),
        ("badtz", feeds.url("/badtz.ics")),
        ("missing", feeds.url("/missing.ics")),
    ];
    let s = Setup::new(&fake, &cals);
    let out = s.calmeet(&["sync"]).await;
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(1), "{shown}");
    assert!(
        shown.contains("calendar 'truncated'") && shown.contains("truncated"),
        "{shown}"
    );
    assert!(shown.contains("calendar 'garbage'"), "{shown}");
    assert!(
        shown.contains("calendar 'html'") && shown.contains("not an iCalendar"),
        "{shown}"
    );
    assert!(
        shown.contains("calendar 'badtz' event weekly-1@google.com")
            && shown.contains("Mars/Olympus_Mons"),
        "{shown}"
    );
    assert!(
        shown.contains("calendar 'missing'") && shown.contains("404"),
        "{shown}"
    );
    assert!(!shown.contains("panicked"), "{shown}");
    // good: 2 meetings; badtz: its valid single event still gets one.
    assert_eq!(fake.live_meeting_count(), 3, "{shown}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_changes_nothing_and_needs_no_secret() {
    let fake = FakeTencent::start().await;
    let feeds = FeedServer::start().await;
    feeds.set("/team.ics", feed(""));
    let mut s = Setup::new(&fake, &[("team", feeds.url("/team.ics"))]);
    s.secret = String::new();
    let out = s.calmeet(&["sync", "--dry-run"]).await;
    assert!(out.status.success(), "{}", text(&out));
    let shown = text(&out);
    assert!(
        shown.contains("create")
            && shown.contains("weekly-1@google.com")
            && shown.contains("weekly on ")
            && shown.contains("×10"),
        "{shown}"
    );
    assert!(fake.requests().is_empty());
    assert!(
        !Path::new(&s.dir.path().join("state.db")).exists(),
        "no state written"
    );
}
