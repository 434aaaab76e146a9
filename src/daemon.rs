//! The `calmeet run` service loop: when passes start, how signals and the watchdog are handled.
//!
//! Owns the schedule (cron expression plus optional zone), the rule that passes never overlap,
//! the reaction to SIGTERM/SIGINT (cancel, let the current step finish, exit within a grace
//! period) and SIGHUP (reload; a bad config keeps the old one), and the systemd life-cycle
//! messages sent through [`crate::notify`].
//!
//! It is generic over the work: a [`PassRunner`] does one sync pass and reloads the config. This
//! module must never know what a pass does, touch the network or the state database, or print a
//! config value: its logs and STATUS lines carry times and counts only.
//!
//! Time is injected: wall time through a [`Clock`], waiting through `tokio::time`, so tests run
//! a day of schedule in milliseconds with `tokio::time::pause()` and a [`TokioClock`].

use std::fmt;
use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, LocalResult, NaiveDateTime, Offset, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use tokio::sync::{mpsc, watch};

use crate::notify;

/// The fields of a schedule, in order, as the `cron` crate reads them.
const SYNTAX: &str = "sec min hour day-of-month month day-of-week [year]";

/// How far before "now" (in wall-clock time) candidates are examined when a zone is set; covers
/// the largest offset change of any zone (a fold moves the wall clock back by at most 2 h).
const ZONE_LOOKBACK: TimeDelta = TimeDelta::hours(3);

/// How many missed fire times are counted for the overrun warning at most.
const MISSED_TICKS_COUNT_LIMIT: usize = 10_000;

/// A validated `schedule`: a `cron` expression evaluated in UTC or in a given zone.
///
/// In a zone, each wall-clock fire time runs exactly once: a time that does not exist
/// (spring-forward gap) runs as late as the jump, e.g. 02:30 → 03:30, and a time that exists
/// twice (fall-back) runs at its first occurrence only. Fire times never go backwards.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// The expression as the user wrote it, for messages.
    expr: String,
    /// The parsed expression.
    cron: cron::Schedule,
    /// The zone whose wall clock the expression describes; `None` means UTC.
    zone: Option<Tz>,
}

/// Why a `schedule` expression was rejected; each message shows the expected syntax.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// A five-field crontab line; this syntax needs seconds first.
    #[error(
        "schedule {expr:?} has 5 fields, like a crontab line, but calmeet's schedule has 6 or 7 \
         with seconds first ({SYNTAX}); write {suggestion:?}"
    )]
    FiveFields {
        /// The expression as written.
        expr: String,
        /// The same schedule in calmeet's syntax.
        suggestion: String,
    },
    /// Day-of-week given as numbers, which count from 1 = Sunday here (crontab: 1 = Monday).
    #[error(
        "schedule {expr:?}: day-of-week {field:?} uses numbers, which this syntax counts from \
         1 = Sunday (so it means {meaning}, not what crontab would); write day names instead, \
         e.g. \"Mon-Fri\""
    )]
    NumericWeekday {
        /// The expression as written.
        expr: String,
        /// The day-of-week field.
        field: String,
        /// The field with its numbers read as this syntax reads them.
        meaning: String,
    },
    /// Anything else the `cron` parser rejected.
    #[error(
        "schedule {expr:?} is not valid ({reason}); expected {SYNTAX}, e.g. \"0 */5 * * * *\" \
         (every five minutes) or \"0 0 9 * * Mon-Fri\" (09:00 on weekdays), with weekdays as \
         names"
    )]
    Invalid {
        /// The expression as written.
        expr: String,
        /// The parser's own words.
        reason: String,
    },
}

impl Schedule {
    /// Parses and validates `expr`, to be evaluated in `zone` (UTC when `None`).
    ///
    /// # Errors
    /// [`ScheduleError`] for a crontab-style five-field line, numeric weekdays (ambiguous between
    /// crontab and this syntax) and anything the `cron` crate rejects.
    pub fn parse(expr: &str, zone: Option<Tz>) -> Result<Self, ScheduleError> {
        let fields: Vec<&str> = expr.split_whitespace().collect();
        if fields.len() == 5 {
            let mut suggestion = vec!["0".to_owned()];
            suggestion.extend(fields[..4].iter().map(|f| (*f).to_owned()));
            suggestion.push(rename_weekdays(fields[4], crontab_weekday));
            return Err(ScheduleError::FiveFields {
                expr: expr.to_owned(),
                suggestion: suggestion.join(" "),
            });
        }
        if let Some(field) = fields.get(5)
            && (fields.len() == 6 || fields.len() == 7)
            && has_weekday_number(field)
        {
            return Err(ScheduleError::NumericWeekday {
                expr: expr.to_owned(),
                field: (*field).to_owned(),
                meaning: rename_weekdays(field, cron_weekday),
            });
        }
        let cron = cron::Schedule::from_str(expr).map_err(|err| ScheduleError::Invalid {
            expr: expr.to_owned(),
            reason: err.to_string(),
        })?;
        Ok(Self {
            expr: expr.to_owned(),
            cron,
            zone,
        })
    }

    /// The zone the schedule is evaluated in; `None` means UTC.
    #[must_use]
    pub fn zone(&self) -> Option<Tz> {
        self.zone
    }

    /// The first fire time strictly after `after`, or `None` if the schedule has ended (a
    /// year field in the past).
    #[must_use]
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let Some(zone) = self.zone else {
            return self.cron.after(&after).next();
        };
        // Evaluate the expression on the zone's wall clock (as if it were UTC, so no DST
        // surprises inside `cron`), map each wall time to one instant, and take the earliest
        // instant after `after`. The mapping is not monotonic around a gap, hence the window.
        let local = after.with_timezone(&zone).naive_local();
        let start = Utc.from_utc_datetime(&(local - ZONE_LOOKBACK));
        let give_up = local + TimeDelta::days(2);
        let mut best: Option<DateTime<Utc>> = None;
        let mut window_end: Option<NaiveDateTime> = None;
        for wall in self.cron.after(&start).map(|t| t.naive_utc()) {
            if window_end.is_some_and(|end| wall > end) || (best.is_none() && wall > give_up) {
                break;
            }
            let instant = wall_to_instant(zone, wall);
            if instant > after && best.is_none_or(|b| instant < b) {
                best = Some(instant);
                window_end.get_or_insert(wall + ZONE_LOOKBACK);
            }
        }
        best.or_else(|| {
            // Nothing within two days of wall time: continue from there (sparse schedules).
            let resume = Utc.from_utc_datetime(&give_up);
            self.cron
                .after(&resume)
                .map(|t| wall_to_instant(zone, t.naive_utc()))
                .find(|instant| *instant > after)
        })
    }

    /// `time` as `HH:MM` with the zone's abbreviation, for STATUS lines and logs.
    #[must_use]
    pub fn format_time(&self, time: DateTime<Utc>) -> String {
        match self.zone {
            Some(zone) => time.with_timezone(&zone).format("%H:%M %Z").to_string(),
            None => time.format("%H:%M UTC").to_string(),
        }
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.zone {
            Some(zone) => write!(f, "\"{}\" in {}", self.expr, zone.name()),
            None => write!(f, "\"{}\" in UTC", self.expr),
        }
    }
}

/// The one instant for a wall-clock time in `zone` (see [`Schedule`] for gap and fold rules).
fn wall_to_instant(zone: Tz, wall: NaiveDateTime) -> DateTime<Utc> {
    match zone.from_local_datetime(&wall) {
        LocalResult::Single(t) => t.to_utc(),
        LocalResult::Ambiguous(first, _) => first.to_utc(),
        LocalResult::None => {
            // In a gap: read the wall time with the offset in force before the jump, as most
            // schedulers and RFC 5545 do (02:30 on a one-hour spring-forward day → 03:30).
            let before = zone
                .offset_from_utc_datetime(&(wall - TimeDelta::days(1)))
                .fix()
                .local_minus_utc();
            Utc.from_utc_datetime(&(wall - TimeDelta::seconds(i64::from(before))))
        }
    }
}

/// True if a day-of-week field names a day by number (a step such as `*/2` does not).
fn has_weekday_number(field: &str) -> bool {
    let mut after_slash = false;
    field.chars().any(|c| {
        let numeric_day = c.is_ascii_digit() && !after_slash;
        if c == '/' {
            after_slash = true;
        } else if !c.is_ascii_digit() {
            after_slash = false;
        }
        numeric_day
    })
}

/// Replaces the day numbers of a day-of-week field by names, leaving steps (`/2`) alone.
fn rename_weekdays(field: &str, name_of: fn(u32) -> Option<&'static str>) -> String {
    let mut out = String::new();
    let mut digits = String::new();
    let mut after_slash = false;
    let flush = |digits: &mut String, out: &mut String, after_slash: bool| {
        if digits.is_empty() {
            return;
        }
        let name = digits.parse().ok().and_then(name_of);
        match name {
            Some(name) if !after_slash => out.push_str(name),
            _ => out.push_str(digits),
        }
        digits.clear();
    };
    for c in field.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        flush(&mut digits, &mut out, after_slash);
        after_slash = c == '/';
        out.push(c);
    }
    flush(&mut digits, &mut out, after_slash);
    out
}

/// Day names in the `cron` crate's numbering: 1 = Sunday … 7 = Saturday.
fn cron_weekday(n: u32) -> Option<&'static str> {
    ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        .get(usize::try_from(n.checked_sub(1)?).ok()?)
        .copied()
}

/// Day names in crontab's numbering: 0 and 7 = Sunday, 1 = Monday.
fn crontab_weekday(n: u32) -> Option<&'static str> {
    ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
        .get(usize::try_from(n).ok()?)
        .copied()
}

/// Source of wall-clock time for the loop; injected so tests can run on tokio's paused clock.
pub trait Clock: Send + Sync {
    /// The current wall-clock time.
    fn now(&self) -> DateTime<Utc>;
}

/// The real wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A wall clock that advances with `tokio::time` (so it follows `tokio::time::pause()` and
/// auto-advance): `origin` plus the tokio time elapsed since the clock was made.
#[derive(Debug, Clone, Copy)]
pub struct TokioClock {
    /// Wall time at `started`.
    origin: DateTime<Utc>,
    /// Tokio instant at which the clock showed `origin`.
    started: tokio::time::Instant,
}

impl TokioClock {
    /// A clock that shows `origin` now and advances with tokio's clock.
    #[must_use]
    pub fn starting_at(origin: DateTime<Utc>) -> Self {
        Self {
            origin,
            started: tokio::time::Instant::now(),
        }
    }
}

impl Clock for TokioClock {
    fn now(&self) -> DateTime<Utc> {
        let elapsed = TimeDelta::from_std(self.started.elapsed()).unwrap_or(TimeDelta::MAX);
        self.origin
            .checked_add_signed(elapsed)
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }
}

/// A process signal, as the loop sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGTERM or SIGINT: stop after the current step.
    Terminate,
    /// SIGHUP: reload the configuration.
    Reload,
}

/// Maps SIGTERM and SIGINT to [`Signal::Terminate`] and SIGHUP to [`Signal::Reload`], delivered
/// on the returned channel by a background task. Call it inside the tokio runtime, before
/// loading anything slow, so an early SIGTERM is not lost.
///
/// # Errors
/// If a signal handler cannot be installed.
pub fn spawn_signal_listener() -> std::io::Result<mpsc::Receiver<Signal>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut hangup = signal(SignalKind::hangup())?;
    let (tx, rx) = mpsc::channel(16);
    tokio::spawn(async move {
        loop {
            let received = tokio::select! {
                Some(()) = terminate.recv() => Signal::Terminate,
                Some(()) = interrupt.recv() => Signal::Terminate,
                Some(()) = hangup.recv() => Signal::Reload,
                else => break,
            };
            if tx.send(received).await.is_err() {
                break;
            }
        }
    });
    Ok(rx)
}

/// A counter the loop and the pass bump to prove they are alive; the watchdog pings systemd
/// only when it moved.
#[derive(Debug, Clone, Default)]
struct Heartbeat(Arc<AtomicU64>);

impl Heartbeat {
    /// Records progress.
    fn bump(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    /// The current count.
    fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// What a pass is handed: the stop request and a way to prove progress to the watchdog.
#[derive(Debug, Clone)]
pub struct PassContext {
    /// Becomes `true` when the daemon is asked to stop.
    cancel: watch::Receiver<bool>,
    /// Shared with the watchdog task.
    heartbeat: Heartbeat,
}

/// Cancels the [`PassContext`] it was made with (for one-shot `calmeet sync` on Ctrl-C, and
/// tests).
#[derive(Debug)]
pub struct PassCanceller(watch::Sender<bool>);

impl PassCanceller {
    /// Asks the pass to stop at its next check.
    pub fn cancel(&self) {
        self.0.send_replace(true);
    }
}

impl PassContext {
    /// A context outside the daemon loop, with the handle that cancels it.
    #[must_use]
    pub fn new() -> (Self, PassCanceller) {
        let (tx, rx) = watch::channel(false);
        let ctx = Self {
            cancel: rx,
            heartbeat: Heartbeat::default(),
        };
        (ctx, PassCanceller(tx))
    }

    /// True once a stop was requested: finish the current API call and state write, start no
    /// new one.
    #[must_use]
    pub fn is_cancelled(&self) -> bool {
        *self.cancel.borrow()
    }

    /// Completes when a stop is requested (never, if the canceller is gone without cancelling).
    pub async fn cancelled(&self) {
        let mut rx = self.cancel.clone();
        if rx.wait_for(|stop| *stop).await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    /// Tells the watchdog the pass is making progress; call it between calendars and API calls.
    pub fn progress(&self) {
        self.heartbeat.bump();
    }
}

/// What one pass did, for logs and the STATUS line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PassSummary {
    /// Calendars looked at.
    pub calendars: usize,
    /// Calendars or events that failed (the rest still ran).
    pub errors: usize,
    /// When the pass began.
    pub started: DateTime<Utc>,
    /// When the pass ended.
    pub finished: DateTime<Utc>,
}

/// The work the daemon schedules: one sync pass, and re-reading the configuration.
pub trait PassRunner {
    /// The configuration a pass runs with; replaced as a whole on reload.
    type Config;

    /// Runs one pass. Check `ctx.is_cancelled()` between API calls and return early once it is
    /// set (after finishing the current call and state write); call `ctx.progress()` often
    /// enough for the watchdog (at least every `WatchdogSec`/2).
    fn run_pass(
        &mut self,
        config: &Self::Config,
        ctx: &PassContext,
    ) -> impl Future<Output = PassSummary>;

    /// Loads the configuration again (SIGHUP). An error keeps the current configuration; its
    /// message is logged, so it must not contain secret values.
    ///
    /// # Errors
    /// Whatever makes the new configuration unusable.
    fn reload(&mut self) -> anyhow::Result<Self::Config>;
}

/// Knobs of [`run`]; [`DaemonOptions::default`] is right for production.
#[derive(Clone)]
pub struct DaemonOptions {
    /// How long a stop waits for the current pass to finish its step.
    pub grace: Duration,
    /// The systemd watchdog period, if any (default: from `WATCHDOG_USEC`).
    pub watchdog: Option<Duration>,
    /// The longest single sleep; the wall clock is re-read after each (suspend, clock changes).
    pub max_sleep: Duration,
    /// Wall-clock time source.
    pub clock: Arc<dyn Clock>,
}

impl Default for DaemonOptions {
    fn default() -> Self {
        Self {
            grace: Duration::from_secs(5),
            watchdog: notify::watchdog_interval(),
            max_sleep: Duration::from_secs(60),
            clock: Arc::new(SystemClock),
        }
    }
}

impl fmt::Debug for DaemonOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DaemonOptions")
            .field("grace", &self.grace)
            .field("watchdog", &self.watchdog)
            .field("max_sleep", &self.max_sleep)
            .finish_non_exhaustive()
    }
}

/// Why the loop stopped other than by a signal.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The schedule has no fire time left (e.g. a year field in the past).
    #[error(
        "schedule {schedule} has no fire time after {after}; there is nothing left to run: \
         fix `schedule` in the config"
    )]
    ScheduleExhausted {
        /// The schedule, as displayed.
        schedule: String,
        /// The time after which no fire time exists.
        after: DateTime<Utc>,
    },
}

/// Pings the systemd watchdog every period/2 while the heartbeat moves; aborted on drop.
struct WatchdogTask(tokio::task::JoinHandle<()>);

impl WatchdogTask {
    /// Starts the pinging task.
    fn spawn(period: Duration, heartbeat: Heartbeat) -> Self {
        let half = (period / 2).max(Duration::from_millis(1));
        Self(tokio::spawn(async move {
            let mut tick = tokio::time::interval(half);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            let mut seen = None;
            loop {
                tick.tick().await;
                let now = heartbeat.get();
                if seen != Some(now) {
                    seen = Some(now);
                    notify::watchdog();
                }
            }
        }))
    }
}

impl Drop for WatchdogTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// How a pass ended.
enum PassEnd {
    /// It finished by itself.
    Finished(PassSummary),
    /// A stop was requested while it ran.
    Stopped,
}

/// State of the loop that outlives one iteration.
struct Loop<'a, R: PassRunner, S> {
    /// The work.
    runner: R,
    /// The configuration in force.
    config: R::Config,
    /// Picks the schedule out of the configuration.
    schedule_of: S,
    /// Incoming signals.
    signals: &'a mut mpsc::Receiver<Signal>,
    /// False once the signal channel closed (its branch is then disabled).
    signals_open: bool,
    /// Knobs.
    options: DaemonOptions,
    /// Shared with passes and the watchdog task.
    heartbeat: Heartbeat,
}

/// Runs passes on `schedule_of(&config)` until a [`Signal::Terminate`] arrives.
///
/// Sends READY=1 at once (call it after the config is loaded and the state opened), runs a
/// first pass, then one pass per fire time. A pass that overruns its next fire time is followed
/// at once by one more pass (with a warning) and the missed fire times are skipped. On
/// [`Signal::Reload`] the runner's `reload` is called (after the current pass, if one runs); an
/// error keeps the old configuration. On [`Signal::Terminate`] the pass's context is cancelled
/// and the loop waits at most `options.grace` for it (a second Terminate stops waiting), then
/// returns `Ok(())`. If the signal channel closes, the loop runs on without signals.
///
/// # Errors
/// [`DaemonError::ScheduleExhausted`] when the schedule has no fire time left.
pub async fn run<R, S>(
    runner: R,
    config: R::Config,
    schedule_of: S,
    mut signals: mpsc::Receiver<Signal>,
    options: DaemonOptions,
) -> Result<(), DaemonError>
where
    R: PassRunner,
    S: Fn(&R::Config) -> &Schedule,
{
    let heartbeat = Heartbeat::default();
    let _watchdog = options
        .watchdog
        .map(|period| WatchdogTask::spawn(period, heartbeat.clone()));
    let mut daemon = Loop {
        runner,
        config,
        schedule_of,
        signals: &mut signals,
        signals_open: true,
        options,
        heartbeat,
    };
    let result = daemon.run().await;
    notify::stopping();
    result
}

impl<R, S> Loop<'_, R, S>
where
    R: PassRunner,
    S: Fn(&R::Config) -> &Schedule,
{
    /// The wall-clock time now.
    fn now(&self) -> DateTime<Utc> {
        self.options.clock.now()
    }

    /// The schedule in force.
    fn schedule(&self) -> &Schedule {
        (self.schedule_of)(&self.config)
    }

    /// The longest sleep before the clock is re-read and the heartbeat bumped.
    fn sleep_slice(&self) -> Duration {
        let slice = match self.options.watchdog {
            Some(period) => (period / 4).min(self.options.max_sleep),
            None => self.options.max_sleep,
        };
        slice.max(Duration::from_millis(10))
    }

    /// The main loop; returns on Terminate or when the schedule ends.
    async fn run(&mut self) -> Result<(), DaemonError> {
        notify::ready();
        notify::status("running the first pass");
        tracing::info!(schedule = %self.schedule(), "calmeet daemon started");
        // `anchor` is the fire time the last pass ran for; the next pass is the first fire time
        // after it. It only moves forward, so a clock set back or a DST fold never doubles a pass.
        let mut anchor = self.now();
        let mut reload_pending = false;
        loop {
            let summary = match self.run_one_pass(&mut reload_pending).await {
                PassEnd::Finished(summary) => summary,
                PassEnd::Stopped => return Ok(()),
            };
            if std::mem::take(&mut reload_pending) {
                self.reload();
                anchor = anchor.max(self.now());
            }
            let now = self.now();
            let next = self.next_fire(anchor)?;
            if next <= now {
                let missed = self.count_fire_times(anchor, now);
                tracing::warn!(
                    missed_ticks = missed,
                    due = %self.schedule().format_time(next),
                    took_secs = (summary.finished - summary.started).num_seconds(),
                    "the pass overran the schedule: starting the next pass now and skipping the \
                     missed fire times"
                );
                self.report(&summary, None);
                anchor = now;
                continue;
            }
            self.report(&summary, Some(next));
            match self.wait_until(next).await? {
                Some(fired) => anchor = fired,
                None => return Ok(()),
            }
        }
    }

    /// The first fire time after `anchor`.
    fn next_fire(&self, anchor: DateTime<Utc>) -> Result<DateTime<Utc>, DaemonError> {
        self.schedule()
            .next_after(anchor)
            .ok_or_else(|| DaemonError::ScheduleExhausted {
                schedule: self.schedule().to_string(),
                after: anchor,
            })
    }

    /// How many fire times lie in `(after, until]`, up to a limit.
    fn count_fire_times(&self, after: DateTime<Utc>, until: DateTime<Utc>) -> usize {
        let mut count = 0;
        let mut cursor = after;
        while count < MISSED_TICKS_COUNT_LIMIT {
            match self.schedule().next_after(cursor) {
                Some(t) if t <= until => {
                    count += 1;
                    cursor = t;
                }
                _ => break,
            }
        }
        count
    }

    /// Runs one pass while listening for signals; a Reload is remembered for after the pass.
    async fn run_one_pass(&mut self, reload_pending: &mut bool) -> PassEnd {
        self.heartbeat.bump();
        let (cancel_tx, cancel_rx) = watch::channel(false);
        let ctx = PassContext {
            cancel: cancel_rx,
            heartbeat: self.heartbeat.clone(),
        };
        let grace = self.options.grace;
        let signals = &mut *self.signals;
        let signals_open = &mut self.signals_open;
        let pass = self.runner.run_pass(&self.config, &ctx);
        let mut pass = std::pin::pin!(pass);
        loop {
            tokio::select! {
                summary = &mut pass => return PassEnd::Finished(summary),
                received = signals.recv(), if *signals_open => match received {
                    Some(Signal::Reload) => {
                        tracing::info!("reload requested: it will happen when the current pass ends");
                        *reload_pending = true;
                    }
                    Some(Signal::Terminate) => {
                        begin_stop("stopping: finishing the current step of the pass");
                        cancel_tx.send_replace(true);
                        tokio::select! {
                            _ = &mut pass => tracing::info!("the pass stopped cleanly"),
                            () = tokio::time::sleep(grace) => tracing::warn!(
                                grace_secs = grace.as_secs_f64(),
                                "the pass did not stop within the grace period; exiting anyway"
                            ),
                            Some(Signal::Terminate) = signals.recv() => tracing::warn!(
                                "second stop signal: exiting without waiting for the pass"
                            ),
                        }
                        return PassEnd::Stopped;
                    }
                    None => *signals_open = false,
                },
            }
        }
    }

    /// Sleeps until `next` in slices, bumping the heartbeat; handles signals meanwhile.
    /// Returns the fire time the coming pass runs for, or `None` on Terminate.
    async fn wait_until(
        &mut self,
        mut next: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, DaemonError> {
        let slice = self.sleep_slice();
        loop {
            let now = self.now();
            if now >= next {
                // Woken late (suspend, clock jump): run once for `next`, skip the rest quietly.
                let following = self.next_fire(next)?;
                if following <= now {
                    tracing::info!(
                        due = %self.schedule().format_time(next),
                        "woke up after the next fire time had passed; running one pass now"
                    );
                    return Ok(Some(now));
                }
                return Ok(Some(next));
            }
            let remaining = (next - now).to_std().unwrap_or(Duration::ZERO);
            tokio::select! {
                () = tokio::time::sleep(remaining.min(slice)) => self.heartbeat.bump(),
                received = self.signals.recv(), if self.signals_open => match received {
                    Some(Signal::Terminate) => {
                        begin_stop("stopping");
                        return Ok(None);
                    }
                    Some(Signal::Reload) => {
                        self.reload();
                        let now = self.now();
                        next = self.next_fire(now)?;
                        notify::status(&format!(
                            "waiting; next pass {}",
                            self.schedule().format_time(next)
                        ));
                    }
                    None => self.signals_open = false,
                },
            }
        }
    }

    /// Replaces the configuration by the runner's fresh one, or keeps the old on error.
    fn reload(&mut self) {
        notify::reloading();
        match self.runner.reload() {
            Ok(config) => {
                self.config = config;
                tracing::info!(schedule = %self.schedule(), "configuration reloaded");
            }
            Err(err) => {
                tracing::error!(
                    error = format!("{err:#}"),
                    "reload failed: keeping the previous configuration"
                );
                notify::status("reload failed, running with the previous configuration");
            }
        }
        notify::ready();
    }

    /// Logs a finished pass and sets the STATUS line.
    fn report(&self, summary: &PassSummary, next: Option<DateTime<Utc>>) {
        let schedule = self.schedule();
        tracing::info!(
            calendars = summary.calendars,
            errors = summary.errors,
            took_secs = (summary.finished - summary.started).num_seconds(),
            next = next.map(|t| schedule.format_time(t)),
            "pass finished"
        );
        notify::status(&status_line(schedule, summary, next));
    }
}

/// Logs and announces the start of a shutdown.
fn begin_stop(status: &str) {
    tracing::info!("stop requested");
    notify::stopping();
    notify::status(status);
}

/// The STATUS text after a pass: `last pass 12:05 UTC, 3 calendars, 0 errors; next 12:10 UTC`.
#[must_use]
pub fn status_line(
    schedule: &Schedule,
    summary: &PassSummary,
    next: Option<DateTime<Utc>>,
) -> String {
    let mut line = format!(
        "last pass {}, {} {}, {} {}",
        schedule.format_time(summary.finished),
        summary.calendars,
        plural(summary.calendars, "calendar", "calendars"),
        summary.errors,
        plural(summary.errors, "error", "errors"),
    );
    match next {
        Some(next) => {
            line.push_str("; next ");
            line.push_str(&schedule.format_time(next));
        }
        None => line.push_str("; next pass now (overran)"),
    }
    line
}

/// `one` for 1, else `many`.
fn plural(n: usize, one: &'static str, many: &'static str) -> &'static str {
    if n == 1 { one } else { many }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    #[test]
    fn five_field_crontab_line_is_rejected_with_a_translation() {
        let err = Schedule::parse("*/15 * * * 1-5", None).unwrap_err();
        assert_eq!(
            err,
            ScheduleError::FiveFields {
                expr: "*/15 * * * 1-5".into(),
                suggestion: "0 */15 * * * Mon-Fri".into()
            }
        );
        assert!(err.to_string().contains("seconds first"), "{err}");
    }

    #[test]
    fn numeric_weekdays_are_rejected_and_explained() {
        let err = Schedule::parse("0 0 9 * * 1-5", None).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("Sun-Thu"), "{text}");
        assert!(text.contains("Mon-Fri"), "{text}");
    }

    #[test]
    fn steps_in_weekday_field_are_not_weekday_numbers() {
        assert!(Schedule::parse("0 0 9 * * */2", None).is_ok());
        assert!(Schedule::parse("0 0 9 * * Mon-Fri", None).is_ok());
    }

    #[test]
    fn garbage_gets_the_syntax_in_the_message() {
        let err = Schedule::parse("every five minutes", None).unwrap_err();
        assert!(matches!(err, ScheduleError::Invalid { .. }));
        assert!(err.to_string().contains(SYNTAX), "{err}");
    }

    #[test]
    fn utc_schedule_fires_strictly_after() {
        let s = Schedule::parse("0 */5 * * * *", None).unwrap();
        let t = utc("2026-01-01T12:05:00Z");
        assert_eq!(s.next_after(t), Some(utc("2026-01-01T12:10:00Z")));
        assert_eq!(
            s.next_after(utc("2026-01-01T12:04:59Z")),
            Some(utc("2026-01-01T12:05:00Z"))
        );
    }

    #[test]
    fn spring_forward_gap_runs_once_after_the_jump() {
        let s = Schedule::parse("0 30 2 * * *", Some(chrono_tz::Europe::Berlin)).unwrap();
        // 2026-03-29 02:00 CET → 03:00 CEST; 02:30 does not exist.
        let day_before = s.next_after(utc("2026-03-28T00:00:00Z")).unwrap();
        assert_eq!(day_before, utc("2026-03-28T01:30:00Z"));
        let gap_day = s.next_after(day_before).unwrap();
        assert_eq!(gap_day, utc("2026-03-29T01:30:00Z")); // 03:30 CEST
        assert_eq!(s.next_after(gap_day), Some(utc("2026-03-30T00:30:00Z")));
    }

    #[test]
    fn fall_back_fold_runs_once() {
        let s = Schedule::parse("0 30 2 * * *", Some(chrono_tz::Europe::Berlin)).unwrap();
        // 2026-10-25 03:00 CEST → 02:00 CET; 02:30 happens twice.
        let first = s.next_after(utc("2026-10-24T12:00:00Z")).unwrap();
        assert_eq!(first, utc("2026-10-25T00:30:00Z")); // 02:30 CEST
        assert_eq!(s.next_after(first), Some(utc("2026-10-26T01:30:00Z")));
    }

    #[test]
    fn zoned_fire_times_increase_through_both_transitions() {
        let s = Schedule::parse("0 */20 * * * *", Some(chrono_tz::Europe::Berlin)).unwrap();
        for start in ["2026-03-28T22:00:00Z", "2026-10-24T22:00:00Z"] {
            let mut t = utc(start);
            for _ in 0..30 {
                let next = s.next_after(t).unwrap();
                assert!(next > t);
                assert!(next - t <= TimeDelta::hours(1) + TimeDelta::minutes(20));
                t = next;
            }
        }
    }

    #[test]
    fn zoned_weekday_schedule_uses_local_days() {
        let s = Schedule::parse("0 0 9 * * Mon-Fri", Some(chrono_tz::Asia::Shanghai)).unwrap();
        // Saturday 2026-01-03 → Monday 2026-01-05 09:00 +08:00.
        assert_eq!(
            s.next_after(utc("2026-01-03T00:00:00Z")),
            Some(utc("2026-01-05T01:00:00Z"))
        );
    }

    #[tokio::test]
    async fn a_standalone_context_is_cancelled_by_its_canceller() {
        let (ctx, canceller) = PassContext::new();
        assert!(!ctx.is_cancelled());
        let waiter = {
            let ctx = ctx.clone();
            tokio::spawn(async move { ctx.cancelled().await })
        };
        canceller.cancel();
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .unwrap()
            .unwrap();
        assert!(ctx.is_cancelled());
    }

    #[test]
    fn status_line_reads_naturally() {
        let s = Schedule::parse("0 */5 * * * *", None).unwrap();
        let summary = PassSummary {
            calendars: 3,
            errors: 1,
            started: utc("2026-01-01T12:04:58Z"),
            finished: utc("2026-01-01T12:05:02Z"),
        };
        assert_eq!(
            status_line(&s, &summary, Some(utc("2026-01-01T12:10:00Z"))),
            "last pass 12:05 UTC, 3 calendars, 1 error; next 12:10 UTC"
        );
    }
}
