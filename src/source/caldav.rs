//! CalDAV source: lists, fetches and conditionally writes calendar objects of one collection.
//!
//! [`CalDavClient`] owns the HTTP side (reqwest, timeouts, authentication, redirects); request
//! bodies and multistatus parsing live in [`protocol`] as pure functions. Object bodies are
//! handled as bytes, never decoded here: a fold may split a UTF-8 sequence.
//!
//! This module must never write without `If-Match` (or `If-None-Match: *` when creating), never
//! follow a redirect to another host with credentials, and never put a password into an error
//! or a log line.

mod auth;
mod error;
pub mod protocol;
mod types;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::header::{self, HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};
use url::Url;

pub use error::DavError;
use error::{redact, seconds};
use protocol::{CALDAV, CALSERVER, DAV, Multistatus, same_href};
pub use types::{
    Auth, CalObject, CalendarInfo, ChangeMarker, CollectionState, Multiget, ObjectRef, SyncChanges,
};

/// A response with its body read.
struct Reply {
    url: Url,
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Reply {
    fn etag(&self) -> Option<String> {
        self.headers
            .get(header::ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }

    /// Maps non-2xx statuses to errors a user can act on.
    fn success(self, method: &Method) -> Result<Self, DavError> {
        if self.status.is_success() {
            return Ok(self);
        }
        let url = redact(&self.url);
        Err(match self.status.as_u16() {
            401 => DavError::Unauthorized { url },
            403 => DavError::Forbidden { url },
            404 => DavError::NotFound { url },
            412 => DavError::PreconditionFailed { url },
            status => DavError::Status {
                method: method.to_string(),
                url,
                status,
                detail: String::from_utf8_lossy(&self.body)
                    .chars()
                    .take(200)
                    .collect::<String>()
                    .trim()
                    .to_owned(),
            },
        })
    }

    fn multistatus(&self) -> Result<Multistatus, DavError> {
        if self.status != StatusCode::MULTI_STATUS {
            return Err(DavError::Malformed {
                url: redact(&self.url),
                reason: format!("expected 207 Multi-Status, got {}", self.status),
            });
        }
        protocol::parse_multistatus(&self.body).map_err(|e| e.at(&self.url))
    }
}

/// The CalDAV client for one collection. Cheap to clone.
#[derive(Clone)]
pub struct CalDavClient {
    http: reqwest::Client,
    collection: Url,
    /// Answers the server's authentication challenges (see [`auth`]); headers built from the
    /// [`Auth`] (zeroized when dropped) are marked sensitive.
    auth: Arc<auth::Authenticator>,
    timeout: Duration,
}

impl std::fmt::Debug for CalDavClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CalDavClient")
            .field("collection", &redact(&self.collection))
            .field("auth", &self.auth)
            .finish_non_exhaustive()
    }
}

const MAX_REDIRECTS: usize = 5;
/// Largest response body read (a multistatus or one object); the same bound as an ICS feed.
pub const MAX_RESPONSE_BYTES: usize = crate::source::ics::MAX_FEED_BYTES;
const MULTIGET_CHUNK: usize = 100;
const XML: &str = "application/xml; charset=utf-8";

impl CalDavClient {
    /// A client for the collection at `collection_url` (a trailing `/` is added if missing).
    ///
    /// # Errors
    /// [`DavError::InvalidUrl`] for a URL that is not http(s); [`DavError::Transport`] when
    /// the TLS stack cannot be initialised.
    pub fn new(collection_url: Url, auth: Auth, timeout: Duration) -> Result<Self, DavError> {
        Self::with_tls(collection_url, auth, timeout, false)
    }

    /// As [`CalDavClient::new`]; `insecure_skip_verify` accepts any TLS certificate (only for
    /// a calendar configured so, to reach a self-signed test server).
    ///
    /// # Errors
    /// As for [`CalDavClient::new`].
    pub fn with_tls(
        mut collection_url: Url,
        auth: Auth,
        timeout: Duration,
        insecure_skip_verify: bool,
    ) -> Result<Self, DavError> {
        if !matches!(collection_url.scheme(), "http" | "https") || !collection_url.has_host() {
            return Err(DavError::InvalidUrl {
                url: redact(&collection_url),
                reason: "a CalDAV URL must start with http:// or https:// and name a host".into(),
            });
        }
        if !collection_url.path().ends_with('/') {
            let path = format!("{}/", collection_url.path());
            collection_url.set_path(&path);
        }
        let http = shared_http(timeout, insecure_skip_verify).map_err(|e| DavError::Transport {
            url: redact(&collection_url),
            reason: error_chain(e),
        })?;
        let auth = auth::Authenticator::new(&auth, &collection_url).map_err(|reason| {
            DavError::InvalidUrl {
                url: redact(&collection_url),
                reason,
            }
        })?;
        Ok(Self {
            http,
            collection: collection_url,
            auth: Arc::new(auth),
            timeout,
        })
    }

    /// The collection URL this client works on.
    #[must_use]
    pub fn collection_url(&self) -> &Url {
        &self.collection
    }

    /// Hrefs and etags of every object with a VEVENT overlapping `[start, end)`
    /// (calendar-query REPORT; the server expands recurrences).
    ///
    /// # Errors
    /// Any [`DavError`]; nothing is returned partially.
    pub async fn list(
        &self,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Vec<ObjectRef>, DavError> {
        let reply = self
            .send(
                report(),
                &self.collection,
                Some("1"),
                &[],
                Some(protocol::calendar_query_body(start, end).into_bytes()),
            )
            .await?
            .success(&report())?;
        let ms = reply.multistatus()?;
        let mut out = Vec::new();
        for response in ms.responses {
            if response.is_not_found() {
                continue;
            }
            let href = self.member_href(&reply.url, &response.href)?;
            if let Some(href) = href {
                out.push(ObjectRef {
                    href,
                    etag: response.text(DAV, "getetag"),
                });
            }
        }
        Ok(out)
    }

    /// Bodies of `hrefs` (calendar-multiget REPORT, 100 hrefs per request). Hrefs the server
    /// reports as missing are left out; [`Self::multiget_detailed`] also says which.
    ///
    /// # Errors
    /// Any [`DavError`].
    pub async fn multiget(&self, hrefs: &[String]) -> Result<Vec<CalObject>, DavError> {
        Ok(self.multiget_detailed(hrefs).await?.objects)
    }

    /// Bodies of `hrefs`, and which of them the server no longer has.
    ///
    /// A missing member is an answer about that member, never a failure of the batch:
    /// RFC 4791 §7.9 wants a `404` response inside the multistatus (Radicale, Xandikos), but
    /// sabre/dav 1.8 answers `404` for the whole REPORT when one href is gone. Then the batch is
    /// halved until each missing href stands alone (one missing member among 100 costs about
    /// 14 requests, once: it then leaves the cache).
    ///
    /// Bodies are as the REPORT carried them: sabre/dav 1.8 and SOGo lose the CRs of
    /// calendar-data there (GET has what they store). [`lost_carriage_returns`] tells such a
    /// body; the write-back reads it with GET before patching it.
    ///
    /// # Errors
    /// Any [`DavError`] other than a missing member.
    pub async fn multiget_detailed(&self, hrefs: &[String]) -> Result<Multiget, DavError> {
        let mut out = Multiget::default();
        let mut work: Vec<&[String]> = hrefs.chunks(MULTIGET_CHUNK).rev().collect();
        while let Some(batch) = work.pop() {
            match self.multiget_batch(batch, &mut out).await {
                Err(DavError::NotFound { .. }) if batch.len() > 1 => {
                    tracing::debug!(
                        hrefs = batch.len(),
                        "multiget answered 404 for the whole batch; splitting it"
                    );
                    let (a, b) = batch.split_at(batch.len() / 2);
                    work.push(b);
                    work.push(a);
                }
                Err(DavError::NotFound { .. }) => out.missing.extend(batch.iter().cloned()),
                other => other?,
            }
        }
        Ok(out)
    }

    /// One calendar-multiget REPORT; bodies and per-member 404s go into `out`.
    async fn multiget_batch(&self, hrefs: &[String], out: &mut Multiget) -> Result<(), DavError> {
        let body = protocol::calendar_multiget_body(hrefs);
        let reply = self
            .send(
                report(),
                &self.collection,
                Some("1"),
                &[],
                Some(body.into_bytes()),
            )
            .await?
            .success(&report())?;
        let ms = reply.multistatus()?;
        for response in ms.responses {
            let Some(href) = self.member_href(&reply.url, &response.href)? else {
                continue;
            };
            let Some(data) = response.prop(CALDAV, "calendar-data") else {
                tracing::debug!(href = %response.href, status = ?response.status, "multiget returned no calendar-data");
                if response.is_not_found() {
                    out.missing.push(href);
                }
                continue;
            };
            out.objects.push(CalObject {
                href,
                etag: response.text(DAV, "getetag"),
                data: data.text.clone().into_bytes(),
            });
        }
        Ok(())
    }

    /// One object's body, as bytes, with the ETag of that body.
    ///
    /// # Errors
    /// [`DavError::NotFound`] when it is gone, or any other [`DavError`].
    pub async fn get(&self, href: &str) -> Result<CalObject, DavError> {
        let url = Self::resolve(&self.collection, href)?;
        let reply = self
            .send(Method::GET, &url, None, &[], None)
            .await?
            .success(&Method::GET)?;
        Ok(CalObject {
            href: reply.url.path().to_owned(),
            etag: reply.etag(),
            data: reply.body,
        })
    }

    /// Changes since `token` (RFC 6578 sync-collection); `None` lists every member. One
    /// request: when the server cut the answer short (a `507` for the collection, RFC 6578
    /// §3.6) [`SyncChanges::truncated`] is set and the caller continues with the token.
    ///
    /// # Errors
    /// [`DavError::InvalidSyncToken`] when the server rejects the token (do a full listing
    /// and start over with `None`), or any other [`DavError`].
    pub async fn sync_collection(&self, token: Option<&str>) -> Result<SyncChanges, DavError> {
        let body = protocol::sync_collection_body(token);
        // RFC 6578 wants no Depth beyond 0; libdav sends none, which servers treat as 0.
        let reply = self
            .send(
                report(),
                &self.collection,
                None,
                &[],
                Some(body.into_bytes()),
            )
            .await?;
        if matches!(reply.status.as_u16(), 403 | 409 | 412)
            && protocol::parse_error_conditions(&reply.body)
                .iter()
                .any(|(ns, name)| ns == DAV && name == "valid-sync-token")
        {
            return Err(DavError::InvalidSyncToken {
                url: redact(&self.collection),
            });
        }
        let reply = reply.success(&report())?;
        let ms = reply.multistatus()?;
        let mut changes = SyncChanges {
            changed: Vec::new(),
            deleted: Vec::new(),
            token: ms.sync_token.clone().ok_or_else(|| DavError::Malformed {
                url: redact(&reply.url),
                reason: "sync-collection response has no DAV:sync-token".into(),
            })?,
            truncated: false,
        };
        for response in ms.responses {
            let Some(href) = self.member_href(&reply.url, &response.href)? else {
                // RFC 6578 §3.6: a 507 for the collection itself says the answer was cut
                // short; the token continues from where it stopped.
                if response.status == Some(507)
                    && same_href(&path_of(&reply.url, &response.href), self.collection.path())
                {
                    changes.truncated = true;
                }
                continue;
            };
            if response.is_not_found() {
                changes.deleted.push(href);
            } else {
                changes.changed.push(ObjectRef {
                    href,
                    etag: response.text(DAV, "getetag"),
                });
            }
        }
        Ok(changes)
    }

    /// The collection's ctag (or, when the server has none, its sync-token): a value that
    /// changes whenever any member changes.
    ///
    /// # Errors
    /// Any [`DavError`].
    pub async fn ctag(&self) -> Result<Option<String>, DavError> {
        let state = self.state().await?;
        Ok(state.ctag.or(state.sync_token))
    }

    /// The collection's `marker` property (PROPFIND Depth 0 of that one property); `None` when
    /// the server does not report it.
    ///
    /// # Errors
    /// Any [`DavError`].
    pub async fn change_marker(&self, marker: ChangeMarker) -> Result<Option<String>, DavError> {
        let body = protocol::change_marker_body(marker == ChangeMarker::SyncToken);
        let ms = self.propfind(&self.collection, "0", body).await?;
        let (ns, name) = match marker {
            ChangeMarker::SyncToken => (DAV, "sync-token"),
            ChangeMarker::Ctag => (CALSERVER, "getctag"),
        };
        Ok(ms
            .responses
            .iter()
            .filter(|r| same_href(&path_of(&self.collection, &r.href), self.collection.path()))
            .find_map(|r| r.text(ns, name)))
    }

    /// ctag, sync-token, display name and whether sync-collection is supported
    /// (PROPFIND Depth 0).
    ///
    /// # Errors
    /// Any [`DavError`].
    pub async fn state(&self) -> Result<CollectionState, DavError> {
        let ms = self
            .propfind(&self.collection, "0", protocol::collection_state_body())
            .await?;
        let response = ms
            .responses
            .into_iter()
            .find(|r| same_href(&path_of(&self.collection, &r.href), self.collection.path()))
            .unwrap_or_default();
        Ok(CollectionState {
            ctag: response.text(CALSERVER, "getctag"),
            sync_token: response.text(DAV, "sync-token"),
            supports_sync: response
                .prop(DAV, "supported-report-set")
                .is_some_and(|p| p.has_child(DAV, "sync-collection")),
            display_name: response.text(DAV, "displayname"),
        })
    }

    /// Replaces an object, only if it still has `if_match`. Returns the new ETag when the
    /// server sends one (otherwise ask [`Self::etag`]).
    ///
    /// # Errors
    /// [`DavError::PreconditionFailed`] when someone else changed it (re-read, re-apply,
    /// retry), [`DavError::Forbidden`] when the server refuses the write, any other
    /// [`DavError`].
    pub async fn put(
        &self,
        href: &str,
        data: &[u8],
        if_match: &str,
    ) -> Result<Option<String>, DavError> {
        self.write(href, data, (header::IF_MATCH, quote_etag(if_match)))
            .await
    }

    /// Creates an object that must not exist yet (`If-None-Match: *`).
    ///
    /// # Errors
    /// [`DavError::PreconditionFailed`] when the href is taken, any other [`DavError`].
    pub async fn create(&self, href: &str, data: &[u8]) -> Result<Option<String>, DavError> {
        self.write(href, data, (header::IF_NONE_MATCH, "*".to_owned()))
            .await
    }

    /// Deletes an object, only if it still has `if_match`.
    ///
    /// # Errors
    /// [`DavError::PreconditionFailed`] when it changed, any other [`DavError`].
    pub async fn delete(&self, href: &str, if_match: &str) -> Result<(), DavError> {
        let url = Self::resolve(&self.collection, href)?;
        let condition = [(header::IF_MATCH, quote_etag(if_match))];
        self.send(Method::DELETE, &url, None, &condition, None)
            .await?
            .success(&Method::DELETE)?;
        Ok(())
    }

    /// The current ETag of an object (PROPFIND Depth 0), for servers whose PUT returns none.
    ///
    /// # Errors
    /// Any [`DavError`].
    pub async fn etag(&self, href: &str) -> Result<Option<String>, DavError> {
        let url = Self::resolve(&self.collection, href)?;
        let ms = self.propfind(&url, "0", protocol::getetag_body()).await?;
        Ok(ms.responses.iter().find_map(|r| r.text(DAV, "getetag")))
    }

    /// Calendars of the account at `account_url`: `current-user-principal` (on the URL, else
    /// via `/.well-known/caldav`), then `calendar-home-set`, then the home's calendar
    /// collections.
    ///
    /// # Errors
    /// [`DavError::Discovery`] when a step finds nothing, any other [`DavError`].
    pub async fn discover(&self, account_url: &Url) -> Result<Vec<CalendarInfo>, DavError> {
        let principal = match self.principal(account_url).await {
            Ok(Some(principal)) => principal,
            Ok(None)
            | Err(
                DavError::NotFound { .. } | DavError::Status { .. } | DavError::Malformed { .. },
            ) => {
                let well_known =
                    account_url
                        .join("/.well-known/caldav")
                        .map_err(|e| DavError::InvalidUrl {
                            url: redact(account_url),
                            reason: e.to_string(),
                        })?;
                self.principal(&well_known)
                    .await?
                    .ok_or_else(|| DavError::Discovery {
                        url: redact(account_url),
                        reason: "the server names no current-user-principal".into(),
                    })?
            }
            Err(other) => return Err(other),
        };
        let ms = self
            .propfind(&principal, "0", protocol::calendar_home_set_body())
            .await?;
        let homes: Vec<String> = ms
            .responses
            .iter()
            .filter_map(|r| r.prop(CALDAV, "calendar-home-set"))
            .flat_map(|p| p.hrefs.clone())
            .collect();
        if homes.is_empty() {
            return Err(DavError::Discovery {
                url: redact(account_url),
                reason: format!("principal {} has no calendar-home-set", redact(&principal)),
            });
        }
        let mut calendars = Vec::new();
        for home in homes {
            let home = Self::resolve(&principal, &home)?;
            let ms = self
                .propfind(&home, "1", protocol::list_calendars_body())
                .await?;
            for response in ms.responses {
                let is_calendar = response
                    .prop(DAV, "resourcetype")
                    .is_some_and(|p| p.has_child(CALDAV, "calendar"));
                if !is_calendar {
                    continue;
                }
                let mut url = Self::resolve(&home, &response.href)?;
                if !url.path().ends_with('/') {
                    let path = format!("{}/", url.path());
                    url.set_path(&path);
                }
                let supports_vevent = response
                    .prop(CALDAV, "supported-calendar-component-set")
                    .is_none_or(|p| {
                        p.children.iter().any(|(ns, name, comp)| {
                            ns == CALDAV
                                && name == "comp"
                                && comp
                                    .as_deref()
                                    .is_some_and(|c| c.eq_ignore_ascii_case("VEVENT"))
                        })
                    });
                calendars.push(CalendarInfo {
                    url,
                    display_name: response.text(DAV, "displayname"),
                    supports_vevent,
                });
            }
        }
        Ok(calendars)
    }

    async fn principal(&self, url: &Url) -> Result<Option<Url>, DavError> {
        let ms = self
            .propfind(url, "0", protocol::current_user_principal_body())
            .await?;
        let href = ms
            .responses
            .iter()
            .filter_map(|r| r.prop(DAV, "current-user-principal"))
            .find_map(|p| p.hrefs.first().cloned());
        href.map(|h| Self::resolve(url, &h)).transpose()
    }

    async fn propfind(
        &self,
        url: &Url,
        depth: &str,
        body: String,
    ) -> Result<Multistatus, DavError> {
        let method = propfind();
        let reply = self
            .send(
                method.clone(),
                url,
                Some(depth),
                &[],
                Some(body.into_bytes()),
            )
            .await?
            .success(&method)?;
        reply.multistatus()
    }

    async fn write(
        &self,
        href: &str,
        data: &[u8],
        condition: (HeaderName, String),
    ) -> Result<Option<String>, DavError> {
        let url = Self::resolve(&self.collection, href)?;
        let headers = [
            condition,
            (
                header::CONTENT_TYPE,
                "text/calendar; charset=utf-8".to_owned(),
            ),
        ];
        let reply = self
            .send(Method::PUT, &url, None, &headers, Some(data.to_vec()))
            .await?
            .success(&Method::PUT)?;
        Ok(reply.etag())
    }

    /// `href` as a member path of the collection, or `None` for the collection itself and
    /// sub-collections.
    fn member_href(&self, base: &Url, href: &str) -> Result<Option<String>, DavError> {
        let url = Self::resolve(base, href)?;
        let path = url.path();
        if same_href(path, self.collection.path()) || path.ends_with('/') {
            return Ok(None);
        }
        Ok(Some(path.to_owned()))
    }

    /// Resolves a relative or absolute href against `base`; another host is refused.
    fn resolve(base: &Url, href: &str) -> Result<Url, DavError> {
        let url = base.join(href).map_err(|e| DavError::InvalidUrl {
            url: href.to_owned(),
            reason: format!("not a valid href relative to {} ({e})", redact(base)),
        })?;
        if !same_origin(base, &url) {
            return Err(DavError::CrossHost {
                from: redact(base),
                to: redact(&url),
            });
        }
        Ok(url)
    }

    /// Sends one request, following same-host redirects (method and body kept) and refusing
    /// cross-host ones, so credentials never leave the configured host.
    async fn send(
        &self,
        method: Method,
        url: &Url,
        depth: Option<&str>,
        headers: &[(HeaderName, String)],
        body: Option<Vec<u8>>,
    ) -> Result<Reply, DavError> {
        let mut current = url.clone();
        let mut redirects = 0;
        // A changed scheme, then at most one stale Digest nonce.
        let mut auth_retries = 0;
        loop {
            let mut request = self.http.request(method.clone(), current.clone());
            let (authorization, sent) =
                self.auth
                    .header(&method, &current)
                    .map_err(|reason| DavError::InvalidUrl {
                        url: redact(&current),
                        reason,
                    })?;
            if let Some(authorization) = authorization {
                request = request.header(header::AUTHORIZATION, authorization);
            }
            if sent == auth::Sent::Unasked || keep_alive_broken(&current) {
                request = request.header(header::CONNECTION, "close");
            }
            if let Some(depth) = depth {
                request = request.header(HeaderName::from_static("depth"), depth);
            }
            if method == report() || method == propfind() {
                request = request.header(header::CONTENT_TYPE, XML);
            }
            for (name, value) in headers {
                let value = HeaderValue::from_str(value).map_err(|_| DavError::InvalidUrl {
                    url: redact(&current),
                    reason: format!("header {name} has a value that cannot be sent"),
                })?;
                request = request.header(name.clone(), value);
            }
            if let Some(body) = &body {
                request = request.body(body.clone());
            }
            let response = match request.send().await {
                Ok(response) => response,
                // A server that closes every connection without saying so (SOGo's sogod
                // answers 201/204/401 without `Connection: close`): the pooled connection was
                // dead before the request reached it. Once per origin, then never reuse one.
                Err(e) if is_dead_connection(&e) && !keep_alive_broken(&current) => {
                    tracing::debug!(url = %redact(&current), "connection closed by the server; not reusing connections to it");
                    mark_keep_alive_broken(&current);
                    continue;
                }
                Err(e) => return Err(transport_error(e, &current, self.timeout)),
            };
            let status = response.status();
            let response_headers = response.headers().clone();
            if status == StatusCode::UNAUTHORIZED && auth_retries < 2 {
                match self.auth.challenged(&response_headers, sent) {
                    auth::After401::Retry => {
                        auth_retries += 1;
                        continue;
                    }
                    auth::After401::Unsupported(offered) => {
                        return Err(DavError::UnsupportedAuth {
                            url: redact(&current),
                            offered: offered.join(", "),
                        });
                    }
                    auth::After401::Refused => {}
                }
            }
            if status.is_redirection()
                && let Some(location) = response_headers
                    .get(header::LOCATION)
                    .and_then(|v| v.to_str().ok())
            {
                let next = current.join(location).map_err(|e| DavError::InvalidUrl {
                    url: location.to_owned(),
                    reason: format!("redirect target is not a URL ({e})"),
                })?;
                if !same_origin(url, &next) {
                    return Err(DavError::CrossHost {
                        from: redact(&current),
                        to: redact(&next),
                    });
                }
                tracing::debug!(from = %redact(&current), to = %redact(&next), "following redirect");
                redirects += 1;
                if redirects > MAX_REDIRECTS {
                    return Err(DavError::TooManyRedirects { url: redact(url) });
                }
                current = next;
                continue;
            }
            let body = read_bounded(response, &current, self.timeout).await?;
            tracing::trace!(%method, url = %redact(&current), %status, bytes = body.len(), "dav reply");
            return Ok(Reply {
                url: current,
                status,
                headers: response_headers,
                body,
            });
        }
    }
}

/// The HTTP client for a timeout, built once per process and shared by every
/// [`CalDavClient`]: building one loads the system's root certificates, which costs more than
/// an idle poll itself, and sharing keeps connections to a server alive between requests.
/// Credentials are per request, never part of the shared client.
fn shared_http(
    timeout: Duration,
    insecure_skip_verify: bool,
) -> Result<reqwest::Client, reqwest::Error> {
    static CLIENTS: OnceLock<Mutex<HashMap<(Duration, bool), reqwest::Client>>> = OnceLock::new();
    let clients = CLIENTS.get_or_init(Mutex::default);
    // A poisoned lock only means another thread panicked while inserting: build a fresh one.
    if let Ok(map) = clients.lock()
        && let Some(client) = map.get(&(timeout, insecure_skip_verify))
    {
        return Ok(client.clone());
    }
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("calmeet/", env!("CARGO_PKG_VERSION")))
        .tls_danger_accept_invalid_certs(insecure_skip_verify)
        .build()?;
    if let Ok(mut map) = clients.lock() {
        map.insert((timeout, insecure_skip_verify), client.clone());
    }
    Ok(client)
}

/// Origins whose server closes connections without `Connection: close`: every request to
/// them asks for a fresh connection.
fn broken_keep_alive() -> std::sync::MutexGuard<'static, std::collections::HashSet<String>> {
    static ORIGINS: OnceLock<Mutex<std::collections::HashSet<String>>> = OnceLock::new();
    ORIGINS
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn keep_alive_broken(url: &Url) -> bool {
    broken_keep_alive().contains(&url.origin().ascii_serialization())
}

fn mark_keep_alive_broken(url: &Url) {
    broken_keep_alive().insert(url.origin().ascii_serialization());
}

/// Whether a request failed because the connection was already closed by the server (reset,
/// broken pipe, closed before an answer), not because the server could not be reached or
/// timed out.
fn is_dead_connection(e: &reqwest::Error) -> bool {
    if e.is_timeout() || e.is_connect() {
        return false;
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>()
            && matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::BrokenPipe
                    | std::io::ErrorKind::ConnectionAborted
            )
        {
            return true;
        }
        // hyper's IncompleteMessage, which it exposes only as text.
        if s.to_string()
            .contains("connection closed before message completed")
        {
            return true;
        }
        source = s.source();
    }
    false
}

/// Reads a body of at most [`MAX_RESPONSE_BYTES`], refusing a larger one as soon as its
/// `Content-Length` or the bytes received so far say so.
async fn read_bounded(
    mut response: reqwest::Response,
    url: &Url,
    timeout: Duration,
) -> Result<Vec<u8>, DavError> {
    let too_large = || DavError::TooLarge {
        url: redact(url),
        limit: MAX_RESPONSE_BYTES,
    };
    if response
        .content_length()
        .is_some_and(|n| n > MAX_RESPONSE_BYTES as u64)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| transport_error(e, url, timeout))?
    {
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn report() -> Method {
    // Both are valid tokens; from_bytes only fails on invalid characters.
    Method::from_bytes(b"REPORT").unwrap_or(Method::POST)
}

fn propfind() -> Method {
    Method::from_bytes(b"PROPFIND").unwrap_or(Method::POST)
}

/// Whether a body breaks lines with LF alone and has no CR at all. RFC 5545 §3.1 wants CRLF;
/// such a body from a REPORT may have lost its CRs in the server's XML layer (sabre/dav 1.8,
/// SOGo), so it may not be the bytes the server stores: a write-back must start from a GET
/// (issue #13 item 6: a write-back keeps the object's line endings as the server stores them).
#[must_use]
pub fn lost_carriage_returns(data: &[u8]) -> bool {
    data.contains(&b'\n') && !data.contains(&b'\r')
}

/// Same scheme, host and port — or the same host upgraded from http to https.
fn same_origin(a: &Url, b: &Url) -> bool {
    let schemes_ok = a.scheme() == b.scheme() || (a.scheme() == "http" && b.scheme() == "https");
    let ports_ok =
        a.scheme() != b.scheme() || a.port_or_known_default() == b.port_or_known_default();
    schemes_ok && ports_ok && a.host_str() == b.host_str()
}

/// The path of `href` resolved against `base` (for comparisons only).
fn path_of(base: &Url, href: &str) -> String {
    base.join(href)
        .map_or_else(|_| href.to_owned(), |u| u.path().to_owned())
}

/// ETags are quoted strings; accept one given without quotes.
fn quote_etag(etag: &str) -> String {
    let etag = etag.trim();
    if etag.starts_with('"') || etag.starts_with("W/") || etag == "*" {
        etag.to_owned()
    } else {
        format!("\"{etag}\"")
    }
}

/// A failed request as one error: a timeout names the URL and the timeout once
/// ([`DavError::Timeout`]); anything else is [`DavError::Transport`] with the cause chain.
fn transport_error(e: reqwest::Error, url: &Url, timeout: Duration) -> DavError {
    if e.is_timeout() {
        DavError::Timeout {
            url: redact(url),
            timeout: seconds(timeout),
        }
    } else {
        DavError::Transport {
            url: redact(url),
            reason: error_chain(e),
        }
    }
}

/// The error and its sources, without the URL (reqwest's own message would embed it, with
/// any password in it) and without a cause already said by the part before it
/// ("timed out: operation timed out").
fn error_chain(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut parts: Vec<String> = vec![e.to_string()];
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_secrets() {
        let basic = Auth::Basic {
            username: "alice".into(),
            password: "hunter2".into(),
        };
        let text = format!("{basic:?} {:?}", Auth::Bearer("tok-123".into()));
        assert!(text.contains("alice"));
        assert!(
            !text.contains("hunter2") && !text.contains("tok-123"),
            "{text}"
        );
        let url = Url::parse("https://alice:hunter2@dav.example.com/cal").unwrap();
        let client = CalDavClient::new(url, basic, Duration::from_secs(5)).unwrap();
        assert_eq!(client.collection_url().path(), "/cal/");
        let text = format!("{client:?}");
        assert!(
            text.contains("dav.example.com") && !text.contains("hunter2"),
            "{text}"
        );
    }

    #[test]
    fn redact_removes_password_from_urls() {
        let url = Url::parse("https://alice:hunter2@dav.example.com/cal/").unwrap();
        assert_eq!(redact(&url), "https://alice@dav.example.com/cal/");
    }

    #[test]
    fn rejects_non_http_urls() {
        let err = CalDavClient::new(
            Url::parse("ftp://example.com/").unwrap(),
            Auth::None,
            Duration::from_secs(1),
        )
        .unwrap_err();
        assert!(matches!(err, DavError::InvalidUrl { .. }));
    }

    #[test]
    fn origins() {
        let a = Url::parse("http://h:8080/a/").unwrap();
        assert!(same_origin(&a, &Url::parse("http://h:8080/b").unwrap()));
        assert!(!same_origin(
            &a,
            &Url::parse("http://other:8080/b").unwrap()
        ));
        assert!(!same_origin(&a, &Url::parse("http://h:9090/b").unwrap()));
        let plain = Url::parse("http://h/a/").unwrap();
        assert!(same_origin(&plain, &Url::parse("https://h/b").unwrap()));
        assert!(!same_origin(&Url::parse("https://h/").unwrap(), &plain));
    }

    #[test]
    fn only_bodies_without_any_cr_are_read_again() {
        for (body, again) in [
            (&b"BEGIN:VCALENDAR\nEND:VCALENDAR\n"[..], true),
            (b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n", false),
            // Mixed: the server kept CRs; its bytes are what it has.
            (b"BEGIN:VCALENDAR\r\nX:1\nEND:VCALENDAR\r\n", false),
            (b"BEGIN:VCALENDAR", false),
            (b"", false),
        ] {
            assert_eq!(lost_carriage_returns(body), again, "{body:?}");
        }
    }

    #[test]
    fn etags_are_quoted_once() {
        assert_eq!(quote_etag("abc"), "\"abc\"");
        assert_eq!(quote_etag("\"abc\""), "\"abc\"");
        assert_eq!(quote_etag("W/\"abc\""), "W/\"abc\"");
    }

    #[test]
    fn a_timeout_is_said_once_with_its_url_and_duration() {
        let url = Url::parse("https://a:secret@h/c/").unwrap();
        let err = DavError::Timeout {
            url: redact(&url),
            timeout: seconds(Duration::from_secs(2)),
        };
        let text = err.to_string();
        assert_eq!(
            text,
            "https://a@h/c/ timed out after 2 s: check that the server is up and reachable, or raise timeout_secs for this calendar"
        );
        assert!(err.is_transient());
        assert_eq!(seconds(Duration::from_millis(1500)), "1.5 s");
    }

    #[test]
    fn errors_say_what_to_do_and_hide_passwords() {
        let err = DavError::Unauthorized {
            url: redact(&Url::parse("https://a:secret@h/c/").unwrap()),
        };
        let text = err.to_string();
        assert!(text.contains("check username/password"));
        assert!(!text.contains("secret"));
        assert!(
            DavError::Transport {
                url: String::new(),
                reason: String::new()
            }
            .is_transient()
        );
        assert!(!DavError::PreconditionFailed { url: String::new() }.is_transient());
    }
}
