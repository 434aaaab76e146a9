//! ICS feeds: `http(s)://`, `webcal://` (fetched as https) and local files.
//!
//! A conditional GET (`If-None-Match` / `If-Modified-Since`) makes an unchanged feed cost one
//! 304 and no parsing. Bodies are read as bytes (a fold may split a UTF-8 sequence, so text
//! decoding happens after unfolding) and bounded in size. This module does not parse; with
//! [`fetch_selected`] the body streams through a [`FeedFilter`] that keeps only the components
//! a pass can use, so a large feed is never held whole in memory.

use std::path::Path;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{ETAG, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED};
use thiserror::Error;

use super::feed_filter::FeedFilter;
use crate::event::TagMatcher;

/// Largest feed accepted.
pub const MAX_FEED_BYTES: usize = 100 * 1024 * 1024;

/// Fetching a feed failed.
#[derive(Debug, Error)]
pub enum IcsError {
    /// The request failed (DNS, connection, TLS, timeout).
    #[error("cannot fetch {url}: {message}")]
    Transport {
        /// The feed URL.
        url: String,
        /// What happened.
        message: String,
    },
    /// The server answered with an error status.
    #[error("{url} answered HTTP {status}{hint}")]
    Status {
        /// The feed URL.
        url: String,
        /// The status code.
        status: u16,
        /// Advice for the status.
        hint: &'static str,
    },
    /// The feed is larger than `MAX_FEED_BYTES`.
    #[error("{url} is larger than {limit} bytes; refusing to read it")]
    TooLarge {
        /// The feed URL.
        url: String,
        /// The limit.
        limit: usize,
    },
    /// A local file could not be read.
    #[error("cannot read {path}: {message}")]
    File {
        /// The path.
        path: String,
        /// The OS error.
        message: String,
    },
}

/// What a fetch found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    /// The server said 304: the feed is as before.
    NotModified,
    /// A new body.
    Body {
        /// The bytes.
        data: Vec<u8>,
        /// The response's ETag.
        etag: Option<String>,
        /// The response's Last-Modified.
        last_modified: Option<String>,
        /// VEVENTs in the full feed when it was filtered ([`fetch_selected`]).
        vevents: Option<usize>,
    },
}

/// Where a body goes as it arrives: kept whole, or filtered.
enum Sink<'m> {
    Whole(Vec<u8>),
    Filter(FeedFilter<'m>),
}

impl Sink<'_> {
    fn push(&mut self, chunk: &[u8]) {
        match self {
            Self::Whole(v) => v.extend_from_slice(chunk),
            Self::Filter(f) => f.push(chunk),
        }
    }

    fn len(&self) -> usize {
        match self {
            Self::Whole(v) => v.len(),
            Self::Filter(f) => f.total_bytes(),
        }
    }

    fn finish(self) -> (Vec<u8>, Option<usize>) {
        match self {
            Self::Whole(v) => (v, None),
            Self::Filter(f) => {
                let done = f.finish();
                (done.data, Some(done.vevents))
            }
        }
    }
}

/// Turns a configured feed location into an HTTP URL, or `None` for a local path.
#[must_use]
pub fn http_url(location: &str) -> Option<String> {
    if let Some(rest) = location.strip_prefix("webcal://") {
        return Some(format!("https://{rest}"));
    }
    if location.starts_with("http://") || location.starts_with("https://") {
        return Some(location.to_owned());
    }
    None
}

/// Fetches a feed. `etag`/`last_modified` are the validators of the cached copy.
///
/// # Errors
/// `IcsError` naming the URL and the cause.
pub async fn fetch(
    http: &reqwest::Client,
    location: &str,
    base_dir: &Path,
    etag: Option<&str>,
    last_modified: Option<&str>,
    timeout: Duration,
) -> Result<Fetched, IcsError> {
    let sink = Sink::Whole(Vec::new());
    fetch_into(http, location, base_dir, etag, last_modified, timeout, sink).await
}

/// [`fetch`], keeping of the body only what `matcher` may select (see
/// [`super::feed_filter`]): the returned data is a smaller feed that parses to the same
/// events, and `vevents` counts the full feed's VEVENTs.
///
/// # Errors
/// As [`fetch`].
pub async fn fetch_selected(
    http: &reqwest::Client,
    location: &str,
    base_dir: &Path,
    validators: (Option<&str>, Option<&str>),
    timeout: Duration,
    matcher: &TagMatcher,
) -> Result<Fetched, IcsError> {
    let sink = Sink::Filter(FeedFilter::new(matcher));
    let (etag, last_modified) = validators;
    fetch_into(http, location, base_dir, etag, last_modified, timeout, sink).await
}

async fn fetch_into(
    http: &reqwest::Client,
    location: &str,
    base_dir: &Path,
    etag: Option<&str>,
    last_modified: Option<&str>,
    timeout: Duration,
    mut sink: Sink<'_>,
) -> Result<Fetched, IcsError> {
    let Some(url) = http_url(location) else {
        use tokio::io::AsyncReadExt;
        let path = base_dir.join(location.strip_prefix("file://").unwrap_or(location));
        let file_error = |e: std::io::Error| IcsError::File {
            path: path.display().to_string(),
            message: e.to_string(),
        };
        let mut file = tokio::fs::File::open(&path).await.map_err(file_error)?;
        let mut buf = vec![0_u8; 64 * 1024];
        loop {
            let n = file.read(&mut buf).await.map_err(file_error)?;
            if n == 0 {
                break;
            }
            if sink.len() + n > MAX_FEED_BYTES {
                return Err(IcsError::TooLarge {
                    url: path.display().to_string(),
                    limit: MAX_FEED_BYTES,
                });
            }
            sink.push(&buf[..n]);
        }
        let (data, vevents) = sink.finish();
        return Ok(Fetched::Body {
            data,
            etag: None,
            last_modified: None,
            vevents,
        });
    };
    // Messages name the feed without a password from its userinfo.
    let shown = redact_url(&url);
    let transport = |e: reqwest::Error| IcsError::Transport {
        url: shown.clone(),
        message: error_chain(&e),
    };
    let mut req = http.get(&url).timeout(timeout);
    if let Some(e) = etag {
        req = req.header(IF_NONE_MATCH, e);
    }
    if let Some(lm) = last_modified {
        req = req.header(IF_MODIFIED_SINCE, lm);
    }
    let mut resp = req.send().await.map_err(transport)?;
    let status = resp.status();
    if status == StatusCode::NOT_MODIFIED {
        return Ok(Fetched::NotModified);
    }
    if !status.is_success() {
        let hint = match status.as_u16() {
            401 | 403 => ": check the feed URL's credentials or its secret token",
            404 | 410 => ": the feed no longer exists at this URL",
            _ => "",
        };
        return Err(IcsError::Status {
            url: shown.clone(),
            status: status.as_u16(),
            hint,
        });
    }
    let header = |name| {
        resp.headers()
            .get(name)
            .and_then(|v: &reqwest::header::HeaderValue| v.to_str().ok())
            .map(str::to_owned)
    };
    let new_etag = header(ETAG);
    let new_lm = header(LAST_MODIFIED);
    if resp
        .content_length()
        .is_some_and(|n| n > MAX_FEED_BYTES as u64)
    {
        return Err(IcsError::TooLarge {
            url: shown.clone(),
            limit: MAX_FEED_BYTES,
        });
    }
    while let Some(chunk) = resp.chunk().await.map_err(transport)? {
        if sink.len() + chunk.len() > MAX_FEED_BYTES {
            return Err(IcsError::TooLarge {
                url: shown.clone(),
                limit: MAX_FEED_BYTES,
            });
        }
        sink.push(&chunk);
    }
    let (data, vevents) = sink.finish();
    Ok(Fetched::Body {
        data,
        etag: new_etag,
        last_modified: new_lm,
        vevents,
    })
}

/// The URL without the password of its userinfo, for messages and logs.
#[must_use]
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            // Only fails for cannot-be-a-base URLs, which carry no password.
            let _ = u.set_password(None);
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

/// An error with its sources, which carry the useful part (e.g. "connection refused").
#[must_use]
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let m = c.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webcal_becomes_https_and_paths_stay_local() {
        assert_eq!(
            http_url("webcal://x.org/a.ics").as_deref(),
            Some("https://x.org/a.ics")
        );
        assert_eq!(
            http_url("http://x.org/a.ics").as_deref(),
            Some("http://x.org/a.ics")
        );
        assert_eq!(http_url("examples/team.ics"), None);
    }

    #[test]
    fn redaction_drops_only_the_password() {
        assert_eq!(
            redact_url("https://alice:s3cret@x.org/a.ics?t=1"),
            "https://alice@x.org/a.ics?t=1"
        );
        assert_eq!(redact_url("https://x.org/a.ics"), "https://x.org/a.ics");
    }
}
