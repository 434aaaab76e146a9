//! RRULE text → [`Rrule`]: tolerant of what real producers write (lowercase, spaces in lists,
//! trailing `;`, floating or DATE `UNTIL`), strict about values. Parsing only: no meaning.

use std::collections::BTreeSet;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc, Weekday};

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
                    rule.by_set_pos = list(value, |v| int_in(v, 1, 366)).ok_or_else(invalid)?;
                }
                "BYHOUR" => {
                    rule.by_hour =
                        list(value, |v| v.parse().ok().filter(|h| *h < 24)).ok_or_else(invalid)?;
                }
                "BYMINUTE" => {
                    rule.by_minute =
                        list(value, |v| v.parse().ok().filter(|m| *m < 60)).ok_or_else(invalid)?;
                }
                "BYSECOND" => {
                    rule.by_second =
                        list(value, |v| v.parse().ok().filter(|s| *s <= 60)).ok_or_else(invalid)?;
                }
                "BYYEARDAY" => {
                    rule.by_year_day = list(value, |v| int_in(v, 1, 366)).ok_or_else(invalid)?;
                }
                "BYWEEKNO" => {
                    rule.by_week_no = list(value, |v| int_in(v, 1, 53)).ok_or_else(invalid)?;
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
