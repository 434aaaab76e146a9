//! The HTTP transport for the Tencent Meeting API: signing, rate limiting, retries.
//!
//! Owns the one `reqwest::Client`, the per-attempt signature (fresh nonce and timestamp every
//! time), the client-side token bucket, and the retry policy. The policy's central rule: a
//! create is retried only when the failure proves the server did not act (a rate-limit error
//! code, or a connection that was never established); any other failure after the request may
//! have reached the server becomes [`ApiError::Ambiguous`], because a second create would make a
//! second meeting and spend the monthly create quota. This module never logs or formats the
//! secret key, and it never decides what a failure means for an event — the sync engine does.

use std::collections::HashSet;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::{Method, StatusCode};
use tokio::time::Instant;
use url::{Position, Url, form_urlencoded};

use super::types::{
    CancelMeetingRequest, CreateMeetingRequest, ErrorBody, ErrorInfo, ListMeetingsResponse,
    MeetingInfo, MeetingInfoList, ModifyMeetingRequest,
};
use super::{ApiError, MeetingApi, sign};

/// Stop following list pages after this many (1000 meetings); a reconciliation that cannot see
/// the whole list must fail rather than conclude a meeting is missing.
const MAX_LIST_PAGES: usize = 50;

/// Settings of the Tencent Meeting client.
#[derive(Clone)]
pub struct ClientConfig {
    /// Scheme and host (optionally a path prefix), e.g. `https://api.meeting.qq.com`.
    pub api_base: String,
    /// Enterprise id (`AppId` header).
    pub app_id: String,
    /// Application id (`SdkId` header), only if Tencent assigned one.
    pub sdk_id: Option<String>,
    /// `X-TC-Key`.
    pub secret_id: String,
    /// The HMAC key. Never printed: `Debug` redacts it.
    pub secret_key: String,
    /// Whole-request timeout for one attempt.
    pub timeout: Duration,
    /// Attempts per call including the first (at least 1).
    pub max_attempts: u32,
    /// Client-side ceiling; keep it below the documented 300/minute/app.
    pub requests_per_minute: u32,
}

impl ClientConfig {
    /// A config with the defaults: 30 s timeout, 4 attempts, 250 requests per minute.
    #[must_use]
    pub fn new(api_base: &str, app_id: &str, secret_id: &str, secret_key: &str) -> Self {
        ClientConfig {
            api_base: api_base.to_owned(),
            app_id: app_id.to_owned(),
            sdk_id: None,
            secret_id: secret_id.to_owned(),
            secret_key: secret_key.to_owned(),
            timeout: Duration::from_secs(30),
            max_attempts: 4,
            requests_per_minute: 250,
        }
    }
}

impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfig")
            .field("api_base", &self.api_base)
            .field("app_id", &self.app_id)
            .field("sdk_id", &self.sdk_id)
            .field("secret_id", &self.secret_id)
            .field("secret_key", &"<redacted>")
            .field("timeout", &self.timeout)
            .field("max_attempts", &self.max_attempts)
            .field("requests_per_minute", &self.requests_per_minute)
            .finish()
    }
}

/// Signed client for the Tencent Meeting REST API. Cloning is cheap and clones share the HTTP
/// connection pool and the rate limiter.
#[derive(Clone, Debug)]
pub struct TencentClient {
    inner: Arc<Inner>,
    backoff: Backoff,
}

#[derive(Debug)]
struct Inner {
    http: reqwest::Client,
    config: ClientConfig,
    limiter: Mutex<TokenBucket>,
}

/// Outcome of one failed attempt: the error, and whether another attempt is safe.
enum Retry {
    /// Definitive answer; another attempt gets the same one.
    Never,
    /// The server certainly did not act (rate limited, never connected).
    Safe,
    /// The server may have acted; only repeatable operations may go again.
    IfRepeatable,
}

impl TencentClient {
    /// Builds the client. Fails on an unusable `api_base`, zero limits, or a TLS setup error.
    pub fn new(config: ClientConfig) -> Result<Self, ApiError> {
        let base = Url::parse(&config.api_base)
            .map_err(|e| ApiError::Invalid(format!("api_base {:?}: {e}", config.api_base)))?;
        if !matches!(base.scheme(), "http" | "https") || base.query().is_some() {
            return Err(ApiError::Invalid(format!(
                "api_base {:?} must be an http(s) URL without a query",
                config.api_base
            )));
        }
        if config.max_attempts == 0 || config.requests_per_minute == 0 {
            return Err(ApiError::Invalid(
                "max_attempts and requests_per_minute must be at least 1".into(),
            ));
        }
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(10)))
            // A redirect would re-send a request signed for another URI; surface it instead.
            .redirect(reqwest::redirect::Policy::none())
            // hyper lowercases header names; the official Go SDK sends Go's canonical case
            // ("X-Tc-Key", "Appid"), so the API demonstrably accepts this spelling.
            .http1_title_case_headers()
            .user_agent(concat!("calmeet/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ApiError::Invalid(format!("cannot build the HTTP client: {e}")))?;
        let limiter = Mutex::new(TokenBucket::new(config.requests_per_minute, Instant::now()));
        Ok(TencentClient {
            inner: Arc::new(Inner {
                http,
                config,
                limiter,
            }),
            backoff: Backoff::default(),
        })
    }

    /// Replaces the retry delays (first delay, cap); tests use milliseconds.
    #[must_use]
    pub fn with_backoff(mut self, base: Duration, cap: Duration) -> Self {
        self.backoff = Backoff { base, cap };
        self
    }

    /// `POST /v1/meetings`. See [`MeetingApi::create_meeting`] for the ambiguity contract.
    pub async fn create_meeting(
        &self,
        req: &CreateMeetingRequest,
    ) -> Result<MeetingInfo, ApiError> {
        const OP: &str = "create meeting";
        let body = encode(req)?;
        let bytes = self
            .call(Method::POST, "/v1/meetings", Some(body), false)
            .await
            .map_err(|e| e.into_api_error(OP))?;
        // The server said yes, so a meeting probably exists; without its id the caller must
        // reconcile rather than create again.
        let list: MeetingInfoList = decode(&bytes).map_err(|e| ApiError::Ambiguous {
            operation: OP,
            detail: e.to_string(),
        })?;
        list.meeting_info_list
            .into_iter()
            .next()
            .ok_or_else(|| ApiError::Ambiguous {
                operation: OP,
                detail: "success answer listed no meeting".into(),
            })
    }

    /// `PUT /v1/meetings/{id}`.
    pub async fn modify_meeting(
        &self,
        meeting_id: &str,
        req: &ModifyMeetingRequest,
    ) -> Result<(), ApiError> {
        let path = format!("/v1/meetings/{}", path_segment(meeting_id)?);
        let body = encode(req)?;
        self.call(Method::PUT, &path, Some(body), true)
            .await
            .map_err(|e| e.into_api_error("modify meeting"))?;
        Ok(())
    }

    /// `POST /v1/meetings/{id}/cancel`. Repeated on transient failures: a repeat after a lost
    /// success answer gets [`ApiError::NotFound`], which the caller treats as cancelled.
    pub async fn cancel_meeting(
        &self,
        meeting_id: &str,
        req: &CancelMeetingRequest,
    ) -> Result<(), ApiError> {
        let path = format!("/v1/meetings/{}/cancel", path_segment(meeting_id)?);
        let body = encode(req)?;
        self.call(Method::POST, &path, Some(body), true)
            .await
            .map_err(|e| e.into_api_error("cancel meeting"))?;
        Ok(())
    }

    /// `GET /v1/meetings/{id}?userid=..&instanceid=..`.
    pub async fn get_meeting(
        &self,
        meeting_id: &str,
        userid: &str,
        instanceid: i64,
    ) -> Result<MeetingInfo, ApiError> {
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("userid", userid)
            .append_pair("instanceid", &instanceid.to_string())
            .finish();
        let path = format!("/v1/meetings/{}?{query}", path_segment(meeting_id)?);
        let bytes = self
            .call(Method::GET, &path, None, true)
            .await
            .map_err(|e| e.into_api_error("get meeting"))?;
        let list: MeetingInfoList = decode(&bytes)?;
        list.meeting_info_list
            .into_iter()
            .next()
            .ok_or_else(|| ApiError::NotFound {
                code: 0,
                message: format!("no meeting {meeting_id} in the answer"),
            })
    }

    /// `GET /v1/meetings?userid=..&instanceid=..&pos=..`, following `next_pos`/`next_cursory`
    /// until `remaining` is 0. Meetings sharing a start time can repeat across pages, so the
    /// result is de-duplicated by `meeting_id` (first sighting wins).
    pub async fn list_meetings(
        &self,
        userid: &str,
        instanceid: i64,
        pos: i64,
    ) -> Result<Vec<MeetingInfo>, ApiError> {
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        let mut cursor = (pos, None::<i64>);
        for _ in 0..MAX_LIST_PAGES {
            let path = list_path(userid, instanceid, cursor);
            let bytes = self
                .call(Method::GET, &path, None, true)
                .await
                .map_err(|e| e.into_api_error("list meetings"))?;
            let page: ListMeetingsResponse = decode(&bytes)?;
            for meeting in page.meeting_info_list {
                if seen.insert(meeting.meeting_id.clone()) {
                    out.push(meeting);
                }
            }
            if page.remaining <= 0 {
                return Ok(out);
            }
            let next = (page.next_pos, Some(page.next_cursory));
            if next == cursor {
                return Err(ApiError::InvalidResponse {
                    detail: format!("meeting list paging did not advance past pos {}", cursor.0),
                });
            }
            cursor = next;
        }
        Err(ApiError::InvalidResponse {
            detail: format!("meeting list did not end within {MAX_LIST_PAGES} pages"),
        })
    }

    /// Sends one logical call with retries. `repeatable` says the operation is safe to send
    /// twice; without it any failure after the request may have arrived is terminal.
    async fn call(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<Vec<u8>>,
        repeatable: bool,
    ) -> Result<Vec<u8>, CallError> {
        let url = self.url(path_and_query).map_err(CallError::Final)?;
        let max = self.inner.config.max_attempts;
        let mut attempt = 1;
        loop {
            self.acquire_token().await;
            let (error, retry) = match self.send_once(&method, &url, body.as_deref()).await {
                Ok(bytes) => return Ok(bytes),
                Err(failure) => failure,
            };
            let may_retry = match retry {
                Retry::Never => false,
                Retry::Safe => true,
                Retry::IfRepeatable if repeatable => true,
                Retry::IfRepeatable => return Err(CallError::MaybeApplied(error)),
            };
            if !may_retry || attempt >= max {
                return Err(CallError::Final(error));
            }
            tracing::debug!(attempt, %error, "retrying Tencent Meeting call");
            tokio::time::sleep(self.backoff.delay(attempt)).await;
            attempt += 1;
        }
    }

    /// One signed HTTP exchange. The signature covers exactly the URI and body bytes sent.
    async fn send_once(
        &self,
        method: &Method,
        url: &Url,
        body: Option<&[u8]>,
    ) -> Result<Vec<u8>, (ApiError, Retry)> {
        let config = &self.inner.config;
        let nonce = fresh_nonce();
        let timestamp = unix_now().to_string();
        let uri = &url[Position::BeforePath..];
        let signature = sign::signature(
            config.secret_key.as_bytes(),
            method.as_str(),
            &config.secret_id,
            &nonce,
            &timestamp,
            uri,
            body.unwrap_or_default(),
        );
        let mut request = self
            .inner
            .http
            .request(method.clone(), url.clone())
            .header("Content-Type", "application/json")
            .header("X-TC-Key", &config.secret_id)
            .header("X-TC-Timestamp", &timestamp)
            .header("X-TC-Nonce", &nonce)
            .header("X-TC-Signature", signature)
            .header("AppId", &config.app_id)
            .header("X-TC-Registered", "1");
        if let Some(sdk_id) = &config.sdk_id {
            request = request.header("SdkId", sdk_id);
        }
        if let Some(body) = body {
            request = request.body(body.to_vec());
        }
        let response = request.send().await.map_err(network_failure)?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(network_failure)?;
        classify(status, &bytes).map(|()| bytes.to_vec())
    }

    fn url(&self, path_and_query: &str) -> Result<Url, ApiError> {
        let base = self.inner.config.api_base.trim_end_matches('/');
        Url::parse(&format!("{base}{path_and_query}"))
            .map_err(|e| ApiError::Invalid(format!("cannot form request URL: {e}")))
    }

    async fn acquire_token(&self) {
        loop {
            let wait = {
                let mut bucket = self
                    .inner
                    .limiter
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                match bucket.try_take(Instant::now()) {
                    Ok(()) => return,
                    Err(wait) => wait,
                }
            };
            tokio::time::sleep(wait).await;
        }
    }
}

impl MeetingApi for TencentClient {
    async fn create_meeting(&self, req: &CreateMeetingRequest) -> Result<MeetingInfo, ApiError> {
        TencentClient::create_meeting(self, req).await
    }

    async fn modify_meeting(
        &self,
        meeting_id: &str,
        req: &ModifyMeetingRequest,
    ) -> Result<(), ApiError> {
        TencentClient::modify_meeting(self, meeting_id, req).await
    }

    async fn cancel_meeting(
        &self,
        meeting_id: &str,
        req: &CancelMeetingRequest,
    ) -> Result<(), ApiError> {
        TencentClient::cancel_meeting(self, meeting_id, req).await
    }

    async fn get_meeting(
        &self,
        meeting_id: &str,
        userid: &str,
        instanceid: i64,
    ) -> Result<MeetingInfo, ApiError> {
        TencentClient::get_meeting(self, meeting_id, userid, instanceid).await
    }

    async fn list_meetings(
        &self,
        userid: &str,
        instanceid: i64,
        pos: i64,
    ) -> Result<Vec<MeetingInfo>, ApiError> {
        TencentClient::list_meetings(self, userid, instanceid, pos).await
    }
}

/// A failed call, remembering whether the server may have acted.
enum CallError {
    Final(ApiError),
    MaybeApplied(ApiError),
}

impl CallError {
    fn into_api_error(self, operation: &'static str) -> ApiError {
        match self {
            CallError::Final(e) => e,
            CallError::MaybeApplied(e) => ApiError::Ambiguous {
                operation,
                detail: e.to_string(),
            },
        }
    }
}

/// Maps an HTTP answer to success or a classified failure, by `error_code` first.
fn classify(status: StatusCode, body: &[u8]) -> Result<(), (ApiError, Retry)> {
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
fn network_failure(err: reqwest::Error) -> (ApiError, Retry) {
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
            detail: format!("{kind}: {}", error_chain(&err)),
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

/// The list URL for one page; built apart because the serializer is not `Send`.
fn list_path(userid: &str, instanceid: i64, (pos, cursory): (i64, Option<i64>)) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    query
        .append_pair("userid", userid)
        .append_pair("instanceid", &instanceid.to_string())
        .append_pair("pos", &pos.to_string());
    if let Some(cursory) = cursory {
        query.append_pair("cursory", &cursory.to_string());
    }
    format!("/v1/meetings?{}", query.finish())
}

fn encode<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, ApiError> {
    serde_json::to_vec(value).map_err(|e| ApiError::Invalid(format!("cannot encode request: {e}")))
}

fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| ApiError::InvalidResponse {
        detail: format!("cannot parse the answer: {e}"),
    })
}

/// Meeting ids are digits; refusing anything else keeps a bad id from rewriting the path.
fn path_segment(id: &str) -> Result<&str, ApiError> {
    if !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        Ok(id)
    } else {
        Err(ApiError::Invalid(format!(
            "meeting id {id:?} is not a valid id"
        )))
    }
}

/// The official SDKs' nonce shape: unix milliseconds × 10⁶ + six random digits (positive, fits
/// u64, practically unique per attempt).
fn fresh_nonce() -> String {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(0));
    let random: u64 = rand::random_range(0..1_000_000);
    millis
        .saturating_mul(1_000_000)
        .saturating_add(random)
        .max(1)
        .to_string()
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Capped exponential backoff with jitter between half and the full delay, so clients that
/// failed together do not retry together.
#[derive(Clone, Copy, Debug)]
struct Backoff {
    base: Duration,
    cap: Duration,
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
    fn delay(&self, attempt: u32) -> Duration {
        let factor = 1u32 << attempt.saturating_sub(1).min(16);
        let full = self.base.saturating_mul(factor).min(self.cap);
        let full_ms = u64::try_from(full.as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(rand::random_range(full_ms / 2..=full_ms))
    }
}

/// Token bucket. Capacity is a tenth of the per-minute rate so that even a full burst plus a
/// minute of steady refill stays under the ceiling in any 60-second window (250 + 25 < 300).
#[derive(Debug)]
struct TokenBucket {
    capacity: f64,
    tokens: f64,
    per_second: f64,
    last: Instant,
}

impl TokenBucket {
    fn new(requests_per_minute: u32, now: Instant) -> Self {
        let capacity = f64::from((requests_per_minute / 10).max(1));
        TokenBucket {
            capacity,
            tokens: capacity,
            per_second: f64::from(requests_per_minute) / 60.0,
            last: now,
        }
    }

    /// Takes a token, or says how long until one is available.
    fn try_take(&mut self, now: Instant) -> Result<(), Duration> {
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
        let body = br#"<html>bad gateway</html>"#;
        let (e, r) = classify(StatusCode::BAD_GATEWAY, body).unwrap_err();
        assert!(matches!(e, ApiError::Transient { .. }) && matches!(r, Retry::IfRepeatable));
    }

    #[test]
    fn debug_never_shows_the_secret_key() {
        let config = ClientConfig::new("https://x", "1", "id", "TopSecretKey");
        assert!(!format!("{config:?}").contains("TopSecretKey"));
        let client = TencentClient::new(config).unwrap();
        assert!(!format!("{client:?}").contains("TopSecretKey"));
    }

    #[test]
    fn odd_meeting_ids_are_refused_before_sending() {
        assert!(path_segment("7567173273889276131").is_ok());
        assert!(path_segment("../users").is_err());
        assert!(path_segment("").is_err());
    }
}
