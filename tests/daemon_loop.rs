//! The `calmeet run` loop with a fake pass runner on tokio's paused clock: when passes start,
//! what overruns, reloads and stop signals do.
#![allow(clippy::unwrap_used)]

use std::collections::VecDeque;
use std::future::Future;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use calmeet::daemon::{
    self, DaemonOptions, PassContext, PassRunner, PassSummary, Schedule, Signal, TokioClock,
};
use calmeet::logging::{self, LogOutput};
use chrono::{DateTime, Utc};
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep};

const START: &str = "2026-01-01T00:00:03Z";

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

/// Seconds since midnight of the test day, for compact assertions.
fn secs(t: DateTime<Utc>) -> i64 {
    (t - utc("2026-01-01T00:00:00Z")).num_seconds()
}

#[derive(Debug, Clone)]
struct FakeConfig {
    schedule: Schedule,
    generation: u32,
}

fn config(expr: &str, generation: u32) -> FakeConfig {
    FakeConfig {
        schedule: Schedule::parse(expr, None).unwrap(),
        generation,
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    PassStart { at: i64, generation: u32 },
    PassEnd { at: i64, cancelled: bool },
    Reload { at: i64, ok: bool },
}

/// How a pass behaves.
#[derive(Debug, Clone, Copy)]
enum Work {
    /// Works for this long in 1 s steps, checking for cancellation between steps.
    Steps(Duration),
    /// One call that takes this long and ignores cancellation (a hung API call).
    Stuck(Duration),
}

struct FakeRunner {
    clock: TokioClock,
    work: VecDeque<Work>,
    reloads: VecDeque<Result<FakeConfig, String>>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl FakeRunner {
    fn new(clock: TokioClock, work: impl IntoIterator<Item = Work>) -> Self {
        Self {
            clock,
            work: work.into_iter().collect(),
            reloads: VecDeque::new(),
            seen: Arc::default(),
        }
    }
}

impl PassRunner for FakeRunner {
    type Config = FakeConfig;

    fn run_pass(
        &mut self,
        config: &FakeConfig,
        ctx: &PassContext,
    ) -> impl Future<Output = PassSummary> {
        use calmeet::daemon::Clock;
        let work = self
            .work
            .pop_front()
            .unwrap_or(Work::Steps(Duration::from_secs(1)));
        let clock = self.clock;
        let seen = self.seen.clone();
        let generation = config.generation;
        async move {
            let started = clock.now();
            seen.lock().unwrap().push(Seen::PassStart {
                at: secs(started),
                generation,
            });
            let mut cancelled = false;
            match work {
                Work::Steps(total) => {
                    let mut left = total;
                    while !left.is_zero() {
                        if ctx.is_cancelled() {
                            cancelled = true;
                            break;
                        }
                        let step = left.min(Duration::from_secs(1));
                        sleep(step).await;
                        left -= step;
                        ctx.progress();
                    }
                }
                Work::Stuck(d) => sleep(d).await,
            }
            let finished = clock.now();
            seen.lock().unwrap().push(Seen::PassEnd {
                at: secs(finished),
                cancelled,
            });
            PassSummary {
                calendars: 2,
                errors: 0,
                failing: 0,
                started,
                finished,
            }
        }
    }

    fn reload(&mut self) -> anyhow::Result<FakeConfig> {
        let result = self.reloads.pop_front().unwrap_or(Err("no config".into()));
        self.seen.lock().unwrap().push(Seen::Reload {
            at: secs(calmeet::daemon::Clock::now(&self.clock)),
            ok: result.is_ok(),
        });
        result.map_err(anyhow::Error::msg)
    }
}

fn options(clock: TokioClock) -> DaemonOptions {
    DaemonOptions {
        grace: Duration::from_secs(5),
        watchdog: None,
        max_sleep: Duration::from_secs(60),
        clock: Arc::new(clock),
    }
}

/// Sends `signals` at the given offsets (seconds from the start).
async fn send_at(tx: mpsc::Sender<Signal>, plan: Vec<(f64, Signal)>) {
    let start = Instant::now();
    for (at, signal) in plan {
        tokio::time::sleep_until(start + Duration::from_secs_f64(at)).await;
        tx.send(signal).await.unwrap();
    }
    // Keep the channel open until the daemon is done.
    std::future::pending::<()>().await;
}

/// Runs the daemon until it returns; returns what the runner saw and the tokio time taken.
async fn drive(
    runner: FakeRunner,
    initial: FakeConfig,
    clock: TokioClock,
    plan: Vec<(f64, Signal)>,
) -> (Vec<Seen>, Duration) {
    let seen = runner.seen.clone();
    let (tx, rx) = mpsc::channel(8);
    let start = Instant::now();
    let daemon = daemon::run(
        runner,
        initial,
        |c: &FakeConfig| &c.schedule,
        rx,
        options(clock),
    );
    tokio::select! {
        result = daemon => result.unwrap(),
        () = send_at(tx, plan) => unreachable!(),
    }
    let events = seen.lock().unwrap().clone();
    (events, start.elapsed())
}

fn pass_starts(seen: &[Seen]) -> Vec<(i64, u32)> {
    seen.iter()
        .filter_map(|s| match s {
            Seen::PassStart { at, generation } => Some((*at, *generation)),
            _ => None,
        })
        .collect()
}

/// Captures log lines (journald format, so each starts with its priority) on this thread.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn install(&self) -> tracing::subscriber::DefaultGuard {
        let writer = self.clone();
        let filter = logging::filter_from(Some("info"), None).unwrap();
        tracing::subscriber::set_default(logging::subscriber(
            filter,
            LogOutput::Journald,
            move || writer.clone(),
        ))
    }
    fn warnings(&self) -> Vec<String> {
        String::from_utf8(self.0.lock().unwrap().clone())
            .unwrap()
            .lines()
            .filter(|l| l.starts_with("<4>"))
            .map(str::to_owned)
            .collect()
    }
}

#[tokio::test(start_paused = true)]
async fn first_pass_runs_at_start_then_on_every_fire_time() {
    let clock = TokioClock::starting_at(utc(START));
    let runner = FakeRunner::new(clock, []);
    let (seen, _) = drive(
        runner,
        config("*/10 * * * * *", 1),
        clock,
        vec![(45.0, Signal::Terminate)],
    )
    .await;
    assert_eq!(
        pass_starts(&seen),
        [(3, 1), (10, 1), (20, 1), (30, 1), (40, 1)]
    );
}

#[tokio::test(start_paused = true)]
async fn an_overrunning_pass_is_followed_by_one_pass_not_a_burst() {
    let logs = Captured::default();
    let _guard = logs.install();
    let clock = TokioClock::starting_at(utc(START));
    let one = Work::Steps(Duration::from_secs(1));
    // The second pass (at :10) takes 25 s, past the fire times :20 and :30.
    let runner = FakeRunner::new(clock, [one, Work::Steps(Duration::from_secs(25)), one]);
    let (seen, _) = drive(
        runner,
        config("*/10 * * * * *", 1),
        clock,
        vec![(55.0, Signal::Terminate)],
    )
    .await;
    let starts: Vec<i64> = pass_starts(&seen).iter().map(|(at, _)| *at).collect();
    assert_eq!(starts, [3, 10, 35, 40, 50]);
    // Passes never overlap: each start comes after the previous end.
    let mut last_end = 0;
    for s in &seen {
        match s {
            Seen::PassStart { at, .. } => assert!(*at >= last_end, "{seen:?}"),
            Seen::PassEnd { at, .. } => last_end = *at,
            Seen::Reload { .. } => {}
        }
    }
    let warnings = logs.warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("overran"), "{warnings:?}");
    assert!(warnings[0].contains("missed_ticks=2"), "{warnings:?}");
}

#[tokio::test(start_paused = true)]
async fn reload_replaces_the_config_and_a_bad_one_keeps_the_old() {
    let logs = Captured::default();
    let _guard = logs.install();
    let clock = TokioClock::starting_at(utc(START));
    let mut runner = FakeRunner::new(clock, []);
    runner.reloads = VecDeque::from([
        Err("schedule \"* * *\" is not valid".to_owned()),
        Ok(config("*/30 * * * * *", 2)),
    ]);
    let (seen, _) = drive(
        runner,
        config("*/10 * * * * *", 1),
        clock,
        vec![
            (9.0, Signal::Reload),  // t=12: bad config
            (22.0, Signal::Reload), // t=25: good config, every 30 s
            (62.0, Signal::Terminate),
        ],
    )
    .await;
    let reloads: Vec<&Seen> = seen
        .iter()
        .filter(|s| matches!(s, Seen::Reload { .. }))
        .collect();
    assert_eq!(
        reloads,
        [
            &Seen::Reload { at: 12, ok: false },
            &Seen::Reload { at: 25, ok: true }
        ]
    );
    assert_eq!(
        pass_starts(&seen),
        [(3, 1), (10, 1), (20, 1), (30, 2), (60, 2)]
    );
    let log = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        log.lines()
            .any(|l| l.starts_with("<3>reload failed: keeping the previous configuration")),
        "{log}"
    );
}

#[tokio::test(start_paused = true)]
async fn reload_during_a_pass_waits_for_the_pass_to_end() {
    let clock = TokioClock::starting_at(utc(START));
    let mut runner = FakeRunner::new(clock, [Work::Steps(Duration::from_secs(4))]);
    runner.reloads = VecDeque::from([Ok(config("*/10 * * * * *", 2))]);
    let (seen, _) = drive(
        runner,
        config("*/10 * * * * *", 1),
        clock,
        vec![(1.0, Signal::Reload), (10.0, Signal::Terminate)],
    )
    .await;
    assert_eq!(
        &seen[..3],
        [
            Seen::PassStart {
                at: 3,
                generation: 1
            },
            Seen::PassEnd {
                at: 7,
                cancelled: false
            },
            Seen::Reload { at: 7, ok: true },
        ]
    );
    assert_eq!(pass_starts(&seen)[1], (10, 2));
}

#[tokio::test(start_paused = true)]
async fn terminate_lets_the_current_step_finish_and_abandons_the_pass() {
    let clock = TokioClock::starting_at(utc(START));
    let runner = FakeRunner::new(clock, [Work::Steps(Duration::from_secs(120))]);
    let (seen, took) = drive(
        runner,
        config("*/10 * * * * *", 1),
        clock,
        vec![(5.5, Signal::Terminate)],
    )
    .await;
    assert_eq!(
        took,
        Duration::from_secs(6),
        "stopped at the end of the step"
    );
    assert_eq!(
        seen.last(),
        Some(&Seen::PassEnd {
            at: 9,
            cancelled: true
        })
    );
}

#[tokio::test(start_paused = true)]
async fn terminate_gives_up_on_a_stuck_pass_after_the_grace_period() {
    let clock = TokioClock::starting_at(utc(START));
    let runner = FakeRunner::new(clock, [Work::Stuck(Duration::from_secs(600))]);
    let (seen, took) = drive(
        runner,
        config("*/10 * * * * *", 1),
        clock,
        vec![(2.0, Signal::Terminate)],
    )
    .await;
    assert_eq!(took, Duration::from_secs(7), "2 s + 5 s grace");
    assert_eq!(seen.len(), 1, "the stuck pass never ended: {seen:?}");
}

#[tokio::test(start_paused = true)]
async fn a_second_terminate_stops_waiting_for_the_pass() {
    let clock = TokioClock::starting_at(utc(START));
    let runner = FakeRunner::new(clock, [Work::Stuck(Duration::from_secs(600))]);
    let (_, took) = drive(
        runner,
        config("*/10 * * * * *", 1),
        clock,
        vec![(2.0, Signal::Terminate), (3.0, Signal::Terminate)],
    )
    .await;
    assert_eq!(took, Duration::from_secs(3));
}

#[tokio::test(start_paused = true)]
async fn terminate_while_waiting_returns_at_once() {
    let clock = TokioClock::starting_at(utc(START));
    let runner = FakeRunner::new(clock, []);
    let (seen, took) = drive(
        runner,
        config("0 0 * * * *", 1),
        clock,
        vec![(100.0, Signal::Terminate)],
    )
    .await;
    assert_eq!(took, Duration::from_secs(100));
    assert_eq!(pass_starts(&seen), [(3, 1)]);
}

#[tokio::test(start_paused = true)]
async fn a_closed_signal_channel_does_not_spin_or_stop_the_loop() {
    let clock = TokioClock::starting_at(utc(START));
    let runner = FakeRunner::new(clock, []);
    let seen = runner.seen.clone();
    let (tx, rx) = mpsc::channel(1);
    drop(tx);
    let daemon = daemon::run(
        runner,
        config("*/10 * * * * *", 1),
        |c: &FakeConfig| &c.schedule,
        rx,
        options(clock),
    );
    let outcome = tokio::time::timeout(Duration::from_secs(35), daemon).await;
    assert!(outcome.is_err(), "the loop keeps running without signals");
    assert_eq!(pass_starts(&seen.lock().unwrap()).len(), 4);
}

#[tokio::test]
async fn os_signals_map_to_reload_and_terminate() {
    let mut signals = daemon::spawn_signal_listener().unwrap();
    let pid = std::process::id().to_string();
    for (name, expected) in [("-HUP", Signal::Reload), ("-TERM", Signal::Terminate)] {
        let status = std::process::Command::new("kill")
            .args([name, &pid])
            .status()
            .unwrap();
        assert!(status.success());
        let got = tokio::time::timeout(Duration::from_secs(5), signals.recv())
            .await
            .unwrap();
        assert_eq!(got, Some(expected));
    }
}
