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

#[path = "support/dav_server.rs"]
mod dav_server;

/// `password_command` against Radicale (htpasswd): the first run prints a stale password, the
/// 401 makes calmeet run it once more in the same pass, and the pass succeeds. A command that
/// keeps giving a wrong password runs twice per pass and fails the calendar; one that fails or
/// hangs fails it with its exit status or the time limit, never its output. `secret_key_command`
/// signs the API calls. No secret reaches the output at trace level.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_from_commands() {
    let dav = dav_server::DavServer::radicale().await;
    let fake = FakeTencent::start().await;
    let cal_url = dav.url_for("work");
    let client = calmeet::source::caldav::CalDavClient::new(
        cal_url.clone(),
        dav.auth(),
        std::time::Duration::from_secs(20),
    )
    .unwrap();
    let day = (Utc::now() + Duration::days(1)).format("%Y%m%d");
    let event = format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:cmd@t\r\n\
DTSTAMP:20260101T000000Z\r\nDTSTART:{day}T020000Z\r\nDTEND:{day}T030000Z\r\nSUMMARY:Via command\r\n\
CATEGORIES:Tencent Meeting\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    );
    let href = format!("{}cmd.ics", cal_url.path());
    client.create(&href, event.as_bytes()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("runs");
    std::fs::write(dir.path().join("key"), format!("{}\n", fake.secret_key)).unwrap();
    let write = |password_command: &str, timeout: u32| {
        let cfg = format!(
            "timezone = \"UTC\"\nstate_db = \"state.db\"\n[meeting]\napi_base = \"{}\"\napp_id = \"{}\"\n\
secret_id = \"{}\"\nuserid = \"zhangsan\"\nreconcile_grace_secs = 0\nsecret_key_command = [\"cat\", \"{}\"]\n\
[[calendar]]\nname = \"work\"\nurl = \"{}\"\nkind = \"caldav\"\nusername = \"{}\"\ntimeout_secs = {timeout}\n\
password_command = {password_command}\n",
            fake.base_url,
            fake.app_id,
            fake.secret_id,
            dir.path().join("key").display(),
            dav.url_for("work"),
            dav.username,
        );
        let sdk = fake
            .sdk_id
            .as_ref()
            .map(|s| format!("sdk_id = \"{s}\"\n"))
            .unwrap_or_default();
        let cfg = cfg.replacen("[[calendar]]", &format!("{sdk}[[calendar]]"), 1);
        std::fs::write(dir.path().join("config.toml"), cfg).unwrap();
        let _ = std::fs::remove_file(&runs);
    };
    let runs_of = || {
        std::fs::read_to_string(&runs)
            .map(|s| s.lines().count())
            .unwrap_or(0)
    };
    let sync = || async {
        support::cli::calmeet_env(
            &dir.path().join("config.toml"),
            "not-the-key",
            &["sync"],
            &[("RUST_LOG", "calmeet=trace")],
        )
        .await
    };
    let no_secret = |shown: &str| {
        for s in [
            dav.password.as_str(),
            fake.secret_key.as_str(),
            "stale-pw",
            "helper-said",
        ] {
            assert!(!shown.contains(s), "{s} leaked: {shown}");
        }
    };
    // A stale secret first, the right one when asked again.
    let runs_path = runs.display().to_string();
    write(
        &format!(
            "[\"sh\", \"-c\", \"echo run >> {runs_path}; if [ $(wc -l < {runs_path}) -gt 1 ]; then echo '{}'; else echo stale-pw; fi\"]",
            dav.password
        ),
        20,
    );
    let out = sync().await;
    let shown = text(&out);
    assert!(out.status.success(), "{shown}");
    assert_eq!(runs_of(), 2, "once, then once more after the 401");
    no_secret(&shown);
    assert!(
        !fake.requests().is_empty() || shown.contains("0 actions"),
        "{shown}"
    );

    // Always wrong: two runs in the pass, the calendar fails with the 401, exit 1.
    write(
        &format!("[\"sh\", \"-c\", \"echo run >> {runs_path}; echo stale-pw\"]"),
        20,
    );
    let out = sync().await;
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(1), "{shown}");
    assert!(shown.contains("401"), "{shown}");
    assert_eq!(runs_of(), 2);
    no_secret(&shown);

    // A failing and a hanging command: the status or the limit, never the output.
    let failing = "[\"sh\", \"-c\", \"echo helper-said; echo helper-said >&2; exit 3\"]";
    let hanging = "[\"sh\", \"-c\", \"echo helper-said; exec sleep 30\"]";
    for (cmd, want) in [(failing, "exit status 3"), (hanging, "within 2 s")] {
        write(cmd, 2);
        let started = std::time::Instant::now();
        let out = sync().await;
        let shown = text(&out);
        assert_eq!(out.status.code(), Some(1), "{shown}");
        assert!(
            shown.contains("password_command") && shown.contains(want),
            "{shown}"
        );
        assert!(shown.contains("work"), "names the calendar: {shown}");
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
        no_secret(&shown);
    }
}

/// `status` says each meeting's rule in words; `status --json` keeps the machine form. The
/// next pass is quiet.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_says_rules_in_words_and_json_keeps_the_machine_form() {
    let fake = FakeTencent::start().await;
    let feeds = FeedServer::start().await;
    feeds.set("/team.ics", feed());
    let url = feeds.url("/team.ics");
    let sdk = fake
        .sdk_id
        .as_ref()
        .map(|s| format!("sdk_id = \"{s}\"\n"))
        .unwrap_or_default();
    let dir = setup(&fake, &url, "", "[calendar.match]\nall = true\n");
    let cfg = dir.path().join("config.toml");
    let text_cfg = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(
        &cfg,
        text_cfg.replacen("[[calendar]]", &format!("{sdk}[[calendar]]"), 1),
    )
    .unwrap();
    let out = support::cli::calmeet(&cfg, &fake.secret_key, &["sync"]).await;
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(fake.live_meeting_count(), 3);

    let out = support::cli::calmeet(&cfg, &fake.secret_key, &["status"]).await;
    let shown = text(&out);
    assert!(shown.contains("REPEATS"), "{shown}");
    assert!(shown.contains("monthly on the 2nd Wednesday ×5"), "{shown}");
    assert!(shown.contains("single"), "{shown}");
    assert!(!shown.contains("recurring_type"), "{shown}");

    let out = support::cli::calmeet(&cfg, &fake.secret_key, &["status", "--json"]).await;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let review = v["meetings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["uid"] == "review@t")
        .unwrap();
    assert_eq!(review["rule"]["recurring_type"], 5, "{review}");
    assert_eq!(review["rule"]["customized_recurring_type"], 2, "{review}");
    assert_eq!(review["rule"]["until_count"], 5, "{review}");

    let calls = fake.requests().len();
    let out = support::cli::calmeet(&cfg, &fake.secret_key, &["sync"]).await;
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(fake.requests().len(), calls, "the next pass is quiet");
}
