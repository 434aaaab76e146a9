//! An HTTP proxy for fault tests, put between calmeet and a real server (Radicale or the fake
//! Tencent API). It forwards every request unchanged and, per HTTP method, injects queued
//! faults: a connection reset before or after forwarding, a status, or a hook that runs first
//! (e.g. a user's concurrent edit straight on the server, to provoke a real 412).
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// Something to run before a request is forwarded; gets the request's path.
pub type Hook = Box<dyn FnOnce(String) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send>;

/// A fault for the next request with a given method.
pub enum ProxyFault {
    /// Close the connection without forwarding or answering.
    ResetBefore,
    /// Forward (the server acts), then close the connection without answering.
    ResetAfter,
    /// Answer this status without forwarding.
    Status(u16),
    /// Run the hook, then forward normally.
    Before(Hook),
}

#[derive(Default)]
struct State {
    faults: HashMap<String, VecDeque<ProxyFault>>,
    /// (method, path, status or 0 for a reset) of every request.
    log: Vec<(String, String, u16)>,
}

/// A running proxy; stops when dropped.
pub struct DavProxy {
    /// `http://127.0.0.1:PORT`
    pub base: url::Url,
    state: Arc<Mutex<State>>,
    server: JoinHandle<()>,
}

impl Drop for DavProxy {
    fn drop(&mut self) {
        self.server.abort();
    }
}

type Answer = Response<Full<Bytes>>;

impl DavProxy {
    /// Starts a proxy to `upstream` (scheme, host and port; paths are kept).
    pub async fn start(upstream: url::Url) -> DavProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State::default()));
        // A fresh connection per request: a server that closes idle connections (SOGo) would
        // otherwise reset a pooled one and fail a request calmeet sent correctly.
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(0)
            .build()
            .unwrap();
        let st = state.clone();
        let server = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (st, http, upstream) = (st.clone(), http.clone(), upstream.clone());
                tokio::spawn(async move {
                    let hang_up = Arc::new(Notify::new());
                    let h = hang_up.clone();
                    let service = service_fn(move |req| {
                        handle(st.clone(), http.clone(), upstream.clone(), h.clone(), req)
                    });
                    let conn = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service);
                    tokio::select! {
                        _ = conn => {}
                        () = hang_up.notified() => {}
                    }
                });
            }
        });
        DavProxy {
            base: url::Url::parse(&format!("http://{addr}/")).unwrap(),
            state,
            server,
        }
    }

    /// The proxy URL for an upstream URL (same path and query).
    pub fn url_for(&self, upstream: &url::Url) -> url::Url {
        let mut u = upstream.clone();
        u.set_port(self.base.port()).unwrap();
        u
    }

    /// Queues a fault for the next request with `method` (FIFO per method).
    pub fn inject(&self, method: &str, fault: ProxyFault) {
        self.state
            .lock()
            .unwrap()
            .faults
            .entry(method.to_owned())
            .or_default()
            .push_back(fault);
    }

    /// (method, path, status; 0 = reset) of every request so far.
    pub fn log(&self) -> Vec<(String, String, u16)> {
        self.state.lock().unwrap().log.clone()
    }

    /// Faults still queued (not yet fired).
    pub fn pending_faults(&self) -> usize {
        self.state
            .lock()
            .unwrap()
            .faults
            .values()
            .map(VecDeque::len)
            .sum()
    }
}

async fn handle(
    state: Arc<Mutex<State>>,
    http: reqwest::Client,
    upstream: url::Url,
    hang_up: Arc<Notify>,
    req: Request<Incoming>,
) -> Result<Answer, Infallible> {
    let method = req.method().as_str().to_owned();
    let path_q = req
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    let req_path = req.uri().path().to_owned();
    let headers = req.headers().clone();
    let body = req.into_body().collect().await.unwrap().to_bytes();
    let fault = state
        .lock()
        .unwrap()
        .faults
        .get_mut(&method)
        .and_then(VecDeque::pop_front);
    let log = |status: u16| {
        state
            .lock()
            .unwrap()
            .log
            .push((method.clone(), path_q.clone(), status));
    };
    let reset_after = match fault {
        Some(ProxyFault::ResetBefore) => {
            log(0);
            hang_up.notify_one();
            return std::future::pending().await;
        }
        Some(ProxyFault::Status(status)) => {
            log(status);
            return Ok(Response::builder()
                .status(status)
                .body(Full::new(Bytes::from_static(b"injected by the test proxy")))
                .unwrap());
        }
        Some(ProxyFault::Before(hook)) => {
            hook(req_path.clone()).await;
            false
        }
        Some(ProxyFault::ResetAfter) => true,
        None => false,
    };
    let url = upstream.join(&path_q).unwrap();
    let mut out = http.request(reqwest::Method::from_bytes(method.as_bytes()).unwrap(), url);
    for (name, value) in &headers {
        if name != "host" && name != "content-length" {
            out = out.header(name, value);
        }
    }
    let answer = out.body(body).send().await.unwrap();
    let status = answer.status();
    let mut response = Response::builder().status(status.as_u16());
    for (name, value) in answer.headers() {
        if name != "transfer-encoding" && name != "connection" && name != "content-length" {
            response = response.header(name, value);
        }
    }
    let bytes = answer.bytes().await.unwrap();
    if reset_after {
        log(0);
        hang_up.notify_one();
        return std::future::pending().await;
    }
    log(status.as_u16());
    Ok(response.body(Full::new(bytes)).unwrap())
}
