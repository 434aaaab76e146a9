//! What a CalDAV listing means for the object cache: one pure decision, no IO.
//!
//! A source lists a collection (RFC 6578 sync-collection, or a CalDAV time-range query) and
//! gets back hrefs with ETags, perhaps tombstones, perhaps only part of the answer. [`decide`]
//! turns the cached (href, ETag) pairs and that [`Listing`] into what to download, what is
//! certainly deleted, which cached objects must be confirmed by fetching them, and the token to
//! continue from; [`Decision::settle`] then takes the multiget's answer (bodies, and hrefs the
//! server answered 404) into the final list of deletions.
//!
//! The rules (each a row of the table tests below):
//! - A member is fetched when it is new, or its ETag differs from the cached one, or either
//!   ETag is unknown.
//! - A tombstone (a 404 member of a sync-collection answer, RFC 6578 §3.5.2) is a deletion.
//! - A *complete* listing (a sync-collection without a token, RFC 6578 §3.4, including the
//!   re-listing after the server refused an old token, §3.8 `DAV:valid-sync-token`) lists every
//!   member: cached − listed is deleted, whether or not the server sends tombstones (Nextcloud
//!   and Baikal send none in a token-less sync).
//! - A *truncated* listing (a `507` for the collection itself, RFC 6578 §3.6) never implies a
//!   deletion; a truncated complete listing is not a base to continue from either (the members
//!   it did not reach could never be compared with the cache), so its next token is `None`
//!   and the next pass lists again from the start. A truncated change list continues from the
//!   token the server gave with it.
//! - A *window* listing (a time-range query) lists only what overlaps the window: a cached
//!   object missing from it may only have moved out, so it is fetched by href and counts as
//!   deleted only when the server no longer has it.
//! - Whatever the listing, an href the multiget answers 404 is deleted (sabre/dav answers a
//!   multiget naming a vanished member that way).

use std::collections::{HashMap, HashSet};

/// How much of the collection a listing covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Every member (sync-collection without a token, RFC 6578 §3.4).
    Complete,
    /// The changes since the token sent (RFC 6578 §3.5): changed members and tombstones.
    Changes,
    /// Members overlapping a time range (CalDAV calendar-query, RFC 4791 §7.8).
    Window,
}

/// A listing as the source received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    /// What the listing covers.
    pub scope: Scope,
    /// The server cut the answer short (RFC 6578 §3.6, a `507` for the collection) and said
    /// so; only [`Scope::Complete`] and [`Scope::Changes`] can be truncated.
    pub truncated: bool,
    /// Listed members: (href, ETag with quotes, `None` when the server reported none).
    pub members: Vec<(String, Option<String>)>,
    /// Hrefs the server reported deleted (RFC 6578 §3.5.2).
    pub tombstones: Vec<String>,
    /// The token the server returned with this listing (sync-collection only).
    pub token: Option<String>,
}

impl Listing {
    /// Takes in the next page of a truncated sync-collection answer (the changes since the
    /// token the previous page ended with, RFC 6578 §3.6): a later page's word on a member
    /// wins, the token and whether more is waiting are the later page's.
    pub fn extend(&mut self, next: Listing) {
        let gone: HashSet<&str> = next.tombstones.iter().map(String::as_str).collect();
        let listed: HashSet<&str> = next.members.iter().map(|(h, _)| h.as_str()).collect();
        self.members
            .retain(|(h, _)| !gone.contains(h.as_str()) && !listed.contains(h.as_str()));
        self.tombstones
            .retain(|h| !gone.contains(h.as_str()) && !listed.contains(h.as_str()));
        self.members.extend(next.members);
        self.tombstones.extend(next.tombstones);
        self.token = next.token;
        self.truncated = next.truncated;
    }
}

/// What to do about a listing, before fetching.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decision {
    /// Hrefs to download (multiget), in listing order, then the ones to confirm.
    pub to_fetch: Vec<String>,
    /// Cached hrefs that are certainly gone.
    pub deleted: Vec<String>,
    /// Cached hrefs that are gone unless the multiget returns them (window listings).
    pub confirm: Vec<String>,
    /// The sync token to save once the objects are committed (`None`: list from the start
    /// next time, or no sync-collection at all).
    pub next_token: Option<String>,
}

/// Decides what a listing means for a cache of (href, ETag) pairs. Pure; see the module
/// documentation for the rules.
#[must_use]
pub fn decide(cached: &[(String, Option<String>)], listing: &Listing) -> Decision {
    let by_href: HashMap<&str, &Option<String>> =
        cached.iter().map(|(h, e)| (h.as_str(), e)).collect();
    let is_stale = |href: &str, etag: &Option<String>| {
        by_href
            .get(href)
            .is_none_or(|c| c.is_none() || etag.is_none() || *c != etag)
    };
    let tombstoned: HashSet<&str> = listing.tombstones.iter().map(String::as_str).collect();
    let mut to_fetch: Vec<String> = Vec::new();
    let mut seen: HashSet<&str> = HashSet::new();
    for (href, etag) in &listing.members {
        if tombstoned.contains(href.as_str()) || !seen.insert(href.as_str()) {
            continue;
        }
        if is_stale(href, etag) {
            to_fetch.push(href.clone());
        }
    }
    let mut deleted: Vec<String> = listing
        .tombstones
        .iter()
        .filter(|h| by_href.contains_key(h.as_str()))
        .cloned()
        .collect();
    let unlisted = || {
        cached
            .iter()
            .map(|(h, _)| h)
            .filter(|h| !seen.contains(h.as_str()) && !tombstoned.contains(h.as_str()))
            .cloned()
    };
    let mut confirm = Vec::new();
    match (listing.scope, listing.truncated) {
        (Scope::Complete, false) => deleted.extend(unlisted()),
        (Scope::Window, _) => confirm.extend(unlisted()),
        _ => {}
    }
    to_fetch.extend(confirm.iter().cloned());
    let next_token = match (listing.scope, listing.truncated) {
        (Scope::Window, _) | (Scope::Complete, true) => None,
        _ => listing.token.clone(),
    };
    Decision {
        to_fetch,
        deleted,
        confirm,
        next_token,
    }
}

impl Decision {
    /// The deletions once the multiget answered: the certain ones, the hrefs the server
    /// answered 404 (`missing`), and the ones to confirm that it did not return (`fetched`
    /// holds the hrefs it returned a body for).
    #[must_use]
    pub fn settle(&self, fetched: &[&str], missing: &[String]) -> Vec<String> {
        let fetched: HashSet<&str> = fetched.iter().copied().collect();
        let mut out = self.deleted.clone();
        let mut known: HashSet<String> = out.iter().cloned().collect();
        let gone = missing.iter().filter(|h| !fetched.contains(h.as_str()));
        let unconfirmed = self
            .confirm
            .iter()
            .filter(|h| !fetched.contains(h.as_str()));
        for h in gone.chain(unconfirmed) {
            if known.insert(h.clone()) {
                out.push(h.clone());
            }
        }
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn cache(pairs: &[(&str, Option<&str>)]) -> Vec<(String, Option<String>)> {
        pairs
            .iter()
            .map(|(h, e)| ((*h).to_owned(), e.map(str::to_owned)))
            .collect()
    }

    fn listing(
        scope: Scope,
        truncated: bool,
        members: &[(&str, Option<&str>)],
        tombstones: &[&str],
    ) -> Listing {
        Listing {
            scope,
            truncated,
            members: cache(members),
            tombstones: tombstones.iter().map(|s| (*s).to_owned()).collect(),
            token: Some("t2".into()),
        }
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    /// One row: cached pairs, listing → (to_fetch, deleted, confirm, next token).
    struct Row {
        name: &'static str,
        scope: Scope,
        truncated: bool,
        members: &'static [(&'static str, Option<&'static str>)],
        tombstones: &'static [&'static str],
        fetch: &'static [&'static str],
        deleted: &'static [&'static str],
        confirm: &'static [&'static str],
        token: Option<&'static str>,
    }

    const CACHED: &[(&str, Option<&str>)] = &[
        ("/c/a.ics", Some("\"a1\"")),
        ("/c/b.ics", Some("\"b1\"")),
        ("/c/n.ics", None),
    ];

    const TABLE: &[Row] = &[
        Row {
            name: "complete listing, unchanged: nothing to do",
            scope: Scope::Complete,
            truncated: false,
            members: &[
                ("/c/a.ics", Some("\"a1\"")),
                ("/c/b.ics", Some("\"b1\"")),
                ("/c/n.ics", Some("\"n1\"")),
            ],
            tombstones: &[],
            // A cached object without an ETag can never be proven current.
            fetch: &["/c/n.ics"],
            deleted: &[],
            confirm: &[],
            token: Some("t2"),
        },
        Row {
            name: "complete listing without tombstones: cached − listed is deleted",
            scope: Scope::Complete,
            truncated: false,
            members: &[("/c/a.ics", Some("\"a2\"")), ("/c/new.ics", Some("\"x\""))],
            tombstones: &[],
            fetch: &["/c/a.ics", "/c/new.ics"],
            deleted: &["/c/b.ics", "/c/n.ics"],
            confirm: &[],
            token: Some("t2"),
        },
        Row {
            name: "complete listing with tombstones: both count, once",
            scope: Scope::Complete,
            truncated: false,
            members: &[("/c/a.ics", Some("\"a1\""))],
            tombstones: &["/c/b.ics", "/c/never-cached.ics"],
            fetch: &[],
            deleted: &["/c/b.ics", "/c/n.ics"],
            confirm: &[],
            token: Some("t2"),
        },
        Row {
            name: "truncated complete listing: no deletion inferred, start over next time",
            scope: Scope::Complete,
            truncated: true,
            members: &[("/c/a.ics", Some("\"a2\""))],
            tombstones: &[],
            fetch: &["/c/a.ics"],
            deleted: &[],
            confirm: &[],
            token: None,
        },
        Row {
            name: "change list: only tombstones delete",
            scope: Scope::Changes,
            truncated: false,
            members: &[("/c/new.ics", Some("\"x\""))],
            tombstones: &["/c/b.ics"],
            fetch: &["/c/new.ics"],
            deleted: &["/c/b.ics"],
            confirm: &[],
            token: Some("t2"),
        },
        Row {
            name: "truncated change list: continue from its token, tombstones still count",
            scope: Scope::Changes,
            truncated: true,
            members: &[("/c/b.ics", Some("\"b2\""))],
            tombstones: &["/c/a.ics"],
            fetch: &["/c/b.ics"],
            deleted: &["/c/a.ics"],
            confirm: &[],
            token: Some("t2"),
        },
        Row {
            name: "change list naming a member both changed and deleted: deleted wins",
            scope: Scope::Changes,
            truncated: false,
            members: &[("/c/a.ics", Some("\"a2\""))],
            tombstones: &["/c/a.ics"],
            fetch: &[],
            deleted: &["/c/a.ics"],
            confirm: &[],
            token: Some("t2"),
        },
        Row {
            name: "member listed without an ETag is fetched",
            scope: Scope::Changes,
            truncated: false,
            members: &[("/c/a.ics", None)],
            tombstones: &[],
            fetch: &["/c/a.ics"],
            deleted: &[],
            confirm: &[],
            token: Some("t2"),
        },
        Row {
            name: "window listing: unlisted cached objects are confirmed by href, no token",
            scope: Scope::Window,
            truncated: false,
            members: &[("/c/a.ics", Some("\"a1\""))],
            tombstones: &[],
            fetch: &["/c/b.ics", "/c/n.ics"],
            deleted: &[],
            confirm: &["/c/b.ics", "/c/n.ics"],
            token: None,
        },
    ];

    #[test]
    fn listing_table() {
        let cached = cache(CACHED);
        for row in TABLE {
            let d = decide(
                &cached,
                &listing(row.scope, row.truncated, row.members, row.tombstones),
            );
            assert_eq!(d.to_fetch, strings(row.fetch), "{}: to fetch", row.name);
            assert_eq!(d.deleted, strings(row.deleted), "{}: deleted", row.name);
            assert_eq!(d.confirm, strings(row.confirm), "{}: confirm", row.name);
            assert_eq!(
                d.next_token.as_deref(),
                row.token,
                "{}: next token",
                row.name
            );
        }
    }

    #[test]
    fn pages_of_a_truncated_listing_add_up_to_the_whole() {
        let cached = cache(CACHED);
        let mut whole = listing(
            Scope::Complete,
            true,
            &[("/c/a.ics", Some("\"a1\"")), ("/c/x.ics", Some("\"x1\""))],
            &[],
        );
        let mut page = listing(
            Scope::Changes,
            true,
            &[("/c/b.ics", Some("\"b1\"")), ("/c/x.ics", Some("\"x2\""))],
            &[],
        );
        page.token = Some("t3".into());
        whole.extend(page);
        // While truncated: nothing deleted, nothing to continue from.
        let d = decide(&cached, &whole);
        assert!(d.deleted.is_empty() && d.next_token.is_none(), "{d:?}");
        let mut last = listing(Scope::Changes, false, &[], &["/c/a.ics"]);
        last.token = Some("t4".into());
        whole.extend(last);
        let d = decide(&cached, &whole);
        assert_eq!(d.to_fetch, strings(&["/c/x.ics"]));
        assert_eq!(d.deleted, strings(&["/c/a.ics", "/c/n.ics"]));
        assert_eq!(d.next_token.as_deref(), Some("t4"));
    }

    /// Invariants over random caches and listings: nothing listed is deleted; a truncated or
    /// change listing deletes only what a tombstone names; a complete one accounts for every
    /// cached href (fetched, kept or deleted); a window listing deletes nothing before the
    /// multiget answered; whatever is fetched was listed or is to be confirmed.
    mod invariants {
        use super::super::*;
        use proptest::prelude::*;

        fn href() -> impl Strategy<Value = String> {
            (0u8..12).prop_map(|i| format!("/c/{i}.ics"))
        }

        fn pairs() -> impl Strategy<Value = Vec<(String, Option<String>)>> {
            proptest::collection::vec(
                (
                    href(),
                    proptest::option::of((0u8..3).prop_map(|e| format!("\"{e}\""))),
                ),
                0..10,
            )
            .prop_map(|mut v| {
                v.sort();
                v.dedup_by(|a, b| a.0 == b.0);
                v
            })
        }

        fn scope() -> impl Strategy<Value = Scope> {
            prop_oneof![
                Just(Scope::Complete),
                Just(Scope::Changes),
                Just(Scope::Window)
            ]
        }

        proptest! {
            #[test]
            fn decisions_keep_their_promises(
                cached in pairs(),
                members in pairs(),
                tombstones in proptest::collection::vec(href(), 0..4),
                scope in scope(),
                truncated in any::<bool>(),
            ) {
                let truncated = truncated && scope != Scope::Window;
                let listing = Listing {
                    scope,
                    truncated,
                    members: members.clone(),
                    tombstones: tombstones.clone(),
                    token: Some("t".into()),
                };
                let d = decide(&cached, &listing);
                let live: HashSet<&str> = members
                    .iter()
                    .map(|(h, _)| h.as_str())
                    .filter(|h| !tombstones.iter().any(|t| t == h))
                    .collect();
                for h in &d.deleted {
                    prop_assert!(!live.contains(h.as_str()), "listed yet deleted: {h}");
                    prop_assert!(cached.iter().any(|(c, _)| c == h), "never cached: {h}");
                    if truncated || scope != Scope::Complete {
                        prop_assert!(tombstones.contains(h), "deleted without a tombstone: {h}");
                    }
                }
                for h in &d.to_fetch {
                    prop_assert!(live.contains(h.as_str()) || d.confirm.contains(h), "{h}");
                }
                if scope == Scope::Complete && !truncated {
                    for (h, _) in &cached {
                        prop_assert!(
                            live.contains(h.as_str()) || d.deleted.contains(h),
                            "cached, unlisted, not deleted: {h}"
                        );
                    }
                }
                prop_assert_eq!(
                    d.next_token.is_some(),
                    scope == Scope::Changes || (scope == Scope::Complete && !truncated)
                );
            }
        }
    }

    #[test]
    fn empty_cache_deletes_nothing() {
        for scope in [Scope::Complete, Scope::Changes, Scope::Window] {
            let d = decide(
                &[],
                &listing(scope, false, &[("/c/a.ics", None)], &["/c/z"]),
            );
            assert_eq!(d.to_fetch, strings(&["/c/a.ics"]));
            assert!(d.deleted.is_empty() && d.confirm.is_empty(), "{scope:?}");
        }
    }

    #[test]
    fn settle_takes_404_members_and_unreturned_window_candidates_as_deleted() {
        let cached = cache(CACHED);
        // Window: b is returned (moved out of the range), n is not (gone).
        let d = decide(
            &cached,
            &listing(Scope::Window, false, &[("/c/a.ics", Some("\"a1\""))], &[]),
        );
        assert_eq!(d.settle(&["/c/b.ics"], &[]), strings(&["/c/n.ics"]));
        // A multiget that answers 404 for a member counts it deleted, in any scope; one
        // simply not returned in a change list stays (the next change list will tell).
        let d = decide(
            &cached,
            &listing(
                Scope::Changes,
                false,
                &[("/c/a.ics", Some("\"a2\"")), ("/c/b.ics", Some("\"b2\""))],
                &[],
            ),
        );
        assert_eq!(
            d.settle(&[], &strings(&["/c/a.ics"])),
            strings(&["/c/a.ics"])
        );
        // Every candidate answered 404 and also unreturned is reported once.
        let d = decide(&cached, &listing(Scope::Window, false, &[], &[]));
        assert_eq!(
            d.settle(&[], &strings(&["/c/a.ics"])),
            strings(&["/c/a.ics", "/c/b.ics", "/c/n.ics"])
        );
    }
}
