//! One sync pass: fetch every calendar, plan, apply, record.
//!
//! The rules live in [`plan`]; this module is the imperative shell around them. It applies
//! actions in a crash-safe order: a `pending` row is committed before a create call, the result
//! is committed right after it, and the write-back comes last, so a crash at any point leaves
//! state from which the next pass neither loses nor duplicates a meeting. One calendar's failure
//! never stops the others.

pub mod apply;
pub mod plan;
pub mod rule_words;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{Semaphore, watch};

use crate::config::{CalendarConfig, CalendarKind, Config};
pub use crate::daemon::{Clock, SystemClock};
use crate::event::{self, TagMatcher};
use crate::source::{self, Snapshot};
use crate::store::{CalendarState, RowState, Store};
use crate::tencent::MeetingApi;

pub use plan::{Action, CancelReason, Desired, PlanInput, SourcedEvent, plan};

/// How often an unchanged calendar is still re-evaluated against the clock (events entering
/// the horizon, series to extend).
pub const REEVALUATE_EVERY: Duration = Duration::from_secs(15 * 60);
/// Default timeout for one calendar request (`timeout_secs` of a calendar overrides it).
pub const SOURCE_TIMEOUT: Duration = Duration::from_secs(60);

/// Options of one pass.
#[derive(Debug, Clone, Copy, Default)]
pub struct SyncOptions {
    /// Print the plan; call no API, write no calendar, change no state.
    pub dry_run: bool,
    /// Let the mass-deletion guard through.
    pub confirm_deletions: bool,
}

/// What happened to one calendar in a pass.
#[derive(Debug, Clone, Default)]
pub struct CalendarOutcome {
    /// Calendar name.
    pub name: String,
    /// The calendar could not be read (nothing was planned for it).
    pub error: Option<String>,
    /// Errors of single events or actions.
    pub event_errors: Vec<String>,
    /// The plan, one line per action.
    pub plan: Vec<String>,
    /// Nothing changed since the last pass and nothing was evaluated.
    pub unchanged: bool,
    /// Tagged events that lack their (correct) meeting because of an error, read from the
    /// state after the pass: one line each with the event, the cause and what happens next.
    /// Listed on every pass until resolved, also when nothing was tried this pass.
    pub failing: Vec<String>,
}

impl CalendarOutcome {
    /// Whether anything failed.
    #[must_use]
    pub fn failed(&self) -> bool {
        self.error.is_some() || !self.event_errors.is_empty() || !self.failing.is_empty()
    }
}

/// Why a state row's event lacks its (correct) meeting because of an error, if it does and
/// the meeting would not be over yet: a failed create (refused, or waiting to be retried), a
/// create in doubt, or a meeting whose last update failed. `None` for everything else.
#[must_use]
pub fn needs_attention(r: &crate::store::EventRow, now: i64) -> Option<String> {
    let over = r.series_end_at.or(r.end_at).is_some_and(|end| end <= now);
    if over {
        return None;
    }
    let error = r.last_error.as_deref();
    match r.state {
        RowState::Failed => Some(error.unwrap_or("create failed").to_owned()),
        RowState::Pending if r.attempts > 0 => Some(format!(
            "{}; no meeting yet: the next pass looks for it before creating one",
            error.unwrap_or("the create's outcome is unknown")
        )),
        RowState::Created => error.map(|e| {
            format!("{e}; the meeting does not match the event yet, retried on the next pass")
        }),
        _ => None,
    }
}

/// Live recurring meetings per creator userid, counted from the state (event rows and
/// continuation segments that are `created`, recurring and not over): the API allows 50 per
/// account (reference §3.2). An unreadable state counts as none.
#[must_use]
pub fn live_recurring_by_creator(
    store: &Store,
    now: i64,
) -> std::collections::BTreeMap<String, usize> {
    let rows = store.all_rows().unwrap_or_default();
    let segments = store.all_segments().unwrap_or_default();
    count_live_recurring(rows.iter().chain(segments.iter().map(|s| &s.row)), now)
}

/// [`live_recurring_by_creator`] over given rows.
#[must_use]
pub fn count_live_recurring<'r>(
    rows: impl Iterator<Item = &'r crate::store::EventRow>,
    now: i64,
) -> std::collections::BTreeMap<String, usize> {
    let mut counts = std::collections::BTreeMap::new();
    for r in rows {
        let over = r.series_end_at.or(r.end_at).is_some_and(|end| end <= now);
        if r.state == RowState::Created
            && r.recurring
            && r.key.recurrence_id.is_none()
            && !over
            && let Some(u) = &r.userid
        {
            *counts.entry(u.clone()).or_insert(0) += 1;
        }
    }
    counts
}

/// Warnings for creators at or near the API's 50 live recurring meetings per account.
#[must_use]
pub fn recurring_limit_warnings(counts: &std::collections::BTreeMap<String, usize>) -> Vec<String> {
    counts
        .iter()
        .filter(|&(_, &n)| n >= apply::RECURRING_WARN)
        .map(|(u, n)| {
            format!(
                "userid '{u}' has {n} live recurring meetings; Tencent Meeting allows {} per \
                 account, and further recurring events of this organizer wait until one ends or \
                 is cancelled",
                apply::RECURRING_LIMIT
            )
        })
        .collect()
}

/// "1 tagged event" / "2 tagged events".
#[must_use]
pub fn count_events(n: usize) -> String {
    if n == 1 {
        "1 tagged event".to_owned()
    } else {
        format!("{n} tagged events")
    }
}

/// "1 event needs" / "2 events need" (followed by "attention").
#[must_use]
pub fn count_events_need(n: usize) -> String {
    if n == 1 {
        "1 event needs".to_owned()
    } else {
        format!("{n} events need")
    }
}

/// One `needs attention` line for a row: calendar, event UID, subject and cause.
#[must_use]
pub fn attention_line(r: &crate::store::EventRow, cause: &str) -> String {
    format!("{} ('{}'): {cause}", r.key, r.subject)
}

/// What a whole pass did.
#[derive(Debug, Clone)]
pub struct PassReport {
    /// Per calendar, in configuration order.
    pub calendars: Vec<CalendarOutcome>,
    /// When the pass began.
    pub started: DateTime<Utc>,
    /// When it ended.
    pub finished: DateTime<Utc>,
    /// The pass was cut short by a shutdown request.
    pub interrupted: bool,
}

impl PassReport {
    /// Whether anything failed (the `sync` command then exits 1).
    #[must_use]
    pub fn failed(&self) -> bool {
        self.calendars.iter().any(CalendarOutcome::failed)
    }

    /// Number of calendars or events with errors in this pass.
    #[must_use]
    pub fn error_count(&self) -> usize {
        self.calendars
            .iter()
            .map(|c| usize::from(c.error.is_some()) + c.event_errors.len())
            .sum()
    }

    /// Number of tagged events lacking their (correct) meeting because of an error, whether
    /// or not anything was tried for them in this pass.
    #[must_use]
    pub fn failing_count(&self) -> usize {
        self.calendars.iter().map(|c| c.failing.len()).sum()
    }
}

/// A digest of everything in the configuration that shapes a calendar's meetings besides its
/// events (settings, password, location, creator, users, live streaming, tags): a calendar
/// whose digest changed is evaluated on the next pass even when none of its events changed, so
/// that a config change reaches existing meetings at once.
#[must_use]
pub fn options_digest(config: &Config, cal: &CalendarConfig) -> String {
    use sha2::Digest;
    let r = &cal.resolved;
    let canon = serde_json::json!({
        "settings": r.settings,
        "password": r.password,
        "userid": [&r.userid, &cal.userid, &Some(&config.meeting.userid)],
        "instanceid": r.instanceid,
        "location": r.location_from_event,
        "live_all": r.live_all,
        "live": [&r.live.subject, &r.live.summary],
        "live_flags": [r.live.im, r.live.replay],
        "live_password": r.live_password.as_ref().map(|p| p.expose().to_owned()),
        "live_match": cal.live_match.as_ref().map(|m| (&m.categories, &m.keywords)),
        "match": cal.match_rules.as_ref().map(|m| (&m.categories, &m.keywords)),
        "users": config.meeting.users,
        "subject_max": config.meeting.subject_max_chars,
    });
    crate::fingerprint::hex(&sha2::Sha256::digest(canon.to_string().as_bytes()))
}

/// The object cache of one calendar in the state database, as sources read it.
struct CalendarCache<'a> {
    store: &'a Store,
    calendar: &'a str,
}

impl source::ObjectCache for CalendarCache<'_> {
    fn etags(&self) -> Result<Vec<(String, Option<String>)>, String> {
        self.store
            .object_etags(self.calendar)
            .map_err(|e| e.to_string())
    }

    fn objects(&self) -> Result<Vec<crate::store::CachedObject>, String> {
        self.store.objects(self.calendar).map_err(|e| e.to_string())
    }
}

/// Events read from a calendar: tagged events, UIDs that failed to parse, error messages.
type ReadEvents = (Vec<SourcedEvent>, HashSet<String>, Vec<String>);

/// The sync engine: configuration, state, meeting API and HTTP client for calendars.
pub struct Engine<A> {
    /// Configuration.
    pub config: Arc<Config>,
    /// State database.
    pub store: Arc<Store>,
    /// Meeting API; `None` in a dry run without credentials.
    pub api: Option<A>,
    /// HTTP client for calendars (one connection pool).
    pub http: reqwest::Client,
    /// Set to `true` to stop between actions.
    pub shutdown: watch::Receiver<bool>,
    /// Told after every calendar and every action, so that a long pass (thousands of creates
    /// paced by the API's rate limit) proves it is alive to the daemon's systemd watchdog.
    pub progress: Progress,
    /// Wall-clock time of a pass: what "now" is for the plan (which occurrences are ahead,
    /// the horizon) and for the timestamps in the state. [`SystemClock`] in the binary;
    /// tests inject a fixed instant to run a calendar as of a given day.
    pub clock: Arc<dyn Clock>,
}

/// A hook called whenever a pass got something done; does nothing by default.
#[derive(Clone, Default)]
pub struct Progress(Option<Arc<dyn Fn() + Send + Sync>>);

impl Progress {
    /// A hook that calls `f` on every step.
    pub fn new(f: impl Fn() + Send + Sync + 'static) -> Self {
        Self(Some(Arc::new(f)))
    }

    /// Reports one step.
    pub fn tick(&self) {
        if let Some(f) = &self.0 {
            f();
        }
    }
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Progress(hook)"
        } else {
            "Progress(none)"
        })
    }
}

impl<A> Engine<A> {
    /// The engine's wall-clock time (see [`Engine::clock`]).
    #[must_use]
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }
}

impl<A> Clone for Engine<A>
where
    A: Clone,
{
    fn clone(&self) -> Self {
        Self {
            config: Arc::clone(&self.config),
            store: Arc::clone(&self.store),
            api: self.api.clone(),
            http: self.http.clone(),
            shutdown: self.shutdown.clone(),
            progress: self.progress.clone(),
            clock: Arc::clone(&self.clock),
        }
    }
}

/// Builds the HTTP client used for calendars: rustls, bounded redirects, a user agent.
///
/// # Errors
/// When the TLS backend cannot be initialised.
pub fn calendar_http_client() -> Result<reqwest::Client, reqwest::Error> {
    calendar_http_builder().build()
}

/// The calendar HTTP client without certificate verification, for a calendar configured with
/// `insecure_skip_verify = true` (a self-signed test server). Never used for anything else.
///
/// # Errors
/// When the TLS backend cannot be initialised.
pub fn insecure_calendar_http_client() -> Result<reqwest::Client, reqwest::Error> {
    calendar_http_builder()
        .tls_danger_accept_invalid_certs(true)
        .build()
}

/// The client to read `cal` with: `shared`, or a non-verifying one when the calendar opts out
/// of TLS verification (`insecure_skip_verify`).
///
/// # Errors
/// When the TLS backend cannot be initialised.
pub fn http_client_for(
    cal: &crate::config::CalendarConfig,
    shared: &reqwest::Client,
) -> Result<reqwest::Client, String> {
    if cal.insecure_skip_verify {
        insecure_calendar_http_client().map_err(|e| format!("HTTP client: {e}"))
    } else {
        Ok(shared.clone())
    }
}

fn calendar_http_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .user_agent(concat!("calmeet/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(15))
        .timeout(SOURCE_TIMEOUT)
        .redirect(reqwest::redirect::Policy::limited(5))
}

impl<A> Engine<A>
where
    A: MeetingApi + Clone + Send + Sync + 'static,
{
    /// Runs one pass over every calendar, at most `max_concurrency` at a time.
    pub async fn run_pass(&self, opts: SyncOptions) -> PassReport {
        let started = self.now();
        let limit = Arc::new(Semaphore::new(self.config.max_concurrency));
        let mut tasks = tokio::task::JoinSet::new();
        for (i, cal) in self.config.calendars.iter().enumerate() {
            let engine = self.clone();
            let cal = cal.clone();
            let limit = Arc::clone(&limit);
            tasks.spawn(async move {
                let _permit = limit.acquire_owned().await;
                if *engine.shutdown.borrow() {
                    return (
                        i,
                        CalendarOutcome {
                            name: cal.name.clone(),
                            unchanged: true,
                            ..Default::default()
                        },
                    );
                }
                let outcome = engine.sync_calendar(&cal, opts).await;
                engine.progress.tick();
                (i, outcome)
            });
        }
        let mut outcomes: Vec<Option<CalendarOutcome>> = vec![None; self.config.calendars.len()];
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok((i, o)) => {
                    if let Some(slot) = outcomes.get_mut(i) {
                        *slot = Some(o);
                    }
                }
                Err(e) => tracing::error!("a calendar task failed: {e}"),
            }
        }
        let calendars = outcomes
            .into_iter()
            .enumerate()
            .map(|(i, o)| {
                o.unwrap_or_else(|| CalendarOutcome {
                    name: self
                        .config
                        .calendars
                        .get(i)
                        .map(|c| c.name.clone())
                        .unwrap_or_default(),
                    error: Some("internal error: the calendar task stopped".into()),
                    ..Default::default()
                })
            })
            .collect();
        PassReport {
            calendars,
            started,
            finished: self.now(),
            interrupted: *self.shutdown.borrow(),
        }
    }

    /// Syncs one calendar. Never panics on bad input; errors are in the outcome, and so is
    /// every event still failing from an earlier pass (read from the state afterwards).
    pub async fn sync_calendar(&self, cal: &CalendarConfig, opts: SyncOptions) -> CalendarOutcome {
        let mut outcome = self.sync_calendar_once(cal, opts).await;
        outcome.failing = self.failing(&cal.name);
        outcome
    }

    /// The events of `calendar` that need attention, from the state.
    fn failing(&self, calendar: &str) -> Vec<String> {
        let now = self.now().timestamp();
        let rows = self.store.rows(calendar).unwrap_or_default();
        let segments = self.store.segments(calendar).unwrap_or_default();
        rows.iter()
            .chain(segments.iter().map(|s| &s.row))
            .filter_map(|r| needs_attention(r, now).map(|cause| attention_line(r, &cause)))
            .collect()
    }

    async fn sync_calendar_once(&self, cal: &CalendarConfig, opts: SyncOptions) -> CalendarOutcome {
        let now = self.now();
        let mut outcome = CalendarOutcome {
            name: cal.name.clone(),
            ..Default::default()
        };
        let mut state = match self.store.calendar(&cal.name) {
            Ok(s) => s,
            Err(e) => {
                outcome.error = Some(e.to_string());
                return outcome;
            }
        };
        state.last_pass_at = Some(now.timestamp());
        let cache = CalendarCache {
            store: &self.store,
            calendar: &cal.name,
        };
        let http = match cal.kind {
            CalendarKind::Ics => http_client_for(cal, &self.http),
            CalendarKind::Caldav => Ok(self.http.clone()),
        };
        let fetched = match http {
            Ok(http) => {
                let env = source::FetchEnv {
                    base_dir: &self.config.base_dir,
                    http: &http,
                    horizon_days: self.config.horizon_days,
                    reevaluate_every: REEVALUATE_EVERY,
                    now,
                };
                source::fetch(&env, cal, &state, &cache).await
            }
            Err(e) => Err(e),
        };
        // The objects and the markers that vouch for them, in one transaction (a crash after
        // it leaves a cache its markers describe; before it, the old cache and old markers).
        let fetched = fetched.and_then(|s| {
            if !opts.dry_run {
                self.store
                    .commit_fetch(&cal.name, &s.commit)
                    .map_err(|e| e.to_string())?;
            }
            Ok(s)
        });
        crate::failpoint::hit("pass.after_fetch", &format_args!("calendar '{}'", cal.name));
        let mut snapshot = match fetched {
            Ok(s) => s,
            Err(e) => {
                let msg = format!("calendar '{}': {e}", cal.name);
                tracing::error!(calendar = %cal.name, "{msg}; nothing in it is changed this pass");
                state.last_error = Some(msg.clone());
                outcome.error = Some(msg);
                if !opts.dry_run {
                    self.save_calendar_state(&state);
                }
                return outcome;
            }
        };
        let rows = match self.store.rows(&cal.name) {
            Ok(r) => r,
            Err(e) => {
                outcome.error = Some(e.to_string());
                return outcome;
            }
        };
        let segments = match self.store.segments(&cal.name) {
            Ok(s) => s,
            Err(e) => {
                outcome.error = Some(e.to_string());
                return outcome;
            }
        };
        let pending_work = rows.iter().any(|r| {
            matches!(r.state, RowState::Pending)
                || (r.state == RowState::Created && cal.writes_back() && !r.written_back)
                // A failed create is evaluated on every pass: it is due when its backoff ran
                // out, or when the config that shapes its request changed (a refused one).
                || (r.state == RowState::Failed && needs_attention(r, now.timestamp()).is_some())
        }) || segments.iter().any(|s| {
            s.row.state == RowState::Pending
                || (s.row.state == RowState::Failed
                    && s.row.next_attempt_at.is_some_and(|t| t <= now.timestamp()))
                || (s.row.state == RowState::Created && cal.writes_back() && !s.row.written_back)
        }) || state.held_cancels.is_some();
        let digest = options_digest(&self.config, cal);
        let fresh = state.evaluated_at.is_some_and(|t| {
            now.timestamp() - t < i64::try_from(REEVALUATE_EVERY.as_secs()).unwrap_or(i64::MAX)
        }) && state.options_digest.as_deref() == Some(digest.as_str());
        if !snapshot.changed && fresh && !pending_work && !opts.dry_run {
            outcome.unchanged = true;
            state.last_ok_at = Some(now.timestamp());
            state.last_error = None;
            self.save_calendar_state(&snapshot.apply_validators(state));
            return outcome;
        }
        // Unchanged but due for re-evaluation (or with work pending): the cached objects.
        if let Err(e) = snapshot.load(&cache) {
            outcome.error = Some(format!("calendar '{}': {e}", cal.name));
            return outcome;
        }

        if snapshot.changed {
            // The commit above cached the changed objects and cleared `evaluated_at` in the
            // same transaction; keep it cleared until the actions are done, so that a pass that dies
            // or fails first is evaluated again next time instead of looking "unchanged".
            state.evaluated_at = None;
        }
        let read = self.read_events(cal, &snapshot, &rows);
        let (events, failed_uids) = match read {
            Ok((events, failed, errors)) => {
                outcome.event_errors.extend(errors);
                (events, failed)
            }
            Err(whole) => {
                let msg = format!("calendar '{}': {whole}", cal.name);
                tracing::error!(calendar = %cal.name, "{msg}; nothing in it is changed this pass");
                state.last_error = Some(msg.clone());
                outcome.error = Some(msg);
                if !opts.dry_run {
                    self.save_calendar_state(&state);
                }
                return outcome;
            }
        };
        let input = PlanInput {
            calendar: cal,
            meeting: &self.config.meeting,
            events: &events,
            failed_uids: &failed_uids,
            rows: &rows,
            segments: &segments,
            now,
            horizon: chrono::Duration::days(i64::from(self.config.horizon_days)),
            max_cancel_share: self.config.max_cancel_share,
            confirm_deletions: opts.confirm_deletions,
            held_cancels: state.held_cancels.as_deref(),
        };
        let actions = plan(&input);
        outcome.plan = actions
            .iter()
            .map(|a| apply::describe(a, &self.config))
            .collect();
        if opts.dry_run {
            return outcome;
        }
        let mut held = None;
        let ctx = apply::Context::new(self, cal);
        let mut incomplete = false;
        for action in &actions {
            if *self.shutdown.borrow() {
                tracing::info!(calendar = %cal.name, "shutting down: the rest of this pass is left for the next start");
                incomplete = true;
                break;
            }
            if let Action::HoldCancels { token, .. } = action {
                held = Some(token.clone());
            }
            if let Err(e) = ctx.apply(action).await {
                tracing::error!(calendar = %cal.name, "{e}");
                outcome.event_errors.push(e);
                incomplete = true;
            }
            self.progress.tick();
        }
        if !*self.shutdown.borrow() {
            incomplete |= self
                .apply_exceptions_of_new_series(cal, &input, &actions, &mut outcome)
                .await;
        }
        state.held_cancels = held;
        // A write-back that met a newer version of an event (412) cached that version without
        // planning from it, or a recorded meeting awaits an update: evaluate again next pass.
        incomplete |= ctx.must_evaluate_again();
        // A failed action (an update or cancel the API refused for now) or one left undone by a
        // shutdown is retried on the next pass, not only at the next re-evaluation: the
        // calendar then counts as not evaluated.
        state.evaluated_at = (!incomplete).then_some(now.timestamp());
        state.options_digest = Some(digest);
        state.last_ok_at = Some(now.timestamp());
        state.last_error = outcome.event_errors.first().cloned();
        self.save_calendar_state(&snapshot.apply_validators(state));
        outcome
    }

    /// The pass that creates (or continues, or adopts) a series also sends its EXDATEs and
    /// moved occurrences: the plan places them only on meetings the state knew when it ran,
    /// so it runs again on the state after the creates, and its occurrence actions for those
    /// events are applied now rather than at the next re-evaluation (up to 15 minutes later,
    /// or, on a feed, only when the calendar changes). Returns whether any of them failed.
    async fn apply_exceptions_of_new_series(
        &self,
        cal: &CalendarConfig,
        first: &PlanInput<'_>,
        actions: &[Action],
        outcome: &mut CalendarOutcome,
    ) -> bool {
        let created: HashSet<&str> = actions
            .iter()
            .filter_map(|a| match a {
                Action::Create { key, .. }
                | Action::Continue { key, .. }
                | Action::Adopt { key, .. }
                | Action::Extend { key, .. } => Some(key.uid.as_str()),
                _ => None,
            })
            .collect();
        if created.is_empty() {
            return false;
        }
        let (Ok(rows), Ok(segments)) = (self.store.rows(&cal.name), self.store.segments(&cal.name))
        else {
            return true;
        };
        let input = PlanInput {
            rows: &rows,
            segments: &segments,
            ..*first
        };
        let ctx = apply::Context::new(self, cal);
        let mut failed = false;
        for action in plan(&input).iter().filter(|a| match a {
            Action::CancelOccurrence { key, .. } | Action::MoveOccurrence { key, .. } => {
                created.contains(key.uid.as_str())
            }
            _ => false,
        }) {
            if *self.shutdown.borrow() {
                return true;
            }
            outcome.plan.push(apply::describe(action, &self.config));
            if let Err(e) = ctx.apply(action).await {
                tracing::error!(calendar = %cal.name, "{e}");
                outcome.event_errors.push(e);
                failed = true;
            }
            self.progress.tick();
        }
        failed
    }

    fn save_calendar_state(&self, state: &CalendarState) {
        if let Err(e) = self.store.put_calendar(state) {
            tracing::error!(calendar = %state.name, "cannot save calendar state: {e}");
        }
    }

    /// Parses the snapshot's objects into tagged events. A broken object protects the rows
    /// stored for it (their UIDs count as "failed", not as deleted).
    fn read_events(
        &self,
        cal: &CalendarConfig,
        snapshot: &Snapshot,
        rows: &[crate::store::EventRow],
    ) -> Result<ReadEvents, String> {
        let zone = self.config.default_zone();
        let matcher = TagMatcher::new(cal.match_rules.as_ref()).with_live(cal.live_match.as_ref());
        let mut events = Vec::new();
        let mut failed = HashSet::new();
        let mut errors = Vec::new();
        for obj in &snapshot.objects {
            match event::parse_calendar(&obj.data, zone, &matcher) {
                Ok(parsed) => {
                    for f in parsed.failures {
                        let uid = f.uid.clone().unwrap_or_else(|| "(no UID)".into());
                        let msg = format!("calendar '{}' event {uid}: {}", cal.name, f.message);
                        tracing::warn!(calendar = %cal.name, uid = %uid, "{}", f.message);
                        errors.push(msg);
                        failed.insert(uid);
                    }
                    let href = (cal.kind == CalendarKind::Caldav).then(|| obj.href.clone());
                    for ev in parsed.events {
                        events.push(SourcedEvent {
                            event: ev,
                            href: href.clone(),
                            etag: obj.etag.clone(),
                        });
                    }
                }
                Err(e) if cal.kind == CalendarKind::Caldav => {
                    let msg = format!("calendar '{}' object {}: {e}", cal.name, obj.href);
                    tracing::warn!(calendar = %cal.name, href = %obj.href, "{e}");
                    errors.push(msg);
                    for r in rows
                        .iter()
                        .filter(|r| r.href.as_deref() == Some(obj.href.as_str()))
                    {
                        failed.insert(r.key.uid.clone());
                    }
                }
                // A feed is one object: if it cannot be read, nothing in it can be trusted, and
                // nothing may be cancelled because of it.
                Err(e) => return Err(e.to_string()),
            }
        }
        // (UID, RECURRENCE-ID) is one component per calendar, also across CalDAV objects.
        let events = event::resolve_duplicates(
            events,
            |se| &se.event,
            |se| &mut se.event,
            |se| se.href.clone().unwrap_or_default(),
        );
        Ok((events, failed, errors))
    }
}
