//! Misbehaving and recording CalDAV stand-ins on 127.0.0.1, for the error-path tests and the
//! idle-poll benchmark.
//!
//! [`FaultServer`] answers every request the same broken way (500, never, malformed 207) or,
//! in [`Fault::Record`] mode, like an empty calendar supporting sync-collection while keeping
//! every request's headers. [`CountingProxy`] forwards to a real server and counts requests
//! and bytes. Both stop when dropped.
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// How a [`FaultServer`] answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// 500 Internal Server Error with a short text body, to everything.
    Status500,
    /// Accepts the connection and the request, never answers.
    Hang,
    /// 207 Multi-Status whose body is not well-formed XML.
    MalformedXml,
    /// An empty calendar with sync-collection support; requests are recorded.
    Record,
}

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    /// Lower-case header names.
    pub headers: BTreeMap<String, String>,
}

/// A fake CalDAV server with one fault; stops when dropped.
pub struct FaultServer {
    pub base_url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FaultServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

const EMPTY_SYNC: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<D:multistatus xmlns:D="DAV:"><D:sync-token>http://fake/sync/1</D:sync-token></D:multistatus>"#;

const MALFORMED: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<D:multistatus xmlns:D="DAV:"><D:response><D:href>/cal/a.ics</D:href><D:propstat>
<D:prop><D:getetag>"1"</D:getetag></D:propstat></D:response"#;

async fn answer(
    fault: Fault,
    seen: &Mutex<Vec<Seen>>,
    req: Request<Incoming>,
) -> Response<Full<Bytes>> {
    seen.lock().unwrap().push(Seen {
        method: req.method().to_string(),
        path: req.uri().path().to_owned(),
        headers: req
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_ascii_lowercase(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
    });
    let _ = req.into_body().collect().await;
    let (status, body) = match fault {
        Fault::Status500 => (500, "internal error: database on fire".to_owned()),
        Fault::Hang => {
            std::future::pending::<()>().await;
            unreachable!("pending never resolves")
        }
        Fault::MalformedXml => (207, MALFORMED.to_owned()),
        Fault::Record => (207, EMPTY_SYNC.to_owned()),
    };
    Response::builder()
        .status(status)
        .header("content-type", "application/xml; charset=utf-8")
        .body(Full::new(Bytes::from(body)))
        .unwrap()
}

impl FaultServer {
    pub async fn start(fault: Fault) -> FaultServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let log = Arc::clone(&log);
                tokio::spawn(async move {
                    let svc = service_fn(move |req: Request<Incoming>| {
                        let log = Arc::clone(&log);
                        async move { Ok::<_, Infallible>(answer(fault, &log, req).await) }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        FaultServer {
            base_url: format!("http://{addr}"),
            seen,
            task,
        }
    }

    /// URL of a collection path on this server (`/cal/` style).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Every request so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

/// Totals seen by a [`CountingProxy`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub requests: u64,
    /// Request line + headers + body, as forwarded.
    pub bytes_up: u64,
    /// Status line + headers + body, as returned.
    pub bytes_down: u64,
    /// Time spent waiting for the upstream server (request sent to body received).
    pub upstream: std::time::Duration,
}

/// A forwarding HTTP proxy in front of one server, counting requests and bytes; the client
/// is configured with the proxy's URL instead of the server's. Stops when dropped.
pub struct CountingProxy {
    pub base_url: String,
    counts: Arc<Mutex<Counts>>,
    /// (method, path) of every request.
    log: Arc<Mutex<Vec<(String, String)>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for CountingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn header_bytes(headers: &hyper::HeaderMap) -> u64 {
    headers
        .iter()
        .map(|(k, v)| (k.as_str().len() + v.len() + 4) as u64)
        .sum::<u64>()
        + 2
}

impl CountingProxy {
    /// Forwards every request to `upstream` (`http://host:port`), Host rewritten.
    pub async fn start(upstream: &str) -> CountingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let counts = Arc::new(Mutex::new(Counts::default()));
        let log = Arc::new(Mutex::new(Vec::new()));
        let upstream = upstream.trim_end_matches('/').to_owned();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let (c, l) = (Arc::clone(&counts), Arc::clone(&log));
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (c, l, http, upstream) = (
                    Arc::clone(&c),
                    Arc::clone(&l),
                    http.clone(),
                    upstream.clone(),
                );
                tokio::spawn(async move {
                    let svc = service_fn(move |req: Request<Incoming>| {
                        let (c, l, http, upstream) = (
                            Arc::clone(&c),
                            Arc::clone(&l),
                            http.clone(),
                            upstream.clone(),
                        );
                        async move { Ok::<_, Infallible>(forward(&http, &upstream, &c, &l, req).await) }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        CountingProxy {
            base_url: format!("http://{addr}"),
            counts,
            log,
            task,
        }
    }

    /// Totals so far.
    pub fn counts(&self) -> Counts {
        *self.counts.lock().unwrap()
    }

    /// (method, path) of every request so far.
    pub fn log(&self) -> Vec<(String, String)> {
        self.log.lock().unwrap().clone()
    }

    /// Starts counting from zero.
    pub fn reset(&self) {
        *self.counts.lock().unwrap() = Counts::default();
        self.log.lock().unwrap().clear();
    }
}

async fn forward(
    http: &reqwest::Client,
    upstream: &str,
    counts: &Mutex<Counts>,
    log: &Mutex<Vec<(String, String)>>,
    req: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let method = req.method().clone();
    let path_and_query = req
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    let headers = req.headers().clone();
    let body = req.into_body().collect().await.unwrap().to_bytes();
    {
        let mut c = counts.lock().unwrap();
        c.requests += 1;
        c.bytes_up += (method.as_str().len() + path_and_query.len() + 11) as u64
            + header_bytes(&headers)
            + body.len() as u64;
        log.lock()
            .unwrap()
            .push((method.to_string(), req_path(&path_and_query)));
    }
    let mut out = http.request(
        reqwest::Method::from_bytes(method.as_str().as_bytes()).unwrap(),
        format!("{upstream}{path_and_query}"),
    );
    for (k, v) in &headers {
        if k != hyper::header::HOST {
            out = out.header(k.as_str(), v.as_bytes());
        }
    }
    let started = std::time::Instant::now();
    let reply = out.body(body).send().await.unwrap();
    let status = reply.status().as_u16();
    let mut resp = Response::builder().status(status);
    let mut down = 17u64;
    for (k, v) in reply.headers() {
        down += (k.as_str().len() + v.len() + 4) as u64;
        if k.as_str() != "transfer-encoding" && k.as_str() != "content-length" {
            resp = resp.header(k.as_str(), v.as_bytes());
        }
    }
    let body = reply.bytes().await.unwrap();
    down += 2 + body.len() as u64;
    let mut c = counts.lock().unwrap();
    c.bytes_down += down;
    c.upstream += started.elapsed();
    drop(c);
    resp.body(Full::new(body)).unwrap()
}

fn req_path(path_and_query: &str) -> String {
    path_and_query
        .split('?')
        .next()
        .unwrap_or(path_and_query)
        .to_owned()
}
