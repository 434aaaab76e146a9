//! The retry policy of the Tencent Meeting client, kept apart from the transport.
//!
//! Owns three decisions: what an answer or a transport failure means (classified by Tencent's
//! `error_code`, never by HTTP status), whether repeating it is safe, and how long to wait
//! (capped, jittered backoff; a client-side ceiling of calls per minute under the API's rate
//! limit). No I/O here: the client feeds in statuses, bodies and errors and gets verdicts back.

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use reqwest::StatusCode;
use tokio::time::Instant;

use super::ApiError;
use super::types::{ErrorBody, ErrorInfo};

/// Outcome of one failed attempt: the error, and whether another attempt is safe.
pub(super) enum Retry {
    /// Definitive answer; another attempt gets the same one.
    Never,
    /// The server certainly did not act (rate limited, never connected).
    Safe,
    /// The server may have acted; only repeatable operations may go again.
    IfRepeatable,
}

/// Maps an HTTP answer to success or a classified failure, by `error_code` first.
pub(super) fn classify(status: StatusCode, body: &[u8]) -> Result<(), (ApiError, Retry)> {
    if let Ok(ErrorBody { error_info }) = serde_json::from_slice::<ErrorBody>(body) {
        return Err(classify_code(status, error_info));
    }
    if status.is_success() {
        return Ok(());
    }
    if status == StatusCode::TOO_MANY_REQUESTS {
        let error = ApiError::RateLimited {
            code: 0,
            message: "HTTP 429".into(),
        };
        return Err((error, Retry::Safe));
    }
    if status.is_server_error() {
        let error = ApiError::Transient {
            detail: format!("HTTP {status} without an error code"),
        };
        return Err((error, Retry::IfRepeatable));
    }
    Err((
        ApiError::Http {
            status: status.as_u16(),
        },
        Retry::Never,
    ))
}

/// Error codes from reference §4.3/§4.4.
///
/// Only answers that say "this request can never succeed as it is" are definitive refusals
/// (invalid parameter, permission, not found, credentials). Rate limits are safe to repeat
/// (the server did not act); quota answers are not repeated within a call (the quota resets
/// in minutes to a month, the sync engine holds creates until then). An unknown code is a
/// server-side failure, never a refusal: with HTTP 5xx the server may have acted (a create is
/// then in doubt, a repeatable call goes again), otherwise it is retried on a later pass.
fn classify_code(status: StatusCode, info: ErrorInfo) -> (ApiError, Retry) {
    let ErrorInfo {
        error_code: code,
        message,
        ..
    } = info;
    match code {
        190_310 | 190_313 | 9061 | 9098 => (ApiError::RateLimited { code, message }, Retry::Safe),
        // 9008: "at most 100 creates a day / 9 a minute"; 190311: the day's calls; 500029: the
        // user's creates this hour; 500168: the account's creates this month.
        9008 | 190_311 | 500_029 | 500_168 => {
            (ApiError::QuotaExceeded { code, message }, Retry::Never)
        }
        200_003 => (ApiError::SignatureRejected { code, message }, Retry::Never),
        190_303 | 50_000 | 50_001 => (ApiError::AuthFailed { code, message }, Retry::Never),
        9003 | 202_001 => (ApiError::NotFound { code, message }, Retry::Never),
        9042 | 403 | 9100 | 9102 | 190_315 | 500_014 => {
            (ApiError::PermissionDenied { code, message }, Retry::Never)
        }
        190_004 | 9093 | 20_001 | 20_003 => {
            (ApiError::InvalidRequest { code, message }, Retry::Never)
        }
        190_001 => (ApiError::UnregisteredUser { code, message }, Retry::Never),
        _ => {
            let retry = if status.is_server_error() {
                Retry::IfRepeatable
            } else {
                Retry::Never
            };
            let error = ApiError::Api {
                status: status.as_u16(),
                code,
                message,
            };
            (error, retry)
        }
    }
}

/// A transport error: safe to repeat only if the connection was never made (nothing sent).
pub(super) fn network_failure(err: &reqwest::Error) -> (ApiError, Retry) {
    let retry = if err.is_connect() {
        Retry::Safe
    } else {
        Retry::IfRepeatable
    };
    let kind = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "could not connect"
    } else {
        "connection failed"
    };
    (
        ApiError::Transient {
            detail: format!("{kind}: {}", error_chain(err)),
        },
        retry,
    )
}

/// reqwest's top-level message is generic; the cause (refused, reset, TLS) is in the sources.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Capped exponential backoff with jitter between half and the full delay, so clients that
/// failed together do not retry together.
#[derive(Clone, Copy, Debug)]
pub(super) struct Backoff {
    pub(super) base: Duration,
    pub(super) cap: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            base: Duration::from_secs(1),
            cap: Duration::from_secs(30),
        }
    }
}

impl Backoff {
    pub(super) fn delay(&self, attempt: u32) -> Duration {
        let factor = 1u32 << attempt.saturating_sub(1).min(16);
        let full = self.base.saturating_mul(factor).min(self.cap);
        let full_ms = u64::try_from(full.as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(rand::random_range(full_ms / 2..=full_ms))
    }
}

/// The API's default limit: calls per minute per self-built app (reference §4.4; 190310 beyond).
pub const DEFAULT_CALLS_PER_MINUTE: u32 = 300;

/// The window the client counts calls in: the API's minute plus a margin for the time between
/// granting a call here and its arrival at the server (signing, connecting, sending), so that
/// a call sent a little faster than an earlier one still lands outside that one's minute.
pub(super) const CALL_WINDOW: Duration = Duration::from_secs(61);

/// Client-side rate limit: at most `limit` calls start in any [`CALL_WINDOW`] (a sliding
/// window over the start times of the last `limit` calls). Unlike a token bucket, whose
/// burst plus refill can exceed the ceiling within one minute, this never lets more than
/// `limit` calls reach the server within any minute, whether the server counts in fixed or
/// sliding minutes, and still uses the whole limit.
#[derive(Debug)]
pub(super) struct CallWindow {
    limit: usize,
    window: Duration,
    started: VecDeque<Instant>,
}

impl CallWindow {
    pub(super) fn new(calls_per_minute: u32) -> Self {
        let limit = usize::try_from(calls_per_minute.max(1)).unwrap_or(usize::MAX);
        CallWindow {
            limit,
            window: CALL_WINDOW,
            started: VecDeque::with_capacity(limit.min(4096)),
        }
    }

    /// Changes the limit (a reload with another `max_calls_per_minute`); the calls already
    /// started keep counting.
    pub(super) fn set_limit(&mut self, calls_per_minute: u32) {
        self.limit = usize::try_from(calls_per_minute.max(1)).unwrap_or(usize::MAX);
    }

    /// Records a call starting `now`, or says when the next one may start.
    pub(super) fn try_take(&mut self, now: Instant) -> Result<(), Instant> {
        while let Some(&first) = self.started.front() {
            if now.saturating_duration_since(first) >= self.window {
                self.started.pop_front();
            } else {
                break;
            }
        }
        match self.started.front() {
            Some(&first) if self.started.len() >= self.limit => Err(first + self.window),
            _ => {
                self.started.push_back(now);
                Ok(())
            }
        }
    }
}

/// The create pace calmeet falls back to after a 9008 answer: the older error page's "at most
/// 9 creates a minute" (reference §4.3).
pub const CREATES_PER_MINUTE_AFTER_9008: u32 = 9;

/// Waits until the create window (when one is set) lets one more create start, and records
/// it. `None` inside: creates are paced by the call window only.
pub(super) async fn wait_for_create(limiter: &Mutex<Option<CallWindow>>) {
    loop {
        let next = {
            let mut window = limiter.lock().unwrap_or_else(PoisonError::into_inner);
            let Some(window) = window.as_mut() else {
                return;
            };
            match window.try_take(Instant::now()) {
                Ok(()) => return,
                Err(next) => next,
            }
        };
        tokio::time::sleep_until(next).await;
    }
}

/// Lowers the create pace to `per_minute` (never raises it): a 9008 answer says the account
/// has a per-minute create limit.
pub(super) fn slow_creates(limiter: &Mutex<Option<CallWindow>>, per_minute: u32) {
    let mut window = limiter.lock().unwrap_or_else(PoisonError::into_inner);
    match window.as_mut() {
        Some(w) if w.limit <= usize::try_from(per_minute).unwrap_or(usize::MAX) => {}
        Some(w) => w.set_limit(per_minute),
        None => *window = Some(CallWindow::new(per_minute)),
    }
}

/// Waits until `limiter` lets one more call start, and records it. Waiters that wake together
/// race for the slot under the lock; the losers wait again.
pub(super) async fn wait_for_call(limiter: &Mutex<CallWindow>) {
    loop {
        let next = {
            let mut window = limiter.lock().unwrap_or_else(PoisonError::into_inner);
            match window.try_take(Instant::now()) {
                Ok(()) => return,
                Err(next) => next,
            }
        };
        tokio::time::sleep_until(next).await;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn window_allows_the_limit_then_waits_for_the_oldest_call() {
        let start = Instant::now();
        let mut window = CallWindow::new(3);
        for _ in 0..3 {
            assert!(window.try_take(start).is_ok());
        }
        assert_eq!(window.try_take(start).unwrap_err(), start + CALL_WINDOW);
        let later = start + CALL_WINDOW - Duration::from_millis(1);
        assert_eq!(window.try_take(later).unwrap_err(), start + CALL_WINDOW);
        assert!(window.try_take(start + CALL_WINDOW).is_ok());
    }

    /// 1,000 calls from 4 concurrent callers at the documented 300/minute, on tokio's paused
    /// clock: no 60-second window ever holds more than 300 call starts, and the limit is used
    /// fully (the whole run takes three windows, not more).
    #[tokio::test(start_paused = true)]
    async fn concurrent_callers_never_exceed_the_limit_in_any_minute() {
        let limiter = std::sync::Arc::new(Mutex::new(CallWindow::new(DEFAULT_CALLS_PER_MINUTE)));
        let start = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..4 {
            let limiter = std::sync::Arc::clone(&limiter);
            tasks.spawn(async move {
                let mut at = Vec::new();
                for _ in 0..250 {
                    wait_for_call(&limiter).await;
                    at.push(Instant::now());
                    // each call takes 20 ms, like the fake server's latency
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                at
            });
        }
        let mut starts = Vec::new();
        while let Some(done) = tasks.join_next().await {
            starts.extend(done.unwrap());
        }
        starts.sort();
        assert_eq!(starts.len(), 1_000);
        let limit = DEFAULT_CALLS_PER_MINUTE as usize;
        for (i, t) in starts.iter().enumerate().skip(limit) {
            let gap = t.duration_since(starts[i - limit]);
            assert!(
                gap >= Duration::from_secs(60),
                "call {i}: {limit} calls within {gap:?}"
            );
        }
        // 1,000 = 300 + 300 + 300 + 100: the last batch starts after three windows.
        let took = starts[999].duration_since(start);
        assert!(took >= CALL_WINDOW * 3, "{took:?}");
        assert!(took < CALL_WINDOW * 3 + Duration::from_secs(2), "{took:?}");
        assert!(starts[limit - 1].duration_since(start) < Duration::from_secs(2));
    }

    /// After a 9008 the creates of an app start at most 9 in any window; calls in general
    /// are not slowed.
    #[tokio::test(start_paused = true)]
    async fn creates_are_paced_after_9008() {
        let limiter = Mutex::new(None);
        let start = Instant::now();
        for _ in 0..20 {
            wait_for_create(&limiter).await;
        }
        assert_eq!(Instant::now(), start, "no pace before a 9008");
        slow_creates(&limiter, CREATES_PER_MINUTE_AFTER_9008);
        slow_creates(&limiter, 300); // never raised again
        let mut starts = Vec::new();
        for _ in 0..19 {
            wait_for_create(&limiter).await;
            starts.push(Instant::now());
        }
        for (i, t) in starts.iter().enumerate().skip(9) {
            assert!(
                t.duration_since(starts[i - 9]) >= Duration::from_secs(60),
                "{i}"
            );
        }
        assert!(starts[18].duration_since(start) < CALL_WINDOW * 2 + Duration::from_secs(1));
    }

    #[test]
    fn backoff_is_capped_and_jittered() {
        let b = Backoff {
            base: Duration::from_millis(100),
            cap: Duration::from_millis(500),
        };
        for _ in 0..50 {
            let d1 = b.delay(1);
            assert!(d1 >= Duration::from_millis(50) && d1 <= Duration::from_millis(100));
            assert!(b.delay(10) <= Duration::from_millis(500));
            assert!(b.delay(10) >= Duration::from_millis(250));
        }
    }

    #[test]
    fn classification_follows_error_code_not_status() {
        let info = |code| ErrorInfo {
            error_code: code,
            new_error_code: None,
            message: "m".into(),
        };
        let (e, r) = classify_code(StatusCode::INTERNAL_SERVER_ERROR, info(200_003));
        assert!(matches!(e, ApiError::SignatureRejected { .. }) && matches!(r, Retry::Never));
        assert!(
            e.to_string()
                .contains("check secret_id/secret_key and the system clock")
        );
        let (e, r) = classify_code(StatusCode::BAD_REQUEST, info(190_310));
        assert!(matches!(e, ApiError::RateLimited { .. }) && matches!(r, Retry::Safe));
        let (e, _) = classify_code(StatusCode::INTERNAL_SERVER_ERROR, info(9003));
        assert!(e.is_not_found() && e.is_permanent());
        let (e, r) = classify_code(StatusCode::INTERNAL_SERVER_ERROR, info(500_000));
        assert!(!e.is_permanent() && matches!(r, Retry::IfRepeatable), "{e}");
        let (e, r) = classify_code(StatusCode::BAD_REQUEST, info(123_456));
        assert!(!e.is_permanent() && matches!(r, Retry::Never), "{e}");
        for code in [9008, 190_311, 500_029, 500_168] {
            let (e, r) = classify_code(StatusCode::INTERNAL_SERVER_ERROR, info(code));
            assert!(matches!(e, ApiError::QuotaExceeded { .. }) && matches!(r, Retry::Never));
            assert!(!e.is_permanent());
        }
        for code in [190_310, 190_313, 9061, 9098] {
            let (e, r) = classify_code(StatusCode::INTERNAL_SERVER_ERROR, info(code));
            assert!(matches!(e, ApiError::RateLimited { .. }) && matches!(r, Retry::Safe));
        }
        let (e, _) = classify_code(StatusCode::INTERNAL_SERVER_ERROR, info(190_001));
        assert!(matches!(e, ApiError::UnregisteredUser { .. }) && e.is_permanent());
        let body = b"<html>bad gateway</html>";
        let (e, r) = classify(StatusCode::BAD_GATEWAY, body).unwrap_err();
        assert!(matches!(e, ApiError::Transient { .. }) && matches!(r, Retry::IfRepeatable));
    }
}
