//! Values the CalDAV client hands out and takes: authentication, object references, objects,
//! sync changes, collection state and discovered calendars. Plain data, no behaviour beyond
//! redacting secrets in `Debug` and building the `Authorization` header from [`Auth`].

use base64::Engine as _;
use reqwest::header::HeaderValue;
use url::Url;
use zeroize::Zeroizing;

use crate::config::Secret;

/// How calmeet authenticates to a CalDAV server.
#[derive(Clone, PartialEq, Eq)]
pub enum Auth {
    /// No `Authorization` header.
    None,
    /// A user name and password, answered with the scheme the server's challenge asks for:
    /// Digest (RFC 7616) or Basic (RFC 7617). Basic goes out unasked only over https (the
    /// variant keeps its historical name).
    Basic {
        /// User name.
        username: String,
        /// Password (never printed; zeroized on drop).
        password: Secret,
    },
    /// `Authorization: Bearer <token>` (never printed; zeroized on drop).
    Bearer(Secret),
}

impl Auth {
    /// The `Authorization` header value, marked sensitive so that reqwest/hyper never log it.
    ///
    /// The `user:password` text and its Base64 are built in buffers that are zeroized on
    /// drop (no stack or temporary copies); the returned [`HeaderValue`] is the one copy that
    /// cannot be (it is shared by every request of a client, not copied per request).
    ///
    /// # Errors
    /// When the password or token holds a byte that cannot appear in an HTTP header (a line
    /// break, a control character).
    pub(crate) fn header_value(&self) -> Result<Option<HeaderValue>, String> {
        let text: Zeroizing<Vec<u8>> = match self {
            Self::None => return Ok(None),
            Self::Basic { username, password } => {
                let password = password.expose();
                let mut plain =
                    Zeroizing::new(Vec::with_capacity(username.len() + 1 + password.len()));
                plain.extend_from_slice(username.as_bytes());
                plain.push(b':');
                plain.extend_from_slice(password.as_bytes());
                const PREFIX: &[u8] = b"Basic ";
                let encoded = base64::encoded_len(plain.len(), true)
                    .ok_or_else(|| "the password is too long".to_owned())?;
                let mut value = Zeroizing::new(vec![0; PREFIX.len() + encoded]);
                value[..PREFIX.len()].copy_from_slice(PREFIX);
                let written = base64::engine::general_purpose::STANDARD
                    .encode_slice(&*plain, &mut value[PREFIX.len()..])
                    .map_err(|e| format!("cannot encode the credentials: {e}"))?;
                value.truncate(PREFIX.len() + written);
                value
            }
            Self::Bearer(token) => {
                let token = token.expose();
                let mut value = Zeroizing::new(Vec::with_capacity(7 + token.len()));
                value.extend_from_slice(b"Bearer ");
                value.extend_from_slice(token.as_bytes());
                value
            }
        };
        let mut value = HeaderValue::from_bytes(&text).map_err(|_| {
            "the password or token holds a character that cannot be sent in an HTTP header \
             (a line break or control character?)"
                .to_owned()
        })?;
        value.set_sensitive(true);
        Ok(Some(value))
    }
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::None => f.write_str("None"),
            Self::Basic { username, .. } => f
                .debug_struct("Basic")
                .field("username", username)
                .field("password", &"<redacted>")
                .finish(),
            Self::Bearer(_) => f.write_str("Bearer(<redacted>)"),
        }
    }
}

/// A member of the collection: where it is and which version the server has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRef {
    /// Absolute path on the server, as the server spells it (compare with
    /// [`super::protocol::same_href`]).
    pub href: String,
    /// Entity tag, quotes included; `None` when the server did not report one.
    pub etag: Option<String>,
}

/// A calendar object with its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalObject {
    /// Absolute path on the server.
    pub href: String,
    /// Entity tag of this body; `None` when the server did not report one.
    pub etag: Option<String>,
    /// The iCalendar body exactly as received.
    pub data: Vec<u8>,
}

/// The answer to a calendar-multiget ([`super::CalDavClient::multiget_detailed`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Multiget {
    /// The members the server returned, with their bodies as it stores them.
    pub objects: Vec<CalObject>,
    /// Hrefs (as asked) the server answered 404 for: deleted since they were listed.
    pub missing: Vec<String>,
}

/// What changed since a sync token (RFC 6578).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncChanges {
    /// Members created or modified.
    pub changed: Vec<ObjectRef>,
    /// Hrefs of members deleted.
    pub deleted: Vec<String>,
    /// Token to send next time.
    pub token: String,
    /// The server cut the answer short (RFC 6578 §3.6: a `507` status for the collection
    /// itself): more changes wait behind `token`.
    pub truncated: bool,
}

/// A collection property that changes whenever any member changes, read with a Depth-0
/// PROPFIND to learn cheaply whether a listing is needed at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeMarker {
    /// `DAV:sync-token` (RFC 6578), for collections synced with sync-collection.
    SyncToken,
    /// `CS:getctag` (CalendarServer), for collections listed by time range.
    Ctag,
}

/// Change markers and capabilities of the collection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectionState {
    /// `CS:getctag`, changes whenever any member changes (not every server has it).
    pub ctag: Option<String>,
    /// `DAV:sync-token` of the collection.
    pub sync_token: Option<String>,
    /// Whether `supported-report-set` lists `DAV:sync-collection`.
    pub supports_sync: bool,
    /// `DAV:displayname`.
    pub display_name: Option<String>,
}

/// A calendar found by [`super::CalDavClient::discover`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarInfo {
    /// Collection URL (ends in `/`).
    pub url: Url,
    /// `DAV:displayname`, if set.
    pub display_name: Option<String>,
    /// Whether the calendar may hold events (no component set means any component).
    pub supports_vevent: bool,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn authorization_header_is_right_sensitive_and_never_printed() {
        let basic = Auth::Basic {
            username: "alice".into(),
            password: "hunter2".into(),
        };
        let value = basic.header_value().unwrap().unwrap();
        assert!(value.is_sensitive());
        let expected = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("alice:hunter2")
        );
        assert_eq!(value.to_str().unwrap(), expected);
        // http prints a sensitive value as `Sensitive`.
        let text = format!("{value:?} {basic:?}");
        assert!(
            !text.contains("hunter2") && !text.contains(&expected[6..]),
            "{text}"
        );
        assert!(
            text.contains("alice") && text.contains("Sensitive"),
            "{text}"
        );

        let bearer = Auth::Bearer("tok-123".into());
        let value = bearer.header_value().unwrap().unwrap();
        assert!(value.is_sensitive());
        assert_eq!(value.to_str().unwrap(), "Bearer tok-123");
        assert!(!format!("{value:?} {bearer:?}").contains("tok-123"));

        assert_eq!(Auth::None.header_value().unwrap(), None);
    }

    #[test]
    fn a_token_that_cannot_be_a_header_is_refused_without_echoing_it() {
        let err = Auth::Bearer("SeCrEt\nX-Injected: 1".into())
            .header_value()
            .unwrap_err();
        assert!(err.contains("cannot be sent in an HTTP header"), "{err}");
        assert!(
            !err.contains("SeCrEt") && !err.contains("Injected"),
            "{err}"
        );
    }
}
