//! Operator-facing behaviour of the `calmeet` binary: `[calendar.match] all = true`, config
//! errors with exit 78, crontab schedules and rules in words in the dry run.
#![allow(clippy::unwrap_used)]

mod support;

use chrono::{Duration, Utc};
use support::cli::text;
use support::fake_tencent::FakeTencent;
use support::feed::FeedServer;

/// One tagged and one untagged event tomorrow, and an untagged monthly series starting on the
/// next 2nd Wednesday of a month.
fn feed() -> String {
    use chrono::Datelike;
    let day = (Utc::now() + Duration::days(1)).format("%Y%m%d");
    let second_wednesday = (1..70)
        .map(|d| (Utc::now() + Duration::days(d)).date_naive())
        .find(|d| d.weekday() == chrono::Weekday::Wed && (8..=14).contains(&d.day()))
        .unwrap()
        .format("%Y%m%d");
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n\
BEGIN:VEVENT\r\nDTSTART:{day}T020000Z\r\nDTEND:{day}T030000Z\r\nDTSTAMP:20260101T000000Z\r\nUID:tagged@t\r\n\
CATEGORIES:Tencent Meeting\r\nSUMMARY:Tagged\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nDTSTART:{day}T050000Z\r\nDTEND:{day}T060000Z\r\nDTSTAMP:20260101T000000Z\r\nUID:lunch@t\r\n\
SUMMARY:Lunch\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nDTSTART:{second_wednesday}T070000Z\r\nDTEND:{second_wednesday}T080000Z\r\nDTSTAMP:20260101T000000Z\r\nUID:review@t\r\n\
RRULE:FREQ=MONTHLY;BYDAY=2WE;COUNT=5\r\nSUMMARY:Review\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
}

/// A config with one ICS calendar, `extra` appended to the file, in a temp dir.
fn setup(fake: &FakeTencent, url: &str, top: &str, extra: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let cfg = format!(
        "{top}timezone = \"UTC\"\nstate_db = \"state.db\"\n[meeting]\napi_base = \"{}\"\napp_id = \"{}\"\nsecret_id = \"{}\"\nuserid = \"zhangsan\"\n\
[[calendar]]\nname = \"team\"\nurl = \"{url}\"\nkind = \"ics\"\n{extra}",
        fake.base_url, fake.app_id, fake.secret_id
    );
    std::fs::write(dir.path().join("config.toml"), cfg).unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn match_all_takes_untagged_events_and_rules_read_as_words() {
    let fake = FakeTencent::start().await;
    let feeds = FeedServer::start().await;
    feeds.set("/team.ics", feed());
    let url = feeds.url("/team.ics");

    let tagged_only = setup(&fake, &url, "", "");
    let out = support::cli::calmeet(
        &tagged_only.path().join("config.toml"),
        "",
        &["sync", "--dry-run"],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("tagged@t") && !text(&out).contains("lunch@t"),
        "{}",
        text(&out)
    );

    let all = setup(
        &fake,
        &url,
        "schedule = \"*/5 * * * *\"\n",
        "[calendar.match]\nall = true\n",
    );
    let out =
        support::cli::calmeet(&all.path().join("config.toml"), "", &["sync", "--dry-run"]).await;
    let shown = text(&out);
    assert!(out.status.success(), "{shown}");
    for uid in ["tagged@t", "lunch@t", "review@t"] {
        assert!(shown.contains(uid), "{uid} missing: {shown}");
    }
    assert!(shown.contains("monthly on the 2nd Wednesday ×5"), "{shown}");
    assert!(fake.requests().is_empty());
}

/// A config mistake exits 78 with one line naming the key and the fix; nothing is fetched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_mistakes_exit_78_naming_the_key() {
    let fake = FakeTencent::start().await;
    let feeds = FeedServer::start().await;
    feeds.set("/team.ics", feed());
    let url = feeds.url("/team.ics");
    let cases = [
        (
            "",
            "[calendar.match]\nkeywords = [\"#tm\", \"\"]\n",
            "calendar[0].match.keywords[1]",
            "all = true",
        ),
        (
            "",
            "[calendar.match]\ncategories = [\"\"]\n",
            "calendar[0].match.categories[0]",
            "all = true",
        ),
        ("schedule = \"*/5 * * *\"\n", "", "schedule", "crontab line"),
        (
            "schedule = \"61 * * * *\"\n",
            "",
            "schedule",
            "minute field",
        ),
    ];
    for (top, extra, key, fix) in cases {
        let dir = setup(&fake, &url, top, extra);
        for args in [&["sync", "--dry-run"][..], &["check"][..]] {
            let out = support::cli::calmeet(&dir.path().join("config.toml"), "", args).await;
            let shown = text(&out);
            assert_eq!(
                out.status.code(),
                Some(78),
                "{args:?} {extra}{top}: {shown}"
            );
            assert!(shown.contains(key) && shown.contains(fix), "{shown}");
            assert_eq!(shown.trim().lines().count(), 1, "one line: {shown}");
        }
    }
    assert!(fake.requests().is_empty());
}
