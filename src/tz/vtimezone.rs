//! VTIMEZONE evaluation: the offset of a zone known only from the calendar's own
//! STANDARD/DAYLIGHT observances (DTSTART, TZOFFSETFROM/TO, yearly RRULE, RDATE).
//!
//! Enough of RFC 5545 to get the right offset for any date; never I/O, never a guess: a
//! VTIMEZONE it cannot evaluate is an error.

use chrono::{Datelike, Duration, FixedOffset, NaiveDate, NaiveDateTime, Offset, Utc};
use icalendar::parser::Component;

use super::{TzError, clean_tzid, unescape};
use crate::recurrence::{Frequency, Rrule, Until};

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
    pub(super) fn offset_at_utc(&self, utc: NaiveDateTime) -> FixedOffset {
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
        // Before the first onset the zone was at the first observance's "from" offset.
        best.or(earliest).map_or_else(|| Utc.fix(), |(_, off)| off)
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
        // Same month *and year*: -53MO stepped back a whole year lands in the same month.
        (date.month() == month && date.year() == year).then_some(date)
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
pub(super) fn parse_offset(v: &str) -> Option<FixedOffset> {
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
