//! `calmeet run` as systemd would run it: on a 2-second schedule against local servers, with
//! the notify socket pointed at a socket this test owns. It syncs, keeps syncing, picks up a
//! new calendar on SIGHUP, and exits 0 within 5 s of SIGTERM even while an API call is slow.
#![allow(clippy::unwrap_used)]

mod support;

use std::os::unix::net::UnixDatagram;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use support::fake_tencent::{FakeTencent, Fault, Route};
use support::feed::FeedServer;

fn feed(events: &[(&str, &str)]) -> String {
    let day = (Utc::now() + chrono::Duration::days(1)).format("%Y%m%d");
    let mut out = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n".to_owned();
    for (uid, summary) in events {
        out.push_str(&format!(
            "BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:{day}T020000Z\r\n\
DTEND:{day}T030000Z\r\nSUMMARY:{summary}\r\nCATEGORIES:Tencent Meeting\r\nEND:VEVENT\r\n"
        ));
    }
    out.push_str("END:VCALENDAR\r\n");
    out
}

fn config(fake: &FakeTencent, calendars: &[(&str, String)]) -> String {
    let mut cfg = format!(
        "schedule = \"*/2 * * * * *\"\nstate_db = \"state.db\"\n[meeting]\napi_base = \"{}\"\napp_id = \"{}\"\nsecret_id = \"{}\"\nuserid = \"zhangsan\"\n",
        fake.base_url, fake.app_id, fake.secret_id
    );
    if let Some(sdk) = &fake.sdk_id {
        cfg.push_str(&format!("sdk_id = \"{sdk}\"\n"));
    }
    for (name, url) in calendars {
        cfg.push_str(&format!(
            "[[calendar]]\nname = \"{name}\"\nurl = \"{url}\"\nkind = \"ics\"\n"
        ));
    }
    cfg
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(ok.success());
}

async fn wait_for(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemon_syncs_reloads_notifies_and_stops_promptly() {
    let fake = FakeTencent::start().await;
    let feeds = FeedServer::start().await;
    feeds.set("/a.ics", feed(&[("a-1", "Calendar A")]));
    feeds.set("/b.ics", feed(&[("b-1", "Calendar B")]));
    let dir = tempfile::tempdir().unwrap();
    let cfg_path = dir.path().join("config.toml");
    std::fs::write(&cfg_path, config(&fake, &[("a", feeds.url("/a.ics"))])).unwrap();

    // The notify socket systemd would own.
    let sock_path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let messages = Arc::new(Mutex::new(Vec::<String>::new()));
    let reader = {
        let messages = Arc::clone(&messages);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(60) {
                if let Ok(n) = sock.recv(&mut buf) {
                    let m = String::from_utf8_lossy(&buf[..n]).into_owned();
                    let stop = m.contains("STOPPING=1");
                    messages.lock().unwrap().push(m);
                    if stop {
                        return;
                    }
                }
            }
        })
    };

    let mut child = Command::new(env!("CARGO_BIN_EXE_calmeet"))
        .arg("--config")
        .arg(&cfg_path)
        .arg("run")
        .env("CALMEET_SECRET_KEY", &fake.secret_key)
        .env("NOTIFY_SOCKET", &sock_path)
        .env("WATCHDOG_USEC", "1000000")
        .env_remove("WATCHDOG_PID")
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    wait_for("the first pass", Duration::from_secs(20), || {
        fake.live_meeting_count() == 1
    })
    .await;
    // It keeps polling on the schedule: the feed is asked again (and answers 304).
    wait_for("later passes", Duration::from_secs(20), || {
        feeds.statuses("/a.ics").len() >= 3
    })
    .await;
    assert_eq!(
        fake.request_count(Route::Create),
        1,
        "later passes are quiet"
    );

    // SIGHUP with a new calendar: it is picked up without a restart.
    std::fs::write(
        &cfg_path,
        config(
            &fake,
            &[("a", feeds.url("/a.ics")), ("b", feeds.url("/b.ics"))],
        ),
    )
    .unwrap();
    signal(&child, "HUP");
    wait_for("calendar b after reload", Duration::from_secs(20), || {
        fake.live_meeting_count() == 2
    })
    .await;

    // An invalid config on SIGHUP is reported and the old one kept.
    std::fs::write(&cfg_path, "schedule = \"bogus\"\n").unwrap();
    signal(&child, "HUP");
    feeds.set(
        "/b.ics",
        feed(&[("b-1", "Calendar B"), ("b-2", "Calendar B2")]),
    );
    wait_for(
        "the old config keeps syncing",
        Duration::from_secs(20),
        || fake.live_meeting_count() == 3,
    )
    .await;

    // A slow API call in flight, then SIGTERM: exit 0 within 5 s.
    fake.inject(Route::Create, Fault::Delay(Duration::from_secs(30)));
    feeds.set(
        "/a.ics",
        feed(&[("a-1", "Calendar A"), ("a-2", "Slow one")]),
    );
    let creates = fake.request_count(Route::Create);
    wait_for(
        "the slow create to be in flight",
        Duration::from_secs(20),
        || fake.request_count(Route::Create) > creates,
    )
    .await;
    let stop = Instant::now();
    signal(&child, "TERM");
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(stop.elapsed() < Duration::from_secs(10), "did not exit");
        std::thread::sleep(Duration::from_millis(50));
    };
    let took = stop.elapsed();
    assert!(status.success(), "exit status {status:?}");
    assert!(took < Duration::from_secs(5), "took {took:?} to stop");

    reader.join().unwrap();
    let msgs = messages.lock().unwrap().join("\n");
    assert!(msgs.contains("READY=1"), "{msgs}");
    assert!(msgs.contains("STATUS=last pass"), "{msgs}");
    assert!(msgs.contains("WATCHDOG=1"), "{msgs}");
    assert!(msgs.contains("RELOADING=1"), "{msgs}");
    assert!(msgs.contains("STOPPING=1"), "{msgs}");
    let mut stderr = String::new();
    use std::io::Read;
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(
        stderr.contains("schedule"),
        "the invalid reload was reported: {stderr}"
    );
    assert!(!stderr.contains(&fake.secret_key), "secret leaked");
}
