//! The lifecycle table end to end, against a real CalDAV server (Radicale; the table itself also on
//! sabre/dav; started by the test) and the fake Tencent server, driving the `calmeet` binary: new →
//! create; moved or renamed → modify the same meeting; cancelled, deleted or untagged → cancel and
//! remove the block; EXDATE, moved override and cancelled override → that one sub-meeting; the
//! mass-deletion guard; the extension of an open-ended series; and after every step a further sync
//! that makes no API call and no PUT; and the recovery of a continuation after the state database
//! is lost.
#![allow(clippy::unwrap_used)]

mod support;

#[path = "support/dav_server.rs"]
mod dav_server;

use std::path::{Path, PathBuf};
use std::time::Duration;

use calmeet::source::caldav::CalDavClient;
use chrono::{DateTime, Timelike, Utc};
use dav_server::DavServer;
use support::cli::{calmeet, text};
use support::fake_tencent::{FakeTencent, Route};

const DAY: i64 = 86_400;

/// The start of the test events: three days ahead, on the hour.
fn base() -> DateTime<Utc> {
    let t = Utc::now() + chrono::Duration::days(3);
    t.with_minute(0)
        .unwrap()
        .with_second(0)
        .unwrap()
        .with_nanosecond(0)
        .unwrap()
}

fn stamp(t: i64) -> String {
    DateTime::from_timestamp(t, 0)
        .unwrap()
        .format("%Y%m%dT%H%M%SZ")
        .to_string()
}

fn vevent(uid: &str, summary: &str, start: i64, extra: &str) -> String {
    format!(
        "BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:{}\r\nDTEND:{}\r\nSUMMARY:{summary}\r\nCATEGORIES:Tencent Meeting\r\n{extra}END:VEVENT\r\n",
        stamp(start),
        stamp(start + 3600)
    )
}

fn calendar(body: &str) -> String {
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//calmeet test//EN\r\n{body}END:VCALENDAR\r\n"
    )
}

struct Setup {
    server: DavServer,
    fake: FakeTencent,
    client: CalDavClient,
    dir: tempfile::TempDir,
    config: PathBuf,
}

impl Setup {
    async fn new(extra_config: &str) -> Self {
        Self::on(DavServer::radicale().await, extra_config).await
    }

    async fn on(server: DavServer, extra_config: &str) -> Self {
        let fake = FakeTencent::start().await;
        let cal_url = server.url_for("work");
        let client =
            CalDavClient::new(cal_url.clone(), server.auth(), Duration::from_secs(10)).unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pw"), &server.password).unwrap();
        let mut cfg = format!(
            "timezone = \"Asia/Shanghai\"\nstate_db = \"state.db\"\n[meeting]\napi_base = \"{}\"\napp_id = \"{}\"\nsecret_id = \"{}\"\nuserid = \"organiser\"\n",
            fake.base_url, fake.app_id, fake.secret_id
        );
        if let Some(sdk) = &fake.sdk_id {
            cfg.push_str(&format!("sdk_id = \"{sdk}\"\n"));
        }
        cfg.push_str(extra_config);
        cfg.push_str(&format!(
            "[[calendar]]\nname = \"work\"\nurl = \"{cal_url}\"\nkind = \"caldav\"\nusername = \"{}\"\npassword_file = \"pw\"\n",
            server.username
        ));
        let config = dir.path().join("config.toml");
        std::fs::write(&config, cfg).unwrap();
        Self {
            server,
            fake,
            client,
            dir,
            config,
        }
    }

    fn href(&self, name: &str) -> String {
        format!("{}{name}.ics", self.server.url_for("work").path())
    }

    async fn put_new(&self, name: &str, body: &str) {
        self.client
            .create(&self.href(name), calendar(body).as_bytes())
            .await
            .unwrap();
    }

    async fn read(&self, name: &str) -> String {
        let obj = self.client.get(&self.href(name)).await.unwrap();
        String::from_utf8(calmeet::event::unfold_bytes(&obj.data)).unwrap()
    }

    async fn edit(&self, name: &str, change: impl Fn(&str) -> String) {
        let href = self.href(name);
        let obj = self.client.get(&href).await.unwrap();
        let changed = change(&String::from_utf8(obj.data).unwrap());
        self.client
            .put(&href, changed.as_bytes(), obj.etag.as_deref().unwrap())
            .await
            .unwrap();
    }

    async fn delete(&self, name: &str) {
        let href = self.href(name);
        let etag = self.client.get(&href).await.unwrap().etag.unwrap();
        self.client.delete(&href, &etag).await.unwrap();
    }

    async fn etags(&self, names: &[&str]) -> Vec<Option<String>> {
        let mut out = Vec::new();
        for n in names {
            out.push(self.client.get(&self.href(n)).await.unwrap().etag);
        }
        out
    }

    async fn sync(&self, args: &[&str]) -> String {
        let mut all = vec!["sync"];
        all.extend_from_slice(args);
        let out = calmeet(&self.config, &self.fake.secret_key, &all).await;
        let t = text(&out);
        assert!(out.status.success(), "{t}");
        t
    }

    /// Two further passes make no API call and change no object.
    async fn assert_quiet(&self, names: &[&str], step: &str) {
        let requests = self.fake.requests().len();
        let etags = self.etags(names).await;
        for _ in 0..2 {
            self.sync(&[]).await;
        }
        let after: Vec<_> = self.fake.requests()[requests..]
            .iter()
            .map(|r| format!("{} {}", r.method, r.uri))
            .collect();
        assert!(
            after.is_empty(),
            "{step}: a quiet pass called the API: {after:?}"
        );
        assert_eq!(self.etags(names).await, etags, "{step}: a quiet pass wrote");
    }

    fn meeting_of(&self, body: &str) -> support::fake_tencent::FakeMeeting {
        let id = body
            .lines()
            .find_map(|l| l.trim_end().strip_prefix("X-CALMEET-MEETING-ID:"))
            .unwrap_or_else(|| panic!("no meeting id in {body}"));
        self.fake.meeting(id).unwrap()
    }

    fn state(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(self.dir.path().join("state.db")).unwrap()
    }
}

fn has_block(body: &str) -> bool {
    body.contains("Tencent Meeting ──") || body.contains("X-CALMEET-MEETING-ID")
}

const USERS: &str =
    "[meeting.users]\n\"Zhang@example.com\" = \"zhangsan\"\n\"lisi@example.com\" = \"lisi\"\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_row_of_the_lifecycle_table() {
    lifecycle_table(Setup::new(USERS).await).await;
}

/// The same table on sabre/dav 1.8 (no sync-collection: time-range listings, multigets that
/// 404 as a whole for a deleted member, REPORT bodies without CRs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_row_of_the_lifecycle_table_on_sabre() {
    lifecycle_table(Setup::on(DavServer::sabre().await, USERS).await).await;
}

async fn lifecycle_table(s: Setup) {
    let b = base().timestamp();
    let people = "ORGANIZER;CN=Zhang:mailto:zhang@example.com\r\nATTENDEE;CN=Li;PARTSTAT=NEEDS-ACTION:MAILTO:LiSi@example.com\r\nATTENDEE:mailto:nobody@example.org\r\n";
    s.put_new("move", &vevent("move@t", "Move me", b, people))
        .await;
    s.put_new("rename", &vevent("rename@t", "Old name", b + 3600 * 2, ""))
        .await;
    s.put_new("cancel", &vevent("cancel@t", "Cancel me", b + DAY, ""))
        .await;
    s.put_new("untag", &vevent("untag@t", "Untag me", b + DAY + 7200, ""))
        .await;
    s.put_new("delete", &vevent("delete@t", "Delete me", b + 2 * DAY, ""))
        .await;
    s.put_new(
        "series",
        &vevent(
            "series@t",
            "Weekly",
            b + 3 * 3600,
            "RRULE:FREQ=WEEKLY;COUNT=8\r\n",
        ),
    )
    .await;
    s.put_new("keep", &vevent("keep@t", "Keep me", b + 3 * DAY, ""))
        .await;
    let names = [
        "move", "rename", "cancel", "untag", "delete", "series", "keep",
    ];

    // New → create, link written back.
    s.sync(&[]).await;
    assert_eq!(s.fake.request_count(Route::Create), 7);
    assert_eq!(s.fake.live_meeting_count(), 7);
    let create = s
        .fake
        .requests()
        .into_iter()
        .filter_map(|r| r.body)
        .find(|b| b["subject"] == "Move me")
        .unwrap();
    assert_eq!(create["userid"], "zhangsan", "mapped ORGANIZER creates");
    assert_eq!(
        create["invitees"],
        serde_json::json!([{"userid": "lisi"}]),
        "mapped ATTENDEE invited, unknown ignored"
    );
    for n in names {
        assert!(has_block(&s.read(n).await), "{n}: link written back");
    }
    // calmeet's own write-back is not a change.
    s.assert_quiet(&names, "after create").await;

    // Moved and renamed → the same meetings are modified; links stay.
    let moved_id = s.meeting_of(&s.read("move").await).meeting_id;
    let renamed_id = s.meeting_of(&s.read("rename").await).meeting_id;
    s.edit("move", |t| {
        t.replace(
            &format!("DTSTART:{}", stamp(b)),
            &format!("DTSTART:{}", stamp(b + DAY + 3600)),
        )
        .replace(
            &format!("DTEND:{}", stamp(b + 3600)),
            &format!("DTEND:{}", stamp(b + DAY + 5400)),
        )
    })
    .await;
    s.edit("rename", |t| {
        t.replace("SUMMARY:Old name", "SUMMARY:New name")
    })
    .await;
    s.sync(&[]).await;
    assert_eq!(s.fake.request_count(Route::Create), 7, "no new meeting");
    assert_eq!(s.fake.request_count(Route::Modify), 2);
    let moved = s.fake.meeting(&moved_id).unwrap();
    assert_eq!(
        (moved.start_time, moved.end_time),
        (b + DAY + 3600, b + DAY + 5400)
    );
    assert_eq!(moved.userid, "zhangsan");
    let modify = s
        .fake
        .requests()
        .into_iter()
        .filter(|r| r.route == Some(Route::Modify) && r.uri.contains(&moved_id))
        .find_map(|r| r.body)
        .unwrap();
    assert_eq!(modify["invitees"], serde_json::json!([{"userid": "lisi"}]));
    assert_eq!(s.fake.meeting(&renamed_id).unwrap().subject, "New name");
    assert_eq!(
        s.meeting_of(&s.read("move").await).meeting_id,
        moved_id,
        "same link"
    );
    assert_eq!(s.meeting_of(&s.read("rename").await).meeting_id, renamed_id);
    s.assert_quiet(&names, "after modify").await;

    // Cancelled, untagged, deleted → cancelled; the block leaves the objects that remain.
    let cancel_id = s.meeting_of(&s.read("cancel").await).meeting_id;
    let untag_id = s.meeting_of(&s.read("untag").await).meeting_id;
    let delete_id = s.meeting_of(&s.read("delete").await).meeting_id;
    s.edit("cancel", |t| {
        t.replace("SUMMARY:Cancel me", "SUMMARY:Cancel me\r\nSTATUS:CANCELLED")
    })
    .await;
    s.edit("untag", |t| t.replace("CATEGORIES:Tencent Meeting\r\n", ""))
        .await;
    s.delete("delete").await;
    s.sync(&[]).await;
    for id in [&cancel_id, &untag_id, &delete_id] {
        assert!(s.fake.meeting(id).unwrap().cancelled, "{id} cancelled");
    }
    assert_eq!(s.fake.live_meeting_count(), 4);
    for n in ["cancel", "untag"] {
        let body = s.read(n).await;
        assert!(!has_block(&body), "{n}: block removed: {body}");
        assert!(body.contains("DTSTART"), "{n}: the event itself stays");
    }
    let remaining = ["move", "rename", "cancel", "untag", "series", "keep"];
    s.assert_quiet(&remaining, "after cancel").await;

    // Single occurrences: EXDATE, an override at other times, a cancelled override.
    let series = s.meeting_of(&s.read("series").await);
    let first = b + 3 * 3600;
    let (second, third, fourth) = (first + 7 * DAY, first + 14 * DAY, first + 21 * DAY);
    s.edit("series", |t| {
        let overrides = format!(
            "{}{}",
            vevent(
                "series@t",
                "Weekly",
                third + 7200,
                &format!("RECURRENCE-ID:{}\r\n", stamp(third))
            ),
            vevent(
                "series@t",
                "Weekly",
                fourth,
                &format!("RECURRENCE-ID:{}\r\nSTATUS:CANCELLED\r\n", stamp(fourth))
            ),
        );
        t.replace(
            "RRULE:FREQ=WEEKLY;COUNT=8\r\n",
            &format!("RRULE:FREQ=WEEKLY;COUNT=8\r\nEXDATE:{}\r\n", stamp(second)),
        )
        .replace("END:VCALENDAR", &format!("{overrides}END:VCALENDAR"))
    })
    .await;
    s.sync(&[]).await;
    let after = s.fake.meeting(&series.meeting_id).unwrap();
    assert!(!after.cancelled, "the series lives on");
    let sub = |id: i64| {
        after
            .sub_meetings
            .iter()
            .find(|m| m.sub_meeting_id == id.to_string())
            .unwrap()
            .clone()
    };
    assert!(sub(second).cancelled, "EXDATE cancels that occurrence");
    assert_eq!(
        (
            sub(third).start_time,
            sub(third).end_time,
            sub(third).cancelled
        ),
        (third + 7200, third + 10800, false),
        "the override moves that occurrence"
    );
    assert!(sub(fourth).cancelled, "a cancelled override cancels it");
    assert_eq!(
        after.sub_meetings.iter().filter(|m| m.cancelled).count(),
        2,
        "no other occurrence touched"
    );
    assert!(!sub(first).cancelled && sub(first).start_time == first);
    s.assert_quiet(&remaining, "after occurrence changes").await;

    // Renaming the series modifies it as a whole; the changed occurrences stay changed (sent
    // again, as a modify of the series may reset them — the fake does).
    s.edit("series", |t| {
        t.replacen("SUMMARY:Weekly\r\n", "SUMMARY:Weekly sync\r\n", 1)
    })
    .await;
    s.sync(&[]).await;
    let after = s.fake.meeting(&series.meeting_id).unwrap();
    assert_eq!(after.subject, "Weekly sync");
    let state = |id: i64| {
        let m = after
            .sub_meetings
            .iter()
            .find(|m| m.sub_meeting_id == id.to_string())
            .unwrap();
        (m.start_time, m.cancelled)
    };
    assert!(state(second).1, "EXDATE still cancelled");
    assert_eq!(state(third), (third + 7200, false), "override still moved");
    assert!(state(fourth).1, "cancelled override still cancelled");
    s.assert_quiet(&remaining, "after renaming the series")
        .await;

    // `status`: subject, next occurrence, meeting code, state, last error per meeting.
    let out = calmeet(&s.config, &s.fake.secret_key, &["status"]).await;
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    let line = t.lines().find(|l| l.contains("Weekly")).unwrap();
    let first_local = DateTime::from_timestamp(first, 0)
        .unwrap()
        .with_timezone(&chrono_tz::Asia::Shanghai)
        .format("%Y-%m-%d %H:%M")
        .to_string();
    assert!(line.contains(&first_local), "next occurrence: {line}");
    assert!(
        line.contains(&calmeet::writeback::group_code(&series.meeting_code)),
        "{line}"
    );
    assert!(line.contains("created"), "{line}");
    let cancelled = t.lines().find(|l| l.contains("Cancel me")).unwrap();
    assert!(cancelled.contains("cancelled"), "{cancelled}");
    let json = calmeet(&s.config, &s.fake.secret_key, &["status", "--json"]).await;
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let row = v["meetings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["uid"] == "series@t" && m["recurrence_id"].is_null())
        .unwrap();
    assert_eq!(row["next"], first);
    assert_eq!(row["meeting_code"], series.meeting_code.as_str());
    assert!(row["last_error"].is_null());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mass_deletion_is_held_once_or_confirmed() {
    let s = Setup::new("").await;
    let b = base().timestamp();
    for i in 0..3 {
        s.put_new(
            &format!("e{i}"),
            &vevent(&format!("e{i}@t"), &format!("Event {i}"), b + i * 3600, ""),
        )
        .await;
    }
    s.sync(&[]).await;
    assert_eq!(s.fake.live_meeting_count(), 3);
    for i in 0..3 {
        s.delete(&format!("e{i}")).await;
    }
    // Looks like an empty calendar: nothing is cancelled, the log says how to confirm.
    let out = s.sync(&[]).await;
    assert_eq!(s.fake.request_count(Route::Cancel), 0, "{out}");
    assert!(out.contains("--confirm-deletions"), "{out}");
    // The next pass sees the same: the deletions go through.
    s.sync(&[]).await;
    assert_eq!(s.fake.request_count(Route::Cancel), 3);
    assert_eq!(s.fake.live_meeting_count(), 0);
    s.assert_quiet(&[], "after confirmed deletion").await;

    // Or at once with --confirm-deletions.
    for i in 3..5 {
        s.put_new(
            &format!("e{i}"),
            &vevent(&format!("e{i}@t"), &format!("Event {i}"), b + i * 3600, ""),
        )
        .await;
    }
    s.sync(&[]).await;
    assert_eq!(s.fake.live_meeting_count(), 2);
    for i in 3..5 {
        s.delete(&format!("e{i}")).await;
    }
    s.sync(&["--confirm-deletions"]).await;
    assert_eq!(s.fake.live_meeting_count(), 0);
    assert_eq!(s.fake.request_count(Route::Cancel), 5);
    s.assert_quiet(&[], "after --confirm-deletions").await;
}

/// Pretends the meeting was created long ago: its stored occurrences begin `days_ago` days
/// before the real ones, and the calendar is due for re-evaluation.
fn age_series(state: &Path, uid: &str, days_ago: i64) {
    let conn = rusqlite::Connection::open(state).unwrap();
    let stored: String = conn
        .query_row(
            "SELECT occurrences FROM events WHERE uid = ?1 AND recurrence_id = -1",
            [uid],
            |r| r.get(0),
        )
        .unwrap();
    let aged: Vec<String> = stored
        .split(',')
        .map(|t| (t.parse::<i64>().unwrap() - days_ago * DAY).to_string())
        .collect();
    conn.execute(
        "UPDATE events SET occurrences = ?1 WHERE uid = ?2 AND recurrence_id = -1",
        rusqlite::params![aged.join(","), uid],
    )
    .unwrap();
    conn.execute("UPDATE calendars SET evaluated_at = NULL", [])
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_ended_series_is_extended_in_place() {
    let s = Setup::new("").await;
    let b = base().timestamp();
    s.put_new(
        "daily",
        &vevent("daily@t", "Daily", b, "RRULE:FREQ=DAILY\r\n"),
    )
    .await;
    s.sync(&[]).await;
    let meeting = s.meeting_of(&s.read("daily").await);
    assert_eq!(meeting.recurring_rule.as_ref().unwrap()["until_count"], 200);
    assert_eq!(meeting.sub_meetings.len(), 200, "created up to the cap");
    let needs: bool = s
        .state()
        .query_row(
            "SELECT needs_extension FROM events WHERE uid = 'daily@t'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(needs);
    s.assert_quiet(&["daily"], "after create").await;

    // 100 days on, half is left: nothing to do.
    age_series(&s.dir.path().join("state.db"), "daily@t", 100);
    s.assert_quiet(&["daily"], "half left").await;
    // 160 days on, 40 of 200 are left: the rule is sent again from the next occurrence.
    age_series(&s.dir.path().join("state.db"), "daily@t", 60);
    s.sync(&[]).await;
    assert_eq!(s.fake.request_count(Route::Create), 1, "no second meeting");
    assert_eq!(s.fake.request_count(Route::Modify), 1);
    let extended = s.fake.meeting(&meeting.meeting_id).unwrap();
    assert_eq!(extended.modifications, 1);
    assert_eq!(
        extended.start_time, b,
        "from the next occurrence that has not ended"
    );
    // A modify carries at most 50 occurrences (the API's documented PUT limit); the series is
    // extended again when a quarter of those remain.
    assert_eq!(extended.recurring_rule.as_ref().unwrap()["until_count"], 50);
    assert_eq!(extended.sub_meetings.len(), 50);
    let stored: String = s
        .state()
        .query_row(
            "SELECT occurrences FROM events WHERE uid = 'daily@t'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        stored.split(',').next().unwrap(),
        b.to_string(),
        "the held window is recorded"
    );
    assert_eq!(
        s.meeting_of(&s.read("daily").await).meeting_id,
        meeting.meeting_id
    );
    s.assert_quiet(&["daily"], "after extension").await;
}

fn local_day(t: i64) -> String {
    DateTime::from_timestamp(t, 0)
        .unwrap()
        .with_timezone(&chrono_tz::Asia::Shanghai)
        .format("%Y-%m-%d")
        .to_string()
}

/// A daily open-ended series created up to 200 occurrences, then 160 days on (state and
/// meeting both aged) with 40 left, against an API that will not extend a series in place; the
/// continuation's create loses its answer. Returns the first meeting and its last occurrence.
async fn continued_with_lost_answer(
    s: &Setup,
    b: i64,
) -> (support::fake_tencent::FakeMeeting, i64) {
    s.put_new(
        "daily",
        &vevent("daily@t", "Daily", b, "RRULE:FREQ=DAILY\r\n"),
    )
    .await;
    s.sync(&[]).await;
    let first = s.meeting_of(&s.read("daily").await);
    assert_eq!(first.sub_meetings.len(), 200);
    s.fake.refuse_in_place_extension(true);
    age_series(&s.dir.path().join("state.db"), "daily@t", 160);
    s.fake.shift_meeting(&first.meeting_id, -160 * DAY);
    s.fake.inject(
        Route::Create,
        support::fake_tencent::Fault::DropResponseAfterApply,
    );
    let out = calmeet(&s.config, &s.fake.secret_key, &["sync"]).await;
    let t = text(&out);
    assert!(!out.status.success(), "the lost answer is reported: {t}");
    assert!(t.contains("refused to extend"), "{t}");
    assert_eq!(
        s.fake.request_count(Route::Modify),
        1,
        "tried in place first"
    );
    assert_eq!(s.fake.request_count(Route::Create), 2);
    let pending: String = s
        .state()
        .query_row(
            "SELECT state FROM segments WHERE uid = 'daily@t'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        pending, "pending",
        "the intent was recorded before the call"
    );
    (first, b + 39 * DAY)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_while_a_continuation_answer_is_lost_cancels_it_too() {
    let s = Setup::new("").await;
    let b = base().timestamp();
    let (first, _) = continued_with_lost_answer(&s, b).await;
    assert_eq!(s.fake.live_meeting_count(), 2, "the lost answer made one");
    s.edit("daily", |t| {
        t.replace("SUMMARY:Daily", "SUMMARY:Daily\r\nSTATUS:CANCELLED")
    })
    .await;
    s.sync(&[]).await;
    assert_eq!(s.fake.live_meeting_count(), 0, "both cancelled");
    assert!(s.fake.meeting(&first.meeting_id).unwrap().cancelled);
    assert_eq!(s.fake.request_count(Route::Create), 2, "nothing created");
    assert!(!has_block(&s.read("daily").await));
    s.assert_quiet(&["daily"], "after cancelling").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_extension_creates_one_labelled_continuation() {
    let s = Setup::new("").await;
    let b = base().timestamp();
    let (first, last_held) = continued_with_lost_answer(&s, b).await;

    // The next pass finds the continuation the lost answer made instead of making another.
    s.sync(&[]).await;
    assert_eq!(s.fake.request_count(Route::Create), 2, "no duplicate");
    assert_eq!(
        s.fake.request_count(Route::Modify),
        1,
        "not tried in place again"
    );
    assert_eq!(s.fake.live_meeting_count(), 2);
    let second = s
        .fake
        .meetings()
        .into_iter()
        .find(|m| m.meeting_id != first.meeting_id)
        .unwrap();
    assert_eq!(second.subject, "Daily");
    assert_eq!(
        second.start_time,
        last_held + DAY,
        "the day after the last held"
    );
    assert_eq!(second.sub_meetings.len(), 200, "capped like a create");
    let body = s.read("daily").await;
    assert_eq!(
        body.matches(&first.join_url).count(),
        2,
        "block + CONFERENCE: {body}"
    );
    assert_eq!(
        body.matches(&second.join_url).count(),
        2,
        "block + CONFERENCE: {body}"
    );
    assert_eq!(body.matches("── Tencent Meeting ──").count(), 1, "{body}");
    let original_label = format!("{} – {}", local_day(b), local_day(last_held));
    let continuation_label = format!("from {}", local_day(last_held + DAY));
    assert!(body.contains(&original_label), "{original_label}: {body}");
    assert!(
        body.contains(&continuation_label),
        "{continuation_label}: {body}"
    );
    assert!(
        body.find(&original_label) < body.find(&continuation_label),
        "in date order: {body}"
    );
    assert_eq!(
        s.meeting_of(&body).meeting_id,
        first.meeting_id,
        "X-CALMEET-MEETING-ID keeps the original meeting"
    );
    s.assert_quiet(&["daily"], "after the continuation").await;

    // `status` lists both meetings.
    let out = calmeet(&s.config, &s.fake.secret_key, &["status"]).await;
    let t = text(&out);
    for m in [&first, &second] {
        let code = calmeet::writeback::group_code(&m.meeting_code);
        assert!(t.contains(&code), "{code} in status: {t}");
    }
    let json = calmeet(&s.config, &s.fake.secret_key, &["status", "--json"]).await;
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let segment = v["meetings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["meeting_id"] == second.meeting_id.as_str())
        .unwrap();
    assert_eq!(segment["segment_start"], last_held + DAY);
    assert_eq!(segment["state"], "created");

    // Renamed: both meetings are modified, each within its dates; no new meeting.
    s.edit("daily", |t| {
        t.replace("SUMMARY:Daily", "SUMMARY:Daily standup")
    })
    .await;
    s.sync(&[]).await;
    assert_eq!(s.fake.request_count(Route::Create), 2);
    assert_eq!(s.fake.request_count(Route::Modify), 3);
    let (a, c) = (
        s.fake.meeting(&first.meeting_id).unwrap(),
        s.fake.meeting(&second.meeting_id).unwrap(),
    );
    assert_eq!(
        (a.subject.as_str(), c.subject.as_str()),
        ("Daily standup", "Daily standup")
    );
    assert_eq!(
        a.sub_meetings.iter().map(|m| m.start_time).max(),
        Some(last_held),
        "the original still ends where the continuation begins"
    );
    assert_eq!(c.start_time, last_held + DAY);
    s.assert_quiet(&["daily"], "after renaming").await;

    // Cancelled: both meetings are cancelled and the block leaves the event.
    s.edit("daily", |t| {
        t.replace(
            "SUMMARY:Daily standup",
            "SUMMARY:Daily standup\r\nSTATUS:CANCELLED",
        )
    })
    .await;
    s.sync(&[]).await;
    assert!(s.fake.meeting(&first.meeting_id).unwrap().cancelled);
    assert!(s.fake.meeting(&second.meeting_id).unwrap().cancelled);
    let body = s.read("daily").await;
    assert!(!has_block(&body), "block removed: {body}");
    assert!(!body.contains(&second.join_url), "{body}");
    s.assert_quiet(&["daily"], "after cancelling").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_continuation_cancelled_elsewhere_leaves_the_block_and_is_made_again_later() {
    let s = Setup::new("").await;
    let b = base().timestamp();
    let (first, last_held) = continued_with_lost_answer(&s, b).await;
    s.sync(&[]).await;
    let second = s
        .fake
        .meetings()
        .into_iter()
        .find(|m| m.meeting_id != first.meeting_id)
        .unwrap();
    // Someone cancels the continuation in the Tencent Meeting app.
    let cancel = calmeet::tencent::types::CancelMeetingRequest {
        userid: "organiser".into(),
        instanceid: 1,
        reason_code: 1,
        reason_detail: "by hand".into(),
        meeting_type: Some(1),
        sub_meeting_id: None,
    };
    s.fake
        .client()
        .cancel_meeting(&second.meeting_id, &cancel)
        .await
        .unwrap();
    s.edit("daily", |t| t.replace("SUMMARY:Daily", "SUMMARY:Daily 2"))
        .await;
    let out = calmeet(&s.config, &s.fake.secret_key, &["sync"]).await;
    let t = text(&out);
    assert!(t.contains("no longer exists"), "{t}");
    s.sync(&[]).await;
    let body = s.read("daily").await;
    assert!(
        !body.contains(&second.join_url),
        "dead link dropped: {body}"
    );
    assert_eq!(body.matches(&first.join_url).count(), 2, "{body}");
    assert!(
        !body.contains(" – "),
        "back to the single-link block: {body}"
    );
    s.assert_quiet(&["daily"], "after the dead continuation")
        .await;
    // When the first meeting runs low again, a new continuation is made from the same date.
    // (After the rename the first meeting holds the 40 days up to where the continuation
    // began; 35 more days on, 5 of them are left.)
    age_series(&s.dir.path().join("state.db"), "daily@t", 35);
    s.fake.shift_meeting(&first.meeting_id, -35 * DAY);
    s.sync(&[]).await;
    let third = s
        .fake
        .meetings()
        .into_iter()
        .find(|m| !m.cancelled && m.meeting_id != first.meeting_id)
        .unwrap();
    assert_ne!(third.meeting_id, second.meeting_id);
    assert_eq!(third.start_time, last_held - 35 * DAY + DAY);
    assert_eq!(third.subject, "Daily 2");
    assert_eq!(s.read("daily").await.matches(&third.join_url).count(), 2);
    s.assert_quiet(&["daily"], "after the new continuation")
        .await;
}

impl Setup {
    /// The state database is lost (a new machine, a deleted file).
    fn lose_state(&self) {
        for f in ["state.db", "state.db-wal", "state.db-shm"] {
            let _ = std::fs::remove_file(self.dir.path().join(f));
        }
    }

    /// The API calls made since `from`, as "METHOD uri".
    fn calls_since(&self, from: usize) -> Vec<String> {
        self.fake.requests()[from..]
            .iter()
            .map(|r| format!("{} {}", r.method, r.uri))
            .collect()
    }
}

/// The continuation made by `continued_with_lost_answer` and found again by the next pass.
async fn continued(s: &Setup, b: i64) -> (FakeMeetingPair, i64) {
    let (first, last_held) = continued_with_lost_answer(s, b).await;
    s.sync(&[]).await;
    let second = s
        .fake
        .meetings()
        .into_iter()
        .find(|m| m.meeting_id != first.meeting_id)
        .unwrap();
    ((first, second), last_held)
}

type FakeMeetingPair = (
    support::fake_tencent::FakeMeeting,
    support::fake_tencent::FakeMeeting,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_state_database_recovers_the_continuation_instead_of_making_another() {
    let s = Setup::new("").await;
    let b = base().timestamp();
    let ((first, second), last_held) = continued(&s, b).await;
    let body = s.read("daily").await;
    let line = format!(
        "X-CALMEET-CONTINUATION;X-CALMEET-FROM={}:{}",
        stamp(last_held + DAY),
        second.meeting_id
    );
    assert_eq!(
        body.lines().filter(|l| l.trim_end() == line).count(),
        1,
        "{line}: {body}"
    );
    let creates = s.fake.request_count(Route::Create);
    let modifies = s.fake.request_count(Route::Modify);
    assert_eq!(creates, 2);

    s.lose_state();
    let etag = s.etags(&["daily"]).await;
    let from = s.fake.requests().len();
    s.sync(&[]).await;
    let calls = s.calls_since(from);
    assert_eq!(calls.len(), 2, "one GET per meeting named: {calls:?}");
    assert!(calls.iter().all(|c| c.starts_with("GET ")), "{calls:?}");
    assert!(calls.iter().any(|c| c.contains(&first.meeting_id)));
    assert!(calls.iter().any(|c| c.contains(&second.meeting_id)));
    assert_eq!(s.etags(&["daily"]).await, etag, "nothing to write");
    let recorded: Vec<(i64, String, String)> = s
        .state()
        .prepare("SELECT segment_start, meeting_id, state FROM segments WHERE uid = 'daily@t'")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        recorded,
        vec![(
            last_held + DAY,
            second.meeting_id.clone(),
            "created".to_owned()
        )]
    );

    // The next pass neither creates, continues nor writes.
    let from = s.fake.requests().len();
    s.sync(&[]).await;
    assert_eq!(s.calls_since(from), Vec::<String>::new());
    assert_eq!(s.etags(&["daily"]).await, etag);
    s.assert_quiet(&["daily"], "after adoption").await;
    assert_eq!(
        s.fake.request_count(Route::Create),
        creates,
        "no new meeting"
    );
    assert_eq!(s.fake.live_meeting_count(), 2);
    // Weeks on, the original runs low: the continuation already holds what follows, so
    // nothing is extended or continued (without the recovered segment this made a second).
    age_series(&s.dir.path().join("state.db"), "daily@t", 35);
    s.assert_quiet(&["daily"], "the original runs low").await;

    // `status` lists both meetings again.
    let out = calmeet(&s.config, &s.fake.secret_key, &["status"]).await;
    let t = text(&out);
    for m in [&first, &second] {
        let code = calmeet::writeback::group_code(&m.meeting_code);
        assert!(t.contains(&code), "{code} in status: {t}");
    }

    // Renamed: both meetings are modified, each within its dates.
    s.edit("daily", |t| {
        t.replace("SUMMARY:Daily", "SUMMARY:Daily standup")
    })
    .await;
    s.sync(&[]).await;
    assert_eq!(s.fake.request_count(Route::Create), creates);
    assert_eq!(s.fake.request_count(Route::Modify), modifies + 2);
    let (a, c) = (
        s.fake.meeting(&first.meeting_id).unwrap(),
        s.fake.meeting(&second.meeting_id).unwrap(),
    );
    assert_eq!(
        (a.subject.as_str(), c.subject.as_str()),
        ("Daily standup", "Daily standup")
    );
    assert_eq!(
        a.sub_meetings.iter().map(|m| m.start_time).max(),
        Some(last_held),
        "the original still ends where the continuation begins"
    );
    assert_eq!(c.start_time, last_held + DAY);
    s.assert_quiet(&["daily"], "after renaming").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_continuation_gone_while_the_state_was_lost_leaves_the_event() {
    let s = Setup::new("").await;
    let b = base().timestamp();
    let ((first, second), _) = continued(&s, b).await;
    let cancel = calmeet::tencent::types::CancelMeetingRequest {
        userid: "organiser".into(),
        instanceid: 1,
        reason_code: 1,
        reason_detail: "by hand".into(),
        meeting_type: Some(1),
        sub_meeting_id: None,
    };
    s.fake
        .client()
        .cancel_meeting(&second.meeting_id, &cancel)
        .await
        .unwrap();
    let creates = s.fake.request_count(Route::Create);
    s.lose_state();
    s.sync(&[]).await;
    assert_eq!(s.fake.request_count(Route::Create), creates, "nothing made");
    let body = s.read("daily").await;
    assert!(
        !body.contains(&second.join_url),
        "dead link dropped: {body}"
    );
    assert!(!body.contains("X-CALMEET-CONTINUATION"), "{body}");
    assert_eq!(body.matches(&first.join_url).count(), 2, "{body}");
    assert_eq!(s.meeting_of(&body).meeting_id, first.meeting_id);
    let (state, needs): (String, bool) = (
        s.state()
            .query_row(
                "SELECT state FROM segments WHERE uid = 'daily@t'",
                [],
                |r| r.get(0),
            )
            .unwrap(),
        s.state()
            .query_row(
                "SELECT needs_extension FROM events WHERE uid = 'daily@t'",
                [],
                |r| r.get(0),
            )
            .unwrap(),
    );
    assert_eq!(state, "cancelled", "remembered, so never looked up again");
    assert!(
        needs,
        "the original continues the series again when it runs low"
    );
    s.assert_quiet(&["daily"], "after dropping the dead continuation")
        .await;
}
