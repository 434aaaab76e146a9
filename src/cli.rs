//! The command line: `run`, `sync [--dry-run]`, `status`, `check`.
//!
//! This is the binary's edge: it finds the config, opens the state, builds the clients, runs
//! the engine and maps outcomes to exit codes (0 ok, 1 something failed, 2 usage, 78 config).
//! No secret is ever printed: plans and errors are built from values that carry none.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};
use tokio::sync::watch;

use crate::config::{CalendarKind, Config, ConfigError};
use crate::store::Store;
use crate::sync::{Engine, PassReport, SyncOptions};
use crate::tencent::{ClientConfig, TencentClient};

/// sysexits `EX_CONFIG`.
pub const EXIT_CONFIG: u8 = 78;

/// Turns tagged calendar events into Tencent Meeting meetings.
#[derive(Debug, Parser)]
#[command(name = "calmeet", version, about, long_about = None)]
pub struct Cli {
    /// Config file (default: $CALMEET_CONFIG, ~/.config/calmeet/config.toml, /etc/calmeet/config.toml).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Log level: error, warn, info, debug, trace, or a filter such as "calmeet=debug,info"
    /// (default: $RUST_LOG, else info).
    #[arg(long, global = true, value_name = "LEVEL")]
    pub log_level: Option<String>,
    /// Log format: auto (journald under systemd, human on a terminal), human, json, journald.
    #[arg(long, global = true, value_enum, default_value_t = crate::logging::LogFormat::Auto)]
    pub log_format: crate::logging::LogFormat,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Daemon: sync on the configured schedule until SIGTERM/SIGINT (SIGHUP reloads the config).
    Run,
    /// One sync pass over every calendar, then exit.
    Sync {
        /// Print the plan; make no API call, no calendar write and no state change.
        #[arg(long)]
        dry_run: bool,
        /// Cancel meetings even when the mass-deletion guard would hold them.
        #[arg(long)]
        confirm_deletions: bool,
    },
    /// Synced events and each calendar's last sync, as a table.
    Status {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Print shell completions for SHELL (bash, zsh, fish, elvish, powershell).
    Completions {
        /// The shell.
        shell: crate::docs::Shell,
    },
    /// Print the man page (roff) to standard output.
    Man,
    /// Validate the config, then probe every calendar and the meeting API.
    Check {
        /// Also list the calendars of this CalDAV account URL (server root or principal).
        #[arg(long, value_name = "URL")]
        discover: Option<String>,
    },
}

/// Runs the parsed command line.
pub async fn main(cli: Cli) -> ExitCode {
    // Documentation commands need no config.
    match &cli.command {
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            crate::docs::write_completions(*shell, &mut cmd, &mut std::io::stdout());
            return ExitCode::SUCCESS;
        }
        Command::Man => {
            return match crate::docs::man_page(<Cli as clap::CommandFactory>::command()) {
                Ok(page) => {
                    use std::io::Write;
                    let _ = std::io::stdout().write_all(&page);
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("calmeet: {e}");
                    ExitCode::from(1)
                }
            };
        }
        _ => {}
    }
    let path = match crate::config::locate(cli.config.as_deref()) {
        Ok(p) => p,
        Err(e) => return config_error(&e),
    };
    let config = match Config::load(&path) {
        Ok(c) => c,
        Err(e) => return config_error(&e),
    };
    match cli.command {
        Command::Sync {
            dry_run,
            confirm_deletions,
        } => {
            sync(
                config,
                SyncOptions {
                    dry_run,
                    confirm_deletions,
                },
            )
            .await
        }
        Command::Status { json } => status(&config, json),
        Command::Check { discover } => check(config, discover).await,
        Command::Run => crate::service::run_service(path, config).await,
        Command::Completions { .. } | Command::Man => ExitCode::SUCCESS,
    }
}

fn config_error(e: &ConfigError) -> ExitCode {
    eprintln!("calmeet: config error: {e}");
    ExitCode::from(EXIT_CONFIG)
}

/// Builds the meeting API client from the config.
///
/// # Errors
/// When credentials are missing or unreadable.
pub fn api_client(config: &Config) -> Result<TencentClient, ConfigError> {
    let m = &config.meeting;
    if !m.has_credentials() {
        return Err(ConfigError::Invalid {
            path: config.source.clone(),
            key: "meeting".into(),
            message: "app_id, secret_id and userid are needed to call the meeting API".into(),
        });
    }
    let key = m.resolve_secret_key(&config.base_dir)?;
    let mut cc = ClientConfig::new(&m.api_base, &m.app_id, &m.secret_id, key);
    cc.sdk_id.clone_from(&m.sdk_id);
    cc.timeout = Duration::from_secs(m.timeout_secs);
    cc.requests_per_minute = m.max_calls_per_minute;
    TencentClient::new(cc).map_err(|e| ConfigError::Secret(format!("meeting API client: {e}")))
}

/// Opens what a pass needs. A dry run reads the state without changing it (or starts from an
/// empty in-memory state) and needs no credentials.
///
/// # Errors
/// Config errors (exit 78) or state errors.
pub fn build_engine(
    config: Config,
    dry_run: bool,
    shutdown: watch::Receiver<bool>,
) -> Result<Engine<TencentClient>, (u8, String)> {
    let state = config.state_path();
    let store = if dry_run {
        if state.exists() {
            Store::open_read_only(&state)
        } else {
            Store::open_in_memory()
        }
    } else {
        Store::open(&state)
    }
    .map_err(|e| (1, e.to_string()))?;
    let api = if dry_run {
        None
    } else {
        Some(api_client(&config).map_err(|e| (EXIT_CONFIG, format!("config error: {e}")))?)
    };
    let http = crate::sync::calendar_http_client().map_err(|e| (1, format!("HTTP client: {e}")))?;
    Ok(Engine {
        config: Arc::new(config),
        store: Arc::new(store),
        api,
        http,
        shutdown,
        progress: crate::sync::Progress::default(),
        clock: Arc::new(crate::sync::SystemClock),
    })
}

async fn sync(config: Config, opts: SyncOptions) -> ExitCode {
    let (_tx, rx) = watch::channel(false);
    let engine = match build_engine(config, opts.dry_run, rx) {
        Ok(e) => e,
        Err((code, msg)) => {
            eprintln!("calmeet: {msg}");
            return ExitCode::from(code);
        }
    };
    let report = engine.run_pass(opts).await;
    print_report(&report, opts.dry_run);
    if report.failed() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// Prints a pass's plan (dry run) or summary.
pub fn print_report(report: &PassReport, dry_run: bool) {
    for cal in &report.calendars {
        if dry_run {
            println!("calendar '{}':", cal.name);
            if cal.plan.is_empty() && cal.error.is_none() {
                println!("  nothing to do");
            }
            for line in &cal.plan {
                println!("  {line}");
            }
        }
        if let Some(e) = &cal.error {
            eprintln!("error: {e}");
        }
        for e in &cal.event_errors {
            eprintln!("error: {e}");
        }
    }
    let actions: usize = report.calendars.iter().map(|c| c.plan.len()).sum();
    let verb = if dry_run { "planned" } else { "done" };
    println!(
        "{} calendars, {actions} actions {verb}, {} errors{}",
        report.calendars.len(),
        report.error_count(),
        if dry_run {
            " (dry run: nothing was changed)"
        } else {
            ""
        }
    );
}

fn ts(t: Option<i64>, zone: chrono_tz::Tz) -> String {
    t.and_then(|t| chrono::DateTime::from_timestamp(t, 0))
        .map_or_else(
            || "-".to_owned(),
            |d| d.with_timezone(&zone).format("%Y-%m-%d %H:%M").to_string(),
        )
}

fn status(config: &Config, json: bool) -> ExitCode {
    let path = config.state_path();
    if !path.exists() {
        println!(
            "no state yet at {} (run `calmeet sync` first)",
            path.display()
        );
        return ExitCode::SUCCESS;
    }
    let store = match Store::open_read_only(&path) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("calmeet: {e}");
            return ExitCode::from(1);
        }
    };
    let (cals, events) = match (store.calendars(), store.all_rows()) {
        (Ok(c), Ok(r)) => (c, r),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("calmeet: {e}");
            return ExitCode::from(1);
        }
    };
    // A state file from before continuations has no segments table: none to show.
    let segments = store.all_segments().unwrap_or_default();
    // Each event's row, followed by its continuation meetings (segment start) in order.
    let mut rows: Vec<(&crate::store::EventRow, Option<i64>)> = Vec::new();
    for r in &events {
        rows.push((r, None));
        if r.key.recurrence_id.is_none() {
            rows.extend(
                segments
                    .iter()
                    .filter(|s| s.row.key.calendar == r.key.calendar && s.row.key.uid == r.key.uid)
                    .map(|s| (&s.row, Some(s.start))),
            );
        }
    }
    let zone = config.default_zone();
    let now = chrono::Utc::now();
    let next_run = crate::service::next_run_after(&config.schedule, now);
    // The next occurrence that has not ended; none for a meeting that is no longer live.
    let next = |r: &crate::store::EventRow| {
        matches!(
            r.state,
            crate::store::RowState::Created | crate::store::RowState::Pending
        )
        .then(|| crate::sync::plan::next_occurrence(r, now))
        .flatten()
    };
    if json {
        let v = serde_json::json!({
            "next_run": next_run.map(|t| t.to_rfc3339()),
            "calendars": cals.iter().map(|c| serde_json::json!({
                "name": c.name, "last_pass_at": c.last_pass_at, "last_ok_at": c.last_ok_at,
                "ok": c.last_error.is_none(), "last_error": c.last_error,
            })).collect::<Vec<_>>(),
            "meetings": rows.iter().map(|(r, segment)| serde_json::json!({
                "calendar": r.key.calendar, "uid": r.key.uid, "recurrence_id": r.key.recurrence_id,
                "segment_start": segment,
                "subject": r.subject, "next": next(r), "start": r.start_at, "end": r.end_at, "series_end": r.series_end_at,
                "recurring": r.recurring,
                "rule": r.rule.as_deref().and_then(|j| serde_json::from_str::<serde_json::Value>(j).ok()),
                "state": r.state.as_str(), "meeting_id": r.meeting_id,
                "meeting_code": r.meeting_code, "join_url": r.join_url, "written_back": r.written_back,
                "live_url": r.live_url, "last_error": r.last_error,
            })).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        return ExitCode::SUCCESS;
    }
    println!(
        "{:<16} {:<17} {:<17} OUTCOME",
        "CALENDAR", "LAST PASS", "LAST OK"
    );
    for c in &cals {
        println!(
            "{:<16} {:<17} {:<17} {}",
            c.name,
            ts(c.last_pass_at, zone),
            ts(c.last_ok_at, zone),
            c.last_error.as_deref().unwrap_or("ok")
        );
    }
    if let Some(n) = next_run {
        println!(
            "next run: {}",
            n.with_timezone(&zone).format("%Y-%m-%d %H:%M:%S %Z")
        );
    }
    println!();
    println!(
        "{:<12} {:<28} {:<17} {:<11} {:<9} {:<30} {:<36} LAST ERROR",
        "CALENDAR", "SUBJECT", "NEXT", "CODE", "STATE", "UID", "REPEATS"
    );
    for (r, segment) in &rows {
        // A continuation meeting is shown under its event, marked with the date it starts.
        let subject: String = match segment {
            Some(start) => format!(
                "  ↳ from {}",
                ts(Some(*start), zone).chars().take(10).collect::<String>()
            ),
            None => r.subject.chars().take(26).collect(),
        };
        let uid: String = r.key.uid.chars().take(30).collect();
        let code = r
            .meeting_code
            .as_deref()
            .map(crate::writeback::group_code)
            .unwrap_or_default();
        println!(
            "{:<12} {:<28} {:<17} {:<11} {:<9} {:<30} {:<36} {}",
            r.key.calendar,
            subject,
            ts(next(r), zone),
            code,
            r.state.as_str(),
            uid,
            repeats(r, zone),
            r.last_error.as_deref().unwrap_or("")
        );
        if let Some(live) = &r.live_url {
            println!("{:<12}   ↳ live stream: {live}", "");
        }
    }
    ExitCode::SUCCESS
}

/// A row's rule in words ("weekly on Mon ×10"), "single", or "recurring" for a row from
/// before the rule was kept.
fn repeats(r: &crate::store::EventRow, zone: chrono_tz::Tz) -> String {
    let rule = r
        .rule
        .as_deref()
        .and_then(|j| serde_json::from_str::<crate::tencent::types::RecurringRule>(j).ok());
    match rule {
        Some(rule) => {
            let first = r
                .start_at
                .and_then(|t| chrono::DateTime::from_timestamp(t, 0))
                .map(|t| t.with_timezone(&zone).date_naive());
            crate::sync::rule_words::rule_in_words(Some(&rule), first, zone)
        }
        None if r.recurring => "recurring".to_owned(),
        None => "single".to_owned(),
    }
}

async fn check(config: Config, discover: Option<String>) -> ExitCode {
    let mut failed = false;
    println!(
        "config {}: ok ({} calendars)",
        config.source,
        config.calendars.len()
    );
    let http = match crate::sync::calendar_http_client() {
        Ok(h) => h,
        Err(e) => {
            eprintln!("calmeet: HTTP client: {e}");
            return ExitCode::from(1);
        }
    };
    for cal in &config.calendars {
        if cal.insecure_skip_verify {
            println!(
                "calendar '{}': WARNING: TLS certificate verification is OFF \
                 (insecure_skip_verify = true); use it only for a self-signed test server",
                cal.name
            );
        }
        let result = match cal.kind {
            CalendarKind::Ics => check_ics(&config, cal, &http).await,
            CalendarKind::Caldav => check_caldav(&config, cal).await,
        };
        match result {
            Ok(msg) => println!("calendar '{}': ok ({msg})", cal.name),
            Err(e) => {
                failed = true;
                println!("calendar '{}': FAILED: {e}", cal.name);
            }
        }
    }
    if let Some(url) = discover {
        match discover_calendars(&config, &url).await {
            Ok(lines) => lines.iter().for_each(|l| println!("{l}")),
            Err(e) => {
                failed = true;
                println!("discover {url}: FAILED: {e}");
            }
        }
    }
    match api_client(&config) {
        Err(e) => {
            failed = true;
            println!("meeting API: FAILED: {e}");
        }
        Ok(api) => {
            let m = &config.meeting;
            match api
                .list_meetings(&m.userid, m.instanceid, chrono::Utc::now().timestamp())
                .await
            {
                Ok(list) => println!(
                    "meeting API: ok (signed request accepted; {} upcoming meetings for {})",
                    list.len(),
                    m.userid
                ),
                Err(e) => {
                    failed = true;
                    println!("meeting API: FAILED: {e}");
                }
            }
        }
    }
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// Reads an ICS calendar the way `sync` does: with its own non-verifying client when the
/// calendar opts out of TLS verification, else with the shared one.
async fn check_ics(
    config: &Config,
    cal: &crate::config::CalendarConfig,
    shared: &reqwest::Client,
) -> Result<String, String> {
    let http = &crate::sync::http_client_for(cal, shared)?;
    let m = crate::event::TagMatcher::new(cal.match_rules.as_ref());
    let fetched = crate::source::ics::fetch_selected(
        http,
        &cal.url,
        &config.base_dir,
        (None, None),
        cal.timeout(),
        &m,
    )
    .await
    .map_err(|e| e.to_string())?;
    match fetched {
        crate::source::ics::Fetched::Body { data, vevents, .. } => {
            let m = crate::event::TagMatcher::new(cal.match_rules.as_ref())
                .with_live(cal.live_match.as_ref());
            crate::event::parse_calendar(&data, config.default_zone(), &m)
                .map(|p| {
                    format!(
                        "{} events, {} tagged",
                        vevents.unwrap_or(p.vevents),
                        p.events.len()
                    )
                })
                .map_err(|e| e.to_string())
        }
        crate::source::ics::Fetched::NotModified => Ok("not modified".into()),
    }
}

/// Reads a CalDAV calendar with the requests a first pass sends, so that `check` fails where
/// a pass would (issue #13: SOGo passed a PROPFIND-only check but failed every REPORT): the
/// ctag PROPFIND, the listing (sync-collection, or by time range when the server refuses it),
/// a calendar-multiget of up to 100 listed objects, and parsing them.
async fn check_caldav(
    config: &Config,
    cal: &crate::config::CalendarConfig,
) -> Result<String, String> {
    use crate::source::caldav::ChangeMarker;
    let client = crate::source::caldav_client(cal, &config.base_dir)?;
    let e = |e: crate::source::caldav::DavError| e.to_string();
    let marker = match client.change_marker(ChangeMarker::Ctag).await {
        Ok(m) => m,
        Err(err) if err.is_transient() || !crate::source::may_lack_sync_collection(&err) => {
            return Err(e(err));
        }
        Err(_) => None,
    };
    let (hrefs, how) = match client.sync_collection(None).await {
        Ok(s) => (
            s.changed.into_iter().map(|r| r.href).collect::<Vec<_>>(),
            "sync-collection",
        ),
        Err(err) if !crate::source::may_lack_sync_collection(&err) => return Err(e(err)),
        Err(_) => {
            let now = chrono::Utc::now();
            let end = now + chrono::Duration::days(i64::from(config.horizon_days) + 1);
            let listed = client
                .list(now - chrono::Duration::days(1), end)
                .await
                .map_err(e)?;
            (listed.into_iter().map(|r| r.href).collect(), "time range")
        }
    };
    let sample: Vec<String> = hrefs.iter().take(100).cloned().collect();
    let read = if sample.is_empty() {
        crate::source::caldav::Multiget::default()
    } else {
        client.multiget_detailed(&sample).await.map_err(e)?
    };
    let m = crate::event::TagMatcher::new(cal.match_rules.as_ref());
    let (mut tagged, mut unreadable) = (0, Vec::new());
    for object in &read.objects {
        // A pass reports such an object and goes on; so does check.
        match crate::event::parse_calendar(&object.data, config.default_zone(), &m) {
            Ok(parsed) => tagged += parsed.events.len(),
            Err(err) => unreadable.push(format!("{}: {err}", object.href)),
        }
    }
    let mut msg = format!(
        "{} objects listed by {how}{}; {} read, {tagged} tagged events",
        hrefs.len(),
        if marker.is_some() { ", ctag" } else { "" },
        read.objects.len(),
    );
    if !unreadable.is_empty() {
        msg.push_str(&format!(
            "; {} unreadable (skipped by sync): {}",
            unreadable.len(),
            unreadable.join("; ")
        ));
    }
    Ok(msg)
}

async fn discover_calendars(config: &Config, url: &str) -> Result<Vec<String>, String> {
    let account = url::Url::parse(url).map_err(|e| format!("invalid URL: {e}"))?;
    // Credentials of the first CalDAV calendar with the same origin (scheme, host and port)
    // are used for discovery: another port may be another service.
    let cal = config.calendars.iter().find(|c| {
        c.kind == CalendarKind::Caldav
            && url::Url::parse(&c.url).is_ok_and(|u| u.origin() == account.origin())
    });
    let client = match cal {
        Some(c) => crate::source::caldav_client(c, &config.base_dir)?,
        None => crate::source::caldav::CalDavClient::new(
            account.clone(),
            crate::source::caldav::Auth::None,
            Duration::from_secs(30),
        )
        .map_err(|e| e.to_string())?,
    };
    let found = client.discover(&account).await.map_err(|e| e.to_string())?;
    Ok(found
        .iter()
        .map(|c| {
            format!(
                "  calendar {:?}: url = \"{}\"",
                c.display_name.as_deref().unwrap_or(""),
                c.url
            )
        })
        .collect())
}
