//! Recurrence: parses RRULE text, expands a series in the wall time of its zone, and maps a
//! series onto Tencent Meeting's `recurring_rule` — exactly, or not at all.
//!
//! This module owns the RRULE → `recurring_type` table of DESIGN.md §1, the API's occurrence
//! limits, and how a series that began in the past is picked up at its next occurrence.
//! It must never do I/O, never read the clock (the caller passes `now`), and never approximate:
//! a rule Tencent cannot repeat exactly is refused with a reason naming the rule part.

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, Utc, Weekday};
use serde::{Deserialize, Serialize};

use crate::tz::{Zone, last_day_of_month, month_day, nth_weekday_of_month};

/// Tencent Meeting's `recurring_rule` object (API reference §3.1).
///
/// Until the branches merge this mirrors `crate::tencent::types::RecurringRule`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecurringRule {
    /// 0 daily, 1 Monday–Friday, 2 weekly, 3 every two weeks, 4 monthly, 5 customized.
    pub recurring_type: i64,
    /// 0 ends by date, 1 ends by count.
    pub until_type: i64,
    /// Number of occurrences (with `until_type` 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until_count: Option<i64>,
    /// Unix seconds of the last occurrence's start (with `until_type` 0).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until_date: Option<i64>,
    /// Customized only: 0 by day, 1 by week, 2 monthly by weekday, 3 monthly by date.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customized_recurring_type: Option<i64>,
    /// Customized only: every n days/weeks/months.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customized_recurring_step: Option<i64>,
    /// Customized only: bit mask of days (meaning depends on the customized type).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customized_recurring_days: Option<i64>,
    /// PUT only: the occurrence to modify.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub_meeting_id: Option<String>,
}

/// Why RRULE text could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RruleError {
    /// A part is not `NAME=VALUE`.
    #[error("malformed rule part '{0}' (expected NAME=VALUE)")]
    MalformedPart(String),
    /// FREQ is missing.
    #[error("the rule has no FREQ")]
    MissingFreq,
    /// A part appears twice.
    #[error("rule part {0} appears more than once")]
    Duplicate(String),
    /// A value is out of range or unreadable.
    #[error("invalid value '{value}' for {part}")]
    InvalidValue {
        /// The rule part (`BYDAY`, `UNTIL`, …).
        part: String,
        /// The offending value.
        value: String,
    },
}

/// How often a rule repeats (`FREQ`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frequency {
    /// `SECONDLY`
    Secondly,
    /// `MINUTELY`
    Minutely,
    /// `HOURLY`
    Hourly,
    /// `DAILY`
    Daily,
    /// `WEEKLY`
    Weekly,
    /// `MONTHLY`
    Monthly,
    /// `YEARLY`
    Yearly,
}

impl Frequency {
    /// The FREQ value as written in RRULE text.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Frequency::Secondly => "SECONDLY",
            Frequency::Minutely => "MINUTELY",
            Frequency::Hourly => "HOURLY",
            Frequency::Daily => "DAILY",
            Frequency::Weekly => "WEEKLY",
            Frequency::Monthly => "MONTHLY",
            Frequency::Yearly => "YEARLY",
        }
    }
}

/// The end of a rule (`UNTIL`) in the form the producer wrote it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Until {
    /// `UNTIL=20251231`: inclusive of the whole day, in the series' zone.
    Date(NaiveDate),
    /// `UNTIL=20251231T235959` (no `Z`): wall time in the series' zone.
    Floating(NaiveDateTime),
    /// `UNTIL=20251231T235959Z`.
    Utc(DateTime<Utc>),
}

/// One `BYDAY` entry: an optional ordinal (`-1FR`, `3TH`) and a weekday.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WeekdayNum {
    /// 1..=53 or -53..=-1; `None` means every such weekday in the period.
    pub ordinal: Option<i8>,
    /// The weekday.
    pub weekday: Weekday,
}

/// A parsed RRULE value (RFC 5545 §3.3.10), kept close to the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rrule {
    /// `FREQ`
    pub freq: Frequency,
    /// `INTERVAL` (1 when absent).
    pub interval: u32,
    /// `COUNT`
    pub count: Option<u32>,
    /// `UNTIL`
    pub until: Option<Until>,
    /// `BYDAY`
    pub by_day: Vec<WeekdayNum>,
    /// `BYMONTHDAY` (negative counts from the month's end).
    pub by_month_day: Vec<i8>,
    /// `BYMONTH`
    pub by_month: Vec<u8>,
    /// `BYSETPOS`
    pub by_set_pos: Vec<i16>,
    /// `BYHOUR`
    pub by_hour: Vec<u8>,
    /// `BYMINUTE`
    pub by_minute: Vec<u8>,
    /// `BYSECOND`
    pub by_second: Vec<u8>,
    /// `BYYEARDAY`
    pub by_year_day: Vec<i16>,
    /// `BYWEEKNO`
    pub by_week_no: Vec<i8>,
    /// `WKST` (Monday when absent).
    pub wkst: Option<Weekday>,
    /// Parts this module does not know (`X-…` and others), as written; refused when mapping.
    pub extensions: Vec<(String, String)>,
}

impl Rrule {
    /// Parses an RRULE value such as `FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,TH` (case-insensitive,
    /// trailing `;` and spaces inside lists allowed; a leading `RRULE:` is ignored).
    ///
    /// # Errors
    /// A part that is not `NAME=VALUE`, a repeated part, no FREQ, or an unreadable value.
    pub fn parse(text: &str) -> Result<Rrule, RruleError> {
        let text = text.trim();
        let text = match text.get(..6) {
            Some(head) if head.eq_ignore_ascii_case("RRULE:") => &text[6..],
            _ => text,
        };
        let mut freq = None;
        let mut rule = Rrule {
            freq: Frequency::Daily,
            interval: 1,
            count: None,
            until: None,
            by_day: Vec::new(),
            by_month_day: Vec::new(),
            by_month: Vec::new(),
            by_set_pos: Vec::new(),
            by_hour: Vec::new(),
            by_minute: Vec::new(),
            by_second: Vec::new(),
            by_year_day: Vec::new(),
            by_week_no: Vec::new(),
            wkst: None,
            extensions: Vec::new(),
        };
        let mut seen = BTreeSet::new();
        for part in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, value) = part
                .split_once('=')
                .ok_or_else(|| RruleError::MalformedPart(part.to_owned()))?;
            let name = name.trim().to_ascii_uppercase();
            let value = value.trim();
            if !seen.insert(name.clone()) {
                return Err(RruleError::Duplicate(name));
            }
            let invalid = || RruleError::InvalidValue {
                part: name.clone(),
                value: value.to_owned(),
            };
            match name.as_str() {
                "FREQ" => freq = Some(parse_freq(value).ok_or_else(invalid)?),
                "INTERVAL" => {
                    rule.interval = value.parse().ok().filter(|n| *n >= 1).ok_or_else(invalid)?;
                }
                "COUNT" => rule.count = Some(value.parse().ok().ok_or_else(invalid)?),
                "UNTIL" => rule.until = Some(parse_until(value).ok_or_else(invalid)?),
                "BYDAY" => rule.by_day = list(value, parse_weekday_num).ok_or_else(invalid)?,
                "BYMONTHDAY" => {
                    rule.by_month_day = list(value, |v| int_in(v, 1, 31)).ok_or_else(invalid)?;
                }
                "BYMONTH" => {
                    rule.by_month = list(value, |v| {
                        v.parse::<u8>().ok().filter(|m| (1..=12).contains(m))
                    })
                    .ok_or_else(invalid)?;
                }
                "BYSETPOS" => {
                    rule.by_set_pos = list(value, |v| int_in(v, 1, 366)).ok_or_else(invalid)?
                }
                "BYHOUR" => {
                    rule.by_hour =
                        list(value, |v| v.parse().ok().filter(|h| *h < 24)).ok_or_else(invalid)?
                }
                "BYMINUTE" => {
                    rule.by_minute =
                        list(value, |v| v.parse().ok().filter(|m| *m < 60)).ok_or_else(invalid)?
                }
                "BYSECOND" => {
                    rule.by_second =
                        list(value, |v| v.parse().ok().filter(|s| *s <= 60)).ok_or_else(invalid)?
                }
                "BYYEARDAY" => {
                    rule.by_year_day = list(value, |v| int_in(v, 1, 366)).ok_or_else(invalid)?
                }
                "BYWEEKNO" => {
                    rule.by_week_no = list(value, |v| int_in(v, 1, 53)).ok_or_else(invalid)?
                }
                "WKST" => rule.wkst = Some(parse_weekday(value).ok_or_else(invalid)?),
                _ => rule.extensions.push((name.clone(), value.to_owned())),
            }
        }
        rule.freq = freq.ok_or(RruleError::MissingFreq)?;
        Ok(rule)
    }
}

/// An integer `v` with `min <= |v| <= max` (sign allowed).
fn int_in<T: TryFrom<i32>>(v: &str, min: i32, max: i32) -> Option<T> {
    let n: i32 = v.trim_start_matches('+').parse().ok()?;
    if !(min..=max).contains(&n.abs()) {
        return None;
    }
    T::try_from(n).ok()
}

/// A comma-separated list, tolerant of spaces (`MO, TU`).
fn list<T>(value: &str, item: impl Fn(&str) -> Option<T>) -> Option<Vec<T>> {
    value
        .split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(item)
        .collect()
}

fn parse_freq(v: &str) -> Option<Frequency> {
    Some(match v.to_ascii_uppercase().as_str() {
        "SECONDLY" => Frequency::Secondly,
        "MINUTELY" => Frequency::Minutely,
        "HOURLY" => Frequency::Hourly,
        "DAILY" => Frequency::Daily,
        "WEEKLY" => Frequency::Weekly,
        "MONTHLY" => Frequency::Monthly,
        "YEARLY" => Frequency::Yearly,
        _ => return None,
    })
}

fn parse_weekday(v: &str) -> Option<Weekday> {
    Some(match v.trim().to_ascii_uppercase().as_str() {
        "MO" => Weekday::Mon,
        "TU" => Weekday::Tue,
        "WE" => Weekday::Wed,
        "TH" => Weekday::Thu,
        "FR" => Weekday::Fri,
        "SA" => Weekday::Sat,
        "SU" => Weekday::Sun,
        _ => return None,
    })
}

fn parse_weekday_num(v: &str) -> Option<WeekdayNum> {
    let split = v.len().checked_sub(2)?;
    let (num, day) = (v.get(..split)?.trim(), v.get(split..)?);
    let weekday = parse_weekday(day)?;
    let ordinal = if num.is_empty() {
        None
    } else {
        Some(int_in::<i8>(num, 1, 53)?)
    };
    Some(WeekdayNum { ordinal, weekday })
}

fn parse_until(v: &str) -> Option<Until> {
    if v.len() == 8 {
        return NaiveDate::parse_from_str(v, "%Y%m%d").ok().map(Until::Date);
    }
    if let Some(utc) = v.strip_suffix(['Z', 'z']) {
        let t = NaiveDateTime::parse_from_str(utc, "%Y%m%dT%H%M%S").ok()?;
        return Some(Until::Utc(t.and_utc()));
    }
    NaiveDateTime::parse_from_str(v, "%Y%m%dT%H%M%S")
        .ok()
        .map(Until::Floating)
}

/// A recurring event as the recurrence code sees it.
#[derive(Debug, Clone)]
pub struct Series<'a> {
    /// The rule.
    pub rule: &'a Rrule,
    /// DTSTART as wall time in `zone`.
    pub dtstart: NaiveDateTime,
    /// The zone the series repeats in (wall time is kept across DST changes).
    pub zone: &'a Zone,
    /// Length of each occurrence.
    pub duration: Duration,
    /// Starts of excluded occurrences (EXDATE), as instants.
    pub exdates: &'a [DateTime<Utc>],
}

/// How Tencent will hold a series, computed by [`map_series`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeriesPlan {
    /// Start of the first occurrence the meeting is created with (not yet ended at `now`).
    pub first_start: DateTime<Utc>,
    /// End of that occurrence.
    pub first_end: DateTime<Utc>,
    /// The rule to send.
    pub rule: RecurringRule,
    /// Starts of the occurrences the meeting will hold (EXDATEs left out), at most the cap.
    pub occurrences: Vec<DateTime<Utc>>,
    /// The series continues past what was created and must be extended later.
    pub truncated: bool,
    /// Occurrences left in the series from `first_start` on (EXDATEs included), when bounded.
    pub remaining_total: Option<usize>,
}

/// Why a series gets no recurring meeting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unsupported {
    /// Tencent cannot repeat this rule exactly.
    #[error("recurrence rule not supported by Tencent Meeting: {reason}")]
    Rule {
        /// Which rule part is at fault and why.
        reason: String,
    },
    /// Every occurrence has already ended: nothing to create.
    #[error("the series has ended: every occurrence is in the past")]
    Ended,
}

fn refuse(reason: impl Into<String>) -> Unsupported {
    Unsupported::Rule {
        reason: reason.into(),
    }
}

/// Most occurrences for daily, weekday and weekly rules on create (API reference §3.2).
pub const MAX_OCCURRENCES_SHORT: usize = 200;
/// Most occurrences for bi-weekly, monthly and customized rules (API reference §3.2).
pub const MAX_OCCURRENCES_LONG: usize = 50;
/// Most periods (days, weeks, months, years) an expansion walks, so that no rule can make
/// the daemon spin (e.g. `FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30` never matches).
const MAX_PERIODS: u64 = 200_000;

/// Checks that the expander can evaluate `rule` (the subset real calendar apps write).
fn check_expandable(rule: &Rrule) -> Result<(), Unsupported> {
    if let Some((name, value)) = rule.extensions.first() {
        return Err(refuse(format!("unknown rule part {name}={value}")));
    }
    match rule.freq {
        Frequency::Secondly | Frequency::Minutely | Frequency::Hourly => {
            return Err(refuse(format!(
                "FREQ={} repeats within a day",
                rule.freq.as_str()
            )));
        }
        _ => {}
    }
    let parts = [
        ("BYHOUR", rule.by_hour.is_empty()),
        ("BYMINUTE", rule.by_minute.is_empty()),
        ("BYSECOND", rule.by_second.is_empty()),
        ("BYYEARDAY", rule.by_year_day.is_empty()),
        ("BYWEEKNO", rule.by_week_no.is_empty()),
    ];
    if let Some((name, _)) = parts.iter().find(|(_, empty)| !empty) {
        return Err(refuse(format!("{name} is not supported")));
    }
    let ordinals = rule.by_day.iter().any(|d| d.ordinal.is_some());
    if ordinals && matches!(rule.freq, Frequency::Daily | Frequency::Weekly) {
        return Err(refuse("BYDAY with an ordinal in a DAILY or WEEKLY rule"));
    }
    if rule.freq == Frequency::Weekly && !rule.by_month_day.is_empty() {
        return Err(refuse("BYMONTHDAY in a WEEKLY rule"));
    }
    Ok(())
}

/// One occurrence produced by the expander.
#[derive(Debug, Clone, Copy)]
struct Occurrence {
    /// 0-based position in the series (counts excluded occurrences, as COUNT does).
    index: u64,
    start: DateTime<Utc>,
}

/// Walks a series period by period in wall time.
struct Expander<'s, 'a> {
    series: &'s Series<'a>,
    until: Option<DateTime<Utc>>,
    period: u64,
    /// Periods actually walked (the bound applies to these, not to skipped ones).
    walked: u64,
    buffer: std::collections::VecDeque<NaiveDateTime>,
    emitted: u64,
    /// Whether DTSTART (always the first occurrence) has been produced.
    dtstart_done: bool,
    finished: bool,
}

impl<'s, 'a> Expander<'s, 'a> {
    fn new(series: &'s Series<'a>) -> Self {
        let until = series.rule.until.map(|u| match u {
            Until::Utc(t) => t,
            Until::Floating(t) => series.zone.to_utc(t),
            Until::Date(d) => series.zone.to_utc(
                d.and_hms_opt(23, 59, 59)
                    .unwrap_or_else(|| d.and_time(chrono::NaiveTime::MIN)),
            ),
        });
        Expander {
            series,
            until,
            period: 0,
            walked: 0,
            buffer: std::collections::VecDeque::new(),
            emitted: 0,
            dtstart_done: false,
            finished: false,
        }
    }

    /// Skips whole periods that end before `from` (only when COUNT does not need them counted).
    fn skip_to(&mut self, from: DateTime<Utc>) {
        let rule = self.series.rule;
        if rule.count.is_some() {
            return;
        }
        let start = self.series.dtstart.date();
        // Two days of slack cover any UTC offset.
        let target = (from - Duration::days(2)).naive_utc().date();
        if target <= start {
            return;
        }
        let interval = u64::from(rule.interval);
        let units = match rule.freq {
            Frequency::Daily => (target - start).num_days(),
            Frequency::Weekly => (target - start).num_days() / 7,
            Frequency::Monthly => months_between(start, target),
            Frequency::Yearly => i64::from(target.year() - start.year()),
            _ => 0,
        };
        let periods = u64::try_from(units).unwrap_or(0) / interval;
        if periods > 1 {
            self.period = periods - 1;
            self.dtstart_done = true;
        }
    }

    /// Candidate wall times of period `p`, sorted.
    fn period_candidates(&self, p: u64) -> Option<Vec<NaiveDateTime>> {
        let s = self.series;
        let rule = s.rule;
        let step = i64::try_from(p.checked_mul(u64::from(rule.interval))?).ok()?;
        let start = s.dtstart.date();
        let time = s.dtstart.time();
        let in_months = |d: NaiveDate| {
            rule.by_month.is_empty() || rule.by_month.iter().any(|m| u32::from(*m) == d.month())
        };
        let weekday_ok = |d: NaiveDate| {
            rule.by_day.is_empty() || rule.by_day.iter().any(|w| w.weekday == d.weekday())
        };
        let mut dates: Vec<NaiveDate> = match rule.freq {
            Frequency::Daily => {
                let d = start.checked_add_signed(Duration::days(step))?;
                let monthday_ok = rule.by_month_day.is_empty()
                    || rule
                        .by_month_day
                        .iter()
                        .any(|md| month_day(d.year(), d.month(), *md) == Some(d));
                if in_months(d) && weekday_ok(d) && monthday_ok {
                    vec![d]
                } else {
                    vec![]
                }
            }
            Frequency::Weekly => {
                let wkst = rule.wkst.unwrap_or(Weekday::Mon);
                let back =
                    (7 + start.weekday().num_days_from_monday() - wkst.num_days_from_monday()) % 7;
                let week = start.checked_add_signed(Duration::days(7 * step - i64::from(back)))?;
                (0..7)
                    .filter_map(|i| week.checked_add_signed(Duration::days(i)))
                    .filter(|d| {
                        if rule.by_day.is_empty() {
                            d.weekday() == start.weekday()
                        } else {
                            weekday_ok(*d)
                        }
                    })
                    .filter(|d| in_months(*d))
                    .collect()
            }
            Frequency::Monthly => {
                let total = i64::from(start.year()) * 12 + i64::from(start.month0()) + step;
                let year = i32::try_from(total.div_euclid(12)).ok()?;
                let month = u32::try_from(total.rem_euclid(12)).ok()? + 1;
                if !rule.by_month.is_empty()
                    && !rule.by_month.iter().any(|m| u32::from(*m) == month)
                {
                    vec![]
                } else {
                    month_dates(year, month, rule, start.day())
                }
            }
            Frequency::Yearly => {
                let year = start.year().checked_add(i32::try_from(step).ok()?)?;
                if year > 9999 {
                    return None;
                }
                year_dates(year, rule, start)
            }
            _ => return None,
        };
        dates.sort_unstable();
        dates.dedup();
        if !rule.by_set_pos.is_empty() {
            let n = i64::try_from(dates.len()).ok()?;
            let mut picked: Vec<NaiveDate> = rule
                .by_set_pos
                .iter()
                .filter_map(|pos| {
                    let pos = i64::from(*pos);
                    let idx = if pos > 0 { pos - 1 } else { n + pos };
                    usize::try_from(idx)
                        .ok()
                        .and_then(|i| dates.get(i).copied())
                })
                .collect();
            picked.sort_unstable();
            picked.dedup();
            dates = picked;
        }
        Some(dates.into_iter().map(|d| d.and_time(time)).collect())
    }
}

impl Iterator for Expander<'_, '_> {
    type Item = Occurrence;

    fn next(&mut self) -> Option<Occurrence> {
        loop {
            if self.finished {
                return None;
            }
            if self
                .series
                .rule
                .count
                .is_some_and(|c| self.emitted >= u64::from(c))
            {
                self.finished = true;
                return None;
            }
            let local = if !self.dtstart_done {
                self.dtstart_done = true;
                self.series.dtstart
            } else if let Some(local) = self.buffer.pop_front() {
                local
            } else {
                if self.walked >= MAX_PERIODS {
                    self.finished = true;
                    return None;
                }
                match self.period_candidates(self.period) {
                    Some(c) => self.buffer.extend(c),
                    None => self.finished = true,
                }
                self.period += 1;
                self.walked += 1;
                continue;
            };
            // DTSTART was produced first; candidates at or before it are not occurrences.
            if local <= self.series.dtstart && self.emitted > 0 {
                continue;
            }
            let start = self.series.zone.to_utc(local);
            if self.until.is_some_and(|u| start > u) {
                self.finished = true;
                return None;
            }
            let index = self.emitted;
            self.emitted += 1;
            return Some(Occurrence { index, start });
        }
    }
}

/// Months from `a` to `b` (whole calendar months, by month number).
fn months_between(a: NaiveDate, b: NaiveDate) -> i64 {
    (i64::from(b.year()) - i64::from(a.year())) * 12 + i64::from(b.month()) - i64::from(a.month())
}

/// Days of one month selected by BYMONTHDAY / BYDAY (ordinals relative to the month).
fn month_dates(year: i32, month: u32, rule: &Rrule, default_day: u32) -> Vec<NaiveDate> {
    let Some(last) = last_day_of_month(year, month) else {
        return vec![];
    };
    let by_md: Vec<NaiveDate> = rule
        .by_month_day
        .iter()
        .filter_map(|d| month_day(year, month, *d))
        .collect();
    let by_wd: Vec<NaiveDate> = rule
        .by_day
        .iter()
        .flat_map(|w| match w.ordinal {
            Some(n) => nth_weekday_of_month(year, month, n, w.weekday)
                .into_iter()
                .collect::<Vec<_>>(),
            None => (1..=last.day())
                .filter_map(|d| NaiveDate::from_ymd_opt(year, month, d))
                .filter(|d| d.weekday() == w.weekday)
                .collect(),
        })
        .collect();
    match (rule.by_month_day.is_empty(), rule.by_day.is_empty()) {
        (false, false) => by_md.into_iter().filter(|d| by_wd.contains(d)).collect(),
        (false, true) => by_md,
        (true, false) => by_wd,
        (true, true) => NaiveDate::from_ymd_opt(year, month, default_day)
            .into_iter()
            .collect(),
    }
}

/// Days of one year for a YEARLY rule.
fn year_dates(year: i32, rule: &Rrule, start: NaiveDate) -> Vec<NaiveDate> {
    if !rule.by_month.is_empty() {
        return rule
            .by_month
            .iter()
            .flat_map(|m| month_dates(year, u32::from(*m), rule, start.day()))
            .collect();
    }
    if !rule.by_month_day.is_empty() && rule.by_day.is_empty() {
        return (1..=12)
            .flat_map(|m| month_dates(year, m, rule, start.day()))
            .collect();
    }
    if rule.by_day.is_empty() {
        return NaiveDate::from_ymd_opt(year, start.month(), start.day())
            .into_iter()
            .collect();
    }
    // BYDAY without BYMONTH: ordinals count within the year.
    let days: Vec<NaiveDate> = NaiveDate::from_ymd_opt(year, 1, 1)
        .map(|d| d.iter_days().take_while(|x| x.year() == year).collect())
        .unwrap_or_default();
    let mut out = Vec::new();
    for w in &rule.by_day {
        let matching: Vec<NaiveDate> = days
            .iter()
            .copied()
            .filter(|d| d.weekday() == w.weekday)
            .collect();
        match w.ordinal {
            None => out.extend(matching),
            Some(n) => {
                let idx = if n > 0 {
                    usize::try_from(n - 1).ok()
                } else {
                    matching
                        .len()
                        .checked_sub(usize::try_from(-n).unwrap_or(usize::MAX))
                };
                out.extend(idx.and_then(|i| matching.get(i)));
            }
        }
    }
    if !rule.by_month_day.is_empty() {
        out.retain(|d| {
            rule.by_month_day
                .iter()
                .any(|md| month_day(d.year(), d.month(), *md) == Some(*d))
        });
    }
    out
}

/// Starts of the series' occurrences at or after `from`, EXDATEs removed, at most `limit`.
///
/// Wall time is kept in the series' zone (09:30 stays 09:30 across DST); COUNT counts from
/// DTSTART including excluded occurrences; UNTIL is inclusive (a DATE or floating UNTIL is read
/// in the series' zone). The walk is bounded, so no rule can make it run away.
///
/// # Errors
/// [`Unsupported::Rule`] for rule parts the expander does not evaluate (sub-daily FREQ,
/// BYHOUR/BYMINUTE/BYSECOND/BYYEARDAY/BYWEEKNO, unknown parts).
pub fn occurrences(
    series: &Series<'_>,
    from: DateTime<Utc>,
    limit: usize,
) -> Result<Vec<DateTime<Utc>>, Unsupported> {
    check_expandable(series.rule)?;
    let mut it = Expander::new(series);
    it.skip_to(from);
    Ok(it
        .filter(|o| o.start >= from && !series.exdates.contains(&o.start))
        .map(|o| o.start)
        .take(limit)
        .collect())
}

/// The shape of a rule Tencent can hold, before the end condition is applied.
struct Shape {
    recurring_type: i64,
    customized: Option<(i64, i64, Option<i64>)>,
    cap: usize,
}

/// Tencent weekday bit (bit0 = Sunday … bit6 = Saturday).
fn weekday_bit(w: Weekday) -> i64 {
    1 << w.num_days_from_sunday()
}

const WEEKDAYS: [Weekday; 5] = [
    Weekday::Mon,
    Weekday::Tue,
    Weekday::Wed,
    Weekday::Thu,
    Weekday::Fri,
];

/// Maps the rule's shape onto a `recurring_type` (DESIGN.md §1 table), or refuses.
fn shape(rule: &Rrule, dtstart: NaiveDate) -> Result<Shape, Unsupported> {
    check_expandable(rule)?;
    if rule.freq == Frequency::Yearly {
        return Err(refuse("FREQ=YEARLY has no Tencent equivalent"));
    }
    if let Some(m) = rule.by_month.first() {
        return Err(refuse(format!(
            "BYMONTH={m} limits the months, Tencent cannot"
        )));
    }
    let interval = i64::from(rule.interval);
    let start_wd = dtstart.weekday();
    let days: BTreeSet<u32> = rule
        .by_day
        .iter()
        .map(|d| d.weekday.num_days_from_monday())
        .collect();
    let mask = |days: &BTreeSet<u32>| -> i64 {
        days.iter()
            .filter_map(|d| Weekday::try_from(u8::try_from(*d).ok()?).ok())
            .map(weekday_bit)
            .sum()
    };
    let is_workweek = days.len() == 5
        && WEEKDAYS
            .iter()
            .all(|w| days.contains(&w.num_days_from_monday()));
    let customized = |ctype, step, days| Shape {
        recurring_type: 5,
        customized: Some((ctype, step, days)),
        cap: MAX_OCCURRENCES_LONG,
    };
    let fixed = |t, cap| Shape {
        recurring_type: t,
        customized: None,
        cap,
    };
    let need_start_day = |what: &str| {
        refuse(format!(
            "{what} does not include DTSTART's day ({}); Tencent needs the first meeting \
             to be an occurrence",
            wd_code(start_wd)
        ))
    };
    match rule.freq {
        Frequency::Daily => {
            if !rule.by_month_day.is_empty() {
                return Err(refuse("BYMONTHDAY in a DAILY rule"));
            }
            if !rule.by_set_pos.is_empty() {
                return Err(refuse("BYSETPOS in a DAILY rule"));
            }
            if days.is_empty() {
                return Ok(if interval == 1 {
                    fixed(0, MAX_OCCURRENCES_SHORT)
                } else {
                    customized(0, interval, None)
                });
            }
            if interval != 1 {
                return Err(refuse(format!(
                    "FREQ=DAILY;INTERVAL={interval} with BYDAY (every n-th day, weekdays only)"
                )));
            }
            if !days.contains(&start_wd.num_days_from_monday()) {
                return Err(need_start_day("BYDAY"));
            }
            // DAILY filtered by weekdays is the same set as WEEKLY on those weekdays.
            Ok(if is_workweek {
                fixed(1, MAX_OCCURRENCES_SHORT)
            } else {
                customized(1, 1, Some(mask(&days)))
            })
        }
        Frequency::Weekly => {
            if !rule.by_set_pos.is_empty() {
                return Err(refuse("BYSETPOS in a WEEKLY rule"));
            }
            let days = if days.is_empty() {
                BTreeSet::from([start_wd.num_days_from_monday()])
            } else {
                days
            };
            if !days.contains(&start_wd.num_days_from_monday()) {
                return Err(need_start_day("BYDAY"));
            }
            if days.len() == 1 {
                return Ok(match interval {
                    1 => fixed(2, MAX_OCCURRENCES_SHORT),
                    2 => fixed(3, MAX_OCCURRENCES_LONG),
                    n => customized(1, n, Some(mask(&days))),
                });
            }
            if interval == 1 {
                return Ok(if is_workweek {
                    fixed(1, MAX_OCCURRENCES_SHORT)
                } else {
                    customized(1, 1, Some(mask(&days)))
                });
            }
            // Every n weeks on several days: which days share a week depends on the week
            // start. Tencent's is undocumented, so accept only day sets that group the same
            // way whether weeks start on Monday, on Sunday or on the rule's WKST.
            let order = |w: Weekday| {
                let mut v: Vec<u32> = days
                    .iter()
                    .map(|d| (d + 7 - w.num_days_from_monday()) % 7)
                    .collect();
                v.sort_unstable();
                v.iter()
                    .map(|r| (r + w.num_days_from_monday()) % 7)
                    .collect::<Vec<_>>()
            };
            let wkst = rule.wkst.unwrap_or(Weekday::Mon);
            if order(Weekday::Mon) != order(Weekday::Sun) || order(Weekday::Mon) != order(wkst) {
                return Err(refuse(format!(
                    "INTERVAL={interval} on several days including a week-start day (WKST={}): \
                     which days share a week depends on the week start",
                    wd_code(wkst)
                )));
            }
            Ok(customized(1, interval, Some(mask(&days))))
        }
        Frequency::Monthly => monthly_shape(rule, dtstart, interval, &days, customized, fixed),
        _ => Err(refuse(format!("FREQ={}", rule.freq.as_str()))),
    }
}

fn monthly_shape(
    rule: &Rrule,
    dtstart: NaiveDate,
    interval: i64,
    days: &BTreeSet<u32>,
    customized: impl Fn(i64, i64, Option<i64>) -> Shape,
    fixed: impl Fn(i64, usize) -> Shape,
) -> Result<Shape, Unsupported> {
    let start_day = dtstart.day();
    if !rule.by_day.is_empty() && !rule.by_month_day.is_empty() {
        return Err(refuse("MONTHLY with both BYDAY and BYMONTHDAY"));
    }
    if !rule.by_day.is_empty() {
        // Outlook writes "3rd Thursday" as BYDAY=TH;BYSETPOS=3: the same set as BYDAY=3TH.
        let (weekday, ordinal) = match (rule.by_day.as_slice(), rule.by_set_pos.as_slice()) {
            ([w], []) => (w.weekday, w.ordinal),
            ([w], [pos]) if w.ordinal.is_none() => (w.weekday, i8::try_from(*pos).ok()),
            ([_], _) => return Err(refuse("BYSETPOS with BYDAY other than one plain weekday")),
            _ => {
                return Err(refuse(format!(
                    "MONTHLY on {} weekdays; Tencent repeats one weekday per month",
                    days.len().max(rule.by_day.len())
                )));
            }
        };
        let n = match ordinal {
            None => {
                return Err(refuse(
                    "MONTHLY BYDAY without an ordinal (every such weekday)",
                ));
            }
            Some(n) if n < 0 => {
                return Err(refuse(format!(
                    "BYDAY={n}{} counts from the month's end; Tencent's week bits count from \
                     the start",
                    wd_code(weekday)
                )));
            }
            Some(n) if n > 5 => return Err(refuse(format!("BYDAY ordinal {n} > 5"))),
            Some(n) => n,
        };
        let start_n = (start_day - 1) / 7 + 1;
        if dtstart.weekday() != weekday || u32::try_from(n).ok() != Some(start_n) {
            return Err(refuse(format!(
                "BYDAY={n}{} does not match DTSTART ({}, week {start_n})",
                wd_code(weekday),
                wd_code(dtstart.weekday())
            )));
        }
        // Week bits: bit7 = 1st … bit11 = 5th; a 5th week is skipped where missing, as in RFC.
        let bits = weekday_bit(weekday) + (1 << (6 + i64::from(n)));
        return Ok(customized(2, interval, Some(bits)));
    }
    if !rule.by_set_pos.is_empty() {
        return Err(refuse("BYSETPOS in a MONTHLY rule without BYDAY"));
    }
    let month_days: BTreeSet<i8> = if rule.by_month_day.is_empty() {
        BTreeSet::from([i8::try_from(start_day).unwrap_or(i8::MAX)])
    } else {
        rule.by_month_day.iter().copied().collect()
    };
    if let Some(neg) = month_days.iter().find(|d| **d < 0) {
        return Err(refuse(format!(
            "BYMONTHDAY={neg} counts from the month's end"
        )));
    }
    // RFC skips months without the day (no 31 in April); Tencent's behaviour there is not
    // documented, so only days every month has are mapped.
    if let Some(late) = month_days.iter().find(|d| **d > 28) {
        return Err(refuse(format!(
            "monthly on day {late}: months without that day are skipped by RFC 5545, \
             Tencent's handling is undocumented"
        )));
    }
    if !month_days.contains(&i8::try_from(start_day).unwrap_or(i8::MAX)) {
        return Err(refuse(format!(
            "BYMONTHDAY does not include DTSTART's day ({start_day})"
        )));
    }
    if month_days.len() == 1 && interval == 1 {
        return Ok(fixed(4, MAX_OCCURRENCES_LONG));
    }
    let bits = month_days
        .iter()
        .map(|d| 1_i64 << (i64::from(*d) - 1))
        .sum();
    Ok(customized(3, interval, Some(bits)))
}

fn wd_code(w: Weekday) -> &'static str {
    match w {
        Weekday::Mon => "MO",
        Weekday::Tue => "TU",
        Weekday::Wed => "WE",
        Weekday::Thu => "TH",
        Weekday::Fri => "FR",
        Weekday::Sat => "SA",
        Weekday::Sun => "SU",
    }
}

/// Maps a series onto Tencent's `recurring_rule`, starting at its next occurrence that has not
/// ended at `now` (a series that began in the past is picked up there, COUNT reduced by the
/// occurrences already over, UNTIL kept). Series longer than the API's limit, or without an
/// end, are created up to the limit with `truncated` set, to be extended later.
///
/// # Errors
/// [`Unsupported::Rule`] when Tencent cannot repeat the rule exactly (naming the part);
/// [`Unsupported::Ended`] when every occurrence has ended.
pub fn map_series(series: &Series<'_>, now: DateTime<Utc>) -> Result<SeriesPlan, Unsupported> {
    let shape = shape(series.rule, series.dtstart.date())?;
    let cap = shape.cap;
    let ended_before = now - series.duration;
    let mut it = Expander::new(series);
    it.skip_to(ended_before);
    // The first occurrence not yet over and not excluded.
    let Some(first) = it
        .by_ref()
        .find(|o| o.start > ended_before && !series.exdates.contains(&o.start))
    else {
        if it.walked >= MAX_PERIODS {
            return Err(refuse(format!(
                "the rule needs more than {MAX_PERIODS} periods to reach the present"
            )));
        }
        return Err(Unsupported::Ended);
    };
    let mut held: Vec<Occurrence> = vec![first];
    // One more than the cap tells whether the series goes on.
    let mut more = false;
    for o in it.by_ref() {
        if held.len() == cap {
            more = true;
            break;
        }
        held.push(o);
    }
    let bounded = series.rule.count.is_some() || series.rule.until.is_some();
    let remaining_total = match series.rule.count {
        Some(c) => usize::try_from(u64::from(c) - first.index).ok(),
        None if bounded && !more => Some(held.len()),
        None if bounded => {
            let rest = it.by_ref().count();
            // The walk stops at MAX_PERIODS; a series that long counts as unbounded.
            (it.walked < MAX_PERIODS).then_some(held.len() + 1 + rest)
        }
        None => None,
    };
    let truncated = more || !bounded;
    let last = held.last().map_or(first.start, |o| o.start);
    let (until_type, until_count, until_date) = if !truncated && series.rule.until.is_some() {
        (0, None, Some(last.timestamp()))
    } else {
        (1, i64::try_from(held.len()).ok(), None)
    };
    let (customized_recurring_type, customized_recurring_step, customized_recurring_days) =
        match shape.customized {
            Some((t, s, d)) => (Some(t), Some(s), d),
            None => (None, None, None),
        };
    Ok(SeriesPlan {
        first_start: first.start,
        first_end: first.start + series.duration,
        rule: RecurringRule {
            recurring_type: shape.recurring_type,
            until_type,
            until_count,
            until_date,
            customized_recurring_type,
            customized_recurring_step,
            customized_recurring_days,
            sub_meeting_id: None,
        },
        occurrences: held
            .iter()
            .map(|o| o.start)
            .filter(|s| !series.exdates.contains(s))
            .collect(),
        truncated,
        remaining_total,
    })
}

#[cfg(test)]
mod tests;
