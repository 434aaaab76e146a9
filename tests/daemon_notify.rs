//! The daemon's sd_notify messages, read from a real datagram socket.
//!
//! `NOTIFY_SOCKET` and `WATCHDOG_USEC` are process-wide, so this binary holds a single test that
//! sets them before any other thread could read them.
#![allow(clippy::unwrap_used)]

use std::future::Future;
use std::os::unix::net::UnixDatagram;
use std::sync::Arc;
use std::time::Duration;

use calmeet::daemon::{
    self, Clock, DaemonOptions, PassContext, PassRunner, PassSummary, Schedule, Signal, TokioClock,
};
use calmeet::notify;
use chrono::{DateTime, Utc};
use tokio::sync::mpsc;

struct Runner {
    clock: TokioClock,
    /// Each pass lasts this long; `progress` is called every second unless `silent`.
    pass: Duration,
    silent: bool,
}

impl PassRunner for Runner {
    type Config = Schedule;

    fn run_pass(&mut self, _: &Schedule, ctx: &PassContext) -> impl Future<Output = PassSummary> {
        let (clock, pass, silent) = (self.clock, self.pass, self.silent);
        async move {
            let started = clock.now();
            let mut left = pass;
            while !left.is_zero() && !ctx.is_cancelled() {
                let step = left.min(Duration::from_secs(1));
                tokio::time::sleep(step).await;
                left -= step;
                if !silent {
                    ctx.progress();
                }
            }
            PassSummary {
                calendars: 3,
                errors: 0,
                failing: 0,
                started,
                finished: clock.now(),
            }
        }
    }

    fn reload(&mut self) -> anyhow::Result<Schedule> {
        Ok(Schedule::parse("*/10 * * * * *", None)?)
    }
}

/// Runs the daemon on a paused clock; each signal is sent `delay` seconds after the previous.
fn run_daemon(pass: Duration, silent: bool, plan: Vec<(u64, Signal)>) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    rt.block_on(async {
        let start: DateTime<Utc> = "2026-01-01T12:00:03Z".parse().unwrap();
        let clock = TokioClock::starting_at(start);
        let options = DaemonOptions {
            clock: Arc::new(clock),
            ..DaemonOptions::default()
        };
        assert_eq!(options.watchdog, Some(Duration::from_secs(2)));
        let (tx, rx) = mpsc::channel(4);
        let runner = Runner {
            clock,
            pass,
            silent,
        };
        let schedule = Schedule::parse("*/10 * * * * *", None).unwrap();
        let signals = async move {
            for (delay, signal) in plan {
                tokio::time::sleep(Duration::from_secs(delay)).await;
                tx.send(signal).await.unwrap();
            }
            std::future::pending::<()>().await;
        };
        tokio::select! {
            result = daemon::run(runner, schedule, |s: &Schedule| s, rx, options) => result.unwrap(),
            () = signals => unreachable!(),
        }
    });
}

/// Reads datagrams on a thread as they come (a datagram socket's queue holds only ~10, and a
/// full queue would block the daemon's sends).
fn collect(socket: UnixDatagram) -> std::sync::mpsc::Receiver<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = socket.recv(&mut buf) {
            if tx
                .send(String::from_utf8_lossy(&buf[..n]).into_owned())
                .is_err()
            {
                break;
            }
        }
    });
    rx
}

/// Everything received so far (the sends are synchronous, so all have arrived).
fn drain(messages: &std::sync::mpsc::Receiver<String>) -> Vec<String> {
    let mut out = Vec::new();
    while let Ok(m) = messages.recv_timeout(Duration::from_millis(200)) {
        out.push(m);
    }
    out
}

#[test]
fn daemon_speaks_the_notify_protocol_and_pings_the_watchdog_only_while_alive() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&path).unwrap();
    // SAFETY: this binary has one test, and no other thread reads the environment yet.
    unsafe {
        std::env::set_var("NOTIFY_SOCKET", &path);
        std::env::set_var("WATCHDOG_USEC", "2000000");
        std::env::remove_var("WATCHDOG_PID");
    }
    assert_eq!(notify::watchdog_interval(), Some(Duration::from_secs(2)));
    let received = collect(socket);

    // A healthy daemon: passes every 10 s, a reload at 15 s, stop at 25 s.
    run_daemon(
        Duration::from_secs(1),
        false,
        vec![(15, Signal::Reload), (10, Signal::Terminate)],
    );
    let messages = drain(&received);
    assert_eq!(messages.first().map(String::as_str), Some("READY=1\n"));
    assert!(
        messages
            .iter()
            .any(|m| m == "STATUS=last pass 12:00 UTC, 3 calendars, 0 errors; next 12:00 UTC\n"),
        "{messages:#?}"
    );
    let pings = messages.iter().filter(|m| *m == "WATCHDOG=1\n").count();
    assert!(pings >= 10, "a live loop pings every second: {messages:#?}");
    let reloading = messages
        .iter()
        .position(|m| m.starts_with("RELOADING=1\nMONOTONIC_USEC="))
        .unwrap();
    assert_eq!(messages[reloading + 1], "READY=1\n", "{messages:#?}");
    assert_eq!(messages.last().map(String::as_str), Some("STOPPING=1\n"));

    // A hung pass (no progress for 30 s): the watchdog must fall silent so systemd restarts us.
    run_daemon(
        Duration::from_secs(600),
        true,
        vec![(30, Signal::Terminate)],
    );
    let messages = drain(&received);
    let pings = messages.iter().filter(|m| *m == "WATCHDOG=1\n").count();
    assert!(
        pings <= 1,
        "a hung pass must not be pinged for: {messages:#?}"
    );
    assert!(messages.iter().any(|m| m == "STOPPING=1\n"));
}
