//! A small CalDAV collection server of our own on 127.0.0.1 that does what Radicale never
//! does: it cuts sync-collection answers short and expires sync tokens, exactly as RFC 6578
//! describes, the way sabre/dav (Nextcloud, Baikal) and Google do.
//!
//! - Every change (put or delete) gets the next version number; a member remembers the
//!   version of its last change, a deleted member leaves a tombstone with its version. The
//!   sync token is `http://calmeet.test/sync/<version>`.
//! - A sync-collection with a token lists the members and tombstones changed after it
//!   (RFC 6578 §3.5); without one, every member and no tombstone (§3.4; sabre sends none).
//! - With a page limit, an answer holding more than `limit` entries is truncated (§3.6): the
//!   first `limit` entries in version order, a `507` response for the collection itself, and
//!   the token of the last entry returned, from which the rest follows.
//! - Tokens issued before [`SyncServer::expire_tokens`] are refused with `403` and the
//!   `DAV:valid-sync-token` precondition (§3.2).
//! - PROPFIND Depth 0 reports `CS:getctag` (the current version) and sync-collection in
//!   `supported-report-set`; calendar-multiget answers a missing member with a 404
//!   response for that member; GET and PUT (`If-Match` / `If-None-Match: *`) work on members.
//!
//! Stops when dropped.
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

/// The collection's path.
pub const COLLECTION: &str = "/cal/";
const TOKEN_PREFIX: &str = "http://calmeet.test/sync/";

#[derive(Debug, Clone)]
struct Member {
    /// `None` once deleted (a tombstone).
    data: Option<Vec<u8>>,
    version: u64,
}

#[derive(Debug, Default)]
struct Cal {
    members: BTreeMap<String, Member>,
    version: u64,
    /// Most entries in one sync-collection answer; 0 = no limit.
    limit: usize,
    /// Tokens carry the epoch they were issued in; tokens of an earlier one are refused.
    epoch: u64,
    /// (method, detail) of every request.
    log: Vec<(String, String)>,
    /// Refuse sync-collection (as a server without RFC 6578 does) and answer time-range
    /// calendar-queries instead.
    no_sync: bool,
    /// The ctag is the second of the last change (SOGo's one-second resolution) instead of
    /// the version.
    coarse_ctag: bool,
    /// Unix second of the last change.
    changed_at: u64,
    /// A user's edit applied just before the next PUT of that member (a 412 race).
    race: Option<(String, Vec<u8>)>,
}

impl Cal {
    fn change(&mut self, name: &str, data: Option<Vec<u8>>) -> u64 {
        self.version += 1;
        self.changed_at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let version = self.version;
        self.members
            .insert(name.to_owned(), Member { data, version });
        version
    }
}

/// The server; its state is changed directly by the test (as a user's client would).
pub struct SyncServer {
    pub base_url: String,
    cal: Arc<Mutex<Cal>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for SyncServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn etag(version: u64) -> String {
    format!("\"v{version}\"")
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('\r', "&#13;")
}

/// The text of every element whose local name is `name` (`<D:href>` and `<href>` alike).
fn elements(body: &str, name: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (i, _) in body.match_indices('<') {
        let tag = &body[i + 1..];
        let Some(close) = tag.find('>') else { break };
        let head = &tag[..close];
        if head.starts_with('/') || head.starts_with('?') {
            continue;
        }
        let qname = head
            .split(|c: char| c.is_whitespace() || c == '/')
            .next()
            .unwrap_or("");
        if qname.rsplit(':').next() != Some(name) {
            continue;
        }
        if head.ends_with('/') {
            out.push(String::new());
            continue;
        }
        let text = &tag[close + 1..];
        let end = text.find('<').unwrap_or(text.len());
        out.push(
            text[..end]
                .trim()
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&amp;", "&"),
        );
    }
    out
}

fn multistatus(inner: &str, token: Option<String>) -> String {
    let token = token
        .map(|t| format!("<D:sync-token>{t}</D:sync-token>"))
        .unwrap_or_default();
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<D:multistatus xmlns:D=\"DAV:\" xmlns:C=\"urn:ietf:params:xml:ns:caldav\" xmlns:CS=\"http://calendarserver.org/ns/\">{inner}{token}</D:multistatus>"
    )
}

fn reply(status: u16, headers: &[(&str, String)], body: String) -> Response<Full<Bytes>> {
    let mut r = Response::builder().status(status);
    for (k, v) in headers {
        r = r.header(*k, v.as_str());
    }
    if !body.is_empty() {
        r = r.header("content-type", "application/xml; charset=utf-8");
    }
    r.body(Full::new(Bytes::from(body))).unwrap()
}

fn sync_collection(cal: &mut Cal, body: &str) -> Response<Full<Bytes>> {
    let token = elements(body, "sync-token")
        .into_iter()
        .next()
        .unwrap_or_default();
    let since = if token.is_empty() {
        None
    } else {
        let parsed = token
            .strip_prefix(TOKEN_PREFIX)
            .and_then(|t| t.split_once('-'))
            .and_then(|(e, v)| Some((e.parse::<u64>().ok()?, v.parse::<u64>().ok()?)));
        match parsed {
            Some((epoch, v)) if epoch == cal.epoch && v <= cal.version => Some(v),
            _ => {
                cal.log.push(("REPORT".into(), "sync 403".into()));
                return reply(
                    403,
                    &[],
                    "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<D:error xmlns:D=\"DAV:\"><D:valid-sync-token/></D:error>".into(),
                );
            }
        }
    };
    let mut entries: Vec<(&String, &Member)> = cal
        .members
        .iter()
        .filter(|(_, m)| match since {
            Some(v) => m.version > v,
            None => m.data.is_some(),
        })
        .collect();
    entries.sort_by_key(|(_, m)| m.version);
    let truncated = cal.limit > 0 && entries.len() > cal.limit;
    if truncated {
        entries.truncate(cal.limit);
    }
    let token = if truncated {
        entries
            .last()
            .map_or(since.unwrap_or(0), |(_, m)| m.version)
    } else {
        cal.version
    };
    let mut inner = String::new();
    for (name, m) in &entries {
        let href = format!("{COLLECTION}{name}");
        if m.data.is_some() {
            inner.push_str(&format!(
                "<D:response><D:href>{href}</D:href><D:propstat><D:prop><D:getetag>{}</D:getetag></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>",
                etag(m.version)
            ));
        } else {
            inner.push_str(&format!(
                "<D:response><D:href>{href}</D:href><D:status>HTTP/1.1 404 Not Found</D:status></D:response>"
            ));
        }
    }
    if truncated {
        inner.push_str(&format!(
            "<D:response><D:href>{COLLECTION}</D:href><D:status>HTTP/1.1 507 Insufficient Storage</D:status><D:error><D:number-of-matches-within-limits/></D:error></D:response>"
        ));
    }
    let detail = format!(
        "sync since {since:?}: {} entries{}",
        entries.len(),
        if truncated { ", 507" } else { "" }
    );
    cal.log.push(("REPORT".into(), detail));
    let token = format!("{TOKEN_PREFIX}{}-{token}", cal.epoch);
    reply(207, &[], multistatus(&inner, Some(token)))
}

fn multiget(cal: &mut Cal, body: &str) -> Response<Full<Bytes>> {
    let hrefs = elements(body, "href");
    let mut inner = String::new();
    for href in &hrefs {
        let name = href.strip_prefix(COLLECTION).unwrap_or(href);
        match cal.members.get(name) {
            Some(Member {
                data: Some(data),
                version,
            }) => inner.push_str(&format!(
                "<D:response><D:href>{href}</D:href><D:propstat><D:prop><D:getetag>{}</D:getetag><C:calendar-data>{}</C:calendar-data></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>",
                etag(*version),
                xml_escape(&String::from_utf8_lossy(data))
            )),
            _ => inner.push_str(&format!(
                "<D:response><D:href>{href}</D:href><D:status>HTTP/1.1 404 Not Found</D:status></D:response>"
            )),
        }
    }
    cal.log
        .push(("REPORT".into(), format!("multiget {}", hrefs.len())));
    reply(207, &[], multistatus(&inner, None))
}

async fn answer(cal: &Mutex<Cal>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let method = req.method().to_string();
    let path = req.uri().path().to_owned();
    let if_match = req
        .headers()
        .get("if-match")
        .map(|v| v.to_str().unwrap().to_owned());
    let if_none_match = req.headers().contains_key("if-none-match");
    let body = req.into_body().collect().await.unwrap().to_bytes().to_vec();
    let text = String::from_utf8_lossy(&body).into_owned();
    let mut cal = cal.lock().unwrap();
    let name = path.strip_prefix(COLLECTION).unwrap_or("").to_owned();
    match method.as_str() {
        "PROPFIND" => {
            cal.log.push((method, path.clone()));
            let ctag = if cal.coarse_ctag {
                format!("s{}", cal.changed_at)
            } else {
                format!("c{}", cal.version)
            };
            let inner = format!(
                "<D:response><D:href>{COLLECTION}</D:href><D:propstat><D:prop><CS:getctag>{ctag}</CS:getctag><D:sync-token>{TOKEN_PREFIX}{}-{}</D:sync-token><D:supported-report-set><D:supported-report><D:report><D:sync-collection/></D:report></D:supported-report></D:supported-report-set></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>",
                cal.epoch, cal.version
            );
            reply(207, &[], multistatus(&inner, None))
        }
        "REPORT" if text.contains("sync-collection") && cal.no_sync => {
            cal.log.push((method, "sync refused".into()));
            reply(501, &[], "REPORT sync-collection is not implemented".into())
        }
        "REPORT" if text.contains("sync-collection") => sync_collection(&mut cal, &text),
        "REPORT" if text.contains("calendar-query") => {
            // Every member overlaps the window in these tests.
            let inner: String = cal
                .members
                .iter()
                .filter(|(_, m)| m.data.is_some())
                .map(|(name, m)| format!(
                    "<D:response><D:href>{COLLECTION}{name}</D:href><D:propstat><D:prop><D:getetag>{}</D:getetag></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>",
                    etag(m.version)
                ))
                .collect();
            cal.log.push((method, "calendar-query".into()));
            reply(207, &[], multistatus(&inner, None))
        }
        "REPORT" if text.contains("calendar-multiget") => multiget(&mut cal, &text),
        "GET" => {
            cal.log.push((method, path.clone()));
            match cal.members.get(&name) {
                Some(Member {
                    data: Some(data),
                    version,
                }) => Response::builder()
                    .status(200)
                    .header("etag", etag(*version))
                    .header("content-type", "text/calendar; charset=utf-8")
                    .body(Full::new(Bytes::from(data.clone())))
                    .unwrap(),
                _ => reply(404, &[], String::new()),
            }
        }
        "PUT" => {
            cal.log.push((method, path.clone()));
            if cal.race.as_ref().is_some_and(|(n, _)| *n == name) {
                let (n, data) = cal.race.take().unwrap();
                cal.change(&n, Some(data));
            }
            let current = cal
                .members
                .get(&name)
                .filter(|m| m.data.is_some())
                .map(|m| etag(m.version));
            let ok = match (&if_match, if_none_match, &current) {
                (Some(want), _, Some(have)) => want == have,
                (Some(_), _, None) => false,
                (None, true, current) => current.is_none(),
                (None, false, _) => true,
            };
            if !ok {
                return reply(412, &[], String::new());
            }
            let version = cal.change(&name, Some(body));
            reply(
                if current.is_some() { 204 } else { 201 },
                &[("etag", etag(version))],
                String::new(),
            )
        }
        _ => {
            cal.log.push((method, path));
            reply(405, &[], String::new())
        }
    }
}

impl SyncServer {
    pub async fn start() -> SyncServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let cal = Arc::new(Mutex::new(Cal::default()));
        let shared = Arc::clone(&cal);
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let cal = Arc::clone(&shared);
                tokio::spawn(async move {
                    let svc = service_fn(move |req: Request<Incoming>| {
                        let cal = Arc::clone(&cal);
                        async move { Ok::<_, Infallible>(answer(&cal, req).await) }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        SyncServer {
            base_url: format!("http://{addr}"),
            cal,
            task,
        }
    }

    /// The collection's URL.
    pub fn url(&self) -> String {
        format!("{}{COLLECTION}", self.base_url)
    }

    /// Stores (creates or replaces) member `name` as a user's client would.
    pub fn put(&self, name: &str, ics: &str) {
        self.cal
            .lock()
            .unwrap()
            .change(name, Some(ics.as_bytes().to_vec()));
    }

    /// Deletes member `name`, leaving a tombstone.
    pub fn delete(&self, name: &str) {
        self.cal.lock().unwrap().change(name, None);
    }

    /// The stored body of member `name`.
    pub fn get(&self, name: &str) -> Option<String> {
        let cal = self.cal.lock().unwrap();
        cal.members
            .get(name)
            .and_then(|m| m.data.as_ref())
            .map(|d| String::from_utf8_lossy(d).into_owned())
    }

    /// At most `limit` entries per sync-collection answer (0: no limit).
    pub fn set_limit(&self, limit: usize) {
        self.cal.lock().unwrap().limit = limit;
    }

    /// A ctag of one-second resolution (SOGo's): the second of the last change.
    pub fn set_coarse_ctag(&self, coarse: bool) {
        self.cal.lock().unwrap().coarse_ctag = coarse;
    }

    /// A user's edit of member `name` that lands just before calmeet's next PUT of it, which
    /// then fails its `If-Match` (412).
    pub fn race_next_put(&self, name: &str, ics: &str) {
        self.cal.lock().unwrap().race = Some((name.to_owned(), ics.as_bytes().to_vec()));
    }

    /// Refuses sync-collection from now on (`false`), or answers it again.
    pub fn set_sync_collection(&self, supported: bool) {
        self.cal.lock().unwrap().no_sync = !supported;
    }

    /// Refuses every token issued so far (`DAV:valid-sync-token`).
    pub fn expire_tokens(&self) {
        self.cal.lock().unwrap().epoch += 1;
    }

    /// (method, detail) of every request so far.
    pub fn log(&self) -> Vec<(String, String)> {
        self.cal.lock().unwrap().log.clone()
    }

    /// Forgets the request log.
    pub fn clear_log(&self) {
        self.cal.lock().unwrap().log.clear();
    }
}
