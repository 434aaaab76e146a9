//! The meeting fields in the sync rules (issue 14), without I/O: which options each event's
//! meeting gets, that changing any of them modifies the meeting exactly once, that rows stored
//! before options were fingerprinted are recorded rather than modified, and who hosts.
#![allow(clippy::unwrap_used)]

use std::collections::HashSet;

use calmeet::config::Config;
use calmeet::event::{TagMatcher, parse_calendar};
use calmeet::store::{EventRow, RowState};
use calmeet::sync::{Action, Desired, PlanInput, SourcedEvent, plan};
use chrono::{DateTime, Duration, TimeZone, Utc};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 6, 1, 0, 0, 0).unwrap()
}

const BASE: &str = "[meeting]\napp_id = \"1\"\nsecret_id = \"s\"\nuserid = \"alice\"\n";
const CAL: &str =
    "[[calendar]]\nname = \"team\"\nurl = \"https://dav.example.com/cal/\"\nkind = \"caldav\"\n";

fn config(meeting_extra: &str, calendar_extra: &str) -> Config {
    let text = format!("{BASE}{meeting_extra}{CAL}{calendar_extra}");
    Config::parse(&text, "t", std::path::Path::new("/")).unwrap()
}

fn events(config: &Config, extra: &str) -> Vec<SourcedEvent> {
    let cal = &config.calendars[0];
    let ics = format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:e1\r\n\
DTSTAMP:20300101T000000Z\r\nDTSTART:20300610T020000Z\r\nDTEND:20300610T030000Z\r\n\
SUMMARY:Planning\r\nCATEGORIES:Tencent Meeting\r\nX-CALMEET-MEETING-ID:m1\r\n{extra}END:VEVENT\r\nEND:VCALENDAR\r\n"
    );
    let matcher = TagMatcher::new(cal.match_rules.as_ref()).with_live(cal.live_match.as_ref());
    parse_calendar(ics.as_bytes(), chrono_tz::Asia::Shanghai, &matcher)
        .unwrap()
        .events
        .into_iter()
        .map(|event| SourcedEvent {
            event,
            href: Some("/cal/a.ics".into()),
            etag: Some("\"1\"".into()),
        })
        .collect()
}

fn run(config: &Config, events: &[SourcedEvent], rows: &[EventRow]) -> Vec<Action> {
    plan(&PlanInput {
        calendar: &config.calendars[0],
        meeting: &config.meeting,
        events,
        failed_uids: &HashSet::new(),
        rows,
        segments: &[],
        now: now(),
        horizon: Duration::days(90),
        max_cancel_share: 0.5,
        confirm_deletions: false,
        held_cancels: None,
    })
}

/// The desired meeting of the single event (which names meeting `m1`, as after a write-back).
fn desired(config: &Config, extra: &str) -> Desired {
    match run(config, &events(config, extra), &[]).remove(0) {
        Action::Create { desired, .. } | Action::Adopt { desired, .. } => desired,
        other => panic!("{other:?}"),
    }
}

/// The row a successful create of `d` leaves.
fn created(d: &Desired) -> EventRow {
    let mut key_plan = EventRow::new(
        calmeet::store::EventKey {
            calendar: "team".into(),
            uid: "e1".into(),
            recurrence_id: None,
        },
        RowState::Created,
        0,
    );
    key_plan.meeting_id = Some("m1".into());
    key_plan.join_url = Some("https://meeting.tencent.com/dm/m1".into());
    key_plan.userid = Some(d.userid.clone());
    key_plan.fingerprint = Some(d.fingerprint.clone());
    key_plan.start_at = Some(d.start.timestamp());
    key_plan.end_at = Some(d.end.timestamp());
    key_plan.series_end_at = Some(d.series_end.timestamp());
    key_plan.occurrences = vec![d.start.timestamp()];
    key_plan.href = Some("/cal/a.ics".into());
    key_plan.written_back = true;
    key_plan
}

fn updates(actions: &[Action]) -> Vec<&Desired> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Update { desired, .. } => Some(desired),
            _ => None,
        })
        .collect()
}

/// (what changes, [([meeting] extra, calendar extra) before, after], [event extra before, after])
type OptionCase<'a> = (&'a str, [(&'a str, &'a str); 2], [&'a str; 2]);

#[test]
fn every_option_change_modifies_the_meeting_once() {
    let cases: &[OptionCase<'_>] = &[
        (
            "a [meeting.settings] value",
            [
                ("[meeting.settings]\nmute_enable_join = true\n", ""),
                ("[meeting.settings]\nmute_enable_join = false\n", ""),
            ],
            ["", ""],
        ),
        (
            "a per-calendar setting",
            [
                ("", ""),
                (
                    "",
                    "[calendar.meeting.settings]\nauto_in_waiting_room = true\n",
                ),
            ],
            ["", ""],
        ),
        (
            "the password",
            [
                ("password = \"1234\"\n", ""),
                (
                    "password = \"1234\"\n",
                    "[calendar.meeting]\npassword = \"99887\"\n",
                ),
            ],
            ["", ""],
        ),
        (
            "the event's location",
            [
                ("", "[calendar.meeting]\nlocation = \"event\"\n"),
                ("", "[calendar.meeting]\nlocation = \"event\"\n"),
            ],
            ["LOCATION:Room 1\r\n", "LOCATION:Room 2\r\n"],
        ),
        (
            "the event's location removed",
            [
                ("", "[calendar.meeting]\nlocation = \"event\"\n"),
                ("", "[calendar.meeting]\nlocation = \"event\"\n"),
            ],
            ["LOCATION:Room 1\r\n", ""],
        ),
        (
            "live streaming for the calendar",
            [("", ""), ("", "[calendar.live]\nim = true\n")],
            ["", ""],
        ),
        (
            "the live tag on the event",
            [("", ""), ("", "")],
            ["", "CATEGORIES:Live\r\n"],
        ),
        (
            "the live password",
            [
                ("", "[calendar.live]\npassword = \"2468\"\n"),
                ("", "[calendar.live]\npassword = \"1357\"\n"),
            ],
            ["", ""],
        ),
        (
            "the event's description of a live meeting",
            [("", "[calendar.live]\n"), ("", "[calendar.live]\n")],
            ["DESCRIPTION:Agenda one\r\n", "DESCRIPTION:Agenda two\r\n"],
        ),
        (
            "a CHAIR attendee (a host)",
            [
                ("[meeting.users]\n\"bob@example.com\" = \"bob\"\n", ""),
                ("[meeting.users]\n\"bob@example.com\" = \"bob\"\n", ""),
            ],
            [
                "ATTENDEE:mailto:bob@example.com\r\n",
                "ATTENDEE;ROLE=CHAIR:mailto:bob@example.com\r\n",
            ],
        ),
    ];
    for (what, [(m0, c0), (m1, c1)], [e0, e1]) in cases {
        let before = config(m0, c0);
        let after = config(m1, c1);
        let row = created(&desired(&before, e0));
        let evs = events(&after, e1);
        let actions = run(&after, &evs, std::slice::from_ref(&row));
        let ups = updates(&actions);
        assert_eq!(ups.len(), 1, "{what}: {actions:?}");
        // Once modified, the next pass is quiet.
        let mut settled = row.clone();
        settled.fingerprint = Some(ups[0].fingerprint.clone());
        let again = run(&after, &evs, &[settled]);
        assert!(again.is_empty(), "{what}: {again:?}");
        // Nothing changed: no modify either.
        let same = run(&before, &events(&before, e0), &[row]);
        assert!(same.is_empty(), "{what} unchanged: {same:?}");
    }
}

#[test]
fn create_only_and_call_options_do_not_modify() {
    let before = config("", "");
    let row = created(&desired(&before, ""));
    for extra in [
        "[calendar.meeting]\nsync_to_wework = false\n",
        "[calendar.meeting]\ninstanceid = 5\n",
    ] {
        let after = config("", extra);
        let actions = run(&after, &events(&after, ""), std::slice::from_ref(&row));
        assert!(actions.is_empty(), "{extra}: {actions:?}");
    }
}

#[test]
fn rows_from_before_options_are_recorded_not_modified() {
    // A database written before options were fingerprinted holds the event part only.
    let cfg = config(
        "password = \"1234\"\n[meeting.settings]\nmute_enable_join = false\n",
        "[calendar.live]\n",
    );
    let d = desired(&cfg, "");
    let (base, _) = d.fingerprint.split_once('+').unwrap();
    let mut legacy = created(&d);
    legacy.fingerprint = Some(base.to_owned());
    let evs = events(&cfg, "");
    let actions = run(&cfg, &evs, std::slice::from_ref(&legacy));
    assert_eq!(
        actions,
        vec![Action::Record {
            key: legacy.key.clone(),
            segment: None,
            fingerprint: d.fingerprint.clone(),
        }],
        "no modify on upgrade"
    );
    // Recorded: quiet; a later option change then modifies it.
    let mut recorded = legacy.clone();
    recorded.fingerprint = Some(d.fingerprint.clone());
    assert!(run(&cfg, &evs, std::slice::from_ref(&recorded)).is_empty());
    let changed = config(
        "password = \"1234\"\n[meeting.settings]\nmute_enable_join = true\n",
        "[calendar.live]\n",
    );
    assert_eq!(updates(&run(&changed, &evs, &[recorded])).len(), 1);
    // A legacy row whose event really changed is modified as before.
    let moved = events(&cfg, "").into_iter().map(|mut se| {
        se.event.summary = "Planning (moved)".into();
        se
    });
    let moved: Vec<SourcedEvent> = moved.collect();
    assert_eq!(updates(&run(&cfg, &moved, &[legacy])).len(), 1);
}

#[test]
fn organizer_hosts_only_when_someone_else_creates() {
    let users = "[meeting.users]\n\"olga@example.com\" = \"olga\"\n\"carl@example.com\" = \"carl\"\n\"ivan@example.com\" = \"ivan\"\n";
    let people = "ORGANIZER:mailto:olga@example.com\r\nATTENDEE;ROLE=CHAIR:mailto:carl@example.com\r\nATTENDEE:mailto:ivan@example.com\r\nATTENDEE;ROLE=CHAIR:mailto:nobody@example.com\r\n";
    // The organizer makes the meeting: only the mapped CHAIR hosts with it.
    let d = desired(&config(users, ""), people);
    assert_eq!(d.userid, "olga");
    assert_eq!(d.hosts.as_deref(), Some(&["carl".to_owned()][..]));
    assert_eq!(
        d.invitees.as_deref(),
        Some(&["carl".to_owned(), "ivan".to_owned()][..])
    );
    // A fixed creator: the organizer hosts, first.
    let d = desired(
        &config(users, "[calendar.meeting]\nuserid = \"room-3\"\n"),
        people,
    );
    assert_eq!(d.userid, "room-3");
    assert_eq!(
        d.hosts.as_deref(),
        Some(&["olga".to_owned(), "carl".to_owned()][..])
    );
    // Without [meeting.users] nobody is mapped and no hosts are sent.
    let d = desired(&config("", ""), people);
    assert_eq!(d.hosts, None);
    assert_eq!(d.userid, "alice");
}

#[test]
fn options_come_from_the_calendar_and_the_event() {
    let cfg = config(
        "password = \"1234\"\n[meeting.settings]\nmute_enable_join = true\nallow_unmute_self = false\n",
        "[calendar.meeting]\nlocation = \"event\"\nsync_to_wework = false\ninstanceid = 2\n\
[calendar.meeting.settings]\nmute_enable_join = false\nauto_in_waiting_room = true\n\
[calendar.live]\nall = false\nreplay = true\nsubject = \"Town hall live\"\n",
    );
    let long_location = "LOCATION:深圳总部 3F 大会议室 Building A North Wing Room 301\r\n";
    let d = desired(&cfg, long_location);
    let o = &d.options;
    // Merged key by key: the calendar's value wins, the global one fills in.
    assert_eq!(o.settings["mute_enable_join"], false);
    assert_eq!(o.settings["allow_unmute_self"], false);
    assert_eq!(o.settings["auto_in_waiting_room"], true);
    assert_eq!(o.password.as_deref(), Some("1234"));
    assert_eq!((o.sync_to_wework, o.instanceid), (Some(false), 2));
    let location = o.location.clone().unwrap();
    let width: usize = location
        .chars()
        .map(|c| if c.is_ascii() { 1 } else { 2 })
        .sum();
    assert!(
        width <= 36 && location.starts_with("深圳总部"),
        "{location}"
    );
    // all = false: only a tagged event is streamed.
    assert!(o.live.is_none());
    let d = desired(
        &cfg,
        "CATEGORIES:直播\r\nDESCRIPTION:Results\\nQ&A\r\nLOCATION:https://meeting.tencent.com/dm/1\r\n",
    );
    let live = d.options.live.clone().unwrap();
    assert_eq!(live.live_subject.as_deref(), Some("Town hall live"));
    assert_eq!(live.live_summary.as_deref(), Some("Results\nQ&A"));
    assert_eq!(live.enable_live_replay, Some(true));
    assert_eq!(live.enable_live_password, Some(false));
    assert_eq!(live.enable_live_im, None);
    // A LOCATION that is a link (calmeet's own join link) is not a place: nothing to show
    // (empty: a create sends none, a modify clears the meeting's).
    assert_eq!(d.options.location.as_deref(), Some(""));
    // A long description is cut to the limit, never inside a character.
    let long = "议".repeat(400);
    let d = desired(&cfg, &format!("CATEGORIES:Live\r\nDESCRIPTION:{long}\r\n"));
    let summary = d.options.live.unwrap().live_summary.unwrap();
    assert_eq!(
        summary.chars().count(),
        128,
        "512 units at 4 per CJK character"
    );
}

#[test]
fn dry_run_lines_name_the_options_but_never_a_password() {
    let cfg = config(
        "password = \"135790\"\n[meeting.users]\n\"olga@example.com\" = \"olga\"\n",
        "[calendar.meeting]\nuserid = \"room-3\"\nlocation = \"event\"\n[calendar.live]\npassword = \"864200\"\n",
    );
    let evs = events(
        &cfg,
        "ORGANIZER:mailto:olga@example.com\r\nLOCATION:Room 7\r\n",
    );
    let actions = run(&cfg, &evs, &[]);
    let line = calmeet::sync::apply::describe(&actions[0], &cfg);
    assert!(
        line.contains("hosts olga") && line.contains("live stream"),
        "{line}"
    );
    assert!(line.contains("location 'Room 7'"), "{line}");
    assert!(
        !line.contains("135790") && !line.contains("864200"),
        "{line}"
    );
    let debug = format!("{actions:?}");
    assert!(
        !debug.contains("135790") && !debug.contains("864200"),
        "{debug}"
    );
}

#[test]
fn the_create_request_carries_every_option() {
    let cfg = config(
        "password = \"1234\"\n[meeting.settings]\nmute_enable_join = false\n[meeting.users]\n\"olga@example.com\" = \"olga\"\n",
        "[calendar.meeting]\nuserid = \"room-3\"\nlocation = \"event\"\nsync_to_wework = false\ninstanceid = 2\n[calendar.live]\nim = true\n",
    );
    let d = desired(
        &cfg,
        "ORGANIZER:mailto:olga@example.com\r\nLOCATION:Room 7\r\nDESCRIPTION:Agenda\r\n",
    );
    let body = serde_json::to_value(calmeet::sync::apply::create_request_for(&d)).unwrap();
    assert_eq!(body["userid"], "room-3");
    assert_eq!(body["instanceid"], 2);
    assert_eq!(body["password"], "1234");
    assert_eq!(
        body["settings"],
        serde_json::json!({"mute_enable_join": false})
    );
    assert_eq!(body["location"], "Room 7");
    assert_eq!(body["sync_to_wework"], false);
    assert_eq!(
        body["hosts"],
        serde_json::json!([{"userid": "room-3"}, {"userid": "olga"}])
    );
    assert_eq!(body["enable_live"], true);
    assert_eq!(
        body["live_config"],
        serde_json::json!({"enable_live_im": true, "enable_live_password": false,
            "live_subject": "Planning", "live_summary": "Agenda"})
    );
    // Serialised in the SDK's (alphabetical) key order: the new fields sit where it puts them.
    let text = serde_json::to_string(&calmeet::sync::apply::create_request_for(&d)).unwrap();
    assert!(
        text.starts_with("{\"enable_live\":true,\"end_time\""),
        "{text}"
    );
    let at = |k: &str| text.find(&format!("\"{k}\":")).unwrap();
    assert!(
        at("instanceid") < at("live_config") && at("live_config") < at("location"),
        "{text}"
    );
    assert!(
        at("subject") < at("sync_to_wework") && at("sync_to_wework") < at("time_zone"),
        "{text}"
    );
}
