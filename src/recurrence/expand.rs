//! Expansion of a series into occurrence starts, in the wall time of its zone, for the subset
//! of RFC 5545 calendar apps write (DAILY/WEEKLY/MONTHLY/YEARLY with BYDAY, BYMONTHDAY,
//! BYMONTH, BYSETPOS). Every walk is bounded; no I/O, no clock.

use std::collections::VecDeque;

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, Utc, Weekday};

use super::{Frequency, Rrule, Unsupported, Until, refuse};
use crate::tz::{Zone, last_day_of_month, month_day, nth_weekday_of_month};

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

/// Most periods (days, weeks, months, years) an expansion walks, so that no rule can make
/// the daemon spin (e.g. `FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30` never matches).
pub(super) const MAX_PERIODS: u64 = 200_000;

/// Checks that the expander can evaluate `rule` (the subset real calendar apps write).
pub(super) fn check_expandable(rule: &Rrule) -> Result<(), Unsupported> {
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
pub(super) struct Occurrence {
    /// 0-based position in the series (counts excluded occurrences, as COUNT does).
    pub(super) index: u64,
    pub(super) start: DateTime<Utc>,
}

/// Walks a series period by period in wall time.
pub(super) struct Expander<'s, 'a> {
    series: &'s Series<'a>,
    until: Option<DateTime<Utc>>,
    period: u64,
    /// Periods actually walked (the bound applies to these, not to skipped ones).
    pub(super) walked: u64,
    buffer: VecDeque<NaiveDateTime>,
    emitted: u64,
    /// Whether DTSTART (always the first occurrence) has been produced.
    dtstart_done: bool,
    /// An exclusion rule: DTSTART is an instance only when the rule itself produces it.
    natural_only: bool,
    finished: bool,
}

impl<'s, 'a> Expander<'s, 'a> {
    pub(super) fn new(series: &'s Series<'a>) -> Self {
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
            buffer: VecDeque::new(),
            emitted: 0,
            dtstart_done: false,
            natural_only: false,
            finished: false,
        }
    }

    /// An expander for an exclusion rule (EXRULE): its instances are only those the rule
    /// produces, from DTSTART on; DTSTART is not added unless the rule produces it.
    fn exclusion(series: &'s Series<'a>) -> Self {
        let mut it = Expander::new(series);
        it.dtstart_done = true;
        it.natural_only = true;
        it
    }

    /// Skips whole periods that end before `from` (only when COUNT does not need them counted).
    pub(super) fn skip_to(&mut self, from: DateTime<Utc>) {
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
            if self.natural_only {
                if local < self.series.dtstart {
                    continue;
                }
            } else if local <= self.series.dtstart && self.emitted > 0 {
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
    let by_monthday: Vec<NaiveDate> = rule
        .by_month_day
        .iter()
        .filter_map(|d| month_day(year, month, *d))
        .collect();
    let by_weekday: Vec<NaiveDate> = rule
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
        (false, false) => by_monthday
            .into_iter()
            .filter(|d| by_weekday.contains(d))
            .collect(),
        (false, true) => by_monthday,
        (true, false) => by_weekday,
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

/// The instants of a recurrence rule from DTSTART on, up to `through` (inclusive) when given,
/// at most `limit`, and whether that is all of them up to `through` (the rule ended by COUNT
/// or UNTIL, or passed `through`, within `limit` instants and the walk bound).
/// With `exclusion`, the rule is an EXRULE (RFC 2445 §4.8.5.2): DTSTART is an instance only
/// when the rule produces it, as libical and python-dateutil read it. EXDATEs are ignored.
///
/// # Errors
/// [`Unsupported::Rule`] for rule parts the expander does not evaluate.
pub fn rule_instants(
    series: &Series<'_>,
    exclusion: bool,
    through: Option<DateTime<Utc>>,
    limit: usize,
) -> Result<(Vec<DateTime<Utc>>, bool), Unsupported> {
    check_expandable(series.rule)?;
    let mut it = if exclusion {
        Expander::exclusion(series)
    } else {
        Expander::new(series)
    };
    let mut instants = Vec::new();
    let mut passed = false;
    for o in it.by_ref() {
        if through.is_some_and(|t| o.start > t) {
            passed = true;
            break;
        }
        if instants.len() == limit {
            break;
        }
        instants.push(o.start);
    }
    let bounded = series.rule.count.is_some() || series.rule.until.is_some();
    let ended = bounded && instants.len() < limit && it.walked < MAX_PERIODS;
    Ok((instants, passed || ended))
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
