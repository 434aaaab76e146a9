//! Issue #12 kind 3: the object cache and the change marker that vouches for it are committed
//! together. A pass dies right after fetching a new event (failpoint `pass.after_fetch`); the
//! user then deletes the event on Radicale, whose ctag is a hash of its members and so
//! returns to the value it had before the event existed. After the restart calmeet must not
//! take "same ctag" for "nothing changed" while its cache still holds the deleted event: no
//! meeting is created or adopted for it, and no pass fails with a 404/412 loop.
#![allow(clippy::unwrap_used)]

mod support;

#[path = "support/dav_server.rs"]
mod dav_server;
#[path = "support/dav_world.rs"]
mod dav_world;

use calmeet::source::caldav::ChangeMarker;
use dav_world::{Spec, World};
use support::cli::text;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_fetch_and_plan_never_plans_from_a_cache_its_ctag_does_not_cover() {
    let mut world = World::start(2).await;
    world.converge(3).await;
    let ctag = |w: &World| {
        let client = w.client.clone();
        async move {
            client
                .change_marker(ChangeMarker::Ctag)
                .await
                .unwrap()
                .unwrap()
        }
    };
    let before = ctag(&world).await;

    let spec = Spec::nth(2);
    world.add(spec.clone()).await;
    let out = world
        .sync_env(&[("CALMEET_FAILPOINT", "pass.after_fetch")])
        .await;
    assert!(
        !out.status.success() && text(&out).contains("failpoint pass.after_fetch reached"),
        "{}",
        text(&out)
    );

    // The user deletes the new event before calmeet runs again.
    let href = world.href(&spec.uid);
    let obj = world.client.get(&href).await.unwrap();
    world
        .client
        .delete(&href, obj.etag.as_deref().unwrap())
        .await
        .unwrap();
    world.expect.remove(&spec.uid);
    assert_eq!(
        ctag(&world).await,
        before,
        "Radicale's ctag should return to its old value (the scenario of the bug)"
    );

    // The very next pass succeeds (no 404/412 loop) and makes no meeting for the deleted event.
    let out = world.sync().await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        world
            .fake
            .meetings()
            .iter()
            .all(|m| m.subject != spec.subject),
        "a meeting was made for a deleted event: {:#?}",
        world.fake.meetings()
    );
    world.check().await;
    // And the pass after it is quiet: no API call.
    let calls = world.fake.requests().len();
    let out = world.sync().await;
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(world.fake.requests().len(), calls, "{}", text(&out));
}
