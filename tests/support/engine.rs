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
