//! Crash safety: calmeet is aborted (SIGABRT via a failpoint, or SIGKILL at a random moment)
//! between every step from "decide to create" to "state committed" and around updates and
//! cancellations, against a real Radicale calendar and the fake Tencent API. After restarts it
//! must converge to exactly one live meeting per tagged event, the link in each event exactly
//! once, and every row `created` — nothing lost, nothing duplicated.
//!
//! The randomized run's size: `CALMEET_CRASH_KILLS` (default 200) kills, each after a random
//! 0..`CALMEET_CRASH_MAX_DELAY_MS` (default 400) ms. Counts and wall time are printed.
#![allow(clippy::unwrap_used)]

mod support;

#[path = "support/dav_server.rs"]
mod dav_server;
#[path = "support/dav_world.rs"]
mod dav_world;

use std::time::{Duration, Instant};

use dav_world::{Spec, World};
use support::cli::text;
use support::fake_tencent::{Fault, Route};

/// Events in the per-failpoint worlds: three single, three recurring.
const EVENTS: usize = 6;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Runs one sync with `point` armed and asserts the process died at it (not a clean exit).
async fn sync_dies_at(world: &World, point: &str) {
    let out = world.sync_env(&[("CALMEET_FAILPOINT", point)]).await;
    assert!(
        !out.status.success() && out.status.code().is_none(),
        "calmeet should have been aborted at {point}: {:?} {}",
        out.status,
        text(&out)
    );
    let name = point.split('@').next().unwrap();
    assert!(
        text(&out).contains(&format!("failpoint {name} reached")),
        "{}",
        text(&out)
    );
}

/// Aborts the first pass at a create/write-back step, then recovers.
async fn crash_on_first_pass(point: &str) {
    let world = World::start(EVENTS).await;
    sync_dies_at(&world, point).await;
    world.converge(3).await;
    world.check().await;
    // Nothing was ever created twice, not even a meeting cancelled later.
    assert_eq!(
        world.fake.meetings().len(),
        EVENTS,
        "{point}: duplicate creates"
    );
}

/// Converges, renames two events, aborts the update pass at `point`, then recovers.
async fn crash_on_update(point: &str) {
    let mut world = World::start(EVENTS).await;
    world.converge(2).await;
    world
        .rename("ev-000@calmeet.test", "Renamed single 改名")
        .await;
    world
        .rename("ev-001@calmeet.test", "Renamed series 改名")
        .await;
    sync_dies_at(&world, point).await;
    world.converge(3).await;
    world.check().await;
    assert_eq!(
        world.fake.meetings().len(),
        EVENTS,
        "{point}: an update made a new meeting"
    );
}

/// Converges, cancels two events in the calendar, aborts at `point`, then recovers.
async fn crash_on_cancel(point: &str) {
    let mut world = World::start(EVENTS).await;
    world.converge(2).await;
    world.cancel("ev-000@calmeet.test").await;
    world.cancel("ev-001@calmeet.test").await;
    sync_dies_at(&world, point).await;
    world.converge(3).await;
    world.check().await;
    assert_eq!(world.fake.meetings().len(), EVENTS);
}

/// The create's answer is lost in a crash, then the user renames and moves the event before
/// calmeet runs again: the meeting from the interrupted create must be found by what was sent,
/// and updated — not left behind as an orphan next to a second meeting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_after_create_answer_then_event_renamed_and_moved() {
    let mut world = World::start(2).await;
    sync_dies_at(&world, "create.after_api").await;
    let uid = "ev-000@calmeet.test";
    world.rename(uid, "Renamed while pending 改名").await;
    world
        .edit(uid, |t| t.replace("T080000\r\n", "T083000\r\n"))
        .await;
    world.converge(3).await;
    world.check().await;
    assert_eq!(
        world.fake.meetings().len(),
        2,
        "a second meeting was created"
    );
    let m = world
        .fake
        .meetings()
        .into_iter()
        .find(|m| m.subject == "Renamed while pending 改名")
        .unwrap();
    assert_eq!(m.end_time - m.start_time, 15 * 60, "moved to 08:30-08:45");
}

macro_rules! crash_tests {
    ($($name:ident => $run:ident($point:literal);)*) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            $run($point).await;
        }
    )*};
}

crash_tests! {
    crash_before_create_call => crash_on_first_pass("create.before_api");
    crash_after_create_answer_before_state => crash_on_first_pass("create.after_api");
    crash_after_create_answer_on_third_event => crash_on_first_pass("create.after_api@3");
    crash_after_created_state_before_write_back => crash_on_first_pass("create.after_state@2");
    crash_before_write_back_put => crash_on_first_pass("writeback.before_put@2");
    crash_after_write_back_put_before_state => crash_on_first_pass("writeback.after_put");
    crash_before_update_call => crash_on_update("update.before_api");
    crash_after_update_answer_before_state => crash_on_update("update.after_api@2");
    crash_before_cancel_call => crash_on_cancel("cancel.before_api");
    crash_after_cancel_answer_before_state => crash_on_cancel("cancel.after_api@2");
    crash_after_cancelled_state_before_block_removed => crash_on_cancel("cancel.after_state");
    crash_after_block_removed => crash_on_cancel("cancel.after_remove");
}

/// At least 200 SIGKILLs at random moments while calmeet syncs 50 tagged events with mixed
/// recurrences; the calendar keeps changing (renames, cancellations, new events) so that the
/// kills hit creates, updates, cancellations and write-backs alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_kills_never_lose_or_duplicate() {
    let kills = env_usize("CALMEET_CRASH_KILLS", 200);
    let max_delay = env_usize("CALMEET_CRASH_MAX_DELAY_MS", 400) as u64;
    let began = Instant::now();
    let mut world = World::start(50).await;
    // Some latency on every API call so that kills land inside calls as well as between them.
    for route in [
        Route::Create,
        Route::Modify,
        Route::Cancel,
        Route::List,
        Route::Get,
    ] {
        for _ in 0..20_000 {
            world
                .fake
                .inject(route, Fault::Delay(Duration::from_millis(8)));
        }
    }
    let (mut killed, mut finished, mut next_uid) = (0usize, 0usize, 50usize);
    let (mut runs, mut mutated) = (0usize, 0usize);
    while killed < kills {
        runs += 1;
        let mut child =
            support::cli::command(&world.config, &world.fake.secret_key, &["sync"], &[])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap();
        let delay = rand::random_range(0..=max_delay);
        tokio::time::sleep(Duration::from_millis(delay)).await;
        if child.try_wait().unwrap().is_some() {
            finished += 1;
        } else {
            child.kill().unwrap(); // SIGKILL
            killed += 1;
        }
        child.wait().unwrap();
        // Keep work flowing: whenever a pass got to finish, the user edits the calendar:
        // two renames (updates), and every third time a cancellation and a new event.
        if finished > mutated {
            mutated = finished;
            let live: Vec<String> = world
                .expect
                .iter()
                .filter(|(_, e)| e.live)
                .map(|(u, _)| u.clone())
                .collect();
            let pick = || live[rand::random_range(0..live.len())].clone();
            let (a, b) = (pick(), pick());
            world.rename(&a, &format!("Renamed {runs}a 改")).await;
            if b != a {
                world.rename(&b, &format!("Renamed {runs}b 改")).await;
            }
            if mutated % 3 == 0 {
                let c = pick();
                if c != a && c != b {
                    world.cancel(&c).await;
                }
                world.add(Spec::nth(next_uid)).await;
                next_uid += 1;
            }
        }
    }
    let passes = world.converge(6).await;
    world.check().await;
    let meetings = world.fake.meetings();
    let total_events = world.expect.len();
    // Every event got exactly one meeting over the whole run: none was ever made twice.
    assert_eq!(meetings.len(), total_events, "a meeting was created twice");
    println!(
        "random kills: {killed} SIGKILLs, {finished} passes finished before their kill, \
         {passes} recovery passes; {total_events} events, {} meetings created, {} live; \
         API calls: {} create, {} modify, {} cancel, {} list (reconciles); wall time {:.1} s",
        meetings.len(),
        world.fake.live_meeting_count(),
        world.fake.request_count(Route::Create),
        world.fake.request_count(Route::Modify),
        world.fake.request_count(Route::Cancel),
        world.fake.request_count(Route::List),
        began.elapsed().as_secs_f64()
    );
}
