//! Temporary interface of the CalDAV client (replaced by the real client on merge).
#![allow(missing_docs, clippy::unused_async)]
use chrono::{DateTime, Utc};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum DavError {
    #[error("invalid sync token")]
    InvalidSyncToken,
    #[error("precondition failed")]
    PreconditionFailed,
    #[error("forbidden")]
    Forbidden,
    #[error("{0}")]
    Other(String),
}
pub enum Auth {
    None,
    Basic { username: String, password: String },
    Bearer(String),
}
pub struct ObjectRef {
    pub href: String,
    pub etag: Option<String>,
}
pub struct CalObject {
    pub href: String,
    pub etag: Option<String>,
    pub data: Vec<u8>,
}
pub struct SyncChanges {
    pub changed: Vec<ObjectRef>,
    pub deleted: Vec<String>,
    pub token: String,
}
pub struct CalendarInfo {
    pub url: url::Url,
    pub display_name: Option<String>,
}
pub struct CalDavClient;
impl CalDavClient {
    pub fn new(_u: url::Url, _a: Auth, _t: Duration) -> Result<Self, DavError> {
        Err(DavError::Other("no caldav".into()))
    }
    pub async fn list(
        &self,
        _s: DateTime<Utc>,
        _e: DateTime<Utc>,
    ) -> Result<Vec<ObjectRef>, DavError> {
        Err(DavError::Forbidden)
    }
    pub async fn multiget(&self, _h: &[String]) -> Result<Vec<CalObject>, DavError> {
        Err(DavError::Forbidden)
    }
    pub async fn get(&self, _h: &str) -> Result<CalObject, DavError> {
        Err(DavError::Forbidden)
    }
    pub async fn sync_collection(&self, _t: Option<&str>) -> Result<SyncChanges, DavError> {
        Err(DavError::Forbidden)
    }
    pub async fn ctag(&self) -> Result<Option<String>, DavError> {
        Err(DavError::Forbidden)
    }
    pub async fn put(&self, _h: &str, _d: &[u8], _m: &str) -> Result<Option<String>, DavError> {
        Err(DavError::Forbidden)
    }
    pub async fn etag(&self, _h: &str) -> Result<Option<String>, DavError> {
        Err(DavError::Forbidden)
    }
    pub async fn discover(&self, _u: &url::Url) -> Result<Vec<CalendarInfo>, DavError> {
        Err(DavError::Forbidden)
    }
}
