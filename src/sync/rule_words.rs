//! A Tencent Meeting `recurring_rule` said as a person says it ("weekly on Mon, Wed until
//! 2027-03-01", "monthly on the 2nd Wednesday ×50", "every 3 days"), for the dry run, logs and
//! `status`. The machine form stays in `status --json` and the API body.
//!
//! Pure: it reads the rule fields as the API reference §3.1 defines them and never fails; a
//! value outside the documented ones is named plainly rather than guessed.

use chrono::{DateTime, Datelike, NaiveDate};
use chrono_tz::Tz;

use crate::tencent::types::RecurringRule;

/// Short weekday names in the API's bit order: bit 0 = Sunday … bit 6 = Saturday.
const SHORT_DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
/// Full weekday names in the same order.
const FULL_DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];
/// Bits 0–6 display Monday first, as calendars do.
const MONDAY_FIRST: [usize; 7] = [1, 2, 3, 4, 5, 6, 0];

/// `rule` in words. `first` is the first meeting's local date: the fixed types (weekly,
/// every two weeks, monthly) repeat on its weekday or day, and a custom rule with no days
/// selected uses it too. `zone` shows `until_date` as a local date. `None` is "single".
#[must_use]
pub fn rule_in_words(rule: Option<&RecurringRule>, first: Option<NaiveDate>, zone: Tz) -> String {
    let Some(r) = rule else {
        return "single".to_owned();
    };
    let weekday_of_first = first.map(|d| d.weekday().num_days_from_sunday() as usize);
    let on_first_weekday = weekday_of_first
        .and_then(|d| SHORT_DAYS.get(d))
        .map(|d| format!(" on {d}"))
        .unwrap_or_default();
    let repeat = match r.recurring_type {
        0 => "daily".to_owned(),
        1 => "every weekday (Mon–Fri)".to_owned(),
        2 => format!("weekly{on_first_weekday}"),
        3 => format!("every 2 weeks{on_first_weekday}"),
        4 => match first {
            Some(d) => format!("monthly on the {}", ordinal(d.day())),
            None => "monthly".to_owned(),
        },
        5 => custom(r, first, weekday_of_first),
        other => format!("repeating (unknown recurring_type {other})"),
    };
    let end = match (r.until_type, r.until_count, r.until_date) {
        (1, Some(n), _) => format!(" ×{n}"),
        (_, _, Some(d)) => format!(
            " until {}",
            DateTime::from_timestamp(d, 0).map_or_else(
                || d.to_string(),
                |t| t.with_timezone(&zone).format("%Y-%m-%d").to_string()
            )
        ),
        _ => String::new(),
    };
    format!("{repeat}{end}")
}

/// A `recurring_type` 5 rule: `customized_recurring_type` 0 by day, 1 by week, 2 monthly by
/// week-of-month and weekday, 3 monthly by day-of-month (reference §3.1 bit encodings).
fn custom(r: &RecurringRule, first: Option<NaiveDate>, weekday_of_first: Option<usize>) -> String {
    let step = r.customized_recurring_step.unwrap_or(1).max(1);
    let days = r.customized_recurring_days.unwrap_or(0);
    let bit = |i: usize| days & (1_i64 << i) != 0;
    let every = |one: &str, many: &str| {
        if step == 1 {
            one.to_owned()
        } else {
            format!("every {step} {many}")
        }
    };
    // Selected weekdays, or the first meeting's when none are (the API requires it included).
    let weekdays: Vec<usize> = {
        let picked: Vec<usize> = MONDAY_FIRST.into_iter().filter(|&d| bit(d)).collect();
        if picked.is_empty() {
            weekday_of_first.into_iter().collect()
        } else {
            picked
        }
    };
    match r.customized_recurring_type.unwrap_or(0) {
        0 => every("daily", "days"),
        1 => {
            let names: Vec<&str> = weekdays
                .iter()
                .filter_map(|&d| SHORT_DAYS.get(d))
                .copied()
                .collect();
            let on = if names.is_empty() {
                String::new()
            } else {
                format!(" on {}", names.join(", "))
            };
            format!("{}{on}", every("weekly", "weeks"))
        }
        2 => {
            let weeks: Vec<String> = (0..5)
                .filter(|w| bit(7 + w))
                .map(|w| ordinal(u32::try_from(w + 1).unwrap_or(1)))
                .collect();
            let names: Vec<&str> = weekdays
                .iter()
                .filter_map(|&d| FULL_DAYS.get(d))
                .copied()
                .collect();
            let which = match (weeks.is_empty(), names.is_empty()) {
                (false, false) => format!(" on the {} {}", and_list(&weeks), and_list(&names)),
                (false, true) => format!(" in the {} week", and_list(&weeks)),
                (true, false) => format!(" on a {}", and_list(&names)),
                (true, true) => String::new(),
            };
            format!("{}{which}", every("monthly", "months"))
        }
        3 => {
            let mut month_days: Vec<String> = (0..31)
                .filter(|&i| bit(i))
                .map(|i| ordinal(u32::try_from(i + 1).unwrap_or(1)))
                .collect();
            if month_days.is_empty()
                && let Some(d) = first
            {
                month_days.push(ordinal(d.day()));
            }
            let on = if month_days.is_empty() {
                String::new()
            } else {
                format!(" on the {}", and_list(&month_days))
            };
            format!("{}{on}", every("monthly", "months"))
        }
        other => format!("custom repeat (unknown customized_recurring_type {other})"),
    }
}

/// "1st", "2nd", "3rd", "4th", "11th", "21st", …
fn ordinal(n: u32) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

/// "a", "a and b", "a, b and c".
fn and_list<S: AsRef<str>>(items: &[S]) -> String {
    match items {
        [] => String::new(),
        [one] => one.as_ref().to_owned(),
        [rest @ .., last] => format!(
            "{} and {}",
            rest.iter()
                .map(AsRef::as_ref)
                .collect::<Vec<_>>()
                .join(", "),
            last.as_ref()
        ),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn rule(recurring_type: i64, custom: Option<(i64, i64, i64)>) -> RecurringRule {
        RecurringRule {
            recurring_type,
            customized_recurring_type: custom.map(|c| c.0),
            customized_recurring_step: custom.map(|c| c.1),
            customized_recurring_days: custom.map(|c| c.2),
            ..RecurringRule::default()
        }
    }

    /// Every `recurring_type` and every customized form (reference §3.1), with each ending.
    #[test]
    fn every_rule_form_in_words() {
        // 2026-04-08 is a Wednesday, the 2nd of its month.
        let first = NaiveDate::from_ymd_opt(2026, 4, 8);
        let count = |mut r: RecurringRule, n| {
            r.until_type = 1;
            r.until_count = Some(n);
            r
        };
        let until = |mut r: RecurringRule, ts| {
            r.until_type = 0;
            r.until_date = Some(ts);
            r
        };
        // 2027-03-01 01:00 Asia/Shanghai is still 2027-02-28 in UTC.
        let march_first = 1_803_834_000;
        let cases: Vec<(RecurringRule, &str)> = vec![
            (rule(0, None), "daily"),
            (count(rule(1, None), 10), "every weekday (Mon–Fri) ×10"),
            (rule(2, None), "weekly on Wed"),
            (rule(3, None), "every 2 weeks on Wed"),
            (rule(4, None), "monthly on the 8th"),
            (count(rule(5, Some((0, 3, 0))), 7), "every 3 days ×7"),
            (rule(5, Some((0, 1, 0))), "daily"),
            (
                until(rule(5, Some((1, 1, 2 + 8))), march_first),
                "weekly on Mon, Wed until 2027-03-01",
            ),
            (rule(5, Some((1, 3, 6))), "every 3 weeks on Mon, Tue"),
            (rule(5, Some((1, 1, 1 + 64))), "weekly on Sat, Sun"),
            (rule(5, Some((1, 2, 0))), "every 2 weeks on Wed"),
            (
                count(rule(5, Some((2, 1, 8 + 256))), 50),
                "monthly on the 2nd Wednesday ×50",
            ),
            (rule(5, Some((2, 1, 2 + 1024))), "monthly on the 4th Monday"),
            (
                rule(5, Some((2, 3, 16 + 128 + 512))),
                "every 3 months on the 1st and 3rd Thursday",
            ),
            (rule(5, Some((2, 1, 2048))), "monthly on the 5th Wednesday"),
            (rule(5, Some((3, 3, 1 << 15))), "every 3 months on the 16th"),
            (
                rule(5, Some((3, 1, 1 + (1 << 25)))),
                "monthly on the 1st and 26th",
            ),
            (
                rule(5, Some((3, 1, 1 + 2 + 4 + (1 << 30)))),
                "monthly on the 1st, 2nd, 3rd and 31st",
            ),
            (rule(5, Some((3, 1, 0))), "monthly on the 8th"),
            (
                rule(5, Some((9, 1, 0))),
                "custom repeat (unknown customized_recurring_type 9)",
            ),
            (rule(7, None), "repeating (unknown recurring_type 7)"),
        ];
        for (r, want) in cases {
            assert_eq!(
                rule_in_words(Some(&r), first, chrono_tz::Asia::Shanghai),
                want,
                "{r:?}"
            );
        }
        assert_eq!(rule_in_words(None, first, chrono_tz::UTC), "single");
        // Without the first date the fixed types still read.
        assert_eq!(
            rule_in_words(Some(&rule(2, None)), None, chrono_tz::UTC),
            "weekly"
        );
        assert_eq!(
            rule_in_words(Some(&rule(4, None)), None, chrono_tz::UTC),
            "monthly"
        );
    }

    #[test]
    fn ordinals() {
        let got: Vec<String> = [1, 2, 3, 4, 11, 12, 13, 21, 22, 23, 31]
            .map(ordinal)
            .to_vec();
        assert_eq!(
            got,
            [
                "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "23rd", "31st"
            ]
        );
    }
}
