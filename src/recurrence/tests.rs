//! Tests of RRULE parsing, expansion and the Tencent mapping, driven by rules real calendar
//! apps wrote (most from /work/shared/corpus, DTSTART as in the file).
#![allow(clippy::unwrap_used)]

use super::*;
use crate::tz::Zone;
use crate::tz::ZoneResolver;
use chrono::{Duration, NaiveDate, NaiveDateTime};

fn local(text: &str) -> NaiveDateTime {
    if text.len() == 8 {
        return NaiveDate::parse_from_str(text, "%Y%m%d")
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap();
    }
    NaiveDateTime::parse_from_str(text, "%Y%m%dT%H%M%S").unwrap()
}

fn utc(text: &str) -> DateTime<Utc> {
    local(text.trim_end_matches('Z')).and_utc()
}

fn zone(tzid: &str) -> Zone {
    let r = ZoneResolver::new(chrono_tz::Asia::Shanghai);
    r.resolve((!tzid.is_empty()).then_some(tzid)).unwrap()
}

enum End {
    Count(i64),
    /// `until_date`: start of the last occurrence, UTC.
    Date(&'static str),
}

enum Expect {
    Map {
        recurring_type: i64,
        end: End,
        customized: Option<(i64, i64, Option<i64>)>,
    },
    Refuse(&'static str),
}
use Expect::{Map, Refuse};

fn fixed(recurring_type: i64, end: End) -> Expect {
    Map {
        recurring_type,
        end,
        customized: None,
    }
}

fn custom(ctype: i64, step: i64, days: Option<i64>, end: End) -> Expect {
    Map {
        recurring_type: 5,
        end,
        customized: Some((ctype, step, days)),
    }
}

/// (where the rule comes from, RRULE value, TZID ("" = floating), DTSTART, expectation)
#[allow(clippy::too_many_lines)] // one line pair per real-world rule
#[rustfmt::skip]
fn cases() -> Vec<(
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    Expect,
)> {
    use End::{Count, Date};
    vec![
        ("Google biweekly", "FREQ=WEEKLY;WKST=SU;UNTIL=20170814T045959Z;INTERVAL=2;BYDAY=MO,TH", "US/Central", "20170216T090000",
            custom(1, 2, Some(2 + 16), Date("20170803T140000Z"))),
        ("Google biweekly UTC", "FREQ=WEEKLY;WKST=SU;INTERVAL=2;BYDAY=MO,TU", "UTC", "20170814T140000",
            custom(1, 2, Some(2 + 4), Count(50))),
        ("Exchange CDO, spaces in BYDAY", "FREQ=DAILY;UNTIL=20150722T080000Z;INTERVAL=1;BYDAY=MO, TU, WE, TH, FR", "W. Europe Standard Time", "20150703T100000",
            fixed(1, Date("20150722T080000Z"))),
        ("Exchange NZ, longer than the cap", "FREQ=WEEKLY;UNTIL=20260601T030000Z;INTERVAL=1;BYDAY=MO,WE;WKST=MO", "New Zealand Standard Time", "20251008T090000",
            custom(1, 1, Some(2 + 8), Count(50))),
        ("Exchange OWA, DTSTART on a Monday", "FREQ=WEEKLY;UNTIL=20210828T140000Z;INTERVAL=1;BYDAY=TH,FR;WKST=SU", "(UTC-05:00) Eastern Time (US & Canada)", "20201102T133000",
            Refuse("DTSTART")),
        ("Exchange Teams", "FREQ=DAILY;UNTIL=20201126T100000Z;INTERVAL=2", "W. Europe Standard Time", "20201124T110000",
            custom(0, 2, None, Date("20201126T100000Z"))),
        ("Thunderbird count", "FREQ=DAILY;COUNT=3", "Europe/Berlin", "20190318T040000",
            fixed(0, Count(3))),
        ("Thunderbird inclusive UNTIL", "FREQ=DAILY;UNTIL=20190310T010000Z", "Europe/Berlin", "20190307T020000",
            fixed(0, Date("20190310T010000Z"))),
        ("Google birthdays", "FREQ=DAILY;INTERVAL=1;COUNT=1", "", "20141210",
            fixed(0, Count(1))),
        ("Google all-day daily", "FREQ=DAILY", "", "20250505",
            fixed(0, Count(200))),
        ("Evolution floating UNTIL", "FREQ=DAILY;UNTIL=20200429T000000", "Europe/Berlin", "20200128T220000",
            fixed(0, Date("20200428T200000Z"))),
        ("Google Buenos Aires", "FREQ=DAILY;UNTIL=20030213T160000Z", "America/Argentina/Buenos_Aires", "20030203T170000",
            fixed(0, Date("20030212T200000Z"))),
        ("SabreDAV weekly count", "FREQ=WEEKLY;COUNT=8", "Europe/Berlin", "20190304T003000",
            fixed(2, Count(8))),
        ("DAVx5 weekly until", "FREQ=WEEKLY;UNTIL=20200204T151459Z;BYDAY=TU;WKST=SU", "Europe/Berlin", "20191015T161500",
            fixed(2, Date("20200128T151500Z"))),
        ("DAVx5 weekly Thursday", "FREQ=WEEKLY;WKST=MO;BYDAY=TH", "Europe/Paris", "20240606T193000",
            fixed(2, Count(200))),
        ("Evolution all-day weekly", "FREQ=WEEKLY;BYDAY=TU", "", "20200908",
            fixed(2, Count(200))),
        ("Google workweek", "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR", "Europe/Zurich", "20161028T140000",
            fixed(1, Count(200))),
        ("Google four days a week", "FREQ=WEEKLY;WKST=SU;INTERVAL=1;BYDAY=MO,TU,TH,FR", "America/Chicago", "20201116T081500",
            custom(1, 1, Some(2 + 4 + 16 + 32), Count(50))),
        ("Google weekly Monday", "FREQ=WEEKLY;BYDAY=MO", "America/Chicago", "20201109T123000",
            fixed(2, Count(200))),
        ("Google weekly, WKST only", "FREQ=WEEKLY;WKST=MO", "America/Chicago", "20200925T141500",
            fixed(2, Count(200))),
        ("Google weekly WKST=SU Monday", "FREQ=WEEKLY;WKST=SU;INTERVAL=1;BYDAY=MO", "America/Chicago", "20200928T101500",
            fixed(2, Count(200))),
        ("Google unordered workweek", "FREQ=WEEKLY;UNTIL=20200923T045959Z;BYDAY=FR,MO,TH,TU,WE", "America/Chicago", "20200915T081500",
            fixed(1, Date("20200922T131500Z"))),
        ("Outlook 2007 Kuala Lumpur", "FREQ=WEEKLY;BYDAY=FR", "Kuala Lumpur, Singapore", "20081031T093000",
            fixed(2, Count(200))),
        ("iCal monthly by day", "FREQ=MONTHLY;INTERVAL=1;BYMONTHDAY=19", "US/Pacific", "20020919T120000",
            fixed(4, Count(50))),
        ("iCal weekly Friday", "FREQ=WEEKLY;INTERVAL=1;BYDAY=FR", "US/Pacific", "20020920T120000",
            fixed(2, Count(200))),
        ("iCal daily", "FREQ=DAILY;INTERVAL=1", "US/Pacific", "20020921T100000",
            fixed(0, Count(200))),
        ("iCal monthly count", "FREQ=MONTHLY;COUNT=5;INTERVAL=1;BYMONTHDAY=19", "US/Pacific", "20020919T140000",
            fixed(4, Count(5))),
        ("iCal monthly floating UNTIL", "FREQ=MONTHLY;UNTIL=20021223T075959;INTERVAL=1;BYMONTHDAY=19", "US/Pacific", "20020919T160000",
            fixed(4, Date("20021220T000000Z"))),
        ("iCal biweekly three days", "FREQ=WEEKLY;INTERVAL=2;BYDAY=TU,WE,FR", "US/Pacific", "20020920T150000",
            custom(1, 2, Some(4 + 8 + 32), Count(50))),
        ("icaldates US election day", "FREQ=MONTHLY;INTERVAL=1;BYDAY=TU;BYMONTHDAY=2,3,4,5,6,7,8;BYMONTH=11", "", "17531106",
            Refuse("BYMONTH")),
        ("Apple first Monday, trailing space", "FREQ=MONTHLY;INTERVAL=1;BYDAY=1MO ", "US/Eastern", "20020107T095000",
            custom(2, 1, Some(2 + 128), Count(50))),
        ("Evolution third Thursday via BYSETPOS", "FREQ=MONTHLY;INTERVAL=1;BYDAY=TH;BYSETPOS=3", "/softwarestudio.org/Olson_20011030_5/America/Chicago", "20030515T183000",
            custom(2, 1, Some(16 + 512), Count(50))),
        ("Evolution trailing semicolon", "FREQ=WEEKLY;COUNT=3;INTERVAL=2;", "", "20031114T170000",
            fixed(3, Count(3))),
        ("icaldates monthly with BYMONTH", "FREQ=MONTHLY;BYMONTH=4;BYDAY=1SU", "", "17530401",
            Refuse("BYMONTH")),
        ("Google last Friday", "FREQ=MONTHLY;BYDAY=-1FR", "Europe/Berlin", "20211126T213000",
            Refuse("month's end")),
        ("Nextcloud yearly", "FREQ=YEARLY", "", "20250701",
            Refuse("YEARLY")),
        ("iCal yearly 4th Thursday", "FREQ=YEARLY;INTERVAL=1;UNTIL=20051231;BYMONTH=3;BYDAY=4TH", "", "20050324",
            Refuse("YEARLY")),
        ("iCal 3 weekly, DATE UNTIL", "FREQ=WEEKLY;INTERVAL=1;UNTIL=20060930", "", "20060831",
            fixed(2, Date("20060927T160000Z"))),
        ("Tencent doc: every 3 days x7", "FREQ=DAILY;INTERVAL=3;COUNT=7", "Asia/Shanghai", "20260105T100000",
            custom(0, 3, None, Count(7))),
        ("Tencent doc: every 3 weeks Mon+Tue", "FREQ=WEEKLY;INTERVAL=3;BYDAY=MO,TU", "Asia/Shanghai", "20260105T100000",
            custom(1, 3, Some(6), Count(50))),
        ("Tencent doc: 2nd Thursday every 3 months", "FREQ=MONTHLY;INTERVAL=3;BYDAY=2TH", "Asia/Shanghai", "20260108T100000",
            custom(2, 3, Some(16 + 256), Count(50))),
        ("Tencent doc: the 16th every 3 months", "FREQ=MONTHLY;INTERVAL=3;BYMONTHDAY=16", "Asia/Shanghai", "20260116T100000",
            custom(3, 3, Some(1 << 15), Count(50))),
        ("Thunderbird 1st and 15th", "FREQ=MONTHLY;BYMONTHDAY=1,15", "Asia/Shanghai", "20260115T100000",
            custom(3, 1, Some(1 + (1 << 14)), Count(50))),
        ("Outlook monthly on the 31st", "FREQ=MONTHLY;BYMONTHDAY=31", "Asia/Shanghai", "20260131T100000",
            Refuse("day 31")),
        ("Google monthly on the 30th", "FREQ=MONTHLY", "Asia/Shanghai", "20260130T100000",
            Refuse("day 30")),
        ("Thunderbird last day of month", "FREQ=MONTHLY;BYMONTHDAY=-1", "Asia/Shanghai", "20260131T100000",
            Refuse("BYMONTHDAY=-1")),
        ("Thunderbird 5th Friday", "FREQ=MONTHLY;BYDAY=5FR", "Asia/Shanghai", "20260130T100000",
            custom(2, 1, Some(32 + 2048), Count(50))),
        ("2nd Thursday on a 3rd Thursday", "FREQ=MONTHLY;BYDAY=2TH", "Asia/Shanghai", "20260115T100000",
            Refuse("does not match DTSTART")),
        ("Thunderbird two weekdays a month", "FREQ=MONTHLY;BYDAY=1MO,3MO", "Asia/Shanghai", "20260105T100000",
            Refuse("one weekday per month")),
        ("Outlook first weekday of month", "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=1", "Asia/Shanghai", "20260101T100000",
            Refuse("one weekday per month")),
        ("Outlook every Monday of the month", "FREQ=MONTHLY;BYDAY=MO", "Asia/Shanghai", "20260105T100000",
            Refuse("without an ordinal")),
        ("hourly", "FREQ=HOURLY;INTERVAL=4", "Asia/Shanghai", "20260105T100000",
            Refuse("FREQ=HOURLY")),
        ("daily at two hours", "FREQ=DAILY;BYHOUR=9,15", "Asia/Shanghai", "20260105T090000",
            Refuse("BYHOUR")),
        ("X- part", "FREQ=WEEKLY;BYDAY=MO;X-NAME=foo", "Asia/Shanghai", "20260105T100000",
            Refuse("X-NAME")),
        ("DAILY on weekends", "FREQ=DAILY;BYDAY=SA,SU", "Asia/Shanghai", "20260103T100000",
            custom(1, 1, Some(1 + 64), Count(50))),
        ("every 2nd day on weekdays", "FREQ=DAILY;INTERVAL=2;BYDAY=MO,WE,FR", "Asia/Shanghai", "20260105T100000",
            Refuse("INTERVAL=2")),
        ("biweekly Sunday+Monday", "FREQ=WEEKLY;INTERVAL=2;BYDAY=SU,MO", "Asia/Shanghai", "20260105T100000",
            Refuse("WKST")),
        ("biweekly weekend, WKST=SU", "FREQ=WEEKLY;INTERVAL=2;BYDAY=SA,SU;WKST=SU", "Asia/Shanghai", "20260103T100000",
            Refuse("WKST")),
        ("weekly weekend", "FREQ=WEEKLY;BYDAY=SA,SU", "Asia/Shanghai", "20260103T100000",
            custom(1, 1, Some(65), Count(50))),
        ("lowercase biweekly", "freq=weekly;interval=2;byday=we", "Asia/Shanghai", "20260107T100000",
            fixed(3, Count(50))),
        ("weekly on another day", "FREQ=WEEKLY;BYDAY=TU", "Asia/Shanghai", "20260105T100000",
            Refuse("DTSTART")),
        ("BYWEEKNO", "FREQ=YEARLY;BYWEEKNO=20", "Asia/Shanghai", "20260511T100000",
            Refuse("BYWEEKNO")),
        ("daily in winter months", "FREQ=DAILY;BYMONTH=1,2", "Asia/Shanghai", "20260105T100000",
            Refuse("BYMONTH")),
        ("biweekly Sunday", "FREQ=WEEKLY;INTERVAL=2", "Asia/Shanghai", "20260104T100000",
            fixed(3, Count(50))),
        ("biweekly workweek", "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,TU,WE,TH,FR", "Asia/Shanghai", "20260105T100000",
            custom(1, 2, Some(62), Count(50))),
    ]
}

#[test]
fn real_world_rules_map_exactly_or_are_refused() {
    let cases = cases();
    assert!(cases.len() >= 40);
    let mut failures = Vec::new();
    for (source, text, tzid, dtstart, expect) in cases {
        let rule = Rrule::parse(text).unwrap_or_else(|e| panic!("{source}: {text}: {e}"));
        let zone = zone(tzid);
        let dtstart = local(dtstart);
        let series = Series {
            rule: &rule,
            dtstart,
            zone: &zone,
            duration: Duration::hours(1),
            exdates: &[],
        };
        // Mapped as at creation time: an hour before the first occurrence.
        let now = zone.to_utc(dtstart) - Duration::hours(1);
        let got = map_series(&series, now);
        match (expect, got) {
            (
                Map {
                    recurring_type,
                    end,
                    customized,
                },
                Ok(plan),
            ) => {
                let (until_type, until_count, until_date) = match end {
                    End::Count(n) => (1, Some(n), None),
                    End::Date(d) => (0, None, Some(utc(d).timestamp())),
                };
                let want = RecurringRule {
                    recurring_type,
                    until_type,
                    until_count,
                    until_date,
                    customized_recurring_type: customized.map(|c| c.0),
                    customized_recurring_step: customized.map(|c| c.1),
                    customized_recurring_days: customized.and_then(|c| c.2),
                    sub_meeting_id: None,
                };
                if plan.rule != want {
                    failures.push(format!(
                        "{source}: {text}\n  want {want:?}\n  got  {:?}",
                        plan.rule
                    ));
                }
                if plan.first_start != zone.to_utc(dtstart) {
                    failures.push(format!(
                        "{source}: first_start {} is not DTSTART",
                        plan.first_start
                    ));
                }
            }
            (Refuse(part), Err(Unsupported::Rule { reason })) => {
                if !reason.contains(part) {
                    failures.push(format!(
                        "{source}: {text}: reason '{reason}' does not name '{part}'"
                    ));
                }
            }
            (Map { .. }, Err(e)) => failures.push(format!("{source}: {text}: refused: {e}")),
            (Refuse(part), other) => {
                failures.push(format!(
                    "{source}: {text}: expected refusal ({part}), got {other:?}"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn weekly_berlin_rule(text: &str) -> Rrule {
    Rrule::parse(text).unwrap()
}

#[test]
fn past_series_starts_at_next_occurrence_and_reduces_count() {
    let rule = weekly_berlin_rule("FREQ=WEEKLY;COUNT=10");
    let zone = zone("Europe/Berlin");
    let series = Series {
        rule: &rule,
        dtstart: local("20250106T093000"),
        zone: &zone,
        duration: Duration::hours(1),
        exdates: &[],
    };
    // Jan 6, 13, 20, 27 and Feb 3 are over on Feb 5.
    let plan = map_series(&series, utc("20250205T120000Z")).unwrap();
    assert_eq!(plan.first_start, utc("20250210T083000Z"));
    assert_eq!(plan.first_end, utc("20250210T093000Z"));
    assert_eq!(plan.rule.recurring_type, 2);
    assert_eq!((plan.rule.until_type, plan.rule.until_count), (1, Some(5)));
    assert_eq!(plan.remaining_total, Some(5));
    assert!(!plan.truncated);
    assert_eq!(plan.occurrences.len(), 5);
    // An occurrence under way has not ended: it is the first one.
    let plan = map_series(&series, utc("20250210T090000Z")).unwrap();
    assert_eq!(plan.first_start, utc("20250210T083000Z"));
    assert_eq!(plan.rule.until_count, Some(5));
}

#[test]
fn past_series_keeps_until() {
    let rule = weekly_berlin_rule("FREQ=DAILY;UNTIL=20250320T235959Z");
    let zone = zone("Europe/Berlin");
    let series = Series {
        rule: &rule,
        dtstart: local("20250101T100000"),
        zone: &zone,
        duration: Duration::minutes(30),
        exdates: &[],
    };
    let plan = map_series(&series, utc("20250310T120000Z")).unwrap();
    assert_eq!(plan.first_start, utc("20250311T090000Z"));
    assert_eq!(plan.rule.until_type, 0);
    assert_eq!(
        plan.rule.until_date,
        Some(utc("20250320T090000Z").timestamp())
    );
    assert_eq!(plan.remaining_total, Some(10));
    assert_eq!(plan.occurrences.len(), 10);
}

#[test]
fn ended_series_is_its_own_error() {
    let zone = zone("Europe/Berlin");
    for text in ["FREQ=DAILY;COUNT=3", "FREQ=WEEKLY;UNTIL=20250201T000000Z"] {
        let rule = Rrule::parse(text).unwrap();
        let series = Series {
            rule: &rule,
            dtstart: local("20250106T093000"),
            zone: &zone,
            duration: Duration::hours(1),
            exdates: &[],
        };
        assert_eq!(
            map_series(&series, utc("20250301T000000Z")),
            Err(Unsupported::Ended),
            "{text}"
        );
    }
}

#[test]
fn weekly_meeting_keeps_wall_time_across_dst() {
    let rule = Rrule::parse("FREQ=WEEKLY;BYDAY=MO;COUNT=4").unwrap();
    let zone = zone("Europe/Berlin");
    let series = Series {
        rule: &rule,
        dtstart: local("20250317T093000"),
        zone: &zone,
        duration: Duration::hours(1),
        exdates: &[],
    };
    let starts = occurrences(&series, utc("20250101T000000Z"), 10).unwrap();
    assert_eq!(
        starts,
        vec![
            utc("20250317T083000Z"),
            utc("20250324T083000Z"),
            utc("20250331T073000Z"),
            utc("20250407T073000Z"),
        ]
    );
    for s in &starts {
        assert_eq!(zone.to_local(*s).time(), local("20250101T093000").time());
    }
}

#[test]
fn long_and_unbounded_series_are_capped_and_marked_truncated() {
    let zone = zone("Asia/Shanghai");
    let long = Rrule::parse("FREQ=DAILY;COUNT=500").unwrap();
    let series = Series {
        rule: &long,
        dtstart: local("20260105T100000"),
        zone: &zone,
        duration: Duration::hours(1),
        exdates: &[],
    };
    let plan = map_series(&series, utc("20260101T000000Z")).unwrap();
    assert_eq!(plan.rule.until_count, Some(200));
    assert!(plan.truncated);
    assert_eq!(plan.remaining_total, Some(500));
    assert_eq!(plan.occurrences.len(), 200);

    let monthly = Rrule::parse("FREQ=MONTHLY").unwrap();
    let series = Series {
        rule: &monthly,
        ..series
    };
    let plan = map_series(&series, utc("20260101T000000Z")).unwrap();
    assert_eq!((plan.rule.until_type, plan.rule.until_count), (1, Some(50)));
    assert!(plan.truncated);
    assert_eq!(plan.remaining_total, None);

    let until_far = Rrule::parse("FREQ=WEEKLY;UNTIL=20401231T000000Z").unwrap();
    let series = Series {
        rule: &until_far,
        ..series
    };
    let plan = map_series(&series, utc("20260101T000000Z")).unwrap();
    assert_eq!(
        (
            plan.rule.until_type,
            plan.rule.until_count,
            plan.rule.until_date
        ),
        (1, Some(200), None)
    );
    assert!(plan.truncated);
    assert_eq!(plan.remaining_total, Some(782));
}

#[test]
fn exdates_are_left_out_but_keep_counting() {
    let zone = zone("America/Chicago");
    let rule = Rrule::parse("FREQ=WEEKLY;BYDAY=FR;COUNT=5").unwrap();
    // Google's school calendar excludes holidays on a weekly series.
    let exdates = [utc("20201127T181500Z"), utc("20201106T181500Z")];
    let series = Series {
        rule: &rule,
        dtstart: local("20201106T121500"),
        zone: &zone,
        duration: Duration::minutes(50),
        exdates: &exdates,
    };
    let plan = map_series(&series, utc("20201101T000000Z")).unwrap();
    // The first occurrence is excluded: the meeting starts at the next one.
    assert_eq!(plan.first_start, utc("20201113T181500Z"));
    assert_eq!(plan.rule.until_count, Some(4));
    assert_eq!(
        plan.occurrences,
        vec![
            utc("20201113T181500Z"),
            utc("20201120T181500Z"),
            utc("20201204T181500Z")
        ]
    );
    let all = occurrences(&series, utc("20200101T000000Z"), 100).unwrap();
    assert_eq!(all.len(), 3, "COUNT=5 minus two EXDATEs: {all:?}");
}

#[test]
fn runaway_rules_are_bounded() {
    let zone = zone("Asia/Shanghai");
    let huge = Rrule::parse("FREQ=DAILY;COUNT=4000000000").unwrap();
    let series = Series {
        rule: &huge,
        dtstart: local("20260105T100000"),
        zone: &zone,
        duration: Duration::hours(1),
        exdates: &[],
    };
    assert_eq!(
        occurrences(&series, utc("20260101T000000Z"), 3)
            .unwrap()
            .len(),
        3
    );
    let plan = map_series(&series, utc("20260101T000000Z")).unwrap();
    assert_eq!(plan.rule.until_count, Some(200));
    assert_eq!(plan.remaining_total, Some(4_000_000_000));

    // Never matches after DTSTART: the walk stops at its bound instead of spinning.
    let never = Rrule::parse("FREQ=MONTHLY;BYMONTH=2;BYMONTHDAY=30").unwrap();
    let series = Series {
        rule: &never,
        dtstart: local("20260130T100000"),
        ..series
    };
    assert_eq!(
        occurrences(&series, utc("20260201T000000Z"), 10).unwrap(),
        Vec::<DateTime<Utc>>::new()
    );

    // Daily since year 1 is skipped to the window, not walked day by day.
    let ancient = Rrule::parse("FREQ=DAILY").unwrap();
    let series = Series {
        rule: &ancient,
        dtstart: local("00010101T100000"),
        ..series
    };
    assert_eq!(
        occurrences(&series, utc("20260101T000000Z"), 2).unwrap(),
        vec![utc("20260101T020000Z"), utc("20260102T020000Z")]
    );
    let plan = map_series(&series, utc("20260101T000000Z")).unwrap();
    assert_eq!(plan.first_start, utc("20260101T020000Z"));
}

#[test]
fn expander_handles_rules_tencent_cannot_hold() {
    let zone = zone("Europe/Berlin");
    let last_friday = Rrule::parse("FREQ=MONTHLY;BYDAY=-1FR").unwrap();
    let series = Series {
        rule: &last_friday,
        dtstart: local("20211126T213000"),
        zone: &zone,
        duration: Duration::hours(1),
        exdates: &[],
    };
    assert_eq!(
        occurrences(&series, utc("20211101T000000Z"), 3).unwrap(),
        vec![
            utc("20211126T203000Z"),
            utc("20211231T203000Z"),
            utc("20220128T203000Z")
        ]
    );
    let election =
        Rrule::parse("FREQ=YEARLY;BYMONTH=11;BYDAY=TU;BYMONTHDAY=2,3,4,5,6,7,8").unwrap();
    let series = Series {
        rule: &election,
        dtstart: local("20241105T080000"),
        ..series
    };
    assert_eq!(
        occurrences(&series, utc("20240101T000000Z"), 3).unwrap(),
        vec![
            utc("20241105T070000Z"),
            utc("20251104T070000Z"),
            utc("20261103T070000Z")
        ]
    );
    let thirty_first = Rrule::parse("FREQ=MONTHLY;COUNT=3").unwrap();
    let series = Series {
        rule: &thirty_first,
        dtstart: local("20260131T100000"),
        ..series
    };
    assert_eq!(
        occurrences(&series, utc("20260101T000000Z"), 10).unwrap(),
        vec![
            utc("20260131T090000Z"),
            utc("20260331T080000Z"),
            utc("20260531T080000Z")
        ],
        "RFC 5545 skips months without a 31st"
    );
    let hourly = Rrule::parse("FREQ=HOURLY").unwrap();
    let series = Series {
        rule: &hourly,
        ..series
    };
    assert!(matches!(
        occurrences(&series, utc("20260101T000000Z"), 1),
        Err(Unsupported::Rule { .. })
    ));
}

#[test]
fn rrule_text_is_parsed_tolerantly() {
    let r = Rrule::parse("RRULE:freq=Weekly; interval=2 ;BYDAY=MO, TH;WKST=su;").unwrap();
    assert_eq!(r.freq, Frequency::Weekly);
    assert_eq!(r.interval, 2);
    assert_eq!(r.wkst, Some(Weekday::Sun));
    assert_eq!(
        r.by_day,
        vec![
            WeekdayNum {
                ordinal: None,
                weekday: Weekday::Mon
            },
            WeekdayNum {
                ordinal: None,
                weekday: Weekday::Thu
            },
        ]
    );
    let r = Rrule::parse("FREQ=MONTHLY;BYDAY=-1FR,+2MO;BYMONTHDAY=-1,15;UNTIL=20051231").unwrap();
    assert_eq!(
        r.by_day[0],
        WeekdayNum {
            ordinal: Some(-1),
            weekday: Weekday::Fri
        }
    );
    assert_eq!(r.by_day[1].ordinal, Some(2));
    assert_eq!(r.by_month_day, vec![-1, 15]);
    assert_eq!(
        r.until,
        Some(Until::Date(NaiveDate::from_ymd_opt(2005, 12, 31).unwrap()))
    );
    assert_eq!(
        Rrule::parse("FREQ=DAILY;UNTIL=20200429T000000")
            .unwrap()
            .until,
        Some(Until::Floating(local("20200429T000000")))
    );
    assert_eq!(
        Rrule::parse("FREQ=DAILY;UNTIL=20170814T045959Z")
            .unwrap()
            .until,
        Some(Until::Utc(utc("20170814T045959Z")))
    );
    let x = Rrule::parse("FREQ=DAILY;X-EVOLUTION-ENDDATE=20031212T160000Z").unwrap();
    assert_eq!(
        x.extensions,
        vec![(
            "X-EVOLUTION-ENDDATE".to_owned(),
            "20031212T160000Z".to_owned()
        )]
    );
}

#[test]
fn malformed_rrules_are_errors() {
    assert_eq!(Rrule::parse("INTERVAL=2"), Err(RruleError::MissingFreq));
    assert_eq!(
        Rrule::parse("FREQ=DAILY;FREQ=WEEKLY"),
        Err(RruleError::Duplicate("FREQ".into()))
    );
    assert!(matches!(
        Rrule::parse("FREQ=DAILY;INTERVAL=0"),
        Err(RruleError::InvalidValue { .. })
    ));
    assert!(matches!(
        Rrule::parse("FREQ=FORTNIGHTLY"),
        Err(RruleError::InvalidValue { .. })
    ));
    assert!(matches!(
        Rrule::parse("FREQ=WEEKLY;BYDAY=XX"),
        Err(RruleError::InvalidValue { .. })
    ));
    assert!(matches!(
        Rrule::parse("FREQ=MONTHLY;BYMONTHDAY=32"),
        Err(RruleError::InvalidValue { .. })
    ));
    assert!(matches!(
        Rrule::parse("FREQ=DAILY;UNTIL=2020-01-01"),
        Err(RruleError::InvalidValue { .. })
    ));
    assert!(matches!(
        Rrule::parse("FREQ=DAILY;COUNT"),
        Err(RruleError::MalformedPart(_))
    ));
}

#[test]
fn recurring_rule_serializes_without_absent_fields() {
    let rule = RecurringRule {
        recurring_type: 5,
        until_type: 1,
        until_count: Some(7),
        until_date: None,
        customized_recurring_type: Some(0),
        customized_recurring_step: Some(3),
        customized_recurring_days: None,
        sub_meeting_id: None,
    };
    assert_eq!(
        serde_json::to_string(&rule).unwrap(),
        // Keys in the SDK's (alphabetical) order, absent fields left out.
        r#"{"customized_recurring_step":3,"customized_recurring_type":0,"recurring_type":5,"until_count":7,"until_type":1}"#
    );
}

/// Occurrence starts of `text` from `dtstart` (wall time in `tzid`), as UTC strings.
fn expand(text: &str, tzid: &str, dtstart: &str, limit: usize) -> Vec<DateTime<Utc>> {
    let rule = Rrule::parse(text).unwrap();
    let zone = zone(tzid);
    let series = Series {
        rule: &rule,
        dtstart: local(dtstart),
        zone: &zone,
        duration: Duration::hours(1),
        exdates: &[],
    };
    occurrences(&series, utc("19000101T000000Z"), limit).unwrap()
}

#[test]
fn rfc5545_wkst_example_depends_on_week_start() {
    // RFC 5545 §3.8.5.3: the same rule, WKST=MO vs WKST=SU.
    let mo = expand(
        "FREQ=WEEKLY;INTERVAL=2;COUNT=4;BYDAY=TU,SU;WKST=MO",
        "America/New_York",
        "19970805T090000",
        10,
    );
    let days = |v: &[DateTime<Utc>]| {
        v.iter()
            .map(|t| t.date_naive().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        days(&mo),
        ["1997-08-05", "1997-08-10", "1997-08-19", "1997-08-24"]
    );
    let su = expand(
        "FREQ=WEEKLY;INTERVAL=2;COUNT=4;BYDAY=TU,SU;WKST=SU",
        "America/New_York",
        "19970805T090000",
        10,
    );
    assert_eq!(
        days(&su),
        ["1997-08-05", "1997-08-17", "1997-08-19", "1997-08-31"]
    );
}

#[test]
fn rfc5545_second_to_last_weekday_of_month() {
    let starts = expand(
        "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-2",
        "America/New_York",
        "19970929T090000",
        7,
    );
    let days: Vec<String> = starts.iter().map(|t| t.date_naive().to_string()).collect();
    assert_eq!(
        days,
        [
            "1997-09-29",
            "1997-10-30",
            "1997-11-27",
            "1997-12-30",
            "1998-01-29",
            "1998-02-26",
            "1998-03-30"
        ]
    );
}

#[test]
fn daily_series_through_a_dst_gap_shifts_only_that_day() {
    let starts = expand("FREQ=DAILY;COUNT=3", "Europe/Berlin", "20250329T023000", 10);
    assert_eq!(
        starts,
        vec![
            utc("20250329T013000Z"),
            utc("20250330T013000Z"),
            utc("20250331T003000Z")
        ],
        "02:30 on 30 March does not exist and is read as 03:30 CEST"
    );
}

#[test]
fn every_day_of_the_week_is_plain_daily() {
    let rule = Rrule::parse("FREQ=WEEKLY;BYDAY=SU,MO,TU,WE,TH,FR,SA").unwrap();
    let zone = zone("Asia/Shanghai");
    let series = Series {
        rule: &rule,
        dtstart: local("20260105T100000"),
        zone: &zone,
        duration: Duration::hours(1),
        exdates: &[],
    };
    let plan = map_series(&series, utc("20260101T000000Z")).unwrap();
    assert_eq!(plan.rule.recurring_type, 0);
    assert_eq!(plan.rule.customized_recurring_type, None);
}
