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
/// Categories that ask for a live stream of an event's meeting when a calendar has no
/// `[calendar.live_match]` table.
pub const DEFAULT_LIVE_CATEGORIES: &[&str] = &["Live", "直播"];
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
    /// Take every event of the calendar (a calendar kept only for online meetings); then
    /// `categories` and `keywords` must be empty. An empty string among them is refused
    /// instead of silently matching everything.
    #[serde(default)]
    pub all: bool,
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
    // Secrets from commands (issue #15 item 3), see `crate::secret_command`.
    /// Command (argv, no shell) whose first line of output is the password.
    pub password_command: Option<Vec<String>>,
    /// Command (argv, no shell) whose first line of output is the bearer token; run again
    /// when the server answers 401 (once per pass).
    pub token_command: Option<Vec<String>>,
    /// `[calendar.meeting]`: what `[meeting]` sets for every meeting, for this calendar's.
    pub meeting: Option<CalendarMeeting>,
    /// `[calendar.live]`: live streaming of this calendar's meetings.
    pub live: Option<LiveOptions>,
    /// `[calendar.live_match]`: tags that ask for a live stream of one event's meeting;
    /// categories "Live" / "直播" when absent.
    pub live_match: Option<MatchRules>,
    /// The meeting options of this calendar, merged over `[meeting]` and with `*_file`
    /// secrets read; filled in by [`Config::parse`].
    #[serde(skip)]
    pub resolved: ResolvedMeeting,
}

/// Where a meeting's `location` comes from (`[calendar.meeting] location`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MeetingLocation {
    /// The event's LOCATION, cut to the API's limit (18 CJK / 36 Latin characters); a
    /// LOCATION that is a link (calmeet's own join link, say) is not a place and not sent.
    Event,
}

/// `[calendar.meeting]`: per-calendar meeting options (reference §2.2).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarMeeting {
    /// `settings` merged key by key over `[meeting.settings]`.
    #[serde(default)]
    pub settings: toml::Table,
    /// Meeting password (4–6 digits) instead of `meeting.password`.
    pub password: Option<String>,
    /// File holding that password.
    pub password_file: Option<PathBuf>,
    /// Creator of every meeting of this calendar: the mapped ORGANIZER no longer becomes the
    /// creator but a host.
    pub userid: Option<String>,
    /// Device type sent as `instanceid` instead of `meeting.instanceid`.
    pub instanceid: Option<i64>,
    /// `sync_to_wework` on create (the API's default is true; it cannot be modified later).
    pub sync_to_wework: Option<bool>,
    /// `"event"`: send the event's LOCATION as the meeting's location. Default: none sent.
    pub location: Option<MeetingLocation>,
}

/// `[calendar.live]`: live streaming (reference §2.2 `enable_live` / `live_config`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LiveOptions {
    /// Stream every meeting of the calendar (default true); false: only events tagged by
    /// `[calendar.live_match]` (or the default live categories).
    pub all: Option<bool>,
    /// `live_subject`; default the meeting's subject. (The API's names are accepted as
    /// aliases: `live_subject`, `live_summary`, `live_password`, `live_password_file`,
    /// `enable_live_im`, `enable_live_replay`.)
    #[serde(alias = "live_subject")]
    pub subject: Option<String>,
    /// `live_summary`; default the event's DESCRIPTION without calmeet's block.
    #[serde(alias = "live_summary")]
    pub summary: Option<String>,
    /// Inline stream password (discouraged; prefer `password_file`); sets
    /// `enable_live_password`.
    #[serde(alias = "live_password")]
    pub password: Option<Secret>,
    /// File holding the stream password; sets `enable_live_password`.
    #[serde(alias = "live_password_file")]
    pub password_file: Option<PathBuf>,
    /// `enable_live_im`: viewers may chat.
    #[serde(alias = "enable_live_im")]
    pub im: Option<bool>,
    /// `enable_live_replay`: keep a replay.
    #[serde(alias = "enable_live_replay")]
    pub replay: Option<bool>,
}

/// A calendar's meeting options after merging `[calendar.meeting]` over `[meeting]` and
/// reading secret files. `Debug` never shows a password.
#[derive(Clone, Default, PartialEq)]
pub struct ResolvedMeeting {
    /// Merged `settings` (checked against [`SETTINGS`]), as JSON for the request.
    pub settings: serde_json::Map<String, serde_json::Value>,
    /// Meeting password.
    pub password: Option<String>,
    /// Fixed creator (`[calendar.meeting] userid`).
    pub userid: Option<String>,
    /// `instanceid` for this calendar's calls.
    pub instanceid: i64,
    /// `sync_to_wework` on create.
    pub sync_to_wework: Option<bool>,
    /// Send the event's LOCATION as the meeting's location.
    pub location_from_event: bool,
    /// Stream every meeting of the calendar.
    pub live_all: bool,
    /// `[calendar.live]` settings (defaults when absent).
    pub live: LiveOptions,
    /// The stream password, read from `password` or `password_file`.
    pub live_password: Option<Secret>,
}

impl fmt::Debug for ResolvedMeeting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResolvedMeeting")
            .field("settings", &self.settings)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("userid", &self.userid)
            .field("instanceid", &self.instanceid)
            .field("sync_to_wework", &self.sync_to_wework)
            .field("location_from_event", &self.location_from_event)
            .field("live_all", &self.live_all)
            .field("live_password", &self.live_password)
            .finish_non_exhaustive()
    }
}

/// The type a `settings` key takes (reference §2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettingType {
    /// `true` / `false`.
    Bool,
    /// An integer among the listed values.
    Int(&'static [i64]),
    /// A string among the listed values.
    Str(&'static [&'static str]),
}

/// Every `settings` key the create-meeting API takes, with its type (reference §2.2; the SDK's
/// `V1MeetingsPostRequestSettings`). `play_ivr_on_join` / `play_ivr_on_leave` are documented as
/// unsupported and refused.
pub const SETTINGS: &[(&str, SettingType)] = &[
    ("mute_enable_join", SettingType::Bool),
    ("mute_enable_type_join", SettingType::Int(&[0, 1, 2])),
    ("allow_unmute_self", SettingType::Bool),
    ("allow_in_before_host", SettingType::Bool),
    ("auto_in_waiting_room", SettingType::Bool),
    ("allow_screen_shared_watermark", SettingType::Bool),
    ("water_mark_type", SettingType::Int(&[0, 1])),
    ("only_enterprise_user_allowed", SettingType::Bool),
    ("only_user_join_type", SettingType::Int(&[1, 2, 3])),
    (
        "auto_record_type",
        SettingType::Str(&["none", "local", "cloud"]),
    ),
    ("participant_join_auto_record", SettingType::Bool),
    ("enable_host_pause_auto_record", SettingType::Bool),
    ("auto_asr", SettingType::Bool),
    ("open_asr_view", SettingType::Int(&[0, 1])),
    ("change_nickname", SettingType::Int(&[1, 2])),
    ("allow_multi_device", SettingType::Bool),
];

/// Checks one `settings` table against [`SETTINGS`]: `Err((key, message))` names the first
/// unknown key or wrong value.
///
/// # Errors
/// An unknown key, or a value of the wrong type or outside the listed values.
pub fn check_settings(table: &toml::Table) -> Result<(), (String, String)> {
    for (key, value) in table {
        let Some((_, ty)) = SETTINGS.iter().find(|(k, _)| k == key) else {
            let known: Vec<&str> = SETTINGS.iter().map(|(k, _)| *k).collect();
            return Err((
                key.clone(),
                format!(
                    "unknown meeting setting `{key}`; the API takes: {}",
                    known.join(", ")
                ),
            ));
        };
        let ok = match (ty, value) {
            (SettingType::Bool, toml::Value::Boolean(_)) => true,
            (SettingType::Int(allowed), toml::Value::Integer(n)) => allowed.contains(n),
            (SettingType::Str(allowed), toml::Value::String(s)) => allowed.contains(&s.as_str()),
            _ => false,
        };
        if !ok {
            let want = match ty {
                SettingType::Bool => "true or false".to_owned(),
                SettingType::Int(a) => format!(
                    "one of the integers {}",
                    a.iter().map(i64::to_string).collect::<Vec<_>>().join(", ")
                ),
                SettingType::Str(a) => format!("one of the strings \"{}\"", a.join("\", \"")),
            };
            return Err((key.clone(), format!("`{key}` must be {want}, not {value}")));
        }
    }
    Ok(())
}

fn check_password(p: &str) -> Result<(), &'static str> {
    if (4..=6).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err("must be 4 to 6 digits")
    }
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
            .field("password_command", &self.password_command)
            .field("token_command", &self.token_command)
            .field("meeting", &self.resolved)
            .field("live_match", &self.live_match)
            .finish_non_exhaustive()
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

    /// Resolves this calendar's password from `password`, `password_file` or
    /// `password_command`. A command's secret is kept in memory; `fresh` runs it again (after
    /// a 401).
    ///
    /// # Errors
    /// When the file cannot be read or the command fails (named by its exit status).
    pub fn resolve_password(
        &self,
        base: &Path,
        fresh: bool,
    ) -> Result<Option<Secret>, ConfigError> {
        let wrap =
            |e: String| ConfigError::Secret(format!("calendar '{}': password: {e}", self.name));
        if let Some(argv) = &self.password_command {
            return crate::secret_command::fetch(argv, self.timeout(), fresh)
                .map(Some)
                .map_err(|e| wrap(format!("password_command: {e}")));
        }
        resolve_secret(
            self.password.as_ref(),
            self.password_file.as_deref(),
            None,
            base,
        )
        .map_err(wrap)
    }

    /// Resolves this calendar's bearer token from `token`, `token_file` or `token_command`
    /// (`fresh` as for [`Self::resolve_password`]).
    ///
    /// # Errors
    /// When the file cannot be read or the command fails.
    pub fn resolve_token(&self, base: &Path, fresh: bool) -> Result<Option<Secret>, ConfigError> {
        let wrap = |e: String| ConfigError::Secret(format!("calendar '{}': token: {e}", self.name));
        if let Some(argv) = &self.token_command {
            return crate::secret_command::fetch(argv, self.timeout(), fresh)
                .map(Some)
                .map_err(|e| wrap(format!("token_command: {e}")));
        }
        resolve_secret(self.token.as_ref(), self.token_file.as_deref(), None, base).map_err(wrap)
    }

    /// Whether a credential comes from a command, so a 401 is worth one fresh run.
    #[must_use]
    pub fn has_secret_command(&self) -> bool {
        self.password_command.is_some() || self.token_command.is_some()
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
    /// Seconds before the first retry of a create that failed for a reason that may pass (a
    /// server failure, an unknown error code, a rate limit); each further failure doubles the
    /// wait up to `retry_max_secs`, with jitter. 0–3600, default 300.
    #[serde(default = "default_retry_first")]
    pub retry_first_secs: u64,
    /// Longest wait between two retries of a failing create, in seconds. Default 21600 (6 h).
    #[serde(default = "default_retry_max")]
    pub retry_max_secs: u64,
    /// Most creates calmeet starts in any minute (1–300). Unset: creates get no pace of their
    /// own until the API answers 9008 ("at most 9 a minute"); from then on 9.
    pub max_creates_per_minute: Option<u32>,
    /// Command (argv, no shell) whose first line of output is the secret key (issue #15).
    pub secret_key_command: Option<Vec<String>>,
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
            retry_first_secs: default_retry_first(),
            retry_max_secs: default_retry_max(),
            max_creates_per_minute: None,
            secret_key_command: None,
        }
    }
}

impl MeetingConfig {
    /// Resolves the secret key: `secret_key_command`, `secret_key`, then `secret_key_file`,
    /// then `$CALMEET_SECRET_KEY`.
    ///
    /// # Errors
    /// When none is set or the file cannot be read.
    pub fn resolve_secret_key(&self, base: &Path) -> Result<Secret, ConfigError> {
        if let Some(argv) = &self.secret_key_command {
            let timeout = std::time::Duration::from_secs(self.timeout_secs);
            return crate::secret_command::fetch(argv, timeout, false)
                .map_err(|e| ConfigError::Secret(format!("meeting.secret_key_command: {e}")));
        }
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
    /// When passes run: a crontab line or a seconds-first `cron` expression
    /// (`crate::daemon::Schedule`).
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
    /// `host:port` on which `calmeet run` serves `/metrics` and `/healthz` (`crate::metrics`);
    /// off when absent. Prefer a loopback address: the figures are not secret, but not public.
    pub metrics_listen: Option<String>,
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
fn default_retry_first() -> u64 {
    300
}
fn default_retry_max() -> u64 {
    6 * 3600
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
        config.resolve_meetings()?;
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
            if cal.live.as_ref().is_some_and(|l| l.password.is_some()) {
                keys.push(format!("calendar[{i}].live.password"));
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

    /// Merges each calendar's `[calendar.meeting]` / `[calendar.live]` over `[meeting]`,
    /// checks every `settings` key and value, and reads the password files.
    fn resolve_meetings(&mut self) -> Result<(), ConfigError> {
        check_settings(&self.meeting.settings)
            .map_err(|(k, m)| self.invalid(&format!("meeting.settings.{k}"), m))?;
        let mut resolved = Vec::with_capacity(self.calendars.len());
        for (i, cal) in self.calendars.iter().enumerate() {
            let key = |k: &str| format!("calendar[{i}].{k}");
            let own = cal.meeting.clone().unwrap_or_default();
            check_settings(&own.settings)
                .map_err(|(k, m)| self.invalid(&key(&format!("meeting.settings.{k}")), m))?;
            let mut merged = self.meeting.settings.clone();
            merged.extend(own.settings.clone());
            let settings = serde_json::to_value(&merged)
                .ok()
                .and_then(|v| v.as_object().cloned())
                .unwrap_or_default();
            if own.password.is_some() && own.password_file.is_some() {
                return Err(self.invalid(
                    &key("meeting.password"),
                    "set either password or password_file, not both",
                ));
            }
            let own_password = match (&own.password, &own.password_file) {
                (Some(p), _) => Some(p.clone()),
                (None, Some(f)) => resolve_secret(None, Some(f), None, &self.base_dir)
                    .map_err(|e| self.invalid(&key("meeting.password_file"), e))?
                    .map(|s| s.expose().trim().to_owned()),
                (None, None) => None,
            };
            if let Some(p) = &own_password {
                check_password(p).map_err(|m| self.invalid(&key("meeting.password"), m))?;
            }
            if let Some(u) = &own.userid {
                check_userid(u).map_err(|m| self.invalid(&key("meeting.userid"), m))?;
            }
            if let Some(n) = own.instanceid
                && !(0..=100).contains(&n)
            {
                return Err(self.invalid(
                    &key("meeting.instanceid"),
                    "must be a device type between 0 and 100 (1 = PC)",
                ));
            }
            let live = cal.live.clone().unwrap_or_default();
            if live.password.is_some() && live.password_file.is_some() {
                return Err(self.invalid(
                    &key("live.password"),
                    "set either password or password_file, not both",
                ));
            }
            let live_password = resolve_secret(
                live.password.as_ref(),
                live.password_file.as_deref(),
                None,
                &self.base_dir,
            )
            .map_err(|e| self.invalid(&key("live.password_file"), e))?;
            if let Some(p) = &live_password {
                check_password(p.expose()).map_err(|m| self.invalid(&key("live.password"), m))?;
            }
            if let Some(m) = &cal.live_match
                && m.categories.is_empty()
                && m.keywords.is_empty()
                && !m.all
            {
                return Err(self.invalid(
                    &key("live_match"),
                    "needs at least one of categories or keywords (remove the table for \
                     the defaults)",
                ));
            }
            resolved.push(ResolvedMeeting {
                settings,
                password: own_password.or_else(|| self.meeting.password.clone()),
                userid: own.userid.clone(),
                instanceid: own.instanceid.unwrap_or(self.meeting.instanceid),
                sync_to_wework: own.sync_to_wework,
                location_from_event: own.location == Some(MeetingLocation::Event),
                live_all: cal.live.is_some() && live.all.unwrap_or(true),
                live,
                live_password,
            });
        }
        for (cal, r) in self.calendars.iter_mut().zip(resolved) {
            cal.resolved = r;
        }
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
        if let Err(e) = crate::daemon::Schedule::parse(&self.schedule, None) {
            return Err(self.invalid("schedule", e.to_string()));
        }
        if let Some(addr) = &self.metrics_listen
            && addr.parse::<std::net::SocketAddr>().is_err()
        {
            return Err(self.invalid(
                "metrics_listen",
                format!(
                    "'{addr}' is not an address:port, e.g. \"127.0.0.1:9464\" or \"[::1]:9464\""
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
        if let Some(p) = &self.meeting.password {
            check_password(p).map_err(|m| self.invalid("meeting.password", m))?;
        }
        if !(10..=crate::sync::plan::SUBJECT_MAX_BYTES).contains(&self.meeting.subject_max_chars) {
            return Err(self.invalid(
                "meeting.subject_max_chars",
                "must be between 10 and 384: the API takes at most 512 bytes of Base64, \
                 384 bytes of UTF-8, so a longer subject can never be sent",
            ));
        }
        if self
            .meeting
            .max_creates_per_minute
            .is_some_and(|n| !(1..=300).contains(&n))
        {
            return Err(self.invalid(
                "meeting.max_creates_per_minute",
                "must be between 1 and 300",
            ));
        }
        if self.meeting.retry_first_secs > 3600 {
            return Err(self.invalid(
                "meeting.retry_first_secs",
                "must be between 0 and 3600 seconds",
            ));
        }
        if self.meeting.retry_max_secs < self.meeting.retry_first_secs
            || self.meeting.retry_max_secs > 7 * 86_400
        {
            return Err(self.invalid(
                "meeting.retry_max_secs",
                "must be at least retry_first_secs and at most 604800 (7 days)",
            ));
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
        self.validate_secret_sources(
            "meeting.",
            "secret_key",
            self.meeting.secret_key.is_some(),
            self.meeting.secret_key_file.is_some(),
            self.meeting.secret_key_command.as_deref(),
        )?;
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
                        || cal.token_file.is_some()
                        || cal.has_secret_command() =>
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
            let prefix = format!("calendar[{i}].");
            self.validate_secret_sources(
                &prefix,
                "password",
                cal.password.is_some(),
                cal.password_file.is_some(),
                cal.password_command.as_deref(),
            )?;
            self.validate_secret_sources(
                &prefix,
                "token",
                cal.token.is_some(),
                cal.token_file.is_some(),
                cal.token_command.as_deref(),
            )?;
            if !(1..=600).contains(&cal.timeout_secs) {
                return Err(self.invalid(&key("timeout_secs"), "must be between 1 and 600 seconds"));
            }
            if let Some(u) = &cal.userid {
                check_userid(u).map_err(|m| self.invalid(&key("userid"), m.to_owned()))?;
            }
            if let Some(m) = &cal.match_rules {
                self.validate_match(m, &key("match"))?;
            }
        }
        Ok(())
    }

    /// One secret has one source: `NAME`, `NAME_file` or `NAME_command`; a command is a
    /// non-empty argv list whose program is named.
    fn validate_secret_sources(
        &self,
        prefix: &str,
        name: &str,
        inline: bool,
        file: bool,
        command: Option<&[String]>,
    ) -> Result<(), ConfigError> {
        if usize::from(inline) + usize::from(file) + usize::from(command.is_some()) > 1 {
            return Err(self.invalid(
                &format!("{prefix}{name}"),
                format!("set only one of {name}, {name}_file and {name}_command"),
            ));
        }
        if let Some(argv) = command
            && argv.first().is_none_or(|p| p.trim().is_empty())
        {
            return Err(self.invalid(
                &format!("{prefix}{name}_command"),
                "must be a list naming a program and its arguments, run without a shell, e.g. \
                 [\"pass\", \"show\", \"calendar\"]",
            ));
        }
        Ok(())
    }

    /// Checks one `[calendar.match]` table: `all = true` alone, or at least one non-empty
    /// category or keyword. An empty (or blank) string would be a substring of every event, so
    /// it is refused with a pointer to `all = true`, which says the same thing on purpose.
    fn validate_match(&self, m: &MatchRules, key: &str) -> Result<(), ConfigError> {
        for (field, values) in [("categories", &m.categories), ("keywords", &m.keywords)] {
            if let Some(i) = values.iter().position(|v| v.trim().is_empty()) {
                return Err(self.invalid(
                    &format!("{key}.{field}[{i}]"),
                    "an empty string would match every event; remove it, or write \
                     `all = true` in [calendar.match] to take every event on purpose",
                ));
            }
        }
        let has_tags = !m.categories.is_empty() || !m.keywords.is_empty();
        if m.all && has_tags {
            return Err(self.invalid(
                &format!("{key}.all"),
                "all = true takes every event, so categories and keywords would be ignored; \
                 remove them or remove `all`",
            ));
        }
        if !m.all && !has_tags {
            return Err(self.invalid(
                key,
                "needs at least one of categories or keywords, or `all = true` for every \
                 event (remove the table for the defaults)",
            ));
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

/// Userids as the API takes them (reference §2.1, §5): at most 40 bytes of ASCII letters,
/// digits and the characters SSO-provisioned ids use (`@ + . - _`); they go into query
/// strings percent-encoded and signed as sent, as the official SDKs do (§1.5). `"1"` is
/// refused: the seed documentation says it causes undefined errors.
///
/// # Errors
/// The rule the userid breaks.
pub fn check_userid(u: &str) -> Result<(), &'static str> {
    if u.len() > 40 {
        return Err("must be at most 40 bytes");
    }
    if u == "1" {
        return Err("\"1\" is not a usable userid (the API documents undefined errors for it)");
    }
    if u.chars()
        .any(|c| !(c.is_ascii_alphanumeric() || "@+.-_".contains(c)))
    {
        return Err("may hold only ASCII letters, digits and @ + . - _");
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
        let err = parse(&format!("schedule = \"*/5 * * *\"\n{MINIMAL}"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("key `schedule`"), "{err}");
        assert!(err.contains("seconds first"), "{err}");
        assert!(!err.contains('\n'), "{err}");
    }

    #[test]
    fn crontab_schedule_line_is_accepted() {
        let c = parse(&format!("schedule = \"*/5 * * * *\"\n{MINIMAL}")).unwrap();
        assert_eq!(c.schedule, "*/5 * * * *");
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
        let token = c.calendars[0].resolve_token(Path::new("/"), false).unwrap();
        let password = c.calendars[0]
            .resolve_password(Path::new("/"), false)
            .unwrap();
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

    #[test]
    fn every_settings_key_and_type_is_checked() {
        let with = |table: &str| format!("{MINIMAL}[meeting.settings]\n{table}\n");
        for ok in [
            "auto_in_waiting_room = true",
            "mute_enable_type_join = 2",
            "only_user_join_type = 3",
            "auto_record_type = \"cloud\"",
            "change_nickname = 2",
        ] {
            assert!(parse(&with(ok)).is_ok(), "{ok}");
        }
        for (bad, key) in [
            (
                "auto_in_waitng_room = true",
                "meeting.settings.auto_in_waitng_room",
            ),
            (
                "play_ivr_on_join = true",
                "meeting.settings.play_ivr_on_join",
            ),
            ("mute_enable_join = 1", "meeting.settings.mute_enable_join"),
            (
                "only_user_join_type = 4",
                "meeting.settings.only_user_join_type",
            ),
            (
                "auto_record_type = \"tape\"",
                "meeting.settings.auto_record_type",
            ),
            (
                "water_mark_type = \"0\"",
                "meeting.settings.water_mark_type",
            ),
        ] {
            match parse(&with(bad)) {
                Err(ConfigError::Invalid {
                    key: k, message, ..
                }) => {
                    assert_eq!(k, key, "{bad}: {message}");
                }
                other => panic!("{bad}: {other:?}"),
            }
        }
        // Per calendar too, named with the calendar's index.
        let text = format!("{MINIMAL}[calendar.meeting.settings]\nauto_in_waiting_rom = true\n");
        let err = parse(&text).unwrap_err().to_string();
        assert!(
            err.contains("calendar[0].meeting.settings.auto_in_waiting_rom"),
            "{err}"
        );
    }

    #[test]
    fn calendar_meeting_options_merge_over_the_global_ones() {
        let text = String::from(
            "[meeting]\napp_id = \"1\"\nsecret_id = \"s\"\nuserid = \"alice\"\npassword = \"1234\"\n\
             [meeting.settings]\nmute_enable_join = true\nallow_unmute_self = false\n\
             [[calendar]]\nname = \"a\"\nurl = \"https://x/a/\"\nkind = \"caldav\"\n\
             [calendar.meeting]\npassword = \"56789\"\ninstanceid = 5\nuserid = \"room.1+a@example.com\"\n\
             [calendar.meeting.settings]\nmute_enable_join = false\n\
             [[calendar]]\nname = \"b\"\nurl = \"https://x/b/\"\nkind = \"caldav\"\n",
        );
        let c = parse(&text).unwrap();
        let (a, b) = (&c.calendars[0].resolved, &c.calendars[1].resolved);
        assert_eq!(a.settings["mute_enable_join"], false);
        assert_eq!(a.settings["allow_unmute_self"], false);
        assert_eq!(b.settings["mute_enable_join"], true);
        assert_eq!(a.password.as_deref(), Some("56789"));
        assert_eq!(b.password.as_deref(), Some("1234"));
        assert_eq!((a.instanceid, b.instanceid), (5, 1));
        assert_eq!(a.userid.as_deref(), Some("room.1+a@example.com"));
        assert!(!format!("{c:?}").contains("56789"), "password in Debug");
        let bad = text.replace("56789", "12");
        let err = parse(&bad).unwrap_err().to_string();
        assert!(err.contains("calendar[0].meeting.password"), "{err}");
    }

    #[test]
    fn password_files_are_read_for_the_meeting_and_the_live_stream() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("mpw"), "4321\n").unwrap();
        std::fs::write(dir.path().join("lpw"), "8765\n").unwrap();
        let text = format!(
            "{MINIMAL}[calendar.meeting]\npassword_file = \"mpw\"\n[calendar.live]\npassword_file = \"lpw\"\nim = true\n"
        );
        let c = Config::parse(&text, "t", dir.path()).unwrap();
        let r = &c.calendars[0].resolved;
        assert_eq!(r.password.as_deref(), Some("4321"));
        assert_eq!(r.live_password.as_ref().map(Secret::expose), Some("8765"));
        assert!(
            r.live_all,
            "[calendar.live] streams every meeting by default"
        );
        assert_eq!(r.live.im, Some(true));
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("4321") && !dbg.contains("8765"), "{dbg}");
        std::fs::write(dir.path().join("lpw"), "abc\n").unwrap();
        let err = Config::parse(&text, "t", dir.path())
            .unwrap_err()
            .to_string();
        assert!(err.contains("calendar[0].live.password"), "{err}");
        let missing = text.replace("mpw", "nope");
        let err = Config::parse(&missing, "t", dir.path())
            .unwrap_err()
            .to_string();
        assert!(err.contains("calendar[0].meeting.password_file"), "{err}");
    }

    #[test]
    fn live_keys_also_take_the_api_names() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("lpw"), "1357\n").unwrap();
        let text = format!(
            "{MINIMAL}[calendar.live]\nlive_password_file = \"lpw\"\nenable_live_im = true\nenable_live_replay = false\nlive_subject = \"S\"\n"
        );
        let c = Config::parse(&text, "t", dir.path()).unwrap();
        let r = &c.calendars[0].resolved;
        assert_eq!(r.live_password.as_ref().map(Secret::expose), Some("1357"));
        assert_eq!((r.live.im, r.live.replay), (Some(true), Some(false)));
        assert_eq!(r.live.subject.as_deref(), Some("S"));
    }

    #[test]
    fn userids_take_sso_characters_but_not_one() {
        for ok in ["zhangsan", "li.si+test@example.com", "a-b_c.d", "1234"] {
            assert!(check_userid(ok).is_ok(), "{ok}");
        }
        for bad in [
            "1",
            "a b",
            "a/b",
            "a&b=c",
            "a?b",
            "a#b",
            "张三",
            &"x".repeat(41),
        ] {
            assert!(check_userid(bad).is_err(), "{bad}");
        }
        let t = "[meeting]\nuserid = \"1\"\n";
        assert!(parse(t).unwrap_err().to_string().contains("meeting.userid"));
    }

    #[test]
    fn the_documented_calendar_meeting_options_parse() {
        let example = include_str!("../config.toml.example");
        let start = example
            .find("# --- meeting options of one calendar")
            .unwrap();
        let end = example.find("# --- end of the meeting options").unwrap();
        let block: String = example[start..end]
            .lines()
            .skip(1)
            .filter_map(|l| l.strip_prefix("# "))
            .map(|l| format!("{l}\n"))
            .collect();
        let c = parse(&format!("{MINIMAL}{block}")).unwrap();
        let r = &c.calendars[0].resolved;
        assert_eq!(r.password.as_deref(), Some("2468"));
        assert_eq!(r.userid.as_deref(), Some("room.3f@example.com"));
        assert_eq!(r.sync_to_wework, Some(false));
        assert!(r.location_from_event && r.live_all);
        assert_eq!(r.settings["only_user_join_type"], 3);
        assert_eq!(r.live.replay, Some(true));
        assert!(c.calendars[0].live_match.is_some());
        // And the global example as shipped.
        assert!(Config::parse(example, "example", Path::new("/")).is_ok());
    }

    /// Every shape of `[calendar.match]`: what is accepted, and for what is refused, the key
    /// the message names and the fix it points to.
    #[test]
    fn match_table_forms() {
        /// The table text, and `Ok` or the key and fix the error names.
        type Case<'a> = (&'a str, Result<(), (&'a str, &'a str)>);
        let cases: &[Case] = &[
            ("all = true\n", Ok(())),
            ("keywords = [\"#tm\"]\n", Ok(())),
            ("categories = [\"Online\"]\nall = false\n", Ok(())),
            (
                "keywords = [\"#tm\", \"\"]\n",
                Err(("calendar[0].match.keywords[1]", "all = true")),
            ),
            (
                "categories = [\"  \"]\n",
                Err(("calendar[0].match.categories[0]", "all = true")),
            ),
            (
                "all = true\ncategories = [\"\"]\n",
                Err(("calendar[0].match.categories[0]", "all = true")),
            ),
            (
                "all = true\nkeywords = [\"#tm\"]\n",
                Err(("calendar[0].match.all", "remove")),
            ),
            ("all = false\n", Err(("calendar[0].match`", "all = true"))),
            ("", Err(("calendar[0].match`", "all = true"))),
        ];
        for (table, want) in cases {
            let got = parse(&format!("{MINIMAL}[calendar.match]\n{table}"));
            match (got, want) {
                (Ok(c), Ok(())) => {
                    assert!(c.calendars[0].match_rules.is_some(), "{table}");
                }
                (Err(e @ ConfigError::Invalid { .. }), Err((key, fix))) => {
                    let msg = e.to_string();
                    assert!(msg.contains(&format!("key `{key}")), "{table}: {msg}");
                    assert!(msg.contains(fix), "{table}: {msg}");
                }
                (got, want) => panic!("{table}: got {got:?}, want {want:?}"),
            }
        }
        let c = parse(&format!("{MINIMAL}[calendar.match]\nall = true\n")).unwrap();
        assert!(c.calendars[0].match_rules.as_ref().unwrap().all);
    }

    #[test]
    fn secret_commands_are_argv_lists_with_one_source() {
        let ok = parse(&format!(
            "{MINIMAL}token_command = [\"oauth-helper\", \"--account\", \"me\"]\n"
        ))
        .unwrap();
        assert_eq!(
            ok.calendars[0].token_command.as_deref(),
            Some(&["oauth-helper".to_owned(), "--account".into(), "me".into()][..])
        );
        assert!(ok.calendars[0].has_secret_command());
        let cases = [
            (
                format!("{MINIMAL}password_file = \"pw\"\npassword_command = [\"pass\"]\n"),
                "calendar[0].password",
            ),
            (
                format!("{MINIMAL}token_command = []\n"),
                "calendar[0].token_command",
            ),
            (
                format!("{MINIMAL}password_command = [\"\"]\n"),
                "calendar[0].password_command",
            ),
            (
                MINIMAL.replace(
                    "[meeting]",
                    "[meeting]\nsecret_key = \"k\"\nsecret_key_command = [\"x\"]",
                ),
                "meeting.secret_key",
            ),
            (
                MINIMAL
                    .replace("caldav\"", "ics\"\ntoken_command = [\"x\"]")
                    .replace("https://dav", "https://feed"),
                "calendar[0].username",
            ),
        ];
        for (text, key) in cases {
            let err = parse(&text).unwrap_err().to_string();
            assert!(err.contains(&format!("key `{key}`")), "{text}: {err}");
        }
        // A string instead of a list is a type error, not a shell line run by surprise.
        assert!(parse(&format!("{MINIMAL}password_command = \"pass show x\"\n")).is_err());
    }
}
