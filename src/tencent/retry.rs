//! The retry policy of the Tencent Meeting client, kept apart from the transport.
//!
//! Owns three decisions: what an answer or a transport failure means (classified by Tencent's
//! `error_code`, never by HTTP status), whether repeating it is safe, and how long to wait
//! (capped, jittered backoff; a client-side token bucket under the API's rate limit). No I/O
//! here: the client feeds in statuses, bodies and errors and gets verdicts back.

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

/// Error codes from reference §4.3/§4.4. Unknown codes are definitive API errors: the server
/// looked at the request and said no, so it did not act and repeating will not change that.
fn classify_code(status: StatusCode, info: ErrorInfo) -> (ApiError, Retry) {
    let ErrorInfo {
        error_code: code,
        message,
        ..
    } = info;
    match code {
        190_310 | 190_311 | 190_313 | 9061 => {
            (ApiError::RateLimited { code, message }, Retry::Safe)
        }
        500_029 | 500_168 => (ApiError::QuotaExceeded { code, message }, Retry::Never),
        200_003 => (ApiError::SignatureRejected { code, message }, Retry::Never),
        190_303 | 50_000 | 50_001 => (ApiError::AuthFailed { code, message }, Retry::Never),
        9003 | 202_001 => (ApiError::NotFound { code, message }, Retry::Never),
        9042 | 403 | 9100 | 9102 | 190_315 | 500_014 => {
            (ApiError::PermissionDenied { code, message }, Retry::Never)
        }
        190_004 | 190_001 | 9093 | 20_001 | 20_003 => {
            (ApiError::InvalidRequest { code, message }, Retry::Never)
        }
        _ => (
            ApiError::Api {
                status: status.as_u16(),
                code,
                message,
            },
            Retry::Never,
        ),
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

/// Token bucket. Capacity is a tenth of the per-minute rate so that even a full burst plus a
/// minute of steady refill stays under the ceiling in any 60-second window (250 + 25 < 300).
#[derive(Debug)]
pub(super) struct TokenBucket {
    capacity: f64,
    tokens: f64,
    per_second: f64,
    last: Instant,
}

impl TokenBucket {
    pub(super) fn new(requests_per_minute: u32, now: Instant) -> Self {
        let capacity = f64::from((requests_per_minute / 10).max(1));
        TokenBucket {
            capacity,
            tokens: capacity,
            per_second: f64::from(requests_per_minute) / 60.0,
            last: now,
        }
    }

    /// Takes a token, or says how long until one is available.
    pub(super) fn try_take(&mut self, now: Instant) -> Result<(), Duration> {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.capacity);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64(
                (1.0 - self.tokens) / self.per_second,
            ))
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_a_burst_then_paces() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(600, start); // 10/s, burst 60
        for _ in 0..60 {
            assert!(bucket.try_take(start).is_ok());
        }
        let wait = bucket.try_take(start).unwrap_err();
        assert!(wait > Duration::from_millis(90) && wait <= Duration::from_millis(100));
        assert!(bucket.try_take(start + Duration::from_millis(100)).is_ok());
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
        let body = b"<html>bad gateway</html>";
        let (e, r) = classify(StatusCode::BAD_GATEWAY, body).unwrap_err();
        assert!(matches!(e, ApiError::Transient { .. }) && matches!(r, Retry::IfRepeatable));
    }
}
