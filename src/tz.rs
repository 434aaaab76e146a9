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

use chrono::{
    DateTime, Datelike, Duration, FixedOffset, NaiveDate, NaiveDateTime, Offset, TimeZone, Utc,
};
use icalendar::parser::Component;

use crate::recurrence::{Frequency, Rrule, Until};

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

/// The rules of one VTIMEZONE, enough to compute its offset at any instant.
#[derive(Clone, Debug)]
pub struct VTimezone {
    /// The TZID as written (unescaped, trimmed).
    pub tzid: String,
    observances: Vec<Observance>,
}

/// One STANDARD or DAYLIGHT sub-component.
#[derive(Clone, Debug)]
struct Observance {
    /// Onset as local time, read with `offset_from`.
    dtstart: NaiveDateTime,
    offset_from: FixedOffset,
    offset_to: FixedOffset,
    rule: Option<YearlyRule>,
    /// Extra onsets (local time, read with `offset_from`).
    rdates: Vec<NaiveDateTime>,
}

/// The yearly recurrence of an observance onset (the only kind real VTIMEZONEs use).
#[derive(Clone, Debug)]
struct YearlyRule {
    interval: i32,
    month: u32,
    day: DaySpec,
    /// Last onset allowed, as a UTC instant.
    until: Option<NaiveDateTime>,
    count: Option<u32>,
}

#[derive(Clone, Debug)]
enum DaySpec {
    /// `BYDAY=nXX`: n-th (negative: from the end) weekday of the month.
    Nth(i8, chrono::Weekday),
    /// `BYMONTHDAY=d` (negative: from the end), or DTSTART's day when no BY-part is given.
    MonthDay(i8),
}

impl VTimezone {
    /// Reads a VTIMEZONE component (as produced by `icalendar::parser`).
    ///
    /// # Errors
    /// When the TZID, an offset or an observance start is missing or malformed, or an
    /// observance recurs in a way no real zone does (not yearly by month and day).
    pub fn from_component(c: &Component<'_>) -> Result<VTimezone, TzError> {
        let tzid = c
            .find_prop("TZID")
            .map(|p| clean_tzid(&unescape(p.val.as_str())))
            .ok_or_else(|| TzError::InvalidVTimezone {
                tzid: String::new(),
                reason: "no TZID property".into(),
            })?;
        let bad = |reason: String| TzError::InvalidVTimezone {
            tzid: tzid.clone(),
            reason,
        };
        let mut observances = Vec::new();
        for sub in &c.components {
            let kind = sub.name.as_str().to_ascii_uppercase();
            if kind != "STANDARD" && kind != "DAYLIGHT" {
                continue;
            }
            let prop = |name: &str| {
                sub.properties
                    .iter()
                    .find(|p| p.name.as_str().eq_ignore_ascii_case(name))
                    .map(|p| p.val.as_str().trim())
            };
            let dtstart = prop("DTSTART")
                .and_then(parse_local)
                .ok_or_else(|| bad(format!("{kind} has no valid DTSTART")))?;
            let offset_to = prop("TZOFFSETTO")
                .and_then(parse_offset)
                .ok_or_else(|| bad(format!("{kind} has no valid TZOFFSETTO")))?;
            let offset_from = match prop("TZOFFSETFROM") {
                Some(v) => parse_offset(v)
                    .ok_or_else(|| bad(format!("{kind} has a malformed TZOFFSETFROM '{v}'")))?,
                None => offset_to,
            };
            let rule = match prop("RRULE") {
                Some(text) => Some(yearly_rule(text, dtstart, offset_from).map_err(&bad)?),
                None => None,
            };
            let mut rdates = Vec::new();
            for p in sub
                .properties
                .iter()
                .filter(|p| p.name.as_str().eq_ignore_ascii_case("RDATE"))
            {
                for v in p.val.as_str().split(',') {
                    // RDATE;VALUE=PERIOD: the onset is the period's start.
                    let start = v.split('/').next().unwrap_or(v);
                    let at = parse_local(start.trim())
                        .ok_or_else(|| bad(format!("{kind} has a malformed RDATE '{v}'")))?;
                    rdates.push(at);
                }
            }
            observances.push(Observance {
                dtstart,
                offset_from,
                offset_to,
                rule,
                rdates,
            });
        }
        if observances.is_empty() {
            return Err(bad("no STANDARD or DAYLIGHT observance".into()));
        }
        Ok(VTimezone { tzid, observances })
    }

    /// The offset in force at the UTC instant `utc`.
    fn offset_at_utc(&self, utc: NaiveDateTime) -> FixedOffset {
        let mut best: Option<(NaiveDateTime, FixedOffset)> = None;
        let mut earliest: Option<(NaiveDateTime, FixedOffset)> = None;
        for obs in &self.observances {
            let to_utc = |local: NaiveDateTime| {
                local - Duration::seconds(i64::from(obs.offset_from.local_minus_utc()))
            };
            let first = to_utc(obs.dtstart);
            if earliest.is_none_or(|(t, _)| first < t) {
                earliest = Some((first, obs.offset_from));
            }
            let mut consider = |onset_utc: NaiveDateTime| {
                if onset_utc <= utc && best.is_none_or(|(t, _)| onset_utc > t) {
                    best = Some((onset_utc, obs.offset_to));
                }
            };
            consider(first);
            for r in &obs.rdates {
                consider(to_utc(*r));
            }
            if let Some(rule) = &obs.rule
                && let Some(onset) = rule.latest_onset_before(obs.dtstart, obs.offset_from, utc)
            {
                consider(onset);
            }
        }
        match (best, earliest) {
            (Some((_, off)), _) => off,
            // Before the first onset the zone was at the first observance's "from" offset.
            (None, Some((_, off))) => off,
            (None, None) => Utc.fix(),
        }
    }
}

impl YearlyRule {
    /// The onset in `year` as local time, if the rule has one that year.
    fn onset_in(&self, year: i32, time: chrono::NaiveTime) -> Option<NaiveDateTime> {
        let date = match self.day {
            DaySpec::Nth(n, wd) => nth_weekday_of_month(year, self.month, n, wd)?,
            DaySpec::MonthDay(d) => month_day(year, self.month, d)?,
        };
        Some(date.and_time(time))
    }

    /// The latest onset (as UTC) not after `utc`, honouring DTSTART, UNTIL, COUNT, INTERVAL.
    fn latest_onset_before(
        &self,
        dtstart: NaiveDateTime,
        offset_from: FixedOffset,
        utc: NaiveDateTime,
    ) -> Option<NaiveDateTime> {
        let shift = Duration::seconds(i64::from(offset_from.local_minus_utc()));
        let start_year = dtstart.year();
        let valid = |year: i32| -> Option<NaiveDateTime> {
            if (year - start_year) % self.interval != 0 {
                return None;
            }
            let local = self.onset_in(year, dtstart.time())?;
            let at = local - shift;
            let in_range = local >= dtstart && self.until.is_none_or(|u| at <= u);
            in_range.then_some(at)
        };
        if let Some(count) = self.count {
            // COUNT rules are short: walk forward from DTSTART.
            let mut seen = 0;
            let mut last = None;
            let mut year = start_year;
            while seen < count && year <= utc.year() + 1 && year - start_year < 10_000 {
                if let Some(at) = valid(year) {
                    seen += 1;
                    if at <= utc {
                        last = Some(at);
                    }
                }
                year += 1;
            }
            return last;
        }
        let mut year = utc.year() + 1;
        if let Some(u) = self.until {
            year = year.min(u.year() + 1);
        }
        // A yearly rule has an onset in nearly every (interval-th) year; a few years back suffice,
        // the bound only protects against rules that never match (e.g. a 5th Sunday in February).
        let stop = start_year.max(year - 8 * self.interval.max(1));
        while year >= stop {
            if let Some(at) = valid(year)
                && at <= utc
            {
                return Some(at);
            }
            year -= 1;
        }
        None
    }
}

/// Builds the yearly rule of an observance from its RRULE text.
fn yearly_rule(
    text: &str,
    dtstart: NaiveDateTime,
    offset_from: FixedOffset,
) -> Result<YearlyRule, String> {
    let rule = Rrule::parse(text).map_err(|e| format!("RRULE '{text}': {e}"))?;
    if rule.freq != Frequency::Yearly {
        return Err(format!("RRULE '{text}' is not yearly"));
    }
    let month = match rule.by_month.as_slice() {
        [] => dtstart.month(),
        [m] => u32::from(*m),
        _ => return Err(format!("RRULE '{text}' has several BYMONTH values")),
    };
    let day = match (rule.by_day.as_slice(), rule.by_month_day.as_slice()) {
        ([wd], []) => DaySpec::Nth(wd.ordinal.unwrap_or(1), wd.weekday),
        ([], [d]) => DaySpec::MonthDay(*d),
        ([], []) => DaySpec::MonthDay(i8::try_from(dtstart.day()).unwrap_or(1)),
        _ => return Err(format!("RRULE '{text}' is not one day per year")),
    };
    let shift = Duration::seconds(i64::from(offset_from.local_minus_utc()));
    let until = rule.until.map(|u| match u {
        Until::Utc(t) => t.naive_utc(),
        // Floating UNTIL in a VTIMEZONE is local time (Thunderbird, Outlook write it so).
        Until::Floating(t) => t - shift,
        Until::Date(d) => d.and_hms_opt(23, 59, 59).unwrap_or_default() - shift,
    });
    Ok(YearlyRule {
        interval: i32::try_from(rule.interval).unwrap_or(1).max(1),
        month,
        day,
        until,
        count: rule.count,
    })
}

/// The n-th weekday of a month (n < 0 counts from the end), if it exists.
pub(crate) fn nth_weekday_of_month(
    year: i32,
    month: u32,
    n: i8,
    wd: chrono::Weekday,
) -> Option<NaiveDate> {
    if n == 0 {
        return None;
    }
    if n > 0 {
        NaiveDate::from_weekday_of_month_opt(year, month, wd, u8::try_from(n).ok()?)
    } else {
        let last = last_day_of_month(year, month)?;
        let back = (7 + last.weekday().num_days_from_monday() - wd.num_days_from_monday()) % 7;
        let date = last - Duration::days(i64::from(back) + 7 * (i64::from(-n) - 1));
        (date.month() == month).then_some(date)
    }
}

/// Day `d` of a month (d < 0 counts from the end), if it exists.
pub(crate) fn month_day(year: i32, month: u32, d: i8) -> Option<NaiveDate> {
    let last = last_day_of_month(year, month)?.day();
    let day = if d > 0 {
        u32::try_from(d).ok()?
    } else {
        let from_end = u32::try_from(-i32::from(d)).ok()?;
        (last + 1).checked_sub(from_end)?
    };
    if day == 0 || day > last {
        return None;
    }
    NaiveDate::from_ymd_opt(year, month, day)
}

/// The last day of a month.
pub(crate) fn last_day_of_month(year: i32, month: u32) -> Option<NaiveDate> {
    let (y, m) = if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    NaiveDate::from_ymd_opt(y, m, 1)?.pred_opt()
}

/// Parses `YYYYMMDDTHHMMSS` (a trailing `Z` is ignored) or `YYYYMMDD` (midnight).
fn parse_local(v: &str) -> Option<NaiveDateTime> {
    let v = v.trim().trim_end_matches(['Z', 'z']);
    if v.len() == 8 {
        return NaiveDate::parse_from_str(v, "%Y%m%d")
            .ok()?
            .and_hms_opt(0, 0, 0);
    }
    NaiveDateTime::parse_from_str(v, "%Y%m%dT%H%M%S").ok()
}

/// Parses a UTC offset `±HHMM` or `±HHMMSS`.
fn parse_offset(v: &str) -> Option<FixedOffset> {
    let v = v.trim();
    let (sign, digits) = match v.as_bytes().first()? {
        b'+' => (1, &v[1..]),
        b'-' => (-1, &v[1..]),
        _ => return None,
    };
    if !(digits.len() == 4 || digits.len() == 6) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let num = |r: std::ops::Range<usize>| digits.get(r).and_then(|s| s.parse::<i32>().ok());
    let secs = num(0..2)? * 3600 + num(2..4)? * 60 + if digits.len() == 6 { num(4..6)? } else { 0 };
    FixedOffset::east_opt(sign * secs)
}

/// Undoes TEXT escaping (`\,` `\;` `\\`) that some producers leave in a TZID.
fn unescape(v: &str) -> String {
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
fn clean_tzid(raw: &str) -> String {
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
    /// Order: IANA name (also case-insensitive and legacy links), Mozilla/libical
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

/// Every name this module knows without a VTIMEZONE.
fn lookup_known(name: &str) -> Option<chrono_tz::Tz> {
    if name.is_empty() {
        return None;
    }
    if let Some(tz) = iana(name) {
        return Some(tz);
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
fn iana(name: &str) -> Option<chrono_tz::Tz> {
    if let Ok(tz) = name.parse::<chrono_tz::Tz>() {
        return Some(tz);
    }
    chrono_tz::TZ_VARIANTS
        .iter()
        .find(|tz| tz.name().eq_ignore_ascii_case(name))
        .copied()
}

/// A Windows zone ID (`W. Europe Standard Time`) via the CLDR table.
fn windows_zone(name: &str) -> Option<chrono_tz::Tz> {
    WINDOWS_ZONES
        .iter()
        .find(|(windows, _, _)| windows.eq_ignore_ascii_case(name))
        .and_then(|(_, _, iana_name)| iana(iana_name))
}

/// An Outlook display name, with or without its `(UTC+hh:mm)` / `(GMT+hh:mm)` prefix.
fn display_name(name: &str) -> Option<chrono_tz::Tz> {
    let rest = strip_offset_prefix(name).unwrap_or(name).trim();
    if rest.is_empty() {
        return None;
    }
    let same = |a: &str| a.eq_ignore_ascii_case(rest);
    WINDOWS_ZONES
        .iter()
        .find(|(_, display, _)| same(display))
        .map(|(_, _, iana_name)| *iana_name)
        .or_else(|| {
            OLD_DISPLAY_NAMES
                .iter()
                .find(|(display, _)| same(display))
                .map(|(_, iana_name)| *iana_name)
        })
        .and_then(iana)
}

/// Removes a leading `(UTC-05:00) `, `(GMT+10:00) `, `(UTC) ` or `(GMT) `.
fn strip_offset_prefix(name: &str) -> Option<&str> {
    let inner_end = name.find(')')?;
    let inner = name.strip_prefix('(')?.get(..inner_end - 1)?;
    let upper = inner.to_ascii_uppercase();
    (upper.starts_with("UTC") || upper.starts_with("GMT")).then(|| &name[inner_end + 1..])
}

/// Display names of older Windows/Outlook versions that differ from the current CLDR comments.
#[rustfmt::skip]
const OLD_DISPLAY_NAMES: &[(&str, &str)] = &[
    ("Greenwich Mean Time : Dublin, Edinburgh, Lisbon, London", "Europe/London"),
    ("Greenwich Mean Time: Dublin, Edinburgh, Lisbon, London", "Europe/London"),
    ("Pacific Time (US & Canada); Tijuana", "America/Los_Angeles"),
    ("Casablanca, Monrovia", "Africa/Casablanca"),
    ("Beijing, Chongqing, Hong Kong SAR, Urumqi", "Asia/Shanghai"),
    ("Brasilia", "America/Sao_Paulo"),
    ("Buenos Aires", "America/Argentina/Buenos_Aires"),
    ("Buenos Aires, Georgetown", "America/Argentina/Buenos_Aires"),
    ("Helsinki, Kyiv, Riga, Sofia, Tallinn, Vilnius", "Europe/Kiev"),
    ("Helsinki, Kiev, Riga, Sofia, Tallinn, Vilnius", "Europe/Kiev"),
    ("Moscow, St. Petersburg, Volgograd", "Europe/Moscow"),
    ("Chennai, Kolkata, Mumbai, New Delhi", "Asia/Calcutta"),
    ("Indiana (East)", "America/Indianapolis"),
    ("Coordinated Universal Time", "Etc/UTC"),
    ("Universal Coordinated Time", "Etc/UTC"),
];

/// CLDR `windowsZones.xml`, every `territory="001"` row: (Windows ID, display name without its
/// offset prefix, IANA zone). Source: unicode-org/cldr `common/supplemental/windowsZones.xml`.
#[rustfmt::skip]
const WINDOWS_ZONES: &[(&str, &str, &str)] = &[
    ("Dateline Standard Time", "International Date Line West", "Etc/GMT+12"),
    ("UTC-11", "Coordinated Universal Time-11", "Etc/GMT+11"),
    ("Aleutian Standard Time", "Aleutian Islands", "America/Adak"),
    ("Hawaiian Standard Time", "Hawaii", "Pacific/Honolulu"),
    ("Marquesas Standard Time", "Marquesas Islands", "Pacific/Marquesas"),
    ("Alaskan Standard Time", "Alaska", "America/Anchorage"),
    ("UTC-09", "Coordinated Universal Time-09", "Etc/GMT+9"),
    ("Pacific Standard Time (Mexico)", "Baja California", "America/Tijuana"),
    ("UTC-08", "Coordinated Universal Time-08", "Etc/GMT+8"),
    ("Pacific Standard Time", "Pacific Time (US & Canada)", "America/Los_Angeles"),
    ("US Mountain Standard Time", "Arizona", "America/Phoenix"),
    ("Mountain Standard Time (Mexico)", "Chihuahua, La Paz, Mazatlan", "America/Mazatlan"),
    ("Mountain Standard Time", "Mountain Time (US & Canada)", "America/Denver"),
    ("Yukon Standard Time", "Yukon", "America/Whitehorse"),
    ("Central America Standard Time", "Central America", "America/Guatemala"),
    ("Central Standard Time", "Central Time (US & Canada)", "America/Chicago"),
    ("Easter Island Standard Time", "Easter Island", "Pacific/Easter"),
    ("Central Standard Time (Mexico)", "Guadalajara, Mexico City, Monterrey", "America/Mexico_City"),
    ("Canada Central Standard Time", "Saskatchewan", "America/Regina"),
    ("SA Pacific Standard Time", "Bogota, Lima, Quito, Rio Branco", "America/Bogota"),
    ("Eastern Standard Time (Mexico)", "Chetumal", "America/Cancun"),
    ("Eastern Standard Time", "Eastern Time (US & Canada)", "America/New_York"),
    ("Haiti Standard Time", "Haiti", "America/Port-au-Prince"),
    ("Cuba Standard Time", "Havana", "America/Havana"),
    ("US Eastern Standard Time", "Indiana (East)", "America/Indianapolis"),
    ("Turks And Caicos Standard Time", "Turks and Caicos", "America/Grand_Turk"),
    ("Paraguay Standard Time", "Asuncion", "America/Asuncion"),
    ("Atlantic Standard Time", "Atlantic Time (Canada)", "America/Halifax"),
    ("Venezuela Standard Time", "Caracas", "America/Caracas"),
    ("Central Brazilian Standard Time", "Cuiaba", "America/Cuiaba"),
    ("SA Western Standard Time", "Georgetown, La Paz, Manaus, San Juan", "America/La_Paz"),
    ("Pacific SA Standard Time", "Santiago", "America/Santiago"),
    ("Newfoundland Standard Time", "Newfoundland", "America/St_Johns"),
    ("Tocantins Standard Time", "Araguaina", "America/Araguaina"),
    ("E. South America Standard Time", "Brasilia", "America/Sao_Paulo"),
    ("SA Eastern Standard Time", "Cayenne, Fortaleza", "America/Cayenne"),
    ("Argentina Standard Time", "City of Buenos Aires", "America/Buenos_Aires"),
    ("Greenland Standard Time", "Greenland", "America/Godthab"),
    ("Montevideo Standard Time", "Montevideo", "America/Montevideo"),
    ("Magallanes Standard Time", "Punta Arenas", "America/Punta_Arenas"),
    ("Saint Pierre Standard Time", "Saint Pierre and Miquelon", "America/Miquelon"),
    ("Bahia Standard Time", "Salvador", "America/Bahia"),
    ("UTC-02", "Coordinated Universal Time-02", "Etc/GMT+2"),
    ("Azores Standard Time", "Azores", "Atlantic/Azores"),
    ("Cape Verde Standard Time", "Cabo Verde Is.", "Atlantic/Cape_Verde"),
    ("UTC", "Coordinated Universal Time", "Etc/UTC"),
    ("GMT Standard Time", "Dublin, Edinburgh, Lisbon, London", "Europe/London"),
    ("Greenwich Standard Time", "Monrovia, Reykjavik", "Atlantic/Reykjavik"),
    ("Sao Tome Standard Time", "Sao Tome", "Africa/Sao_Tome"),
    ("Morocco Standard Time", "Casablanca", "Africa/Casablanca"),
    ("W. Europe Standard Time", "Amsterdam, Berlin, Bern, Rome, Stockholm, Vienna", "Europe/Berlin"),
    ("Central Europe Standard Time", "Belgrade, Bratislava, Budapest, Ljubljana, Prague", "Europe/Budapest"),
    ("Romance Standard Time", "Brussels, Copenhagen, Madrid, Paris", "Europe/Paris"),
    ("Central European Standard Time", "Sarajevo, Skopje, Warsaw, Zagreb", "Europe/Warsaw"),
    ("W. Central Africa Standard Time", "West Central Africa", "Africa/Lagos"),
    ("Jordan Standard Time", "Amman", "Asia/Amman"),
    ("GTB Standard Time", "Athens, Bucharest", "Europe/Bucharest"),
    ("Middle East Standard Time", "Beirut", "Asia/Beirut"),
    ("Egypt Standard Time", "Cairo", "Africa/Cairo"),
    ("E. Europe Standard Time", "Chisinau", "Europe/Chisinau"),
    ("Syria Standard Time", "Damascus", "Asia/Damascus"),
    ("West Bank Standard Time", "Gaza, Hebron", "Asia/Hebron"),
    ("South Africa Standard Time", "Harare, Pretoria", "Africa/Johannesburg"),
    ("FLE Standard Time", "Helsinki, Kyiv, Riga, Sofia, Tallinn, Vilnius", "Europe/Kiev"),
    ("Israel Standard Time", "Jerusalem", "Asia/Jerusalem"),
    ("South Sudan Standard Time", "Juba", "Africa/Juba"),
    ("Kaliningrad Standard Time", "Kaliningrad", "Europe/Kaliningrad"),
    ("Sudan Standard Time", "Khartoum", "Africa/Khartoum"),
    ("Libya Standard Time", "Tripoli", "Africa/Tripoli"),
    ("Namibia Standard Time", "Windhoek", "Africa/Windhoek"),
    ("Arabic Standard Time", "Baghdad", "Asia/Baghdad"),
    ("Turkey Standard Time", "Istanbul", "Europe/Istanbul"),
    ("Arab Standard Time", "Kuwait, Riyadh", "Asia/Riyadh"),
    ("Belarus Standard Time", "Minsk", "Europe/Minsk"),
    ("Russian Standard Time", "Moscow, St. Petersburg", "Europe/Moscow"),
    ("E. Africa Standard Time", "Nairobi", "Africa/Nairobi"),
    ("Iran Standard Time", "Tehran", "Asia/Tehran"),
    ("Arabian Standard Time", "Abu Dhabi, Muscat", "Asia/Dubai"),
    ("Astrakhan Standard Time", "Astrakhan, Ulyanovsk", "Europe/Astrakhan"),
    ("Azerbaijan Standard Time", "Baku", "Asia/Baku"),
    ("Russia Time Zone 3", "Izhevsk, Samara", "Europe/Samara"),
    ("Mauritius Standard Time", "Port Louis", "Indian/Mauritius"),
    ("Saratov Standard Time", "Saratov", "Europe/Saratov"),
    ("Georgian Standard Time", "Tbilisi", "Asia/Tbilisi"),
    ("Volgograd Standard Time", "Volgograd", "Europe/Volgograd"),
    ("Caucasus Standard Time", "Yerevan", "Asia/Yerevan"),
    ("Afghanistan Standard Time", "Kabul", "Asia/Kabul"),
    ("West Asia Standard Time", "Ashgabat, Tashkent", "Asia/Tashkent"),
    ("Ekaterinburg Standard Time", "Ekaterinburg", "Asia/Yekaterinburg"),
    ("Pakistan Standard Time", "Islamabad, Karachi", "Asia/Karachi"),
    ("Qyzylorda Standard Time", "Qyzylorda", "Asia/Qyzylorda"),
    ("India Standard Time", "Chennai, Kolkata, Mumbai, New Delhi", "Asia/Calcutta"),
    ("Sri Lanka Standard Time", "Sri Jayawardenepura", "Asia/Colombo"),
    ("Nepal Standard Time", "Kathmandu", "Asia/Katmandu"),
    ("Central Asia Standard Time", "Astana", "Asia/Bishkek"),
    ("Bangladesh Standard Time", "Dhaka", "Asia/Dhaka"),
    ("Omsk Standard Time", "Omsk", "Asia/Omsk"),
    ("Myanmar Standard Time", "Yangon (Rangoon)", "Asia/Rangoon"),
    ("SE Asia Standard Time", "Bangkok, Hanoi, Jakarta", "Asia/Bangkok"),
    ("Altai Standard Time", "Barnaul, Gorno-Altaysk", "Asia/Barnaul"),
    ("W. Mongolia Standard Time", "Hovd", "Asia/Hovd"),
    ("North Asia Standard Time", "Krasnoyarsk", "Asia/Krasnoyarsk"),
    ("N. Central Asia Standard Time", "Novosibirsk", "Asia/Novosibirsk"),
    ("Tomsk Standard Time", "Tomsk", "Asia/Tomsk"),
    ("China Standard Time", "Beijing, Chongqing, Hong Kong, Urumqi", "Asia/Shanghai"),
    ("North Asia East Standard Time", "Irkutsk", "Asia/Irkutsk"),
    ("Singapore Standard Time", "Kuala Lumpur, Singapore", "Asia/Singapore"),
    ("W. Australia Standard Time", "Perth", "Australia/Perth"),
    ("Taipei Standard Time", "Taipei", "Asia/Taipei"),
    ("Ulaanbaatar Standard Time", "Ulaanbaatar", "Asia/Ulaanbaatar"),
    ("Aus Central W. Standard Time", "Eucla", "Australia/Eucla"),
    ("Transbaikal Standard Time", "Chita", "Asia/Chita"),
    ("Tokyo Standard Time", "Osaka, Sapporo, Tokyo", "Asia/Tokyo"),
    ("North Korea Standard Time", "Pyongyang", "Asia/Pyongyang"),
    ("Korea Standard Time", "Seoul", "Asia/Seoul"),
    ("Yakutsk Standard Time", "Yakutsk", "Asia/Yakutsk"),
    ("Cen. Australia Standard Time", "Adelaide", "Australia/Adelaide"),
    ("AUS Central Standard Time", "Darwin", "Australia/Darwin"),
    ("E. Australia Standard Time", "Brisbane", "Australia/Brisbane"),
    ("AUS Eastern Standard Time", "Canberra, Melbourne, Sydney", "Australia/Sydney"),
    ("West Pacific Standard Time", "Guam, Port Moresby", "Pacific/Port_Moresby"),
    ("Tasmania Standard Time", "Hobart", "Australia/Hobart"),
    ("Vladivostok Standard Time", "Vladivostok", "Asia/Vladivostok"),
    ("Lord Howe Standard Time", "Lord Howe Island", "Australia/Lord_Howe"),
    ("Bougainville Standard Time", "Bougainville Island", "Pacific/Bougainville"),
    ("Russia Time Zone 10", "Chokurdakh", "Asia/Srednekolymsk"),
    ("Magadan Standard Time", "Magadan", "Asia/Magadan"),
    ("Norfolk Standard Time", "Norfolk Island", "Pacific/Norfolk"),
    ("Sakhalin Standard Time", "Sakhalin", "Asia/Sakhalin"),
    ("Central Pacific Standard Time", "Solomon Is., New Caledonia", "Pacific/Guadalcanal"),
    ("Russia Time Zone 11", "Anadyr, Petropavlovsk-Kamchatsky", "Asia/Kamchatka"),
    ("New Zealand Standard Time", "Auckland, Wellington", "Pacific/Auckland"),
    ("UTC+12", "Coordinated Universal Time+12", "Etc/GMT-12"),
    ("Fiji Standard Time", "Fiji", "Pacific/Fiji"),
    ("Chatham Islands Standard Time", "Chatham Islands", "Pacific/Chatham"),
    ("UTC+13", "Coordinated Universal Time+13", "Etc/GMT-13"),
    ("Tonga Standard Time", "Nuku'alofa", "Pacific/Tongatapu"),
    ("Samoa Standard Time", "Samoa", "Pacific/Apia"),
    ("Line Islands Standard Time", "Kiritimati Island", "Pacific/Kiritimati"),
];

#[cfg(test)]
mod tests;
