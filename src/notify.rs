//! Messages to the service manager (`sd_notify(3)`), through the `sd-notify` crate.
//!
//! Owns the translation from daemon life-cycle events (ready, status, reloading, stopping,
//! watchdog ping) to notify datagrams. Every function is a no-op when `NOTIFY_SOCKET` is unset, so
//! calmeet runs the same in a terminal, in a container or under systemd. A failed send is logged
//! at debug level and never returned: the service manager being away must not stop a sync.
//! This module must never decide *when* to send (that is `daemon`'s job) nor put secrets in a
//! STATUS line.

use std::time::Duration;

use sd_notify::NotifyState;

/// Sends `states` and logs a failure at debug level.
fn send(states: &[NotifyState<'_>]) {
    if let Err(err) = sd_notify::notify(states) {
        tracing::debug!(error = %err, "could not notify the service manager");
    }
}

/// Tells the service manager that start-up finished (`READY=1`): config loaded, state opened.
///
/// Also sent after a reload, which is how `Type=notify-reload` learns that the reload is over.
pub fn ready() {
    send(&[NotifyState::Ready]);
}

/// Sets the one-line status shown by `systemctl status` (`STATUS=…`).
///
/// A newline would end the field early, so newlines are replaced by spaces.
pub fn status(text: &str) {
    let line = text.replace(['\n', '\r'], " ");
    send(&[NotifyState::Status(&line)]);
}

/// Announces that the daemon is shutting down (`STOPPING=1`).
pub fn stopping() {
    send(&[NotifyState::Stopping]);
}

/// Announces a configuration reload (`RELOADING=1` with `MONOTONIC_USEC=`).
///
/// systemd ≥ 253 needs the monotonic timestamp to match the message to the reload request of a
/// `Type=notify-reload` unit; older versions ignore it. Finish the reload with [`ready`].
pub fn reloading() {
    match NotifyState::monotonic_usec_now() {
        Ok(now) => send(&[NotifyState::Reloading, now]),
        Err(err) => {
            tracing::debug!(error = %err, "could not read the monotonic clock for MONOTONIC_USEC");
            send(&[NotifyState::Reloading]);
        }
    }
}

/// Pings the service manager's watchdog (`WATCHDOG=1`).
///
/// Call it only when the daemon has shown progress; a ping from a timer alone would hide a hang.
pub fn watchdog() {
    send(&[NotifyState::Watchdog]);
}

/// The watchdog period the service manager expects (`WATCHDOG_USEC`), if it set one for us.
///
/// `None` when no watchdog is configured or when `WATCHDOG_PID` names another process.
#[must_use]
pub fn watchdog_interval() -> Option<Duration> {
    sd_notify::watchdog_enabled().filter(|period| !period.is_zero())
}
