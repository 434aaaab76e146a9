//! Values the CalDAV client hands out and takes: authentication, object references, objects,
//! sync changes, collection state and discovered calendars. Plain data, no behaviour beyond
//! redacting secrets in `Debug`.

use url::Url;

/// How calmeet authenticates to a CalDAV server.
#[derive(Clone, PartialEq, Eq)]
pub enum Auth {
    /// No `Authorization` header.
    None,
    /// HTTP Basic.
    Basic {
        /// User name.
        username: String,
        /// Password (never printed).
        password: String,
    },
    /// `Authorization: Bearer <token>` (never printed).
    Bearer(String),
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

/// What changed since a sync token (RFC 6578).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncChanges {
    /// Members created or modified.
    pub changed: Vec<ObjectRef>,
    /// Hrefs of members deleted.
    pub deleted: Vec<String>,
    /// Token to send next time.
    pub token: String,
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
