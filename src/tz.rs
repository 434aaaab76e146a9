//! Time-zone resolution: turns an iCalendar `TZID` (IANA, Mozilla-prefixed, Windows, Outlook
//! display name, or a custom name defined by an embedded `VTIMEZONE`) into a [`Zone`] that maps
//! wall-clock times to UTC and back.
//!
//! This module owns the TZID → zone lookup order and the RFC 5545 §3.3.5 rules for wall times
//! that fall into a DST gap (shifted forward by the gap) or a fold (first occurrence wins).
//! It must never do I/O and never guess: a TZID it cannot resolve is a [`TzError`], and the
//! caller decides what to do with the event.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, FixedOffset, NaiveDateTime, Offset, TimeZone, Utc};
use icalendar::parser::Component;

mod vtimezone;
mod windows;

pub use vtimezone::VTimezone;
pub(crate) use vtimezone::{last_day_of_month, month_day, nth_weekday_of_month};
use windows::{display_name, windows_zone};

/// Why a TZID could not be turned into a zone.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TzError {
    /// Neither the IANA database, the Windows/Outlook tables nor an embedded VTIMEZONE knows it.
    #[error(
        "unknown time zone '{0}': not an IANA or Windows zone and no VTIMEZONE defines it; \
         fix the TZID in the calendar or set `timezone` for floating times"
    )]
    Unknown(String),
    /// The calendar defines the TZID, but its VTIMEZONE cannot be evaluated.
    #[error("time zone '{tzid}' has an unusable VTIMEZONE: {reason}")]
    InvalidVTimezone {
        /// The TZID as written in the VTIMEZONE.
        tzid: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// A resolved time zone.
#[derive(Clone, Debug)]
pub enum Zone {
    /// A zone from the IANA database (via chrono-tz).
    Iana(chrono_tz::Tz),
    /// Rules taken from a VTIMEZONE embedded in the calendar.
    Custom(Arc<VTimezone>),
    /// UTC, for `Z` date-times.
    Utc,
}

impl Zone {
    /// The UTC offset in force at `utc`.
    #[must_use]
    pub fn offset_at_utc(&self, utc: DateTime<Utc>) -> FixedOffset {
        match self {
            Zone::Iana(tz) => tz.offset_from_utc_datetime(&utc.naive_utc()).fix(),
            Zone::Custom(vtz) => vtz.offset_at_utc(utc.naive_utc()),
            Zone::Utc => Utc.fix(),
        }
    }

    /// The wall-clock time in this zone at `utc`.
    #[must_use]
    pub fn to_local(&self, utc: DateTime<Utc>) -> NaiveDateTime {
        utc.naive_utc() + Duration::seconds(i64::from(self.offset_at_utc(utc).local_minus_utc()))
    }

    /// The instant of wall-clock time `local` in this zone (RFC 5545 §3.3.5): a time inside a
    /// DST gap is shifted forward by the length of the gap (read with the offset in force
    /// before the gap); an ambiguous time in a fold is the first of its two instants.
    #[must_use]
    pub fn to_utc(&self, local: NaiveDateTime) -> DateTime<Utc> {
        // Offsets a day before and after cover every real zone (transitions are months apart).
        let probe = |delta_hours: i64| {
            let guess = (local + Duration::hours(delta_hours)).and_utc();
            self.offset_at_utc(guess)
        };
        let before = probe(-24);
        let after = probe(24);
        let as_utc = |off: FixedOffset| {
            (local - Duration::seconds(i64::from(off.local_minus_utc()))).and_utc()
        };
        let mut valid: Vec<DateTime<Utc>> = [before, after]
            .into_iter()
            .map(as_utc)
            .filter(|u| {
                let off = self.offset_at_utc(*u);
                as_utc(off) == *u
            })
            .collect();
        valid.sort();
        match valid.first() {
            Some(first) => *first,
            // In a gap: read the wall time with the offset in force before the gap.
            None => as_utc(before),
        }
    }

    /// A name for the zone: the IANA name when known (for the meeting API's `time_zone`),
    /// `UTC` for UTC, else the VTIMEZONE's TZID as written.
    #[must_use]
    pub fn name(&self) -> String {
        match self {
            Zone::Iana(tz) => tz.name().to_owned(),
            Zone::Custom(vtz) => vtz.tzid.clone(),
            Zone::Utc => "UTC".to_owned(),
        }
    }

    /// The name of an IANA zone whose UTC offset equals this zone's at every instant of
    /// `instants`, so that a meeting repeated in its wall time lands on the same instants.
    /// For an IANA zone or UTC, its own name. For a zone known only from a VTIMEZONE: the
    /// CLDR/Windows mapping of its TZID (without a trailing number, as in Exchange's
    /// `Eastern Standard Time 1`) when it agrees, else the first agreeing Area/City zone,
    /// else any agreeing zone (`Etc/GMT+5`); `None` when no zone agrees.
    #[must_use]
    pub fn iana_equivalent(&self, instants: &[DateTime<Utc>]) -> Option<String> {
        let Zone::Custom(vtz) = self else {
            return self.iana_name();
        };
        let offsets: Vec<FixedOffset> = instants.iter().map(|t| self.offset_at_utc(*t)).collect();
        let agrees = |tz: &chrono_tz::Tz| {
            instants
                .iter()
                .zip(&offsets)
                .all(|(t, off)| tz.offset_from_utc_datetime(&t.naive_utc()).fix() == *off)
        };
        let stripped = vtz
            .tzid
            .trim_end_matches(|c: char| c.is_ascii_digit())
            .trim_end();
        let area_city =
            |tz: &&chrono_tz::Tz| tz.name().contains('/') && !tz.name().starts_with("Etc/");
        lookup_known(stripped)
            .into_iter()
            .chain(chrono_tz::TZ_VARIANTS.iter().filter(area_city).copied())
            .chain(chrono_tz::TZ_VARIANTS.iter().copied())
            .find(agrees)
            .map(|tz| tz.name().to_owned())
    }

    /// The IANA name, if this zone has one (`None` for a zone known only from a VTIMEZONE).
    #[must_use]
    pub fn iana_name(&self) -> Option<String> {
        match self {
            Zone::Iana(tz) => Some(tz.name().to_owned()),
            Zone::Custom(_) => None,
            Zone::Utc => Some("UTC".to_owned()),
        }
    }
}

/// Undoes TEXT escaping (`\,` `\;` `\\`) that some producers leave in a TZID.
pub(crate) fn unescape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n' | 'N') => out.push('\n'),
                Some(other) => out.push(other),
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Strips surrounding quotes and spaces from a TZID as written in a parameter or property.
pub(crate) fn clean_tzid(raw: &str) -> String {
    raw.trim().trim_matches('"').trim().to_owned()
}

/// Resolves TZIDs of one calendar object, with the configured zone for floating times.
#[derive(Clone, Debug)]
pub struct ZoneResolver {
    default: chrono_tz::Tz,
    /// VTIMEZONEs of the calendar by cleaned TZID; an unusable one keeps its error.
    vtimezones: HashMap<String, Result<Arc<VTimezone>, TzError>>,
}

impl ZoneResolver {
    /// A resolver whose floating times are read in `default` (the configured `timezone`).
    #[must_use]
    pub fn new(default: chrono_tz::Tz) -> ZoneResolver {
        ZoneResolver {
            default,
            vtimezones: HashMap::new(),
        }
    }

    /// Registers a VTIMEZONE of the calendar. A malformed one is remembered and reported by
    /// [`ZoneResolver::resolve`] only if an event actually needs it.
    pub fn add_vtimezone(&mut self, c: &Component<'_>) {
        let parsed = VTimezone::from_component(c);
        let key = match &parsed {
            Ok(v) => v.tzid.clone(),
            Err(TzError::InvalidVTimezone { tzid, .. }) => tzid.clone(),
            Err(TzError::Unknown(t)) => t.clone(),
        };
        if key.is_empty() {
            return;
        }
        self.vtimezones
            .insert(key.to_lowercase(), parsed.map(Arc::new));
    }

    /// Resolves a TZID parameter; `None` (a floating time) gives the default zone.
    ///
    /// Order: IANA name (also case-insensitive and legacy links), Microsoft
    /// `tzone://Microsoft/<id>` URIs (the id looked up again), Mozilla/libical
    /// `/vendor/version/Area/City` prefixes, Windows zone IDs (CLDR), Outlook display names,
    /// then the calendar's own VTIMEZONE.
    ///
    /// # Errors
    /// [`TzError::Unknown`] when nothing matches; [`TzError::InvalidVTimezone`] when only a
    /// malformed VTIMEZONE defines the TZID.
    pub fn resolve(&self, tzid: Option<&str>) -> Result<Zone, TzError> {
        let Some(raw) = tzid else {
            return Ok(Zone::Iana(self.default));
        };
        let name = clean_tzid(&unescape(raw));
        if let Some(tz) = lookup_known(&name) {
            return Ok(Zone::Iana(tz));
        }
        match self.vtimezones.get(&name.to_lowercase()) {
            Some(Ok(v)) => Ok(Zone::Custom(Arc::clone(v))),
            Some(Err(e)) => Err(e.clone()),
            None => Err(TzError::Unknown(name)),
        }
    }
}

/// Prefix of Microsoft's zone URIs (`TZID="tzone://Microsoft/Utc"`); the rest is a Windows id.
const MICROSOFT_TZONE: &str = "tzone://Microsoft/";

/// Every name this module knows without a VTIMEZONE.
fn lookup_known(name: &str) -> Option<chrono_tz::Tz> {
    if name.is_empty() {
        return None;
    }
    if let Some(tz) = iana(name) {
        return Some(tz);
    }
    // Outlook on the web / Microsoft Graph: `tzone://Microsoft/<Windows zone id>`.
    if let Some(rest) = name
        .get(..MICROSOFT_TZONE.len())
        .filter(|head| head.eq_ignore_ascii_case(MICROSOFT_TZONE))
        .and_then(|_| name.get(MICROSOFT_TZONE.len()..))
    {
        return lookup_known(rest);
    }
    if name.starts_with('/') {
        // `/mozilla.org/20050126_1/Europe/Berlin`: try the longest trailing Area/…/City first.
        let parts: Vec<&str> = name.split('/').filter(|p| !p.is_empty()).collect();
        for take in (1..=parts.len().min(3)).rev() {
            let tail = parts[parts.len() - take..].join("/");
            if let Some(tz) = iana(&tail) {
                return Some(tz);
            }
        }
    }
    if let Some(tz) = windows_zone(name) {
        return Some(tz);
    }
    display_name(name)
}

/// An IANA name, exact or case-insensitive.
pub(crate) fn iana(name: &str) -> Option<chrono_tz::Tz> {
    if let Ok(tz) = name.parse::<chrono_tz::Tz>() {
        return Some(tz);
    }
    chrono_tz::TZ_VARIANTS
        .iter()
        .find(|tz| tz.name().eq_ignore_ascii_case(name))
        .copied()
}

#[cfg(test)]
mod tests;
