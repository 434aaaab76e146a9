//! The `schedule` setting: a `cron` expression, validated with messages that teach its syntax,
//! and evaluated in UTC or on a zone's wall clock without DST skips or doubles.
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

/// A validated `schedule`: a `cron` expression evaluated in UTC or in a given zone.
///
/// In a zone, each wall-clock fire time runs exactly once: a time that does not exist
/// (spring-forward gap) runs as late as the jump, e.g. 02:30 → 03:30, and a time that exists
/// twice (fall-back) runs at its first occurrence only. Fire times never go backwards.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// The expression as the user wrote it, for messages.
    expr: String,
    /// The parsed expression.
    cron: cron::Schedule,
    /// The zone whose wall clock the expression describes; `None` means UTC.
    zone: Option<Tz>,
}

/// Why a `schedule` expression was rejected; each message shows the expected syntax.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// A five-field crontab line; this syntax needs seconds first.
    #[error(
        "schedule {expr:?} has 5 fields, like a crontab line, but calmeet's schedule has 6 or 7 \
         with seconds first ({SYNTAX}); write {suggestion:?}"
    )]
    FiveFields {
        /// The expression as written.
        expr: String,
        /// The same schedule in calmeet's syntax.
        suggestion: String,
    },
    /// Day-of-week given as numbers, which count from 1 = Sunday here (crontab: 1 = Monday).
    #[error(
        "schedule {expr:?}: day-of-week {field:?} uses numbers, which this syntax counts from \
         1 = Sunday (so it means {meaning}, not what crontab would); write day names instead, \
         e.g. \"Mon-Fri\""
    )]
    NumericWeekday {
        /// The expression as written.
        expr: String,
        /// The day-of-week field.
        field: String,
        /// The field with its numbers read as this syntax reads them.
        meaning: String,
    },
    /// Anything else the `cron` parser rejected.
    #[error(
        "schedule {expr:?} is not valid ({reason}); expected {SYNTAX}, e.g. \"0 */5 * * * *\" \
         (every five minutes) or \"0 0 9 * * Mon-Fri\" (09:00 on weekdays), with weekdays as \
         names"
    )]
    Invalid {
        /// The expression as written.
        expr: String,
        /// The parser's own words.
        reason: String,
    },
}

impl Schedule {
    /// Parses and validates `expr`, to be evaluated in `zone` (UTC when `None`).
    ///
    /// # Errors
    /// [`ScheduleError`] for a crontab-style five-field line, numeric weekdays (ambiguous between
    /// crontab and this syntax) and anything the `cron` crate rejects.
    pub fn parse(expr: &str, zone: Option<Tz>) -> Result<Self, ScheduleError> {
        let fields: Vec<&str> = expr.split_whitespace().collect();
        if fields.len() == 5 {
            let mut suggestion = vec!["0".to_owned()];
            suggestion.extend(fields[..4].iter().map(|f| (*f).to_owned()));
            suggestion.push(rename_weekdays(fields[4], crontab_weekday));
            return Err(ScheduleError::FiveFields {
                expr: expr.to_owned(),
                suggestion: suggestion.join(" "),
            });
        }
        if let Some(field) = fields.get(5)
            && (fields.len() == 6 || fields.len() == 7)
            && has_weekday_number(field)
        {
            return Err(ScheduleError::NumericWeekday {
                expr: expr.to_owned(),
                field: (*field).to_owned(),
                meaning: rename_weekdays(field, cron_weekday),
            });
        }
        let cron = cron::Schedule::from_str(expr).map_err(|err| ScheduleError::Invalid {
            expr: expr.to_owned(),
            reason: err.to_string(),
        })?;
        Ok(Self {
            expr: expr.to_owned(),
            cron,
            zone,
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
            return self.cron.after(&after).next();
        };
        // Evaluate the expression on the zone's wall clock (as if it were UTC, so no DST
        // surprises inside `cron`), map each wall time to one instant, and take the earliest
        // instant after `after`. The mapping is not monotonic around a gap, hence the window.
        let local = after.with_timezone(&zone).naive_local();
        let start = Utc.from_utc_datetime(&(local - ZONE_LOOKBACK));
        let give_up = local + TimeDelta::days(2);
        let mut best: Option<DateTime<Utc>> = None;
        let mut window_end: Option<NaiveDateTime> = None;
        for wall in self.cron.after(&start).map(|t| t.naive_utc()) {
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
            self.cron
                .after(&resume)
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

/// Day names in crontab's numbering: 0 and 7 = Sunday, 1 = Monday.
fn crontab_weekday(n: u32) -> Option<&'static str> {
    ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
        .get(usize::try_from(n).ok()?)
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
    fn five_field_crontab_line_is_rejected_with_a_translation() {
        let err = Schedule::parse("*/15 * * * 1-5", None).unwrap_err();
        assert_eq!(
            err,
            ScheduleError::FiveFields {
                expr: "*/15 * * * 1-5".into(),
                suggestion: "0 */15 * * * Mon-Fri".into()
            }
        );
        assert!(err.to_string().contains("seconds first"), "{err}");
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
        assert!(matches!(err, ScheduleError::Invalid { .. }));
        assert!(err.to_string().contains(SYNTAX), "{err}");
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
