//! The `schedule` setting: a standard five-field crontab line or the `cron` crate's six/seven
//! fields with seconds first, validated with one-sentence messages, and evaluated in UTC or on a
//! zone's wall clock without DST skips or doubles.
//!
//! A crontab line is read the way crontab(5) (Vixie cron, as Debian ships it) reads it and
//! translated into `cron` crate schedules: day-of-week 0 and 7 are Sunday, and when both
//! day-of-month and day-of-week are restricted (neither starts with `*`) a day matches when
//! *either* does. The `cron` crate itself requires both, so such a line becomes two schedules
//! whose fire times are merged.
//!
//! Pure: no clock, no I/O. The daemon loop asks it for the next fire time after the last one.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, LocalResult, NaiveDateTime, Offset, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;

/// The fields of a schedule, in order, as the `cron` crate reads them.
const SYNTAX: &str = "sec min hour day-of-month month day-of-week [year]";

/// How far before "now" (in wall-clock time) candidates are examined when a zone is set; covers
/// the largest offset change of any zone (a fold moves the wall clock back by at most 2 h).
const ZONE_LOOKBACK: TimeDelta = TimeDelta::hours(3);

/// A validated `schedule`: a crontab line or `cron` expression evaluated in UTC or in a zone.
///
/// In a zone, each wall-clock fire time runs exactly once: a time that does not exist
/// (spring-forward gap) runs as late as the jump, e.g. 02:30 → 03:30, and a time that exists
/// twice (fall-back) runs at its first occurrence only. Fire times never go backwards.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// The expression as the user wrote it, for messages.
    expr: String,
    /// The parsed expression: one schedule, or two whose fire times are merged (a crontab
    /// line restricting both day-of-month and day-of-week matches either).
    cron: Vec<cron::Schedule>,
    /// The zone whose wall clock the expression describes; `None` means UTC.
    zone: Option<Tz>,
}

/// Why a `schedule` expression was rejected; each message is one sentence that shows the
/// expected syntax.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// Neither 5 (crontab) nor 6 or 7 fields (seconds first).
    #[error(
        "schedule {expr:?} has {count} fields; write a crontab line ({CRONTAB}, e.g. \"*/5 * * * *\") \
         or 6 or 7 fields with seconds first ({SYNTAX})"
    )]
    FieldCount {
        /// The expression as written.
        expr: String,
        /// How many whitespace-separated fields it has.
        count: usize,
    },
    /// One field of a crontab line is not a valid value, range, step or list.
    #[error(
        "schedule {expr:?}: the {name} field {field:?} is not valid; it takes {allowed} as \
         a number, a range a-b, a step */n or a-b/n, or a comma-separated list of those"
    )]
    CrontabField {
        /// The expression as written.
        expr: String,
        /// Which field (minute, hour, …).
        name: &'static str,
        /// The field as written.
        field: String,
        /// Its allowed values.
        allowed: &'static str,
    },
    /// Day-of-week given as numbers in the seconds-first form, which counts from 1 = Sunday
    /// (crontab: 1 = Monday).
    #[error(
        "schedule {expr:?}: day-of-week {field:?} uses numbers, which the seconds-first form \
         counts from 1 = Sunday (so it means {meaning}, not what crontab would); write day names \
         instead, e.g. \"Mon-Fri\""
    )]
    NumericWeekday {
        /// The expression as written.
        expr: String,
        /// The day-of-week field.
        field: String,
        /// The field with its numbers read as this syntax reads them.
        meaning: String,
    },
    /// A seconds-first expression the `cron` parser rejected.
    #[error(
        "schedule {expr:?} is not valid: {reason}; expected a crontab line ({CRONTAB}, e.g. \
         \"*/5 * * * *\") or 6 or 7 fields with seconds first ({SYNTAX})"
    )]
    Invalid {
        /// The expression as written.
        expr: String,
        /// Which field is wrong, in our words (the parser's own message is a multi-line
        /// diagram).
        reason: String,
    },
}

impl Schedule {
    /// Parses and validates `expr`, to be evaluated in `zone` (UTC when `None`).
    ///
    /// Five fields are a crontab line (crontab(5)); six or seven are the `cron` crate's form
    /// with seconds first and an optional year; `@hourly`, `@daily`, `@weekly`, `@monthly` and
    /// `@yearly` are accepted too.
    ///
    /// # Errors
    /// [`ScheduleError`]: a wrong number of fields, a bad crontab field, numeric weekdays in the
    /// seconds-first form (ambiguous between crontab and that syntax), or anything the `cron`
    /// crate rejects.
    pub fn parse(expr: &str, zone: Option<Tz>) -> Result<Self, ScheduleError> {
        let fields: Vec<&str> = expr.split_whitespace().collect();
        let cron = match fields.len() {
            1 if expr.trim_start().starts_with('@') => vec![seconds_first(expr)?],
            5 => crontab(expr, &fields)?,
            6 | 7 => {
                if has_weekday_number(fields[5]) {
                    return Err(ScheduleError::NumericWeekday {
                        expr: expr.to_owned(),
                        field: fields[5].to_owned(),
                        meaning: rename_weekdays(fields[5], cron_weekday),
                    });
                }
                vec![seconds_first(expr)?]
            }
            count => {
                return Err(ScheduleError::FieldCount {
                    expr: expr.to_owned(),
                    count,
                });
            }
        };
        Ok(Self {
            expr: expr.to_owned(),
            cron,
            zone,
        })
    }

    /// Fire times on the schedule's own clock strictly after `after`, in order, each once.
    fn upcoming(&self, after: DateTime<Utc>) -> impl Iterator<Item = DateTime<Utc>> + '_ {
        let mut heads: Vec<_> = self
            .cron
            .iter()
            .map(|c| c.after_owned(after).peekable())
            .collect();
        std::iter::from_fn(move || {
            let next = heads.iter_mut().filter_map(|h| h.peek().copied()).min()?;
            for h in &mut heads {
                if h.peek() == Some(&next) {
                    h.next();
                }
            }
            Some(next)
        })
    }

    /// The zone the schedule is evaluated in; `None` means UTC.
    #[must_use]
    pub fn zone(&self) -> Option<Tz> {
        self.zone
    }

    /// The first fire time strictly after `after`, or `None` if the schedule has ended (a
    /// year field in the past).
    #[must_use]
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let Some(zone) = self.zone else {
            return self.upcoming(after).next();
        };
        // Evaluate the expression on the zone's wall clock (as if it were UTC, so no DST
        // surprises inside `cron`), map each wall time to one instant, and take the earliest
        // instant after `after`. The mapping is not monotonic around a gap, hence the window.
        let local = after.with_timezone(&zone).naive_local();
        let start = Utc.from_utc_datetime(&(local - ZONE_LOOKBACK));
        let give_up = local + TimeDelta::days(2);
        let mut best: Option<DateTime<Utc>> = None;
        let mut window_end: Option<NaiveDateTime> = None;
        for wall in self.upcoming(start).map(|t| t.naive_utc()) {
            if window_end.is_some_and(|end| wall > end) || (best.is_none() && wall > give_up) {
                break;
            }
            let instant = wall_to_instant(zone, wall);
            if instant > after && best.is_none_or(|b| instant < b) {
                best = Some(instant);
                window_end.get_or_insert(wall + ZONE_LOOKBACK);
            }
        }
        best.or_else(|| {
            // Nothing within two days of wall time: continue from there (sparse schedules).
            let resume = Utc.from_utc_datetime(&give_up);
            self.upcoming(resume)
                .map(|t| wall_to_instant(zone, t.naive_utc()))
                .find(|instant| *instant > after)
        })
    }

    /// `time` as `HH:MM` with the zone's abbreviation, for STATUS lines and logs.
    #[must_use]
    pub fn format_time(&self, time: DateTime<Utc>) -> String {
        match self.zone {
            Some(zone) => time.with_timezone(&zone).format("%H:%M %Z").to_string(),
            None => time.format("%H:%M UTC").to_string(),
        }
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.zone {
            Some(zone) => write!(f, "\"{}\" in {}", self.expr, zone.name()),
            None => write!(f, "\"{}\" in UTC", self.expr),
        }
    }
}

/// The one instant for a wall-clock time in `zone` (see [`Schedule`] for gap and fold rules).
fn wall_to_instant(zone: Tz, wall: NaiveDateTime) -> DateTime<Utc> {
    match zone.from_local_datetime(&wall) {
        LocalResult::Single(t) => t.to_utc(),
        LocalResult::Ambiguous(first, _) => first.to_utc(),
        LocalResult::None => {
            // In a gap: read the wall time with the offset in force before the jump, as most
            // schedulers and RFC 5545 do (02:30 on a one-hour spring-forward day → 03:30).
            let before = zone
                .offset_from_utc_datetime(&(wall - TimeDelta::days(1)))
                .fix()
                .local_minus_utc();
            Utc.from_utc_datetime(&(wall - TimeDelta::seconds(i64::from(before))))
        }
    }
}

/// The fields of a crontab line, in order.
const CRONTAB: &str = "min hour day-of-month month day-of-week";

/// One crontab field: its name, its range of numbers, its allowed values for messages, and
/// the names it accepts (index + `first` is the number).
struct CrontabField {
    name: &'static str,
    first: u32,
    last: u32,
    allowed: &'static str,
    names: &'static [&'static str],
}

const MONTH_NAMES: &[&str] = &[
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const DAY_NAMES: &[&str] = &["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

/// crontab(5)'s five fields.
const CRONTAB_FIELDS: [CrontabField; 5] = [
    CrontabField {
        name: "minute",
        first: 0,
        last: 59,
        allowed: "0-59",
        names: &[],
    },
    CrontabField {
        name: "hour",
        first: 0,
        last: 23,
        allowed: "0-23",
        names: &[],
    },
    CrontabField {
        name: "day-of-month",
        first: 1,
        last: 31,
        allowed: "1-31",
        names: &[],
    },
    CrontabField {
        name: "month",
        first: 1,
        last: 12,
        allowed: "1-12 or jan-dec",
        names: MONTH_NAMES,
    },
    CrontabField {
        // 7 is Sunday as well as 0.
        name: "day-of-week",
        first: 0,
        last: 7,
        allowed: "0-7 (0 and 7 are Sunday) or sun-sat",
        names: DAY_NAMES,
    },
];

/// A seconds-first expression parsed by the `cron` crate; a rejection names the first field
/// the crate does not accept, found by parsing each field alone.
fn seconds_first(expr: &str) -> Result<cron::Schedule, ScheduleError> {
    cron::Schedule::from_str(expr).map_err(|_| {
        const NAMES: [&str; 7] = [
            "second",
            "minute",
            "hour",
            "day-of-month",
            "month",
            "day-of-week",
            "year",
        ];
        let fields: Vec<&str> = expr.split_whitespace().collect();
        let bad = (fields.len() > 1).then_some(()).and_then(|()| {
            (0..fields.len()).find(|&i| {
                let mut probe = ["0", "0", "0", "*", "*", "*", "*"];
                probe[i] = fields[i];
                cron::Schedule::from_str(&probe.join(" ")).is_err()
            })
        });
        let reason = match bad.and_then(|i| Some((NAMES.get(i)?, fields[i]))) {
            Some((name, field)) => format!("the {name} field {field:?} is not accepted"),
            None if fields.len() == 1 => "not a known @-shorthand (@hourly, @daily, @weekly, \
                 @monthly, @yearly)"
                .to_owned(),
            None => "its fields do not fit together".to_owned(),
        };
        ScheduleError::Invalid {
            expr: expr.to_owned(),
            reason,
        }
    })
}

/// Reads a crontab line as crontab(5) does and builds the equivalent `cron` schedules.
fn crontab(expr: &str, fields: &[&str]) -> Result<Vec<cron::Schedule>, ScheduleError> {
    let mut sets = Vec::with_capacity(5);
    for (field, spec) in fields.iter().zip(&CRONTAB_FIELDS) {
        let set = crontab_values(field, spec).ok_or_else(|| ScheduleError::CrontabField {
            expr: expr.to_owned(),
            name: spec.name,
            field: (*field).to_owned(),
            allowed: spec.allowed,
        })?;
        sets.push(set);
    }
    let list = |v: &[u32]| v.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
    // Day-of-week 7 is Sunday; the `cron` crate takes names, so no numbering can be confused.
    let mut days: Vec<u32> = sets[4].iter().map(|d| d % 7).collect();
    days.sort_unstable();
    days.dedup();
    let dow = if days.len() == 7 {
        "*".to_owned()
    } else {
        days.iter()
            .filter_map(|&d| DAY_NAMES.get(usize::try_from(d).ok()?).copied())
            .collect::<Vec<_>>()
            .join(",")
    };
    let dom = list(&sets[2]);
    let head = format!("0 {} {}", list(&sets[0]), list(&sets[1]));
    let month = list(&sets[3]);
    // crontab(5): "If both fields are restricted (i.e., don't start with *), the command will
    // be run when either field matches the current time."
    let both_restricted = !fields[2].starts_with('*') && !fields[4].starts_with('*');
    let exprs = if both_restricted {
        vec![
            format!("{head} {dom} {month} *"),
            format!("{head} * {month} {dow}"),
        ]
    } else {
        vec![format!("{head} {dom} {month} {dow}")]
    };
    exprs
        .iter()
        .map(|e| {
            cron::Schedule::from_str(e).map_err(|_| ScheduleError::Invalid {
                expr: expr.to_owned(),
                reason: "its fields do not fit together".to_owned(),
            })
        })
        .collect()
}

/// The numbers one crontab field selects (sorted, without repeats), or `None` when it is not
/// valid: `*`, `n`, `a-b`, `*/s`, `a-b/s`, names where the field has them, comma-separated.
fn crontab_values(field: &str, spec: &CrontabField) -> Option<Vec<u32>> {
    let number = |s: &str| -> Option<u32> {
        let n = match s.parse::<u32>() {
            Ok(n) => n,
            Err(_) => {
                let lower = s.to_ascii_lowercase();
                let i = spec.names.iter().position(|name| *name == lower)?;
                spec.first + u32::try_from(i).ok()?
            }
        };
        (spec.first..=spec.last).contains(&n).then_some(n)
    };
    let mut out = Vec::new();
    for part in field.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (r, s.parse::<u32>().ok().filter(|s| *s > 0)?),
            None => (part, 1),
        };
        let (lo, hi) = if range == "*" {
            (spec.first, spec.last)
        } else if let Some((a, b)) = range.split_once('-') {
            (number(a)?, number(b)?)
        } else if step == 1 {
            let n = number(range)?;
            (n, n)
        } else {
            // "5/10" is not crontab(5) syntax (some crons read it as 5-max/10); refuse it.
            return None;
        };
        if lo > hi {
            return None;
        }
        out.extend((lo..=hi).step_by(usize::try_from(step).ok()?));
    }
    out.sort_unstable();
    out.dedup();
    Some(out)
}

/// True if a day-of-week field names a day by number (a step such as `*/2` does not).
fn has_weekday_number(field: &str) -> bool {
    let mut after_slash = false;
    field.chars().any(|c| {
        let numeric_day = c.is_ascii_digit() && !after_slash;
        if c == '/' {
            after_slash = true;
        } else if !c.is_ascii_digit() {
            after_slash = false;
        }
        numeric_day
    })
}

/// Replaces the day numbers of a day-of-week field by names, leaving steps (`/2`) alone.
fn rename_weekdays(field: &str, name_of: fn(u32) -> Option<&'static str>) -> String {
    let mut out = String::new();
    let mut digits = String::new();
    let mut after_slash = false;
    let flush = |digits: &mut String, out: &mut String, after_slash: bool| {
        if digits.is_empty() {
            return;
        }
        let name = digits.parse().ok().and_then(name_of);
        match name {
            Some(name) if !after_slash => out.push_str(name),
            _ => out.push_str(digits),
        }
        digits.clear();
    };
    for c in field.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        flush(&mut digits, &mut out, after_slash);
        after_slash = c == '/';
        out.push(c);
    }
    flush(&mut digits, &mut out, after_slash);
    out
}

/// Day names in the `cron` crate's numbering: 1 = Sunday … 7 = Saturday.
fn cron_weekday(n: u32) -> Option<&'static str> {
    ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        .get(usize::try_from(n.checked_sub(1)?).ok()?)
        .copied()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    #[test]
    fn numeric_weekdays_are_rejected_and_explained() {
        let err = Schedule::parse("0 0 9 * * 1-5", None).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("Sun-Thu"), "{text}");
        assert!(text.contains("Mon-Fri"), "{text}");
    }

    #[test]
    fn steps_in_weekday_field_are_not_weekday_numbers() {
        assert!(Schedule::parse("0 0 9 * * */2", None).is_ok());
        assert!(Schedule::parse("0 0 9 * * Mon-Fri", None).is_ok());
    }

    #[test]
    fn garbage_gets_the_syntax_in_the_message() {
        let err = Schedule::parse("every five minutes", None).unwrap_err();
        assert!(matches!(err, ScheduleError::FieldCount { count: 3, .. }));
        assert!(err.to_string().contains(SYNTAX), "{err}");
        assert!(err.to_string().contains(CRONTAB), "{err}");
    }

    /// Fire times of crontab lines, worked out by hand from crontab(5): steps, ranges, names,
    /// Sunday as 0 and 7, ranges through Sunday, and the day-of-month / day-of-week rule (either
    /// matches when both are restricted; a field starting with `*` counts as unrestricted).
    #[test]
    fn crontab_lines_fire_when_cron_would() {
        // 2026-01-01 is a Thursday; 2026-04-01 a Wednesday (13 April a Monday, 1 May a Friday).
        let cases: &[(&str, &str, &[&str])] = &[
            (
                "*/5 * * * *",
                "2026-01-01T12:03:00Z",
                &["2026-01-01T12:05:00Z", "2026-01-01T12:10:00Z"],
            ),
            (
                "15 10-12/2 * * *",
                "2026-01-01T00:00:00Z",
                &[
                    "2026-01-01T10:15:00Z",
                    "2026-01-01T12:15:00Z",
                    "2026-01-02T10:15:00Z",
                ],
            ),
            (
                "0 9 * * 1-5",
                "2026-01-03T00:00:00Z",
                &["2026-01-05T09:00:00Z", "2026-01-06T09:00:00Z"],
            ),
            (
                "0 9 * * 0",
                "2026-01-01T00:00:00Z",
                &["2026-01-04T09:00:00Z", "2026-01-11T09:00:00Z"],
            ),
            (
                "0 9 * * 7",
                "2026-01-01T00:00:00Z",
                &["2026-01-04T09:00:00Z", "2026-01-11T09:00:00Z"],
            ),
            (
                "0 9 * * SUN",
                "2026-01-01T00:00:00Z",
                &["2026-01-04T09:00:00Z"],
            ),
            (
                "0 9 * * 5-7",
                "2026-01-01T10:00:00Z",
                &[
                    "2026-01-02T09:00:00Z",
                    "2026-01-03T09:00:00Z",
                    "2026-01-04T09:00:00Z",
                    "2026-01-09T09:00:00Z",
                ],
            ),
            (
                "0 0 13 * 5",
                "2026-04-01T00:00:00Z",
                &[
                    "2026-04-03T00:00:00Z",
                    "2026-04-10T00:00:00Z",
                    "2026-04-13T00:00:00Z",
                    "2026-04-17T00:00:00Z",
                ],
            ),
            (
                "30 4 1,15 * mon",
                "2026-04-01T05:00:00Z",
                &[
                    "2026-04-06T04:30:00Z",
                    "2026-04-13T04:30:00Z",
                    "2026-04-15T04:30:00Z",
                    "2026-04-20T04:30:00Z",
                ],
            ),
            (
                "0 0 */2 * 5",
                "2026-04-01T00:00:00Z",
                &[
                    "2026-04-03T00:00:00Z",
                    "2026-04-17T00:00:00Z",
                    "2026-05-01T00:00:00Z",
                ],
            ),
            (
                "0 0 1 * *",
                "2026-01-15T00:00:00Z",
                &["2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z"],
            ),
            (
                "0 12 * jan,JUL sun",
                "2026-01-30T00:00:00Z",
                &["2026-07-05T12:00:00Z", "2026-07-12T12:00:00Z"],
            ),
        ];
        for (expr, start, want) in cases {
            let s = Schedule::parse(expr, None).unwrap_or_else(|e| panic!("{expr}: {e}"));
            let mut t = utc(start);
            for w in *want {
                let next = s.next_after(t).unwrap();
                assert_eq!(next, utc(w), "{expr} after {t}");
                t = next;
            }
        }
    }

    #[test]
    fn crontab_line_and_seconds_first_form_agree() {
        let five = Schedule::parse("*/5 * * * *", None).unwrap();
        let six = Schedule::parse("0 */5 * * * *", None).unwrap();
        let mut t = utc("2026-03-01T00:00:01Z");
        for _ in 0..50 {
            let next = five.next_after(t).unwrap();
            assert_eq!(Some(next), six.next_after(t));
            t = next;
        }
    }

    /// Every kind of bad schedule gets one sentence (no parser diagram) naming what is wrong.
    #[test]
    fn bad_schedules_are_one_sentence_naming_the_field() {
        let cases = [
            ("61 * * * *", "minute"),
            ("* 24 * * *", "hour"),
            ("* * 0 * *", "day-of-month"),
            ("* * * 13 *", "month"),
            ("* * * * 8", "day-of-week"),
            ("5/10 * * * *", "minute"),
            ("*/0 * * * *", "minute"),
            ("* * * * 5-1", "day-of-week"),
            ("1 2 3", "3 fields"),
            ("0 61 * * * *", "minute"),
            ("0 0 0 * * Mon-Fri 1900", "year"),
            ("0 0 9 * * 1-5", "Mon-Fri"),
            ("@often", "@hourly"),
        ];
        for (expr, names) in cases {
            let err = Schedule::parse(expr, None).unwrap_err().to_string();
            assert!(err.contains(names), "{expr}: {err}");
            assert!(!err.contains('\n') && !err.contains('^'), "{expr}: {err}");
            assert!(err.matches("; ").count() <= 1, "{expr}: {err}");
        }
    }

    #[test]
    fn utc_schedule_fires_strictly_after() {
        let s = Schedule::parse("0 */5 * * * *", None).unwrap();
        let t = utc("2026-01-01T12:05:00Z");
        assert_eq!(s.next_after(t), Some(utc("2026-01-01T12:10:00Z")));
        assert_eq!(
            s.next_after(utc("2026-01-01T12:04:59Z")),
            Some(utc("2026-01-01T12:05:00Z"))
        );
    }

    #[test]
    fn spring_forward_gap_runs_once_after_the_jump() {
        let s = Schedule::parse("0 30 2 * * *", Some(chrono_tz::Europe::Berlin)).unwrap();
        // 2026-03-29 02:00 CET → 03:00 CEST; 02:30 does not exist.
        let day_before = s.next_after(utc("2026-03-28T00:00:00Z")).unwrap();
        assert_eq!(day_before, utc("2026-03-28T01:30:00Z"));
        let gap_day = s.next_after(day_before).unwrap();
        assert_eq!(gap_day, utc("2026-03-29T01:30:00Z")); // 03:30 CEST
        assert_eq!(s.next_after(gap_day), Some(utc("2026-03-30T00:30:00Z")));
    }

    #[test]
    fn fall_back_fold_runs_once() {
        let s = Schedule::parse("0 30 2 * * *", Some(chrono_tz::Europe::Berlin)).unwrap();
        // 2026-10-25 03:00 CEST → 02:00 CET; 02:30 happens twice.
        let first = s.next_after(utc("2026-10-24T12:00:00Z")).unwrap();
        assert_eq!(first, utc("2026-10-25T00:30:00Z")); // 02:30 CEST
        assert_eq!(s.next_after(first), Some(utc("2026-10-26T01:30:00Z")));
    }

    #[test]
    fn zoned_fire_times_increase_through_both_transitions() {
        let s = Schedule::parse("0 */20 * * * *", Some(chrono_tz::Europe::Berlin)).unwrap();
        for start in ["2026-03-28T22:00:00Z", "2026-10-24T22:00:00Z"] {
            let mut t = utc(start);
            for _ in 0..30 {
                let next = s.next_after(t).unwrap();
                assert!(next > t);
                assert!(next - t <= TimeDelta::hours(1) + TimeDelta::minutes(20));
                t = next;
            }
        }
    }

    #[test]
    fn zoned_weekday_schedule_uses_local_days() {
        let s = Schedule::parse("0 0 9 * * Mon-Fri", Some(chrono_tz::Asia::Shanghai)).unwrap();
        // Saturday 2026-01-03 → Monday 2026-01-05 09:00 +08:00.
        assert_eq!(
            s.next_after(utc("2026-01-03T00:00:00Z")),
            Some(utc("2026-01-05T01:00:00Z"))
        );
    }
}
