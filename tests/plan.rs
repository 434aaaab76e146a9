//! The sync rules, tested without I/O: events + state rows + clock → actions.
#![allow(clippy::unwrap_used)]

use std::collections::HashSet;

use calmeet::config::{CalendarConfig, Config};
use calmeet::event::{TagMatcher, parse_calendar};
use calmeet::store::{EventKey, EventRow, RowState, Segment};
use calmeet::sync::{Action, CancelReason, PlanInput, SourcedEvent, plan};
use chrono::{DateTime, Duration, TimeZone, Utc};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 6, 1, 0, 0, 0).unwrap()
}

fn config(kind: &str) -> Config {
    let text = format!(
        "[meeting]\napp_id = \"1\"\nsecret_id = \"s\"\nuserid = \"alice\"\n[[calendar]]\nname = \"team\"\nurl = \"https://dav.example.com/cal/\"\nkind = \"{kind}\"\n"
    );
    Config::parse(&text, "t", std::path::Path::new("/")).unwrap()
}

fn events(body: &str) -> Vec<SourcedEvent> {
    let ics =
        format!("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\n{body}END:VCALENDAR\r\n");
    parse_calendar(
        ics.as_bytes(),
        chrono_tz::Asia::Shanghai,
        &TagMatcher::new(None),
    )
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

fn vevent(uid: &str, start: &str, end: &str, extra: &str) -> String {
    format!(
        "BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20300101T000000Z\r\nDTSTART:{start}\r\nDTEND:{end}\r\nSUMMARY:Sync {uid}\r\nCATEGORIES:Tencent Meeting\r\n{extra}END:VEVENT\r\n"
    )
}

struct Case {
    config: Config,
    events: Vec<SourcedEvent>,
    rows: Vec<EventRow>,
    segments: Vec<Segment>,
    failed: HashSet<String>,
    now: DateTime<Utc>,
    confirm: bool,
    held: Option<String>,
}

impl Case {
    fn new(body: &str) -> Self {
        Self {
            config: config("caldav"),
            events: events(body),
            rows: Vec::new(),
            segments: Vec::new(),
            failed: HashSet::new(),
            now: now(),
            confirm: false,
            held: None,
        }
    }

    fn plan(&self) -> Vec<Action> {
        let cal: &CalendarConfig = &self.config.calendars[0];
        plan(&PlanInput {
            calendar: cal,
            meeting: &self.config.meeting,
            events: &self.events,
            failed_uids: &self.failed,
            rows: &self.rows,
            segments: &self.segments,
            now: self.now,
            horizon: Duration::days(90),
            max_cancel_share: 0.5,
            confirm_deletions: self.confirm,
            held_cancels: self.held.as_deref(),
        })
    }

    /// Pretends every Create/Update succeeded: the rows a real apply would leave.
    fn settle(&mut self) {
        for a in self.plan() {
            match a {
                Action::Create {
                    key, desired, href, ..
                }
                | Action::Adopt {
                    key, desired, href, ..
                } => {
                    let mut r = EventRow::new(key, RowState::Created, 0);
                    r.meeting_id = Some(format!("m-{}", r.key.uid));
                    r.join_url = Some("https://meeting.tencent.com/dm/x".into());
                    r.userid = Some(desired.userid.clone());
                    r.fingerprint = Some(desired.fingerprint.clone());
                    r.start_at = Some(desired.start.timestamp());
                    r.end_at = Some(desired.end.timestamp());
                    r.series_end_at = Some(desired.series_end.timestamp());
                    r.recurring = desired.rule.is_some();
                    r.needs_extension = desired.truncated;
                    r.occurrences = desired.occurrences.iter().map(|t| t.timestamp()).collect();
                    r.href = href;
                    r.written_back = true;
                    self.rows.retain(|x| x.key != r.key);
                    self.rows.push(r);
                }
                Action::Update { key, desired, .. }
                | Action::Extend {
                    key,
                    desired,
                    segment: None,
                    ..
                } => {
                    let r = self.rows.iter_mut().find(|r| r.key == key).unwrap();
                    r.fingerprint = Some(desired.fingerprint.clone());
                    r.start_at = Some(desired.start.timestamp());
                    r.end_at = Some(desired.end.timestamp());
                    r.series_end_at = Some(desired.series_end.timestamp());
                    r.needs_extension = desired.truncated;
                    r.occurrences = desired.occurrences.iter().map(|t| t.timestamp()).collect();
                }
                Action::CancelOccurrence {
                    key, meeting_id, ..
                } => {
                    self.rows.retain(|x| x.key != key);
                    let mut r = EventRow::new(key, RowState::Cancelled, 0);
                    r.meeting_id = Some(meeting_id);
                    self.rows.push(r);
                }
                Action::UpdateSegment {
                    key,
                    segment,
                    desired,
                    ..
                }
                | Action::Extend {
                    key,
                    desired,
                    segment: Some(segment),
                    ..
                } => {
                    let s = self
                        .segments
                        .iter_mut()
                        .find(|s| s.row.key == key && s.start == segment)
                        .unwrap();
                    record(&mut s.row, &desired);
                }
                Action::CancelSegment { key, segment, .. } => {
                    let s = self
                        .segments
                        .iter_mut()
                        .find(|s| s.row.key == key && s.start == segment)
                        .unwrap();
                    s.row.state = RowState::Cancelled;
                }
                _ => {}
            }
        }
        // The write-back put the meeting id into the event.
        for e in &mut self.events {
            e.event.meeting_id = Some(format!("m-{}", e.event.uid));
        }
    }
}

fn record(r: &mut EventRow, desired: &calmeet::sync::Desired) {
    r.fingerprint = Some(desired.fingerprint.clone());
    r.userid = Some(desired.userid.clone());
    r.start_at = Some(desired.start.timestamp());
    r.end_at = Some(desired.end.timestamp());
    r.series_end_at = Some(desired.series_end.timestamp());
    r.recurring = desired.rule.is_some();
    r.needs_extension = desired.truncated;
    r.occurrences = desired.occurrences.iter().map(|t| t.timestamp()).collect();
}

impl Case {
    /// Plans, expects one in-place extension carrying a continuation, and pretends the API
    /// refused it so that the continuation was created and written back. Returns its start.
    fn refuse_extension(&mut self) -> i64 {
        let actions = self.plan();
        let extend = actions
            .iter()
            .find_map(|a| match a {
                Action::Extend {
                    key,
                    continuation: Some(c),
                    ..
                } => Some((key.clone(), c.clone())),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no extension: {actions:?}"));
        let (key, c) = extend;
        let mut row = EventRow::new(key, RowState::Created, 0);
        row.meeting_id = Some(format!("m-{}-{}", row.key.uid, self.segments.len() + 2));
        row.join_url = Some("https://meeting.tencent.com/dm/y".into());
        row.written_back = true;
        record(&mut row, &c);
        let start = c.start.timestamp();
        self.segments.push(Segment { start, row });
        start
    }
}

fn key(uid: &str) -> EventKey {
    EventKey {
        calendar: "team".into(),
        uid: uid.into(),
        recurrence_id: None,
    }
}

#[test]
fn new_tagged_event_is_created_then_quiet() {
    let mut c = Case::new(&vevent("a", "20300602T010000Z", "20300602T020000Z", ""));
    let actions = c.plan();
    assert_eq!(actions.len(), 1);
    let Action::Create {
        key: k,
        desired,
        reconcile,
        href,
        ..
    } = &actions[0]
    else {
        panic!("{actions:?}")
    };
    assert_eq!(k, &key("a"));
    assert!(!reconcile);
    assert_eq!(href.as_deref(), Some("/cal/a.ics"));
    assert_eq!(desired.subject, "Sync a");
    assert_eq!(
        desired.start.timestamp(),
        Utc.with_ymd_and_hms(2030, 6, 2, 1, 0, 0)
            .unwrap()
            .timestamp()
    );
    assert!(desired.rule.is_none());
    c.settle();
    assert!(
        c.plan().is_empty(),
        "second pass must be quiet: {:?}",
        c.plan()
    );
}

#[test]
fn untagged_event_gets_nothing() {
    let body = "BEGIN:VEVENT\r\nUID:x\r\nDTSTART:20300602T010000Z\r\nDTEND:20300602T020000Z\r\nSUMMARY:lunch\r\nEND:VEVENT\r\n";
    assert!(Case::new(body).plan().is_empty());
}

#[test]
fn past_and_beyond_horizon_events_are_not_created() {
    let past = vevent("p", "20300501T010000Z", "20300501T020000Z", "");
    let far = vevent("f", "20301201T010000Z", "20301201T020000Z", "");
    assert!(Case::new(&format!("{past}{far}")).plan().is_empty());
}

#[test]
fn moved_or_renamed_event_updates_same_meeting() {
    let mut c = Case::new(&vevent("a", "20300602T010000Z", "20300602T020000Z", ""));
    c.settle();
    let mut moved = events(&vevent("a", "20300603T010000Z", "20300603T020000Z", ""));
    moved[0].event.meeting_id = Some("m-a".into());
    c.events = moved;
    let actions = c.plan();
    assert_eq!(actions.len(), 1, "{actions:?}");
    let Action::Update {
        meeting_id,
        desired,
        ..
    } = &actions[0]
    else {
        panic!("{actions:?}")
    };
    assert_eq!(meeting_id, "m-a");
    assert_eq!(
        desired.start.timestamp(),
        Utc.with_ymd_and_hms(2030, 6, 3, 1, 0, 0)
            .unwrap()
            .timestamp()
    );
}

#[test]
fn dtstamp_sequence_and_alarm_changes_are_not_changes() {
    let mut c = Case::new(&vevent("a", "20300602T010000Z", "20300602T020000Z", ""));
    c.settle();
    let body = vevent("a", "20300602T010000Z", "20300602T020000Z", "SEQUENCE:5\r\nLAST-MODIFIED:20300510T000000Z\r\nBEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT5M\r\nEND:VALARM\r\n").replace("DTSTAMP:20300101T000000Z", "DTSTAMP:20300511T000000Z");
    let mut evs = events(&body);
    evs[0].event.meeting_id = Some("m-a".into());
    c.events = evs;
    assert!(c.plan().is_empty(), "{:?}", c.plan());
}

#[test]
fn cancelled_event_cancels_meeting_and_removes_block() {
    let mut c = Case::new(&vevent("a", "20300602T010000Z", "20300602T020000Z", ""));
    c.settle();
    c.events = events(&vevent(
        "a",
        "20300602T010000Z",
        "20300602T020000Z",
        "STATUS:CANCELLED\r\n",
    ));
    let actions = c.plan();
    let Action::Cancel {
        reason,
        href,
        meeting_id,
        ..
    } = &actions[0]
    else {
        panic!("{actions:?}")
    };
    assert_eq!(*reason, CancelReason::EventCancelled);
    assert_eq!(meeting_id, "m-a");
    assert_eq!(href.as_deref(), Some("/cal/a.ics"));
}

#[test]
fn deleted_event_cancels_when_few_go() {
    let body: String = ["a", "b", "c"]
        .iter()
        .map(|u| vevent(u, "20300602T010000Z", "20300602T020000Z", ""))
        .collect();
    let mut c = Case::new(&body);
    c.settle();
    c.events.retain(|e| e.event.uid != "b");
    let actions = c.plan();
    assert_eq!(actions.len(), 1, "{actions:?}");
    assert!(
        matches!(&actions[0], Action::Cancel { key: k, reason: CancelReason::EventDeleted, .. } if *k == key("b"))
    );
}

#[test]
fn empty_feed_holds_cancellations_until_confirmed() {
    let body: String = ["a", "b", "c"]
        .iter()
        .map(|u| vevent(u, "20300602T010000Z", "20300602T020000Z", ""))
        .collect();
    let mut c = Case::new(&body);
    c.settle();
    c.events.clear();
    let actions = c.plan();
    assert_eq!(actions.len(), 1, "{actions:?}");
    let Action::HoldCancels {
        count, live, token, ..
    } = &actions[0]
    else {
        panic!("{actions:?}")
    };
    assert_eq!((*count, *live), (3, 3));
    // The next pass sees the same: now they go.
    c.held = Some(token.clone());
    let cancels = c
        .plan()
        .iter()
        .filter(|a| matches!(a, Action::Cancel { .. }))
        .count();
    assert_eq!(cancels, 3);
    // Or with --confirm-deletions at once.
    c.held = None;
    c.confirm = true;
    assert_eq!(
        c.plan()
            .iter()
            .filter(|a| matches!(a, Action::Cancel { .. }))
            .count(),
        3
    );
}

#[test]
fn unreadable_event_is_not_mistaken_for_deleted() {
    let mut c = Case::new(&vevent("a", "20300602T010000Z", "20300602T020000Z", ""));
    c.settle();
    c.events.clear();
    c.failed.insert("a".into());
    assert!(c.plan().is_empty(), "{:?}", c.plan());
}

#[test]
fn untagged_event_cancels() {
    let mut c = Case::new(&vevent("a", "20300602T010000Z", "20300602T020000Z", ""));
    c.settle();
    // Tag removed; the event still carries our meeting id, so it is still seen.
    let body = "BEGIN:VEVENT\r\nUID:a\r\nDTSTART:20300602T010000Z\r\nDTEND:20300602T020000Z\r\nSUMMARY:x\r\nX-CALMEET-MEETING-ID:m-a\r\nEND:VEVENT\r\n";
    c.events = events(body);
    c.confirm = true;
    let actions = c.plan();
    assert!(
        matches!(
            &actions[0],
            Action::Cancel {
                reason: CancelReason::Untagged,
                ..
            }
        ),
        "{actions:?}"
    );
}

#[test]
fn pending_row_is_reconciled_before_create() {
    let mut c = Case::new(&vevent("a", "20300602T010000Z", "20300602T020000Z", ""));
    c.rows.push(EventRow::new(key("a"), RowState::Pending, 0));
    let actions = c.plan();
    assert!(
        matches!(
            &actions[0],
            Action::Create {
                reconcile: true,
                ..
            }
        ),
        "{actions:?}"
    );
}

#[test]
fn event_carrying_meeting_id_without_row_is_adopted() {
    let c = Case::new(&vevent(
        "a",
        "20300602T010000Z",
        "20300602T020000Z",
        "X-CALMEET-MEETING-ID:123\r\n",
    ));
    let actions = c.plan();
    assert!(
        matches!(&actions[0], Action::Adopt { meeting_id, .. } if meeting_id == "123"),
        "{actions:?}"
    );
}

#[test]
fn single_to_series_recreates() {
    let mut c = Case::new(&vevent("a", "20300602T010000Z", "20300602T020000Z", ""));
    c.settle();
    let mut evs = events(&vevent(
        "a",
        "20300602T010000Z",
        "20300602T020000Z",
        "RRULE:FREQ=WEEKLY;COUNT=4\r\n",
    ));
    evs[0].event.meeting_id = Some("m-a".into());
    c.events = evs;
    let actions = c.plan();
    assert!(
        matches!(
            &actions[0],
            Action::Cancel {
                reason: CancelReason::Replaced,
                ..
            }
        ),
        "{actions:?}"
    );
    assert!(
        matches!(&actions[1], Action::Create { desired, .. } if desired.rule.is_some()),
        "{actions:?}"
    );
}

#[test]
fn all_day_is_skipped_once() {
    let body = "BEGIN:VEVENT\r\nUID:d\r\nDTSTART;VALUE=DATE:20300602\r\nCATEGORIES:Tencent Meeting\r\nEND:VEVENT\r\n";
    let mut c = Case::new(body);
    let actions = c.plan();
    let Action::Skip { reason, key: k } = &actions[0] else {
        panic!("{actions:?}")
    };
    assert!(reason.contains("all-day"));
    let mut row = EventRow::new(k.clone(), RowState::Skipped, 0);
    row.last_error = Some(reason.clone());
    c.rows.push(row);
    assert!(c.plan().is_empty(), "warned once only");
}

#[test]
fn unsupported_rule_is_skipped_with_rule_named() {
    let c = Case::new(&vevent(
        "y",
        "20300602T010000Z",
        "20300602T020000Z",
        "RRULE:FREQ=YEARLY\r\n",
    ));
    let actions = c.plan();
    assert!(
        matches!(&actions[0], Action::Skip { reason, .. } if reason.contains("FREQ=YEARLY")),
        "{actions:?}"
    );
}

#[test]
fn exdate_and_overrides_act_on_occurrences() {
    let master = vevent(
        "s",
        "20300603T010000Z",
        "20300603T020000Z",
        "RRULE:FREQ=WEEKLY;COUNT=6\r\n",
    );
    let mut c = Case::new(&master);
    c.settle();
    let body = format!(
        "{}{}{}",
        vevent(
            "s",
            "20300603T010000Z",
            "20300603T020000Z",
            "RRULE:FREQ=WEEKLY;COUNT=6\r\nEXDATE:20300610T010000Z\r\n"
        ),
        vevent(
            "s",
            "20300617T030000Z",
            "20300617T040000Z",
            "RECURRENCE-ID:20300617T010000Z\r\n"
        ),
        vevent(
            "s",
            "20300624T010000Z",
            "20300624T020000Z",
            "RECURRENCE-ID:20300624T010000Z\r\nSTATUS:CANCELLED\r\n"
        ),
    );
    c.events = events(&body);
    for e in &mut c.events {
        e.event.meeting_id = Some("m-s".into());
    }
    let actions = c.plan();
    let rid = |y, m, d| Some(Utc.with_ymd_and_hms(y, m, d, 1, 0, 0).unwrap().timestamp());
    // The EXDATE changes the master's fingerprint too (an update of the series), plus one
    // action per occurrence.
    assert!(actions.iter().any(|a| matches!(a, Action::CancelOccurrence { key, .. } if key.recurrence_id == rid(2030, 6, 10))), "{actions:?}");
    assert!(actions.iter().any(|a| matches!(a, Action::CancelOccurrence { key, .. } if key.recurrence_id == rid(2030, 6, 24))), "{actions:?}");
    assert!(actions.iter().any(|a| matches!(a, Action::MoveOccurrence { key, start, .. } if key.recurrence_id == rid(2030, 6, 17) && start.timestamp() == Utc.with_ymd_and_hms(2030, 6, 17, 3, 0, 0).unwrap().timestamp())), "{actions:?}");
}

#[test]
fn series_that_began_in_the_past_starts_at_next_occurrence() {
    let c = Case::new(&vevent(
        "w",
        "20300506T010000Z",
        "20300506T020000Z",
        "RRULE:FREQ=WEEKLY;COUNT=10\r\n",
    ));
    let actions = c.plan();
    let Action::Create { desired, .. } = &actions[0] else {
        panic!("{actions:?}")
    };
    // May 6, 13, 20, 27 are over; June 3 is next: 6 left.
    assert_eq!(
        desired.start.timestamp(),
        Utc.with_ymd_and_hms(2030, 6, 3, 1, 0, 0)
            .unwrap()
            .timestamp()
    );
    let rule = desired.rule.as_ref().unwrap();
    assert_eq!(
        (rule.recurring_type, rule.until_type, rule.until_count),
        (2, 1, Some(6))
    );
}

#[test]
fn ics_calendar_never_plans_write_back() {
    let mut c = Case::new(&vevent("a", "20300602T010000Z", "20300602T020000Z", ""));
    c.config = config("ics");
    c.settle();
    for r in &mut c.rows {
        r.written_back = false;
    }
    assert!(c.plan().is_empty(), "{:?}", c.plan());
}

#[test]
fn missing_link_is_written_back_again() {
    let mut c = Case::new(&vevent("a", "20300602T010000Z", "20300602T020000Z", ""));
    c.settle();
    // A user (or another client) removed the block and the X- property.
    for e in &mut c.events {
        e.event.meeting_id = None;
    }
    let actions = c.plan();
    assert!(
        matches!(&actions[0], Action::WriteBack { .. }),
        "{actions:?}"
    );
}

#[test]
fn open_ended_series_is_extended_when_a_quarter_remains() {
    let mut c = Case::new(&vevent(
        "d",
        "20300602T010000Z",
        "20300602T020000Z",
        "RRULE:FREQ=DAILY\r\n",
    ));
    let actions = c.plan();
    let Action::Create { desired, .. } = &actions[0] else {
        panic!("{actions:?}")
    };
    assert!(desired.truncated);
    assert_eq!(desired.occurrences.len(), 200);
    assert_eq!(desired.rule.as_ref().unwrap().until_count, Some(200));
    c.settle();
    let row = c.rows[0].clone();
    assert!(row.needs_extension);
    // 151 days later, 50 of the 200 occurrences are still ahead: exactly a quarter, not yet.
    c.now = now() + Duration::days(151);
    assert!(c.plan().is_empty(), "{:?}", c.plan());
    assert!(!calmeet::sync::plan::needs_extension_now(&row, c.now));
    // One more day: 49 < 50, so the rule is sent again from the next occurrence on.
    c.now = now() + Duration::days(152);
    assert!(calmeet::sync::plan::needs_extension_now(&row, c.now));
    let actions = c.plan();
    assert_eq!(actions.len(), 1, "{actions:?}");
    let Action::Extend {
        meeting_id,
        desired,
        key: k,
        segment: None,
        continuation: Some(continuation),
    } = &actions[0]
    else {
        panic!("{actions:?}")
    };
    // Should the API refuse the extension in place, the continuation starts the day after
    // the last occurrence the meeting holds, capped like a create.
    let last_held = Utc.with_ymd_and_hms(2030, 12, 18, 1, 0, 0).unwrap();
    assert_eq!(row.occurrences.last(), Some(&last_held.timestamp()));
    assert_eq!(continuation.start, last_held + Duration::days(1));
    assert_eq!(continuation.occurrences.len(), 200);
    assert!(continuation.truncated);
    assert_eq!(continuation.rule.as_ref().unwrap().until_count, Some(200));
    assert_eq!(k, &key("d"));
    assert_eq!(meeting_id, "m-d", "same meeting");
    let next = Utc.with_ymd_and_hms(2030, 10, 31, 1, 0, 0).unwrap();
    assert_eq!(
        desired.start, next,
        "from the next occurrence that has not ended"
    );
    assert_eq!(desired.rule.as_ref().unwrap().until_count, Some(200));
    assert_eq!(desired.occurrences.len(), 200);
    assert_eq!(
        calmeet::sync::plan::next_occurrence(&row, c.now),
        Some(next.timestamp())
    );
    c.settle();
    assert!(c.plan().is_empty(), "quiet after extending: {:?}", c.plan());
}

#[test]
fn bounded_series_within_the_cap_is_never_extended() {
    let mut c = Case::new(&vevent(
        "w",
        "20300602T010000Z",
        "20300602T020000Z",
        "RRULE:FREQ=WEEKLY;COUNT=10\r\n",
    ));
    c.settle();
    assert!(!c.rows[0].needs_extension);
    c.now = now() + Duration::days(60);
    assert!(c.plan().is_empty(), "{:?}", c.plan());
}

#[test]
fn extension_falls_back_to_time_span_without_stored_occurrences() {
    let mut row = EventRow::new(key("x"), RowState::Created, 0);
    row.recurring = true;
    row.needs_extension = true;
    row.start_at = Some(now().timestamp());
    row.end_at = Some(now().timestamp() + 3600);
    row.series_end_at = Some((now() + Duration::days(100)).timestamp());
    assert!(!calmeet::sync::plan::needs_extension_now(
        &row,
        now() + Duration::days(70)
    ));
    assert!(calmeet::sync::plan::needs_extension_now(
        &row,
        now() + Duration::days(80)
    ));
}

#[test]
fn series_update_sends_its_cancelled_occurrences_again() {
    let body = |summary: &str| {
        vevent(
            "s",
            "20300603T010000Z",
            "20300603T020000Z",
            "RRULE:FREQ=WEEKLY;COUNT=6\r\nEXDATE:20300610T010000Z\r\n",
        )
        .replace("SUMMARY:Sync s", &format!("SUMMARY:{summary}"))
    };
    let mut c = Case::new(&body("Sync s"));
    c.settle();
    c.settle(); // the EXDATE's occurrence is cancelled
    assert!(c.plan().is_empty(), "{:?}", c.plan());
    c.events = events(&body("Renamed"));
    for e in &mut c.events {
        e.event.meeting_id = Some("m-s".into());
    }
    let actions = c.plan();
    assert!(
        matches!(&actions[0], Action::Update { meeting_id, .. } if meeting_id == "m-s"),
        "{actions:?}"
    );
    assert!(
        actions
            .iter()
            .any(|a| matches!(a, Action::CancelOccurrence { .. })),
        "the modify may restore the occurrence: {actions:?}"
    );
    c.settle();
    assert!(c.plan().is_empty(), "{:?}", c.plan());
}

#[test]
fn deleted_event_cancels_without_touching_the_gone_object() {
    let body: String = ["a", "b", "c"]
        .iter()
        .map(|u| vevent(u, "20300602T010000Z", "20300602T020000Z", ""))
        .collect();
    let mut c = Case::new(&body);
    c.settle();
    c.events.retain(|e| e.event.uid != "b");
    let actions = c.plan();
    assert!(
        matches!(&actions[0], Action::Cancel { href: None, .. }),
        "{actions:?}"
    );
}

fn with_users(mut c: Case) -> Case {
    let text = "[meeting]\napp_id = \"1\"\nsecret_id = \"s\"\nuserid = \"alice\"\n[meeting.users]\n\"Zhang@Example.com\" = \"zhang\"\n\"li@example.com\" = \"li\"\n\"wang@example.com\" = \"wang\"\n[[calendar]]\nname = \"team\"\nurl = \"https://dav.example.com/cal/\"\nkind = \"caldav\"\n";
    c.config = Config::parse(text, "t", std::path::Path::new("/")).unwrap();
    c
}

const PEOPLE: &str = "ORGANIZER;CN=Zhang:mailto:zhang@example.com\r\nATTENDEE;CN=Li:MAILTO:LI@example.com\r\nATTENDEE:mailto:stranger@example.org\r\nATTENDEE:mailto:zhang@example.com\r\n";

#[test]
fn organizer_and_attendees_map_through_meeting_users() {
    let mut c = with_users(Case::new(&vevent(
        "p",
        "20300602T010000Z",
        "20300602T020000Z",
        PEOPLE,
    )));
    let actions = c.plan();
    let Action::Create { desired, .. } = &actions[0] else {
        panic!("{actions:?}")
    };
    assert_eq!(desired.userid, "zhang", "ORGANIZER creates the meeting");
    assert_eq!(
        desired.invitees.as_deref(),
        Some(&["li".to_owned()][..]),
        "unknown addresses and the creator are not invited"
    );
    c.settle();
    assert!(c.plan().is_empty(), "{:?}", c.plan());
    // One more mapped attendee: the same meeting is modified with the new invitees.
    c.events = events(&vevent(
        "p",
        "20300602T010000Z",
        "20300602T020000Z",
        &format!("{PEOPLE}ATTENDEE:mailto:wang@example.com\r\n"),
    ));
    c.events[0].event.meeting_id = Some("m-p".into());
    let actions = c.plan();
    assert_eq!(actions.len(), 1, "{actions:?}");
    let Action::Update { desired, .. } = &actions[0] else {
        panic!("{actions:?}")
    };
    assert_eq!(
        desired.invitees.as_deref(),
        Some(&["li".to_owned(), "wang".to_owned()][..])
    );
    // An attendee nobody maps changes nothing.
    c.settle();
    c.events = events(&vevent(
        "p",
        "20300602T010000Z",
        "20300602T020000Z",
        &format!("{PEOPLE}ATTENDEE:mailto:wang@example.com\r\nATTENDEE:mailto:x@example.net\r\n"),
    ));
    c.events[0].event.meeting_id = Some("m-p".into());
    assert!(c.plan().is_empty(), "{:?}", c.plan());
}

#[test]
fn another_mapped_organizer_recreates_under_the_new_creator() {
    let mut c = with_users(Case::new(&vevent(
        "p",
        "20300602T010000Z",
        "20300602T020000Z",
        PEOPLE,
    )));
    c.settle();
    c.events = events(&vevent(
        "p",
        "20300602T010000Z",
        "20300602T020000Z",
        &PEOPLE.replace("ORGANIZER;CN=Zhang:mailto:zhang", "ORGANIZER:mailto:wang"),
    ));
    c.events[0].event.meeting_id = Some("m-p".into());
    let actions = c.plan();
    assert!(
        matches!(
            &actions[0],
            Action::Cancel {
                reason: CancelReason::CreatorChanged,
                ..
            }
        ),
        "{actions:?}"
    );
    assert!(
        matches!(&actions[1], Action::Create { desired, .. } if desired.userid == "wang"),
        "{actions:?}"
    );
}

#[test]
fn without_a_users_table_people_change_nothing() {
    let mut c = Case::new(&vevent("p", "20300602T010000Z", "20300602T020000Z", ""));
    c.settle();
    let actions = c.plan();
    assert!(actions.is_empty());
    c.events = events(&vevent("p", "20300602T010000Z", "20300602T020000Z", PEOPLE));
    c.events[0].event.meeting_id = Some("m-p".into());
    assert!(c.plan().is_empty(), "{:?}", c.plan());
    let Action::Create { desired, .. } =
        &Case::new(&vevent("q", "20300602T010000Z", "20300602T020000Z", PEOPLE)).plan()[0]
    else {
        panic!()
    };
    assert_eq!(desired.userid, "alice");
    assert_eq!(desired.invitees, None);
}

#[test]
fn modify_carries_at_most_fifty_occurrences() {
    // An open-ended daily series is created with 200 occurrences; a modify may hold 50.
    let c = Case::new(&vevent(
        "d",
        "20300602T010000Z",
        "20300602T020000Z",
        "RRULE:FREQ=DAILY\r\n",
    ));
    let actions = c.plan();
    let Action::Create { desired, .. } = &actions[0] else {
        panic!("{actions:?}")
    };
    assert_eq!(desired.occurrences.len(), 200);
    let limited = calmeet::sync::apply::limit_for_modify(desired);
    let rule = limited.rule.as_ref().unwrap();
    assert_eq!(
        (rule.until_type, rule.until_count, rule.until_date),
        (1, Some(50), None)
    );
    assert_eq!(limited.occurrences.len(), 50);
    assert!(limited.truncated);
    assert_eq!(
        limited.series_end,
        limited.occurrences[49] + Duration::hours(1)
    );
    // A short series is sent as it is.
    let short = Case::new(&vevent(
        "w",
        "20300602T010000Z",
        "20300602T020000Z",
        "RRULE:FREQ=WEEKLY;COUNT=4\r\n",
    ));
    let Action::Create { desired, .. } = &short.plan()[0] else {
        panic!()
    };
    assert_eq!(&calmeet::sync::apply::limit_for_modify(desired), desired);
}

/// A daily open-ended series 152 days after creation, extension refused in place: the event's
/// meeting plus one continuation.
fn continued_daily() -> (Case, i64) {
    let mut c = Case::new(&vevent(
        "d",
        "20300602T010000Z",
        "20300602T020000Z",
        "RRULE:FREQ=DAILY\r\n",
    ));
    c.settle();
    c.now = now() + Duration::days(152);
    let start = c.refuse_extension();
    (c, start)
}

#[test]
fn continuation_is_quiet_once_made() {
    let (c, start) = continued_daily();
    assert_eq!(
        start,
        Utc.with_ymd_and_hms(2030, 12, 19, 1, 0, 0)
            .unwrap()
            .timestamp()
    );
    assert!(c.plan().is_empty(), "{:?}", c.plan());
    // Neither meeting is extended again while the continuation holds plenty.
    let mut later = c;
    later.now += Duration::days(30);
    assert!(later.plan().is_empty(), "{:?}", later.plan());
}

#[test]
fn pending_continuation_is_reconciled_before_anything_else() {
    let (mut c, start) = continued_daily();
    c.segments[0].row.state = RowState::Pending;
    c.segments[0].row.meeting_id = None;
    let actions = c.plan();
    assert_eq!(actions.len(), 1, "{actions:?}");
    let Action::Continue {
        key: k,
        segment,
        desired,
        reconcile,
        href,
    } = &actions[0]
    else {
        panic!("{actions:?}")
    };
    assert_eq!((k, *segment, *reconcile), (&key("d"), start, true));
    assert_eq!(desired.start.timestamp(), start, "the same continuation");
    assert_eq!(href.as_deref(), Some("/cal/a.ics"));
}

#[test]
fn renaming_a_continued_series_modifies_each_meeting_within_its_dates() {
    let (mut c, start) = continued_daily();
    for e in &mut c.events {
        e.event.summary = "Daily renamed".into();
    }
    let actions = c.plan();
    assert_eq!(actions.len(), 2, "{actions:?}");
    let Action::Update {
        meeting_id,
        desired,
        ..
    } = &actions[0]
    else {
        panic!("{actions:?}")
    };
    assert_eq!(meeting_id, "m-d");
    assert_eq!(desired.subject, "Daily renamed");
    assert!(
        desired.occurrences.iter().all(|t| t.timestamp() < start),
        "the original keeps to its dates"
    );
    assert_eq!(
        desired.occurrences.last().unwrap().timestamp(),
        start - 86_400
    );
    let rule = desired.rule.as_ref().unwrap();
    assert_eq!(
        (rule.until_type, rule.until_date),
        (0, Some(start - 86_400)),
        "ends by date on its last occurrence"
    );
    assert!(!desired.truncated, "the continuation holds what follows");
    let Action::UpdateSegment {
        segment,
        meeting_id,
        desired,
        ..
    } = &actions[1]
    else {
        panic!("{actions:?}")
    };
    assert_eq!((*segment, meeting_id.as_str()), (start, "m-d-2"));
    assert_eq!(desired.subject, "Daily renamed");
    assert_eq!(desired.start.timestamp(), start);
    c.settle();
    assert!(
        c.plan().is_empty(),
        "quiet after the rename: {:?}",
        c.plan()
    );
}

#[test]
fn cancelling_or_deleting_a_continued_series_cancels_it_even_when_the_first_meeting_is_over() {
    let (mut c, _) = continued_daily();
    // The event's own meeting is over; the continuation is not.
    c.now = now() + Duration::days(220);
    assert!(calmeet::sync::plan::meeting_over(&c.rows[0], c.now));
    let mut cancelled = c.events.clone();
    cancelled[0].event.cancelled = true;
    let mut with_cancel = Case {
        events: cancelled,
        rows: c.rows.clone(),
        segments: c.segments.clone(),
        ..Case::new("")
    };
    with_cancel.now = c.now;
    let actions = with_cancel.plan();
    assert!(
        matches!(&actions[..], [Action::Cancel { meeting_id, reason: CancelReason::EventCancelled, .. }] if meeting_id == "m-d"),
        "{actions:?}"
    );
    // Deleted (confirmed): cancelled, not forgotten.
    c.events.clear();
    c.confirm = true;
    let actions = c.plan();
    assert!(
        matches!(
            &actions[..],
            [Action::Cancel {
                reason: CancelReason::EventDeleted,
                ..
            }]
        ),
        "{actions:?}"
    );
    // Once every meeting is over, the row is forgotten.
    c.now = now() + Duration::days(450);
    let actions = c.plan();
    assert!(
        matches!(&actions[..], [Action::Forget { .. }]),
        "{actions:?}"
    );
}

#[test]
fn shortened_series_cancels_the_continuation_it_no_longer_reaches() {
    let (mut c, start) = continued_daily();
    let until = "UNTIL=20301210T010000Z";
    c.events = events(&vevent(
        "d",
        "20300602T010000Z",
        "20300602T020000Z",
        &format!("RRULE:FREQ=DAILY;{until}\r\n"),
    ));
    for e in &mut c.events {
        e.event.meeting_id = Some("m-d".into());
    }
    let actions = c.plan();
    assert!(
        actions.iter().any(|a| matches!(a, Action::CancelSegment { segment, meeting_id, .. } if *segment == start && meeting_id == "m-d-2")),
        "{actions:?}"
    );
    assert!(
        actions
            .iter()
            .any(|a| matches!(a, Action::Update { meeting_id, .. } if meeting_id == "m-d")),
        "{actions:?}"
    );
    c.settle();
    assert!(c.plan().is_empty(), "{:?}", c.plan());
}

#[test]
fn the_last_continuation_is_extended_and_may_be_continued_in_turn() {
    let (mut c, start) = continued_daily();
    // 152 days into the continuation, fewer than a quarter of its 200 remain.
    c.now = DateTime::from_timestamp(start, 0).unwrap() + Duration::days(152);
    let actions = c.plan();
    assert_eq!(actions.len(), 1, "{actions:?}");
    let Action::Extend {
        meeting_id,
        segment,
        desired,
        continuation: Some(next),
        ..
    } = &actions[0]
    else {
        panic!("{actions:?}")
    };
    assert_eq!((meeting_id.as_str(), *segment), ("m-d-2", Some(start)));
    assert!(desired.end > c.now && desired.start.timestamp() >= start);
    assert_eq!(next.start.timestamp(), start + 200 * 86_400);
    let second = c.refuse_extension();
    assert_eq!(second, start + 200 * 86_400);
    assert!(c.plan().is_empty(), "{:?}", c.plan());
}

#[test]
fn failed_continuation_is_not_retried_until_the_event_changes() {
    let (mut c, _) = continued_daily();
    c.segments[0].row.state = RowState::Failed;
    c.segments[0].row.attempts = 1;
    assert!(c.plan().is_empty(), "{:?}", c.plan());
    for e in &mut c.events {
        e.event.summary = "Daily (new)".into();
    }
    assert!(
        c.plan().iter().any(|a| matches!(a, Action::Update { .. })),
        "{:?}",
        c.plan()
    );
}

#[test]
fn missing_continuation_link_is_written_back() {
    let (mut c, _) = continued_daily();
    c.segments[0].row.written_back = false;
    let actions = c.plan();
    assert!(
        matches!(&actions[..], [Action::WriteBack { .. }]),
        "{actions:?}"
    );
}

#[test]
fn exdates_and_overrides_go_to_the_meeting_holding_that_date() {
    let (mut c, start) = continued_daily();
    let in_first = Utc.with_ymd_and_hms(2030, 11, 10, 1, 0, 0).unwrap();
    let in_second = Utc.with_ymd_and_hms(2031, 1, 5, 1, 0, 0).unwrap();
    let moved = Utc.with_ymd_and_hms(2031, 1, 7, 1, 0, 0).unwrap();
    assert!(in_second.timestamp() > start && in_first.timestamp() < start);
    c.events = events(&format!(
        "{}{}",
        vevent(
            "d",
            "20300602T010000Z",
            "20300602T020000Z",
            "RRULE:FREQ=DAILY\r\nEXDATE:20301110T010000Z,20310105T010000Z\r\n",
        ),
        vevent(
            "d",
            "20310107T030000Z",
            "20310107T040000Z",
            "RECURRENCE-ID:20310107T010000Z\r\n",
        )
    ));
    for e in &mut c.events {
        e.event.meeting_id = Some("m-d".into());
    }
    let actions = c.plan();
    let target = |t: DateTime<Utc>| {
        actions.iter().find_map(|a| match a {
            Action::CancelOccurrence {
                key, meeting_id, ..
            }
            | Action::MoveOccurrence {
                key, meeting_id, ..
            } if key.recurrence_id == Some(t.timestamp()) => Some(meeting_id.as_str()),
            _ => None,
        })
    };
    assert_eq!(target(in_first), Some("m-d"), "{actions:?}");
    assert_eq!(target(in_second), Some("m-d-2"), "{actions:?}");
    assert_eq!(target(moved), Some("m-d-2"), "{actions:?}");
}

// ---------------------------------------------------------------- adoption of continuations
// (the state database was lost; the event names its meeting and its continuations)

fn utc(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 1, 0, 0).unwrap()
}

fn continued_event(extra: &str) -> String {
    // Daily from 2030-06-02; the original held 200 days, a continuation the next 200, and a
    // second continuation the rest.
    let line = |t: DateTime<Utc>, id: &str| {
        format!(
            "X-CALMEET-CONTINUATION;X-CALMEET-FROM={}:{id}\r\n",
            t.format("%Y%m%dT%H%M%SZ")
        )
    };
    vevent(
        "d",
        "20300602T010000Z",
        "20300602T020000Z",
        &format!(
            "RRULE:FREQ=DAILY\r\nX-CALMEET-MEETING-ID:m-d\r\n{}{}{extra}",
            line(utc(2030, 12, 19), "m-d-2"),
            line(utc(2031, 7, 7), "m-d-3")
        ),
    )
}

fn adopt_of(actions: &[Action]) -> (&str, &[calmeet::sync::plan::ListedContinuation]) {
    actions
        .iter()
        .find_map(|a| match a {
            Action::Adopt {
                meeting_id,
                continuations,
                ..
            } => Some((meeting_id.as_str(), continuations.as_slice())),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no adoption: {actions:?}"))
}

#[test]
fn lost_state_adopts_the_listed_continuations_each_with_its_dates() {
    let c = Case::new(&continued_event(""));
    let actions = c.plan();
    assert_eq!(actions.len(), 1, "nothing created: {actions:?}");
    let (mid, listed) = adopt_of(&actions);
    assert_eq!(mid, "m-d");
    let ids: Vec<&str> = listed.iter().map(|l| l.meeting_id.as_str()).collect();
    assert_eq!(ids, ["m-d-2", "m-d-3"]);
    let (s1, s2) = (utc(2030, 12, 19), utc(2031, 7, 7));
    let first = listed[0].desired.as_ref().unwrap();
    assert_eq!(first.start, s1);
    assert!(first.occurrences.iter().all(|t| *t >= s1 && *t < s2));
    assert_eq!(first.occurrences.len(), 200);
    let second = listed[1].desired.as_ref().unwrap();
    assert_eq!(second.start, s2, "from its own start on");
    assert!(second.truncated, "the open-ended tail goes on");
    // The original holds only the dates before the first continuation.
    let Action::Adopt { desired, .. } = &actions[0] else {
        panic!()
    };
    let held = calmeet::sync::plan::window(desired.clone(), None, Some(s1.timestamp())).unwrap();
    assert_eq!(held.start, utc(2030, 6, 2));
    assert_eq!(*held.occurrences.last().unwrap(), utc(2030, 12, 18));
    assert_eq!(held.occurrences.len(), 200);
}

#[test]
fn a_continuation_the_series_no_longer_reaches_is_listed_without_dates() {
    // The series now ends before the second continuation.
    let mut c = Case::new(&continued_event("").replace("FREQ=DAILY", "FREQ=DAILY;COUNT=250"));
    c.now = now();
    let actions = c.plan();
    let (_, listed) = adopt_of(&actions);
    assert!(listed[0].desired.is_some());
    assert_eq!(listed[1].desired, None);
}

#[test]
fn old_event_without_continuation_lines_is_adopted_as_before() {
    let c = Case::new(&vevent(
        "d",
        "20300602T010000Z",
        "20300602T020000Z",
        "RRULE:FREQ=DAILY\r\nX-CALMEET-MEETING-ID:m-d\r\n",
    ));
    let actions = c.plan();
    let (mid, listed) = adopt_of(&actions);
    assert_eq!(mid, "m-d");
    assert!(listed.is_empty());
}

#[test]
fn a_state_without_the_listed_continuations_adopts_them_and_one_with_them_does_not() {
    let mut c = Case::new(&continued_event(""));
    // An older copy of the database: the event's row, but no segment.
    c.settle();
    let actions = c.plan();
    let (mid, listed) = adopt_of(&actions);
    assert_eq!((mid, listed.len()), ("m-d", 2));
    assert!(
        !actions.iter().any(|a| matches!(
            a,
            Action::Create { .. } | Action::Continue { .. } | Action::Extend { .. }
        )),
        "{actions:?}"
    );
    // Once the segments are recorded, the event is planned as a segmented series: quiet.
    let key = key("d");
    for l in listed {
        let mut row = EventRow::new(key.clone(), RowState::Created, 0);
        row.meeting_id = Some(l.meeting_id.clone());
        row.join_url = Some("https://meeting.tencent.com/dm/y".into());
        row.written_back = true;
        record(&mut row, l.desired.as_ref().unwrap());
        c.segments.push(Segment {
            start: l.start,
            row,
        });
    }
    let r = c.rows.iter_mut().find(|r| r.key == key).unwrap();
    let Action::Adopt { desired, .. } = &actions[0] else {
        panic!()
    };
    let held = calmeet::sync::plan::window(desired.clone(), None, Some(listed[0].start)).unwrap();
    record(r, &held);
    assert_eq!(c.plan(), vec![], "quiet after adoption");
    // A cancelled segment row (a continuation calmeet dropped) also stops re-adoption.
    c.segments.truncate(1);
    c.segments[0].row.state = RowState::Cancelled;
    assert!(
        !c.plan().iter().any(|a| matches!(a, Action::Adopt { .. })),
        "{:?}",
        c.plan()
    );
}

/// A `pending` row (a create whose answer was never recorded) whose event then leaves in any
/// way: the plan withdraws it — finds the meeting and cancels it — instead of leaving the row
/// (and perhaps a live meeting) for good. Issue 12, kind 1.
#[test]
fn pending_row_is_withdrawn_whatever_way_the_event_leaves() {
    let tagged = vevent("a", "20300602T010000Z", "20300602T020000Z", "");
    let untagged = tagged.replace(
        "CATEGORIES:Tencent Meeting\r\n",
        "X-CALMEET-MEETING-ID:m-old\r\n",
    );
    let cases: Vec<(&str, Vec<SourcedEvent>, CancelReason, bool)> = vec![
        (
            "cancelled",
            events(&vevent(
                "a",
                "20300602T010000Z",
                "20300602T020000Z",
                "STATUS:CANCELLED\r\n",
            )),
            CancelReason::EventCancelled,
            false,
        ),
        ("untagged", events(&untagged), CancelReason::Untagged, false),
        ("deleted", Vec::new(), CancelReason::EventDeleted, true),
        (
            "moved beyond the horizon",
            events(&vevent("a", "20310602T010000Z", "20310602T020000Z", "")),
            CancelReason::OutOfRange,
            false,
        ),
        (
            "moved into the past",
            events(&vevent("a", "20300502T010000Z", "20300502T020000Z", "")),
            CancelReason::OutOfRange,
            false,
        ),
        (
            "made all-day",
            events(
                "BEGIN:VEVENT\r\nUID:a\r\nDTSTAMP:20300101T000000Z\r\nDTSTART;VALUE=DATE:20300602\r\nSUMMARY:Sync a\r\nCATEGORIES:Tencent Meeting\r\nEND:VEVENT\r\n",
            ),
            CancelReason::OutOfRange,
            false,
        ),
    ];
    for (what, evs, want_reason, want_gone) in cases {
        let mut c = Case::new(&tagged);
        c.rows.push(EventRow::new(key("a"), RowState::Pending, 0));
        c.events = evs;
        c.confirm = true;
        let actions = c.plan();
        assert_eq!(actions.len(), 1, "{what}: {actions:?}");
        assert!(
            matches!(&actions[0], Action::Withdraw { key: k, reason, gone } if *k == key("a") && *reason == want_reason && *gone == want_gone),
            "{what}: {actions:?}"
        );
    }
}

/// A deleted event's create in doubt counts as a disappearance: an empty feed holds it like
/// any cancellation.
#[test]
fn pending_row_of_a_vanished_event_is_held_with_the_other_disappearances() {
    let body: String = ["a", "b"]
        .iter()
        .map(|u| vevent(u, "20300602T010000Z", "20300602T020000Z", ""))
        .collect();
    let mut c = Case::new(&body);
    c.settle();
    c.rows.push(EventRow::new(key("p"), RowState::Pending, 0));
    c.events.clear();
    let actions = c.plan();
    assert!(
        matches!(&actions[..], [Action::HoldCancels { count: 3, .. }]),
        "{actions:?}"
    );
}

/// A committed series change set the occurrence rows back to `pending` (the API resets
/// sub-meetings): the next pass sends them again although the series' fingerprint matches,
/// and forgets a re-send whose EXDATE is gone. Issue 12, kind 2.
#[test]
fn occurrence_changes_left_to_resend_are_sent_after_a_committed_series_change() {
    let master = |extra: &str| {
        vevent(
            "s",
            "20300603T010000Z",
            "20300603T020000Z",
            &format!("RRULE:FREQ=WEEKLY;COUNT=6\r\n{extra}"),
        )
    };
    let moved = vevent(
        "s",
        "20300617T030000Z",
        "20300617T040000Z",
        "RECURRENCE-ID:20300617T010000Z\r\n",
    );
    let mut c = Case::new(&format!("{}{moved}", master("EXDATE:20300610T010000Z\r\n")));
    c.settle();
    c.settle();
    // The move is recorded as apply records it.
    let rid = |d| {
        Some(
            Utc.with_ymd_and_hms(2030, 6, d, 1, 0, 0)
                .unwrap()
                .timestamp(),
        )
    };
    let plan_moves = c.plan();
    for a in plan_moves {
        if let Action::MoveOccurrence {
            key,
            meeting_id,
            fingerprint,
            ..
        } = a
        {
            let mut r = EventRow::new(key, RowState::Created, 0);
            r.meeting_id = Some(meeting_id);
            r.sub_meeting_id = r.key.recurrence_id.map(|t| t.to_string());
            r.fingerprint = Some(fingerprint);
            c.rows.push(r);
        }
    }
    assert!(c.plan().is_empty(), "{:?}", c.plan());
    // What `Store::commit_series_change` leaves after a rename whose re-sends a crash cut off.
    for r in c.rows.iter_mut().filter(|r| r.key.recurrence_id.is_some()) {
        r.state = RowState::Pending;
        r.fingerprint = None;
    }
    let actions = c.plan();
    assert_eq!(actions.len(), 2, "{actions:?}");
    assert!(
        actions.iter().any(
            |a| matches!(a, Action::CancelOccurrence { key, .. } if key.recurrence_id == rid(10))
        ),
        "{actions:?}"
    );
    assert!(
        actions.iter().any(
            |a| matches!(a, Action::MoveOccurrence { key, .. } if key.recurrence_id == rid(17))
        ),
        "{actions:?}"
    );
    // The user removed the EXDATE and the override meanwhile: nothing to send, rows forgotten.
    c.events = events(&master(""));
    for e in &mut c.events {
        e.event.meeting_id = Some("m-s".into());
    }
    let actions = c.plan();
    let forgets = actions
        .iter()
        .filter(|a| matches!(a, Action::Forget { .. }))
        .count();
    assert_eq!(forgets, 2, "{actions:?}");
}

/// An EXDATE recorded as cancelled on another meeting (before the series was re-created) is
/// sent to the meeting that holds the series now.
#[test]
fn occurrence_cancelled_on_an_earlier_meeting_is_cancelled_on_the_current_one() {
    let body = vevent(
        "s",
        "20300603T010000Z",
        "20300603T020000Z",
        "RRULE:FREQ=WEEKLY;COUNT=6\r\nEXDATE:20300610T010000Z\r\n",
    );
    let mut c = Case::new(&body);
    c.settle();
    c.settle();
    assert!(c.plan().is_empty(), "{:?}", c.plan());
    for r in c.rows.iter_mut().filter(|r| r.key.recurrence_id.is_some()) {
        r.meeting_id = Some("m-earlier".into());
    }
    let actions = c.plan();
    assert!(
        matches!(&actions[..], [Action::CancelOccurrence { meeting_id, .. }] if meeting_id == "m-s"),
        "{actions:?}"
    );
}
