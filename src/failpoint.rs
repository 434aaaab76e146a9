//! Crash-test hooks: `CALMEET_FAILPOINT=<name>` makes the process abort (like SIGKILL, no
//! clean-up, no destructors) when it reaches the named point; `<name>@<n>` aborts on the n-th
//! time it is reached (1-based), so a test can let some events through first. The crash tests
//! use it to prove that no step between "decide to create" and "state committed" can lose or
//! duplicate a meeting. Unset, a hook costs one environment lookup. This module must never do
//! anything but abort: no clean-up, no logging beyond one line on stderr.
//!
//! Points: `create.before_api`, `create.after_api` (answer in hand, state not yet written),
//! `create.after_state`, `writeback.before_put`, `writeback.after_put`, `update.before_api`,
//! `update.after_api`, `update.after_state` (a series change committed, its occurrence changes
//! not yet sent again), `occurrence.before_api`, `occurrence.after_api` (one occurrence
//! cancelled or moved, state not yet written), `withdraw.after_api` (the meeting of a create in
//! doubt cancelled, state not yet written), `cancel.before_api`, `cancel.after_api`,
//! `cancel.after_state` (before the block is removed from the event), `cancel.after_remove`,
//! and `pass.after_fetch` (a calendar's objects and markers committed, nothing planned yet).

use std::sync::atomic::{AtomicUsize, Ordering};

/// How many times the armed point has been reached in this process.
static HITS: AtomicUsize = AtomicUsize::new(0);

/// Aborts the process if `CALMEET_FAILPOINT` names this point (and, with `@n`, this is the
/// n-th time it is reached). `at` names what was being done (the event key), printed in the
/// one line on stderr so that a crash test knows which event was in flight.
pub fn hit(name: &str, at: &dyn std::fmt::Display) {
    let Some(armed) = std::env::var_os("CALMEET_FAILPOINT") else {
        return;
    };
    let armed = armed.to_string_lossy();
    let (point, nth) = match armed.split_once('@') {
        Some((p, n)) => (p, n.trim().parse::<usize>().unwrap_or(1).max(1)),
        None => (armed.as_ref(), 1),
    };
    if point != name {
        return;
    }
    if HITS.fetch_add(1, Ordering::SeqCst) + 1 >= nth {
        eprintln!("calmeet: failpoint {name} reached at {at}; aborting");
        std::process::abort();
    }
}
