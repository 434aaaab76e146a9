//! The configuration file: parsing, validation, lookup and secret resolution.
//!
//! `Config::parse` works on a string so it can be unit-tested with inline TOML; finding the file
//! (`locate`) and reading secrets (`Secret::resolve`) are separate steps. Every default lives in
//! this file. Unknown keys are an error so that a typo is never silently ignored, and no secret
//! ever reaches a `Debug` or `Display` impl. Secrets live in [`Secret`], whose memory is
//! zeroized when dropped; the file texts they are read from (the config file, a `*_file`) are
//! zeroized too.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use thiserror::Error;
use zeroize::Zeroizing;

/// The default schedule: every five minutes, at second 0 (cron crate syntax, seconds first).
pub const DEFAULT_SCHEDULE: &str = "0 */5 * * * *";
/// The default Tencent Meeting API base URL.
pub const DEFAULT_API_BASE: &str = "https://api.meeting.qq.com";
/// Categories that tag an event when a calendar has no `[calendar.match]` table.
pub const DEFAULT_CATEGORIES: &[&str] = &["Tencent Meeting", "腾讯会议", "online-meeting"];
/// LOCATION substrings that tag an event when a calendar has no `[calendar.match]` table.
pub const DEFAULT_LOCATION_KEYWORDS: &[&str] = &["Tencent Meeting", "腾讯会议"];
/// Environment variable that may hold the API secret key.
pub const SECRET_KEY_ENV: &str = "CALMEET_SECRET_KEY";

/// A configuration problem; the binary exits with `EX_CONFIG` (78) on it.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The TOML is malformed or a key is unknown or of the wrong type.
    #[error("{path}: {message}")]
    Syntax {
        /// The file the text came from.
        path: String,
        /// The TOML parser's message, which names the line, column and key.
        message: String,
    },
    /// A value is present but not acceptable.
    #[error("{path}: key `{key}`: {message}")]
    Invalid {
        /// The file the text came from.
        path: String,
        /// Dotted key, e.g. `calendar[1].url`.
        key: String,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// No configuration file was found or it could not be read.
    #[error("{0}")]
    NotFound(String),
    /// A secret could not be read.
    #[error("{0}")]
    Secret(String),
}

/// A secret string (API key, password, bearer token). Its `Debug` and `Display` never show
/// the value, and its memory is overwritten with zeros when it is dropped (each clone too).
///
/// Read it with [`Secret::expose`] only where it is used: HMAC signing, building an
/// `Authorization` header.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    /// Wraps a secret value. The `String` is moved in, not copied; a `&str` is copied once
    /// (the caller's copy is the caller's to clear).
    #[must_use]
    pub fn new(value: impl Into<String>) -> Self {
        Self(Zeroizing::new(value.into()))
    }

    /// The secret itself; call only where it is sent or used for signing.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self::new(value)
    }
}

impl From<&String> for Secret {
    fn from(value: &String) -> Self {
        Self::new(value.as_str())
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self::new(value)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret::new)
    }
}

/// Where a calendar's events come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CalendarKind {
    /// A CalDAV collection: read with REPORTs, written back with `If-Match`.
    Caldav,
    /// An iCalendar feed (http, https, webcal or a local file): read-only.
    Ics,
}

/// Whether to put the join URL into an empty LOCATION.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum LocationPolicy {
    /// Never touch LOCATION (default).
    #[default]
    Never,
    /// Write the join URL into LOCATION when it is absent or empty.
    IfEmpty,
}

/// How events are recognised as online meetings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchRules {
    /// CATEGORIES values (case-insensitive, exact after trimming).
    #[serde(default)]
    pub categories: Vec<String>,
    /// Substrings searched in SUMMARY, LOCATION and DESCRIPTION (case-insensitive).
    #[serde(default)]
    pub keywords: Vec<String>,
}

/// One `[[calendar]]` table. `Debug` shows the URL without a password in its userinfo.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarConfig {
    /// Unique name: the key in state and logs.
    pub name: String,
    /// Collection URL (caldav) or feed URL / file path (ics).
    pub url: String,
    /// Source kind.
    pub kind: CalendarKind,
    /// User name for HTTP Basic authentication.
    pub username: Option<String>,
    /// Inline password (discouraged; prefer `password_file`).
    pub password: Option<Secret>,
    /// File holding the password (e.g. under `$CREDENTIALS_DIRECTORY`).
    pub password_file: Option<PathBuf>,
    /// Inline bearer token (discouraged; prefer `token_file`).
    pub token: Option<Secret>,
    /// File holding a bearer token.
    pub token_file: Option<PathBuf>,
    /// Creator of this calendar's meetings; defaults to `meeting.userid`.
    pub userid: Option<String>,
    /// Write the join link back into events (caldav only). Default: true for caldav.
    pub write_back: Option<bool>,
    /// Whether to fill an empty LOCATION with the join URL.
    #[serde(default)]
    pub location: LocationPolicy,
    /// Tag rules; the defaults apply when absent.
    #[serde(rename = "match")]
    pub match_rules: Option<MatchRules>,
    /// Seconds one request to this calendar's server may take (connect + answer), 1 to 600.
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
    /// Accept any TLS certificate for this calendar (self-signed test servers only). Logged
    /// as a warning on every pass; TLS verification is on for everything else.
    #[serde(default)]
    pub insecure_skip_verify: bool,
}

impl fmt::Debug for CalendarConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CalendarConfig")
            .field("name", &self.name)
            .field("url", &crate::source::ics::redact_url(&self.url))
            .field("kind", &self.kind)
            .field("username", &self.username)
            .field("password", &self.password)
            .field("password_file", &self.password_file)
            .field("token", &self.token)
            .field("token_file", &self.token_file)
            .field("userid", &self.userid)
            .field("write_back", &self.write_back)
            .field("location", &self.location)
            .field("match_rules", &self.match_rules)
            .field("timeout_secs", &self.timeout_secs)
            .field("insecure_skip_verify", &self.insecure_skip_verify)
            .finish()
    }
}

impl CalendarConfig {
    /// Whether calmeet writes back into this calendar.
    #[must_use]
    pub fn writes_back(&self) -> bool {
        self.kind == CalendarKind::Caldav && self.write_back.unwrap_or(true)
    }

    /// How long one request to this calendar's server may take.
    #[must_use]
    pub fn timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.timeout_secs)
    }

    /// Resolves this calendar's password from `password` or `password_file`.
    ///
    /// # Errors
    /// When the file cannot be read.
    pub fn resolve_password(&self, base: &Path) -> Result<Option<Secret>, ConfigError> {
        resolve_secret(
            self.password.as_ref(),
            self.password_file.as_deref(),
            None,
            base,
        )
        .map_err(|e| ConfigError::Secret(format!("calendar '{}': password: {e}", self.name)))
    }

    /// Resolves this calendar's bearer token from `token` or `token_file`.
    ///
    /// # Errors
    /// When the file cannot be read.
    pub fn resolve_token(&self, base: &Path) -> Result<Option<Secret>, ConfigError> {
        resolve_secret(self.token.as_ref(), self.token_file.as_deref(), None, base)
            .map_err(|e| ConfigError::Secret(format!("calendar '{}': token: {e}", self.name)))
    }
}

/// The `[meeting]` table: Tencent Meeting REST API access.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeetingConfig {
    /// API base URL.
    #[serde(default = "default_api_base")]
    pub api_base: String,
    /// Enterprise id (`AppId` header).
    #[serde(default)]
    pub app_id: String,
    /// Application id (`SdkId` header), only when one was assigned.
    pub sdk_id: Option<String>,
    /// `X-TC-Key`.
    #[serde(default)]
    pub secret_id: String,
    /// Inline secret key (discouraged).
    pub secret_key: Option<Secret>,
    /// File holding the secret key.
    pub secret_key_file: Option<PathBuf>,
    /// Default creator of meetings.
    #[serde(default)]
    pub userid: String,
    /// Device type sent as `instanceid`.
    #[serde(default = "default_instanceid")]
    pub instanceid: i64,
    /// Extra `settings` passed to the API as-is.
    #[serde(default)]
    pub settings: toml::Table,
    /// Optional meeting password (4–6 digits) for every meeting.
    pub password: Option<String>,
    /// Longest subject sent, in characters (the API documents no limit; stay conservative).
    #[serde(default = "default_subject_max")]
    pub subject_max_chars: usize,
    /// `[meeting.users]`: e-mail address → Tencent userid. A mapped ORGANIZER becomes the
    /// creator, mapped ATTENDEEs the invitees; unmapped addresses are ignored.
    #[serde(default)]
    pub users: std::collections::BTreeMap<String, String>,
    /// Seconds one API request may take before it counts as failed (1–300). A create that
    /// times out is ambiguous and reconciled on the next pass, never simply repeated.
    #[serde(default = "default_api_timeout")]
    pub timeout_secs: u64,
    /// Seconds to wait after a create's outcome was left in doubt (timeout, dropped answer,
    /// server error, or calmeet killed while the create was in flight: counted from when it
    /// was about to be sent) before concluding, from a listing that does not show it, that it
    /// did not happen: the server may still be committing it. Until then the event is neither
    /// created again nor, when it left the calendar meanwhile, forgotten. 0–3600, default 120
    /// (shorter than any sensible schedule, so a daemon never notices).
    #[serde(default = "default_reconcile_grace")]
    pub reconcile_grace_secs: u64,
    /// Most API calls (retries included) calmeet starts in any minute; Tencent's documented
    /// limit is 300 per minute per app, answered with error 190310 beyond it.
    #[serde(default = "default_max_calls_per_minute")]
    pub max_calls_per_minute: u32,
}

impl Default for MeetingConfig {
    fn default() -> Self {
        Self {
            api_base: default_api_base(),
            app_id: String::new(),
            sdk_id: None,
            secret_id: String::new(),
            secret_key: None,
            secret_key_file: None,
            userid: String::new(),
            instanceid: default_instanceid(),
            settings: toml::Table::new(),
            password: None,
            subject_max_chars: default_subject_max(),
            users: std::collections::BTreeMap::new(),
            timeout_secs: default_api_timeout(),
            reconcile_grace_secs: default_reconcile_grace(),
            max_calls_per_minute: default_max_calls_per_minute(),
        }
    }
}

impl MeetingConfig {
    /// Resolves the secret key: `secret_key`, then `secret_key_file`, then `$CALMEET_SECRET_KEY`.
    ///
    /// # Errors
    /// When none is set or the file cannot be read.
    pub fn resolve_secret_key(&self, base: &Path) -> Result<Secret, ConfigError> {
        let env = std::env::var(SECRET_KEY_ENV).ok().map(Secret::new);
        resolve_secret(
            self.secret_key.as_ref(),
            self.secret_key_file.as_deref(),
            env.as_ref(),
            base,
        )
        .map_err(|e| ConfigError::Secret(format!("meeting.secret_key: {e}")))?
        .ok_or_else(|| {
            ConfigError::Secret(format!(
                "meeting.secret_key: not set; set secret_key_file (or {SECRET_KEY_ENV})"
            ))
        })
    }

    /// The Tencent userid mapped to an e-mail address in `[meeting.users]` (case-insensitive).
    #[must_use]
    pub fn user_for(&self, email: &str) -> Option<&str> {
        self.users
            .iter()
            .find(|(k, _)| k.trim().eq_ignore_ascii_case(email.trim()))
            .map(|(_, v)| v.as_str())
    }

    /// Whether enough is configured to call the API (everything but the secret).
    #[must_use]
    pub fn has_credentials(&self) -> bool {
        !self.app_id.is_empty() && !self.secret_id.is_empty() && !self.userid.is_empty()
    }
}

/// The whole configuration, validated.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Cron expression (cron crate syntax: `sec min hour dom mon dow [year]`).
    #[serde(default = "default_schedule")]
    pub schedule: String,
    /// IANA zone for floating times; the system zone when absent.
    pub timezone: Option<String>,
    /// How far ahead events are considered.
    #[serde(default = "default_horizon")]
    pub horizon_days: u32,
    /// SQLite state file.
    pub state_db: Option<PathBuf>,
    /// How many calendars are polled at once.
    #[serde(default = "default_concurrency")]
    pub max_concurrency: usize,
    /// Share of a calendar's live meetings that may be cancelled in one pass before the
    /// mass-deletion guard holds the cancellations (0.0–1.0).
    #[serde(default = "default_cancel_guard")]
    pub max_cancel_share: f64,
    /// API access.
    #[serde(default)]
    pub meeting: MeetingConfig,
    /// The calendars.
    #[serde(default, rename = "calendar")]
    pub calendars: Vec<CalendarConfig>,
    /// Directory of the config file: relative paths are resolved against it.
    #[serde(skip)]
    pub base_dir: PathBuf,
    /// Where the config was read from (for messages).
    #[serde(skip)]
    pub source: String,
}

fn default_api_base() -> String {
    DEFAULT_API_BASE.to_owned()
}
fn default_instanceid() -> i64 {
    1
}
fn default_subject_max() -> usize {
    100
}
fn default_max_calls_per_minute() -> u32 {
    crate::tencent::client::DEFAULT_CALLS_PER_MINUTE
}
fn default_api_timeout() -> u64 {
    30
}
fn default_reconcile_grace() -> u64 {
    120
}

fn default_timeout_secs() -> u64 {
    crate::sync::SOURCE_TIMEOUT.as_secs()
}
fn default_schedule() -> String {
    DEFAULT_SCHEDULE.to_owned()
}
fn default_horizon() -> u32 {
    90
}
fn default_concurrency() -> usize {
    4
}
fn default_cancel_guard() -> f64 {
    0.5
}

impl Config {
    /// Parses and validates configuration text. `source` names the file in messages and
    /// `base_dir` anchors relative paths.
    ///
    /// # Errors
    /// A `ConfigError` naming the key (and line, where the TOML parser gives one).
    pub fn parse(text: &str, source: &str, base_dir: &Path) -> Result<Self, ConfigError> {
        let mut config: Config = toml::from_str(text).map_err(|e| ConfigError::Syntax {
            path: source.to_owned(),
            message: e.to_string().trim_end().to_owned(),
        })?;
        config.base_dir = base_dir.to_path_buf();
        config.source = source.to_owned();
        config.validate()?;
        Ok(config)
    }

    /// Reads and parses a config file.
    ///
    /// # Errors
    /// When the file cannot be read or is invalid.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        // The text may hold inline secrets: zeroized once parsed.
        let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| {
            ConfigError::NotFound(format!("cannot read config {}: {e}", path.display()))
        })?);
        let base = path
            .parent()
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        let config = Config::parse(&text, &path.display().to_string(), &base)?;
        config.check_file_permissions(path)?;
        Ok(config)
    }

    /// Keys holding a secret inline in the file (`secret_key`, `password`, `token`, or a
    /// password inside a URL).
    #[must_use]
    pub fn inline_secret_keys(&self) -> Vec<String> {
        let mut keys = Vec::new();
        if self.meeting.secret_key.is_some() {
            keys.push("meeting.secret_key".to_owned());
        }
        for (i, cal) in self.calendars.iter().enumerate() {
            if cal.password.is_some() {
                keys.push(format!("calendar[{i}].password"));
            }
            if cal.token.is_some() {
                keys.push(format!("calendar[{i}].token"));
            }
            let url = crate::source::ics::http_url(&cal.url).unwrap_or_default();
            if url::Url::parse(&url).is_ok_and(|u| u.password().is_some()) {
                keys.push(format!("calendar[{i}].url"));
            }
        }
        keys
    }

    /// Refuses a file every user can read while it holds an inline secret.
    fn check_file_permissions(&self, path: &Path) -> Result<(), ConfigError> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let keys = self.inline_secret_keys();
            let Some(first) = keys.first() else {
                return Ok(());
            };
            let mode = std::fs::metadata(path)
                .map_err(|e| {
                    ConfigError::NotFound(format!("cannot read config {}: {e}", path.display()))
                })?
                .permissions()
                .mode();
            if mode & 0o004 != 0 {
                return Err(self.invalid(
                    first,
                    format!(
                        "the file is readable by every user (mode {:o}) and holds a secret \
                         inline ({}); run `chmod 600 {}`, or move the secret to a *_file key \
                         or ${SECRET_KEY_ENV}",
                        mode & 0o777,
                        keys.join(", "),
                        path.display()
                    ),
                ));
            }
        }
        #[cfg(not(unix))]
        let _ = path;
        Ok(())
    }

    fn invalid(&self, key: &str, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            path: self.source.clone(),
            key: key.to_owned(),
            message: message.into(),
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        use std::str::FromStr;
        if let Err(e) = cron::Schedule::from_str(&self.schedule) {
            return Err(self.invalid(
                "schedule",
                format!(
                    "'{}' is not a valid schedule ({e}); the syntax is 6 or 7 fields with \
                     seconds first: 'sec min hour day-of-month month day-of-week [year]', e.g. \
                     '0 */5 * * * *'; write weekdays as names (Mon-Fri): 1 means Sunday",
                    self.schedule
                ),
            ));
        }
        if let Some(tz) = &self.timezone
            && tz.parse::<chrono_tz::Tz>().is_err()
        {
            return Err(self.invalid(
                "timezone",
                format!("'{tz}' is not an IANA time zone name (e.g. Asia/Shanghai)"),
            ));
        }
        if !(1..=3650).contains(&self.horizon_days) {
            return Err(self.invalid("horizon_days", "must be between 1 and 3650"));
        }
        if !(1..=64).contains(&self.max_concurrency) {
            return Err(self.invalid("max_concurrency", "must be between 1 and 64"));
        }
        if !(0.0..=1.0).contains(&self.max_cancel_share) {
            return Err(self.invalid("max_cancel_share", "must be between 0.0 and 1.0"));
        }
        if !self.meeting.api_base.starts_with("https://")
            && !self.meeting.api_base.starts_with("http://")
        {
            return Err(self.invalid("meeting.api_base", "must be an http(s) URL"));
        }
        if let Some(p) = &self.meeting.password
            && (!(4..=6).contains(&p.len()) || !p.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(self.invalid("meeting.password", "must be 4 to 6 digits"));
        }
        if !(10..=500).contains(&self.meeting.subject_max_chars) {
            return Err(self.invalid("meeting.subject_max_chars", "must be between 10 and 500"));
        }
        if !(1..=300).contains(&self.meeting.timeout_secs) {
            return Err(self.invalid("meeting.timeout_secs", "must be between 1 and 300 seconds"));
        }
        if self.meeting.reconcile_grace_secs > 3600 {
            return Err(self.invalid(
                "meeting.reconcile_grace_secs",
                "must be between 0 and 3600 seconds",
            ));
        }
        if !(1..=100_000).contains(&self.meeting.max_calls_per_minute) {
            return Err(self.invalid(
                "meeting.max_calls_per_minute",
                "must be between 1 and 100000 (Tencent's default limit is 300)",
            ));
        }
        if self.meeting.secret_key.is_some() && self.meeting.secret_key_file.is_some() {
            return Err(self.invalid(
                "meeting.secret_key",
                "set either secret_key or secret_key_file, not both",
            ));
        }
        check_userid(&self.meeting.userid)
            .map_err(|m| self.invalid("meeting.userid", m.to_owned()))?;
        for (email, userid) in &self.meeting.users {
            let key = format!("meeting.users.\"{email}\"");
            if !email.contains('@') {
                return Err(self.invalid(&key, "keys are e-mail addresses (name@example.com)"));
            }
            if userid.trim().is_empty() {
                return Err(self.invalid(&key, "the userid must not be empty"));
            }
            check_userid(userid).map_err(|m| self.invalid(&key, m.to_owned()))?;
        }
        let mut names = std::collections::HashSet::new();
        for (i, cal) in self.calendars.iter().enumerate() {
            let key = |k: &str| format!("calendar[{i}].{k}");
            if cal.name.trim().is_empty() {
                return Err(self.invalid(&key("name"), "must not be empty"));
            }
            if !names.insert(cal.name.as_str()) {
                return Err(self.invalid(
                    &key("name"),
                    format!(
                        "'{}' is used by two calendars; names must be unique",
                        cal.name
                    ),
                ));
            }
            let is_http = cal.url.starts_with("http://") || cal.url.starts_with("https://");
            match cal.kind {
                CalendarKind::Caldav if !is_http => {
                    return Err(self.invalid(&key("url"), "a caldav url must be http(s)"));
                }
                CalendarKind::Ics
                    if cal.username.is_some()
                        || cal.password.is_some()
                        || cal.password_file.is_some()
                        || cal.token.is_some()
                        || cal.token_file.is_some() =>
                {
                    return Err(self.invalid(
                        &key("username"),
                        "an ics feed is fetched without credentials (they would be ignored); \
                         use the feed's secret URL, or kind = \"caldav\"",
                    ));
                }
                CalendarKind::Ics if cal.write_back == Some(true) => {
                    return Err(self.invalid(
                        &key("write_back"),
                        "an ics feed is read-only; write_back needs kind = \"caldav\"",
                    ));
                }
                _ => {}
            }
            if is_http && url::Url::parse(&cal.url).is_err() {
                return Err(self.invalid(&key("url"), format!("'{}' is not a valid URL", cal.url)));
            }
            if cal.password.is_some() && cal.password_file.is_some() {
                return Err(self.invalid(
                    &key("password"),
                    "set either password or password_file, not both",
                ));
            }
            if !(1..=600).contains(&cal.timeout_secs) {
                return Err(self.invalid(&key("timeout_secs"), "must be between 1 and 600 seconds"));
            }
            if let Some(u) = &cal.userid {
                check_userid(u).map_err(|m| self.invalid(&key("userid"), m.to_owned()))?;
            }
            if let Some(m) = &cal.match_rules
                && m.categories.is_empty()
                && m.keywords.is_empty()
            {
                return Err(self.invalid(
                    &key("match"),
                    "needs at least one of categories or keywords (remove the table for \
                         the defaults)",
                ));
            }
        }
        Ok(())
    }

    /// The zone used for floating times.
    #[must_use]
    pub fn default_zone(&self) -> chrono_tz::Tz {
        self.timezone
            .as_deref()
            .and_then(|t| t.parse().ok())
            .or_else(system_zone)
            .unwrap_or(chrono_tz::Tz::UTC)
    }

    /// The state database path: `state_db`, then `$STATE_DIRECTORY`, then the user data dir.
    #[must_use]
    pub fn state_path(&self) -> PathBuf {
        if let Some(p) = &self.state_db {
            return self.base_dir.join(p);
        }
        if let Some(dir) = std::env::var_os("STATE_DIRECTORY") {
            // systemd may pass several colon-separated directories; the first is ours.
            let first = dir
                .to_string_lossy()
                .split(':')
                .next()
                .unwrap_or("")
                .to_owned();
            if !first.is_empty() {
                return PathBuf::from(first).join("calmeet.db");
            }
        }
        directories::ProjectDirs::from("", "", "calmeet").map_or_else(
            || PathBuf::from("calmeet.db"),
            |d| d.data_dir().join("calmeet.db"),
        )
    }

    /// Resolves a path from the config against the config file's directory.
    #[must_use]
    pub fn resolve_path(&self, p: &Path) -> PathBuf {
        self.base_dir.join(p)
    }
}

/// Userids go into query strings; the API forbids these characters (reference §5).
fn check_userid(u: &str) -> Result<(), &'static str> {
    if u.len() > 40 {
        return Err("must be at most 40 bytes");
    }
    if u.chars()
        .any(|c| !c.is_ascii() || c.is_ascii_whitespace() || "!*'();:@&=+$,/?#[]".contains(c))
    {
        return Err("must be ASCII without spaces or any of ! * ' ( ) ; : @ & = + $ , / ? # [ ]");
    }
    Ok(())
}

/// The system's zone from `$TZ` or `/etc/localtime`, when it names an IANA zone.
fn system_zone() -> Option<chrono_tz::Tz> {
    if let Ok(tz) = std::env::var("TZ")
        && let Ok(z) = tz.trim_start_matches(':').parse()
    {
        return Some(z);
    }
    let target = std::fs::read_link("/etc/localtime").ok()?;
    let s = target.to_string_lossy();
    let name = s.split("zoneinfo/").nth(1)?;
    name.parse().ok()
}

fn resolve_secret(
    inline: Option<&Secret>,
    file: Option<&Path>,
    env: Option<&Secret>,
    base: &Path,
) -> Result<Option<Secret>, String> {
    if let Some(s) = inline {
        return Ok(Some(s.clone()));
    }
    if let Some(f) = file {
        let path = expand_credentials_dir(f, base);
        // Zeroized on every path; trimmed in place so the value is never copied.
        let mut text = Zeroizing::new(
            std::fs::read_to_string(&path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?,
        );
        let len = text.trim_end_matches(['\r', '\n']).len();
        text.truncate(len);
        if text.is_empty() {
            return Err(format!("{} is empty", path.display()));
        }
        // Moves the buffer (no copy) into the `Secret`, which zeroizes it on drop.
        return Ok(Some(Secret::new(std::mem::take(&mut *text))));
    }
    Ok(env.cloned())
}

/// `$CREDENTIALS_DIRECTORY/x` in a `*_file` key is expanded so the same config works under
/// systemd's `LoadCredential=` and elsewhere.
fn expand_credentials_dir(p: &Path, base: &Path) -> PathBuf {
    let s = p.to_string_lossy();
    if let Some(rest) = s.strip_prefix("$CREDENTIALS_DIRECTORY/")
        && let Some(dir) = std::env::var_os("CREDENTIALS_DIRECTORY")
    {
        return PathBuf::from(dir).join(rest);
    }
    base.join(p)
}

/// Finds the config file: `--config`, `$CALMEET_CONFIG`, the user config dir, `/etc/calmeet`.
///
/// # Errors
/// `NotFound` listing every place that was tried.
pub fn locate(explicit: Option<&Path>) -> Result<PathBuf, ConfigError> {
    if let Some(p) = explicit {
        return Ok(p.to_path_buf());
    }
    if let Some(p) = std::env::var_os("CALMEET_CONFIG") {
        return Ok(PathBuf::from(p));
    }
    let mut tried = Vec::new();
    if let Some(d) = directories::ProjectDirs::from("", "", "calmeet") {
        let p = d.config_dir().join("config.toml");
        if p.exists() {
            return Ok(p);
        }
        tried.push(p);
    }
    let etc = PathBuf::from("/etc/calmeet/config.toml");
    if etc.exists() {
        return Ok(etc);
    }
    tried.push(etc);
    Err(ConfigError::NotFound(format!(
        "no config file found; pass --config FILE or set CALMEET_CONFIG (tried {})",
        tried
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    )))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, "test.toml", Path::new("/cfg"))
    }

    const MINIMAL: &str = r#"
[meeting]
app_id = "200000001"
secret_id = "id"
userid = "alice"

[[calendar]]
name = "team"
url = "https://dav.example.com/cal/"
kind = "caldav"
"#;

    #[test]
    fn minimal_config_gets_defaults() {
        let c = parse(MINIMAL).unwrap();
        assert_eq!(c.schedule, DEFAULT_SCHEDULE);
        assert_eq!(c.horizon_days, 90);
        assert_eq!(c.meeting.api_base, DEFAULT_API_BASE);
        assert_eq!(c.meeting.instanceid, 1);
        assert_eq!(c.meeting.max_calls_per_minute, 300);
        assert!(c.calendars[0].writes_back());
        assert_eq!(c.calendars[0].location, LocationPolicy::Never);
        assert_eq!(c.calendars[0].timeout(), crate::sync::SOURCE_TIMEOUT);
    }

    #[test]
    fn calendar_timeout_is_validated() {
        let with = |t: &str| {
            MINIMAL.replace(
                "kind = \"caldav\"",
                &format!("kind = \"caldav\"\ntimeout_secs = {t}"),
            )
        };
        assert_eq!(
            parse(&with("2")).unwrap().calendars[0].timeout().as_secs(),
            2
        );
        for bad in ["0", "601"] {
            let err = parse(&with(bad)).unwrap_err().to_string();
            assert!(err.contains("calendar[0].timeout_secs"), "{err}");
        }
    }

    #[test]
    fn unknown_key_is_named_with_its_line() {
        let err = parse("horizn_days = 3\n").unwrap_err().to_string();
        assert!(err.contains("horizn_days"), "{err}");
        assert!(err.contains("line 1"), "{err}");
    }

    #[test]
    fn unknown_key_in_calendar_is_an_error() {
        let text = MINIMAL.replace("kind = \"caldav\"", "kind = \"caldav\"\npasword = \"x\"");
        let err = parse(&text).unwrap_err().to_string();
        assert!(err.contains("pasword"), "{err}");
    }

    #[test]
    fn bad_schedule_explains_syntax() {
        let err = parse("schedule = \"*/5 * * * *\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("schedule"), "{err}");
        assert!(err.contains("seconds first"), "{err}");
    }

    #[test]
    fn duplicate_calendar_names_rejected() {
        let text =
            format!("{MINIMAL}\n[[calendar]]\nname = \"team\"\nurl = \"x.ics\"\nkind = \"ics\"\n");
        let err = parse(&text).unwrap_err().to_string();
        assert!(err.contains("calendar[1].name"), "{err}");
    }

    #[test]
    fn meeting_users_map_addresses_case_insensitively() {
        let text = MINIMAL.replace(
            "[[calendar]]",
            "[meeting.users]\n\"ZhangSan@example.com\" = \"zhangsan\"\n\n[[calendar]]",
        );
        let c = parse(&text).unwrap();
        assert_eq!(c.meeting.user_for("zhangsan@EXAMPLE.com"), Some("zhangsan"));
        assert_eq!(c.meeting.user_for("lisi@example.com"), None);
        let bad = MINIMAL.replace(
            "[[calendar]]",
            "[meeting.users]\n\"li@example.com\" = \"li si\"\n\n[[calendar]]",
        );
        let err = parse(&bad).unwrap_err().to_string();
        assert!(err.contains("meeting.users"), "{err}");
    }

    #[test]
    fn ics_write_back_rejected() {
        let text =
            "[[calendar]]\nname = \"f\"\nurl = \"f.ics\"\nkind = \"ics\"\nwrite_back = true\n";
        assert!(parse(text).unwrap_err().to_string().contains("write_back"));
    }

    #[test]
    fn bad_timezone_and_password_rejected() {
        assert!(parse("timezone = \"Mars/Base\"\n").is_err());
        let t = "[meeting]\npassword = \"12\"\n";
        assert!(
            parse(t)
                .unwrap_err()
                .to_string()
                .contains("meeting.password")
        );
    }

    #[test]
    fn userid_with_forbidden_characters_rejected() {
        let t = "[meeting]\nuserid = \"a b\"\n";
        assert!(parse(t).unwrap_err().to_string().contains("meeting.userid"));
    }

    #[test]
    fn secrets_never_print() {
        let t = "[meeting]\nsecret_key = \"TOPSECRET\"\n[[calendar]]\nname = \"c\"\nurl = \"https://x/\"\nkind = \"caldav\"\npassword = \"PW123\"\n[[calendar]]\nname = \"f\"\nurl = \"https://u:URLPW@x/f.ics\"\nkind = \"ics\"\n";
        let c = parse(t).unwrap();
        let dbg = format!("{c:?}");
        assert!(
            !dbg.contains("TOPSECRET") && !dbg.contains("PW123") && !dbg.contains("URLPW"),
            "{dbg}"
        );
        assert!(dbg.contains("https://u@x/f.ics"), "{dbg}");
        assert_eq!(
            c.meeting
                .resolve_secret_key(Path::new("/"))
                .unwrap()
                .expose(),
            "TOPSECRET"
        );
    }

    #[test]
    fn secret_debug_and_display_are_redacted() {
        let s = Secret::new("hunter2-value");
        for text in [format!("{s:?}"), format!("{s}"), format!("{:?}", Some(&s))] {
            assert!(!text.contains("hunter2"), "{text}");
            assert!(text.contains("redacted"), "{text}");
        }
        // Clones and conversions keep the value (each is zeroized on its own drop).
        assert_eq!(s.clone().expose(), "hunter2-value");
        assert_eq!(Secret::from("a").expose(), "a");
        assert_eq!(Secret::from(String::from("b")), Secret::new("b"));
        // The password and token of a CalDAV calendar, once resolved, redact too.
        let t = "[[calendar]]\nname = \"c\"\nurl = \"https://x/\"\nkind = \"caldav\"\nusername = \"u\"\ntoken = \"TOK999\"\npassword = \"PW999\"\n";
        let c = parse(t).unwrap();
        let token = c.calendars[0].resolve_token(Path::new("/")).unwrap();
        let password = c.calendars[0].resolve_password(Path::new("/")).unwrap();
        let text = format!("{token:?} {password:?} {:?}", c.calendars[0]);
        assert!(
            !text.contains("TOK999") && !text.contains("PW999"),
            "{text}"
        );
        assert_eq!(token.unwrap().expose(), "TOK999");
        assert_eq!(password.unwrap().expose(), "PW999");
    }

    #[test]
    fn secret_file_is_read_and_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("key"), "s3cret\n").unwrap();
        let t = "[meeting]\nsecret_key_file = \"key\"\n";
        let c = Config::parse(t, "t", dir.path()).unwrap();
        assert_eq!(
            c.meeting.resolve_secret_key(dir.path()).unwrap().expose(),
            "s3cret"
        );
    }

    #[test]
    fn missing_secret_file_error_names_the_key() {
        let t = "[meeting]\nsecret_key_file = \"/nonexistent/key\"\n";
        let c = parse(t).unwrap();
        let err = c
            .meeting
            .resolve_secret_key(Path::new("/"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("meeting.secret_key"), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn world_readable_file_with_inline_secret_is_refused_with_the_fix() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, "[meeting]\nsecret_key = \"TOPSECRET\"\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = Config::load(&path).unwrap_err().to_string();
        assert!(err.contains("chmod 600"), "{err}");
        assert!(err.contains("meeting.secret_key"), "{err}");
        assert!(!err.contains("TOPSECRET"), "{err}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(Config::load(&path).is_ok());
        // Group-readable (root:calmeet 0640 under /etc) is fine.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        assert!(Config::load(&path).is_ok());
    }

    #[cfg(unix)]
    #[test]
    fn world_readable_file_without_inline_secret_loads() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, MINIMAL).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(Config::load(&path).is_ok());
        // A password inside a URL is an inline secret too.
        let text = MINIMAL.replace("https://dav.example", "https://u:PW@dav.example");
        std::fs::write(&path, text).unwrap();
        let err = Config::load(&path).unwrap_err().to_string();
        assert!(
            err.contains("calendar[0].url") && !err.contains("PW@"),
            "{err}"
        );
    }

    #[test]
    fn ics_credentials_rejected_not_ignored() {
        for extra in [
            "username = \"a\"",
            "password_file = \"pw\"",
            "token = \"t\"",
        ] {
            let t =
                format!("[[calendar]]\nname = \"f\"\nurl = \"f.ics\"\nkind = \"ics\"\n{extra}\n");
            let err = parse(&t).unwrap_err().to_string();
            assert!(err.contains("without credentials"), "{err}");
        }
    }

    #[test]
    fn reconcile_grace_defaults_to_two_minutes_and_is_bounded() {
        assert_eq!(parse(MINIMAL).unwrap().meeting.reconcile_grace_secs, 120);
        let zero = MINIMAL.replace("[meeting]\n", "[meeting]\nreconcile_grace_secs = 0\n");
        assert_eq!(parse(&zero).unwrap().meeting.reconcile_grace_secs, 0);
        let long = MINIMAL.replace("[meeting]\n", "[meeting]\nreconcile_grace_secs = 3601\n");
        match parse(&long) {
            Err(ConfigError::Invalid { key, .. }) => {
                assert_eq!(key, "meeting.reconcile_grace_secs")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn insecure_skip_verify_defaults_off() {
        let c = parse(MINIMAL).unwrap();
        assert!(!c.calendars[0].insecure_skip_verify);
        let text = MINIMAL.replace(
            "kind = \"caldav\"",
            "kind = \"caldav\"\ninsecure_skip_verify = true",
        );
        assert!(parse(&text).unwrap().calendars[0].insecure_skip_verify);
    }

    #[test]
    fn match_rules_parse() {
        let text =
            format!("{MINIMAL}[calendar.match]\ncategories = [\"Online\"]\nkeywords = [\"#tm\"]\n");
        let c = parse(&text).unwrap();
        let m = c.calendars[0].match_rules.as_ref().unwrap();
        assert_eq!(m.keywords, vec!["#tm"]);
    }
}
