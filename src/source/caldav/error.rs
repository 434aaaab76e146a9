//! The CalDAV client's error type. Every variant names the URL and tells the user what to
//! do; no message may ever contain a password (URLs go through [`redact`]).

use url::Url;

/// Everything that can go wrong talking to a CalDAV server. Every message names the URL and
/// what to do; none contains a password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DavError {
    /// The configured URL cannot be used.
    #[error("invalid CalDAV URL {url}: {reason}")]
    InvalidUrl {
        /// The URL (password removed).
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Network failure, timeout or TLS error.
    #[error(
        "could not reach {url}: {reason}; check the URL, the network and that the server is up"
    )]
    Transport {
        /// The URL (password removed).
        url: String,
        /// The underlying error chain.
        reason: String,
    },
    /// The server did not answer within the calendar's timeout.
    #[error(
        "{url} timed out after {timeout}: check that the server is up and reachable, or raise timeout_secs for this calendar"
    )]
    Timeout {
        /// The URL (password removed).
        url: String,
        /// The timeout that ran out, as text (`2 s`).
        timeout: String,
    },
    /// 401.
    #[error("{url} answered 401 Unauthorized: check username/password for this calendar")]
    Unauthorized {
        /// The URL.
        url: String,
    },
    /// 401 with a challenge only for schemes calmeet does not answer (RFC 9110 §11.6.1).
    #[error(
        "{url} asks for authentication by {offered}, which calmeet does not support (it answers Basic, Digest and Bearer): enable Basic or Digest for this account on the server, or use a token"
    )]
    UnsupportedAuth {
        /// The URL.
        url: String,
        /// The schemes the server offered, comma-separated.
        offered: String,
    },
    /// 403.
    #[error(
        "{url} answered 403 Forbidden: the account may not read or change this; check its permissions on the server"
    )]
    Forbidden {
        /// The URL.
        url: String,
    },
    /// 404.
    #[error(
        "{url} answered 404 Not Found: check the calendar URL (a collection URL ends in '/') or re-list the calendar"
    )]
    NotFound {
        /// The URL.
        url: String,
    },
    /// 412 on a conditional write: someone changed the object since it was read.
    #[error("{url} changed on the server since calmeet read it (412): re-read it and retry")]
    PreconditionFailed {
        /// The URL.
        url: String,
    },
    /// The server no longer accepts the sync token (RFC 6578 `DAV:valid-sync-token`).
    #[error("the sync token for {url} is no longer valid: drop it and do a full listing")]
    InvalidSyncToken {
        /// The collection URL.
        url: String,
    },
    /// Any other unexpected HTTP status.
    #[error("{method} {url} failed with HTTP {status}: {detail}")]
    Status {
        /// HTTP method.
        method: String,
        /// The URL.
        url: String,
        /// HTTP status code.
        status: u16,
        /// Start of the response body.
        detail: String,
    },
    /// The response body is larger than the client reads.
    #[error("{url} sent a response larger than {limit} bytes; refusing to read it")]
    TooLarge {
        /// The URL (password removed).
        url: String,
        /// The limit in bytes.
        limit: usize,
    },
    /// The body is not the XML that was expected.
    #[error("malformed response from {url}: {reason}; is this URL a CalDAV server?")]
    Malformed {
        /// The URL (empty while still inside the pure parser).
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// A redirect or href points to another host; credentials are not sent there.
    #[error(
        "{from} points to another host ({to}); calmeet never sends credentials to another host: configure {to} directly if you trust it"
    )]
    CrossHost {
        /// Where calmeet was.
        from: String,
        /// Where the server wanted it to go.
        to: String,
    },
    /// More than a handful of redirects.
    #[error("too many redirects starting at {url}: configure the final URL directly")]
    TooManyRedirects {
        /// The first URL.
        url: String,
    },
    /// Discovery found no principal or calendar home.
    #[error("{url}: {reason}; configure the calendar's collection URL directly")]
    Discovery {
        /// The account URL.
        url: String,
        /// Which step failed.
        reason: String,
    },
}

impl DavError {
    /// Whether retrying later may help (network trouble, timeouts, 5xx, 429).
    #[must_use]
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Transport { .. } | Self::Timeout { .. } => true,
            Self::Status { status, .. } => *status >= 500 || *status == 429,
            _ => false,
        }
    }

    /// Fills in the URL of an error produced by the pure parser.
    pub(crate) fn at(self, url: &Url) -> Self {
        match self {
            Self::Malformed { url: u, reason } if u.is_empty() => Self::Malformed {
                url: redact(url),
                reason,
            },
            other => other,
        }
    }
}

/// The URL without a password, for messages.
pub(crate) fn redact(url: &Url) -> String {
    let mut url = url.clone();
    if url.password().is_some() {
        // Only fails for cannot-be-a-base URLs, which have no password anyway.
        let _ = url.set_password(None);
    }
    url.to_string()
}

/// A timeout for messages: `2 s`, `0.5 s`.
pub(crate) fn seconds(timeout: std::time::Duration) -> String {
    let secs = timeout.as_secs_f64();
    if timeout.subsec_nanos() == 0 {
        format!("{} s", timeout.as_secs())
    } else {
        format!("{secs:.1} s")
    }
}
