//! RFC 6578 change lists that are cut short or expire (issue #13 items 4, 5, 7, 8), against
//! a server of our own that truncates (`507` for the collection plus a continuation token,
//! §3.6) and refuses old tokens (`DAV:valid-sync-token`, §3.2) exactly as the RFC describes,
//! without tombstones in a token-less listing (as sabre/dav: Nextcloud, Baikal). Every run
//! ends with every meeting right, a quiet pass after it (no API call, no calendar write, no
//! download), and a failure still reported on the pass after it.
#![allow(clippy::unwrap_used)]

mod support;

#[path = "support/dav_sync.rs"]
mod dav_sync;

use std::collections::BTreeSet;

use calmeet::sync::{Engine, PassReport, SyncOptions};
use chrono::Utc;
use dav_sync::SyncServer;
use support::fake_tencent::FakeTencent;

type TestEngine = Engine<calmeet::tencent::TencentClient>;

struct Setup {
    server: SyncServer,
    fake: FakeTencent,
    engine: TestEngine,
    _dir: tempfile::TempDir,
}

fn name(i: usize) -> String {
    format!("ev-{i}.ics")
}

fn ics(i: usize, summary: &str) -> String {
    let day = (Utc::now() + chrono::Duration::days(2 + i as i64)).format("%Y%m%d");
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:sync-{i}\r\n\
DTSTAMP:20260101T000000Z\r\nDTSTART:{day}T020000Z\r\nDTEND:{day}T023000Z\r\nSUMMARY:{summary}\r\n\
CATEGORIES:Tencent Meeting\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
}

async fn setup(events: usize) -> Setup {
    let server = SyncServer::start().await;
    for i in 0..events {
        server.put(&name(i), &ics(i, &format!("Event {i}")));
    }
    let fake = FakeTencent::start().await;
    let dir = tempfile::tempdir().unwrap();
    let engine = support::engine::caldav_engine(dir.path(), &fake, &server.url(), "u", "p");
    Setup {
        server,
        fake,
        engine,
        _dir: dir,
    }
}

async fn pass(s: &Setup, opts: SyncOptions) -> PassReport {
    let report = s.engine.run_pass(opts).await;
    assert!(!report.failed(), "{:?}", report.calendars);
    report
}

/// Subjects of the live meetings.
fn live(s: &Setup) -> BTreeSet<String> {
    s.fake
        .meetings()
        .into_iter()
        .filter(|m| !m.cancelled)
        .map(|m| m.subject)
        .collect()
}

fn subjects(v: &[&str]) -> BTreeSet<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

/// A pass that sends no API request, writes nothing and downloads nothing.
async fn quiet_pass(s: &Setup) {
    let api = s.fake.requests().len();
    s.server.clear_log();
    pass(s, SyncOptions::default()).await;
    assert_eq!(
        s.fake.requests().len(),
        api,
        "the quiet pass called the API"
    );
    let log = s.server.log();
    assert!(
        !log.iter()
            .any(|(m, d)| m == "PUT" || d.starts_with("multiget")),
        "the quiet pass wrote or downloaded: {log:?}"
    );
}

/// A user's edit of an event's title, keeping what calmeet wrote into it.
fn rename(s: &Setup, i: usize, summary: &str) {
    let text = s.server.get(&name(i)).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("SUMMARY:"))
        .unwrap()
        .to_owned();
    s.server.put(
        &name(i),
        &text.replace(&line, &format!("SUMMARY:{summary}")),
    );
}

fn truncated_answers(s: &Setup) -> usize {
    s.server
        .log()
        .iter()
        .filter(|(_, d)| d.ends_with(", 507"))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncated_change_list_is_followed_to_the_end_and_every_meeting_is_right() {
    let s = setup(5).await;
    s.server.set_limit(2);
    pass(&s, SyncOptions::default()).await;
    // The complete listing came in three pages: 2 + 2 + 1.
    assert_eq!(truncated_answers(&s), 2, "{:?}", s.server.log());
    assert_eq!(
        live(&s),
        subjects(&["Event 0", "Event 1", "Event 2", "Event 3", "Event 4"])
    );
    // calmeet's own five write-backs come back as a truncated change list: its cache knows
    // their ETags, so nothing is downloaded and nothing changes.
    quiet_pass(&s).await;
    assert!(truncated_answers(&s) >= 2, "{:?}", s.server.log());
    quiet_pass(&s).await;

    // Changes spread over several pages: three renames, a deletion, a new event.
    rename(&s, 1, "Renamed 1");
    rename(&s, 2, "Renamed 2");
    s.server.delete(&name(4));
    rename(&s, 3, "Renamed 3");
    s.server.put(&name(5), &ics(5, "Event 5"));
    s.server.clear_log();
    pass(&s, SyncOptions::default()).await;
    assert!(truncated_answers(&s) >= 2, "{:?}", s.server.log());
    assert_eq!(
        live(&s),
        subjects(&["Event 0", "Renamed 1", "Renamed 2", "Renamed 3", "Event 5"])
    );
    assert_eq!(s.fake.meetings().len(), 6, "no meeting was created twice");
    let text = s.server.get(&name(5)).unwrap();
    assert!(text.contains("X-CALMEET-MEETING-ID"), "{text}");
    quiet_pass(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_token_relists_and_deletes_what_the_complete_listing_lacks() {
    let s = setup(4).await;
    pass(&s, SyncOptions::default()).await;
    quiet_pass(&s).await;
    // The user deletes an event; then the server forgets every token it gave (and, as
    // sabre/dav, lists no tombstones in the complete listing that follows). Its answers are
    // also cut short, so the re-listing comes in pages.
    s.server.delete(&name(3));
    s.server.expire_tokens();
    s.server.set_limit(2);
    s.server.clear_log();
    pass(&s, SyncOptions::default()).await;
    let log = s.server.log();
    assert!(log.iter().any(|(_, d)| d == "sync 403"), "{log:?}");
    assert!(
        log.iter().any(|(_, d)| d.starts_with("sync since None")),
        "{log:?}"
    );
    assert_eq!(live(&s), subjects(&["Event 0", "Event 1", "Event 2"]));
    quiet_pass(&s).await;
    quiet_pass(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletions_found_by_a_relisting_go_through_the_mass_deletion_guard() {
    let s = setup(4).await;
    pass(&s, SyncOptions::default()).await;
    for i in 1..4 {
        s.server.delete(&name(i));
    }
    s.server.expire_tokens();
    let report = pass(&s, SyncOptions::default()).await;
    let plan = report.calendars[0].plan.join("\n");
    assert!(plan.contains("hold"), "{plan}");
    assert_eq!(
        live(&s).len(),
        4,
        "the guard let 3 of 4 cancellations through"
    );
    let report = pass(
        &s,
        SyncOptions {
            confirm_deletions: true,
            ..SyncOptions::default()
        },
    )
    .await;
    assert!(!report.calendars[0].plan.is_empty());
    assert_eq!(live(&s), subjects(&["Event 0"]));
    quiet_pass(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_without_sync_collection_is_not_asked_again() {
    let s = setup(2).await;
    s.server.set_sync_collection(false);
    pass(&s, SyncOptions::default()).await;
    assert_eq!(live(&s), subjects(&["Event 0", "Event 1"]));
    let refused = |s: &Setup| {
        s.server
            .log()
            .iter()
            .filter(|(_, d)| d == "sync refused")
            .count()
    };
    assert_eq!(refused(&s), 1, "{:?}", s.server.log());
    // Passes with a change (calmeet's own write-backs, then a user's edit) list by time
    // range without asking for sync-collection again.
    s.server.clear_log();
    pass(&s, SyncOptions::default()).await;
    rename(&s, 0, "Renamed 0");
    pass(&s, SyncOptions::default()).await;
    assert_eq!(live(&s), subjects(&["Renamed 0", "Event 1"]));
    assert_eq!(refused(&s), 0, "{:?}", s.server.log());
    assert!(
        s.server.log().iter().any(|(_, d)| d == "calendar-query"),
        "{:?}",
        s.server.log()
    );
    assert_eq!(
        s.engine.store.calendar("work").unwrap().sync_collection,
        Some(false)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_change_list_is_reported_again_on_the_next_pass() {
    let s = setup(2).await;
    pass(&s, SyncOptions::default()).await;
    rename(&s, 0, "Renamed 0");
    // The server now refuses sync-collection outright for a calendar that had a token: an
    // error, not a silent switch that would lose the change list.
    s.server.set_sync_collection(false);
    for _ in 0..2 {
        let report = s.engine.run_pass(SyncOptions::default()).await;
        assert!(report.failed(), "{:?}", report.calendars);
        let err = report.calendars[0].error.clone().unwrap();
        assert!(err.contains("calendar 'work'"), "{err}");
    }
    assert_eq!(live(&s), subjects(&["Event 0", "Event 1"]));
    s.server.set_sync_collection(true);
    pass(&s, SyncOptions::default()).await;
    assert_eq!(live(&s), subjects(&["Renamed 0", "Event 1"]));
    quiet_pass(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_back_that_meets_an_edit_caches_it_and_plans_from_it_without_downloading() {
    let s = setup(1).await;
    // The user renames the event just before calmeet's PUT: 412, re-read, re-patch.
    s.server
        .race_next_put(&name(0), &ics(0, "Renamed in the race"));
    pass(&s, SyncOptions::default()).await;
    let text = s.server.get(&name(0)).unwrap();
    assert!(
        text.contains("Renamed in the race") && text.contains("X-CALMEET-MEETING-ID"),
        "both edits kept: {text}"
    );
    // The next pass plans from the version the write-back read (no download: the cache has
    // it) and renames the meeting.
    s.server.clear_log();
    pass(&s, SyncOptions::default()).await;
    let log = s.server.log();
    assert!(
        !log.iter()
            .any(|(m, d)| m == "PUT" || d.starts_with("multiget")),
        "{log:?}"
    );
    assert_eq!(live(&s), subjects(&["Renamed in the race"]));
    quiet_pass(&s).await;
}

/// Waits until the wall clock is early in a second, so that what follows (a pass of a few
/// tens of milliseconds and an edit) happens within one second.
async fn start_of_a_second() {
    loop {
        let ms = Utc::now().timestamp_subsec_millis();
        if ms < 50 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(u64::from(1000 - ms))).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_coarse_ctag_read_in_the_second_of_an_own_write_is_checked_once_more() {
    let s = setup(0).await;
    s.server.set_coarse_ctag(true);
    start_of_a_second().await;
    s.server.put(&name(0), &ics(0, "Event 0"));
    // Creates the meeting and writes the link back; the user edits in the same second.
    pass(&s, SyncOptions::default()).await;
    rename(&s, 0, "Edited in the same second");
    pass(&s, SyncOptions::default()).await;
    assert_eq!(live(&s), subjects(&["Edited in the same second"]));
    quiet_pass(&s).await;
    // Once the marker was read after the write, an idle poll is one PROPFIND again.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    s.server.clear_log();
    let report = pass(&s, SyncOptions::default()).await;
    let methods: Vec<String> = s.server.log().into_iter().map(|(m, _)| m).collect();
    assert!(report.calendars[0].unchanged, "{:?}", report.calendars);
    assert_eq!(methods, ["PROPFIND"], "{:?}", s.server.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moved_occurrences_count_as_written_back_and_the_next_pass_is_idle() {
    let s = setup(0).await;
    let day = |d: i64| (Utc::now() + chrono::Duration::days(d)).format("%Y%m%d");
    let series = format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:series\r\n\
DTSTAMP:20260101T000000Z\r\nDTSTART:{d}T020000Z\r\nDTEND:{d}T023000Z\r\nRRULE:FREQ=DAILY;COUNT=4\r\n\
SUMMARY:Daily\r\nCATEGORIES:Tencent Meeting\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
        d = day(3)
    );
    s.server.put("series.ics", &series);
    pass(&s, SyncOptions::default()).await;
    // The third occurrence moves two hours later.
    let text = s.server.get("series.ics").unwrap();
    let moved = format!(
        "BEGIN:VEVENT\r\nUID:series\r\nDTSTAMP:20260101T000000Z\r\nRECURRENCE-ID:{d}T020000Z\r\n\
DTSTART:{d}T040000Z\r\nDTEND:{d}T043000Z\r\nSUMMARY:Daily\r\nCATEGORIES:Tencent Meeting\r\nEND:VEVENT\r\n",
        d = day(5)
    );
    s.server.put(
        "series.ics",
        &text.replace("END:VCALENDAR", &format!("{moved}END:VCALENDAR")),
    );
    pass(&s, SyncOptions::default()).await;
    let rows = s.engine.store.rows("work").unwrap();
    let occurrence = rows
        .iter()
        .find(|r| r.key.recurrence_id.is_some())
        .expect("a row for the moved occurrence");
    assert!(occurrence.written_back, "{occurrence:?}");
    quiet_pass(&s).await;
    let report = pass(&s, SyncOptions::default()).await;
    assert!(
        report.calendars[0].unchanged,
        "work pending forever: {:?}",
        report.calendars
    );
}
