//! HTTP authentication of the CalDAV client: which `Authorization` header a request carries,
//! learned from the server's `WWW-Authenticate` challenge (RFC 9110 §11.6.1).
//!
//! * A user name and password ([`Auth::Basic`]) are answered with the scheme the server asks
//!   for: Digest (RFC 7616: MD5, SHA-256, SHA-512-256 and their `-sess` forms, `qop=auth`,
//!   computed by the `http-auth` crate) is preferred when offered; Basic (RFC 7617) is sent
//!   only when the server asked for it, or pre-emptively over https (where it is as safe as
//!   the TLS connection and saves a round trip). Over plain http the password itself is never
//!   sent unless the server asks for Basic.
//! * A token ([`Auth::Bearer`]) is always sent as configured.
//! * A server that asks only for schemes calmeet lacks (Negotiate, NTLM, …) gets
//!   [`DavError::UnsupportedAuth`] naming them.
//!
//! What a server asked for is remembered per (origin, user name) for the life of the process,
//! so a daemon's idle poll stays one request after the first challenge. Nothing here logs or
//! returns a password, a hash of it, or a header built from it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use http_auth::{DigestClient, PasswordParams};
use reqwest::Method;
use reqwest::header::{HeaderMap, HeaderValue, WWW_AUTHENTICATE};
use url::{Position, Url};

use super::types::Auth;
use crate::config::Secret;

/// Which header a request was sent with, to decide what a 401 to it means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Sent {
    /// No `Authorization` header.
    Nothing,
    /// No `Authorization` header yet: a password is configured and the server's challenge is
    /// expected. Sent with `Connection: close`: a server may answer 401 without reading the
    /// body and reset the connection (SOGo), which must not be reused for the answer.
    Unasked,
    /// Basic.
    Basic,
    /// A Digest response.
    Digest,
    /// A configured token.
    Token,
}

/// What the client does after a 401.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum After401 {
    /// The scheme to use changed (or a Digest nonce went stale): send the request again.
    Retry,
    /// The credentials were refused (or none fit): report 401.
    Refused,
    /// The server asks only for these schemes, none of which calmeet supports.
    Unsupported(Vec<String>),
}

/// The scheme learned from a challenge.
#[derive(Debug, Default)]
enum Learned {
    /// No challenge seen yet.
    #[default]
    NotAsked,
    /// The server asked for Basic.
    Basic,
    /// The server asked for Digest; the client keeps the nonce and the nonce count.
    Digest(Box<DigestClient>),
}

enum Credentials {
    None,
    Token(HeaderValue),
    Password {
        username: String,
        password: Secret,
        /// The pre-built Basic header (sensitive), for when Basic is what the server asked.
        basic: HeaderValue,
    },
}

/// The authentication state of one client (shared by its clones and by every client of the
/// same origin and user in the process).
pub(super) struct Authenticator {
    credentials: Credentials,
    learned: Arc<Mutex<Learned>>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &self.credentials {
            Credentials::None => "none",
            Credentials::Token(_) => "token",
            Credentials::Password { .. } => "password",
        };
        f.debug_struct("Authenticator")
            .field("credentials", &kind)
            .finish_non_exhaustive()
    }
}

impl Authenticator {
    /// The authenticator for `auth` at the server of `collection`.
    ///
    /// # Errors
    /// When the password or token cannot be sent in an HTTP header (see
    /// [`Auth::header_value`]).
    pub(super) fn new(auth: &Auth, collection: &Url) -> Result<Self, String> {
        let credentials = match (auth, auth.header_value()?) {
            (Auth::Basic { username, password }, Some(basic)) => Credentials::Password {
                username: username.clone(),
                password: password.clone(),
                basic,
            },
            (Auth::Bearer(_), Some(token)) => Credentials::Token(token),
            _ => Credentials::None,
        };
        let learned = match &credentials {
            Credentials::Password { username, .. } => shared_learned(collection, username),
            _ => Arc::default(),
        };
        Ok(Self {
            credentials,
            learned,
        })
    }

    /// The `Authorization` header for `method` on `url` (marked sensitive), and what it is.
    ///
    /// # Errors
    /// When a Digest response cannot be computed (nonce count exhausted).
    pub(super) fn header(
        &self,
        method: &Method,
        url: &Url,
    ) -> Result<(Option<HeaderValue>, Sent), String> {
        let (username, password, basic) = match &self.credentials {
            Credentials::None => return Ok((None, Sent::Nothing)),
            Credentials::Token(token) => return Ok((Some(token.clone()), Sent::Token)),
            Credentials::Password {
                username,
                password,
                basic,
            } => (username, password, basic),
        };
        let mut learned = lock(&self.learned);
        match &mut *learned {
            Learned::Basic => Ok((Some(basic.clone()), Sent::Basic)),
            Learned::NotAsked if url.scheme() == "https" => Ok((Some(basic.clone()), Sent::Basic)),
            Learned::NotAsked => Ok((None, Sent::Unasked)),
            Learned::Digest(client) => {
                let answer = zeroize::Zeroizing::new(client.respond(&PasswordParams {
                    username,
                    password: password.expose(),
                    uri: &url[Position::BeforePath..Position::AfterQuery],
                    method: method.as_str(),
                    body: None,
                })?);
                let mut value = HeaderValue::from_str(&answer).map_err(|_| {
                    "the Digest answer cannot be sent in an HTTP header (a user name with a \
                     line break?)"
                        .to_owned()
                })?;
                value.set_sensitive(true);
                Ok((Some(value), Sent::Digest))
            }
        }
    }

    /// Reads the challenge of a 401 answer to a request sent with `sent`, remembers the scheme
    /// it asks for, and says whether sending the request again can help.
    pub(super) fn challenged(&self, headers: &HeaderMap, sent: Sent) -> After401 {
        if !matches!(self.credentials, Credentials::Password { .. }) {
            return After401::Refused;
        }
        let challenges: Vec<&str> = headers
            .get_all(WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        let (after, learned) = decide(&challenges, sent);
        if let Some(learned) = learned {
            tracing::debug!(
                scheme = match &learned {
                    Learned::Basic => "Basic",
                    Learned::Digest(_) => "Digest",
                    Learned::NotAsked => "none",
                },
                "the CalDAV server asked for authentication"
            );
            *lock(&self.learned) = learned;
        }
        after
    }
}

/// What a 401 with `challenges` (the `WWW-Authenticate` values) means for a request sent with
/// `sent`, and the scheme to use from now on (`None`: keep the current one). Digest is
/// preferred over Basic; a second refusal of the same scheme is a wrong password, except a
/// Digest challenge with `stale=true` (RFC 7616 §3.3: the nonce expired, the password was
/// right).
fn decide(challenges: &[&str], sent: Sent) -> (After401, Option<Learned>) {
    let mut schemes: Vec<String> = Vec::new();
    let mut digest: Option<DigestClient> = None;
    let mut digest_error: Option<String> = None;
    let mut basic = false;
    for value in challenges {
        for challenge in http_auth::ChallengeParser::new(value).flatten() {
            if !schemes
                .iter()
                .any(|s| s.eq_ignore_ascii_case(challenge.scheme))
            {
                schemes.push(challenge.scheme.to_owned());
            }
            if challenge.scheme.eq_ignore_ascii_case("Digest") && digest.is_none() {
                match DigestClient::try_from(&challenge) {
                    // calmeet answers qop=auth (or RFC 2069's none), never auth-int.
                    Ok(client) if client.qop() & http_auth::digest::Qop::Auth => {
                        digest = Some(client);
                    }
                    Ok(_) => digest_error = Some("only qop=auth-int offered".to_owned()),
                    Err(e) => digest_error = Some(e),
                }
            } else if challenge.scheme.eq_ignore_ascii_case("Basic") {
                basic = true;
            }
        }
    }
    if let Some(client) = digest {
        if sent == Sent::Digest && !client.stale() {
            return (After401::Refused, None);
        }
        return (After401::Retry, Some(Learned::Digest(Box::new(client))));
    }
    if basic {
        if sent == Sent::Basic {
            return (After401::Refused, None);
        }
        return (After401::Retry, Some(Learned::Basic));
    }
    if schemes.is_empty() {
        return (After401::Refused, None);
    }
    if let Some(e) = digest_error {
        // A Digest variant calmeet cannot answer (e.g. only qop=auth-int, an unknown algorithm).
        if let Some(s) = schemes
            .iter_mut()
            .find(|s| s.eq_ignore_ascii_case("Digest"))
        {
            *s = format!("Digest ({e})");
        }
    }
    (After401::Unsupported(schemes), None)
}

/// The learned scheme shared by every client of `collection`'s origin and `username`.
fn shared_learned(collection: &Url, username: &str) -> Arc<Mutex<Learned>> {
    type Map = HashMap<(String, String), Arc<Mutex<Learned>>>;
    static LEARNED: OnceLock<Mutex<Map>> = OnceLock::new();
    let key = (
        collection.origin().ascii_serialization(),
        username.to_owned(),
    );
    lock(LEARNED.get_or_init(Mutex::default))
        .entry(key)
        .or_default()
        .clone()
}

/// A poisoned lock only means another thread panicked holding it; the value is still usable.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn kind(l: &Option<Learned>) -> &'static str {
        match l {
            None => "keep",
            Some(Learned::NotAsked) => "none",
            Some(Learned::Basic) => "basic",
            Some(Learned::Digest(_)) => "digest",
        }
    }

    /// Every challenge a server may send, against every header the refused request carried.
    #[test]
    fn challenge_table() {
        let sabre = r#"Digest realm="SabreDAV",qop="auth",nonce="6b0cba3395d9a",opaque="df58bdff8cf60599c939187d0b5c54de""#;
        let sha256 = r#"Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=SHA-256, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS""#;
        let stale = r#"Digest realm="SabreDAV", qop="auth", nonce="n2", stale=true"#;
        let cases: &[(&[&str], Sent, After401, &str)] = &[
            (
                &[r#"Basic realm="Radicale""#],
                Sent::Nothing,
                After401::Retry,
                "basic",
            ),
            (
                &[r#"Basic realm="Radicale""#],
                Sent::Basic,
                After401::Refused,
                "keep",
            ),
            (&[sabre], Sent::Nothing, After401::Retry, "digest"),
            // https: Basic went first, the server wants Digest.
            (&[sabre], Sent::Basic, After401::Retry, "digest"),
            (&[sabre], Sent::Digest, After401::Refused, "keep"),
            (&[stale], Sent::Digest, After401::Retry, "digest"),
            (&[sha256], Sent::Nothing, After401::Retry, "digest"),
            // Both offered, in one header or two: Digest wins, whatever the order.
            (
                &[&format!(r#"Basic realm="x", {sabre}"#)],
                Sent::Nothing,
                After401::Retry,
                "digest",
            ),
            (
                &[r#"Basic realm="x""#, sabre],
                Sent::Nothing,
                After401::Retry,
                "digest",
            ),
            (&[], Sent::Nothing, After401::Refused, "keep"),
            (&[], Sent::Basic, After401::Refused, "keep"),
            (
                &["Negotiate", "NTLM"],
                Sent::Nothing,
                After401::Unsupported(vec!["Negotiate".into(), "NTLM".into()]),
                "keep",
            ),
            (
                &[r#"Digest realm="r", nonce="n", qop="auth-int""#],
                Sent::Nothing,
                After401::Unsupported(vec!["Digest (only qop=auth-int offered)".into()]),
                "keep",
            ),
        ];
        for (challenges, sent, want, learned) in cases {
            let (after, got) = decide(challenges, *sent);
            if let (After401::Unsupported(schemes), After401::Unsupported(expected)) =
                (&after, want)
            {
                assert_eq!(schemes, expected, "{challenges:?}");
            }
            assert_eq!(&after, want, "{challenges:?} after {sent:?}");
            assert_eq!(kind(&got), *learned, "{challenges:?} after {sent:?}");
        }
    }

    /// RFC 7616 §3.9.1 example (SHA-256 and MD5): the crate's answer verifies.
    #[test]
    fn digest_answer_follows_rfc_7616() {
        let www = r#"Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=SHA-256, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS""#;
        let mut client =
            DigestClient::try_from(&http_auth::parse_challenges(www).unwrap()[0]).unwrap();
        let answer = client
            .respond_with_testing_cnonce(
                &PasswordParams {
                    username: "Mufasa",
                    password: "Circle of Life",
                    uri: "/dir/index.html",
                    method: "GET",
                    body: None,
                },
                "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
            )
            .unwrap();
        assert!(
            answer.contains(
                r#"response="753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1""#
            ),
            "{answer}"
        );
        assert!(answer.contains("algorithm=SHA-256") && answer.contains("nc=00000001"));
    }

    #[test]
    fn basic_is_sent_up_front_only_over_https_and_never_printed() {
        let auth = Auth::Basic {
            username: "zoe".into(),
            password: "hunter2".into(),
        };
        let http = Url::parse("http://127.0.0.1:1/cal/").unwrap();
        let https = Url::parse("https://127.0.0.1:1/cal/").unwrap();
        let a = Authenticator::new(&auth, &http).unwrap();
        let (h, sent) = a.header(&Method::GET, &http).unwrap();
        assert!(h.is_none() && sent == Sent::Unasked);
        let b = Authenticator::new(&auth, &https).unwrap();
        let (h, sent) = b.header(&Method::GET, &https).unwrap();
        assert!(h.unwrap().is_sensitive() && sent == Sent::Basic);
        // The server asks for Digest: every later request answers it, with a growing count.
        let mut headers = HeaderMap::new();
        headers.insert(
            WWW_AUTHENTICATE,
            HeaderValue::from_static(r#"Digest realm="SabreDAV",qop="auth",nonce="abc""#),
        );
        assert_eq!(a.challenged(&headers, Sent::Nothing), After401::Retry);
        let (h, sent) = a
            .header(&Method::from_bytes(b"REPORT").unwrap(), &http)
            .unwrap();
        let h = h.unwrap();
        assert!(h.is_sensitive() && sent == Sent::Digest);
        let text = h.to_str().unwrap().to_owned();
        assert!(
            text.starts_with("Digest ") && text.contains(r#"uri="/cal/""#),
            "{text}"
        );
        assert!(!text.contains("hunter2"), "{text}");
        let (h2, _) = a.header(&Method::GET, &http).unwrap();
        assert!(h2.unwrap().to_str().unwrap().contains("nc=00000002"));
        assert!(!format!("{a:?}").contains("hunter2"));
        // Another client of the same origin and user starts with what was learned.
        let c = Authenticator::new(&auth, &http.join("/other/").unwrap()).unwrap();
        assert_eq!(c.header(&Method::GET, &http).unwrap().1, Sent::Digest);
    }
}
