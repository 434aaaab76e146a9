//! The HTTP transport for the Tencent Meeting API: signing, rate limiting, retries.
//!
//! Owns the one `reqwest::Client`, the per-attempt signature (fresh nonce and timestamp every
//! time), the client-side ceiling of calls per minute, and the retry policy. The policy's central rule: a
//! create is retried only when the failure proves the server did not act (a rate-limit error
//! code, or a connection that was never established); any other failure after the request may
//! have reached the server becomes [`ApiError::Ambiguous`], because a second create would make a
//! second meeting and spend the monthly create quota. This module never logs or formats the
//! secret key, and it never decides what a failure means for an event — the sync engine does.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::Method;
use url::{Position, Url, form_urlencoded};

pub use super::retry::DEFAULT_CALLS_PER_MINUTE;
use super::retry::{Backoff, CallWindow, Retry, classify, network_failure, wait_for_call};
use super::types::{
    CancelMeetingRequest, CreateMeetingRequest, ListMeetingsResponse, MeetingInfo, MeetingInfoList,
    ModifyMeetingRequest,
};
use super::{ApiError, MeetingApi, sign};
use crate::config::Secret;

/// Stop following list pages after this many (1000 meetings); a reconciliation that cannot see
/// the whole list must fail rather than conclude a meeting is missing.
const MAX_LIST_PAGES: usize = 50;

/// Largest answer read from the API; real ones are a few kilobytes.
pub const MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;

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
    /// The HMAC key. Never printed: `Debug` redacts it; zeroized on drop.
    pub secret_key: Secret,
    /// Whole-request timeout for one attempt.
    pub timeout: Duration,
    /// Attempts per call including the first (at least 1).
    pub max_attempts: u32,
    /// Client-side ceiling: at most this many calls (retries included) start in any minute.
    /// Tencent's documented limit is 300/minute/app ([`DEFAULT_CALLS_PER_MINUTE`]).
    pub requests_per_minute: u32,
}

impl ClientConfig {
    /// A config with the defaults: 30 s timeout, 4 attempts, 300 requests per minute.
    #[must_use]
    pub fn new(
        api_base: &str,
        app_id: &str,
        secret_id: &str,
        secret_key: impl Into<Secret>,
    ) -> Self {
        ClientConfig {
            api_base: api_base.to_owned(),
            app_id: app_id.to_owned(),
            sdk_id: None,
            secret_id: secret_id.to_owned(),
            secret_key: secret_key.into(),
            timeout: Duration::from_secs(30),
            max_attempts: 4,
            requests_per_minute: DEFAULT_CALLS_PER_MINUTE,
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
    limiter: Arc<Mutex<CallWindow>>,
}

/// The call window of one app, shared by every client this process builds for it: the API
/// counts calls per app, and a SIGHUP reload builds a new client, which must not start with an
/// empty window in the middle of a backlog while the server still counts the last minute.
fn shared_window(api_base: &str, app_id: &str, calls_per_minute: u32) -> Arc<Mutex<CallWindow>> {
    type Windows = HashMap<(String, String), Arc<Mutex<CallWindow>>>;
    static WINDOWS: OnceLock<Mutex<Windows>> = OnceLock::new();
    let mut windows = WINDOWS
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    let window = windows
        .entry((api_base.to_owned(), app_id.to_owned()))
        .or_insert_with(|| Arc::new(Mutex::new(CallWindow::new(calls_per_minute))));
    window
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .set_limit(calls_per_minute);
    Arc::clone(window)
}

impl TencentClient {
    /// Builds the client. Fails on an unusable `api_base`, zero limits, or a TLS setup error.
    ///
    /// # Errors
    /// [`ApiError::Invalid`] describing the setting at fault.
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
        let limiter = shared_window(&config.api_base, &config.app_id, config.requests_per_minute);
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
    ///
    /// # Errors
    /// Any [`ApiError`]; [`ApiError::Ambiguous`] when the meeting may have been created.
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
    ///
    /// # Errors
    /// Any [`ApiError`]; [`ApiError::NotFound`] for an unknown or cancelled meeting.
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
    ///
    /// # Errors
    /// Any [`ApiError`]; [`ApiError::NotFound`] when it is already gone.
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
    ///
    /// # Errors
    /// Any [`ApiError`]; [`ApiError::NotFound`] for an unknown meeting.
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
    ///
    /// # Errors
    /// Any [`ApiError`]; [`ApiError::InvalidResponse`] when paging does not end.
    pub async fn list_meetings(
        &self,
        userid: &str,
        instanceid: i64,
        pos: i64,
    ) -> Result<Vec<MeetingInfo>, ApiError> {
        self.list_pages(userid, instanceid, pos, false).await
    }

    /// [`TencentClient::list_meetings`] with `is_show_all_sub_meetings=1`: each recurring
    /// meeting with every sub-meeting, not only its first (reference §2.6, §3.3).
    ///
    /// # Errors
    /// Any [`ApiError`]; [`ApiError::InvalidResponse`] when paging does not end.
    pub async fn list_meetings_with_all_sub_meetings(
        &self,
        userid: &str,
        instanceid: i64,
        pos: i64,
    ) -> Result<Vec<MeetingInfo>, ApiError> {
        self.list_pages(userid, instanceid, pos, true).await
    }

    async fn list_pages(
        &self,
        userid: &str,
        instanceid: i64,
        pos: i64,
        all_sub_meetings: bool,
    ) -> Result<Vec<MeetingInfo>, ApiError> {
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        let mut cursor = (pos, None::<i64>);
        for _ in 0..MAX_LIST_PAGES {
            let path = list_path(userid, instanceid, cursor, all_sub_meetings);
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
        let endpoint = crate::metrics::endpoint_of(method.as_str(), path_and_query);
        let mut attempt = 1;
        loop {
            self.acquire_token().await;
            let sent = self.send_once(&method, &url, body.as_deref()).await;
            crate::metrics::global()
                .api_call(endpoint, sent.as_ref().map(|_| ()).map_err(|e| &e.0));
            let (error, retry) = match sent {
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
            config.secret_key.expose().as_bytes(),
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
        let mut response = request.send().await.map_err(|e| network_failure(&e))?;
        let status = response.status();
        // The server has answered, so it may have acted: an oversized answer is treated like a
        // lost one (repeatable calls retry, a create becomes ambiguous).
        let too_large = || {
            (
                ApiError::InvalidResponse {
                    detail: format!("the answer is larger than {MAX_RESPONSE_BYTES} bytes"),
                },
                Retry::IfRepeatable,
            )
        };
        if response
            .content_length()
            .is_some_and(|n| n > MAX_RESPONSE_BYTES as u64)
        {
            return Err(too_large());
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| network_failure(&e))? {
            if bytes.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(too_large());
            }
            bytes.extend_from_slice(&chunk);
        }
        classify(status, &bytes).map(|()| bytes)
    }

    fn url(&self, path_and_query: &str) -> Result<Url, ApiError> {
        let base = self.inner.config.api_base.trim_end_matches('/');
        Url::parse(&format!("{base}{path_and_query}"))
            .map_err(|e| ApiError::Invalid(format!("cannot form request URL: {e}")))
    }

    async fn acquire_token(&self) {
        wait_for_call(&self.inner.limiter).await;
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

    async fn list_meetings_with_all_sub_meetings(
        &self,
        userid: &str,
        instanceid: i64,
        pos: i64,
    ) -> Result<Vec<MeetingInfo>, ApiError> {
        TencentClient::list_meetings_with_all_sub_meetings(self, userid, instanceid, pos).await
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

/// The list URL for one page; built apart because the serializer is not `Send`.
fn list_path(
    userid: &str,
    instanceid: i64,
    (pos, cursory): (i64, Option<i64>),
    all_sub_meetings: bool,
) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    query
        .append_pair("userid", userid)
        .append_pair("instanceid", &instanceid.to_string())
        .append_pair("pos", &pos.to_string());
    if let Some(cursory) = cursory {
        query.append_pair("cursory", &cursory.to_string());
    }
    if all_sub_meetings {
        query.append_pair("is_show_all_sub_meetings", "1");
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn clients_of_one_app_share_their_call_window_across_reloads() {
        let base = "http://127.0.0.1:9/window-test";
        let first = shared_window(base, "app-1", 2);
        let now = tokio::time::Instant::now();
        first.lock().unwrap().try_take(now).unwrap();
        first.lock().unwrap().try_take(now).unwrap();
        // A reload builds a new client: same window, already full.
        let reloaded = shared_window(base, "app-1", 2);
        assert!(Arc::ptr_eq(&first, &reloaded));
        assert!(reloaded.lock().unwrap().try_take(now).is_err());
        // A raised limit takes effect on the shared window.
        let raised = shared_window(base, "app-1", 3);
        assert!(raised.lock().unwrap().try_take(now).is_ok());
        // Another app has its own.
        let other = shared_window(base, "app-2", 2);
        assert!(!Arc::ptr_eq(&first, &other));
        assert!(other.lock().unwrap().try_take(now).is_ok());
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
