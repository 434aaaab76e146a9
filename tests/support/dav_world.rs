//! A whole test world for the crash and fault tests: a real Radicale calendar holding tagged
//! events (single and recurring), the fake Tencent server, a config pointing calmeet at both,
//! and one checker for the promise "exactly one live meeting per tagged event, the link in the
//! event exactly once, the state says `created`".
//!
//! Include it next to `dav_server` and `support`:
//! `#[path = "support/dav_world.rs"] mod dav_world;`.
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Output;
use std::time::Duration;

use calmeet::source::caldav::CalDavClient;
use chrono::{Datelike, Utc};

use crate::dav_server::DavServer;
use crate::support::cli::{calmeet_env, text};
use crate::support::fake_tencent::FakeTencent;

/// Recurrence rules used round-robin (`None` = a single event): every shape a Tencent
/// recurring meeting can hold, all within the default 90-day horizon.
pub const RULES: &[Option<&str>] = &[
    None,
    Some("FREQ=WEEKLY;COUNT=6"),
    Some("FREQ=DAILY;COUNT=5"),
    None,
    Some("FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR;COUNT=10"),
    Some("FREQ=WEEKLY;INTERVAL=2;COUNT=4"),
];

/// What the test expects of one event after convergence.
#[derive(Debug, Clone)]
pub struct Expect {
    /// The meeting's subject (the event's SUMMARY).
    pub subject: String,
    /// Whether a live meeting should exist (false: the event was cancelled).
    pub live: bool,
}

/// One event of the world.
#[derive(Debug, Clone)]
pub struct Spec {
    pub uid: String,
    pub subject: String,
    pub rrule: Option<String>,
    /// Days after the first Monday at least two days from now.
    pub day: i64,
    pub hour: u32,
}

impl Spec {
    /// The `i`-th event of a mixed calendar.
    pub fn nth(i: usize) -> Spec {
        Spec {
            uid: format!("ev-{i:03}@calmeet.test"),
            subject: format!("Meeting {i:03} 会议"),
            rrule: RULES[i % RULES.len()].map(str::to_owned),
            day: i64::try_from(i % 4).unwrap() + 7 * i64::try_from(i / 24).unwrap(),
            hour: 8 + u32::try_from(i % 10).unwrap(),
        }
    }

    /// The calendar object, as a desktop client would store it.
    pub fn ics(&self, status_cancelled: bool) -> String {
        let now = Utc::now().date_naive() + chrono::Duration::days(2);
        let monday =
            now + chrono::Duration::days(i64::from((7 - now.weekday().num_days_from_monday()) % 7));
        let day = (monday + chrono::Duration::days(self.day)).format("%Y%m%d");
        let rrule = self
            .rrule
            .as_ref()
            .map(|r| format!("RRULE:{r}\r\n"))
            .unwrap_or_default();
        let status = if status_cancelled {
            "STATUS:CANCELLED\r\n"
        } else {
            ""
        };
        format!(
            "BEGIN:VCALENDAR\r\nPRODID:-//calmeet tests//EN\r\nVERSION:2.0\r\n\
BEGIN:VTIMEZONE\r\nTZID:Asia/Shanghai\r\nBEGIN:STANDARD\r\nTZOFFSETFROM:+0800\r\nTZOFFSETTO:+0800\r\nTZNAME:CST\r\nDTSTART:19700101T000000\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n\
BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:{subject}\r\nCATEGORIES:腾讯会议\r\n{rrule}{status}\
DTSTART;TZID=Asia/Shanghai:{day}T{hour:02}0000\r\nDTEND;TZID=Asia/Shanghai:{day}T{hour:02}4500\r\n\
DESCRIPTION:notes for {uid}\\, keep me\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
            uid = self.uid,
            subject = self.subject,
            hour = self.hour,
        )
    }
}

/// Radicale + fake API + config + the expected end state.
pub struct World {
    pub dav: DavServer,
    pub fake: FakeTencent,
    /// Talks to Radicale directly (never through a test proxy).
    pub client: CalDavClient,
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub specs: Vec<Spec>,
    pub expect: BTreeMap<String, Expect>,
}

impl World {
    /// A world with `n` tagged events (see [`Spec::nth`]) and calmeet configured directly.
    pub async fn start(n: usize) -> World {
        let dav = DavServer::radicale().await;
        let fake = FakeTencent::start().await;
        let cal_url = dav.url_for("work");
        let client = CalDavClient::new(cal_url, dav.auth(), Duration::from_secs(10)).unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pw"), format!("{}\n", dav.password)).unwrap();
        let config = dir.path().join("config.toml");
        let mut world = World {
            dav,
            fake,
            client,
            dir,
            config,
            specs: Vec::new(),
            expect: BTreeMap::new(),
        };
        world.write_config(&world.dav.url_for("work"), "");
        for i in 0..n {
            world.add(Spec::nth(i)).await;
        }
        world
    }

    /// (Re)writes the config: calendar at `cal_url`, `meeting_extra` appended to `[meeting]`.
    pub fn write_config(&self, cal_url: &url::Url, meeting_extra: &str) {
        let fake = &self.fake;
        // Tests converge in quick passes: no wait after a create left in doubt, unless the
        // test is about that wait.
        let grace = if meeting_extra.contains("reconcile_grace_secs") {
            ""
        } else {
            "reconcile_grace_secs = 0\n"
        };
        let mut cfg = format!(
            "timezone = \"Asia/Shanghai\"\nstate_db = \"state.db\"\nmax_cancel_share = 1.0\n\
             [meeting]\napi_base = \"{}\"\napp_id = \"{}\"\nsecret_id = \"{}\"\nuserid = \"zhangsan\"\n{grace}{meeting_extra}\n",
            fake.base_url, fake.app_id, fake.secret_id
        );
        if let Some(sdk) = &fake.sdk_id {
            cfg.push_str(&format!("sdk_id = \"{sdk}\"\n"));
        }
        cfg.push_str(&format!(
            "[[calendar]]\nname = \"work\"\nurl = \"{cal_url}\"\nkind = \"caldav\"\nusername = \"{}\"\npassword_file = \"pw\"\n",
            self.dav.username
        ));
        std::fs::write(&self.config, cfg).unwrap();
    }

    /// Href of an event's object.
    pub fn href(&self, uid: &str) -> String {
        format!(
            "{}{}.ics",
            self.dav.url_for("work").path(),
            uid.replace('@', "_")
        )
    }

    /// Stores a new event and expects a live meeting for it.
    pub async fn add(&mut self, spec: Spec) {
        self.client
            .create(&self.href(&spec.uid), spec.ics(false).as_bytes())
            .await
            .unwrap();
        self.expect.insert(
            spec.uid.clone(),
            Expect {
                subject: spec.subject.clone(),
                live: true,
            },
        );
        self.specs.push(spec);
    }

    /// Applies `edit` to the stored text of an event, as a user's client would (If-Match).
    pub async fn edit(&self, uid: &str, edit: impl Fn(&str) -> String) {
        let href = self.href(uid);
        let obj = self.client.get(&href).await.unwrap();
        let text = String::from_utf8(obj.data).unwrap();
        let new = edit(&text);
        assert_ne!(new, text, "the edit of {uid} changed nothing");
        self.client
            .put(&href, new.as_bytes(), obj.etag.as_deref().unwrap())
            .await
            .unwrap();
    }

    /// Renames an event (its meeting must follow).
    pub async fn rename(&mut self, uid: &str, subject: &str) {
        let old = self.expect[uid].subject.clone();
        self.edit(uid, |t| {
            t.replace(
                &format!("SUMMARY:{old}\r\n"),
                &format!("SUMMARY:{subject}\r\n"),
            )
        })
        .await;
        self.expect.get_mut(uid).unwrap().subject = subject.to_owned();
    }

    /// Marks an event STATUS:CANCELLED (its meeting must be cancelled, the block removed).
    pub async fn cancel(&mut self, uid: &str) {
        self.edit(uid, |t| {
            t.replacen("DTSTAMP:", "STATUS:CANCELLED\r\nDTSTAMP:", 1)
        })
        .await;
        self.expect.get_mut(uid).unwrap().live = false;
    }

    /// One `calmeet sync` with extra environment variables.
    pub async fn sync_env(&self, env: &[(&str, &str)]) -> Output {
        calmeet_env(&self.config, &self.fake.secret_key, &["sync"], env).await
    }

    /// One plain `calmeet sync`.
    pub async fn sync(&self) -> Output {
        self.sync_env(&[]).await
    }

    /// Syncs until a pass succeeds (at most `max` passes), then once more; returns the passes
    /// run. Panics with the last output when it does not converge.
    pub async fn converge(&self, max: usize) -> usize {
        for pass in 1..=max {
            let out = self.sync().await;
            if out.status.success() {
                let again = self.sync().await;
                assert!(
                    again.status.success(),
                    "pass after convergence failed: {}",
                    text(&again)
                );
                return pass + 1;
            }
            if pass == max {
                panic!("no successful pass in {max}: {}", text(&out));
            }
        }
        unreachable!()
    }

    /// Every promise, checked against the fake, the server and `calmeet status --json`.
    pub async fn check(&self) {
        let meetings = self.fake.meetings();
        let live: Vec<_> = meetings.iter().filter(|m| !m.cancelled).collect();
        let expected_live = self.expect.values().filter(|e| e.live).count();
        assert_eq!(
            live.len(),
            expected_live,
            "live meetings (duplicates or orphans): {:#?}",
            live.iter().map(|m| &m.subject).collect::<Vec<_>>()
        );
        let status = calmeet_env(
            &self.config,
            &self.fake.secret_key,
            &["status", "--json"],
            &[],
        )
        .await;
        assert!(status.status.success(), "{}", text(&status));
        let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
        let rows = status["meetings"].as_array().unwrap();
        for (uid, want) in &self.expect {
            let with_subject: Vec<_> = live.iter().filter(|m| m.subject == want.subject).collect();
            let obj = self.client.get(&self.href(uid)).await.unwrap();
            let stored = String::from_utf8(calmeet::event::unfold_bytes(&obj.data)).unwrap();
            assert!(
                stored.contains(&format!("notes for {uid}\\, keep me")),
                "{uid}: the user's text was lost: {stored}"
            );
            let row = rows
                .iter()
                .find(|r| r["uid"] == uid.as_str() && r["recurrence_id"].is_null())
                .unwrap_or_else(|| panic!("{uid}: no state row in {rows:#?}"));
            if !want.live {
                assert!(
                    with_subject.is_empty(),
                    "{uid}: cancelled event still has a live meeting"
                );
                assert!(
                    !stored.contains("X-CALMEET-MEETING-ID")
                        && !stored.contains("Tencent Meeting ──"),
                    "{uid}: the block stayed in a cancelled event: {stored}"
                );
                assert_eq!(row["state"], "cancelled", "{uid}: {row}");
                continue;
            }
            assert_eq!(
                with_subject.len(),
                1,
                "{uid}: live meetings named '{}'",
                want.subject
            );
            let m = with_subject[0];
            assert_eq!(
                stored.matches("── Tencent Meeting ──").count(),
                1,
                "{uid}: {stored}"
            );
            assert_eq!(
                stored.matches("X-CALMEET-MEETING-ID").count(),
                1,
                "{uid}: {stored}"
            );
            assert!(
                stored.contains(&format!("X-CALMEET-MEETING-ID:{}\r\n", m.meeting_id)),
                "{uid}: the event names another meeting than {}: {stored}",
                m.meeting_id
            );
            // Once in the DESCRIPTION block, once in CONFERENCE.
            assert_eq!(stored.matches(&m.join_url).count(), 2, "{uid}: {stored}");
            assert_eq!(row["state"], "created", "{uid}: {row}");
            assert_eq!(row["meeting_id"], m.meeting_id.as_str(), "{uid}: {row}");
            assert_eq!(row["written_back"], true, "{uid}: {row}");
        }
    }
}
