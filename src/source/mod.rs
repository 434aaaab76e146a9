//! Calendar sources: reading objects from ICS feeds and CalDAV collections.
//!
//! A source answers "what the calendar holds now, and how sure that is" as a value, a
//! [`Snapshot`]: the objects that changed or went away, and the markers (sync token, ctag,
//! HTTP validators) that vouch for the cache once they are applied. Sources only read the
//! cache (through [`ObjectCache`]); the pass commits a snapshot's objects and markers together
//! in one transaction ([`crate::store::Store::commit_fetch`], DESIGN.md §2). What a CalDAV
//! listing means is decided by the pure [`listing::decide`]. When nothing changed no object
//! is loaded at all: an idle poll costs one request and a few small reads. Protocol details
//! live in [`ics`] and [`caldav`].

pub mod caldav;
pub mod feed_filter;
pub mod ics;
pub mod listing;

use std::path::Path;
use std::time::Duration;

use chrono::Utc;

use crate::config::{CalendarConfig, CalendarKind, Secret};
use crate::store::{CachedObject, CalendarState, FetchCommit};
use listing::{Listing, Scope};

/// Read access to a calendar's cached objects.
pub trait ObjectCache {
    /// Href and ETag of every cached object, without the bodies.
    ///
    /// # Errors
    /// A message when the cache cannot be read.
    fn etags(&self) -> Result<Vec<(String, Option<String>)>, String>;
    /// Every cached object, bodies included, ordered by href.
    ///
    /// # Errors
    /// A message when the cache cannot be read.
    fn objects(&self) -> Result<Vec<CachedObject>, String>;
}

/// What a fetch needs from the pass besides the calendar and its state.
#[derive(Debug, Clone, Copy)]
pub struct FetchEnv<'a> {
    /// Directory that relative credential paths are resolved against.
    pub base_dir: &'a Path,
    /// HTTP client for an ICS feed (already the non-verifying one when configured so).
    pub http: &'a reqwest::Client,
    /// Days ahead a time-range listing covers.
    pub horizon_days: u32,
    /// How long an unchanged time-range listing stays current (events move into the window
    /// as time passes).
    pub reevaluate_every: Duration,
    /// The pass's clock (the engine's, injectable in tests).
    pub now: chrono::DateTime<Utc>,
}

/// What a fetch found: the changes to the cache and the markers that vouch for the result.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Every object of the calendar; filled by [`Self::load`].
    pub objects: Vec<CachedObject>,
    /// Whether any object differs from the cache.
    pub changed: bool,
    /// Objects and markers to commit, in one transaction, before planning from them.
    pub commit: FetchCommit,
}

impl Snapshot {
    /// Copies the snapshot's markers into the calendar state to be saved.
    #[must_use]
    pub fn apply_validators(&self, mut state: CalendarState) -> CalendarState {
        let c = &self.commit;
        state.sync_token.clone_from(&c.sync_token);
        state.ctag.clone_from(&c.ctag);
        state.http_etag.clone_from(&c.http_etag);
        state.http_last_modified.clone_from(&c.http_last_modified);
        state.sync_collection = c.sync_collection;
        state.marker_read_at = c.marker_read_at;
        state
    }

    /// Fills `objects`: the cached ones with this snapshot's changes applied (whether or not
    /// they were committed yet, as in a dry run).
    ///
    /// # Errors
    /// When the cache cannot be read.
    pub fn load(&mut self, cache: &(dyn ObjectCache + Sync)) -> Result<(), String> {
        let c = &self.commit;
        let mut objects = if c.replace_all {
            Vec::new()
        } else {
            cache.objects()?
        };
        objects.retain(|o| {
            !c.deleted.contains(&o.href) && !c.upserts.iter().any(|u| u.href == o.href)
        });
        objects.extend(c.upserts.iter().cloned());
        objects.sort_by(|a, b| a.href.cmp(&b.href));
        self.objects = objects;
        Ok(())
    }
}

/// Fetches a calendar; writes nothing (the pass commits [`Snapshot::commit`]).
///
/// # Errors
/// A message naming what failed (the caller adds the calendar's name).
pub async fn fetch(
    env: &FetchEnv<'_>,
    cal: &CalendarConfig,
    state: &CalendarState,
    cache: &(dyn ObjectCache + Sync),
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
        CalendarKind::Ics => fetch_ics(env, cal, state, cache).await,
        CalendarKind::Caldav => {
            let client = caldav_client(cal, env.base_dir)?;
            match fetch_caldav(env, cal, state, cache, client).await {
                // A short-lived token (or a rotated password) from a command: ask the command
                // once more, once per pass, and try again with what it gives.
                Err(e) if cal.has_secret_command() && e.contains(UNAUTHORIZED) => {
                    tracing::info!(
                        calendar = %cal.name,
                        "the server answered 401; running the credential command again"
                    );
                    let client = caldav_client_with(cal, env.base_dir, true)?;
                    fetch_caldav(env, cal, state, cache, client).await
                }
                other => other,
            }
        }
    }
}

/// How a 401 answer reads in a [`caldav::DavError::Unauthorized`] message.
const UNAUTHORIZED: &str = "answered 401 Unauthorized";

async fn fetch_ics(
    env: &FetchEnv<'_>,
    cal: &CalendarConfig,
    state: &CalendarState,
    cache: &(dyn ObjectCache + Sync),
) -> Result<Snapshot, String> {
    // The cache holds the feed as filtered by this calendar's tag rules; under other rules
    // (the config changed) it is not the feed's content, so the feed is fetched in full.
    let matcher = crate::event::TagMatcher::new(cal.match_rules.as_ref());
    let href = format!("{}#calmeet-selection={}", cal.url, matcher.selection_key());
    let have_cache = cache.etags()?.iter().any(|(h, _)| *h == href);
    let (etag, lm) = if have_cache {
        (
            state.http_etag.as_deref(),
            state.http_last_modified.as_deref(),
        )
    } else {
        (None, None)
    };
    let fetched = ics::fetch_selected(
        env.http,
        &cal.url,
        env.base_dir,
        (etag, lm),
        cal.timeout(),
        &matcher,
    )
    .await
    .map_err(|e| e.to_string())?;
    match fetched {
        ics::Fetched::NotModified => Ok(Snapshot {
            commit: FetchCommit {
                http_etag: state.http_etag.clone(),
                http_last_modified: state.http_last_modified.clone(),
                ..FetchCommit::default()
            },
            ..Snapshot::default()
        }),
        ics::Fetched::Body {
            data,
            etag,
            last_modified,
            ..
        } => {
            let cached = cache.objects()?;
            let changed = cached
                .iter()
                .find(|c| c.href == href)
                .is_none_or(|c| c.data != data);
            let upserts = if changed {
                vec![CachedObject {
                    href,
                    etag: etag.clone(),
                    data,
                }]
            } else {
                Vec::new()
            };
            Ok(Snapshot {
                changed,
                commit: FetchCommit {
                    upserts,
                    replace_all: changed,
                    http_etag: etag,
                    http_last_modified: last_modified,
                    ..FetchCommit::default()
                },
                ..Snapshot::default()
            })
        }
    }
}

/// Builds the CalDAV client of a calendar, resolving its credentials (a `*_command`'s secret
/// from memory when it has run before).
///
/// # Errors
/// When the URL is invalid, a credential file cannot be read or a credential command fails.
pub fn caldav_client(
    cal: &CalendarConfig,
    base_dir: &std::path::Path,
) -> Result<caldav::CalDavClient, String> {
    caldav_client_with(cal, base_dir, false)
}

/// [`caldav_client`], running a credential command again when `fresh` (after a 401).
fn caldav_client_with(
    cal: &CalendarConfig,
    base_dir: &std::path::Path,
    fresh: bool,
) -> Result<caldav::CalDavClient, String> {
    let url = url::Url::parse(&cal.url).map_err(|e| format!("invalid url: {e}"))?;
    let auth = if let Some(token) = cal
        .resolve_token(base_dir, fresh)
        .map_err(|e| e.to_string())?
    {
        caldav::Auth::Bearer(token)
    } else if let Some(user) = &cal.username {
        let password = cal
            .resolve_password(base_dir, fresh)
            .map_err(|e| e.to_string())?;
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
pub(crate) fn may_lack_sync_collection(e: &caldav::DavError) -> bool {
    use caldav::DavError as E;
    !matches!(
        e,
        E::Transport { .. }
            | E::Timeout { .. }
            | E::Unauthorized { .. }
            | E::UnsupportedAuth { .. }
            | E::NotFound { .. }
            | E::CrossHost { .. }
            | E::TooManyRedirects { .. }
            | E::InvalidUrl { .. }
            | E::TooLarge { .. }
    )
}

/// Pages of one truncated sync-collection answer followed within a pass (RFC 6578 §3.6);
/// a server that truncates more often than this continues on the next pass.
const MAX_SYNC_PAGES: usize = 100;

/// CalDAV: a Depth-0 PROPFIND of the collection's ctag first; when it is the one saved with
/// the cached objects, nothing else is asked. Otherwise the collection is listed (RFC 6578
/// sync-collection when the server supports it, else by time range), [`listing::decide`]
/// says what to download and what is gone, and only that is downloaded. An unchanged
/// calendar costs one request.
async fn fetch_caldav(
    env: &FetchEnv<'_>,
    cal: &CalendarConfig,
    state: &CalendarState,
    cache: &(dyn ObjectCache + Sync),
    client: caldav::CalDavClient,
) -> Result<Snapshot, String> {
    // Hrefs and ETags only: the bodies are loaded once something changed.
    let cached = cache.etags()?;
    let have_cache = !cached.is_empty() || state.sync_token.is_some();
    // Read before any listing, so the value saved with the objects never covers more than
    // they do.
    let marker_read_at = Utc::now().timestamp_millis();
    let marker = read_marker(&client, cal, state, have_cache).await?;
    // Saved with the objects; a server without a ctag (or that refused the PROPFIND) is not
    // asked again while the calendar's cache lasts.
    let ctag = Some(marker.clone().unwrap_or_else(|| NO_MARKER.to_owned()));
    if have_cache && marker.is_some() && marker_vouches(env, state, marker.as_deref()) {
        return Ok(Snapshot {
            commit: FetchCommit {
                sync_token: state.sync_token.clone(),
                ctag,
                sync_collection: state.sync_collection,
                marker_read_at: state.marker_read_at,
                ..FetchCommit::default()
            },
            ..Snapshot::default()
        });
    }
    let token = state.sync_token.as_deref().filter(|_| have_cache);
    let (listed, sync_collection) = list(env, &client, cal, state, token, have_cache).await?;
    let decision = listing::decide(&cached, &listed);
    let fetched = if decision.to_fetch.is_empty() {
        caldav::Multiget::default()
    } else {
        client
            .multiget_detailed(&decision.to_fetch)
            .await
            .map_err(|e| e.to_string())?
    };
    let fetched_hrefs: Vec<&str> = fetched.objects.iter().map(|o| o.href.as_str()).collect();
    let deleted = decision.settle(&fetched_hrefs, &fetched.missing);
    let upserts: Vec<CachedObject> = fetched
        .objects
        .into_iter()
        .map(|o| CachedObject {
            href: o.href,
            etag: o.etag,
            data: o.data,
        })
        .collect();
    Ok(Snapshot {
        changed: !upserts.is_empty() || !deleted.is_empty(),
        commit: FetchCommit {
            upserts,
            deleted,
            sync_token: decision.next_token,
            ctag,
            sync_collection,
            marker_read_at: Some(marker_read_at),
            ..FetchCommit::default()
        },
        ..Snapshot::default()
    })
}

/// The collection's ctag, unless the server said before that it has none; `None` when it
/// has none or refuses to tell (4xx), an error when it fails as a listing would.
async fn read_marker(
    client: &caldav::CalDavClient,
    cal: &CalendarConfig,
    state: &CalendarState,
    have_cache: bool,
) -> Result<Option<String>, String> {
    // The ctag, not the sync-token property: Radicale computes either by walking every
    // member, and the sync-token costs it more than the sync-collection REPORT itself
    // (BENCHMARKS.md).
    if have_cache && state.ctag.as_deref() == Some(NO_MARKER) {
        return Ok(None);
    }
    match client.change_marker(caldav::ChangeMarker::Ctag).await {
        Ok(m) => Ok(m),
        Err(e) if e.is_transient() || !may_lack_sync_collection(&e) => Err(e.to_string()),
        Err(e) => {
            tracing::debug!(calendar = %cal.name, "no ctag ({e}); listing instead");
            Ok(None)
        }
    }
}

/// Whether `marker`, just read, proves the cache current: it equals the saved one, the saved
/// listing still covers the present (a time-range listing goes stale as time passes), and
/// the saved one may not hide a write (see [`may_hide_own_write`]).
fn marker_vouches(env: &FetchEnv<'_>, state: &CalendarState, marker: Option<&str>) -> bool {
    let now = env.now.timestamp();
    let listing_current = state.sync_token.is_some()
        || state.evaluated_at.is_some_and(|t| {
            now - t < i64::try_from(env.reevaluate_every.as_secs()).unwrap_or(i64::MAX)
        });
    marker == state.ctag.as_deref() && listing_current && !may_hide_own_write(state)
}

/// Whether calmeet wrote to the calendar after the saved marker was read, within the same
/// wall-clock second: a ctag of one-second resolution (SOGo's) then has the same value after
/// the write as before it, and may hide an edit someone made in that second too. Such a
/// marker is checked once more (the next pass lists anyway; the listing's ETags show the
/// edit, or that nothing but calmeet's own write happened).
fn may_hide_own_write(state: &CalendarState) -> bool {
    match (state.marker_read_at, state.wrote_at) {
        // Equal milliseconds: the read came after the write. A pass reads its marker before
        // listing, fetching and planning, which take far longer than a millisecond, so a
        // write of the same pass is always later; the next pass may start in the same one.
        (Some(read), Some(wrote)) => {
            wrote > read && wrote.div_euclid(1000) == read.div_euclid(1000)
        }
        (None, Some(_)) => true,
        (_, None) => false,
    }
}

/// Lists the collection: sync-collection (every page of a truncated answer, a complete
/// re-listing when the server refuses the token) unless the server refused it before, else
/// by time range. Returns the listing and whether the server answers sync-collection.
async fn list(
    env: &FetchEnv<'_>,
    client: &caldav::CalDavClient,
    cal: &CalendarConfig,
    state: &CalendarState,
    token: Option<&str>,
    have_cache: bool,
) -> Result<(Listing, Option<bool>), String> {
    if state.sync_collection != Some(false) || !have_cache {
        match sync_listing(client, cal, token).await {
            Ok(listed) => return Ok((listed, Some(true))),
            Err(e) if token.is_some() || !may_lack_sync_collection(&e) => {
                return Err(e.to_string());
            }
            Err(e) => {
                tracing::debug!(calendar = %cal.name, "sync-collection unavailable ({e}); listing by time range from now on");
            }
        }
    }
    let now = env.now;
    let start = now - chrono::Duration::days(1);
    let end = now + chrono::Duration::days(i64::from(env.horizon_days) + 1);
    let members = client
        .list(start, end)
        .await
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|r| (r.href, r.etag))
        .collect();
    let listed = Listing {
        scope: Scope::Window,
        truncated: false,
        members,
        tombstones: Vec::new(),
        token: None,
    };
    Ok((listed, Some(false)))
}

/// RFC 6578 sync-collection from `token` (`None`: every member). A refused token
/// (`DAV:valid-sync-token`, §3.8) starts a complete listing; a truncated answer (§3.6) is
/// continued with the token it came with, up to [`MAX_SYNC_PAGES`] pages.
async fn sync_listing(
    client: &caldav::CalDavClient,
    cal: &CalendarConfig,
    token: Option<&str>,
) -> Result<Listing, caldav::DavError> {
    let page = |scope: Scope, s: caldav::SyncChanges| Listing {
        scope,
        truncated: s.truncated,
        members: s.changed.into_iter().map(|r| (r.href, r.etag)).collect(),
        tombstones: s.deleted,
        token: Some(s.token),
    };
    let mut listed = match client.sync_collection(token).await {
        Ok(s) if token.is_some() => page(Scope::Changes, s),
        Ok(s) => page(Scope::Complete, s),
        Err(caldav::DavError::InvalidSyncToken { .. }) if token.is_some() => {
            tracing::info!(calendar = %cal.name, "sync token expired; listing the whole calendar");
            page(Scope::Complete, client.sync_collection(None).await?)
        }
        Err(e) => return Err(e),
    };
    let mut pages = 1;
    while listed.truncated && pages < MAX_SYNC_PAGES {
        let Some(next) = listed.token.clone() else {
            break;
        };
        listed.extend(page(
            Scope::Changes,
            client.sync_collection(Some(&next)).await?,
        ));
        pages += 1;
    }
    if listed.truncated {
        tracing::warn!(calendar = %cal.name, pages, "the server still truncates its change list; the rest is read on the next pass");
    }
    Ok(listed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_marker_read_in_the_second_of_an_own_write_before_it_is_checked_again() {
        let state = |read: Option<i64>, wrote: Option<i64>| CalendarState {
            marker_read_at: read,
            wrote_at: wrote,
            ..CalendarState::default()
        };
        // (marker read at, calmeet wrote at) → check once more?
        let table = [
            (Some(10_100), Some(10_900), true), // read, then own write, same second
            (Some(10_100), Some(10_101), true), // a millisecond later
            (Some(10_100), Some(10_100), false), // same millisecond: the next pass's read
            (Some(10_900), Some(11_000), false), // the write starts a new second: ctag moves
            (Some(10_900), Some(10_100), false), // read after the write
            (Some(10_100), None, false),        // calmeet never wrote
            (None, Some(10_100), true),         // read time unknown
            (None, None, false),
        ];
        for (read, wrote, want) in table {
            assert_eq!(
                may_hide_own_write(&state(read, wrote)),
                want,
                "read {read:?} wrote {wrote:?}"
            );
        }
    }
}
