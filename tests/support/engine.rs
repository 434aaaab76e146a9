//! An in-process sync engine for one CalDAV calendar and the fake Tencent API, for tests that
//! count what a pass sends (rather than running the `calmeet` binary).

use std::fmt::Write as _;
use std::path::Path;

use calmeet::sync::Engine;
use calmeet::tencent::client::TencentClient;

use super::fake_tencent::FakeTencent;

/// Writes `dir/config.toml` for the calendar "work" at `url` with Basic credentials and the
/// fake's API keys inline (owner-only, as calmeet requires of a file holding secrets), with
/// the state in `dir`, and builds the engine `calmeet sync` would.
pub fn caldav_engine(
    dir: &Path,
    fake: &FakeTencent,
    url: &str,
    username: &str,
    password: &str,
) -> Engine<TencentClient> {
    let mut cfg = format!(
        "timezone = \"Asia/Shanghai\"\nstate_db = \"state.db\"\n[meeting]\napi_base = \"{}\"\napp_id = \"{}\"\nsecret_id = \"{}\"\nsecret_key = \"{}\"\nuserid = \"zhangsan\"\n",
        fake.base_url, fake.app_id, fake.secret_id, fake.secret_key
    );
    if let Some(sdk) = &fake.sdk_id {
        writeln!(cfg, "sdk_id = \"{sdk}\"").unwrap();
    }
    write!(
        cfg,
        "[[calendar]]\nname = \"work\"\nurl = \"{url}\"\nkind = \"caldav\"\nusername = \"{username}\"\npassword = \"{password}\"\n",
    )
    .unwrap();
    let path = dir.join("config.toml");
    std::fs::write(&path, cfg).unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let config = calmeet::config::Config::load(&path).unwrap();
    let (_tx, rx) = tokio::sync::watch::channel(false);
    calmeet::cli::build_engine(config, false, rx).unwrap()
}

/// A wall clock that shows a set instant until moved: a pass "as of" a given day.
#[derive(Debug)]
pub struct FixedClock(std::sync::Mutex<chrono::DateTime<chrono::Utc>>);

impl FixedClock {
    pub fn at(t: chrono::DateTime<chrono::Utc>) -> std::sync::Arc<FixedClock> {
        std::sync::Arc::new(FixedClock(std::sync::Mutex::new(t)))
    }

    pub fn set(&self, t: chrono::DateTime<chrono::Utc>) {
        *self.0.lock().unwrap() = t;
    }
}

impl calmeet::sync::Clock for FixedClock {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        *self.0.lock().unwrap()
    }
}

/// Writes `dir/config.toml` for one ICS feed calendar "feed" at `url` (read-only: no
/// write-back), `extra` appended to its `[[calendar]]` table and `top` to the top level, with
/// the fake's API keys, and builds the engine `calmeet sync` would, its clock set to `clock`.
pub fn feed_engine(
    dir: &Path,
    fake: &FakeTencent,
    url: &str,
    top: &str,
    extra: &str,
    clock: std::sync::Arc<FixedClock>,
) -> Engine<TencentClient> {
    let mut cfg = format!(
        "timezone = \"Asia/Shanghai\"\nstate_db = \"state.db\"\n{top}\n[meeting]\napi_base = \"{}\"\napp_id = \"{}\"\nsecret_id = \"{}\"\nsecret_key = \"{}\"\nuserid = \"zhangsan\"\n",
        fake.base_url, fake.app_id, fake.secret_id, fake.secret_key
    );
    if let Some(sdk) = &fake.sdk_id {
        writeln!(cfg, "sdk_id = \"{sdk}\"").unwrap();
    }
    write!(
        cfg,
        "[[calendar]]\nname = \"feed\"\nurl = \"{url}\"\nkind = \"ics\"\n{extra}\n"
    )
    .unwrap();
    let path = dir.join("config.toml");
    std::fs::write(&path, cfg).unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let config = calmeet::config::Config::load(&path).unwrap();
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let mut engine = calmeet::cli::build_engine(config, false, rx).unwrap();
    engine.clock = clock;
    engine
}
