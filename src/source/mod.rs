//! Calendar sources: reading objects from ICS feeds and CalDAV collections.
//!
//! `fetch` returns every object of a calendar (from the server or from the cache in the state
//! database) and whether anything changed. When nothing changed it loads no object at all
//! ([`Snapshot::in_store`]): an idle poll costs one request and a few small reads. Protocol details live in
//! [`ics`] and [`caldav`]; this module decides what to ask for and keeps the cache.

pub mod caldav;
pub mod ics;

use std::collections::{HashMap, HashSet};

use crate::config::{CalendarConfig, CalendarKind, Secret};
use crate::store::{CachedObject, CalendarState, Store};
use crate::sync::Engine;

/// Every object of a calendar after a fetch.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// All objects (changed or cached); empty when [`Self::in_store`] is set.
    pub objects: Vec<CachedObject>,
    /// Nothing changed and the objects were not loaded: they are the ones cached in the
    /// store; call [`Self::load`] before reading `objects`.
    pub in_store: bool,
    /// Whether anything differs from the previous pass.
    pub changed: bool,
    /// New sync token (CalDAV).
    pub sync_token: Option<String>,
    /// New ctag (CalDAV).
    pub ctag: Option<String>,
    /// New HTTP validators (ICS).
    pub http_etag: Option<String>,
    /// New Last-Modified (ICS).
    pub http_last_modified: Option<String>,
}

impl Snapshot {
    /// Copies the snapshot's validators into the calendar state to be saved.
    #[must_use]
    pub fn apply_validators(&self, mut state: CalendarState) -> CalendarState {
        state.sync_token.clone_from(&self.sync_token);
        state.ctag.clone_from(&self.ctag);
        state.http_etag.clone_from(&self.http_etag);
        state
            .http_last_modified
            .clone_from(&self.http_last_modified);
        state
    }

    /// Fills `objects` from the store's cache if the fetch left them there.
    ///
    /// # Errors
    /// On state database errors.
    pub fn load(&mut self, store: &Store, calendar: &str) -> Result<(), String> {
        if self.in_store {
            self.objects = store.objects(calendar).map_err(|e| e.to_string())?;
            self.in_store = false;
        }
        Ok(())
    }
}

/// Fetches a calendar. With `dry_run` the cache is not updated.
///
/// # Errors
/// A message naming what failed (the caller adds the calendar's name).
pub async fn fetch<A>(
    engine: &Engine<A>,
    cal: &CalendarConfig,
    state: &CalendarState,
    dry_run: bool,
) -> Result<Snapshot, String> {
    if cal.insecure_skip_verify {
        tracing::warn!(
            calendar = %cal.name,
            "TLS certificate verification is OFF for this calendar (insecure_skip_verify = true): \
             anyone on the network path can read and change its events and credentials; use it \
             only for a self-signed test server"
        );
    }
    match cal.kind {
        CalendarKind::Ics => fetch_ics(engine, cal, state, dry_run).await,
        CalendarKind::Caldav => fetch_caldav(engine, cal, state, dry_run).await,
    }
}

async fn fetch_ics<A>(
    engine: &Engine<A>,
    cal: &CalendarConfig,
    state: &CalendarState,
    dry_run: bool,
) -> Result<Snapshot, String> {
    let have_cache = !engine
        .store
        .object_etags(&cal.name)
        .map_err(|e| e.to_string())?
        .is_empty();
    let (etag, lm) = if have_cache {
        (
            state.http_etag.as_deref(),
            state.http_last_modified.as_deref(),
        )
    } else {
        (None, None)
    };
    let http = &crate::sync::http_client_for(cal, &engine.http)?;
    let fetched = ics::fetch(
        http,
        &cal.url,
        &engine.config.base_dir,
        etag,
        lm,
        cal.timeout(),
    )
    .await
    .map_err(|e| e.to_string())?;
    match fetched {
        ics::Fetched::NotModified => Ok(Snapshot {
            in_store: true,
            changed: false,
            http_etag: state.http_etag.clone(),
            http_last_modified: state.http_last_modified.clone(),
            ..Snapshot::default()
        }),
        ics::Fetched::Body {
            data,
            etag,
            last_modified,
        } => {
            let cached = engine.store.objects(&cal.name).map_err(|e| e.to_string())?;
            let changed = cached.first().is_none_or(|c| c.data != data);
            let obj = CachedObject {
                href: cal.url.clone(),
                etag: etag.clone(),
                data,
            };
            if changed && !dry_run {
                engine
                    .store
                    .update_objects(&cal.name, std::slice::from_ref(&obj), &[], true)
                    .map_err(|e| e.to_string())?;
            }
            Ok(Snapshot {
                objects: vec![obj],
                changed,
                http_etag: etag,
                http_last_modified: last_modified,
                ..Snapshot::default()
            })
        }
    }
}

/// Builds the CalDAV client of a calendar, resolving its credentials.
///
/// # Errors
/// When the URL is invalid or a credential file cannot be read.
pub fn caldav_client(
    cal: &CalendarConfig,
    base_dir: &std::path::Path,
) -> Result<caldav::CalDavClient, String> {
    let url = url::Url::parse(&cal.url).map_err(|e| format!("invalid url: {e}"))?;
    let auth = if let Some(token) = cal.resolve_token(base_dir).map_err(|e| e.to_string())? {
        caldav::Auth::Bearer(token)
    } else if let Some(user) = &cal.username {
        let password = cal.resolve_password(base_dir).map_err(|e| e.to_string())?;
        caldav::Auth::Basic {
            username: user.clone(),
            password: password.unwrap_or_else(|| Secret::new(String::new())),
        }
    } else {
        caldav::Auth::None
    };
    caldav::CalDavClient::with_tls(url, auth, cal.timeout(), cal.insecure_skip_verify)
        .map_err(|e| e.to_string())
}

/// The saved change marker of a CalDAV calendar whose server reports none: do not ask again.
const NO_MARKER: &str = "";

/// Whether a failed first sync-collection REPORT (or change-marker PROPFIND) may only mean the
/// server does not support it (so a time-range listing is worth a try). A timeout, an unreachable host, wrong
/// credentials or a wrong URL fail the listing the same way: asking again only doubles the
/// wait (a silent server would cost two full timeouts) and the failed logins.
fn may_lack_sync_collection(e: &caldav::DavError) -> bool {
    use caldav::DavError as E;
    !matches!(
        e,
        E::Transport { .. }
            | E::Timeout { .. }
            | E::Unauthorized { .. }
            | E::NotFound { .. }
            | E::CrossHost { .. }
            | E::TooManyRedirects { .. }
            | E::InvalidUrl { .. }
            | E::TooLarge { .. }
    )
}

/// CalDAV: a Depth-0 PROPFIND of the collection's ctag first; when it is the
/// one saved with the cached objects, nothing else is asked. Otherwise RFC 6578
/// sync-collection when the server supports it (an invalid token falls back to a full
/// listing), else a time-range listing compared by ETag; only changed objects are downloaded.
/// An unchanged calendar costs one request; a server without the marker property costs the
/// one listing request as before.
async fn fetch_caldav<A>(
    engine: &Engine<A>,
    cal: &CalendarConfig,
    state: &CalendarState,
    dry_run: bool,
) -> Result<Snapshot, String> {
    let client = caldav_client(cal, &engine.config.base_dir)?;
    // Hrefs and ETags only: the bodies are loaded once something changed.
    let cached = engine
        .store
        .object_etags(&cal.name)
        .map_err(|e| e.to_string())?;
    let have_cache = !cached.is_empty() || state.sync_token.is_some();
    let token = if have_cache {
        state.sync_token.as_deref()
    } else {
        None
    };
    // The cheap check first: one Depth-0 PROPFIND of the collection's ctag. It is read before
    // any listing, so the value saved with the objects never covers more than they do. The
    // ctag, not the sync-token property: Radicale computes either by walking every member, and
    // the sync-token costs it more than the sync-collection REPORT itself (BENCHMARKS.md).
    let ask = !have_cache || state.ctag.as_deref() != Some(NO_MARKER);
    let marker = if ask {
        match client.change_marker(caldav::ChangeMarker::Ctag).await {
            Ok(m) => m,
            // A failing server fails the pass as a failing listing would; a refusal (4xx)
            // means this server will not tell: list instead, and stop asking.
            Err(e) if e.is_transient() || !may_lack_sync_collection(&e) => {
                return Err(e.to_string());
            }
            Err(e) => {
                tracing::debug!(calendar = %cal.name, "no ctag ({e}); listing instead");
                None
            }
        }
    } else {
        None
    };
    // A time-range listing also picks up objects that moved into the window as time passed:
    // an unchanged ctag may skip it only until the next re-evaluation.
    let listing_current = state.sync_token.is_some()
        || state.evaluated_at.is_some_and(|t| {
            engine.now().timestamp() - t
                < i64::try_from(crate::sync::REEVALUATE_EVERY.as_secs()).unwrap_or(i64::MAX)
        });
    if have_cache && marker.is_some() && marker == state.ctag && listing_current {
        return Ok(Snapshot {
            in_store: true,
            sync_token: state.sync_token.clone(),
            ctag: marker,
            ..Snapshot::default()
        });
    }
    let sync = match client.sync_collection(token).await {
        Ok(s) => Some(s),
        Err(caldav::DavError::InvalidSyncToken { .. }) if token.is_some() => {
            tracing::info!(calendar = %cal.name, "sync token expired; listing the whole calendar");
            Some(
                client
                    .sync_collection(None)
                    .await
                    .map_err(|e| e.to_string())?,
            )
        }
        Err(e) if token.is_some() || !may_lack_sync_collection(&e) => return Err(e.to_string()),
        Err(e) => {
            tracing::debug!(calendar = %cal.name, "sync-collection unavailable ({e}); listing by time range");
            None
        }
    };
    let by_href: HashMap<&str, &Option<String>> = cached
        .iter()
        .map(|(href, etag)| (href.as_str(), etag))
        .collect();
    // Fetch what is new, or whose ETag differs from (or is missing in) the cache.
    let stale = |href: &str, etag: &Option<String>| {
        by_href
            .get(href)
            .is_none_or(|cached| cached.is_none() || *cached != etag)
    };
    let (to_fetch, deleted, new_token) = if let Some(s) = sync {
        let full = token.is_none();
        let listed: HashSet<&str> = s.changed.iter().map(|r| r.href.as_str()).collect();
        let to_fetch: Vec<String> = s
            .changed
            .iter()
            .filter(|r| stale(&r.href, &r.etag))
            .map(|r| r.href.clone())
            .collect();
        let mut deleted = s.deleted.clone();
        if full {
            deleted.extend(
                cached
                    .iter()
                    .filter(|(href, _)| !listed.contains(href.as_str()))
                    .map(|(href, _)| href.clone()),
            );
        }
        (to_fetch, deleted, Some(s.token))
    } else {
        let now = engine.now();
        let start = now - chrono::Duration::days(1);
        let end = now + chrono::Duration::days(i64::from(engine.config.horizon_days) + 1);
        let listed = client.list(start, end).await.map_err(|e| e.to_string())?;
        let listed_set: HashSet<&str> = listed.iter().map(|r| r.href.as_str()).collect();
        let mut to_fetch: Vec<String> = listed
            .iter()
            .filter(|r| stale(&r.href, &r.etag))
            .map(|r| r.href.clone())
            .collect();
        // An object missing from a time-range listing may only have moved out of the range:
        // fetch it by href; only what the server no longer has counts as deleted.
        let missing: Vec<String> = cached
            .iter()
            .filter(|(href, _)| !listed_set.contains(href.as_str()))
            .map(|(href, _)| href.clone())
            .collect();
        to_fetch.extend(missing.iter().cloned());
        (to_fetch, missing, None)
    };
    let fetched = if to_fetch.is_empty() {
        Vec::new()
    } else {
        client
            .multiget(&to_fetch)
            .await
            .map_err(|e| e.to_string())?
    };
    let fetched_hrefs: HashSet<&str> = fetched.iter().map(|o| o.href.as_str()).collect();
    // In time-range mode, `deleted` held candidates: those the multiget returned still exist.
    let deleted: Vec<String> = deleted
        .into_iter()
        .filter(|h| !fetched_hrefs.contains(h.as_str()))
        .collect();
    let upserts: Vec<CachedObject> = fetched
        .into_iter()
        .map(|o| CachedObject {
            href: o.href,
            etag: o.etag,
            data: o.data,
        })
        .collect();
    // Saved with the sync token once the pass is done; a server without a ctag (or that
    // refused the PROPFIND) is not asked again while the calendar's cache lasts.
    let ctag = Some(marker.unwrap_or_else(|| NO_MARKER.to_owned()));
    let changed = !upserts.is_empty() || !deleted.is_empty();
    if !changed {
        return Ok(Snapshot {
            in_store: true,
            sync_token: new_token,
            ctag,
            ..Snapshot::default()
        });
    }
    let cached = engine.store.objects(&cal.name).map_err(|e| e.to_string())?;
    let mut objects: HashMap<String, CachedObject> =
        cached.into_iter().map(|o| (o.href.clone(), o)).collect();
    for h in &deleted {
        objects.remove(h);
    }
    for o in &upserts {
        objects.insert(o.href.clone(), o.clone());
    }
    if !dry_run {
        engine
            .store
            .update_objects(&cal.name, &upserts, &deleted, false)
            .map_err(|e| e.to_string())?;
    }
    let mut objects: Vec<CachedObject> = objects.into_values().collect();
    objects.sort_by(|a, b| a.href.cmp(&b.href));
    Ok(Snapshot {
        objects,
        changed,
        sync_token: new_token,
        ctag,
        ..Snapshot::default()
    })
}
