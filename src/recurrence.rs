//! Recurrence: parses RRULE text, expands a series in the wall time of its zone, and maps a
//! series onto Tencent Meeting's `recurring_rule` — exactly, or not at all.
//!
//! This module owns the RRULE → `recurring_type` table of DESIGN.md §1, the API's occurrence
//! limits, and how a series that began in the past is picked up at its next occurrence.
//! It must never do I/O, never read the clock (the caller passes `now`), and never approximate:
//! a rule Tencent cannot repeat exactly is refused with a reason naming the rule part.

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, NaiveDate, Utc, Weekday};

mod expand;
mod rrule;

pub use expand::{Series, occurrences, rule_instants};
pub use rrule::{Frequency, Rrule, RruleError, Until, WeekdayNum};

use expand::{Expander, MAX_PERIODS, Occurrence, check_expandable};

/// Tencent Meeting's `recurring_rule` object (API reference §3.1); plain data.
pub use crate::tencent::types::RecurringRule;

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
    /// Start of the last slot the rule sent holds, excluded or not: `until_count` counts
    /// excluded slots and `until_date` may fall on one, so the meeting holds a sub-meeting
    /// there that an EXDATE must cancel.
    pub last_slot: DateTime<Utc>,
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

impl Shape {
    /// One of the five fixed types.
    fn fixed(recurring_type: i64, cap: usize) -> Shape {
        Shape {
            recurring_type,
            customized: None,
            cap,
        }
    }

    /// Customized recurrence (type 5). Its limit is undocumented [API reference §3.2], so the
    /// smaller documented one applies: a series cut short is extended later, a count the API
    /// rejects would fail the create.
    fn customized(ctype: i64, step: i64, days: Option<i64>) -> Shape {
        Shape {
            recurring_type: 5,
            customized: Some((ctype, step, days)),
            cap: MAX_OCCURRENCES_LONG,
        }
    }
}

/// Weekdays as `num_days_from_monday` values.
type DaySet = BTreeSet<u32>;

/// Tencent's weekday mask of a day set.
fn weekday_mask(days: &DaySet) -> i64 {
    days.iter()
        .filter_map(|d| Weekday::try_from(u8::try_from(*d).ok()?).ok())
        .map(weekday_bit)
        .sum()
}

fn is_workweek(days: &DaySet) -> bool {
    days.len() == 5
        && WEEKDAYS
            .iter()
            .all(|w| days.contains(&w.num_days_from_monday()))
}

fn missing_start_day(start: Weekday) -> Unsupported {
    refuse(format!(
        "BYDAY does not include DTSTART's day ({}); Tencent needs the first meeting to be an \
         occurrence",
        wd_code(start)
    ))
}

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
    let days: DaySet = rule
        .by_day
        .iter()
        .map(|d| d.weekday.num_days_from_monday())
        .collect();
    // Every day of the week, once a week, is simply daily.
    if days.len() == 7
        && interval == 1
        && matches!(rule.freq, Frequency::Daily | Frequency::Weekly)
        && rule.by_month_day.is_empty()
        && rule.by_set_pos.is_empty()
    {
        return Ok(Shape::fixed(0, MAX_OCCURRENCES_SHORT));
    }
    match rule.freq {
        Frequency::Daily => daily_shape(rule, dtstart.weekday(), interval, &days),
        Frequency::Weekly => weekly_shape(rule, dtstart.weekday(), interval, days),
        Frequency::Monthly => monthly_shape(rule, dtstart, interval, &days),
        _ => Err(refuse(format!("FREQ={}", rule.freq.as_str()))),
    }
}

fn daily_shape(
    rule: &Rrule,
    start: Weekday,
    interval: i64,
    days: &DaySet,
) -> Result<Shape, Unsupported> {
    if !rule.by_month_day.is_empty() {
        return Err(refuse("BYMONTHDAY in a DAILY rule"));
    }
    if !rule.by_set_pos.is_empty() {
        return Err(refuse("BYSETPOS in a DAILY rule"));
    }
    if days.is_empty() {
        return Ok(if interval == 1 {
            Shape::fixed(0, MAX_OCCURRENCES_SHORT)
        } else {
            Shape::customized(0, interval, None)
        });
    }
    if interval != 1 {
        return Err(refuse(format!(
            "FREQ=DAILY;INTERVAL={interval} with BYDAY (every n-th day, weekdays only)"
        )));
    }
    if !days.contains(&start.num_days_from_monday()) {
        return Err(missing_start_day(start));
    }
    // DAILY filtered by weekdays is the same set as WEEKLY on those weekdays.
    Ok(if is_workweek(days) {
        Shape::fixed(1, MAX_OCCURRENCES_SHORT)
    } else {
        Shape::customized(1, 1, Some(weekday_mask(days)))
    })
}

fn weekly_shape(
    rule: &Rrule,
    start: Weekday,
    interval: i64,
    days: DaySet,
) -> Result<Shape, Unsupported> {
    if !rule.by_set_pos.is_empty() {
        return Err(refuse("BYSETPOS in a WEEKLY rule"));
    }
    let days = if days.is_empty() {
        BTreeSet::from([start.num_days_from_monday()])
    } else {
        days
    };
    if !days.contains(&start.num_days_from_monday()) {
        return Err(missing_start_day(start));
    }
    if days.len() == 1 {
        return Ok(match interval {
            1 => Shape::fixed(2, MAX_OCCURRENCES_SHORT),
            2 => Shape::fixed(3, MAX_OCCURRENCES_LONG),
            n => Shape::customized(1, n, Some(weekday_mask(&days))),
        });
    }
    if interval == 1 {
        return Ok(if is_workweek(&days) {
            Shape::fixed(1, MAX_OCCURRENCES_SHORT)
        } else {
            Shape::customized(1, 1, Some(weekday_mask(&days)))
        });
    }
    // Every n weeks on several days: which days share a week depends on the week start.
    // Tencent's is undocumented, so accept only day sets that group the same way whether
    // weeks start on Monday, on Sunday or on the rule's WKST.
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
    Ok(Shape::customized(1, interval, Some(weekday_mask(&days))))
}

fn monthly_shape(
    rule: &Rrule,
    dtstart: NaiveDate,
    interval: i64,
    days: &DaySet,
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
        return Ok(Shape::customized(2, interval, Some(bits)));
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
        return Ok(Shape::fixed(4, MAX_OCCURRENCES_LONG));
    }
    let bits = month_days
        .iter()
        .map(|d| 1_i64 << (i64::from(*d) - 1))
        .sum();
    Ok(Shape::customized(3, interval, Some(bits)))
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
        last_slot: last,
    })
}

#[cfg(test)]
mod tests;
