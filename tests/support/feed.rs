//! A real HTTP server on 127.0.0.1 serving ICS feeds, with ETag / If-None-Match like a real
//! feed host, a request log, and the body swappable mid-test.
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

#[derive(Default)]
struct State {
    feeds: HashMap<String, Vec<u8>>,
    /// (path, status) of every request.
    log: Vec<(String, u16)>,
}

/// A feed server; stops when dropped.
pub struct FeedServer {
    pub base_url: String,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FeedServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn etag_of(body: &[u8]) -> String {
    use sha2::Digest;
    format!(
        "\"{}\"",
        calmeet::fingerprint::hex(&sha2::Sha256::digest(body))[..16].to_owned()
    )
}

impl FeedServer {
    pub async fn start() -> FeedServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State::default()));
        let st = Arc::clone(&state);
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let st = Arc::clone(&st);
                tokio::spawn(async move {
                    let svc = service_fn(move |req: Request<Incoming>| {
                        let st = Arc::clone(&st);
                        async move { Ok::<_, Infallible>(serve(&st, &req)) }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        FeedServer {
            base_url: format!("http://{addr}"),
            state,
            task,
        }
    }

    /// Serves `body` at `path` from now on.
    pub fn set(&self, path: &str, body: impl Into<Vec<u8>>) {
        self.state
            .lock()
            .unwrap()
            .feeds
            .insert(path.to_owned(), body.into());
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Statuses answered for `path`, in order.
    pub fn statuses(&self, path: &str) -> Vec<u16> {
        self.state
            .lock()
            .unwrap()
            .log
            .iter()
            .filter(|(p, _)| p == path)
            .map(|(_, s)| *s)
            .collect()
    }
}

fn serve(st: &Mutex<State>, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_owned();
    let mut st = st.lock().unwrap();
    let (status, body, etag) = match st.feeds.get(&path) {
        None => (StatusCode::NOT_FOUND, b"not found".to_vec(), None),
        Some(body) => {
            let etag = etag_of(body);
            let inm = req
                .headers()
                .get("if-none-match")
                .and_then(|v| v.to_str().ok());
            if inm == Some(etag.as_str()) {
                (StatusCode::NOT_MODIFIED, Vec::new(), Some(etag))
            } else {
                (StatusCode::OK, body.clone(), Some(etag))
            }
        }
    };
    st.log.push((path, status.as_u16()));
    let mut resp = Response::builder()
        .status(status)
        .header("content-type", "text/calendar; charset=utf-8");
    if let Some(e) = etag {
        resp = resp.header("etag", e);
    }
    resp.body(Full::new(Bytes::from(body))).unwrap()
}
