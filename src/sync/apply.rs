//! Executes planned actions against the meeting API, the calendar and the state database.
//!
//! Order matters for crash safety: the state row is committed as `pending` before a create is
//! sent and as `created` right after the answer; the write-back comes last. A crash anywhere
//! leaves a row from which the next pass reconciles (listing the user's meetings) instead of
//! creating a second meeting, and the event's own `X-CALMEET-MEETING-ID` covers a lost database.

use chrono::{DateTime, Utc};

use crate::config::{CalendarConfig, Config};
use crate::source::{self, caldav};
use crate::store::{EventKey, EventRow, RowState, Segment};
use crate::sync::Engine;
use crate::sync::plan::{self, Action, CancelReason, Desired, ListedContinuation};
use crate::tencent::types::{
    CancelMeetingRequest, CreateMeetingRequest, MeetingInfo, MeetingUser, ModifyMeetingRequest,
    RecurringRule, SubMeeting,
};

/// `hosts` as the API takes them: the creator first, then the designated hosts (the modify
/// doc requires a hosts list to include the creator, reference §2.4); `None` when there are no
/// designated hosts.
fn hosts_of(desired: &Desired, creator: &str) -> Option<Vec<MeetingUser>> {
    let hosts = desired.hosts.as_deref().filter(|h| !h.is_empty())?;
    let all: Vec<String> = std::iter::once(creator.to_owned())
        .chain(hosts.iter().filter(|h| *h != creator).cloned())
        .collect();
    Some(meeting_users(&all))
}
use crate::tencent::{ApiError, FailureClass, MeetingApi};
use crate::writeback::{self, LabelledBlock, MeetingBlock, PatchOptions};

/// Most recurring meetings one account may hold live at the same time (reference §3.2).
pub const RECURRING_LIMIT: usize = 50;
/// `check` and `status` warn from this many live recurring meetings per creator.
pub const RECURRING_WARN: usize = 45;

/// Most occurrences a modify may carry: the API documents `until_count` 1–50 for PUT (the 200
/// of create-time rules is not confirmed for modify; reference §3.2).
pub const MAX_OCCURRENCES_ON_MODIFY: usize = 50;

/// A series longer than a modify may hold is sent with the first 50 occurrences (counted) and
/// marked for extension, like an over-long create. Exact for what it holds, never approximate.
#[must_use]
pub fn limit_for_modify(desired: &Desired) -> Desired {
    let mut d = desired.clone();
    let Some(rule) = d.rule.as_mut() else {
        return d;
    };
    if d.occurrences.len() <= MAX_OCCURRENCES_ON_MODIFY {
        return d;
    }
    d.occurrences.truncate(MAX_OCCURRENCES_ON_MODIFY);
    rule.until_type = 1;
    rule.until_count = Some(i64::try_from(MAX_OCCURRENCES_ON_MODIFY).unwrap_or(50));
    rule.until_date = None;
    if let Some(last) = d.occurrences.last() {
        d.series_end = *last + (d.end - d.start);
    }
    d.truncated = true;
    d
}

/// Whether the API's answer to an extension PUT means "this meeting cannot be extended in
/// place", so that a continuation meeting is created instead.
///
/// The reference (§3.2) documents the PUT rule as `until_count` 1–50 and `until_date` "at most
/// 50 sub-meetings", and lists whether PUT accepts more as unconfirmed; it names no rule that
/// cannot be modified in place at all (every `recurring_type`, custom ones included, is in the
/// PUT model). So no rule is refused up front: calmeet always tries the extension in place
/// first, and takes a definitive refusal of the request itself — an invalid-parameter answer
/// (190004 and friends) or another definitive API error code — as the API's "cannot". Auth and
/// signature failures, permission errors, "not found", rate limits, quota, transient and
/// ambiguous failures are not refusals: a continuation would fail (or be wrong) the same way.
#[must_use]
pub fn refuses_in_place(e: &ApiError) -> bool {
    // An unknown code with HTTP 5xx is a server failure, not a refusal (reference §4.2).
    matches!(e, ApiError::InvalidRequest { .. })
        || matches!(e, ApiError::Api { status, .. } if *status < 500)
}

/// Where a meeting's state lives: the event's own row, or one of its continuation segments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Event,
    Segment(i64),
}

/// How often a write-back is retried after a 412 (a concurrent edit).
const MAX_PRECONDITION_RETRIES: usize = 4;

/// Applies the actions of one calendar.
pub struct Context<'a, A> {
    engine: &'a Engine<A>,
    cal: &'a CalendarConfig,
    dav: std::sync::OnceLock<Result<caldav::CalDavClient, String>>,
    /// Live recurring meetings per creator, counted from the state on the first recurring
    /// create of the pass and kept up to date by this context's creates.
    recurring: std::sync::Mutex<Option<std::collections::BTreeMap<String, usize>>>,
    /// The calendar must be evaluated again on the next pass even if nothing in it changes:
    /// a write-back met (and cached) a version of an event newer than the one planned from,
    /// or a meeting was recorded that the next pass is to update or extend.
    again: std::sync::atomic::AtomicBool,
}

fn fmt_time(t: DateTime<Utc>, config: &Config) -> String {
    t.with_timezone(&config.default_zone())
        .format("%Y-%m-%d %H:%M %Z")
        .to_string()
}

/// Invitees as the API takes them.
fn meeting_users(userids: &[String]) -> Vec<MeetingUser> {
    userids
        .iter()
        .map(|u| MeetingUser {
            userid: u.clone(),
            is_anonymous: None,
            nick_name: None,
        })
        .collect()
}

/// The create request for `desired`: what a create sends. Every option (settings, password,
/// location, hosts, live streaming, `sync_to_wework`, `instanceid`) comes resolved in
/// `desired.options` from the calendar's `[calendar.meeting]` over `[meeting]`.
#[must_use]
pub fn create_request_for(desired: &Desired) -> CreateMeetingRequest {
    let o = &desired.options;
    CreateMeetingRequest {
        enable_live: o.live.is_some().then_some(true),
        live_config: o.live.clone(),
        sync_to_wework: o.sync_to_wework,
        userid: desired.userid.clone(),
        instanceid: o.instanceid,
        subject: desired.subject.clone(),
        r#type: 0,
        start_time: desired.start.timestamp().to_string(),
        end_time: desired.end.timestamp().to_string(),
        meeting_type: i64::from(desired.rule.is_some()),
        recurring_rule: desired.rule.clone(),
        password: o.password.clone(),
        settings: o.settings.clone(),
        time_zone: desired.time_zone.clone(),
        location: o.location.clone().filter(|l| !l.is_empty()),
        hosts: hosts_of(desired, &desired.userid),
        invitees: desired
            .invitees
            .as_deref()
            .filter(|i| !i.is_empty())
            .map(meeting_users),
    }
}

/// Hash (SHA-256, hex) of a create request's JSON body, without the start and end: a refused
/// create is sent again once this differs (the event or the config that shapes the request
/// changed), and not before. The times are left out because a series that began in the past
/// is created from its next occurrence, which moves on by itself without anyone fixing
/// anything; the event's own times are in its fingerprint.
#[must_use]
pub fn request_hash(req: &CreateMeetingRequest) -> String {
    use sha2::Digest;
    let mut req = req.clone();
    req.start_time.clear();
    req.end_time.clear();
    let body = serde_json::to_vec(&req).unwrap_or_default();
    crate::fingerprint::hex(&sha2::Sha256::digest(&body))
}

/// Capped, jittered exponential backoff across passes for a create that may pass later:
/// `first` after the first failure, doubling per failure up to `max`, each wait drawn between
/// 3/4 and the full value so that many failing events do not all return in the same pass.
#[must_use]
pub fn retry_delay(first: u64, max: u64, attempts: i64) -> i64 {
    let doublings = u32::try_from(attempts.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
    let full = first.saturating_mul(1u64 << doublings).min(max);
    let low = full - full / 4;
    let wait = if full > low {
        rand::random_range(low..=full)
    } else {
        full
    };
    i64::try_from(wait).unwrap_or(i64::MAX)
}

/// Until when (unix seconds) a quota answer holds every create (reference §4.3/§4.4): 9008
/// ("9 a minute / 100 a day") a minute past the next minute, 500029 (per user and hour) an
/// hour, 190311 (calls per day) the next midnight in Beijing, 500168 (creates per month) the
/// first of the next month in Beijing.
#[must_use]
pub fn quota_reset(code: i64, now: i64) -> i64 {
    use chrono::{Datelike, TimeZone};
    let Some(beijing) = chrono::FixedOffset::east_opt(8 * 3600) else {
        return now + 86_400;
    };
    let local = DateTime::from_timestamp(now, 0)
        .unwrap_or_default()
        .with_timezone(&beijing);
    let midnight = |y: i32, m: u32, d: u32| {
        beijing
            .with_ymd_and_hms(y, m, d, 0, 0, 0)
            .single()
            .map_or(now + 86_400, |t| t.timestamp())
    };
    match code {
        500_029 => now + 3600,
        190_311 => {
            let next = local.date_naive() + chrono::Days::new(1);
            midnight(next.year(), next.month(), next.day())
        }
        500_168 => {
            let (y, m) = if local.month() == 12 {
                (local.year() + 1, 1)
            } else {
                (local.year(), local.month() + 1)
            };
            midnight(y, m, 1)
        }
        _ => now - now.rem_euclid(60) + 120,
    }
}

/// Whether a meeting read back is cancelled: the whole meeting (`MEETING_STATE_CANCELLED`),
/// or, for `sub_meeting_id`, that occurrence (`status` 1).
#[must_use]
pub fn is_cancelled(info: &MeetingInfo, sub_meeting_id: Option<&str>) -> bool {
    if info.status.as_deref() == Some("MEETING_STATE_CANCELLED") {
        return true;
    }
    sub_meeting_id.is_some_and(|id| {
        info.sub_meetings
            .iter()
            .any(|s| s.sub_meeting_id == id && s.status == Some(1))
    })
}

/// The `api_state` key of the create hold of one app.
fn hold_key(app_id: &str) -> String {
    format!("create_hold_until:{app_id}")
}

/// One line describing an action, for `--dry-run` and logs. Never contains a secret.
#[must_use]
pub fn describe(action: &Action, config: &Config) -> String {
    let d = |desired: &Desired| {
        let mut extras = Vec::new();
        if let Some(h) = desired.hosts.as_deref().filter(|h| !h.is_empty()) {
            extras.push(format!("hosts {}", h.join(", ")));
        }
        if desired.options.live.is_some() {
            extras.push("live stream".to_owned());
        }
        if let Some(l) = desired.options.location.as_ref().filter(|l| !l.is_empty()) {
            extras.push(format!("location '{l}'"));
        }
        if !desired.options.settings.is_empty() {
            let keys: Vec<&str> = desired
                .options
                .settings
                .keys()
                .map(String::as_str)
                .collect();
            extras.push(format!("settings {}", keys.join(",")));
        }
        format!(
            "'{}' {} → {} ({}) as {}{}",
            desired.subject,
            fmt_time(desired.start, config),
            fmt_time(desired.end, config),
            super::rule_words::rule_in_words(
                desired.rule.as_ref(),
                Some(
                    desired
                        .start
                        .with_timezone(&config.default_zone())
                        .date_naive()
                ),
                config.default_zone()
            ),
            desired.userid,
            if extras.is_empty() {
                String::new()
            } else {
                format!(" [{}]", extras.join("; "))
            }
        )
    };
    match action {
        Action::Create {
            key,
            desired,
            reconcile,
            href,
            ..
        } => format!(
            "create    {key}: {}{}{}",
            d(desired),
            if *reconcile {
                " [after looking for an earlier attempt]"
            } else {
                ""
            },
            if href.is_some() { " + write-back" } else { "" }
        ),
        Action::Adopt {
            key,
            meeting_id,
            desired,
            continuations,
            ..
        } => {
            let listed: Vec<&str> = continuations
                .iter()
                .map(|c| c.meeting_id.as_str())
                .collect();
            format!(
                "adopt     {key}: meeting {meeting_id} named in the event, {}{}",
                d(desired),
                if listed.is_empty() {
                    String::new()
                } else {
                    format!(" + continuation meetings {}", listed.join(", "))
                }
            )
        }
        Action::Update {
            key,
            meeting_id,
            desired,
        } => format!("update    {key}: meeting {meeting_id} → {}", d(desired)),
        Action::Extend {
            key,
            meeting_id,
            desired,
            continuation,
            ..
        } => format!(
            "extend    {key}: meeting {meeting_id} holds too few occurrences ahead → {}{}",
            d(desired),
            continuation.as_ref().map_or_else(String::new, |c| format!(
                " [if refused in place: continuation from {}]",
                fmt_time(c.start, config)
            ))
        ),
        Action::Continue {
            key,
            desired,
            reconcile,
            ..
        } => format!(
            "continue  {key}: continuation meeting {}{}",
            d(desired),
            if *reconcile {
                " [after looking for an earlier attempt]"
            } else {
                ""
            }
        ),
        Action::UpdateSegment {
            key,
            meeting_id,
            desired,
            ..
        } => format!(
            "update    {key}: continuation meeting {meeting_id} → {}",
            d(desired)
        ),
        Action::CancelSegment {
            key, meeting_id, ..
        } => format!(
            "cancel    {key}: continuation meeting {meeting_id} (the series no longer reaches it)"
        ),
        Action::Cancel {
            key,
            meeting_id,
            reason,
            href,
            ..
        } => format!(
            "cancel    {key}: meeting {meeting_id} ({}){}",
            reason.text(),
            if href.is_some() {
                " + remove link from event"
            } else {
                ""
            }
        ),
        Action::Withdraw { key, reason, gone } => format!(
            "withdraw  {key}: look for the meeting of an interrupted create and cancel it ({}){}",
            reason.text(),
            if *gone { "; then forget the event" } else { "" }
        ),
        Action::CancelOccurrence {
            key, meeting_id, ..
        } => format!("cancel    {key}: one occurrence of meeting {meeting_id}"),
        Action::MoveOccurrence {
            key,
            meeting_id,
            start,
            end,
            ..
        } => format!(
            "move      {key}: one occurrence of meeting {meeting_id} to {} → {}",
            fmt_time(*start, config),
            fmt_time(*end, config)
        ),
        Action::WriteBack { key, href } => format!("write-back {key}: join link into {href}"),
        Action::Record { key, segment, .. } => format!(
            "record    {key}: meeting options of the {} (state only; stored before options were tracked)",
            if segment.is_some() {
                "continuation meeting"
            } else {
                "meeting"
            }
        ),
        Action::Skip { key, reason } => format!("skip      {key}: {reason}"),
        Action::Forget { key } => format!("forget    {key}: meeting over or never made"),
        Action::HoldCancels {
            calendar,
            count,
            live,
            ..
        } => format!(
            "hold      calendar '{calendar}': {count} of {live} meetings would be cancelled at once; held until the next pass sees the same (or run `calmeet sync --confirm-deletions`)"
        ),
    }
}

impl<'a, A> Context<'a, A>
where
    A: MeetingApi + Clone + Send + Sync + 'static,
{
    /// A context for one calendar's actions.
    #[must_use]
    pub fn new(engine: &'a Engine<A>, cal: &'a CalendarConfig) -> Self {
        Self {
            engine,
            cal,
            dav: std::sync::OnceLock::new(),
            recurring: std::sync::Mutex::new(None),
            again: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Whether the calendar must be evaluated again on the next pass although its objects
    /// may not change: a write-back read a version of an event the pass did not plan from (a
    /// 412, or an object changed since the fetch), or a recorded meeting awaits an update
    /// or extension by the next pass. calmeet's own writes are cached and no longer show up
    /// as a change that would bring the next evaluation about.
    #[must_use]
    pub fn must_evaluate_again(&self) -> bool {
        self.again.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn evaluate_again(&self) {
        self.again.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Caches what the server holds after calmeet's own write (or what it read), so that
    /// the write is no change on the next pass; an object the plan did not start from marks
    /// the calendar for evaluation.
    fn remember(&self, href: &str, etag: Option<String>, data: Vec<u8>, reread: bool) {
        let object = crate::store::CachedObject {
            href: href.to_owned(),
            etag,
            data,
        };
        let at = Utc::now().timestamp_millis();
        if reread {
            self.evaluate_again();
        }
        if let Err(e) = self
            .engine
            .store
            .record_write(&self.cal.name, &object, at, reread)
        {
            // The next pass lists again and finds the write as a change: slower, not wrong.
            tracing::warn!(calendar = %self.cal.name, %href, "cannot cache the written object: {e}");
        }
    }

    fn api(&self) -> Result<&A, String> {
        self.engine
            .api
            .as_ref()
            .ok_or_else(|| "the meeting API is not configured".to_owned())
    }

    fn dav(&self) -> Result<&caldav::CalDavClient, String> {
        self.dav
            .get_or_init(|| source::caldav_client(self.cal, &self.engine.config.base_dir))
            .as_ref()
            .map_err(Clone::clone)
    }

    fn instanceid(&self) -> i64 {
        self.cal.resolved.instanceid
    }

    fn put_row(&self, row: &EventRow) -> Result<(), String> {
        self.note_follow_up(row);
        self.engine
            .store
            .put(row)
            .map_err(|e| format!("{}: {e}", row.key))
    }

    fn row(&self, key: &EventKey) -> Result<Option<EventRow>, String> {
        self.engine
            .store
            .row(key)
            .map_err(|e| format!("{key}: {e}"))
    }

    fn load(&self, key: &EventKey, slot: Slot) -> Result<Option<EventRow>, String> {
        match slot {
            Slot::Event => self.row(key),
            Slot::Segment(start) => self
                .engine
                .store
                .segment(key, start)
                .map(|s| s.map(|s| s.row))
                .map_err(|e| format!("{key}: {e}")),
        }
    }

    /// A live meeting recorded without a fingerprint is one "the next pass updates" (or
    /// cancels): make sure the next pass evaluates.
    fn note_follow_up(&self, row: &EventRow) {
        if row.state == RowState::Created && row.fingerprint.is_none() {
            self.evaluate_again();
        }
    }

    fn save(&self, slot: Slot, row: &EventRow) -> Result<(), String> {
        self.note_follow_up(row);
        match slot {
            Slot::Event => self.put_row(row),
            Slot::Segment(start) => self
                .engine
                .store
                .put_segment(&Segment {
                    start,
                    row: row.clone(),
                })
                .map_err(|e| format!("{} (continuation): {e}", row.key)),
        }
    }

    fn segments_of(&self, key: &EventKey) -> Result<Vec<Segment>, String> {
        self.engine
            .store
            .segments_of(key)
            .map_err(|e| format!("{key}: {e}"))
    }

    /// Executes one action. The error names the calendar, the event and the cause.
    ///
    /// # Errors
    /// A message for the log and the pass report.
    pub async fn apply(&self, action: &Action) -> Result<(), String> {
        let now = self.engine.now().timestamp();
        match action {
            Action::Create {
                key,
                desired,
                reconcile,
                href,
                ..
            } => self.create(key, desired, *reconcile, href.as_deref()).await,
            Action::Adopt {
                key,
                meeting_id,
                desired,
                continuations,
                href,
                ..
            } => {
                self.adopt(key, meeting_id, desired, continuations, href.as_deref())
                    .await
            }
            Action::Update {
                key,
                meeting_id,
                desired,
            } => {
                self.update(key, Slot::Event, meeting_id, desired, None)
                    .await
            }
            Action::Extend {
                key,
                meeting_id,
                desired,
                segment,
                continuation,
            } => {
                let slot = segment.map_or(Slot::Event, Slot::Segment);
                let continuation = continuation.as_deref();
                self.update(key, slot, meeting_id, desired, Some(continuation))
                    .await
            }
            Action::Continue {
                key,
                segment,
                desired,
                reconcile,
                href,
            } => {
                self.create_in(
                    key,
                    Slot::Segment(*segment),
                    desired,
                    *reconcile,
                    href.as_deref(),
                )
                .await
            }
            Action::UpdateSegment {
                key,
                segment,
                meeting_id,
                desired,
            } => {
                self.update(key, Slot::Segment(*segment), meeting_id, desired, None)
                    .await
            }
            Action::CancelSegment {
                key,
                segment,
                meeting_id,
                userid,
                href,
            } => {
                self.cancel_segment(key, *segment, meeting_id, userid, href.as_deref())
                    .await
            }
            Action::Cancel {
                key,
                meeting_id,
                userid,
                reason,
                recurring,
                href,
            } => {
                self.cancel(
                    key,
                    meeting_id,
                    userid,
                    *reason,
                    *recurring,
                    href.as_deref(),
                )
                .await
            }
            Action::Withdraw { key, reason, gone } => self.withdraw(key, *reason, *gone).await,
            Action::CancelOccurrence {
                key,
                meeting_id,
                userid,
            } => self.change_occurrence(key, meeting_id, userid, None).await,
            Action::MoveOccurrence {
                key,
                meeting_id,
                userid,
                start,
                end,
                fingerprint,
            } => {
                self.change_occurrence(
                    key,
                    meeting_id,
                    userid,
                    Some((*start, *end, fingerprint.as_str())),
                )
                .await
            }
            Action::WriteBack { key, href } => {
                let Some(row) = self.row(key)? else {
                    return Ok(());
                };
                self.write_back(&row, href).await
            }
            Action::Record {
                key,
                segment,
                fingerprint,
            } => {
                let slot = segment.map_or(Slot::Event, Slot::Segment);
                let Some(mut row) = self.load(key, slot)? else {
                    return Ok(());
                };
                row.fingerprint = Some(fingerprint.clone());
                self.save(slot, &row)
            }
            Action::Skip { key, reason } => {
                tracing::warn!(calendar = %key.calendar, uid = %key.uid, "skipped: {reason}");
                let mut row = self
                    .row(key)?
                    .unwrap_or_else(|| EventRow::new(key.clone(), RowState::Skipped, now));
                row.state = RowState::Skipped;
                row.last_error = Some(reason.clone());
                row.updated_at = now;
                self.put_row(&row)
            }
            Action::Forget { key } => {
                let store = &self.engine.store;
                store
                    .delete_segments(key)
                    .and_then(|()| store.delete(key))
                    .map_err(|e| format!("{key}: {e}"))
            }
            Action::HoldCancels {
                calendar,
                count,
                live,
                ..
            } => {
                tracing::warn!(
                    calendar = %calendar,
                    "{count} of {live} meetings would be cancelled in one pass; holding them. If the events were really deleted, they are cancelled on the next pass that sees the same, or now with `calmeet sync --confirm-deletions`"
                );
                Ok(())
            }
        }
    }

    /// Warns about invitees the create answer lists as not registered (`user_non_registered`):
    /// the meeting is not in their meeting lists.
    fn note_unregistered(&self, key: &EventKey, info: &MeetingInfo) {
        if info.user_non_registered.is_empty() {
            return;
        }
        let ids: Vec<&str> = info
            .user_non_registered
            .iter()
            .map(crate::tencent::types::NonRegistered::userid)
            .collect();
        tracing::warn!(calendar = %key.calendar, uid = %key.uid, meeting = %info.meeting_id, "invitees {} are not registered Tencent Meeting users: the meeting is not in their meeting lists; fix their entries in [meeting.users] or register them", ids.join(", "));
    }

    /// The live watch address of a meeting, by one GET (the create or modify answer lacked
    /// it). A failure is logged and leaves the address unknown (the block then has no live
    /// line until the next change of the meeting).
    async fn fetch_live_addr(
        &self,
        key: &EventKey,
        meeting_id: &str,
        userid: &str,
    ) -> Option<String> {
        let api = self.api().ok()?;
        match api.get_meeting(meeting_id, userid, self.instanceid()).await {
            Ok(info) => {
                let addr = info.live_addr().map(str::to_owned);
                if addr.is_none() {
                    tracing::warn!(calendar = %key.calendar, uid = %key.uid, meeting = %meeting_id, "the meeting is streamed live but Tencent reported no live address");
                }
                addr
            }
            Err(e) => {
                tracing::warn!(calendar = %key.calendar, uid = %key.uid, meeting = %meeting_id, "cannot read the live address of the meeting: {e}");
                None
            }
        }
    }

    fn create_request(&self, desired: &Desired) -> CreateMeetingRequest {
        create_request_for(desired)
    }

    fn record_meeting(
        row: &mut EventRow,
        info: &MeetingInfo,
        desired: &Desired,
        href: Option<&str>,
        now: i64,
    ) {
        row.state = RowState::Created;
        row.meeting_id = Some(info.meeting_id.clone());
        if !info.meeting_code.is_empty() {
            row.meeting_code = Some(info.meeting_code.clone());
        }
        if !info.join_url.is_empty() {
            row.join_url = Some(info.join_url.clone());
        }
        row.password = info
            .password
            .clone()
            .filter(|p| !p.is_empty())
            .or_else(|| desired.options.password.clone());
        row.live_url = info.live_addr().map(str::to_owned);
        row.userid = Some(desired.userid.clone());
        row.fingerprint = Some(desired.fingerprint.clone());
        Self::record_desired(row, desired);
        if href.is_some() {
            row.href = href.map(str::to_owned);
        }
        row.attempts = 0;
        row.last_error = None;
        row.next_attempt_at = None;
        row.updated_at = now;
    }

    fn record_desired(row: &mut EventRow, desired: &Desired) {
        row.subject = desired.subject.clone();
        row.start_at = Some(desired.start.timestamp());
        row.end_at = Some(desired.end.timestamp());
        row.series_end_at = Some(desired.series_end.timestamp());
        row.recurring = desired.rule.is_some();
        row.rule = desired
            .rule
            .as_ref()
            .and_then(|r| serde_json::to_string(r).ok());
        row.needs_extension = desired.truncated;
        row.occurrences = desired
            .occurrences
            .iter()
            .map(DateTime::timestamp)
            .collect();
    }

    /// The meeting a `pending` row's interrupted create made, if any: same creator, subject and
    /// start as sent.
    async fn find_sent(&self, row: &EventRow) -> Result<Option<String>, ApiError> {
        let api = self.api().map_err(ApiError::Invalid)?;
        let (Some(userid), Some(start)) = (row.userid.as_deref(), row.start_at) else {
            return Ok(None);
        };
        let found = api
            .list_meetings(userid, self.instanceid(), start - 1)
            .await?;
        Ok(found
            .into_iter()
            .find(|m| {
                m.status.as_deref() != Some("MEETING_STATE_CANCELLED")
                    && m.subject.as_deref() == Some(row.subject.as_str())
                    && m.start_time == Some(start)
            })
            .map(|m| m.meeting_id))
    }

    /// Looks for a meeting an earlier, interrupted create may have made: same creator, and
    /// the subject and start time of the event now or of what the interrupted create sent
    /// (`sent`, from the `pending` row: the event may have changed since). Returns the meeting
    /// and whether it matched only what was sent (so it needs an update).
    async fn find_earlier(
        &self,
        desired: &Desired,
        sent: Option<(&str, i64)>,
    ) -> Result<Option<(MeetingInfo, bool)>, ApiError> {
        let api = self.api().map_err(ApiError::Invalid)?;
        let from = sent.map_or(desired.start.timestamp(), |(_, start)| {
            start.min(desired.start.timestamp())
        });
        let found = api
            .list_meetings(&desired.userid, self.instanceid(), from - 1)
            .await?;
        let live = |m: &&MeetingInfo| m.status.as_deref() != Some("MEETING_STATE_CANCELLED");
        let is = |m: &MeetingInfo, subject: &str, start: i64| {
            m.subject.as_deref() == Some(subject) && m.start_time == Some(start)
        };
        if let Some(m) = found
            .iter()
            .filter(live)
            .find(|m| is(m, &desired.subject, desired.start.timestamp()))
        {
            return Ok(Some((m.clone(), false)));
        }
        Ok(sent.and_then(|(subject, start)| {
            found
                .iter()
                .filter(live)
                .find(|m| is(m, subject, start))
                .map(|m| (m.clone(), true))
        }))
    }

    async fn create(
        &self,
        key: &EventKey,
        desired: &Desired,
        reconcile: bool,
        href: Option<&str>,
    ) -> Result<(), String> {
        self.create_in(key, Slot::Event, desired, reconcile, href)
            .await
    }

    /// Creates the meeting of `slot` (the event's own, or a continuation segment) with the
    /// crash-safe order of every create: reconcile a `pending` row first, commit `pending`,
    /// call, commit `created`, write back.
    async fn create_in(
        &self,
        key: &EventKey,
        slot: Slot,
        desired: &Desired,
        reconcile: bool,
        href: Option<&str>,
    ) -> Result<(), String> {
        let now = self.engine.now().timestamp();
        let api = self.api()?;
        let what = match slot {
            Slot::Event => "create meeting",
            Slot::Segment(_) => "create continuation meeting",
        };
        let existing = self.load(key, slot)?;
        // Only a create that was sent before (a `pending` row) may have made a meeting.
        let must_reconcile = reconcile
            || existing
                .as_ref()
                .is_some_and(|r| r.state == RowState::Pending);
        let mut row =
            existing.unwrap_or_else(|| EventRow::new(key.clone(), RowState::Pending, now));
        if must_reconcile {
            let sent = (row.state == RowState::Pending)
                .then_some(
                    row.start_at
                        .map(|start| (row.subject.clone(), start, row.recurring)),
                )
                .flatten();
            let sent_ref = sent
                .as_ref()
                .map(|(subject, start, _)| (subject.as_str(), *start));
            match self.find_earlier(desired, sent_ref).await {
                Ok(Some((info, stale))) => {
                    tracing::info!(calendar = %key.calendar, uid = %key.uid, meeting = %info.meeting_id, "found the meeting of an interrupted create; recording it instead of creating another");
                    Self::record_meeting(&mut row, &info, desired, href, now);
                    if stale {
                        // It holds what was sent before the event changed: leave the
                        // fingerprint empty so that it is updated (or replaced) from the event.
                        row.fingerprint = None;
                        if let Some((_, _, recurring)) = sent {
                            row.recurring = recurring;
                        }
                    }
                    self.save(slot, &row)?;
                    if stale && row.recurring == desired.rule.is_some() {
                        // Same kind of meeting: modify it to the event now, in this pass.
                        // Boxed: an update may in turn create (a refused extension).
                        Box::pin(self.update(key, slot, &info.meeting_id, desired, None)).await?;
                        row = self.load(key, slot)?.unwrap_or(row);
                    }
                    return self.links_after(key, slot, &row, href).await;
                }
                Ok(None) => {
                    if let Some(wait) = self.still_in_doubt(&row, now) {
                        return Err(format!(
                            "{key}: the create that failed {ago} s ago is not in the meeting list yet; \
                             the server may still be committing it, so no new create before {wait} s \
                             more have passed (meeting.reconcile_grace_secs)",
                            ago = now - row.updated_at
                        ));
                    }
                }
                Err(e) => {
                    return Err(format!(
                        "{key}: cannot check for a meeting from an interrupted create, so none is created now: {e}"
                    ));
                }
            }
        }
        let request = self.create_request(desired);
        let hash = request_hash(&request);
        let blocked = self
            .create_hold(now)
            .map(|until| (until, None))
            .or_else(|| {
                self.recurring_limit_reached(desired, now)
                    .map(|(until, msg)| (until, Some(msg)))
            });
        if let Some((until, why)) = blocked {
            // A quota answer holds every create until the quota can have reset.
            row.state = RowState::Failed;
            row.userid = Some(desired.userid.clone());
            row.fingerprint = Some(desired.fingerprint.clone());
            Self::record_desired(&mut row, desired);
            row.href = href.map(str::to_owned).or(row.href.take());
            row.next_attempt_at = Some(until);
            row.request_hash = Some(hash);
            let msg = why.unwrap_or_else(|| format!(
                "meeting-creation quota used up: creates are held until {} (when the quota can have reset); \
                 nothing to do unless it keeps happening, then ask the Tencent Meeting admin for more quota",
                fmt_time(
                    DateTime::from_timestamp(until, 0).unwrap_or_default(),
                    &self.engine.config
                )
            ));
            row.last_error = Some(msg.clone());
            row.updated_at = now;
            self.save(slot, &row)?;
            return Err(format!("{key}: {what}: {msg}"));
        }
        // Commit the intent first: a crash after the call is then detected and reconciled.
        row.state = RowState::Pending;
        row.userid = Some(desired.userid.clone());
        row.fingerprint = Some(desired.fingerprint.clone());
        Self::record_desired(&mut row, desired);
        row.href = href.map(str::to_owned).or(row.href.take());
        row.request_hash = Some(hash);
        row.updated_at = now;
        self.save(slot, &row)?;
        crate::failpoint::hit("create.before_api", key);
        // The create limit of 200 occurrences is newer than the 50 of modify and get
        // (reference §3.2): once an app was refused more than 50, its creates hold 50 and are
        // extended later like any truncated series.
        let limited = limit_for_modify(desired);
        let fifty = self.create_occurrence_limit() == Some(MAX_OCCURRENCES_ON_MODIFY);
        let (mut desired, mut request) =
            if fifty && limited.occurrences.len() < desired.occurrences.len() {
                (limited.clone(), self.create_request(&limited))
            } else {
                (desired.clone(), request)
            };
        let mut result = api.create_meeting(&request).await;
        if let Err(ApiError::InvalidRequest { .. }) = &result
            && desired.occurrences.len() > MAX_OCCURRENCES_ON_MODIFY
            && desired.rule.is_some()
        {
            tracing::info!(calendar = %key.calendar, uid = %key.uid, "Tencent refused a series of {} occurrences; trying once with {MAX_OCCURRENCES_ON_MODIFY} (extended later)", desired.occurrences.len());
            desired = limited;
            request = self.create_request(&desired);
            result = api.create_meeting(&request).await;
            if result.is_ok() {
                self.set_create_occurrence_limit(MAX_OCCURRENCES_ON_MODIFY);
            }
        }
        let desired = &desired;
        if let Err(ApiError::UnregisteredUser { message, .. }) = &result
            && request.invitees.is_some()
        {
            // An unregistered invitee must not cost the meeting: create it without the
            // refused invitees (all of them when the answer does not name them).
            let mut without = request.clone();
            let refused: Vec<String> = request
                .invitees
                .iter()
                .flatten()
                .map(|u| u.userid.clone())
                .filter(|u| message.contains(u.as_str()))
                .collect();
            without.invitees = if refused.is_empty() {
                None
            } else {
                Some(
                    request
                        .invitees
                        .iter()
                        .flatten()
                        .filter(|u| !refused.contains(&u.userid))
                        .cloned()
                        .collect(),
                )
                .filter(|v: &Vec<MeetingUser>| !v.is_empty())
            };
            let named = if refused.is_empty() {
                "all invitees (the answer named none)".to_owned()
            } else {
                refused.join(", ")
            };
            tracing::warn!(calendar = %key.calendar, uid = %key.uid, "not registered with Tencent Meeting, left out of the invitees: {named}; register them or remove them from [meeting.users]");
            result = api.create_meeting(&without).await;
        }
        match result {
            Ok(info) => {
                crate::failpoint::hit("create.after_api", key);
                Self::record_meeting(&mut row, &info, desired, href, now);
                self.save(slot, &row)?;
                self.note_unregistered(key, &info);
                if desired.options.live.is_some() && row.live_url.is_none() {
                    // The answer lacks the watch address: one GET for it.
                    row.live_url = self
                        .fetch_live_addr(key, &info.meeting_id, &desired.userid)
                        .await;
                    self.save(slot, &row)?;
                }
                if desired.rule.is_some()
                    && let Some(counts) = self
                        .recurring
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .as_mut()
                {
                    *counts.entry(desired.userid.clone()).or_insert(0) += 1;
                }
                if slot == Slot::Event {
                    tracing::info!(calendar = %key.calendar, uid = %key.uid, meeting = %info.meeting_id, code = %info.meeting_code, "created meeting '{}'", desired.subject);
                } else {
                    tracing::info!(calendar = %key.calendar, uid = %key.uid, meeting = %info.meeting_id, code = %info.meeting_code, "created continuation meeting '{}' from {}", desired.subject, desired.start);
                }
                crate::failpoint::hit("create.after_state", key);
                self.links_after(key, slot, &row, href).await
            }
            Err(e) => {
                let failed_at = self.engine.now().timestamp();
                row.attempts += 1;
                let m = &self.engine.config.meeting;
                let class = e.failure_class();
                let next = match class {
                    FailureClass::InDoubt => {
                        // The meeting may exist: keep `pending`; the next pass looks for it
                        // first. The time of the failure starts the reconcile grace period.
                        row.last_error = Some(e.to_string());
                        row.updated_at = failed_at;
                        self.save(slot, &row)?;
                        return Err(format!(
                            "{key}: {what}: {e}; the next pass checks whether it was created before trying again"
                        ));
                    }
                    FailureClass::Refused => None,
                    // Credentials are the operator's to fix, not the event's: try again on the
                    // next pass (one call per event and pass), so a fixed key works at once.
                    FailureClass::Later
                        if matches!(
                            e,
                            ApiError::SignatureRejected { .. } | ApiError::AuthFailed { .. }
                        ) =>
                    {
                        Some(failed_at)
                    }
                    FailureClass::Later => Some(
                        failed_at + retry_delay(m.retry_first_secs, m.retry_max_secs, row.attempts),
                    ),
                    FailureClass::Quota { code } => {
                        let until = quota_reset(code, failed_at);
                        self.set_create_hold(until);
                        Some(until.max(
                            failed_at
                                + retry_delay(m.retry_first_secs, m.retry_max_secs, row.attempts),
                        ))
                    }
                };
                let then = match next {
                    Some(t) => format!(
                        "; retried automatically from {} (attempt {})",
                        fmt_time(DateTime::from_timestamp(t, 0).unwrap_or_default(), &self.engine.config),
                        row.attempts + 1
                    ),
                    None => "; fix the event or the [meeting] config: it is tried again as soon as either changes".to_owned(),
                };
                row.state = RowState::Failed;
                row.next_attempt_at = next;
                row.last_error = Some(format!("{e}{then}"));
                row.updated_at = failed_at;
                self.save(slot, &row)?;
                Err(format!("{key}: {what}: {e}{then}"))
            }
        }
    }

    /// Cancels a meeting or one occurrence, and makes sure of the outcome: "not found" is
    /// done (a repeat after a lost answer sees it), and any other refusal is checked by reading
    /// the meeting back — a meeting in `MEETING_STATE_CANCELLED`, or the occurrence with
    /// `status` 1, is cancelled whatever code the API answered (reference §2.3, §6: the code
    /// for "already cancelled" is not documented).
    async fn cancel_confirmed(
        &self,
        meeting_id: &str,
        req: &CancelMeetingRequest,
    ) -> Result<(), ApiError> {
        let api = self.api().map_err(ApiError::Invalid)?;
        let refused = match api.cancel_meeting(meeting_id, req).await {
            Ok(()) | Err(ApiError::NotFound { .. }) => return Ok(()),
            Err(e) => e,
        };
        let info = match api
            .get_meeting(meeting_id, &req.userid, self.instanceid())
            .await
        {
            Ok(info) => info,
            Err(ApiError::NotFound { .. }) => return Ok(()),
            Err(_) => return Err(refused),
        };
        if is_cancelled(&info, req.sub_meeting_id.as_deref()) {
            tracing::info!(meeting = %meeting_id, "the cancel was answered with an error ({refused}), but the meeting reads back as cancelled");
            Ok(())
        } else {
            Err(refused)
        }
    }

    /// The occurrence limit learned for this app's creates, if one was (`api_state`).
    fn create_occurrence_limit(&self) -> Option<usize> {
        let key = format!(
            "create_occurrence_limit:{}",
            self.engine.config.meeting.app_id
        );
        self.engine
            .store
            .api_state(&key)
            .ok()
            .flatten()
            .and_then(|v| v.parse().ok())
    }

    fn set_create_occurrence_limit(&self, limit: usize) {
        let key = format!(
            "create_occurrence_limit:{}",
            self.engine.config.meeting.app_id
        );
        if let Err(e) = self
            .engine
            .store
            .set_api_state(&key, Some(&limit.to_string()))
        {
            tracing::warn!("cannot record the create occurrence limit: {e}");
        }
    }

    /// For a recurring create whose creator already has [`RECURRING_LIMIT`] live recurring
    /// meetings in the state: when to look again, and why not now (in words).
    fn recurring_limit_reached(&self, desired: &Desired, now: i64) -> Option<(i64, String)> {
        desired.rule.as_ref()?;
        let live = {
            let mut counts = self
                .recurring
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            counts
                .get_or_insert_with(|| {
                    crate::sync::live_recurring_by_creator(&self.engine.store, now)
                })
                .get(&desired.userid)
                .copied()
                .unwrap_or(0)
        };
        if live < RECURRING_LIMIT {
            return None;
        }
        let m = &self.engine.config.meeting;
        let until = now + retry_delay(m.retry_first_secs, m.retry_max_secs, 1);
        Some((
            until,
            format!(
                "userid '{}' already has {live} live recurring meetings, the most Tencent Meeting \
                 allows per account ({RECURRING_LIMIT}); cancel or end one (or let another organizer \
                 own this series), then it is created automatically",
                desired.userid
            ),
        ))
    }

    /// Until when creates are held by a quota answer, if they still are.
    fn create_hold(&self, now: i64) -> Option<i64> {
        let key = hold_key(&self.engine.config.meeting.app_id);
        match self.engine.store.api_state(&key) {
            Ok(Some(v)) => v.parse::<i64>().ok().filter(|&t| t > now),
            Ok(None) => None,
            Err(e) => {
                tracing::warn!("cannot read the create hold: {e}");
                None
            }
        }
    }

    fn set_create_hold(&self, until: i64) {
        let key = hold_key(&self.engine.config.meeting.app_id);
        let value = until.to_string();
        if let Err(e) = self.engine.store.set_api_state(&key, Some(&value)) {
            tracing::warn!("cannot record the create hold: {e}");
        }
    }

    /// Seconds still to wait before a `pending` row may be taken as "nothing was created": a
    /// create that timed out, or was in flight when calmeet died, can still be committed by the
    /// server afterwards, and a listing made too early would miss it. The grace
    /// (`meeting.reconcile_grace_secs`) runs from the row's last write: the recorded failure,
    /// or — for a row left `pending` by a crash — the moment the create was about to be sent,
    /// so that a quick restart (an operator re-running `calmeet sync`, a supervisor without
    /// `RestartSec`) waits as long as a recorded failure does. `None` when past the grace.
    fn still_in_doubt(&self, row: &EventRow, now: i64) -> Option<i64> {
        if row.state != RowState::Pending {
            return None;
        }
        let grace = i64::try_from(self.engine.config.meeting.reconcile_grace_secs).unwrap_or(0);
        let left = row.updated_at.saturating_add(grace).saturating_sub(now);
        (left > 0).then_some(left)
    }

    /// Verifies and records the meetings an event names while the state has no row for them:
    /// its own (`X-CALMEET-MEETING-ID`) and its continuations (`X-CALMEET-CONTINUATION`), one
    /// GET each. Every lookup happens before anything is stored, so a failed one leaves the
    /// state as it was. A continuation that is gone (cancelled elsewhere) is recorded as
    /// cancelled, so it is neither looked up again nor listed in the next write-back, and the
    /// meeting before it is continued again when it runs low. Only when the event's own
    /// meeting is gone is anything created: a meeting for its dates before the first
    /// continuation.
    async fn adopt(
        &self,
        key: &EventKey,
        meeting_id: &str,
        desired: &Desired,
        continuations: &[ListedContinuation],
        href: Option<&str>,
    ) -> Result<(), String> {
        let now = self.engine.now().timestamp();
        let api = self.api()?;
        let alive = |info: &MeetingInfo| info.status.as_deref() != Some("MEETING_STATE_CANCELLED");
        // Continuations first: recorded before the event's row, so that a pass dying in
        // between finds them (and looks up only the rest) instead of continuing again.
        let mut segments: Vec<Segment> = Vec::new();
        for c in continuations {
            if let Some(known) = self.load(key, Slot::Segment(c.start))? {
                segments.push(Segment {
                    start: c.start,
                    row: known,
                });
                continue;
            }
            let found = match api
                .get_meeting(&c.meeting_id, &desired.userid, self.instanceid())
                .await
            {
                Ok(info) => Some(info).filter(alive),
                Err(ApiError::NotFound { .. }) => None,
                Err(e) => {
                    return Err(format!(
                        "{key}: verify continuation meeting {}: {e}",
                        c.meeting_id
                    ));
                }
            };
            segments.push(Segment {
                start: c.start,
                row: Self::adopted_continuation(key, c, found.as_ref(), desired, now),
            });
        }
        let info = match api
            .get_meeting(meeting_id, &desired.userid, self.instanceid())
            .await
        {
            Ok(info) => Some(info).filter(alive),
            Err(ApiError::NotFound { .. }) => None,
            Err(e) => return Err(format!("{key}: verify meeting {meeting_id}: {e}")),
        };
        // The event's own meeting holds the dates before the first continuation.
        let first = continuations.first().map(|c| c.start);
        let held = match first {
            Some(_) => plan::window(desired.clone(), None, first),
            None => Some(desired.clone()),
        };
        let live = |s: &Segment| s.row.state == RowState::Created;
        let dropped = segments.iter().any(|s| !live(s));
        // A lost tail leaves the meeting before it to continue the series when it runs low.
        let tail_lost = segments.last().is_some_and(|s| !live(s));
        let mut predecessor_found = false;
        if tail_lost && let Some(s) = segments.iter_mut().rev().find(|s| live(s)) {
            predecessor_found = true;
            s.row.needs_extension = !plan::meeting_over(&s.row, self.engine.now());
        }
        for s in &segments {
            self.save(Slot::Segment(s.start), &s.row)?;
            if live(s) {
                tracing::info!(calendar = %key.calendar, uid = %key.uid, meeting = ?s.row.meeting_id, "recorded the continuation meeting named in the event");
            } else {
                tracing::info!(calendar = %key.calendar, uid = %key.uid, meeting = ?s.row.meeting_id, "the continuation meeting named in the event no longer exists; dropping it from the event");
            }
        }
        let Some(info) = info else {
            let any_live = segments.iter().any(live);
            match held {
                Some(d) if any_live => {
                    tracing::info!(calendar = %key.calendar, uid = %key.uid, meeting = %meeting_id, "the meeting named in the event no longer exists; creating one for the dates before its continuation");
                    return self.create(key, &d, false, href).await;
                }
                None if any_live => {
                    // Its dates are all past: nothing to create; keep the series' row.
                    let mut row = EventRow::new(key.clone(), RowState::Created, now);
                    row.meeting_id = Some(meeting_id.to_owned());
                    row.userid = Some(desired.userid.clone());
                    row.fingerprint = Some(desired.fingerprint.clone());
                    Self::record_desired(&mut row, desired);
                    Self::mark_over(&mut row, first.unwrap_or(now).min(now));
                    row.href = href.map(str::to_owned);
                    row.written_back = true;
                    return self.put_row(&row);
                }
                _ => {
                    tracing::info!(calendar = %key.calendar, uid = %key.uid, meeting = %meeting_id, "the meeting named in the event no longer exists; creating a new one");
                    return self.create(key, desired, false, href).await;
                }
            }
        };
        let mut row = EventRow::new(key.clone(), RowState::Created, now);
        let recorded = held.as_ref().unwrap_or(desired);
        Self::record_meeting(&mut row, &info, recorded, href, now);
        if row.live_url.is_none() && desired.options.live.is_some() {
            // The API did not report the live address: the event carries it in its block.
            row.live_url = href
                .and_then(|h| self.cached_body(h))
                .and_then(|obj| String::from_utf8(obj.data).ok())
                .and_then(|ics| writeback::live_urls(&ics, &key.uid).into_iter().next());
        }
        if held.is_none() {
            Self::mark_over(&mut row, first.unwrap_or(now).min(now));
        }
        // The meeting may predate an edit made while the state was lost: if its subject or
        // time differ, leave the fingerprint empty so the next pass updates.
        let same = info.subject.as_deref() == Some(recorded.subject.as_str())
            && (recorded.rule.is_some() || info.start_time == Some(recorded.start.timestamp()));
        if !same {
            row.fingerprint = None;
        }
        if tail_lost && !predecessor_found {
            row.needs_extension = !plan::meeting_over(&row, self.engine.now());
            if row.needs_extension {
                self.evaluate_again();
            }
        }
        // A dropped continuation must leave the block: write it again.
        row.written_back = !dropped;
        tracing::info!(calendar = %key.calendar, uid = %key.uid, meeting = %meeting_id, "adopted the meeting named in the event");
        self.put_row(&row)?;
        if dropped {
            self.write_back_after(&row, href).await?;
        }
        Ok(())
    }

    /// The segment row of a continuation named in the event: `info` is the meeting as the API
    /// has it, `None` when it is gone (recorded as cancelled).
    fn adopted_continuation(
        key: &EventKey,
        c: &ListedContinuation,
        info: Option<&MeetingInfo>,
        desired: &Desired,
        now: i64,
    ) -> EventRow {
        let mut row = EventRow::new(key.clone(), RowState::Created, now);
        let Some(info) = info else {
            row.state = RowState::Cancelled;
            row.meeting_id = Some(c.meeting_id.clone());
            row.userid = Some(desired.userid.clone());
            row.start_at = Some(c.start);
            row.recurring = true;
            row.last_error = Some("meeting no longer exists at Tencent".into());
            return row;
        };
        match &c.desired {
            Some(d) => {
                Self::record_meeting(&mut row, info, d, None, now);
                if info.subject.as_deref() != Some(d.subject.as_str()) {
                    row.fingerprint = None;
                }
            }
            None => {
                Self::record_meeting(&mut row, info, desired, None, now);
                row.fingerprint = None;
                if c.start <= now {
                    // Its dates are past: it is over and never touched.
                    Self::mark_over(&mut row, now);
                } else {
                    // The series no longer reaches it: the next pass cancels it.
                    row.occurrences.clear();
                    row.series_end_at = None;
                    row.needs_extension = false;
                }
                row.start_at = Some(c.start);
            }
        }
        row.written_back = true;
        row
    }

    /// Records a meeting whose dates are all past (it held the series until `end`).
    fn mark_over(row: &mut EventRow, end: i64) {
        let length = row.end_at.zip(row.start_at).map_or(0, |(e, s)| e - s);
        row.occurrences.clear();
        row.needs_extension = false;
        row.start_at = Some(end.saturating_sub(length.max(0)));
        row.end_at = Some(end);
        row.series_end_at = Some(end);
    }

    /// Modifies the meeting of `slot` to `desired` (same id, same link). `extension`: the
    /// event did not change, the series is sent again from its next occurrence to hold more of
    /// it; when the API refuses that ([`refuses_in_place`]) the continuation it carries is
    /// created instead.
    async fn update(
        &self,
        key: &EventKey,
        slot: Slot,
        meeting_id: &str,
        desired: &Desired,
        extension: Option<Option<&Desired>>,
    ) -> Result<(), String> {
        let now = self.engine.now().timestamp();
        let api = self.api()?;
        let Some(mut row) = self.load(key, slot)? else {
            return Ok(());
        };
        let limited = limit_for_modify(desired);
        let desired = &limited;
        let creator = row.userid.clone().unwrap_or_else(|| desired.userid.clone());
        let o = &desired.options;
        // The password is sent when it differs from the meeting's ("" removes it); live
        // streaming when it is on, or to turn it off.
        let password = (row.password != o.password).then(|| o.password.clone().unwrap_or_default());
        let was_live = row.live_url.is_some();
        let req = ModifyMeetingRequest {
            userid: creator.clone(),
            instanceid: self.instanceid(),
            settings: Some(o.settings.clone()).filter(|s| !s.is_empty()),
            password: password.clone(),
            location: o.location.clone(),
            hosts: desired
                .hosts
                .as_ref()
                .map(|_| hosts_of(desired, &creator).unwrap_or_default()),
            enable_live: if o.live.is_some() {
                Some(true)
            } else {
                was_live.then_some(false)
            },
            live_config: o.live.clone(),
            subject: Some(desired.subject.clone()),
            start_time: Some(desired.start.timestamp().to_string()),
            end_time: Some(desired.end.timestamp().to_string()),
            meeting_type: Some(i64::from(desired.rule.is_some())),
            recurring_rule: desired.rule.clone(),
            time_zone: desired.time_zone.clone(),
            invitees: desired.invitees.as_deref().map(meeting_users),
        };
        crate::failpoint::hit("update.before_api", key);
        match api.modify_meeting(meeting_id, &req).await {
            Ok(()) => {
                crate::failpoint::hit("update.after_api", key);
                row.fingerprint = Some(desired.fingerprint.clone());
                Self::record_desired(&mut row, desired);
                row.last_error = None;
                row.updated_at = now;
                let block_before = (row.password.clone(), row.live_url.clone());
                if password.is_some() {
                    row.password.clone_from(&o.password);
                }
                if o.live.is_none() {
                    row.live_url = None;
                } else if row.live_url.is_none() {
                    row.live_url = self.fetch_live_addr(key, meeting_id, &creator).await;
                }
                let block_changed = block_before != (row.password.clone(), row.live_url.clone());
                // The block shows the password and the live address: until it is written
                // again the row says so, and a failed write is retried by the next pass.
                row.written_back &= !block_changed;
                if desired.rule.is_some() {
                    // The API resets a series' sub-meetings on a series change: the cancelled
                    // and moved occurrences must be sent again, and that is committed with the
                    // new fingerprint so that a crash before the re-sends loses none of them.
                    let segment = match slot {
                        Slot::Event => None,
                        Slot::Segment(start) => Some(start),
                    };
                    let marked = self
                        .engine
                        .store
                        .commit_series_change(&row, segment, meeting_id)
                        .map_err(|e| format!("{key}: {e}"))?;
                    if marked > 0 {
                        tracing::debug!(calendar = %key.calendar, uid = %key.uid, meeting = %meeting_id, "{marked} occurrence changes to send again after the series change");
                    }
                } else {
                    self.save(slot, &row)?;
                }
                crate::failpoint::hit("update.after_state", key);
                if block_changed {
                    let href = match slot {
                        Slot::Event => row.href.clone(),
                        Slot::Segment(_) => self.row(key)?.and_then(|r| r.href),
                    };
                    self.links_after(key, slot, &row, href.as_deref()).await?;
                }
                if extension.is_some() {
                    tracing::info!(calendar = %key.calendar, uid = %key.uid, meeting = %meeting_id, "extended series '{}': {} occurrences from {}", desired.subject, desired.occurrences.len(), desired.start);
                } else {
                    tracing::info!(calendar = %key.calendar, uid = %key.uid, meeting = %meeting_id, "updated meeting '{}'", desired.subject);
                }
                Ok(())
            }
            Err(ApiError::NotFound { .. }) => {
                // Cancelled or deleted outside calmeet: the next pass creates a new one.
                row.state = RowState::Cancelled;
                row.last_error = Some("meeting no longer exists at Tencent".into());
                row.updated_at = now;
                self.save(slot, &row)?;
                if let Slot::Segment(start) = slot {
                    // The meeting before it is extended (or continued) again when it runs low,
                    // and the block is written again without the dead link.
                    let before = self
                        .segments_of(key)?
                        .into_iter()
                        .rfind(|s| s.start < start && s.row.state == RowState::Created);
                    if let Some(mut event) = self.row(key)? {
                        event.needs_extension |= before.is_none();
                        event.written_back = false;
                        self.put_row(&event)?;
                    }
                    if let Some(mut b) = before {
                        b.row.needs_extension = true;
                        self.save(Slot::Segment(b.start), &b.row)?;
                    }
                    return Err(format!(
                        "{key}: continuation meeting {meeting_id} no longer exists; the series is continued again when the meeting before it runs low"
                    ));
                }
                Err(format!(
                    "{key}: meeting {meeting_id} no longer exists; a new one is created on the next pass"
                ))
            }
            Err(e) if refuses_in_place(&e) && extension.flatten().is_some() => {
                let Some(continuation) = extension.flatten() else {
                    return Ok(());
                };
                tracing::info!(calendar = %key.calendar, uid = %key.uid, meeting = %meeting_id, "Tencent refused to extend the series in place ({e}); creating a continuation meeting from {}", continuation.start);
                let href = match slot {
                    Slot::Event => row.href.clone(),
                    Slot::Segment(_) => self.row(key)?.and_then(|r| r.href),
                };
                self.create_in(
                    key,
                    Slot::Segment(continuation.start.timestamp()),
                    continuation,
                    false,
                    href.as_deref(),
                )
                .await
            }
            Err(e) => {
                row.last_error = Some(e.to_string());
                row.updated_at = now;
                self.save(slot, &row)?;
                Err(format!("{key}: update meeting {meeting_id}: {e}"))
            }
        }
    }

    /// The body of a cancel by `userid` (the configured creator when empty), for a whole
    /// series when `recurring`.
    fn cancel_request(&self, userid: &str, reason: &str, recurring: bool) -> CancelMeetingRequest {
        CancelMeetingRequest {
            userid: if userid.is_empty() {
                self.engine.config.meeting.userid.clone()
            } else {
                userid.to_owned()
            },
            instanceid: self.instanceid(),
            reason_code: 1,
            reason_detail: reason.to_owned(),
            meeting_type: recurring.then_some(1),
            sub_meeting_id: None,
        }
    }

    async fn cancel(
        &self,
        key: &EventKey,
        meeting_id: &str,
        userid: &str,
        reason: CancelReason,
        recurring: bool,
        href: Option<&str>,
    ) -> Result<(), String> {
        let now = self.engine.now().timestamp();
        self.api()?;
        let req = self.cancel_request(userid, reason.text(), recurring);
        let existing = self.row(key)?;
        // A row already cancelled for this meeting means an earlier pass cancelled it and
        // stopped before removing the block: only the removal is left to do.
        let already = existing.as_ref().is_some_and(|r| {
            r.state == RowState::Cancelled && r.meeting_id.as_deref() == Some(meeting_id)
        });
        // With continuations, the event's own meeting may be over while a later one is not:
        // a meeting that is over is never touched.
        let over = existing
            .as_ref()
            .is_some_and(|r| plan::meeting_over(r, self.engine.now()));
        if !already && !over {
            crate::failpoint::hit("cancel.before_api", key);
            match self.cancel_confirmed(meeting_id, &req).await {
                Ok(()) => {}
                Err(e) => return Err(format!("{key}: cancel meeting {meeting_id}: {e}")),
            }
            crate::failpoint::hit("cancel.after_api", key);
            tracing::info!(calendar = %key.calendar, uid = %key.uid, meeting = %meeting_id, "cancelled meeting: {}", reason.text());
        }
        // Continuations go before the event's row is marked: a crash in between leaves the
        // row live, and the next pass cancels again (a cancelled meeting counts as done).
        for segment in self.segments_of(key)? {
            let found = match segment.row.state {
                RowState::Created => segment.row.meeting_id.clone(),
                // A continuation create whose answer was lost may have made a meeting; until
                // the grace has passed, one not listed yet may still be committed.
                RowState::Pending => {
                    let found = self
                        .find_sent(&segment.row)
                        .await
                        .map_err(|e| format!("{key}: look for an interrupted continuation: {e}"))?;
                    if found.is_none()
                        && let Some(wait) = self.still_in_doubt(&segment.row, now)
                    {
                        return Err(format!(
                            "{key}: a continuation create is in doubt and not in the meeting list yet; \
                             the cancel is finished after {wait} s more (meeting.reconcile_grace_secs)"
                        ));
                    }
                    found
                }
                _ => continue,
            };
            if let Some(mid) =
                found.filter(|_| !plan::meeting_over(&segment.row, self.engine.now()))
            {
                let req = CancelMeetingRequest {
                    userid: segment
                        .row
                        .userid
                        .clone()
                        .unwrap_or_else(|| req.userid.clone()),
                    meeting_type: Some(1),
                    ..req.clone()
                };
                match self.cancel_confirmed(&mid, &req).await {
                    Ok(()) => {}
                    Err(e) => {
                        return Err(format!("{key}: cancel continuation meeting {mid}: {e}"));
                    }
                }
                tracing::info!(calendar = %key.calendar, uid = %key.uid, meeting = %mid, "cancelled continuation meeting: {}", reason.text());
            }
            let mut seg = segment.row;
            seg.state = RowState::Cancelled;
            seg.updated_at = now;
            self.save(Slot::Segment(segment.start), &seg)?;
        }
        let mut row =
            existing.unwrap_or_else(|| EventRow::new(key.clone(), RowState::Cancelled, now));
        row.state = RowState::Cancelled;
        row.updated_at = now;
        row.last_error = None;
        self.put_row(&row)?;
        if matches!(
            reason,
            CancelReason::Replaced | CancelReason::CreatorChanged
        ) || !self.cal.writes_back()
        {
            return Ok(());
        }
        if let Some(href) = href {
            crate::failpoint::hit("cancel.after_state", key);
            self.patch_object(key, href, |ics| {
                writeback::remove(ics, &key.uid).map_err(|e| e.to_string())
            })
            .await?;
            crate::failpoint::hit("cancel.after_remove", key);
            row.written_back = false;
            self.put_row(&row)?;
        }
        Ok(())
    }

    /// Resolves a create in doubt whose event no longer wants its meeting (see
    /// [`Action::Withdraw`]): lists the creator's meetings for one with the subject and start
    /// that were sent; cancels it unless it has started; then records the event as cancelled
    /// (or forgets the row when the event is gone). When nothing is listed yet and the row is
    /// within `meeting.reconcile_grace_secs` of its last write, the row is kept `pending` and
    /// the next pass looks again, because the server may still commit the create.
    async fn withdraw(
        &self,
        key: &EventKey,
        reason: CancelReason,
        gone: bool,
    ) -> Result<(), String> {
        let now = Utc::now().timestamp();
        let api = self.api()?;
        let Some(mut row) = self.row(key)? else {
            return Ok(());
        };
        if row.state != RowState::Pending {
            return Ok(());
        }
        let found = self.find_sent(&row).await.map_err(|e| {
            format!(
                "{key}: cannot check for a meeting from an interrupted create ({}), so it is neither cancelled nor forgotten now: {e}",
                reason.text()
            )
        })?;
        match found {
            Some(mid) => {
                if !plan::meeting_over(&row, Utc::now()) {
                    let userid = row.userid.clone().unwrap_or_default();
                    let req = self.cancel_request(&userid, reason.text(), row.recurring);
                    match api.cancel_meeting(&mid, &req).await {
                        Ok(()) | Err(ApiError::NotFound { .. }) => {}
                        Err(e) => {
                            return Err(format!(
                                "{key}: cancel meeting {mid} of an interrupted create ({}): {e}",
                                reason.text()
                            ));
                        }
                    }
                    crate::failpoint::hit("withdraw.after_api", key);
                    tracing::info!(calendar = %key.calendar, uid = %key.uid, meeting = %mid, "cancelled the meeting of an interrupted create: {}", reason.text());
                }
                row.meeting_id = Some(mid);
            }
            None => {
                if let Some(wait) = self.still_in_doubt(&row, now) {
                    return Err(format!(
                        "{key}: {}, but a create for it is in doubt and not in the meeting list yet; \
                         the server may still be committing it, so calmeet looks again after {wait} s \
                         more (meeting.reconcile_grace_secs) before forgetting it",
                        reason.text()
                    ));
                }
                tracing::info!(calendar = %key.calendar, uid = %key.uid, "the interrupted create made no meeting; nothing to cancel ({})", reason.text());
            }
        }
        if gone {
            return self
                .engine
                .store
                .delete(key)
                .map_err(|e| format!("{key}: {e}"));
        }
        row.state = RowState::Cancelled;
        row.written_back = false;
        row.attempts = 0;
        row.last_error = None;
        row.updated_at = now;
        self.put_row(&row)
    }

    async fn change_occurrence(
        &self,
        key: &EventKey,
        meeting_id: &str,
        userid: &str,
        moved: Option<(DateTime<Utc>, DateTime<Utc>, &str)>,
    ) -> Result<(), String> {
        let now = self.engine.now().timestamp();
        let api = self.api()?;
        let Some(rid) = key.recurrence_id else {
            return Ok(());
        };
        let info = api
            .get_meeting(meeting_id, userid, self.instanceid())
            .await
            .map_err(|e| format!("{key}: read occurrences of meeting {meeting_id}: {e}"))?;
        let mut row = self
            .row(key)?
            .unwrap_or_else(|| EventRow::new(key.clone(), RowState::Created, now));
        // By the id recorded earlier (a moved occurrence no longer starts at its
        // RECURRENCE-ID), else by original start time.
        let known = row.sub_meeting_id.clone();
        let find = |subs: &[SubMeeting]| {
            subs.iter()
                .find(|s| known.as_deref() == Some(s.sub_meeting_id.as_str()))
                .or_else(|| {
                    subs.iter()
                        .find(|s| s.start_time == Some(rid) || s.sub_meeting_id == rid.to_string())
                })
                .map(|s| s.sub_meeting_id.clone())
        };
        let mut sub = find(&info.sub_meetings);
        // GET may list only some sub-meetings (reference §2.3, §3.3): a partial answer says
        // so, or lists fewer live ones than remain. Then the list endpoint is asked for all of
        // them (`is_show_all_sub_meetings=1`), and failing that the occurrence is addressed by
        // the documented id form, its original start.
        let listed_live = info
            .sub_meetings
            .iter()
            .filter(|s| s.status.unwrap_or(0) == 0)
            .count();
        let partial = info.has_more_sub_meeting == Some(1)
            || info
                .remain_sub_meetings
                .is_some_and(|r| usize::try_from(r).is_ok_and(|r| r > listed_live));
        if sub.is_none() && partial {
            let all = api
                .list_meetings_with_all_sub_meetings(userid, self.instanceid(), now)
                .await
                .map_err(|e| format!("{key}: list the occurrences of meeting {meeting_id}: {e}"))?;
            sub = all
                .iter()
                .find(|m| m.meeting_id == meeting_id)
                .and_then(|m| find(&m.sub_meetings))
                .or_else(|| Some(rid.to_string()));
        }
        let Some(sub) = sub else {
            if moved.is_none() {
                // Every sub-meeting was listed and none is at that time: the meeting holds
                // nothing there, which is what the cancellation wants.
                tracing::debug!(
                    "{key}: meeting {meeting_id} holds no occurrence then; nothing to cancel"
                );
                row.meeting_id = Some(meeting_id.to_owned());
                row.userid = Some(userid.to_owned());
                row.state = RowState::Cancelled;
                row.updated_at = now;
                return self.put_row(&row);
            }
            return Err(format!(
                "{key}: meeting {meeting_id} has no occurrence starting then; left unchanged"
            ));
        };
        row.meeting_id = Some(meeting_id.to_owned());
        row.sub_meeting_id = Some(sub.clone());
        row.userid = Some(userid.to_owned());
        match moved {
            None => {
                let req = CancelMeetingRequest {
                    userid: userid.to_owned(),
                    instanceid: self.instanceid(),
                    reason_code: 1,
                    reason_detail: "calendar occurrence cancelled".into(),
                    meeting_type: Some(1),
                    sub_meeting_id: Some(sub),
                };
                crate::failpoint::hit("occurrence.before_api", key);
                match self.cancel_confirmed(meeting_id, &req).await {
                    Ok(()) => {}
                    Err(e) => return Err(format!("{key}: cancel occurrence: {e}")),
                }
                crate::failpoint::hit("occurrence.after_api", key);
                row.state = RowState::Cancelled;
                row.fingerprint = None;
            }
            Some((start, end, fp)) => {
                let req = ModifyMeetingRequest {
                    userid: userid.to_owned(),
                    instanceid: self.instanceid(),
                    start_time: Some(start.timestamp().to_string()),
                    end_time: Some(end.timestamp().to_string()),
                    meeting_type: Some(1),
                    recurring_rule: Some(RecurringRule {
                        sub_meeting_id: Some(sub),
                        ..RecurringRule::default()
                    }),
                    ..ModifyMeetingRequest::default()
                };
                crate::failpoint::hit("occurrence.before_api", key);
                api.modify_meeting(meeting_id, &req)
                    .await
                    .map_err(|e| format!("{key}: move occurrence: {e}"))?;
                crate::failpoint::hit("occurrence.after_api", key);
                row.state = RowState::Created;
                row.fingerprint = Some(fp.to_owned());
                row.start_at = Some(start.timestamp());
                row.end_at = Some(end.timestamp());
                // A moved occurrence has no link of its own to write (the series' block
                // holds it): left unmarked, it would count as work pending on every pass.
                row.written_back = true;
            }
        }
        row.updated_at = now;
        self.put_row(&row)
    }

    async fn write_back_after(&self, row: &EventRow, href: Option<&str>) -> Result<(), String> {
        match href {
            Some(h) if self.cal.writes_back() => self.write_back(row, h).await,
            _ => Ok(()),
        }
    }

    /// After a create or a segment's cancel: write the links of the event (its own meeting
    /// and its live continuations).
    async fn links_after(
        &self,
        key: &EventKey,
        slot: Slot,
        row: &EventRow,
        href: Option<&str>,
    ) -> Result<(), String> {
        match slot {
            Slot::Event => self.write_back_after(row, href).await,
            Slot::Segment(_) => {
                let Some(event) = self.row(key)? else {
                    return Ok(());
                };
                let href = href.map(str::to_owned).or_else(|| event.href.clone());
                self.write_back_after(&event, href.as_deref()).await
            }
        }
    }

    async fn cancel_segment(
        &self,
        key: &EventKey,
        start: i64,
        meeting_id: &str,
        userid: &str,
        href: Option<&str>,
    ) -> Result<(), String> {
        self.api()?;
        let Some(mut row) = self.load(key, Slot::Segment(start))? else {
            return Ok(());
        };
        let req = self.cancel_request(
            userid,
            "calendar series no longer reaches these dates",
            true,
        );
        match self.cancel_confirmed(meeting_id, &req).await {
            Ok(()) => {}
            Err(e) => {
                return Err(format!(
                    "{key}: cancel continuation meeting {meeting_id}: {e}"
                ));
            }
        }
        tracing::info!(calendar = %key.calendar, uid = %key.uid, meeting = %meeting_id, "cancelled continuation meeting: the series no longer reaches it");
        row.state = RowState::Cancelled;
        row.updated_at = self.engine.now().timestamp();
        self.save(Slot::Segment(start), &row)?;
        self.links_after(key, Slot::Segment(start), &row, href)
            .await
    }

    /// The label of a meeting's dates in the block: "first – last" for a meeting followed by
    /// another, "from first" for the last one.
    fn label(&self, row: &EventRow, first: Option<i64>, last_one: bool) -> String {
        let zone = self.engine.config.default_zone();
        let day = |t: Option<i64>| {
            t.and_then(|t| DateTime::from_timestamp(t, 0)).map_or_else(
                || "?".to_owned(),
                |d| d.with_timezone(&zone).format("%Y-%m-%d").to_string(),
            )
        };
        if last_one {
            format!("from {}", day(first))
        } else {
            format!("{} – {}", day(first), day(plan::last_held(row)))
        }
    }

    async fn write_back(&self, row: &EventRow, href: &str) -> Result<(), String> {
        let (Some(meeting_id), Some(join_url)) = (row.meeting_id.clone(), row.join_url.clone())
        else {
            return Ok(());
        };
        let block_of = |r: &EventRow, meeting_id: String, join_url: String| MeetingBlock {
            meeting_id,
            join_url,
            meeting_code: r.meeting_code.clone().unwrap_or_default(),
            password: r.password.clone(),
            live_url: r.live_url.clone(),
        };
        let block = block_of(row, meeting_id, join_url);
        let segments: Vec<Segment> = self
            .segments_of(&row.key)?
            .into_iter()
            .filter(|s| {
                s.row.state == RowState::Created
                    && s.row.meeting_id.is_some()
                    && s.row.join_url.is_some()
            })
            .collect();
        let first = LabelledBlock {
            label: self.label(row, row.start_at, segments.is_empty()),
            block,
            start: row.start_at.unwrap_or_default(),
        };
        let later: Vec<LabelledBlock> = segments
            .iter()
            .enumerate()
            .map(|(i, s)| LabelledBlock {
                label: self.label(&s.row, Some(s.start), i + 1 == segments.len()),
                block: block_of(
                    &s.row,
                    s.row.meeting_id.clone().unwrap_or_default(),
                    s.row.join_url.clone().unwrap_or_default(),
                ),
                start: s.start,
            })
            .collect();
        let opts = PatchOptions {
            location_if_empty: self.cal.location == crate::config::LocationPolicy::IfEmpty,
        };
        let uid = row.key.uid.clone();
        crate::failpoint::hit("writeback.before_put", &row.key);
        let etag = self
            .patch_object(&row.key, href, |ics| {
                writeback::apply_segments(ics, &uid, &first, &later, &opts)
                    .map_err(|e| e.to_string())
            })
            .await?;
        crate::failpoint::hit("writeback.after_put", &row.key);
        let mut row = row.clone();
        row.written_back = true;
        row.etag = etag;
        row.href = Some(href.to_owned());
        self.put_row(&row)?;
        for s in segments.into_iter().filter(|s| !s.row.written_back) {
            let mut seg = s.row;
            seg.written_back = true;
            self.save(Slot::Segment(s.start), &seg)?;
        }
        Ok(())
    }

    /// Patches an object and writes it back with `If-Match`. The first try starts from the
    /// body and ETag this calendar's fetch cached (no GET: an unchanged object is exactly
    /// that version, and `If-Match` refuses the PUT otherwise); on 412 (a concurrent edit, or
    /// a cache older than the server) it reads the object and re-applies the patch, a bounded
    /// number of times. It never writes without a precondition. Returns the new ETag.
    async fn patch_object(
        &self,
        key: &EventKey,
        href: &str,
        patch: impl Fn(&str) -> Result<String, String>,
    ) -> Result<Option<String>, String> {
        let dav = self.dav()?;
        let mut cached = self.cached_body(href);
        // The version the pass planned from: a different one read here is an unplanned edit.
        let planned = self
            .engine
            .store
            .object(&self.cal.name, href)
            .ok()
            .flatten()
            .and_then(|o| o.etag);
        let tries = MAX_PRECONDITION_RETRIES + usize::from(cached.is_some());
        for _ in 0..tries {
            let from_cache = cached.is_some();
            let obj = match cached.take() {
                Some(obj) => obj,
                None => dav
                    .get(href)
                    .await
                    .map_err(|e| format!("{key}: read {href}: {e}"))?,
            };
            let Some(etag) = obj.etag.clone() else {
                return Err(format!(
                    "{key}: the server gave no ETag for {href}; calmeet writes only with If-Match, so the link is not written"
                ));
            };
            let text = match String::from_utf8(obj.data) {
                Ok(t) => t,
                Err(_) => return Err(format!("{key}: {href} is not UTF-8; not written")),
            };
            let patched = patch(&text).map_err(|e| format!("{key}: cannot patch {href}: {e}"))?;
            if patched == text {
                if from_cache {
                    // Nothing to write by the cache: confirm with the server's current version.
                    continue;
                }
                if planned.as_deref() != Some(etag.as_str()) {
                    self.remember(href, Some(etag.clone()), text.into_bytes(), true);
                }
                return Ok(Some(etag));
            }
            // A body read here (not the cached one) that the plan did not start from holds
            // someone's edit: the patched body carries it too.
            let reread = !from_cache && planned.as_deref() != Some(etag.as_str());
            let put = dav.put(href, patched.as_bytes(), &etag).await;
            match &put {
                Ok(_) => crate::metrics::global().writeback(),
                Err(caldav::DavError::PreconditionFailed { .. }) => {
                    crate::metrics::global().writeback_conflict();
                }
                Err(_) => {}
            }
            match put {
                Ok(Some(new)) => {
                    // RFC 4791 §5.3.4 / RFC 7231: an ETag in the PUT answer means the server
                    // stored exactly these bytes.
                    self.remember(href, Some(new.clone()), patched.into_bytes(), reread);
                    return Ok(Some(new));
                }
                Ok(None) => {
                    // No ETag: the server may have re-serialised the object. Cache what it
                    // stores now, so that its own spelling is no change next pass.
                    let stored = dav.get(href).await.map_err(|e| format!("{key}: {e}"))?;
                    self.remember(href, stored.etag.clone(), stored.data, reread);
                    return Ok(stored.etag);
                }
                Err(caldav::DavError::PreconditionFailed { .. }) => {
                    tracing::info!(calendar = %key.calendar, uid = %key.uid, "the event changed while calmeet wrote to it; reading it again");
                }
                Err(caldav::DavError::Forbidden { .. }) => {
                    return Err(format!(
                        "{key}: the calendar is read-only for this user (403); the meeting exists but its link cannot be written into the event; set write_back = false to silence this"
                    ));
                }
                Err(e) => return Err(format!("{key}: write {href}: {e}")),
            }
        }
        Err(format!(
            "{key}: the event kept changing while calmeet wrote to it; trying again next pass"
        ))
    }

    /// The cached body and ETag of `href`, when both are there and the body is the bare
    /// object (a server that indents its XML would add whitespace around calendar-data), with
    /// the line endings the server stores: a body whose CRs a REPORT may have lost (sabre/dav
    /// 1.8, SOGo) is read with GET instead, so the write-back changes no other line's ending.
    fn cached_body(&self, href: &str) -> Option<caldav::CalObject> {
        let obj = self.engine.store.object(&self.cal.name, href).ok()??;
        if caldav::lost_carriage_returns(&obj.data) {
            return None;
        }
        let bare = obj.data.starts_with(b"BEGIN:VCALENDAR")
            && [
                &b"END:VCALENDAR\r\n"[..],
                b"END:VCALENDAR\n",
                b"END:VCALENDAR",
            ]
            .iter()
            .any(|end| obj.data.ends_with(end));
        (bare && obj.etag.is_some()).then_some(caldav::CalObject {
            href: obj.href,
            etag: obj.etag,
            data: obj.data,
        })
    }
}
