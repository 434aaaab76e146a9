//! The sync rules: a pure function from (events seen, state rows, clock) to actions.
//!
//! Everything calmeet decides lives here, readable top to bottom and tested without I/O.
//! `apply` executes the actions; `--dry-run` prints them.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};

use crate::config::{CalendarConfig, MeetingConfig};
use crate::event::{Event, Timing};
use crate::fingerprint;
use crate::recurrence::{self, RecurringRule};
use crate::store::{EventKey, EventRow, RowState, Segment};
use crate::tencent::types::LiveConfig;

/// An event together with where it is stored.
#[derive(Debug, Clone)]
pub struct SourcedEvent {
    /// The parsed event.
    pub event: Event,
    /// Href of the calendar object holding it (CalDAV), for write-back.
    pub href: Option<String>,
    /// ETag of that object as read.
    pub etag: Option<String>,
}

/// What the meeting for an event should look like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Desired {
    /// Subject (SUMMARY cut to the limit).
    pub subject: String,
    /// Start of the (first remaining) meeting.
    pub start: DateTime<Utc>,
    /// Its end.
    pub end: DateTime<Utc>,
    /// Recurrence, for a series.
    pub rule: Option<RecurringRule>,
    /// End of the last occurrence the meeting will hold.
    pub series_end: DateTime<Utc>,
    /// The series goes on past what the meeting holds.
    pub truncated: bool,
    /// Starts of the occurrences the meeting will hold (EXDATEs left out); one for a single
    /// meeting. Stored so that `status` can show the next one and the plan can tell when a
    /// truncated series must be extended.
    pub occurrences: Vec<DateTime<Utc>>,
    /// Creator userid (the mapped ORGANIZER, else the calendar's or the default).
    pub userid: String,
    /// Invitees' userids (mapped ATTENDEEs, at most [`MAX_INVITEES`]); `None` when no
    /// `[meeting.users]` table is configured, so invitees are never sent.
    pub invitees: Option<Vec<String>>,
    /// IANA zone name of DTSTART, sent as `time_zone`.
    pub time_zone: Option<String>,
    /// Designated hosts besides the creator (API `hosts`): the mapped ORGANIZER when it is not
    /// the creator, then mapped `ROLE=CHAIR` attendees; `None` when no `[meeting.users]` table
    /// is configured, so hosts are never sent.
    pub hosts: Option<Vec<String>>,
    /// Settings, password, location and live streaming (reference §2.2).
    pub options: MeetingOptions,
    /// Fingerprint of the event's meeting-relevant fields and of the options
    /// ([`fingerprint::with_options`]).
    pub fingerprint: String,
}

/// Longest `location` the API takes: 18 CJK or 36 Latin characters (reference §5), counted
/// here as width units (ASCII 1, anything else 2).
pub const LOCATION_MAX_WIDTH: usize = 36;
/// Longest `live_summary` sent, in the width units of the API's subject rule (512 bytes,
/// ASCII counted 2 and CJK up to 4, reference §2.2 via Tencent's create doc); the API documents
/// no limit of its own for the summary.
pub const LIVE_TEXT_MAX_WIDTH: usize = 512;

/// A meeting's options besides subject and times: where each comes from is in the README
/// table "Create-meeting fields". `Debug` never shows a password.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct MeetingOptions {
    /// `settings`: `[calendar.meeting.settings]` merged over `[meeting.settings]`.
    pub settings: serde_json::Map<String, serde_json::Value>,
    /// `password` (4–6 digits).
    pub password: Option<String>,
    /// `location`: the event's LOCATION cut to [`LOCATION_MAX_WIDTH`], with
    /// `[calendar.meeting] location = "event"` (empty when the event has none or only a link:
    /// not sent on create, clears the meeting's on modify); `None`: not managed.
    pub location: Option<String>,
    /// `live_config` (with `enable_live`) when the meeting is streamed.
    pub live: Option<LiveConfig>,
    /// `sync_to_wework` (create only; not part of the fingerprint: it cannot change).
    pub sync_to_wework: Option<bool>,
    /// `instanceid` of this calendar's calls.
    pub instanceid: i64,
}

impl std::fmt::Debug for MeetingOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MeetingOptions")
            .field("settings", &self.settings)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("location", &self.location)
            .field("live", &self.live.is_some())
            .field("sync_to_wework", &self.sync_to_wework)
            .field("instanceid", &self.instanceid)
            .finish()
    }
}

impl MeetingOptions {
    /// The canonical text the fingerprint hashes: everything a modify can change.
    fn canon(&self, hosts: Option<&[String]>) -> String {
        serde_json::json!({
            "settings": self.settings,
            "password": self.password,
            "location": self.location,
            "hosts": hosts,
            "live": self.live,
        })
        .to_string()
    }
}

/// `text` cut to `max` width units, counting ASCII as `ascii` and anything else as `other`.
#[must_use]
pub fn cut_width(text: &str, max: usize, ascii: usize, other: usize) -> String {
    let mut used = 0;
    text.chars()
        .take_while(|c| {
            used += if c.is_ascii() { ascii } else { other };
            used <= max
        })
        .collect()
}

/// A continuation meeting named in an event (`X-CALMEET-CONTINUATION`), to be verified and
/// recorded when the state has lost it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedContinuation {
    /// Start of its first occurrence: the segment's identity.
    pub start: i64,
    /// Its meeting id.
    pub meeting_id: String,
    /// The meeting as the event now says, limited to its dates (up to the next listed
    /// continuation); `None` when the series holds none of them from now on (they are past, or
    /// the series no longer reaches them).
    pub desired: Option<Desired>,
}

/// Why a meeting is cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelReason {
    /// The event has STATUS:CANCELLED.
    EventCancelled,
    /// The event is gone from the calendar.
    EventDeleted,
    /// The event is no longer tagged.
    Untagged,
    /// The meeting must be replaced by a new one (single ↔ series).
    Replaced,
    /// The event's organizer maps to another creator; the meeting is re-created under it.
    CreatorChanged,
    /// A create in doubt was for dates the event no longer asks for: it moved into the past
    /// or beyond the horizon, or can no longer be held by a meeting (all-day, unsupported
    /// rule). A meeting that has started is never cancelled for this.
    OutOfRange,
    /// The event can no longer be held exactly (an RDATE or a second RRULE was added, a
    /// duplicate appeared, …): its meeting would hold other instants than the calendar.
    Refused,
}

impl CancelReason {
    /// Text sent as the API's `reason_detail` and shown in logs.
    #[must_use]
    pub fn text(self) -> &'static str {
        match self {
            Self::EventCancelled => "calendar event cancelled",
            Self::EventDeleted => "calendar event deleted",
            Self::Untagged => "calendar event no longer tagged as an online meeting",
            Self::Replaced => "calendar event changed between single and recurring",
            Self::CreatorChanged => "calendar event organizer changed",
            Self::OutOfRange => "calendar event moved out of the dates calmeet holds meetings for",
            Self::Refused => "calendar event can no longer be held exactly",
        }
    }
}

/// One thing to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Create a meeting (after reconciling a `pending` row) and write it back.
    Create {
        /// The event.
        key: EventKey,
        /// The meeting.
        desired: Desired,
        /// A create was sent before and its outcome is unknown: look for it first.
        reconcile: bool,
        /// Object to write the link into.
        href: Option<String>,
        /// Its ETag as read.
        etag: Option<String>,
    },
    /// The event names a meeting calmeet made but the state has no row (or has no row for the
    /// continuations the event names): verify and record it, and each continuation, instead of
    /// creating another.
    Adopt {
        /// The event.
        key: EventKey,
        /// The meeting id found in the event.
        meeting_id: String,
        /// The meeting as the event now says (the original meeting holds only the dates before
        /// the first continuation).
        desired: Desired,
        /// The continuations the event names (`X-CALMEET-CONTINUATION`), in order; empty for
        /// an event held by one meeting.
        continuations: Vec<ListedContinuation>,
        /// Object href.
        href: Option<String>,
        /// Its ETag.
        etag: Option<String>,
    },
    /// Modify the meeting in place (same id, same link).
    Update {
        /// The event.
        key: EventKey,
        /// The meeting.
        meeting_id: String,
        /// The meeting as the event now says.
        desired: Desired,
    },
    /// Extend a truncated series (too long for the API, or without end) in place: the rule is
    /// sent again from the next occurrence on, holding as many occurrences as the API allows.
    /// When the API refuses that (see `apply::refuses_in_place`), `continuation` is created
    /// instead: a new meeting for the occurrences after the last one the meeting holds.
    Extend {
        /// The event.
        key: EventKey,
        /// The meeting.
        meeting_id: String,
        /// The meeting from the next occurrence on.
        desired: Desired,
        /// The continuation segment being extended (its start); `None` for the event's own
        /// meeting.
        segment: Option<i64>,
        /// The meeting to create if the extension is refused (from the first occurrence after
        /// the last one held, capped like a create); `None` when nothing follows.
        continuation: Option<Box<Desired>>,
    },
    /// Create a continuation meeting of a series (after reconciling a `pending` segment): the
    /// event's meeting could not be extended in place. Both links are then written back.
    Continue {
        /// The event.
        key: EventKey,
        /// The segment: start of its first occurrence.
        segment: i64,
        /// The continuation meeting.
        desired: Desired,
        /// A create was sent before and its outcome is unknown: look for it first.
        reconcile: bool,
        /// Object to write the links into.
        href: Option<String>,
    },
    /// Modify a continuation meeting in place (the event changed).
    UpdateSegment {
        /// The event.
        key: EventKey,
        /// The segment's start.
        segment: i64,
        /// Its meeting.
        meeting_id: String,
        /// The meeting as the event now says, limited to the segment's dates.
        desired: Desired,
    },
    /// Cancel a continuation meeting the series no longer reaches (the event changed); the
    /// block is rewritten without it.
    CancelSegment {
        /// The event.
        key: EventKey,
        /// The segment's start.
        segment: i64,
        /// Its meeting.
        meeting_id: String,
        /// Its creator.
        userid: String,
        /// Object holding the links.
        href: Option<String>,
    },
    /// Cancel the meeting and remove the block from the event.
    Cancel {
        /// The event.
        key: EventKey,
        /// The meeting.
        meeting_id: String,
        /// Its creator.
        userid: String,
        /// Why.
        reason: CancelReason,
        /// Whether the meeting is a series.
        recurring: bool,
        /// Object to remove the block from, if it still exists.
        href: Option<String>,
    },
    /// A create in doubt (a `pending` row: the create may have reached the server, its answer
    /// never recorded) whose event no longer wants that meeting — deleted, cancelled,
    /// untagged, or out of range. Look for the meeting by what was sent (after the reconcile
    /// grace when nothing is listed), cancel it if it exists, then record the event as
    /// cancelled, or forget the row when the event is gone.
    Withdraw {
        /// The event.
        key: EventKey,
        /// Why.
        reason: CancelReason,
        /// The event is gone from the calendar: forget the row once resolved.
        gone: bool,
    },
    /// Cancel one occurrence of a series (EXDATE or a cancelled override).
    CancelOccurrence {
        /// Key of the occurrence (recurrence_id = original start).
        key: EventKey,
        /// The series' meeting.
        meeting_id: String,
        /// Its creator.
        userid: String,
    },
    /// Move one occurrence of a series (a RECURRENCE-ID override with other times).
    MoveOccurrence {
        /// Key of the occurrence.
        key: EventKey,
        /// The series' meeting.
        meeting_id: String,
        /// Its creator.
        userid: String,
        /// New start.
        start: DateTime<Utc>,
        /// New end.
        end: DateTime<Utc>,
        /// Fingerprint of the override.
        fingerprint: String,
    },
    /// Record a meeting's full fingerprint over one stored before meeting options were part of
    /// it ([`fingerprint::same_meeting`]): a state write only, no API call, no calendar write.
    Record {
        /// The event.
        key: EventKey,
        /// The continuation segment (its start); `None` for the event's own meeting.
        segment: Option<i64>,
        /// The fingerprint to store.
        fingerprint: String,
    },
    /// Put the join link (back) into the event.
    WriteBack {
        /// The event.
        key: EventKey,
        /// Object href.
        href: String,
    },
    /// The event cannot get a meeting; say so once.
    Skip {
        /// The event.
        key: EventKey,
        /// Why (shown in the warning and in `status`).
        reason: String,
    },
    /// The meeting is over and the event gone: forget the row.
    Forget {
        /// The event.
        key: EventKey,
    },
    /// Too many cancellations at once: hold them until the next pass confirms.
    HoldCancels {
        /// Calendar name.
        calendar: String,
        /// Cancellations held.
        count: usize,
        /// Live meetings in the calendar.
        live: usize,
        /// Identifies the held set so that the next pass can confirm it.
        token: String,
    },
}

impl Action {
    /// The key this action is about (the calendar name for `HoldCancels`).
    #[must_use]
    pub fn sort_key(&self) -> (u8, String, String, i64) {
        let (rank, key) = match self {
            Self::HoldCancels { calendar, .. } => {
                return (0, calendar.clone(), String::new(), 0);
            }
            Self::Cancel { key, .. }
            | Self::CancelSegment { key, .. }
            | Self::Withdraw { key, .. } => (1, key),
            Self::Forget { key } => (2, key),
            Self::Update { key, .. }
            | Self::Extend { key, .. }
            | Self::UpdateSegment { key, .. }
            | Self::Record { key, .. } => (3, key),
            Self::Adopt { key, .. } => (4, key),
            Self::Create { key, .. } | Self::Continue { key, .. } => (5, key),
            Self::CancelOccurrence { key, .. } => (6, key),
            Self::MoveOccurrence { key, .. } => (7, key),
            Self::WriteBack { key, .. } => (8, key),
            Self::Skip { key, .. } => (9, key),
        };
        (
            rank,
            key.calendar.clone(),
            key.uid.clone(),
            key.recurrence_id.unwrap_or(-1),
        )
    }
}

/// Everything `plan` looks at for one calendar.
#[derive(Debug)]
pub struct PlanInput<'a> {
    /// The calendar.
    pub calendar: &'a CalendarConfig,
    /// Meeting defaults.
    pub meeting: &'a MeetingConfig,
    /// Tagged events (and events carrying a calmeet meeting id) seen in the calendar.
    pub events: &'a [SourcedEvent],
    /// UIDs of tagged events that could not be read: their meetings are left alone.
    pub failed_uids: &'a HashSet<String>,
    /// State rows of this calendar.
    pub rows: &'a [EventRow],
    /// Continuation segments of this calendar's events (any state).
    pub segments: &'a [Segment],
    /// The clock.
    pub now: DateTime<Utc>,
    /// How far ahead events are considered.
    pub horizon: Duration,
    /// Share of live meetings that may be cancelled at once.
    pub max_cancel_share: f64,
    /// `--confirm-deletions`.
    pub confirm_deletions: bool,
    /// Token of the cancellations held in the previous pass.
    pub held_cancels: Option<&'a str>,
}

/// Most invitees per create or modify call (API reference §2).
pub const MAX_INVITEES: usize = 300;

/// Whether a truncated series must be extended now: fewer than a quarter of the occurrences it
/// was created (or last extended) with have yet to end. Rows without stored occurrences fall
/// back to the share of the held time span still ahead.
#[must_use]
pub fn needs_extension_now(r: &EventRow, now: DateTime<Utc>) -> bool {
    if !r.needs_extension || !r.recurring {
        return false;
    }
    let now = now.timestamp();
    let length = r.end_at.zip(r.start_at).map_or(0, |(e, s)| e - s);
    if !r.occurrences.is_empty() {
        let remaining = r.occurrences.iter().filter(|s| **s + length > now).count();
        return remaining * 4 < r.occurrences.len();
    }
    match (r.start_at, r.series_end_at) {
        (Some(s), Some(e)) if e > s => (e - now) * 4 < (e - s),
        _ => false,
    }
}

/// The next occurrence of a row's meeting that has not ended at `now` (its start), for
/// `status`: the first stored occurrence still ahead, else the row's start when it is.
#[must_use]
pub fn next_occurrence(r: &EventRow, now: DateTime<Utc>) -> Option<i64> {
    let now = now.timestamp();
    let length = r.end_at.zip(r.start_at).map_or(0, |(e, s)| e - s);
    r.occurrences
        .iter()
        .copied()
        .find(|s| s + length > now)
        .or_else(|| r.start_at.filter(|s| s + length > now))
}

/// Computes the actions for one calendar, sorted deterministically.
#[must_use]
pub fn plan(input: &PlanInput<'_>) -> Vec<Action> {
    let cal = &input.calendar.name;
    let rows: HashMap<&EventKey, &EventRow> = input.rows.iter().map(|r| (&r.key, r)).collect();
    let mut actions = Vec::new();
    let mut seen: HashSet<EventKey> = HashSet::new();
    let mut disappearing = Vec::new();
    // Meetings (by id) whose rule is sent again this pass, with the window they will hold:
    // Tencent may reset their occurrences, so cancelled and moved occurrences are sent again.
    let mut resent: HashMap<String, (i64, i64)> = HashMap::new();

    // Masters and single events first: overrides need their master's decision.
    let mut masters: BTreeMap<&str, &SourcedEvent> = BTreeMap::new();
    for se in input
        .events
        .iter()
        .filter(|se| se.event.recurrence_id.is_none())
    {
        masters.insert(se.event.uid.as_str(), se);
    }
    // An override whose master is not in the calendar (an invitation to one occurrence) is a
    // single event of its own, keyed by UID + RECURRENCE-ID.
    let mut units: Vec<(EventKey, &SourcedEvent)> = masters
        .iter()
        .map(|(uid, se)| {
            let key = EventKey {
                calendar: cal.clone(),
                uid: (*uid).to_owned(),
                recurrence_id: None,
            };
            (key, *se)
        })
        .collect();
    // An occurrence moved out of the past has a meeting of its own, but the object's link
    // block is the series': its meeting is never written into the object (it would replace the
    // series' link in every component) and the series' link it carries is not its own.
    let detached: Vec<SourcedEvent> = input
        .events
        .iter()
        .filter(|se| moved_out_of_the_past(se, &masters, input.now))
        .map(|se| {
            let mut own = se.clone();
            own.href = None;
            own.event.meeting_id = None;
            own.event.continuations.clear();
            own
        })
        .collect();
    units.extend(
        input
            .events
            .iter()
            .filter(|se| se.event.standalone && !masters.contains_key(se.event.uid.as_str()))
            .chain(&detached)
            .map(|se| {
                let key = EventKey {
                    calendar: cal.clone(),
                    uid: se.event.uid.clone(),
                    recurrence_id: se.event.recurrence_id,
                };
                (key, se)
            }),
    );
    for (key, se) in units {
        seen.insert(key.clone());
        let row = rows.get(&key).copied();
        let ev = &se.event;
        let live = row.filter(|r| r.state == RowState::Created && r.meeting_id.is_some());
        let segments = segments_of(input.segments, &key);
        let live_segments: Vec<&Segment> = segments
            .iter()
            .copied()
            .filter(|s| s.row.state == RowState::Created && s.row.meeting_id.is_some())
            .collect();

        if ev.cancelled || !ev.tagged {
            if let Some(r) = live {
                let reason = if ev.cancelled {
                    CancelReason::EventCancelled
                } else {
                    CancelReason::Untagged
                };
                let a = cancel_action(r, reason, se.href.clone().or_else(|| r.href.clone()));
                if series_over(r, &live_segments, input.now) {
                    actions.push(Action::Forget { key });
                } else if reason == CancelReason::Untagged {
                    disappearing.push(a);
                } else {
                    actions.push(a);
                }
            } else if let Some(r) = row.filter(|r| {
                // Cancelled, but the pass died before the block left the event: finish it.
                r.state == RowState::Cancelled
                    && r.written_back
                    && r.meeting_id.is_some()
                    && r.meeting_id == ev.meeting_id
                    && !meeting_over(r, input.now)
            }) && input.calendar.writes_back()
                && se.href.is_some()
            {
                let reason = if ev.cancelled {
                    CancelReason::EventCancelled
                } else {
                    CancelReason::Untagged
                };
                actions.push(cancel_action(r, reason, se.href.clone()));
            } else if row.is_some_and(|r| r.state == RowState::Failed) && segments.is_empty() {
                // A failed create for an event that no longer wants a meeting: nothing is
                // failing any more (issue #11: it must not stay reported).
                actions.push(Action::Forget { key });
            } else if row.is_some_and(|r| r.state == RowState::Pending) {
                // A create in doubt: its meeting may exist, and must not outlive the event.
                let withdraw = Action::Withdraw {
                    key,
                    reason: if ev.cancelled {
                        CancelReason::EventCancelled
                    } else {
                        CancelReason::Untagged
                    },
                    gone: false,
                };
                if ev.cancelled {
                    actions.push(withdraw);
                } else {
                    disappearing.push(withdraw);
                }
            }
            continue;
        }
        let pending = row.is_some_and(|r| r.state == RowState::Pending);
        let desired = match desired_meeting(ev, input) {
            Ok(Some(d)) => d,
            // Not within the horizon yet, or already over: a create in doubt for other dates
            // is withdrawn (never a meeting that has started); a failed create of it is no
            // longer failing (it is created when the event comes within reach).
            Ok(None) => {
                if pending {
                    actions.push(Action::Withdraw {
                        key,
                        reason: CancelReason::OutOfRange,
                        gone: false,
                    });
                } else if row.is_some_and(|r| r.state == RowState::Failed) && segments.is_empty() {
                    actions.push(Action::Forget { key });
                }
                continue;
            }
            // The skip is recorded once the create in doubt is resolved (next pass).
            Err(_) if pending => {
                actions.push(Action::Withdraw {
                    key,
                    reason: CancelReason::OutOfRange,
                    gone: false,
                });
                continue;
            }
            Err(reason) => {
                if let Some(r) = live {
                    // Refused now, held before: the meeting would hold other instants than the
                    // calendar. It is cancelled (through the mass-cancellation guard); the skip
                    // line naming the cause follows on the next pass.
                    if !series_over(r, &live_segments, input.now) {
                        let href = se.href.clone().or_else(|| r.href.clone());
                        disappearing.push(cancel_action(r, CancelReason::Refused, href));
                    }
                    continue;
                }
                let known = row.is_some_and(|r| {
                    r.state == RowState::Skipped && r.last_error.as_deref() == Some(reason.as_str())
                });
                if live.is_none() && !known {
                    actions.push(Action::Skip { key, reason });
                }
                continue;
            }
        };
        match row {
            None => {
                if let Some(mid) = &ev.meeting_id {
                    actions.push(Action::Adopt {
                        key,
                        meeting_id: mid.clone(),
                        desired,
                        continuations: listed_continuations(ev, input),
                        href: se.href.clone(),
                        etag: se.etag.clone(),
                    });
                } else if desired.start > input.now {
                    actions.push(create(key, desired, false, se));
                } else if desired.rule.is_some()
                    && let Some(next) = next_series_ahead(ev, input, &desired)
                {
                    // An occurrence is under way: a meeting cannot start in the past, so the
                    // series gets its meeting from the next occurrence now rather than only
                    // once this one has ended.
                    actions.push(create(key, next, false, se));
                }
            }
            Some(r) => match r.state {
                RowState::Pending => actions.push(create(key, desired, true, se)),
                RowState::Created => {
                    let Some(mid) = r.meeting_id.clone() else {
                        actions.push(create(key, desired, true, se));
                        continue;
                    };
                    if segments.is_empty()
                        && !ev.continuations.is_empty()
                        && ev.meeting_id.as_deref() == Some(mid.as_str())
                    {
                        // The state knows the event's meeting but none of the continuations
                        // the event names (an older copy of the database): verify and record
                        // them instead of ever continuing the series a second time.
                        actions.push(Action::Adopt {
                            key,
                            meeting_id: mid,
                            desired,
                            continuations: listed_continuations(ev, input),
                            href: se.href.clone(),
                            etag: se.etag.clone(),
                        });
                        continue;
                    }
                    if let Some(p) = segments.iter().find(|s| s.row.state == RowState::Pending) {
                        // An interrupted continuation create: find it before anything else.
                        let before = predecessor(r, &live_segments, p.start);
                        if let Some(c) = continuation_after(ev, input, before) {
                            actions.push(Action::Continue {
                                key,
                                segment: p.start,
                                desired: c,
                                reconcile: true,
                                href: se.href.clone(),
                            });
                        }
                        continue;
                    }
                    if !live_segments.is_empty() {
                        plan_segmented(
                            input,
                            &key,
                            se,
                            &desired,
                            r,
                            &live_segments,
                            &mut resent,
                            &mut actions,
                        );
                        continue;
                    }
                    let window = (desired.start.timestamp(), desired.series_end.timestamp());
                    let same =
                        fingerprint::same_meeting(r.fingerprint.as_deref(), &desired.fingerprint);
                    if same && r.fingerprint.as_deref().is_some_and(fingerprint::is_legacy) {
                        actions.push(Action::Record {
                            key: key.clone(),
                            segment: None,
                            fingerprint: desired.fingerprint.clone(),
                        });
                    }
                    if !same {
                        if desired.series_end <= input.now {
                            // Moved into the past: the meeting is left as it was.
                        } else if r.recurring != desired.rule.is_some() {
                            actions.push(cancel_action(r, CancelReason::Replaced, None));
                            actions.push(create(key.clone(), desired, false, se));
                        } else if r.userid.as_deref() != Some(desired.userid.as_str()) {
                            actions.push(cancel_action(r, CancelReason::CreatorChanged, None));
                            actions.push(create(key.clone(), desired, false, se));
                        } else {
                            if desired.rule.is_some() {
                                resent.insert(mid.clone(), window);
                            }
                            actions.push(Action::Update {
                                key: key.clone(),
                                meeting_id: mid.clone(),
                                desired,
                            });
                        }
                    } else if desired.rule.is_some()
                        && needs_extension_now(r, input.now)
                        && !continuation_failed(&segments, r, &desired, input.now)
                    {
                        // Only what the meeting holds now is sure to be there after this pass:
                        // the extension may be refused (and a continuation made instead).
                        let held_end = r.series_end_at.unwrap_or(window.1);
                        resent.insert(mid.clone(), (window.0, window.1.min(held_end)));
                        let continuation = continuation_after(ev, input, r).map(Box::new);
                        actions.push(Action::Extend {
                            key: key.clone(),
                            meeting_id: mid.clone(),
                            desired,
                            segment: None,
                            continuation,
                        });
                    }
                    let link_missing =
                        ev.meeting_id.as_deref() != Some(mid.as_str()) || !r.written_back;
                    if input.calendar.writes_back()
                        && link_missing
                        && let Some(href) = &se.href
                    {
                        actions.push(Action::WriteBack {
                            key,
                            href: href.clone(),
                        });
                    }
                }
                RowState::Failed => {
                    if desired.start > input.now && retry_due(r, &desired, input) {
                        actions.push(create(key, desired, false, se));
                    }
                }
                RowState::Cancelled | RowState::Skipped => {
                    if desired.start > input.now {
                        if let Some(mid) = &ev.meeting_id
                            && r.meeting_id.as_deref() != Some(mid.as_str())
                        {
                            let continuations = if segments.is_empty() {
                                listed_continuations(ev, input)
                            } else {
                                Vec::new()
                            };
                            actions.push(Action::Adopt {
                                key,
                                meeting_id: mid.clone(),
                                desired,
                                continuations,
                                href: se.href.clone(),
                                etag: se.etag.clone(),
                            });
                            continue;
                        }
                        actions.push(create(key, desired, false, se));
                    }
                }
            },
        }
    }

    plan_occurrences(input, &masters, &rows, &resent, &mut seen, &mut actions);

    // Rows whose event is gone.
    for r in input.rows {
        if seen.contains(&r.key) || input.failed_uids.contains(&r.key.uid) {
            continue;
        }
        // A standalone override's row holds a meeting of its own (no sub-meeting id): when its
        // event vanishes, the meeting is cancelled like any single event's. That is also so
        // for an occurrence moved out of the past while its master stays (a live row; the
        // rows of cancelled occurrences are `cancelled`, those of moved ones name their
        // sub-meeting).
        let standalone_row = r.key.recurrence_id.is_some()
            && r.sub_meeting_id.is_none()
            && !r.recurring
            && r.meeting_id.is_some()
            && (!masters.contains_key(r.key.uid.as_str()) || r.state == RowState::Created);
        if r.key.recurrence_id.is_some() && !standalone_row {
            // An occurrence row whose override vanished: the series decides (see above). A
            // re-send left to do (`pending`) for an EXDATE or override that is gone, or for a
            // series without a live meeting, is dropped: the series' own change covers it.
            if !masters.contains_key(r.key.uid.as_str()) || r.state == RowState::Pending {
                actions.push(Action::Forget { key: r.key.clone() });
            }
            continue;
        }
        match r.state {
            RowState::Created if r.meeting_id.is_some() => {
                let segments = segments_of(input.segments, &r.key);
                let live: Vec<&Segment> = segments
                    .into_iter()
                    .filter(|s| s.row.state == RowState::Created)
                    .collect();
                if series_over(r, &live, input.now) {
                    actions.push(Action::Forget { key: r.key.clone() });
                } else {
                    let mut cancel = cancel_action(r, CancelReason::EventDeleted, None);
                    // The object is gone: there is no block left to remove.
                    if let Action::Cancel { href, .. } = &mut cancel {
                        *href = None;
                    }
                    if masters.contains_key(r.key.uid.as_str()) {
                        // One override gone from an event that is still there: no sign of an
                        // emptied calendar, so not held by the mass-cancellation guard.
                        actions.push(cancel);
                    } else {
                        disappearing.push(cancel);
                    }
                }
            }
            // A create in doubt whose event vanished: its meeting may exist. Look for it (after
            // the grace), cancel it, then forget the row; held like any disappearance.
            RowState::Pending => disappearing.push(Action::Withdraw {
                key: r.key.clone(),
                reason: CancelReason::EventDeleted,
                gone: true,
            }),
            _ => actions.push(Action::Forget { key: r.key.clone() }),
        }
    }

    guard_mass_cancellation(input, disappearing, &mut actions);
    actions.sort_by_key(Action::sort_key);
    actions
}

/// Whether a failed create is sent again now (issue #11). Any change of the request the event
/// and the config shape (subject, rule, creator, invitees, settings, password, …) retries it
/// at once; otherwise a create that may pass later waits for its `next_attempt_at` (a backoff
/// that grows across passes, persisted in the row), and one the API refused as it is waits
/// for such a change. Rows from before the backoff (`attempts` 0) are retried.
#[must_use]
pub fn retry_due(r: &EventRow, desired: &Desired, input: &PlanInput<'_>) -> bool {
    let request = crate::sync::apply::create_request_for(desired);
    let changed = !fingerprint::same_meeting(r.fingerprint.as_deref(), &desired.fingerprint)
        || r.request_hash.as_deref() != Some(crate::sync::apply::request_hash(&request).as_str());
    changed
        || r.attempts == 0
        || r.next_attempt_at
            .is_some_and(|t| t <= input.now.timestamp())
}

fn create(key: EventKey, desired: Desired, reconcile: bool, se: &SourcedEvent) -> Action {
    Action::Create {
        key,
        desired,
        reconcile,
        href: se.href.clone(),
        etag: se.etag.clone(),
    }
}

fn cancel_action(r: &EventRow, reason: CancelReason, href: Option<String>) -> Action {
    Action::Cancel {
        key: r.key.clone(),
        meeting_id: r.meeting_id.clone().unwrap_or_default(),
        userid: r.userid.clone().unwrap_or_default(),
        reason,
        recurring: r.recurring,
        href: href.or_else(|| r.href.clone()),
    }
}

/// A meeting whose last occurrence has started is never cancelled or changed (nor is a
/// continuation segment in that state).
#[must_use]
pub fn meeting_over(r: &EventRow, now: DateTime<Utc>) -> bool {
    let last_end = r.series_end_at.or(r.end_at).unwrap_or(i64::MAX);
    let started = r.start_at.is_some_and(|s| s <= now.timestamp()) && !r.recurring;
    started || last_end <= now.timestamp()
}

/// Holds disappearance cancellations when too many would happen in one pass.
fn guard_mass_cancellation(
    input: &PlanInput<'_>,
    disappearing: Vec<Action>,
    actions: &mut Vec<Action>,
) {
    if disappearing.is_empty() {
        return;
    }
    let live = input
        .rows
        .iter()
        .filter(|r| {
            r.key.recurrence_id.is_none()
                && r.state == RowState::Created
                && !meeting_over(r, input.now)
        })
        .count()
        .max(1);
    let mut ids: Vec<String> = disappearing
        .iter()
        .filter_map(|a| match a {
            Action::Cancel { key, .. } | Action::Withdraw { key, .. } => Some(key.uid.clone()),
            _ => None,
        })
        .collect();
    ids.sort();
    let token = fingerprint::hex(&{
        use sha2::Digest;
        sha2::Sha256::digest(ids.join("\n").as_bytes())
    })
    .chars()
    .take(16)
    .collect::<String>();
    #[allow(clippy::cast_precision_loss)]
    let share = disappearing.len() as f64 / live as f64;
    let confirmed = input.confirm_deletions || input.held_cancels == Some(token.as_str());
    // A single disappearance is held too when it is the calendar's only meeting: an empty
    // feed and a real deletion look the same, and one pass of delay costs little.
    if share > input.max_cancel_share && !confirmed {
        actions.push(Action::HoldCancels {
            calendar: input.calendar.name.clone(),
            count: disappearing.len(),
            live,
            token,
        });
    } else {
        actions.extend(disappearing);
    }
}

/// A meeting of a series with the dates it holds, for EXDATEs and overrides.
struct Held {
    mid: String,
    userid: String,
    /// Its rule is sent again this pass: changed occurrences must be sent again too.
    resend: bool,
    start: Option<i64>,
    end: Option<i64>,
}

/// EXDATEs and overrides of series that have a meeting: each goes to the meeting (the event's
/// own or a continuation) whose dates hold the occurrence.
fn plan_occurrences(
    input: &PlanInput<'_>,
    masters: &BTreeMap<&str, &SourcedEvent>,
    rows: &HashMap<&EventKey, &EventRow>,
    resent: &HashMap<String, (i64, i64)>,
    seen: &mut HashSet<EventKey>,
    actions: &mut Vec<Action>,
) {
    let cal = &input.calendar.name;
    let now = input.now.timestamp();
    for (uid, master) in masters {
        let mkey = EventKey {
            calendar: cal.clone(),
            uid: (*uid).to_owned(),
            recurrence_id: None,
        };
        let Some(mrow) = rows
            .get(&mkey)
            .filter(|r| r.state == RowState::Created && r.recurring)
        else {
            continue;
        };
        if mrow.meeting_id.is_none() {
            continue;
        }
        // The event's meeting and its live continuations, each with the dates it holds (or
        // will hold after this pass, when its rule is sent again).
        let segments = segments_of(input.segments, &mkey);
        let meetings: Vec<Held> = std::iter::once(*mrow)
            .chain(
                segments
                    .iter()
                    .filter(|s| s.row.state == RowState::Created)
                    .map(|s| &s.row),
            )
            .filter_map(|r| {
                let mid = r.meeting_id.clone()?;
                let resend = resent.get(&mid).copied();
                let (start, end) = match resend {
                    Some((s, e)) => (Some(s), Some(e)),
                    None => (r.start_at, r.series_end_at),
                };
                Some(Held {
                    userid: r.userid.clone().unwrap_or_default(),
                    mid,
                    resend: resend.is_some(),
                    start,
                    end,
                })
            })
            .collect();
        let meeting_for = |t: i64| {
            meetings
                .iter()
                .find(|m| m.start.is_some_and(|s| t >= s) && m.end.is_none_or(|e| t < e) && t > now)
        };
        for x in &master.event.exdates {
            let t = x.timestamp();
            let key = EventKey {
                calendar: cal.clone(),
                uid: (*uid).to_owned(),
                recurrence_id: Some(t),
            };
            seen.insert(key.clone());
            // An EXDATE that matches no occurrence changes nothing (RFC 5545 §3.8.5.1).
            let Some(m) = meeting_for(t).filter(|_| is_slot(&master.event, *x)) else {
                forget_pending(rows, &key, actions);
                continue;
            };
            // Sent to this meeting and not reset since (a series change sets the row back to
            // `pending`, committed with the change; see `Store::commit_series_change`).
            let done = !m.resend
                && rows.get(&key).is_some_and(|r| {
                    r.state == RowState::Cancelled && r.meeting_id.as_deref() == Some(&m.mid)
                });
            if !done {
                actions.push(Action::CancelOccurrence {
                    key,
                    meeting_id: m.mid.clone(),
                    userid: m.userid.clone(),
                });
            }
        }
        for se in input
            .events
            .iter()
            .filter(|e| e.event.uid == *uid && e.event.recurrence_id.is_some())
        {
            let Some(rid) = se.event.recurrence_id else {
                continue;
            };
            let key = EventKey {
                calendar: cal.clone(),
                uid: (*uid).to_owned(),
                recurrence_id: Some(rid),
            };
            seen.insert(key.clone());
            let row = rows.get(&key).copied();
            if let Some(r) = row.filter(|r| holds_own_meeting(r))
                && !moved_out_of_the_past(se, masters, input.now)
            {
                // It had a meeting of its own (moved out of the past) and is no longer so
                // moved (cancelled, or back in the past): that meeting goes.
                if !meeting_over(r, input.now) {
                    let reason = if se.event.cancelled {
                        CancelReason::EventCancelled
                    } else {
                        CancelReason::Replaced
                    };
                    let mut cancel = cancel_action(r, reason, None);
                    // The object's block is the series': nothing of this meeting is in it.
                    if let Action::Cancel { href, .. } = &mut cancel {
                        *href = None;
                    }
                    actions.push(cancel);
                }
                continue;
            }
            let slot = DateTime::from_timestamp(rid, 0).is_some_and(|t| is_slot(&master.event, t));
            let Some(m) = meeting_for(rid).filter(|_| slot) else {
                forget_pending(rows, &key, actions);
                continue;
            };
            let sent_here = |r: &EventRow| r.meeting_id.as_deref() == Some(m.mid.as_str());
            if se.event.cancelled {
                if m.resend || row.is_none_or(|r| r.state != RowState::Cancelled || !sent_here(r)) {
                    actions.push(Action::CancelOccurrence {
                        key,
                        meeting_id: m.mid.clone(),
                        userid: m.userid.clone(),
                    });
                }
                continue;
            }
            let Timing::Timed { start, end, .. } = &se.event.timing else {
                continue;
            };
            let fp = fingerprint::of_event(&se.event, "");
            let original_len = mrow.end_at.zip(mrow.start_at).map(|(e, s)| e - s);
            let unchanged_times =
                start.timestamp() == rid && original_len == Some((*end - *start).num_seconds());
            let recorded = !m.resend
                && row.is_some_and(|r| {
                    r.state == RowState::Created
                        && sent_here(r)
                        && r.fingerprint.as_deref() == Some(fp.as_str())
                });
            if !unchanged_times && *start <= input.now {
                // Moved from ahead into the past: from now on the calendar holds nothing in
                // that slot, so the sub-meeting goes.
                if m.resend || row.is_none_or(|r| r.state != RowState::Cancelled || !sent_here(r)) {
                    actions.push(Action::CancelOccurrence {
                        key,
                        meeting_id: m.mid.clone(),
                        userid: m.userid.clone(),
                    });
                }
                continue;
            }
            if !unchanged_times && !recorded && *start > input.now {
                actions.push(Action::MoveOccurrence {
                    key,
                    meeting_id: m.mid.clone(),
                    userid: m.userid.clone(),
                    start: *start,
                    end: *end,
                    fingerprint: fp,
                });
            } else {
                forget_pending(rows, &key, actions);
            }
        }
    }
}

/// An occurrence change left to send again (`pending`) for an occurrence no meeting holds any
/// more (past, or outside the series' meetings): nothing is left to send, so forget it.
fn forget_pending(rows: &HashMap<&EventKey, &EventRow>, key: &EventKey, actions: &mut Vec<Action>) {
    if rows.get(key).is_some_and(|r| r.state == RowState::Pending) {
        actions.push(Action::Forget { key: key.clone() });
    }
}

/// The series from its first occurrence that starts after now (skipping one under way), when
/// that is within the horizon.
fn next_series_ahead(ev: &Event, input: &PlanInput<'_>, under_way: &Desired) -> Option<Desired> {
    let from = under_way.end.max(input.now + Duration::seconds(1));
    desired_at(ev, input, from, true)
        .ok()
        .flatten()
        .filter(|d| d.start > input.now)
}

/// Whether `t` is the start of one of the series' occurrences, EXDATEs not applied (a single
/// event: its start). An EXDATE or RECURRENCE-ID elsewhere names no occurrence and changes
/// nothing. A rule that cannot be read or expanded counts every instant as a slot (the caller
/// then does what it did before).
fn is_slot(ev: &Event, t: DateTime<Utc>) -> bool {
    let Timing::Timed {
        start,
        end,
        local_start,
        zone,
    } = &ev.timing
    else {
        return true;
    };
    let Some(text) = &ev.rrule else {
        return *start == t;
    };
    let Ok(rule) = recurrence::Rrule::parse(text) else {
        return true;
    };
    let series = recurrence::Series {
        rule: &rule,
        dtstart: *local_start,
        zone,
        duration: *end - *start,
        exdates: &[],
    };
    recurrence::occurrences(&series, t, 1).map_or(true, |o| o.first() == Some(&t))
}

/// Whether an occurrence row holds a live meeting of its own (not a sub-meeting of the series).
fn holds_own_meeting(r: &EventRow) -> bool {
    r.key.recurrence_id.is_some()
        && r.state == RowState::Created
        && r.sub_meeting_id.is_none()
        && !r.recurring
        && r.meeting_id.is_some()
}

/// An override of a series that moves an occurrence whose slot is already past (so no meeting
/// of the series holds it from now on) to a time still ahead: held as a single meeting of its
/// own, keyed by UID + RECURRENCE-ID, like an override without its master.
fn moved_out_of_the_past(
    se: &SourcedEvent,
    masters: &BTreeMap<&str, &SourcedEvent>,
    now: DateTime<Utc>,
) -> bool {
    let ev = &se.event;
    let (Some(rid), Timing::Timed { start, .. }) = (ev.recurrence_id, &ev.timing) else {
        return false;
    };
    let Some(master) = masters.get(ev.uid.as_str()) else {
        return false;
    };
    master.event.tagged
        && !master.event.cancelled
        && master.event.rrule.is_some()
        && ev.tagged
        && !ev.cancelled
        && rid <= now.timestamp()
        && *start > now
        && DateTime::from_timestamp(rid, 0).is_some_and(|t| is_slot(&master.event, t))
}

/// The meeting an event asks for. `Ok(None)`: nothing to do yet (beyond the horizon, or over).
/// `Err`: the event can never get a meeting, with the reason.
fn desired_meeting(ev: &Event, input: &PlanInput<'_>) -> Result<Option<Desired>, String> {
    desired_at(ev, input, input.now, true)
}

/// The meeting an event asks for from `from` on (the occurrences not ended at `from`), capped
/// like a create. `within_horizon`: `Ok(None)` when that start is beyond the horizon.
fn desired_at(
    ev: &Event,
    input: &PlanInput<'_>,
    from: DateTime<Utc>,
    within_horizon: bool,
) -> Result<Option<Desired>, String> {
    let (start, end, local_start, zone) = match &ev.timing {
        Timing::Timed {
            start,
            end,
            local_start,
            zone,
        } => (start, end, local_start, zone),
        Timing::AllDay => {
            return Err("all-day event: Tencent meetings need a start and end time".to_owned());
        }
        // The recurrence set (or the event's identity) cannot be held exactly.
        Timing::Refused { property, reason } => return Err(format!("{property}: {reason}")),
    };
    let subject = subject_of(&ev.summary, input.meeting.subject_max_chars);
    let people = People::of(ev, input);
    let options = options_of(ev, input, &subject);
    let fingerprint = fingerprint::with_options(
        &people.fingerprint(fingerprint::of_event(ev, &subject)),
        &options.canon(people.hosts.as_deref()),
    );
    let userid = input
        .calendar
        .resolved
        .userid
        .clone()
        .or_else(|| people.creator.clone())
        .unwrap_or_else(|| {
            input
                .calendar
                .userid
                .clone()
                .unwrap_or_else(|| input.meeting.userid.clone())
        });
    let horizon_end = input.now + input.horizon;
    let (start, end, rule, series_end, truncated, occurrences) = match &ev.rrule {
        None => {
            if *end <= from {
                return Ok(None);
            }
            (*start, *end, None, *end, false, vec![*start])
        }
        Some(text) => {
            let rrule =
                recurrence::Rrule::parse(text).map_err(|e| format!("RRULE '{text}': {e}"))?;
            let series = recurrence::Series {
                rule: &rrule,
                dtstart: *local_start,
                zone,
                duration: *end - *start,
                exdates: &ev.exdates,
            };
            match recurrence::map_series(&series, from) {
                Ok(p) => {
                    // The meeting holds every slot of its rule up to the last, an excluded
                    // one included: its EXDATE is sent like any other.
                    let last = p
                        .occurrences
                        .last()
                        .copied()
                        .unwrap_or(p.first_start)
                        .max(p.last_slot);
                    (
                        p.first_start,
                        p.first_end,
                        Some(p.rule),
                        last + (*end - *start),
                        p.truncated,
                        p.occurrences,
                    )
                }
                Err(recurrence::Unsupported::Ended) => return Ok(None),
                Err(e) => {
                    return Err(format!(
                        "RRULE '{text}' cannot be expressed as a Tencent recurring meeting: {e}"
                    ));
                }
            }
        }
    };
    if within_horizon && start > horizon_end {
        return Ok(None);
    }
    let time_zone = if rule.is_some() {
        // Tencent repeats a series in the wall time of `time_zone` (Asia/Shanghai without
        // one): it needs a named zone that agrees with the event's at every slot it holds.
        let mut slots = occurrences.clone();
        slots.extend(
            ev.exdates
                .iter()
                .filter(|x| **x >= start && **x <= series_end),
        );
        Some(zone.iana_equivalent(&slots).ok_or_else(|| {
            format!(
                "TZID: the zone '{}' is defined only by the calendar's VTIMEZONE, and no IANA \
                 zone has its UTC offsets on every occurrence from {} to {}; Tencent repeats a \
                 meeting in a named zone, so it would move occurrences by the offset change: \
                 use an IANA TZID (e.g. America/New_York) for this event",
                zone.name(),
                start.format("%Y-%m-%d"),
                series_end.format("%Y-%m-%d"),
            )
        })?)
    } else {
        // A single meeting is an instant pair: no zone needed.
        zone.iana_name()
    };
    Ok(Some(Desired {
        subject,
        start,
        end,
        rule,
        series_end,
        truncated,
        occurrences,
        userid,
        invitees: people.invitees,
        time_zone,
        hosts: people.hosts,
        options,
        fingerprint,
    }))
}

/// The continuations an event names, each with the dates it should hold: from its start (or
/// now) up to the next one's start.
fn listed_continuations(ev: &Event, input: &PlanInput<'_>) -> Vec<ListedContinuation> {
    let listed = &ev.continuations;
    listed
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let hi = listed.get(i + 1).map(|n| n.start);
            let from = DateTime::from_timestamp(c.start, 0)
                .map_or(input.now, |start| start.max(input.now));
            let desired = desired_at(ev, input, from, false)
                .ok()
                .flatten()
                .and_then(|d| window(d, Some(c.start), hi));
            ListedContinuation {
                start: c.start,
                meeting_id: c.meeting_id.clone(),
                desired,
            }
        })
        .collect()
}

/// The segments of one event, in order of start.
fn segments_of<'s>(segments: &'s [Segment], key: &EventKey) -> Vec<&'s Segment> {
    let mut of: Vec<&Segment> = segments
        .iter()
        .filter(|s| s.row.key.calendar == key.calendar && s.row.key.uid == key.uid)
        .collect();
    of.sort_by_key(|s| s.start);
    of
}

/// Whether the event's meetings are all over: its own and every live continuation.
fn series_over(r: &EventRow, live: &[&Segment], now: DateTime<Utc>) -> bool {
    meeting_over(r, now) && live.iter().all(|s| meeting_over(&s.row, now))
}

/// Start of the last occurrence a meeting holds (its stored occurrences, else its series end
/// less one occurrence's length).
#[must_use]
pub fn last_held(r: &EventRow) -> Option<i64> {
    let length = r.end_at.zip(r.start_at).map_or(0, |(e, s)| e - s);
    r.occurrences
        .last()
        .copied()
        .or_else(|| r.series_end_at.map(|e| e - length))
}

/// The meeting that holds the occurrences just before segment `start`: the last live segment
/// that starts earlier, else the event's own meeting.
fn predecessor<'r>(r: &'r EventRow, live: &[&'r Segment], start: i64) -> &'r EventRow {
    live.iter()
        .rev()
        .find(|s| s.start < start)
        .map_or(r, |s| &s.row)
}

/// The continuation of the meeting `before`: the event's occurrences after the last one it
/// holds, capped like a create (never limited by the horizon: it continues a live meeting).
fn continuation_after(ev: &Event, input: &PlanInput<'_>, before: &EventRow) -> Option<Desired> {
    let last = last_held(before)?;
    let length = before.end_at.zip(before.start_at).map_or(0, |(e, s)| e - s);
    let from = DateTime::from_timestamp(last + length, 0)?.max(input.now);
    desired_at(ev, input, from, false)
        .ok()
        .flatten()
        .filter(|d| d.start.timestamp() > last && d.rule.is_some())
}

/// A continuation create after `r` failed and is not due again: refused with the event
/// unchanged since, or waiting for its backoff (`next_attempt_at`).
fn continuation_failed(
    segments: &[&Segment],
    r: &EventRow,
    desired: &Desired,
    now: DateTime<Utc>,
) -> bool {
    let after = last_held(r).unwrap_or(i64::MIN);
    segments.iter().any(|s| {
        s.start > after
            && s.row.state == RowState::Failed
            && s.row.attempts > 0
            && fingerprint::same_meeting(s.row.fingerprint.as_deref(), &desired.fingerprint)
            && s.row.next_attempt_at.is_none_or(|t| t > now.timestamp())
    })
}

/// `d` limited to the occurrences starting in `[lo, hi)`; `None` when none do. A meeting cut
/// at `hi` ends by date on its last occurrence and is no longer truncated (the next segment
/// holds what follows).
#[must_use]
pub fn window(mut d: Desired, lo: Option<i64>, hi: Option<i64>) -> Option<Desired> {
    let length = d.end - d.start;
    let before = d.occurrences.len();
    let cut_end = hi.is_some_and(|hi| d.occurrences.iter().any(|t| t.timestamp() >= hi));
    d.occurrences.retain(|t| {
        let t = t.timestamp();
        lo.is_none_or(|lo| t >= lo) && hi.is_none_or(|hi| t < hi)
    });
    let first = *d.occurrences.first()?;
    let last = *d.occurrences.last()?;
    let cut = before != d.occurrences.len();
    d.start = first;
    d.end = first + length;
    d.series_end = last + length;
    if let Some(rule) = d.rule.as_mut().filter(|_| cut) {
        if cut_end {
            rule.until_type = 0;
            rule.until_count = None;
            rule.until_date = Some(last.timestamp());
            d.truncated = false;
        } else if rule.until_type == 1 {
            rule.until_count = i64::try_from(d.occurrences.len()).ok();
        }
    }
    Some(d)
}

/// An event whose series is held by its own meeting and live continuations: each meeting is
/// modified with its own dates when the event changed (a continuation the series no longer
/// reaches is cancelled; a meeting already over is never touched), the last one is extended
/// when due, and the links are written back when one is missing.
#[allow(clippy::too_many_arguments)]
fn plan_segmented(
    input: &PlanInput<'_>,
    key: &EventKey,
    se: &SourcedEvent,
    desired: &Desired,
    r: &EventRow,
    live: &[&Segment],
    resent: &mut HashMap<String, (i64, i64)>,
    actions: &mut Vec<Action>,
) {
    let ev = &se.event;
    let now = input.now;
    let changed = |row: &EventRow| {
        !fingerprint::same_meeting(row.fingerprint.as_deref(), &desired.fingerprint)
    };
    let mid = r.meeting_id.clone().unwrap_or_default();
    let any_changed = changed(r) || live.iter().any(|s| changed(&s.row));
    let legacy = |row: &EventRow| {
        row.fingerprint
            .as_deref()
            .is_some_and(fingerprint::is_legacy)
    };
    for (segment, row) in
        std::iter::once((None, r)).chain(live.iter().map(|s| (Some(s.start), &s.row)))
    {
        if !changed(row) && legacy(row) {
            actions.push(Action::Record {
                key: key.clone(),
                segment,
                fingerprint: desired.fingerprint.clone(),
            });
        }
    }
    if any_changed && desired.series_end > now {
        let reason = if r.recurring != desired.rule.is_some() {
            Some(CancelReason::Replaced)
        } else if r.userid.as_deref() != Some(desired.userid.as_str()) {
            Some(CancelReason::CreatorChanged)
        } else {
            None
        };
        if let Some(reason) = reason {
            // Cancelling the event's meeting cancels its continuations too.
            actions.push(cancel_action(r, reason, None));
            actions.push(create(key.clone(), desired.clone(), false, se));
            return;
        }
    }
    let starts: Vec<Option<i64>> = std::iter::once(None)
        .chain(live.iter().map(|s| Some(s.start)))
        .collect();
    let rows: Vec<&EventRow> = std::iter::once(r)
        .chain(live.iter().map(|s| &s.row))
        .collect();
    for (i, row) in rows.iter().enumerate() {
        if !changed(row) || meeting_over(row, now) {
            continue;
        }
        let (lo, hi) = (starts[i], starts.get(i + 1).copied().flatten());
        let from = lo
            .and_then(|lo| DateTime::from_timestamp(lo, 0))
            .map_or(now, |lo| lo.max(now));
        let d = desired_at(ev, input, from, false)
            .ok()
            .flatten()
            .and_then(|d| window(d, lo, hi));
        match (lo, d) {
            (None, Some(d)) => {
                if d.rule.is_some() {
                    resent.insert(mid.clone(), (d.start.timestamp(), d.series_end.timestamp()));
                }
                actions.push(Action::Update {
                    key: key.clone(),
                    meeting_id: mid.clone(),
                    desired: d,
                });
            }
            // Nothing of the series is left in the original meeting's dates: it is left as it
            // is (it holds the event's id and ends by itself).
            (None, None) => {}
            (Some(start), Some(d)) => {
                let segment_mid = row.meeting_id.clone().unwrap_or_default();
                resent.insert(
                    segment_mid.clone(),
                    (d.start.timestamp(), d.series_end.timestamp()),
                );
                actions.push(Action::UpdateSegment {
                    key: key.clone(),
                    segment: start,
                    meeting_id: segment_mid,
                    desired: d,
                });
            }
            (Some(start), None) => actions.push(Action::CancelSegment {
                key: key.clone(),
                segment: start,
                meeting_id: row.meeting_id.clone().unwrap_or_default(),
                userid: row.userid.clone().unwrap_or_default(),
                href: se.href.clone().or_else(|| r.href.clone()),
            }),
        }
    }
    if !any_changed
        && let Some(tail) = live.last()
        && needs_extension_now(&tail.row, now)
        && !continuation_failed(
            &segments_of(input.segments, key),
            &tail.row,
            desired,
            input.now,
        )
        && let Some(d) = desired_at(
            ev,
            input,
            now.max(DateTime::from_timestamp(tail.start, 0).unwrap_or(now)),
            false,
        )
        .ok()
        .flatten()
        .and_then(|d| window(d, Some(tail.start), None))
    {
        let tail_mid = tail.row.meeting_id.clone().unwrap_or_default();
        let held_end = tail.row.series_end_at.unwrap_or(i64::MAX);
        resent.insert(
            tail_mid.clone(),
            (d.start.timestamp(), d.series_end.timestamp().min(held_end)),
        );
        actions.push(Action::Extend {
            key: key.clone(),
            meeting_id: tail_mid,
            desired: d,
            segment: Some(tail.start),
            continuation: continuation_after(ev, input, &tail.row).map(Box::new),
        });
    }
    let link_missing = ev.meeting_id.as_deref() != Some(mid.as_str())
        || !r.written_back
        || live.iter().any(|s| !s.row.written_back);
    if input.calendar.writes_back()
        && link_missing
        && let Some(href) = &se.href
    {
        actions.push(Action::WriteBack {
            key: key.clone(),
            href: href.clone(),
        });
    }
}

/// The options of an event's meeting from its calendar's resolved `[calendar.meeting]` /
/// `[calendar.live]` and the event itself (LOCATION, DESCRIPTION, live tag).
fn options_of(ev: &Event, input: &PlanInput<'_>, subject: &str) -> MeetingOptions {
    let r = &input.calendar.resolved;
    // With `location = "event"` the location is always managed: `Some("")` when the event has
    // no usable LOCATION, so that a modify clears a location the meeting had (a create sends
    // none).
    let location = r.location_from_event.then(|| {
        let l = ev.location.trim();
        if l.starts_with("http://") || l.starts_with("https://") {
            return String::new();
        }
        cut_width(&l.replace(['\r', '\n'], " "), LOCATION_MAX_WIDTH, 1, 2)
            .trim()
            .to_owned()
    });
    let live = (r.live_all || ev.live).then(|| {
        let summary = r
            .live
            .summary
            .clone()
            .unwrap_or_else(|| ev.description.trim().to_owned());
        LiveConfig {
            live_subject: Some(cut_width(
                r.live.subject.as_deref().unwrap_or(subject),
                LIVE_TEXT_MAX_WIDTH,
                2,
                4,
            )),
            live_summary: Some(cut_width(summary.trim(), LIVE_TEXT_MAX_WIDTH, 2, 4))
                .filter(|s| !s.is_empty()),
            enable_live_password: Some(r.live_password.is_some()),
            live_password: r.live_password.as_ref().map(|p| p.expose().to_owned()),
            enable_live_im: r.live.im,
            enable_live_replay: r.live.replay,
            live_addr: None,
        }
    });
    MeetingOptions {
        settings: r.settings.clone(),
        password: r.password.clone(),
        location,
        live,
        sync_to_wework: r.sync_to_wework,
        instanceid: r.instanceid,
    }
}

/// Creator, invitees and hosts from ORGANIZER and ATTENDEE through `[meeting.users]`.
struct People {
    /// The mapped ORGANIZER, when it makes the meetings (no `[calendar.meeting] userid`).
    creator: Option<String>,
    invitees: Option<Vec<String>>,
    hosts: Option<Vec<String>>,
}

impl People {
    fn of(ev: &Event, input: &PlanInput<'_>) -> Self {
        let m = input.meeting;
        if m.users.is_empty() {
            return Self {
                creator: None,
                invitees: None,
                hosts: None,
            };
        }
        let lookup = |addr: &str, role: &str| {
            let found = m.user_for(addr).map(str::to_owned);
            if found.is_none() {
                tracing::debug!(calendar = %input.calendar.name, uid = %ev.uid, "{role} {addr} is not in [meeting.users]; ignored");
            }
            found
        };
        let organizer = ev.organizer.as_deref().and_then(|a| lookup(a, "organizer"));
        let fixed = input.calendar.resolved.userid.clone();
        // With a fixed creator the organizer does not make the meeting: it hosts it.
        let creator = if fixed.is_some() {
            None
        } else {
            organizer.clone()
        };
        let maker = fixed.or_else(|| creator.clone());
        let mut invitees: Vec<String> = Vec::new();
        for a in &ev.attendees {
            if let Some(u) = lookup(a, "attendee")
                && Some(&u) != maker.as_ref()
                && !invitees.contains(&u)
            {
                invitees.push(u);
            }
        }
        invitees.truncate(MAX_INVITEES);
        let mut hosts: Vec<String> = Vec::new();
        let chairs = ev
            .chairs
            .iter()
            .filter_map(|a| m.user_for(a).map(str::to_owned));
        for u in organizer.into_iter().chain(chairs) {
            if Some(&u) != maker.as_ref() && !hosts.contains(&u) {
                hosts.push(u);
            }
        }
        hosts.truncate(MAX_INVITEES);
        Self {
            creator,
            invitees: Some(invitees),
            hosts: Some(hosts),
        }
    }

    /// The event's fingerprint, extended by the mapped creator and invitees when there are
    /// any (unchanged otherwise, so that configuring no users changes no fingerprint).
    fn fingerprint(&self, base: String) -> String {
        let invitees = self.invitees.as_deref().unwrap_or_default();
        if self.creator.is_none() && invitees.is_empty() {
            return base;
        }
        use sha2::Digest;
        let canon = format!(
            "{base}\ncreator={}\ninvitees={}",
            self.creator.as_deref().unwrap_or(""),
            invitees.join(",")
        );
        fingerprint::hex(&sha2::Sha256::digest(canon.as_bytes()))
    }
}

/// Longest subject the API takes, in bytes of UTF-8: it allows 512 bytes of Base64, and
/// Base64 turns every 3 bytes into 4 (reference §5; issue #11).
pub const SUBJECT_MAX_BYTES: usize = 384;

/// SUMMARY cut to `max` characters and [`SUBJECT_MAX_BYTES`] bytes, whichever is shorter,
/// at a grapheme-cluster boundary (UAX #29: never inside an emoji sequence, a flag or a
/// letter with combining marks); a placeholder when empty.
#[must_use]
pub fn subject_of(summary: &str, max: usize) -> String {
    use unicode_segmentation::UnicodeSegmentation;
    let s = summary.trim();
    if s.is_empty() {
        return "(no title)".to_owned();
    }
    let mut out = String::new();
    let mut chars = 0;
    for g in s.graphemes(true) {
        let n = g.chars().count();
        if chars + n > max || out.len() + g.len() > SUBJECT_MAX_BYTES {
            break;
        }
        chars += n;
        out.push_str(g);
    }
    if out.is_empty() {
        // A single cluster longer than the limit (absurd, but input is input): cut by char.
        out = s
            .chars()
            .scan(0, |bytes, c| {
                *bytes += c.len_utf8();
                (*bytes <= SUBJECT_MAX_BYTES).then_some(c)
            })
            .take(max)
            .collect();
    }
    out
}
