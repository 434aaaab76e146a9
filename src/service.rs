//! `calmeet run`: the sync engine plugged into the daemon loop.
//!
//! The loop (`daemon`) owns timing, signals and systemd notifications; this module owns what a
//! pass is (one `Engine::run_pass`) and what a reload is (read and validate the config file
//! again; an invalid file keeps the old configuration). The state database is opened once and
//! kept for the life of the process.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::watch;

use crate::config::Config;
use crate::daemon::{self, DaemonOptions, PassContext, PassRunner, PassSummary, Schedule};
use crate::store::Store;
use crate::sync::{Engine, SyncOptions};
use crate::tencent::TencentClient;

/// A loaded configuration with its parsed schedule.
pub struct Loaded {
    /// The configuration.
    pub config: Arc<Config>,
    /// Its schedule.
    pub schedule: Schedule,
    /// The meeting API client built from it.
    pub api: TencentClient,
}

fn load(path: &std::path::Path) -> anyhow::Result<Loaded> {
    let config = Config::load(path)?;
    from_config(config)
}

fn from_config(config: Config) -> anyhow::Result<Loaded> {
    let zone = config.timezone.as_deref().and_then(|t| t.parse().ok());
    let schedule = Schedule::parse(&config.schedule, zone)?;
    let api = crate::cli::api_client(&config)?;
    Ok(Loaded {
        config: Arc::new(config),
        schedule,
        api,
    })
}

/// The next time `expr` fires after `after`, for `status`.
#[must_use]
pub fn next_run_after(expr: &str, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
    Schedule::parse(expr, None).ok()?.next_after(after)
}

/// Stops a background task when dropped (the metrics server when the service ends).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Per calendar: events with a live meeting and events that need attention
/// ([`crate::sync::needs_attention`]), as the state holds them after a pass.
fn calendar_counts(
    config: &Config,
    store: &Store,
) -> std::collections::BTreeMap<String, crate::metrics::CalendarCounts> {
    use crate::store::RowState;
    // Every configured calendar gets its figures, zero when it has no rows.
    let mut counts: std::collections::BTreeMap<String, crate::metrics::CalendarCounts> = config
        .calendars
        .iter()
        .map(|c| (c.name.clone(), crate::metrics::CalendarCounts::default()))
        .collect();
    let now = chrono::Utc::now().timestamp();
    let rows = store.all_rows().unwrap_or_default();
    let segments = store.all_segments().unwrap_or_default();
    for row in rows.iter().chain(segments.iter().map(|s| &s.row)) {
        // Rows of a calendar no longer configured are not reported.
        let Some(c) = counts.get_mut(&row.key.calendar) else {
            continue;
        };
        if row.state == RowState::Created {
            c.live_meetings += 1;
        }
        // The same accounting as the pass summary, `STATUS=` and `status` (issue #11): failed
        // creates, creates in doubt, failed updates of a meeting not yet over.
        if crate::sync::needs_attention(row, now).is_some() {
            c.needing_attention += 1;
        }
    }
    counts
}

struct SyncRunner {
    path: PathBuf,
    /// Where the open state database lives (a changed `state_db` needs a restart).
    state_path: PathBuf,
    store: Arc<Store>,
    http: reqwest::Client,
}

impl PassRunner for SyncRunner {
    type Config = Loaded;

    async fn run_pass(&mut self, loaded: &Loaded, ctx: &PassContext) -> PassSummary {
        let (tx, rx) = watch::channel(false);
        // Bridge the loop's stop request into the engine, which checks it between actions.
        let bridge = {
            let ctx = ctx.clone();
            tokio::spawn(async move {
                ctx.cancelled().await;
                let _ = tx.send(true);
            })
        };
        let engine = Engine {
            config: Arc::clone(&loaded.config),
            store: Arc::clone(&self.store),
            api: Some(loaded.api.clone()),
            http: self.http.clone(),
            shutdown: rx,
            // Every calendar and action feeds the watchdog: a pass of thousands of creates,
            // paced by the API's rate limit, can outlast WatchdogSec.
            progress: {
                let ctx = ctx.clone();
                crate::sync::Progress::new(move || ctx.progress())
            },
            clock: Arc::new(crate::sync::SystemClock),
        };
        ctx.progress();
        let report = engine.run_pass(SyncOptions::default()).await;
        ctx.progress();
        bridge.abort();
        let period = crate::metrics::schedule_period(&loaded.schedule, Utc::now());
        crate::metrics::global().record_pass(
            &report,
            &calendar_counts(&loaded.config, &self.store),
            period,
        );
        PassSummary {
            calendars: report.calendars.len(),
            errors: report.error_count(),
            failing: report.failing_count(),
            started: report.started,
            finished: report.finished,
        }
    }

    fn reload(&mut self) -> anyhow::Result<Loaded> {
        let loaded = load(&self.path)?;
        if loaded.config.state_path() != self.state_path {
            tracing::warn!("state_db changed in the config; the new path takes effect on restart");
        }
        Ok(loaded)
    }
}

/// Runs the daemon until SIGTERM/SIGINT. Exit 0 on a clean stop, 78 on a config error.
pub async fn run_service(path: PathBuf, config: Config) -> ExitCode {
    let loaded = match from_config(config) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("calmeet: config error: {e:#}");
            return ExitCode::from(crate::cli::EXIT_CONFIG);
        }
    };
    let state_path = loaded.config.state_path();
    let store = match Store::open(&state_path) {
        Ok(s) => Arc::new(s),
        Err(e) => {
            eprintln!("calmeet: {e}");
            return ExitCode::from(1);
        }
    };
    let http = match crate::sync::calendar_http_client() {
        Ok(h) => h,
        Err(e) => {
            eprintln!("calmeet: HTTP client: {e}");
            return ExitCode::from(1);
        }
    };
    let signals = match daemon::spawn_signal_listener() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("calmeet: cannot listen for signals: {e}");
            return ExitCode::from(1);
        }
    };
    let metrics = crate::metrics::global();
    metrics.service_started(
        Utc::now(),
        crate::metrics::schedule_period(&loaded.schedule, Utc::now()),
    );
    // Served for the life of the process; a changed address takes effect on restart.
    let _metrics_server = match &loaded.config.metrics_listen {
        Some(addr) => match tokio::net::TcpListener::bind(addr).await {
            Ok(listener) => {
                tracing::info!(%addr, "serving /metrics and /healthz");
                Some(AbortOnDrop(tokio::spawn(crate::metrics::serve(
                    listener, metrics,
                ))))
            }
            Err(e) => {
                eprintln!("calmeet: metrics_listen = \"{addr}\": cannot listen there: {e}");
                return ExitCode::from(1);
            }
        },
        None => None,
    };
    tracing::info!(config = %path.display(), calendars = loaded.config.calendars.len(), "calmeet started");
    let runner = SyncRunner {
        path,
        state_path,
        store,
        http,
    };
    // A stop waits at most this long for the in-flight API call and state write, so the
    // process is gone within 5 s of SIGTERM even when the API is slow.
    let options = DaemonOptions {
        grace: std::time::Duration::from_secs(4),
        ..DaemonOptions::default()
    };
    match daemon::run(runner, loaded, |l: &Loaded| &l.schedule, signals, options).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::from(1)
        }
    }
}
