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
//! a day of schedule in milliseconds with `tokio::time::pause()` and a [`TokioClock`]. The
//! schedule itself (syntax, DST rules) lives in the `schedule` submodule.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use tokio::sync::{mpsc, watch};

use crate::notify;

mod schedule;

pub use schedule::{Schedule, ScheduleError};

/// How many missed fire times are counted for the overrun warning at most.
const MISSED_TICKS_COUNT_LIMIT: usize = 10_000;

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
    /// Tagged events lacking their (correct) meeting because of an error, tried this pass or
    /// not (issue #11: a failure stays visible until resolved).
    pub failing: usize,
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
            failing = summary.failing,
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
    if summary.failing > 0 {
        line.push_str(&format!(
            ", {} attention",
            crate::sync::count_events_need(summary.failing)
        ));
    }
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
            failing: 0,
            started: utc("2026-01-01T12:04:58Z"),
            finished: utc("2026-01-01T12:05:02Z"),
        };
        assert_eq!(
            status_line(&s, &summary, Some(utc("2026-01-01T12:10:00Z"))),
            "last pass 12:05 UTC, 3 calendars, 1 error; next 12:10 UTC"
        );
        let failing = PassSummary {
            errors: 0,
            failing: 2,
            ..summary
        };
        assert_eq!(
            status_line(&s, &failing, Some(utc("2026-01-01T12:10:00Z"))),
            "last pass 12:05 UTC, 3 calendars, 0 errors, 2 events need attention; next 12:10 UTC"
        );
    }
}
