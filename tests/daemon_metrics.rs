//! `calmeet run` with `metrics_listen`: `/metrics` scraped during and after a pass in which one
//! calendar fails, and `/healthz` turning 503 for the failing calendar and 200 once it is fixed.
#![allow(clippy::unwrap_used)]

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::Utc;
use support::fake_tencent::{FakeTencent, Fault, Route};
use support::feed::FeedServer;

fn feed(uid: &str, summary: &str) -> String {
    let day = (Utc::now() + chrono::Duration::days(1)).format("%Y%m%d");
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:{uid}\r\n\
DTSTAMP:20260101T000000Z\r\nDTSTART:{day}T020000Z\r\nDTEND:{day}T030000Z\r\nSUMMARY:{summary}\r\n\
CATEGORIES:Tencent Meeting\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
}

/// GET `url`: status and body.
async fn get(url: &str) -> (u16, String) {
    let r = reqwest::get(url).await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// The value of the sample line starting with `series`, if any.
fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

async fn wait_for(what: &str, mut cond: impl AsyncFnMut() -> bool) {
    let start = Instant::now();
    while !cond().await {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_during_and_after_a_pass_and_health_flips() {
    let fake = FakeTencent::start().await;
    let feeds = FeedServer::start().await;
    feeds.set("/good.ics", feed("good-1@t", "Secret project Falcon"));
    // "/bad.ics" is not there yet: that calendar fails (404).
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = format!(
        "schedule = \"*/2 * * * * *\"\nstate_db = \"state.db\"\nmetrics_listen = \"127.0.0.1:{port}\"\n\
[meeting]\napi_base = \"{}\"\napp_id = \"{}\"\nsecret_id = \"{}\"\nuserid = \"zhangsan\"\n",
        fake.base_url, fake.app_id, fake.secret_id
    );
    if let Some(sdk) = &fake.sdk_id {
        cfg.push_str(&format!("sdk_id = \"{sdk}\"\n"));
    }
    for name in ["good", "bad"] {
        cfg.push_str(&format!(
            "[[calendar]]\nname = \"{name}\"\nurl = \"{}\"\nkind = \"ics\"\n",
            feeds.url(&format!("/{name}.ics"))
        ));
    }
    std::fs::write(dir.path().join("config.toml"), cfg).unwrap();
    // The first create is slow, so the first pass can be watched while it runs.
    fake.inject(Route::Create, Fault::Delay(Duration::from_millis(1500)));

    let mut child = Command::new(env!("CARGO_BIN_EXE_calmeet"))
        .arg("--config")
        .arg(dir.path().join("config.toml"))
        .arg("run")
        .env("CALMEET_SECRET_KEY", &fake.secret_key)
        .env("NO_COLOR", "1")
        .env_remove("NOTIFY_SOCKET")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let metrics_url = format!("{base}/metrics");
    let health_url = format!("{base}/healthz");

    // During the first pass: the create is in flight, nothing is counted as done yet.
    wait_for("the first create to reach the API", async || {
        fake.request_count(Route::Create) >= 1
    })
    .await;
    let (status, during) = get(&metrics_url).await;
    assert_eq!(status, 200);
    assert_eq!(
        sample(&during, "calmeet_passes_total"),
        Some(0.0),
        "{during}"
    );
    assert_eq!(get(&health_url).await.0, 200, "starting up is healthy");

    // After it: per calendar figures, API calls by outcome, 503 naming the failing calendar.
    let mut after = String::new();
    wait_for("the first pass to end", async || {
        after = get(&metrics_url).await.1;
        sample(&after, "calmeet_passes_total").unwrap_or(0.0) >= 1.0
    })
    .await;
    let passes = sample(&after, "calmeet_passes_total").unwrap();
    let expect = [
        ("calmeet_calendar_up{calendar=\"good\"}", 1.0),
        ("calmeet_calendar_up{calendar=\"bad\"}", 0.0),
        ("calmeet_events_with_live_meeting{calendar=\"good\"}", 1.0),
        ("calmeet_events_with_live_meeting{calendar=\"bad\"}", 0.0),
        ("calmeet_events_needing_attention{calendar=\"good\"}", 0.0),
        (
            "calmeet_api_calls_total{endpoint=\"create_meeting\",outcome=\"ok\"}",
            1.0,
        ),
        ("calmeet_pass_duration_seconds_count", passes),
    ];
    for (series, want) in expect {
        assert_eq!(sample(&after, series), Some(want), "{series}:\n{after}");
    }
    assert!(sample(&after, "calmeet_calendar_errors_total{calendar=\"bad\"}").unwrap() >= 1.0);
    assert!(
        sample(&after, "calmeet_pass_duration_seconds_sum").unwrap() >= 1.0,
        "{after}"
    );
    let good_ok = sample(
        &after,
        "calmeet_calendar_last_success_timestamp_seconds{calendar=\"good\"}",
    )
    .unwrap();
    assert!((good_ok - Utc::now().timestamp() as f64).abs() < 60.0);
    assert_eq!(
        sample(
            &after,
            "calmeet_calendar_last_success_timestamp_seconds{calendar=\"bad\"}"
        ),
        None,
        "never succeeded"
    );
    for leak in [
        "Falcon",
        "good-1@t",
        "127.0.0.1",
        "http",
        &fake.secret_key,
        "404",
    ] {
        assert!(!after.contains(leak), "{leak} exposed:\n{after}");
    }
    let (status, why) = get(&health_url).await;
    assert_eq!(status, 503, "{why}");
    assert!(why.contains("'bad'") && !why.contains("http"), "{why}");

    // Fixed: the next pass is clean and health is back; the create is not repeated.
    feeds.set("/bad.ics", feed("bad-1@t", "Other"));
    wait_for("health back to 200", async || {
        get(&health_url).await.0 == 200
    })
    .await;
    let (_, fixed) = get(&metrics_url).await;
    assert_eq!(
        sample(&fixed, "calmeet_calendar_up{calendar=\"bad\"}"),
        Some(1.0)
    );
    assert_eq!(
        sample(&fixed, "calmeet_events_with_live_meeting{calendar=\"bad\"}"),
        Some(1.0),
        "{fixed}"
    );
    // Broken again: 503 again on the next pass.
    feeds.set("/bad.ics", "this is not a calendar");
    wait_for("health 503 again", async || get(&health_url).await.0 == 503).await;
    assert_eq!(fake.request_count(Route::Create), 2, "one create per event");

    Command::new("kill")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(child.wait().unwrap().success());
}
