//! A fake Tencent Meeting server for tests: real HTTP on 127.0.0.1, real signature checks.
//!
//! It verifies every request with `calmeet::tencent::sign` and the documented 5-minute skew,
//! answers errors with the API's body shape and codes (200003, 190303, 190004, 9003), keeps
//! meetings in memory, records every request, and injects faults per route — including the one
//! that matters most: performing a create and then dropping the connection unanswered.
//! Optionally it adds a fixed latency to every answer and enforces the documented rate limit
//! (reference §4.4: N calls per minute per app, 190310 beyond; a sliding minute over the calls
//! it served, rejected calls are counted apart as waste).
//! Deliberate simplifications: `pos` 0 lists everything (not "today"), the list cursor is an
//! offset rather than a modification time, and "upcoming" is not filtered by the clock.
#![allow(dead_code)] // each test binary uses a different part of the fake

mod fields;
mod handlers;
pub mod limits;
mod rules;
mod submeetings;

pub use submeetings::{SeriesModify, SubMeetingWindow};

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use calmeet::tencent::{ClientConfig, TencentClient, sign};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use handlers::{Answer, answer, api_error, cancel, create, get, invalid, list, modify};

/// The API routes the fake serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Route {
    Create,
    Get,
    Modify,
    Cancel,
    List,
}

/// A failure to inject into the next request on a route.
#[derive(Clone, Debug)]
pub enum Fault {
    /// Answer this HTTP status with a body that carries no error code; do nothing.
    Status(u16),
    /// Answer `{"error_info":{"error_code":code,…}}` with this HTTP status; do nothing.
    ErrorCode(u16, i64),
    /// Wait this long, then handle the request normally (the client has usually given up).
    Delay(Duration),
    /// Handle the request, then close the connection without answering.
    DropResponseAfterApply,
    /// Handle the request, then answer this status and error code anyway (a server that
    /// failed after acting: the caller cannot know whether it did).
    ErrorCodeAfterApply(u16, i64),
}

/// One request as the fake saw it.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    pub route: Option<Route>,
    pub method: String,
    /// Path and query exactly as received.
    pub uri: String,
    pub query: BTreeMap<String, String>,
    /// Header names lowercased.
    pub headers: BTreeMap<String, String>,
    pub raw_body: Vec<u8>,
    pub body: Option<Value>,
    /// Whether `X-TC-Signature` matched, whatever else was wrong.
    pub signature_valid: bool,
}

/// One occurrence of a stored recurring meeting.
#[derive(Clone, Debug, PartialEq)]
pub struct FakeSubMeeting {
    pub sub_meeting_id: String,
    pub start_time: i64,
    pub end_time: i64,
    pub cancelled: bool,
}

/// A stored meeting.
#[derive(Clone, Debug, PartialEq)]
pub struct FakeMeeting {
    pub meeting_id: String,
    pub meeting_code: String,
    pub join_url: String,
    pub userid: String,
    pub subject: String,
    pub start_time: i64,
    pub end_time: i64,
    pub meeting_type: i64,
    pub password: Option<String>,
    pub location: Option<String>,
    pub time_zone: Option<String>,
    pub settings: Value,
    pub recurring_rule: Option<Value>,
    pub sub_meetings: Vec<FakeSubMeeting>,
    pub cancelled: bool,
    /// Accepted PUTs.
    pub modifications: u32,
    /// Hosts, invitees, live streaming, `sync_to_wework` (see `fields`).
    pub extra: fields::FieldState,
}

#[derive(Default)]
struct State {
    meetings: Vec<FakeMeeting>,
    requests: Vec<RecordedRequest>,
    faults: HashMap<Route, VecDeque<Fault>>,
    page_size: usize,
    page_overlap: bool,
    /// Refuse a PUT that would make a recurring meeting hold occurrences after its last one.
    refuse_extension: bool,
    /// Added before every answer.
    latency: Duration,
    /// (calls, window): at most `calls` served in any `window`; beyond, 190310.
    rate_limit: Option<(usize, Duration)>,
    /// Arrival times of the served calls inside the current window.
    served: VecDeque<tokio::time::Instant>,
    /// Calls answered 190310 by the rate limit.
    rate_limited: usize,
    /// Most calls served within one window so far.
    peak_in_window: usize,
    /// Requests received and not yet answered (or abandoned by the client).
    in_flight: usize,
    /// The sub-meeting model's switches (issue #10).
    sub_model: submeetings::SubMeetingModel,
    /// How create answers report live addresses and unregistered invitees.
    fields: fields::FieldAnswers,
    /// Limits and answer shapes switched on by a test (issue #11).
    limits: limits::Limits,
}

/// Counts a request as in flight until it is answered or its connection is dropped.
struct InFlight(Arc<Mutex<State>>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut st = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        st.in_flight = st.in_flight.saturating_sub(1);
    }
}

/// A running fake server; stops when dropped.
pub struct FakeTencent {
    pub base_url: String,
    pub app_id: String,
    pub sdk_id: Option<String>,
    pub secret_id: String,
    pub secret_key: String,
    state: Arc<Mutex<State>>,
    server: JoinHandle<()>,
}

impl Drop for FakeTencent {
    fn drop(&mut self) {
        self.server.abort();
    }
}

#[derive(Clone)]
struct Creds {
    app_id: String,
    sdk_id: Option<String>,
    secret_id: String,
    secret_key: String,
}

impl FakeTencent {
    /// Starts on 127.0.0.1 with the fake credentials of the signature fixture.
    pub async fn start() -> FakeTencent {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let creds = Creds {
            app_id: "200000001".into(),
            sdk_id: Some("18000000001".into()),
            secret_id: "TestSecretId0123456789".into(),
            secret_key: "TestSecretKey0123456789abcdefGHIJ".into(),
        };
        let state = Arc::new(Mutex::new(State {
            page_size: 20,
            ..State::default()
        }));
        let server = tokio::spawn(accept_loop(listener, state.clone(), creds.clone()));
        FakeTencent {
            base_url: format!("http://{addr}"),
            app_id: creds.app_id,
            sdk_id: creds.sdk_id,
            secret_id: creds.secret_id,
            secret_key: creds.secret_key,
            state,
            server,
        }
    }

    /// A client config with this server's credentials, a 2 s timeout and 4 attempts.
    pub fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new(
            &self.base_url,
            &self.app_id,
            &self.secret_id,
            &self.secret_key,
        );
        config.sdk_id = self.sdk_id.clone();
        config.timeout = Duration::from_secs(2);
        config.requests_per_minute = 60_000;
        config
    }

    /// A client for this server with millisecond backoff.
    pub fn client(&self) -> TencentClient {
        TencentClient::new(self.client_config())
            .unwrap()
            .with_backoff(Duration::from_millis(5), Duration::from_millis(50))
    }

    /// Queues a fault for the next request on `route` (faults fire in FIFO order).
    pub fn inject(&self, route: Route, fault: Fault) {
        let mut state = self.state.lock().unwrap();
        state.faults.entry(route).or_default().push_back(fault);
    }

    pub fn meetings(&self) -> Vec<FakeMeeting> {
        self.state.lock().unwrap().meetings.clone()
    }

    pub fn meeting(&self, meeting_id: &str) -> Option<FakeMeeting> {
        self.meetings()
            .into_iter()
            .find(|m| m.meeting_id == meeting_id)
    }

    pub fn live_meeting_count(&self) -> usize {
        self.meetings().iter().filter(|m| !m.cancelled).count()
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state.lock().unwrap().requests.clone()
    }

    pub fn request_count(&self, route: Route) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.route == Some(route))
            .count()
    }

    /// Meetings per list page (default 20, the API's maximum).
    pub fn set_page_size(&self, size: usize) {
        self.state.lock().unwrap().page_size = size.max(1);
    }

    /// Refuse to extend recurring meetings in place: a PUT whose rule would hold occurrences
    /// after the meeting's current last one is answered 400 + 190004 (invalid parameter on
    /// `recurring_rule`), as an API that keeps the modify-time limit would; any other PUT
    /// (a rename, a shorter rule, one occurrence moved) is accepted as before.
    pub fn refuse_in_place_extension(&self, refuse: bool) {
        self.state.lock().unwrap().refuse_extension = refuse;
    }

    /// Shifts a stored meeting and all its occurrences by `seconds` (negative: into the past),
    /// so that a test can pretend the meeting was created long ago.
    pub fn shift_meeting(&self, meeting_id: &str, seconds: i64) {
        let mut state = self.state.lock().unwrap();
        let m = state
            .meetings
            .iter_mut()
            .find(|m| m.meeting_id == meeting_id)
            .unwrap();
        m.start_time += seconds;
        m.end_time += seconds;
        for s in &mut m.sub_meetings {
            s.start_time += seconds;
            s.end_time += seconds;
            s.sub_meeting_id = s.start_time.to_string();
        }
    }

    /// Repeat the last meeting of each page at the top of the next, as the real API can when
    /// several meetings share a start time.
    pub fn set_page_overlap(&self, overlap: bool) {
        self.state.lock().unwrap().page_overlap = overlap;
    }

    /// Waits this long before answering every request (a real API's round trip).
    pub fn set_latency(&self, latency: Duration) {
        self.state.lock().unwrap().latency = latency;
    }

    /// Enforces at most `calls` per sliding `window` (the real API: 300 per 60 s per app),
    /// answering HTTP 400 with error 190310 beyond it, without acting.
    pub fn set_rate_limit(&self, calls: usize, window: Duration) {
        let mut st = self.state.lock().unwrap();
        st.rate_limit = Some((calls, window));
        st.served.clear();
    }

    /// Requests received and not answered yet (a kill now lands mid-call).
    pub fn in_flight(&self) -> usize {
        self.state.lock().unwrap().in_flight
    }

    /// Calls answered 190310 by the rate limit so far (wasted calls).
    pub fn rate_limited_count(&self) -> usize {
        self.state.lock().unwrap().rate_limited
    }

    /// Most calls served within one rate-limit window so far.
    pub fn peak_calls_in_window(&self) -> usize {
        self.state.lock().unwrap().peak_in_window
    }

    /// Creates beyond `creates` in any `window` are answered 9008 (the older documented
    /// "9 a minute"), without acting.
    pub fn set_create_pace(&self, creates: usize, window: Duration) {
        self.state.lock().unwrap().limits.create_pace = Some((creates, window));
    }

    /// After `creates` accepted creates, every create is answered `code` (500168 monthly,
    /// 500029 hourly, 190311 daily, 9008), without acting; `None` lifts it.
    pub fn set_create_quota(&self, quota: Option<(usize, i64)>) {
        self.state.lock().unwrap().limits.create_quota = quota;
    }

    /// At most `limit` live recurring meetings per userid (the API: 50 per account); beyond,
    /// 190004 naming the limit.
    pub fn set_recurring_limit(&self, limit: Option<usize>) {
        self.state.lock().unwrap().limits.recurring_limit = limit;
    }

    /// Recurring creates ending by count may hold at most `limit` occurrences (the 50 of the
    /// modify/get models instead of the 200 of SDK 1.0.10), else 190004.
    pub fn set_create_occurrence_limit(&self, limit: Option<usize>) {
        self.state.lock().unwrap().limits.create_occurrence_limit = limit;
    }

    /// These userids are not registered: a create inviting them is refused with 190001 or
    /// made without them (`user_non_registered`), per `mode`.
    pub fn set_unregistered(&self, userids: &[&str], mode: limits::Unregistered) {
        let mut st = self.state.lock().unwrap();
        st.limits.unregistered = userids.iter().map(|u| (*u).to_owned()).collect();
        st.limits.unregistered_mode = mode;
    }

    /// Answer optional fields as `null` and numbers as strings (create and get).
    pub fn set_null_fields(&self, on: bool) {
        self.state.lock().unwrap().limits.null_fields = on;
    }

    /// A cancel of a meeting or occurrence that is already cancelled is answered with this
    /// status and code instead of 9003.
    pub fn set_cancel_again_answer(&self, answer: Option<(u16, i64)>) {
        self.state.lock().unwrap().limits.cancel_again = answer;
    }

    /// Cancels a meeting behind calmeet's back (as a user in the Tencent Meeting app would).
    pub fn cancel_outside(&self, meeting_id: &str) {
        let mut st = self.state.lock().unwrap();
        if let Some(m) = st.meetings.iter_mut().find(|m| m.meeting_id == meeting_id) {
            m.cancelled = true;
        }
    }

    /// Leave `live_config.live_addr` out of create answers (as some answers do), so that a
    /// client has to GET the meeting for it.
    pub fn omit_live_addr_on_create(&self, omit: bool) {
        self.state.lock().unwrap().fields.omit_live_addr_on_create = omit;
    }

    /// Leave `live_config.live_addr` out of every answer (create, GET, list, modify).
    pub fn omit_live_addr(&self, omit: bool) {
        self.state.lock().unwrap().fields.omit_live_addr = omit;
    }

    /// Invitee userids the create answer lists in `user_non_registered`, as bare strings or
    /// (`as_objects`) as `{"userid": …}` objects.
    pub fn set_listed_unregistered(&self, userids: &[&str], as_objects: bool) {
        let mut st = self.state.lock().unwrap();
        st.fields.unregistered = userids.iter().map(|u| (*u).to_owned()).collect();
        st.fields.unregistered_as_objects = as_objects;
    }

    /// Forgets the recorded requests (keeps meetings), so a long benchmark does not hold
    /// every request body.
    pub fn clear_requests(&self) {
        self.state.lock().unwrap().requests.clear();
    }
}

/// The sub-meeting model (issue #10): switches and the accessor tests compare calendars with.
impl FakeTencent {
    /// What a series modify does to cancelled and moved occurrences (default: reset them).
    pub fn set_series_modify(&self, mode: SeriesModify) {
        self.state.lock().unwrap().sub_model.on_series_modify = mode;
    }

    /// Show only some sub-meetings: GET lists `window` (with `has_more_sub_meeting` 1 when more
    /// exist), list shows the first live one unless asked `is_show_all_sub_meetings=1`.
    /// `None` (the default) shows them all everywhere.
    pub fn set_sub_meeting_window(&self, window: Option<SubMeetingWindow>) {
        self.state.lock().unwrap().sub_model.window = window;
    }

    /// With a sub-meeting window, make the list endpoint ignore `is_show_all_sub_meetings=1`.
    pub fn set_list_ignores_show_all(&self, ignores: bool) {
        self.state.lock().unwrap().sub_model.list_ignores_show_all = ignores;
    }

    /// Live occurrence intervals `[start, end)` (unix seconds) of every live meeting, by
    /// meeting id, in order of start: what the meeting holds as a user would see it.
    pub fn live_occurrences(&self) -> BTreeMap<String, Vec<(i64, i64)>> {
        submeetings::live_occurrences(&self.state.lock().unwrap().meetings)
    }
}

/// Counts a call against the rate limit; `false` when it is over the limit.
fn admit(st: &mut State) -> bool {
    let Some((calls, window)) = st.rate_limit else {
        return true;
    };
    let now = tokio::time::Instant::now();
    while st
        .served
        .front()
        .is_some_and(|&t| now.saturating_duration_since(t) >= window)
    {
        st.served.pop_front();
    }
    if st.served.len() >= calls {
        st.rate_limited += 1;
        return false;
    }
    st.served.push_back(now);
    st.peak_in_window = st.peak_in_window.max(st.served.len());
    true
}

async fn accept_loop(listener: TcpListener, state: Arc<Mutex<State>>, creds: Creds) {
    while let Ok((stream, _)) = listener.accept().await {
        let (state, creds) = (state.clone(), creds.clone());
        tokio::spawn(async move {
            // Notified by a handler that wants the connection closed without an answer.
            let hang_up = Arc::new(Notify::new());
            let handler_hang_up = hang_up.clone();
            let service = service_fn(move |req| {
                handle(state.clone(), creds.clone(), handler_hang_up.clone(), req)
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                _ = conn => {}
                () = hang_up.notified() => {} // dropping `conn` closes the socket
            }
        });
    }
}

fn route_of(method: &Method, path: &str) -> Option<(Route, Option<String>)> {
    let rest = path.strip_prefix("/v1/meetings")?;
    let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    match (method.as_str(), segments.as_slice()) {
        ("POST", []) => Some((Route::Create, None)),
        ("GET", []) => Some((Route::List, None)),
        ("GET", [id]) => Some((Route::Get, Some((*id).to_owned()))),
        ("PUT", [id]) => Some((Route::Modify, Some((*id).to_owned()))),
        ("POST", [id, "cancel"]) => Some((Route::Cancel, Some((*id).to_owned()))),
        _ => None,
    }
}

async fn handle(
    state: Arc<Mutex<State>>,
    creds: Creds,
    hang_up: Arc<Notify>,
    req: Request<Incoming>,
) -> Result<Answer, Infallible> {
    let method = req.method().clone();
    let uri = req
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    let path = req.uri().path().to_owned();
    let query: BTreeMap<String, String> =
        url::form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let headers: BTreeMap<String, String> = req
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let raw_body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes().to_vec())
        .unwrap_or_default();
    let body = serde_json::from_slice::<Value>(&raw_body).ok();
    let route = route_of(&method, &path);
    let header = |name: &str| headers.get(name).cloned().unwrap_or_default();
    let signature_valid = sign::verify(
        creds.secret_key.as_bytes(),
        method.as_str(),
        &header("x-tc-key"),
        &header("x-tc-nonce"),
        &header("x-tc-timestamp"),
        &uri,
        &raw_body,
        &header("x-tc-signature"),
    );
    let (fault, latency, admitted) = {
        let mut st = state.lock().unwrap();
        let admitted = route.is_none() || admit(&mut st);
        st.in_flight += 1;
        st.requests.push(RecordedRequest {
            route: route.as_ref().map(|r| r.0),
            method: method.to_string(),
            uri: uri.clone(),
            query: query.clone(),
            headers: headers.clone(),
            raw_body: raw_body.clone(),
            body: body.clone(),
            signature_valid,
        });
        let fault = route
            .as_ref()
            .filter(|_| admitted)
            .and_then(|(r, _)| st.faults.get_mut(r)?.pop_front());
        (fault, st.latency, admitted)
    };
    let _in_flight = InFlight(Arc::clone(&state));
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    if !admitted {
        return Ok(api_error(
            400,
            190_310,
            "per-minute total call limit exceeded (每分钟总接口调用次数超过限制)",
        ));
    }
    let Some((route, meeting_id)) = route else {
        return Ok(answer(404, &json!({"message": "no such route"})));
    };
    // Everything after the fault runs as one unit so that a delayed request still completes
    // when the client gives up and hangs up, as a slow real server would.
    let work = move || {
        if let Some(rejection) = authenticate(&creds, &headers, signature_valid) {
            return rejection;
        }
        let mut st = state.lock().unwrap();
        let id = meeting_id.as_deref().unwrap_or("");
        match (route, body.as_ref()) {
            (Route::List, _) => list(&st, &query),
            (Route::Get, _) if st.limits.null_fields => limits::get_with_nulls(&st, id),
            (Route::Get, _) => get(&st, id, &query),
            (_, None) => invalid(&"body is not JSON".to_owned()),
            (Route::Create, Some(body)) => match limits::admit_create(&mut st, body) {
                Err(refusal) => refusal,
                Ok((body, left_out)) => {
                    let before = st.meetings.len();
                    let plain = create(&mut st, &body);
                    if st.meetings.len() > before {
                        limits::created(&mut st, &left_out)
                    } else {
                        plain
                    }
                }
            },
            (Route::Modify, Some(body)) => modify(&mut st, id, body),
            (Route::Cancel, Some(body)) => {
                limits::cancel_again(&st, id, body).unwrap_or_else(|| cancel(&mut st, id, body))
            }
        }
    };
    match fault {
        Some(Fault::Status(status)) => Ok(answer(status, &json!({"message": "injected"}))),
        Some(Fault::ErrorCode(status, code)) => Ok(api_error(status, code, "injected fault")),
        Some(Fault::Delay(delay)) => {
            let task = tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                work()
            });
            Ok(task.await.unwrap())
        }
        Some(Fault::ErrorCodeAfterApply(status, code)) => {
            drop(work());
            Ok(api_error(status, code, "internal error"))
        }
        Some(Fault::DropResponseAfterApply) => {
            drop(work());
            hang_up.notify_one();
            std::future::pending().await
        }
        None => Ok(work()),
    }
}

/// Header checks in the order a gateway would make them; `None` means authenticated.
fn authenticate(
    creds: &Creds,
    h: &BTreeMap<String, String>,
    signature_valid: bool,
) -> Option<Answer> {
    let auth_failed = || {
        Some(api_error(
            400,
            190_303,
            "authentication failed: check AppId and X-TC-Key; do not send SdkId if none was assigned",
        ))
    };
    if h.get("x-tc-key") != Some(&creds.secret_id) || h.get("appid") != Some(&creds.app_id) {
        return auth_failed();
    }
    if h.get("sdkid") != creds.sdk_id.as_ref() {
        return auth_failed();
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let skew_ok = h
        .get("x-tc-timestamp")
        .and_then(|t| t.parse::<u64>().ok())
        .is_some_and(|t| t.abs_diff(now) <= 300);
    let nonce_ok = h
        .get("x-tc-nonce")
        .and_then(|n| n.parse::<u64>().ok())
        .is_some_and(|n| n > 0);
    if !skew_ok || !nonce_ok || !signature_valid {
        return Some(api_error(500, 200_003, "Signature failed"));
    }
    None
}
