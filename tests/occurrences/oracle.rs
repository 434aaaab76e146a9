//! The independent side of the differential test: reads a calendar with its own small content
//! line reader (RFC 5545 §3.1–§3.3, not calmeet's) and expands each event with the `rrule`
//! crate (RFC 5545 §3.3.10 and §3.8.5), applying RDATE, EXDATE, EXRULE and RECURRENCE-ID
//! overrides (with `RANGE=THISANDFUTURE`) itself. Times without a zone are read in the
//! configured zone, or, for EXDATE / RDATE / RECURRENCE-ID, in DTSTART's zone (RFC 5545
//! §3.8.5.1: they take DTSTART's form).

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

/// One content line.
#[derive(Clone, Debug)]
pub struct Prop {
    pub name: String,
    pub params: Vec<(String, String)>,
    pub value: String,
}

impl Prop {
    fn param(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }
}

/// One VEVENT (nested components such as VALARM left out).
#[derive(Clone, Debug)]
pub struct Vevent {
    pub props: Vec<Prop>,
}

impl Vevent {
    fn get(&self, name: &str) -> Option<&Prop> {
        self.props
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(name))
    }

    fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Prop> + 'a {
        self.props
            .iter()
            .filter(move |p| p.name.eq_ignore_ascii_case(name))
    }

    pub fn uid(&self) -> String {
        self.get("UID")
            .map(|p| p.value.trim().to_owned())
            .unwrap_or_default()
    }
}

/// Content lines, unfolded; any LF ends a line (a bare LF inside a CRLF file too).
fn lines(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for raw in text.split('\n') {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if let Some(rest) = line.strip_prefix([' ', '\t'])
            && let Some(last) = out.last_mut()
        {
            last.push_str(rest);
        } else if !line.is_empty() {
            out.push(line.to_owned());
        }
    }
    out
}

/// `NAME;P=V;P="V":VALUE`, with `;` and `:` inside quotes kept in the parameter.
fn prop(line: &str) -> Option<Prop> {
    let mut quoted = false;
    let mut cuts = Vec::new();
    let mut colon = None;
    for (i, c) in line.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ';' if !quoted => cuts.push(i),
            ':' if !quoted => {
                colon = Some(i);
                break;
            }
            _ => {}
        }
    }
    let colon = colon?;
    let head = &line[..colon];
    let name_end = cuts.first().copied().unwrap_or(colon);
    let mut params = Vec::new();
    let mut bounds = cuts.clone();
    bounds.push(colon);
    for w in bounds.windows(2) {
        let part = &head[w[0] + 1..w[1]];
        if let Some((k, v)) = part.split_once('=') {
            params.push((k.to_owned(), v.trim_matches('"').to_owned()));
        }
    }
    Some(Prop {
        name: line[..name_end].to_ascii_uppercase(),
        params,
        value: line[colon + 1..].to_owned(),
    })
}

/// The VEVENTs of a calendar.
pub fn vevents(text: &str) -> Vec<Vevent> {
    let mut out = Vec::new();
    let mut current: Option<Vevent> = None;
    let mut nested = 0;
    for line in lines(text) {
        let upper = line.to_ascii_uppercase();
        if upper == "BEGIN:VEVENT" {
            current = Some(Vevent { props: Vec::new() });
            nested = 0;
        } else if upper == "END:VEVENT" {
            out.extend(current.take());
        } else if let Some(ev) = current.as_mut() {
            if upper.starts_with("BEGIN:") {
                nested += 1;
            } else if upper.starts_with("END:") {
                nested -= 1;
            } else if nested == 0
                && let Some(p) = prop(&line)
            {
                ev.props.push(p);
            }
        }
    }
    out
}

/// Zone ids the fixtures use that are not IANA names, each checked by hand against the
/// VTIMEZONE the file carries.
const ZONE_ALIASES: &[(&str, &str)] = &[
    ("W. Europe Standard Time", "Europe/Berlin"),
    ("New Zealand Standard Time", "Pacific/Auckland"),
    ("Arabian Standard Time", "Asia/Dubai"),
    ("Kuala Lumpur, Singapore", "Asia/Kuala_Lumpur"),
    ("Eastern Standard Time", "America/New_York"),
    ("tzone://Microsoft/Utc", "UTC"),
    ("(UTC-05:00) Eastern Time (US & Canada)", "America/New_York"),
    (
        "(GMT+10:00) Canberra, Melbourne, Sydney",
        "Australia/Sydney",
    ),
];

/// The IANA zone a TZID names: an IANA id, a known alias, or an IANA id at the end of a
/// path-like id (`/softwarestudio.org/Olson_20011030_5/America/Chicago`).
pub fn zone_of(tzid: &str) -> Option<Tz> {
    let tzid = tzid.trim_matches('"');
    if let Ok(z) = tzid.parse() {
        return Some(z);
    }
    if let Some((_, iana)) = ZONE_ALIASES.iter().find(|(k, _)| *k == tzid) {
        return iana.parse().ok();
    }
    let parts: Vec<&str> = tzid.split('/').collect();
    (1..parts.len()).find_map(|i| parts[i..].join("/").parse().ok())
}

/// A DATE or DATE-TIME value.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Value {
    Date(NaiveDate),
    Utc(NaiveDateTime),
    Local(NaiveDateTime, Option<Tz>),
}

/// Why the oracle holds no intervals for an event: the event cannot be a timed meeting
/// (calmeet must refuse it), or the oracle cannot read it (only a refusal can be checked).
#[derive(Clone, Debug, PartialEq)]
pub enum NoTruth {
    /// All-day, zero length: a refusal is the right outcome.
    NotTimed(String),
    /// The oracle cannot read the event; a refusal is accepted, any meeting is a failure
    /// reported with this reason.
    Unreadable(String),
}

/// What the calendar holds for one UID: occurrence intervals `[start, end)` in unix seconds.
pub type Truth = Result<Vec<(i64, i64)>, NoTruth>;

fn value(p: &Prop, text: &str, floating: Option<Tz>) -> Result<Value, String> {
    let text = text.trim();
    let is_date = p
        .param("VALUE")
        .is_some_and(|v| v.eq_ignore_ascii_case("DATE"))
        || (text.len() == 8 && !text.contains('T'));
    if is_date {
        return NaiveDate::parse_from_str(text, "%Y%m%d")
            .map(Value::Date)
            .map_err(|e| format!("{}: {text}: {e}", p.name));
    }
    let (body, utc) = match text.strip_suffix('Z') {
        Some(b) => (b, true),
        None => (text, false),
    };
    let naive = NaiveDateTime::parse_from_str(body, "%Y%m%dT%H%M%S")
        .map_err(|e| format!("{}: {text}: {e}", p.name))?;
    if utc {
        return Ok(Value::Utc(naive));
    }
    match p.param("TZID") {
        Some(tzid) => match zone_of(tzid) {
            Some(z) => Ok(Value::Local(naive, Some(z))),
            None => Err(format!("TZID {tzid} is not a zone the oracle knows")),
        },
        None => Ok(Value::Local(naive, floating)),
    }
}

fn instant(v: Value, zone: Tz) -> Option<DateTime<Utc>> {
    match v {
        Value::Utc(n) => Some(Utc.from_utc_datetime(&n)),
        Value::Local(n, z) => z
            .unwrap_or(zone)
            .from_local_datetime(&n)
            .earliest()
            .map(|t| t.with_timezone(&Utc)),
        Value::Date(d) => zone
            .from_local_datetime(&d.and_hms_opt(0, 0, 0)?)
            .earliest()
            .map(|t| t.with_timezone(&Utc)),
    }
}

/// ISO 8601 durations as RFC 5545 §3.3.6 allows them (`P1D`, `PT1H30M`, `-PT15M`, `P2W`).
fn duration(text: &str) -> Option<Duration> {
    let (sign, rest) = match text.strip_prefix('-') {
        Some(r) => (-1, r),
        None => (1, text.strip_prefix('+').unwrap_or(text)),
    };
    let rest = rest.strip_prefix('P')?;
    let mut total = 0i64;
    let mut num = String::new();
    let mut in_time = false;
    for c in rest.chars() {
        match c {
            'T' => in_time = true,
            '0'..='9' => num.push(c),
            _ => {
                let n: i64 = num.parse().ok()?;
                num.clear();
                total += n * match (c, in_time) {
                    ('W', false) => 7 * 86_400,
                    ('D', false) => 86_400,
                    ('H', true) => 3600,
                    ('M', true) => 60,
                    ('S', true) => 1,
                    _ => return None,
                };
            }
        }
    }
    Some(Duration::seconds(sign * total))
}

fn seq_key(ev: &Vevent) -> (i64, String) {
    let seq = ev
        .get("SEQUENCE")
        .and_then(|p| p.value.trim().parse().ok())
        .unwrap_or(0);
    let stamp = ev
        .get("LAST-MODIFIED")
        .or_else(|| ev.get("DTSTAMP"))
        .map(|p| p.value.clone())
        .unwrap_or_default();
    (seq, stamp)
}

/// Of several components claiming one (UID, RECURRENCE-ID): the one with the highest
/// SEQUENCE, then the latest LAST-MODIFIED / DTSTAMP (RFC 5546 §2.1.5); `None` on a tie.
fn winner<'a>(claims: &[&'a Vevent]) -> Option<&'a Vevent> {
    let best = claims.iter().map(|e| seq_key(e)).max()?;
    let top: Vec<&&Vevent> = claims.iter().filter(|e| seq_key(e) == best).collect();
    (top.len() == 1).then(|| *top[0])
}

fn cancelled(ev: &Vevent) -> bool {
    ev.get("STATUS")
        .is_some_and(|p| p.value.trim().eq_ignore_ascii_case("CANCELLED"))
}

/// Start and length of a component (DTEND, else DURATION, else zero for a DATE-TIME).
fn timing(ev: &Vevent, floating: Tz) -> Result<(Value, Tz, DateTime<Utc>, Duration), NoTruth> {
    let unreadable = NoTruth::Unreadable;
    let p = ev
        .get("DTSTART")
        .ok_or_else(|| unreadable("no DTSTART".into()))?;
    let start = value(p, &p.value, Some(floating)).map_err(unreadable)?;
    if let Value::Date(_) = start {
        return Err(NoTruth::NotTimed("all-day event".into()));
    }
    let zone = match start {
        Value::Local(_, Some(z)) => z,
        Value::Utc(_) => Tz::UTC,
        _ => floating,
    };
    let at = instant(start, zone).ok_or_else(|| unreadable("DTSTART in a gap".into()))?;
    let length = if let Some(e) = ev.get("DTEND") {
        let end = value(e, &e.value, Some(zone)).map_err(unreadable)?;
        instant(end, zone).ok_or_else(|| unreadable("DTEND in a gap".into()))? - at
    } else if let Some(d) = ev.get("DURATION") {
        duration(d.value.trim()).ok_or_else(|| unreadable(format!("DURATION {}", d.value)))?
    } else {
        Duration::zero()
    };
    if length <= Duration::zero() {
        return Err(NoTruth::NotTimed("zero or negative length".into()));
    }
    Ok((start, zone, at, length))
}

/// The RRULE / EXRULE text made acceptable to the `rrule` crate: UNTIL is taken out (and
/// returned as an instant: a DATE until includes that whole day in the series' zone, a
/// floating one is read in the series' zone) and non-standard X- parts dropped.
fn rule_parts(text: &str, zone: Tz) -> Result<(String, Option<DateTime<Utc>>), String> {
    let mut kept = Vec::new();
    let mut until = None;
    for part in text.trim().split(';').filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').ok_or(format!("rule part {part}"))?;
        if k.eq_ignore_ascii_case("UNTIL") {
            let p = Prop {
                name: "UNTIL".into(),
                params: Vec::new(),
                value: v.into(),
            };
            until = Some(match value(&p, v, Some(zone))? {
                Value::Date(d) => zone
                    .from_local_datetime(&d.and_hms_opt(23, 59, 59).unwrap())
                    .earliest()
                    .ok_or("UNTIL in a gap")?
                    .with_timezone(&Utc),
                other => instant(other, zone).ok_or("UNTIL in a gap")?,
            });
        } else if !k.to_ascii_uppercase().starts_with("X-") {
            kept.push(part.to_owned());
        }
    }
    Ok((kept.join(";"), until))
}

/// Expands one rule from `start` (in `zone`) up to `before`.
fn expand_rule(
    text: &str,
    start: DateTime<Utc>,
    zone: Tz,
    before: DateTime<Utc>,
) -> Result<Vec<DateTime<Utc>>, String> {
    let (rule, until) = rule_parts(text, zone)?;
    let tz = rrule::Tz::Tz(zone);
    let dtstart = start.with_timezone(&tz);
    let mut unvalidated =
        rrule::RRule::<rrule::Unvalidated>::from_str(&rule).map_err(|e| format!("{rule}: {e}"))?;
    if let Some(u) = until {
        if u < start {
            return Ok(Vec::new());
        }
        // The crate wants a zoned series' UNTIL in UTC (RFC 5545 §3.3.10); the instant is the same.
        unvalidated = unvalidated.until(u.with_timezone(&rrule::Tz::UTC));
    }
    let validated = unvalidated
        .validate(dtstart)
        .map_err(|e| format!("{rule}: {e}"))?;
    let set = rrule::RRuleSet::new(dtstart)
        .rrule(validated)
        .before(before.with_timezone(&tz));
    Ok(set
        .all(u16::MAX)
        .dates
        .into_iter()
        .map(|d| d.with_timezone(&Utc))
        .collect())
}

fn split_values(p: &Prop) -> impl Iterator<Item = &str> {
    p.value.split(',').map(str::trim).filter(|v| !v.is_empty())
}

/// The occurrence intervals of every UID in a calendar, read as of `now`, expanded up to
/// `before`. `floating` is the configured zone for times without one.
pub fn truth(text: &str, floating: Tz, before: DateTime<Utc>) -> BTreeMap<String, Truth> {
    let events = vevents(text);
    let mut by_uid: BTreeMap<String, Vec<&Vevent>> = BTreeMap::new();
    for ev in &events {
        by_uid.entry(ev.uid()).or_default().push(ev);
    }
    by_uid
        .into_iter()
        .map(|(uid, comps)| {
            let t = truth_of(&comps, floating, before);
            (uid, t)
        })
        .collect()
}

fn truth_of(comps: &[&Vevent], floating: Tz, before: DateTime<Utc>) -> Truth {
    let (masters, overrides): (Vec<&Vevent>, Vec<&Vevent>) =
        comps.iter().partition(|e| e.get("RECURRENCE-ID").is_none());
    if masters.is_empty() {
        // Invitations to single occurrences: each is an event of its own.
        let mut out = Vec::new();
        for ov in overrides {
            if cancelled(ov) {
                continue;
            }
            let (_, _, at, length) = timing(ov, floating)?;
            out.push((at.timestamp(), (at + length).timestamp()));
        }
        out.sort_unstable();
        return Ok(out);
    }
    let master = winner(&masters).ok_or_else(|| {
        NoTruth::Unreadable("several components share the UID and nothing decides".into())
    })?;
    if cancelled(master) {
        return Ok(Vec::new());
    }
    let (_, zone, at, length) = timing(master, floating)?;
    let unreadable = NoTruth::Unreadable;
    // (start, length) of every occurrence.
    let mut occ: BTreeMap<DateTime<Utc>, Duration> = BTreeMap::new();
    let rules: Vec<&Prop> = master.all("RRULE").collect();
    if rules.is_empty() {
        occ.insert(at, length);
    }
    for r in rules {
        for t in expand_rule(&r.value, at, zone, before).map_err(unreadable)? {
            occ.insert(t, length);
        }
    }
    for p in master.all("RDATE") {
        let period = p
            .param("VALUE")
            .is_some_and(|v| v.eq_ignore_ascii_case("PERIOD"));
        for v in split_values(p) {
            let (s, len) = if period || v.contains('/') {
                let (a, b) = v
                    .split_once('/')
                    .ok_or_else(|| unreadable(format!("RDATE {v}")))?;
                let s = value(p, a, Some(zone)).map_err(unreadable)?;
                let s = instant(s, zone).ok_or_else(|| unreadable("RDATE in a gap".into()))?;
                let len = match duration(b) {
                    Some(d) => d,
                    None => {
                        let e = value(p, b, Some(zone)).map_err(unreadable)?;
                        instant(e, zone).ok_or_else(|| unreadable("RDATE gap".into()))? - s
                    }
                };
                (s, len)
            } else {
                let s = value(p, v, Some(zone)).map_err(unreadable)?;
                if let Value::Date(_) = s {
                    return Err(unreadable("RDATE of a DATE on a timed series".into()));
                }
                (
                    instant(s, zone).ok_or_else(|| unreadable("RDATE in a gap".into()))?,
                    length,
                )
            };
            if s < before {
                occ.insert(s, len);
            }
        }
    }
    let mut excluded: BTreeSet<DateTime<Utc>> = BTreeSet::new();
    for p in master.all("EXRULE") {
        excluded.extend(expand_rule(&p.value, at, zone, before).map_err(unreadable)?);
    }
    for p in master.all("EXDATE") {
        for v in split_values(p) {
            match value(p, v, Some(zone)).map_err(unreadable)? {
                Value::Date(d) => excluded.extend(
                    occ.keys()
                        .filter(|t| t.with_timezone(&zone).date_naive() == d)
                        .copied()
                        .collect::<Vec<_>>(),
                ),
                other => {
                    excluded.extend(instant(other, zone));
                }
            }
        }
    }
    occ.retain(|t, _| !excluded.contains(t));
    // Overrides: the winner per RECURRENCE-ID, in order, THISANDFUTURE moving the rest too.
    let mut by_rid: BTreeMap<DateTime<Utc>, Vec<&Vevent>> = BTreeMap::new();
    for ov in &overrides {
        let p = ov.get("RECURRENCE-ID").unwrap();
        let rid = value(p, &p.value, Some(zone)).map_err(unreadable)?;
        let rid = instant(rid, zone).ok_or_else(|| unreadable("RECURRENCE-ID gap".into()))?;
        by_rid.entry(rid).or_default().push(ov);
    }
    let mut moved: BTreeMap<DateTime<Utc>, (DateTime<Utc>, Duration)> = BTreeMap::new();
    let mut gone: BTreeSet<DateTime<Utc>> = BTreeSet::new();
    for (rid, claims) in &by_rid {
        let ov = winner(claims).ok_or_else(|| {
            NoTruth::Unreadable(format!("two overrides of {rid} and nothing decides"))
        })?;
        let future = ov
            .get("RECURRENCE-ID")
            .and_then(|p| p.param("RANGE"))
            .is_some_and(|r| r.eq_ignore_ascii_case("THISANDFUTURE"));
        let affected: Vec<DateTime<Utc>> = if future {
            occ.keys().filter(|t| *t >= rid).copied().collect()
        } else {
            occ.keys().filter(|t| *t == rid).copied().collect()
        };
        if cancelled(ov) {
            gone.extend(affected);
            continue;
        }
        let (_, _, s, len) = timing(ov, floating)?;
        for t in affected {
            moved.insert(t, (t + (s - *rid), len));
        }
    }
    let mut out: Vec<(i64, i64)> = occ
        .into_iter()
        .filter(|(t, _)| !gone.contains(t))
        .map(|(t, len)| moved.get(&t).copied().unwrap_or((t, len)))
        .map(|(s, len)| (s.timestamp(), (s + len).timestamp()))
        .collect();
    out.sort_unstable();
    Ok(out)
}
