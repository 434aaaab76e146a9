//! Request validation and recurrence expansion of the fake Tencent Meeting server.
//!
//! Mirrors what the real API is documented to reject with 190004 (reference §2–§3, §5): fields
//! with the wrong JSON type, times that are not strings of digits, bad passwords, recurrence
//! limits, custom rules that skip the first occurrence. Where the real API's behaviour is not
//! documented, the choice made here is stated next to the code.

use chrono::{Datelike, NaiveDate, TimeZone, Weekday};
use chrono_tz::Tz;
use serde_json::{Map, Value};

/// A 190004 rejection with the reason the fake found.
pub type Reject = String;

/// Fields of a valid create request that the fake keeps.
pub struct NewMeeting {
    pub userid: String,
    pub subject: String,
    pub start: i64,
    pub end: i64,
    pub meeting_type: i64,
    pub password: Option<String>,
    pub location: Option<String>,
    pub time_zone: Option<String>,
    pub settings: Value,
    pub rule: Option<Value>,
    pub occurrences: Vec<i64>,
}

pub fn object(body: &Value) -> Result<&Map<String, Value>, Reject> {
    body.as_object()
        .ok_or_else(|| "body is not a JSON object".to_owned())
}

pub fn req_str(o: &Map<String, Value>, key: &str) -> Result<String, Reject> {
    opt_str(o, key)?.ok_or_else(|| format!("{key} is required"))
}

pub fn opt_str(o: &Map<String, Value>, key: &str) -> Result<Option<String>, Reject> {
    match o.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(format!("{key} must be a string, got {other}")),
    }
}

pub fn req_int(o: &Map<String, Value>, key: &str) -> Result<i64, Reject> {
    opt_int(o, key)?.ok_or_else(|| format!("{key} is required"))
}

/// Integers must be JSON integers: the API's SDK types them so, and `"1"` is a type error.
pub fn opt_int(o: &Map<String, Value>, key: &str) -> Result<Option<i64>, Reject> {
    match o.get(key) {
        None => Ok(None),
        Some(v) => v
            .as_i64()
            .map(Some)
            .ok_or_else(|| format!("{key} must be an integer, got {v}")),
    }
}

/// Times travel as strings of unix seconds; a JSON number is rejected like the real API does.
pub fn opt_time(o: &Map<String, Value>, key: &str) -> Result<Option<i64>, Reject> {
    match opt_str(o, key)? {
        None => Ok(None),
        Some(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => s
            .parse()
            .map(Some)
            .map_err(|_| format!("{key} out of range")),
        Some(s) => Err(format!("{key} must be a string of digits, got {s:?}")),
    }
}

pub fn check_subject(subject: &str) -> Result<(), Reject> {
    if subject.trim().is_empty() {
        return Err("subject must not be empty".into());
    }
    // At most 512 bytes of Base64, i.e. 384 bytes of UTF-8 (issue #11).
    if subject.len() > 384 {
        return Err(format!("subject is {} bytes, more than 384", subject.len()));
    }
    Ok(())
}

/// 4–6 digits; on modify the empty string (remove the password) is also allowed.
pub fn check_password(password: &str, allow_empty: bool) -> Result<(), Reject> {
    let ok = (4..=6).contains(&password.len()) && password.bytes().all(|b| b.is_ascii_digit());
    if ok || (allow_empty && password.is_empty()) {
        Ok(())
    } else {
        Err("password must be 4-6 digits".into())
    }
}

pub fn check_times(start: i64, end: i64) -> Result<(), Reject> {
    if end <= start {
        return Err("end_time must be after start_time".into());
    }
    Ok(())
}

pub fn validate_create(body: &Value) -> Result<NewMeeting, Reject> {
    let o = object(body)?;
    let userid = req_str(o, "userid")?;
    if userid.is_empty() {
        return Err("userid must not be empty".into());
    }
    req_int(o, "instanceid")?;
    let subject = req_str(o, "subject")?;
    check_subject(&subject)?;
    let kind = req_int(o, "type")?;
    if !(0..=1).contains(&kind) {
        return Err("type must be 0 or 1".into());
    }
    let start = opt_time(o, "start_time")?.ok_or("start_time is required")?;
    let end = opt_time(o, "end_time")?.ok_or("end_time is required")?;
    check_times(start, end)?;
    let password = opt_str(o, "password")?;
    if let Some(p) = &password {
        check_password(p, false)?;
    }
    let meeting_type = opt_int(o, "meeting_type")?.unwrap_or(0);
    if !(0..=1).contains(&meeting_type) {
        return Err("meeting_type must be 0 or 1".into());
    }
    if meeting_type == 1 && kind == 1 {
        return Err("a recurring meeting cannot be a quick meeting (type 1)".into());
    }
    let settings = match o.get("settings") {
        None => Value::Object(Map::new()),
        Some(v @ Value::Object(_)) => v.clone(),
        Some(_) => return Err("settings must be an object".into()),
    };
    let time_zone = opt_str(o, "time_zone")?;
    let (rule, occurrences) = if meeting_type == 1 {
        // The SDK documents defaults for every rule field, so an absent rule is daily × 7.
        let rule = o
            .get("recurring_rule")
            .cloned()
            .unwrap_or(Value::Object(Map::new()));
        let occurrences = expand(&rule, start, zone(time_zone.as_deref())?)?;
        (Some(rule), occurrences)
    } else {
        (None, vec![start])
    };
    Ok(NewMeeting {
        userid,
        subject,
        start,
        end,
        meeting_type,
        password,
        location: opt_str(o, "location")?,
        time_zone,
        settings,
        rule,
        occurrences,
    })
}

/// Meetings without `time_zone` are taken to be in Beijing time, the API's home zone.
pub fn zone(name: Option<&str>) -> Result<Tz, Reject> {
    name.unwrap_or("Asia/Shanghai")
        .parse()
        .map_err(|_| format!("unknown time_zone {name:?}"))
}

struct Rule {
    kind: i64,
    until_type: i64,
    until_count: i64,
    until_date: Option<i64>,
    custom_kind: i64,
    step: i64,
    days: Option<i64>,
}

/// Occurrence start times of a rule (reference §3.1–§3.2), or the 190004 reason.
pub fn expand(rule: &Value, start: i64, tz: Tz) -> Result<Vec<i64>, Reject> {
    let o = object(rule)?;
    let rule = Rule {
        kind: opt_int(o, "recurring_type")?.unwrap_or(0),
        until_type: opt_int(o, "until_type")?.unwrap_or(0),
        until_count: opt_int(o, "until_count")?.unwrap_or(7),
        until_date: opt_int(o, "until_date")?,
        custom_kind: opt_int(o, "customized_recurring_type")?.unwrap_or(0),
        step: opt_int(o, "customized_recurring_step")?.unwrap_or(1),
        days: opt_int(o, "customized_recurring_days")?,
    };
    if !(0..=5).contains(&rule.kind) || !(0..=1).contains(&rule.until_type) {
        return Err("recurring_type must be 0-5 and until_type 0-1".into());
    }
    // Create-time limits from SDK 1.0.10: 200 for daily/weekday/weekly, 50 for bi-weekly and
    // monthly. Custom rules are undocumented; the fake applies the same split by period.
    let limit = match (rule.kind, rule.custom_kind) {
        (0..=2, _) | (5, 0..=1) => 200,
        _ => 50,
    };
    let first = tz
        .timestamp_opt(start, 0)
        .single()
        .ok_or("start_time not representable")?;
    let first_date = first.date_naive();
    if rule.kind == 5 {
        check_custom(&rule, first_date)?;
    }
    let last_date = match rule.until_type {
        1 => {
            if !(1..=limit).contains(&rule.until_count) {
                return Err(format!("until_count must be 1..={limit} for this rule"));
            }
            None
        }
        _ => {
            let until = rule.until_date.unwrap_or(start + 7 * 86_400);
            let date = tz
                .timestamp_opt(until, 0)
                .single()
                .ok_or("until_date not representable")?
                .date_naive();
            if date < first_date {
                return Err("until_date is before start_time".into());
            }
            Some(date)
        }
    };
    let wanted = if last_date.is_none() {
        rule.until_count
    } else {
        limit + 1
    };
    let mut out = Vec::new();
    let mut date = first_date;
    // Twenty years of days bounds the walk even for sparse monthly rules.
    for _ in 0..(366 * 20) {
        if last_date.is_some_and(|last| date > last) || out.len() as i64 >= wanted {
            break;
        }
        if occurs_on(&rule, first_date, date) {
            let local = date.and_time(first.time());
            if let Some(at) = tz.from_local_datetime(&local).earliest() {
                out.push(at.timestamp());
            }
        }
        date = date.succ_opt().ok_or("date overflow")?;
    }
    if out.len() as i64 > limit {
        return Err(format!("until_date allows more than {limit} occurrences"));
    }
    if out.is_empty() {
        return Err("the rule yields no occurrence".into());
    }
    Ok(out)
}

fn check_custom(rule: &Rule, first: NaiveDate) -> Result<(), Reject> {
    if !(0..=3).contains(&rule.custom_kind) || rule.step < 1 {
        return Err("customized_recurring_type must be 0-3 and the step at least 1".into());
    }
    if rule.custom_kind == 0 {
        return Ok(());
    }
    let days = rule.days.ok_or("customized_recurring_days is required")?;
    let weekday_bit = 1i64 << first.weekday().num_days_from_sunday();
    let included = match rule.custom_kind {
        1 => days & weekday_bit != 0,
        2 => days & weekday_bit != 0 && days & week_of_month_bit(first) != 0,
        _ => days & (1i64 << (first.day() - 1)) != 0,
    };
    if included {
        Ok(())
    } else {
        // The real API's wording for this case.
        Err("recurring_days no include firstStartTime".into())
    }
}

/// bit7 = first week of the month (days 1–7), bit8 = second, … bit11 = fifth.
fn week_of_month_bit(date: NaiveDate) -> i64 {
    1i64 << (7 + (date.day() - 1) / 7)
}

fn months_between(a: NaiveDate, b: NaiveDate) -> i64 {
    i64::from(b.year() - a.year()) * 12 + i64::from(b.month()) - i64::from(a.month())
}

/// Whether `date` (≥ `first`) carries an occurrence. Monthly rules skip months that lack the
/// day (e.g. the 31st); the real API's choice there is undocumented.
fn occurs_on(rule: &Rule, first: NaiveDate, date: NaiveDate) -> bool {
    let days = (date - first).num_days();
    let weekend = matches!(date.weekday(), Weekday::Sat | Weekday::Sun);
    match rule.kind {
        0 => true,
        1 => !weekend,
        2 => days % 7 == 0,
        3 => days % 14 == 0,
        4 => date.day() == first.day(),
        _ => {
            let mask = rule.days.unwrap_or(0);
            let weekday_bit = 1i64 << date.weekday().num_days_from_sunday();
            let month_ok = months_between(first, date) % rule.step == 0;
            match rule.custom_kind {
                0 => days % rule.step == 0,
                1 => {
                    // Weeks run Sunday–Saturday, matching bit0 = Sunday.
                    let week_start = i64::from(first.weekday().num_days_from_sunday());
                    let week = (days + week_start) / 7;
                    week % rule.step == 0 && mask & weekday_bit != 0
                }
                2 => month_ok && mask & weekday_bit != 0 && mask & week_of_month_bit(date) != 0,
                _ => month_ok && mask & (1i64 << (date.day() - 1)) != 0,
            }
        }
    }
}
