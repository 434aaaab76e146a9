//! Metrics and health for `calmeet run` with `metrics_listen` set: `/metrics` in the
//! Prometheus/OpenMetrics text format (through the `prometheus-client` crate) and `/healthz`.
//!
//! The figures live in one process-wide [`Metrics`] ([`global`]): the Tencent client counts its
//! calls, the write-back counts its PUTs and 412 retries, and the service records each pass
//! report. Counting costs an atomic add, so it happens whether or not anything is served.
//!
//! What it must never do: expose a secret, an event's subject or UID, or a URL. Labels are
//! calendar names (chosen by the operator), API endpoint names and outcome classes only.
//!
//! `/healthz` answers 503 when the last pass of any calendar failed, or when the last pass
//! ended more than three schedule periods ago (a stuck or dead loop); 200 otherwise. Before
//! the first pass it is healthy for three periods after start.

use std::collections::BTreeMap;
use std::sync::{LazyLock, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::sync::PassReport;
use crate::tencent::ApiError;

/// Label pairs: `[("calendar", name)]` or `[("endpoint", …), ("outcome", …)]`.
type Labels = Vec<(String, String)>;

/// Upper bounds of the pass-duration histogram, in seconds.
const PASS_BUCKETS: [f64; 10] = [0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0];
/// Largest request head read from a scraper.
const MAX_REQUEST_HEAD: usize = 8 * 1024;
/// How long a scraper may take to send its request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Every figure calmeet exports, and the state `/healthz` answers from.
pub struct Metrics {
    registry: Registry,
    passes: Counter,
    pass_duration: Histogram,
    last_pass: Gauge,
    calendar_last_success: Family<Labels, Gauge>,
    calendar_up: Family<Labels, Gauge>,
    calendar_errors: Family<Labels, Counter>,
    live_meetings: Family<Labels, Gauge>,
    needing_attention: Family<Labels, Gauge>,
    api_calls: Family<Labels, Counter>,
    writebacks: Counter,
    writeback_conflicts: Counter,
    health: Mutex<Health>,
}

/// What `/healthz` decides from.
#[derive(Debug, Default)]
struct Health {
    /// When the service started.
    started: Option<DateTime<Utc>>,
    /// When the last pass ended.
    last_pass: Option<DateTime<Utc>>,
    /// The schedule's current period (time between two fire times).
    period: Option<Duration>,
    /// Calendars whose last pass failed, with nothing but their names.
    failing: Vec<String>,
}

/// Per calendar figures read from the state after a pass.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CalendarCounts {
    /// Events (and continuation meetings) with a live meeting.
    pub live_meetings: i64,
    /// Events with no meeting because of an error (failure accounting).
    pub needing_attention: i64,
}

/// The process-wide metrics.
#[must_use]
pub fn global() -> &'static Metrics {
    static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);
    &METRICS
}

impl Metrics {
    fn new() -> Self {
        let mut registry = Registry::with_prefix("calmeet");
        let passes = Counter::default();
        registry.register("passes", "Sync passes completed", passes.clone());
        let pass_duration = Histogram::new(PASS_BUCKETS);
        registry.register(
            "pass_duration_seconds",
            "Duration of a sync pass in seconds",
            pass_duration.clone(),
        );
        let last_pass = Gauge::default();
        registry.register(
            "last_pass_timestamp_seconds",
            "When the last pass ended (unix seconds)",
            last_pass.clone(),
        );
        let calendar_last_success = Family::<Labels, Gauge>::default();
        registry.register(
            "calendar_last_success_timestamp_seconds",
            "When a calendar last had a pass without errors (unix seconds)",
            calendar_last_success.clone(),
        );
        let calendar_up = Family::<Labels, Gauge>::default();
        registry.register(
            "calendar_up",
            "1 when the calendar's last pass had no error, else 0",
            calendar_up.clone(),
        );
        let calendar_errors = Family::<Labels, Counter>::default();
        registry.register(
            "calendar_errors",
            "Errors (calendar or event) reported for a calendar, summed over passes",
            calendar_errors.clone(),
        );
        let live_meetings = Family::<Labels, Gauge>::default();
        registry.register(
            "events_with_live_meeting",
            "Events (and continuation meetings) that have a live Tencent meeting",
            live_meetings.clone(),
        );
        let needing_attention = Family::<Labels, Gauge>::default();
        registry.register(
            "events_needing_attention",
            "Tagged events without a meeting because of an error",
            needing_attention.clone(),
        );
        let api_calls = Family::<Labels, Counter>::default();
        registry.register(
            "api_calls",
            "Tencent Meeting API requests by endpoint and outcome class",
            api_calls.clone(),
        );
        let writebacks = Counter::default();
        registry.register(
            "writebacks",
            "Events written back to a CalDAV server",
            writebacks.clone(),
        );
        let writeback_conflicts = Counter::default();
        registry.register(
            "writeback_precondition_retries",
            "Write-backs refused with 412 (the event changed meanwhile) and retried",
            writeback_conflicts.clone(),
        );
        Self {
            registry,
            passes,
            pass_duration,
            last_pass,
            calendar_last_success,
            calendar_up,
            calendar_errors,
            live_meetings,
            needing_attention,
            api_calls,
            writebacks,
            writeback_conflicts,
            health: Mutex::new(Health::default()),
        }
    }

    /// Marks the service start (the clock `/healthz` waits from before the first pass) and
    /// the schedule's period.
    pub fn service_started(&self, at: DateTime<Utc>, period: Option<Duration>) {
        let mut h = self.health.lock().unwrap_or_else(PoisonError::into_inner);
        h.started = Some(at);
        h.period = period;
    }

    /// Records a finished pass: its duration, each calendar's outcome and the per-calendar
    /// counts read from the state afterwards. `period` is the schedule's period now (a reload
    /// may change it).
    pub fn record_pass(
        &self,
        report: &PassReport,
        counts: &BTreeMap<String, CalendarCounts>,
        period: Option<Duration>,
    ) {
        self.passes.inc();
        let secs = (report.finished - report.started)
            .to_std()
            .unwrap_or_default()
            .as_secs_f64();
        self.pass_duration.observe(secs);
        self.last_pass.set(report.finished.timestamp());
        let mut failing = Vec::new();
        for c in &report.calendars {
            let label = vec![("calendar".to_owned(), c.name.clone())];
            let errors = usize::from(c.error.is_some()) + c.event_errors.len();
            self.calendar_errors
                .get_or_create(&label)
                .inc_by(u64::try_from(errors).unwrap_or(u64::MAX));
            if c.failed() {
                failing.push(c.name.clone());
                self.calendar_up.get_or_create(&label).set(0);
            } else {
                self.calendar_up.get_or_create(&label).set(1);
                self.calendar_last_success
                    .get_or_create(&label)
                    .set(report.finished.timestamp());
            }
        }
        for (name, n) in counts {
            let label = vec![("calendar".to_owned(), name.clone())];
            self.live_meetings
                .get_or_create(&label)
                .set(n.live_meetings);
            self.needing_attention
                .get_or_create(&label)
                .set(n.needing_attention);
        }
        let mut h = self.health.lock().unwrap_or_else(PoisonError::into_inner);
        h.last_pass = Some(report.finished);
        h.failing = failing;
        if period.is_some() {
            h.period = period;
        }
    }

    /// Counts one Tencent Meeting API request: `endpoint` as [`endpoint_of`] names it and its
    /// outcome (`Ok` or the error).
    pub fn api_call(&self, endpoint: &'static str, outcome: Result<(), &ApiError>) {
        let class = outcome.map_or_else(outcome_class, |()| "ok");
        self.api_calls
            .get_or_create(&vec![
                ("endpoint".to_owned(), endpoint.to_owned()),
                ("outcome".to_owned(), class.to_owned()),
            ])
            .inc();
    }

    /// Counts one event written back (a successful conditional PUT).
    pub fn writeback(&self) {
        self.writebacks.inc();
    }

    /// Counts one write-back refused with 412 and tried again.
    pub fn writeback_conflict(&self) {
        self.writeback_conflicts.inc();
    }

    /// The `/metrics` body in the OpenMetrics text format.
    #[must_use]
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }

    /// `/healthz`: whether calmeet is healthy at `now`, and one line saying why not.
    #[must_use]
    pub fn health(&self, now: DateTime<Utc>) -> (bool, String) {
        let h = self.health.lock().unwrap_or_else(PoisonError::into_inner);
        if !h.failing.is_empty() {
            let names: Vec<String> = h.failing.iter().map(|n| format!("'{n}'")).collect();
            return (
                false,
                format!("last pass failed for calendar {}", names.join(", ")),
            );
        }
        let Some(period) = h.period else {
            return (true, "ok".to_owned());
        };
        let limit = period.saturating_mul(3);
        let (since, what) = match (h.last_pass, h.started) {
            (Some(t), _) => (t, "the last pass ended"),
            (None, Some(t)) => (t, "started without a finished pass"),
            (None, None) => return (true, "ok".to_owned()),
        };
        let age = (now - since).to_std().unwrap_or_default();
        if age > limit {
            return (
                false,
                format!(
                    "{what} {} s ago, more than three schedule periods ({} s)",
                    age.as_secs(),
                    limit.as_secs()
                ),
            );
        }
        (true, "ok".to_owned())
    }
}

/// The endpoint name of a Tencent Meeting request, from its method and path.
#[must_use]
pub fn endpoint_of(method: &str, path_and_query: &str) -> &'static str {
    let path = path_and_query.split('?').next().unwrap_or_default();
    match method {
        "POST" if path == "/v1/meetings" => "create_meeting",
        "POST" if path.ends_with("/cancel") => "cancel_meeting",
        "PUT" => "modify_meeting",
        "GET" if path == "/v1/meetings" || path.starts_with("/v1/users/") => "list_meetings",
        "GET" => "get_meeting",
        _ => "other",
    }
}

/// An API error's class: what an operator alerts on, never its text.
#[must_use]
pub fn outcome_class(e: &ApiError) -> &'static str {
    match e {
        ApiError::SignatureRejected { .. }
        | ApiError::AuthFailed { .. }
        | ApiError::PermissionDenied { .. } => "auth_error",
        ApiError::RateLimited { .. } | ApiError::QuotaExceeded { .. } => "rate_limited",
        ApiError::Transient { .. } => "transient_error",
        ApiError::Ambiguous { .. } => "unknown_outcome",
        ApiError::InvalidResponse { .. } => "invalid_response",
        ApiError::NotFound { .. } => "not_found",
        _ => "client_error",
    }
}

/// The time between two fire times of `schedule` after `now` (its period there).
#[must_use]
pub fn schedule_period(schedule: &crate::daemon::Schedule, now: DateTime<Utc>) -> Option<Duration> {
    let a = schedule.next_after(now)?;
    let b = schedule.next_after(a)?;
    (b - a).to_std().ok()
}

/// Serves `/metrics` and `/healthz` on `listener` until the task is dropped. Each connection
/// gets one answer and is closed; a request head over 8 KiB or slower than 5 s is dropped.
pub async fn serve(listener: TcpListener, metrics: &'static Metrics) {
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        tokio::spawn(async move {
            let Ok(Some(head)) =
                tokio::time::timeout(REQUEST_TIMEOUT, read_head(&mut stream)).await
            else {
                return;
            };
            let response = answer(&head, metrics, Utc::now());
            let _ = stream.write_all(&response).await;
            let _ = stream.shutdown().await;
        });
    }
}

/// Reads up to the end of the request head, or `None` when it is too long or cut off.
async fn read_head(stream: &mut tokio::net::TcpStream) -> Option<String> {
    let mut seen = Vec::new();
    let mut buf = [0_u8; 1024];
    while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).await.ok()?;
        if n == 0 || seen.len() + n > MAX_REQUEST_HEAD {
            return None;
        }
        seen.extend_from_slice(&buf[..n]);
    }
    Some(String::from_utf8_lossy(&seen).into_owned())
}

/// The full HTTP/1.1 response to a request head.
fn answer(head: &str, metrics: &Metrics, now: DateTime<Utc>) -> Vec<u8> {
    let mut words = head.split_whitespace();
    let (method, target) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    let (status, content_type, body) = match (method, path) {
        ("GET" | "HEAD", "/metrics") => (
            "200 OK",
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            metrics.encode(),
        ),
        ("GET" | "HEAD", "/healthz") => {
            let (ok, why) = metrics.health(now);
            let status = if ok {
                "200 OK"
            } else {
                "503 Service Unavailable"
            };
            (status, "text/plain; charset=utf-8", format!("{why}\n"))
        }
        ("GET" | "HEAD", _) => (
            "404 Not Found",
            "text/plain; charset=utf-8",
            "calmeet serves /metrics and /healthz\n".to_owned(),
        ),
        _ => (
            "405 Method Not Allowed",
            "text/plain; charset=utf-8",
            "only GET\n".to_owned(),
        ),
    };
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if method != "HEAD" {
        out.extend_from_slice(body.as_bytes());
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::sync::CalendarOutcome;

    fn report(failing: &[&str], ok: &[&str], at: DateTime<Utc>) -> PassReport {
        let mut calendars = Vec::new();
        for name in ok {
            calendars.push(CalendarOutcome {
                name: (*name).to_owned(),
                ..CalendarOutcome::default()
            });
        }
        for name in failing {
            calendars.push(CalendarOutcome {
                name: (*name).to_owned(),
                error: Some("https://user:pw@host/ answered 500".into()),
                ..CalendarOutcome::default()
            });
        }
        PassReport {
            calendars,
            started: at - chrono::TimeDelta::milliseconds(1500),
            finished: at,
            interrupted: false,
        }
    }

    #[test]
    fn health_follows_failures_and_staleness() {
        let m = Metrics::new();
        let t0 = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .to_utc();
        let period = Some(Duration::from_secs(300));
        m.service_started(t0, period);
        assert!(
            m.health(t0 + chrono::TimeDelta::seconds(899)).0,
            "within 3 periods of start"
        );
        assert!(
            !m.health(t0 + chrono::TimeDelta::seconds(901)).0,
            "no pass for 3 periods"
        );
        m.record_pass(&report(&["bad"], &["good"], t0), &BTreeMap::new(), period);
        let (ok, why) = m.health(t0);
        assert!(!ok && why.contains("'bad'") && !why.contains("pw"), "{why}");
        m.record_pass(&report(&[], &["good", "bad"], t0), &BTreeMap::new(), period);
        assert!(m.health(t0 + chrono::TimeDelta::seconds(60)).0);
        let (ok, why) = m.health(t0 + chrono::TimeDelta::seconds(901));
        assert!(!ok && why.contains("three schedule periods"), "{why}");
    }

    #[test]
    fn exposition_has_the_figures_and_no_error_text() {
        let m = Metrics::new();
        let t0 = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .to_utc();
        let counts = BTreeMap::from([(
            "good".to_owned(),
            CalendarCounts {
                live_meetings: 3,
                needing_attention: 1,
            },
        )]);
        m.record_pass(&report(&["bad"], &["good"], t0), &counts, None);
        m.api_call("create_meeting", Ok(()));
        m.api_call(
            "create_meeting",
            Err(&ApiError::RateLimited {
                code: 190_310,
                message: "x".into(),
            }),
        );
        m.writeback();
        m.writeback_conflict();
        let text = m.encode();
        for want in [
            "calmeet_passes_total 1",
            "calmeet_pass_duration_seconds_bucket{le=\"2.5\"} 1",
            "calmeet_calendar_up{calendar=\"bad\"} 0",
            "calmeet_calendar_up{calendar=\"good\"} 1",
            "calmeet_calendar_errors_total{calendar=\"bad\"} 1",
            "calmeet_calendar_last_success_timestamp_seconds{calendar=\"good\"} 1767225600",
            "calmeet_events_with_live_meeting{calendar=\"good\"} 3",
            "calmeet_events_needing_attention{calendar=\"good\"} 1",
            "calmeet_api_calls_total{endpoint=\"create_meeting\",outcome=\"ok\"} 1",
            "calmeet_api_calls_total{endpoint=\"create_meeting\",outcome=\"rate_limited\"} 1",
            "calmeet_writebacks_total 1",
            "calmeet_writeback_precondition_retries_total 1",
            "# EOF",
        ] {
            assert!(text.contains(want), "{want} missing:\n{text}");
        }
        assert!(!text.contains("pw") && !text.contains("500"), "{text}");
    }

    #[test]
    fn endpoints_are_named_by_method_and_path() {
        let cases = [
            ("POST", "/v1/meetings", "create_meeting"),
            ("PUT", "/v1/meetings/123", "modify_meeting"),
            ("POST", "/v1/meetings/123/cancel", "cancel_meeting"),
            (
                "GET",
                "/v1/meetings/123?userid=a&instanceid=1",
                "get_meeting",
            ),
            (
                "GET",
                "/v1/meetings?userid=a&instanceid=1&pos=0",
                "list_meetings",
            ),
        ];
        for (method, path, want) in cases {
            assert_eq!(endpoint_of(method, path), want, "{method} {path}");
        }
    }

    #[test]
    fn http_answers() {
        let m = Metrics::new();
        let get = |path: &str| {
            String::from_utf8(answer(
                &format!("GET {path} HTTP/1.1\r\n\r\n"),
                &m,
                Utc::now(),
            ))
            .unwrap()
        };
        assert!(
            get("/metrics")
                .starts_with("HTTP/1.1 200 OK\r\nContent-Type: application/openmetrics-text")
        );
        assert!(get("/healthz").starts_with("HTTP/1.1 200"));
        assert!(get("/other").starts_with("HTTP/1.1 404"));
        let post =
            String::from_utf8(answer("POST /metrics HTTP/1.1\r\n\r\n", &m, Utc::now())).unwrap();
        assert!(post.starts_with("HTTP/1.1 405"));
    }
}
