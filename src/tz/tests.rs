//! Tests of TZID resolution and VTIMEZONE evaluation, with VTIMEZONEs as real producers write them.
#![allow(clippy::unwrap_used)]

use super::vtimezone::parse_offset;
use super::windows::{OLD_DISPLAY_NAMES, WINDOWS_ZONES};
use super::*;
use chrono::{NaiveDate, TimeZone};
use icalendar::parser::{read_calendar, unfold};

fn local(y: i32, m: u32, d: u32, h: u32, min: u32) -> NaiveDateTime {
    NaiveDate::from_ymd_opt(y, m, d)
        .unwrap()
        .and_hms_opt(h, min, 0)
        .unwrap()
}

fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    local(y, m, d, h, min).and_utc()
}

/// A resolver holding every VTIMEZONE of `ics`.
fn resolver_with(ics: &str) -> ZoneResolver {
    let unfolded = unfold(ics);
    let cal = read_calendar(&unfolded).unwrap();
    let mut r = ZoneResolver::new(chrono_tz::Asia::Shanghai);
    for c in cal.components.iter().filter(|c| c.name == "VTIMEZONE") {
        r.add_vtimezone(c);
    }
    r
}

/// The one VTIMEZONE of `ics`, parsed directly (bypassing the IANA preference).
fn vtimezone(ics: &str) -> Zone {
    let unfolded = unfold(ics);
    let cal = read_calendar(&unfolded).unwrap();
    let c = cal
        .components
        .iter()
        .find(|c| c.name == "VTIMEZONE")
        .unwrap();
    Zone::Custom(Arc::new(VTimezone::from_component(c).unwrap()))
}

fn iana_name(r: &ZoneResolver, tzid: &str) -> String {
    match r.resolve(Some(tzid)) {
        Ok(Zone::Iana(tz)) => tz.name().to_owned(),
        other => panic!("{tzid}: expected an IANA zone, got {other:?}"),
    }
}

/// Asserts two zones agree at every instant from `from` to `to`, stepping `step`.
fn assert_same_offsets(a: &Zone, b: &Zone, from: DateTime<Utc>, to: DateTime<Utc>, step: Duration) {
    let mut t = from;
    while t <= to {
        assert_eq!(
            a.offset_at_utc(t),
            b.offset_at_utc(t),
            "offsets differ at {t}"
        );
        t += step;
    }
}

const WINDOWS_CDO_TZ: &str = "BEGIN:VCALENDAR
BEGIN:VTIMEZONE
TZID:GMT +0100 (Standard) / GMT +0200 (Daylight)
BEGIN:STANDARD
DTSTART:16010101T030000
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
RRULE:FREQ=YEARLY;WKST=MO;INTERVAL=1;BYMONTH=10;BYDAY=-1SU
END:STANDARD
BEGIN:DAYLIGHT
DTSTART:16010101T020000
TZOFFSETFROM:+0100
TZOFFSETTO:+0200
RRULE:FREQ=YEARLY;WKST=MO;INTERVAL=1;BYMONTH=3;BYDAY=-1SU
END:DAYLIGHT
END:VTIMEZONE
END:VCALENDAR
";

const NZ_TZ: &str = "BEGIN:VCALENDAR
BEGIN:VTIMEZONE
TZID:New Zealand Standard Time
BEGIN:STANDARD
DTSTART:16010101T030000
TZOFFSETFROM:+1300
TZOFFSETTO:+1200
RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=1SU;BYMONTH=4
END:STANDARD
BEGIN:DAYLIGHT
DTSTART:16010101T020000
TZOFFSETFROM:+1200
TZOFFSETTO:+1300
RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=9
END:DAYLIGHT
END:VTIMEZONE
END:VCALENDAR
";

const MOSCOW_SECONDS_TZ: &str = "BEGIN:VCALENDAR
BEGIN:VTIMEZONE
TZID:Europe/Moscow
BEGIN:STANDARD
TZOFFSETFROM:+023017
DTSTART:20010101T000000
TZNAME:GMT+3
TZOFFSETTO:+023017
END:STANDARD
END:VTIMEZONE
END:VCALENDAR
";

const GROUPWISE_TZ: &str = "BEGIN:VCALENDAR
BEGIN:VTIMEZONE
TZID:Mitteleuropäische Zeit 
BEGIN:STANDARD
DTSTART:20001025T020000
RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10
TZNAME:Mitteleuropäische Zeit 
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
END:STANDARD
BEGIN:DAYLIGHT
DTSTART:20000329T010000
RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3
TZNAME:Mitteleuropäische Sommerzeit 
TZOFFSETFROM:+0100
TZOFFSETTO:+0200
END:DAYLIGHT
END:VTIMEZONE
END:VCALENDAR
";

const EMCLIENT_YEAR_1_TZ: &str = "BEGIN:VCALENDAR
BEGIN:VTIMEZONE
TZID:W. Europe Standard Time
X-EM-DISPLAYNAME:(UTC+01:00) Amsterdam\\, Berlin\\, Bern\\, Rom\\, Stockholm\\, Wien
BEGIN:DAYLIGHT
TZNAME:Mitteleuropäische Sommerzeit
DTSTART:00010325T020000
TZOFFSETFROM:+0100
TZOFFSETTO:+0200
RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3
END:DAYLIGHT
BEGIN:STANDARD
TZNAME:Mitteleuropäische Zeit
DTSTART:00011028T030000
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10
END:STANDARD
END:VTIMEZONE
END:VCALENDAR
";

#[test]
fn iana_names_resolve_exactly_and_case_insensitively() {
    let r = ZoneResolver::new(chrono_tz::UTC);
    assert_eq!(iana_name(&r, "Europe/Berlin"), "Europe/Berlin");
    assert_eq!(iana_name(&r, "europe/berlin"), "Europe/Berlin");
    assert_eq!(
        iana_name(&r, "AMERICA/ARGENTINA/BUENOS_AIRES"),
        "America/Argentina/Buenos_Aires"
    );
    assert_eq!(iana_name(&r, " \"Asia/Shanghai\" "), "Asia/Shanghai");
}

#[test]
fn deprecated_links_resolve_to_the_same_rules() {
    let r = ZoneResolver::new(chrono_tz::UTC);
    let central = r.resolve(Some("US/Central")).unwrap();
    let chicago = Zone::Iana(chrono_tz::America::Chicago);
    assert_same_offsets(
        &central,
        &chicago,
        utc(2020, 1, 1, 0, 0),
        utc(2021, 1, 1, 0, 0),
        Duration::hours(6),
    );
    assert_eq!(iana_name(&r, "Etc/GMT"), "Etc/GMT");
    assert_eq!(iana_name(&r, "US/Pacific"), "US/Pacific");
    assert_eq!(iana_name(&r, "UTC"), "UTC");
}

#[test]
fn mozilla_and_libical_prefixes_are_stripped() {
    let r = ZoneResolver::new(chrono_tz::UTC);
    assert_eq!(
        iana_name(&r, "/mozilla.org/20050126_1/Europe/Berlin"),
        "Europe/Berlin"
    );
    assert_eq!(
        iana_name(&r, "/softwarestudio.org/Olson_20011030_5/America/Chicago"),
        "America/Chicago"
    );
    assert_eq!(
        iana_name(
            &r,
            "/freeassociation.sourceforge.net/Tzfile/America/Argentina/Buenos_Aires"
        ),
        "America/Argentina/Buenos_Aires"
    );
    assert!(matches!(
        r.resolve(Some("/mozilla.org/20050126_1/Nowhere/Town")),
        Err(TzError::Unknown(_))
    ));
}

#[test]
fn windows_zone_ids_map_through_cldr() {
    let r = ZoneResolver::new(chrono_tz::UTC);
    for (windows, iana) in [
        ("China Standard Time", "Asia/Shanghai"),
        ("Pacific Standard Time", "America/Los_Angeles"),
        ("W. Europe Standard Time", "Europe/Berlin"),
        ("\"W. Europe Standard Time\"", "Europe/Berlin"),
        ("w. europe standard time", "Europe/Berlin"),
        ("New Zealand Standard Time", "Pacific/Auckland"),
        ("Arabian Standard Time", "Asia/Dubai"),
        ("Eastern Standard Time", "America/New_York"),
        ("Tokyo Standard Time", "Asia/Tokyo"),
        ("India Standard Time", "Asia/Calcutta"),
        ("Romance Standard Time", "Europe/Paris"),
        ("GMT Standard Time", "Europe/London"),
        ("UTC", "UTC"),
        ("UTC+12", "Etc/GMT-12"),
    ] {
        assert_eq!(iana_name(&r, windows), iana, "{windows}");
    }
}

#[test]
fn every_windows_row_names_a_real_iana_zone() {
    assert!(
        WINDOWS_ZONES.len() >= 135,
        "CLDR has ~139 territory-001 rows"
    );
    for (windows, display, iana_name) in WINDOWS_ZONES {
        assert!(
            iana(iana_name).is_some(),
            "{windows} → {iana_name} is not in chrono-tz"
        );
        assert!(!display.is_empty(), "{windows} has no display name");
    }
    for (display, iana_name) in OLD_DISPLAY_NAMES {
        assert!(
            iana(iana_name).is_some(),
            "{display} → {iana_name} is not in chrono-tz"
        );
    }
    let mut ids: Vec<&str> = WINDOWS_ZONES.iter().map(|(w, _, _)| *w).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), WINDOWS_ZONES.len(), "duplicate Windows IDs");
}

#[test]
fn outlook_display_names_resolve() {
    let r = ZoneResolver::new(chrono_tz::UTC);
    for (display, iana) in [
        ("(UTC-05:00) Eastern Time (US & Canada)", "America/New_York"),
        (
            "\"(UTC-05:00) Eastern Time (US & Canada)\"",
            "America/New_York",
        ),
        (
            "(GMT+10:00) Canberra, Melbourne, Sydney",
            "Australia/Sydney",
        ),
        (
            "(UTC+08:00) Beijing, Chongqing, Hong Kong, Urumqi",
            "Asia/Shanghai",
        ),
        (
            "(UTC+01:00) Amsterdam, Berlin, Bern, Rome, Stockholm, Vienna",
            "Europe/Berlin",
        ),
        (
            "(GMT) Greenwich Mean Time : Dublin, Edinburgh, Lisbon, London",
            "Europe/London",
        ),
        (
            "(GMT-08:00) Pacific Time (US & Canada); Tijuana",
            "America/Los_Angeles",
        ),
        ("Kuala Lumpur, Singapore", "Asia/Singapore"),
    ] {
        assert_eq!(iana_name(&r, display), iana, "{display}");
    }
}

#[test]
fn custom_vtimezone_is_used_when_the_name_is_unknown() {
    let r = resolver_with(WINDOWS_CDO_TZ);
    let zone = r
        .resolve(Some("\"GMT +0100 (Standard) / GMT +0200 (Daylight)\""))
        .unwrap();
    assert!(matches!(zone, Zone::Custom(_)), "{zone:?}");
    assert_eq!(zone.name(), "GMT +0100 (Standard) / GMT +0200 (Daylight)");
    assert_eq!(zone.iana_name(), None);
    // The same rules as Europe/Berlin since 1996, across both changes of 2015 and 2025.
    let berlin = Zone::Iana(chrono_tz::Europe::Berlin);
    for year in [2015, 2025] {
        assert_same_offsets(
            &zone,
            &berlin,
            utc(year, 3, 20, 0, 0),
            utc(year, 4, 2, 0, 0),
            Duration::minutes(30),
        );
        assert_same_offsets(
            &zone,
            &berlin,
            utc(year, 10, 20, 0, 0),
            utc(year, 11, 2, 0, 0),
            Duration::minutes(30),
        );
    }
}

#[test]
fn southern_hemisphere_vtimezone_matches_auckland() {
    let zone = vtimezone(NZ_TZ);
    let auckland = Zone::Iana(chrono_tz::Pacific::Auckland);
    assert_same_offsets(
        &zone,
        &auckland,
        utc(2025, 1, 1, 0, 0),
        utc(2026, 1, 1, 0, 0),
        Duration::hours(1),
    );
    // Exchange's Windows name wins over its own VTIMEZONE.
    let r = resolver_with(NZ_TZ);
    assert_eq!(
        iana_name(&r, "New Zealand Standard Time"),
        "Pacific/Auckland"
    );
}

#[test]
fn trailing_space_non_ascii_tzid_resolves_to_its_vtimezone() {
    let r = resolver_with(GROUPWISE_TZ);
    // Written unquoted with its trailing space in DTSTART;TZID=…:
    let zone = r.resolve(Some("Mitteleuropäische Zeit ")).unwrap();
    assert!(matches!(zone, Zone::Custom(_)));
    assert_eq!(
        zone.to_utc(local(2026, 7, 1, 17, 0)),
        utc(2026, 7, 1, 15, 0),
        "summer time +02:00"
    );
    assert_eq!(
        zone.to_utc(local(2026, 1, 15, 17, 0)),
        utc(2026, 1, 15, 16, 0)
    );
}

#[test]
fn year_one_dtstart_still_recurs_to_today() {
    let zone = vtimezone(EMCLIENT_YEAR_1_TZ);
    let berlin = Zone::Iana(chrono_tz::Europe::Berlin);
    assert_same_offsets(
        &zone,
        &berlin,
        utc(2024, 3, 25, 0, 0),
        utc(2024, 11, 5, 0, 0),
        Duration::hours(1),
    );
}

#[test]
fn offsets_with_seconds_are_kept_but_iana_wins_for_iana_names() {
    let zone = vtimezone(MOSCOW_SECONDS_TZ);
    assert_eq!(
        zone.offset_at_utc(utc(2018, 4, 20, 9, 0)).local_minus_utc(),
        2 * 3600 + 30 * 60 + 17
    );
    // Apple's bogus +02:30:17 VTIMEZONE must not override the real Europe/Moscow (+03:00).
    let r = resolver_with(MOSCOW_SECONDS_TZ);
    let moscow = r.resolve(Some("Europe/Moscow")).unwrap();
    assert!(matches!(moscow, Zone::Iana(_)));
    assert_eq!(
        moscow.to_utc(local(2018, 4, 20, 12, 0)),
        utc(2018, 4, 20, 9, 0)
    );
}

#[test]
fn thunderbird_history_vtimezone_matches_london_since_1920() {
    let ics = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/thunderbird-snoozed-alarm-x-moz.ics"
    ));
    let zone = vtimezone(ics);
    let london = Zone::Iana(chrono_tz::Europe::London);
    // Daily over a century of RDATE history and floating-UNTIL rules, then hourly around
    // recent changes.
    assert_same_offsets(
        &zone,
        &london,
        utc(1920, 1, 1, 12, 0),
        utc(2030, 1, 1, 12, 0),
        Duration::days(1),
    );
    assert_same_offsets(
        &zone,
        &london,
        utc(2024, 3, 30, 0, 0),
        utc(2024, 4, 1, 0, 0),
        Duration::minutes(15),
    );
    assert_same_offsets(
        &zone,
        &london,
        utc(2024, 10, 26, 0, 0),
        utc(2024, 10, 28, 0, 0),
        Duration::minutes(15),
    );
}

#[test]
fn dst_gap_shifts_forward_by_the_gap() {
    // 2025-03-30 02:30 does not exist in Berlin: it is read as 03:30 CEST = 01:30Z.
    for zone in [
        Zone::Iana(chrono_tz::Europe::Berlin),
        vtimezone(WINDOWS_CDO_TZ),
    ] {
        let at = zone.to_utc(local(2025, 3, 30, 2, 30));
        assert_eq!(at, utc(2025, 3, 30, 1, 30), "{zone:?}");
        assert_eq!(zone.to_local(at), local(2025, 3, 30, 3, 30));
    }
    // A 30-minute-wide gap shift is by the gap, not by an hour: Lord Howe Island.
    let lord_howe = Zone::Iana(chrono_tz::Australia::Lord_Howe);
    let at = lord_howe.to_utc(local(2025, 10, 5, 2, 10));
    assert_eq!(lord_howe.to_local(at), local(2025, 10, 5, 2, 40));
}

#[test]
fn fold_takes_the_first_occurrence() {
    // 2025-10-26 02:30 happens twice in Berlin; the first is still CEST (+02:00).
    for zone in [
        Zone::Iana(chrono_tz::Europe::Berlin),
        vtimezone(WINDOWS_CDO_TZ),
    ] {
        assert_eq!(
            zone.to_utc(local(2025, 10, 26, 2, 30)),
            utc(2025, 10, 26, 0, 30),
            "{zone:?}"
        );
        assert_eq!(
            zone.to_utc(local(2025, 10, 26, 3, 0)),
            utc(2025, 10, 26, 2, 0)
        );
    }
}

#[test]
fn ordinary_times_round_trip() {
    let zone = Zone::Iana(chrono_tz::America::Chicago);
    let t = local(2020, 11, 16, 8, 15);
    assert_eq!(
        zone.to_utc(t),
        chrono_tz::America::Chicago
            .from_local_datetime(&t)
            .unwrap()
            .with_timezone(&Utc)
    );
    assert_eq!(zone.to_local(zone.to_utc(t)), t);
    assert_eq!(Zone::Utc.to_utc(t), t.and_utc());
    assert_eq!(Zone::Utc.name(), "UTC");
}

#[test]
fn unknown_tzid_is_an_error_naming_it() {
    // Exchange's dangling "Customized Time Zone": the file only defines other zones.
    let r = resolver_with(WINDOWS_CDO_TZ);
    let err = r.resolve(Some("Customized Time Zone")).unwrap_err();
    assert_eq!(err, TzError::Unknown("Customized Time Zone".into()));
    assert!(err.to_string().contains("Customized Time Zone"));
    assert!(matches!(r.resolve(Some("")), Err(TzError::Unknown(_))));
}

#[test]
fn floating_time_uses_the_configured_zone() {
    let r = ZoneResolver::new(chrono_tz::Asia::Shanghai);
    let zone = r.resolve(None).unwrap();
    assert_eq!(zone.name(), "Asia/Shanghai");
    assert_eq!(zone.to_utc(local(2026, 1, 1, 9, 0)), utc(2026, 1, 1, 1, 0));
}

#[test]
fn escaped_custom_tzid_matches_its_quoted_use() {
    let ics = "BEGIN:VCALENDAR
BEGIN:VTIMEZONE
TZID:Somewhere\\, Else
BEGIN:STANDARD
DTSTART:16010101T000000
TZOFFSETFROM:+0530
TZOFFSETTO:+0530
END:STANDARD
END:VTIMEZONE
END:VCALENDAR
";
    let r = resolver_with(ics);
    let zone = r.resolve(Some("\"Somewhere, Else\"")).unwrap();
    assert_eq!(
        zone.offset_at_utc(utc(2026, 1, 1, 0, 0)).local_minus_utc(),
        5 * 3600 + 1800
    );
}

#[test]
fn broken_vtimezone_is_reported_when_used() {
    let ics = "BEGIN:VCALENDAR
BEGIN:VTIMEZONE
TZID:Broken Zone
BEGIN:STANDARD
DTSTART:16010101T000000
TZOFFSETTO:+25xx
END:STANDARD
END:VTIMEZONE
END:VCALENDAR
";
    let r = resolver_with(ics);
    let err = r.resolve(Some("Broken Zone")).unwrap_err();
    assert!(
        matches!(err, TzError::InvalidVTimezone { ref tzid, .. } if tzid == "Broken Zone"),
        "{err:?}"
    );
}

#[test]
fn offsets_parse_with_and_without_seconds() {
    assert_eq!(parse_offset("+0530").unwrap().local_minus_utc(), 19800);
    assert_eq!(parse_offset("-000115").unwrap().local_minus_utc(), -75);
    assert_eq!(parse_offset("+023017").unwrap().local_minus_utc(), 9017);
    assert!(parse_offset("0100").is_none());
    assert!(parse_offset("+01").is_none());
}

#[test]
fn microsoft_tzone_uris_resolve_through_the_windows_table() {
    let r = ZoneResolver::new(chrono_tz::Asia::Shanghai);
    for (tzid, want) in [
        ("tzone://Microsoft/Utc", "UTC"),
        ("\"tzone://Microsoft/Utc\"", "UTC"),
        ("TZONE://microsoft/UTC", "UTC"),
        ("tzone://Microsoft/China Standard Time", "Asia/Shanghai"),
        ("tzone://Microsoft/W. Europe Standard Time", "Europe/Berlin"),
        (
            "tzone://Microsoft/Eastern Standard Time",
            "America/New_York",
        ),
        ("tzone://Microsoft/Europe/Vienna", "Europe/Vienna"),
    ] {
        assert_eq!(iana_name(&r, tzid), want, "{tzid}");
    }
    for unknown in [
        "tzone://Microsoft/",
        "tzone://Microsoft/Nowhere Time",
        "tzone://Other/Utc",
    ] {
        assert!(
            matches!(r.resolve(Some(unknown)), Err(TzError::Unknown(_))),
            "{unknown}"
        );
    }
}

#[test]
fn vtimezone_only_zone_gets_the_cldr_zone_or_an_agreeing_one() {
    let us_rules = |tzid: &str| {
        vtimezone(&format!(
            "BEGIN:VCALENDAR\r\nBEGIN:VTIMEZONE\r\nTZID:{tzid}\r\nBEGIN:STANDARD\r\n\
             DTSTART:16010101T020000\r\nTZOFFSETFROM:-0400\r\nTZOFFSETTO:-0500\r\n\
             RRULE:FREQ=YEARLY;BYDAY=1SU;BYMONTH=11\r\nEND:STANDARD\r\nBEGIN:DAYLIGHT\r\n\
             DTSTART:16010101T020000\r\nTZOFFSETFROM:-0500\r\nTZOFFSETTO:-0400\r\n\
             RRULE:FREQ=YEARLY;BYDAY=2SU;BYMONTH=3\r\nEND:DAYLIGHT\r\nEND:VTIMEZONE\r\n\
             END:VCALENDAR\r\n"
        ))
    };
    let year: Vec<DateTime<Utc>> = (0..52)
        .map(|w| utc(2027, 1, 4, 15, 0) + Duration::weeks(w))
        .collect();
    assert_eq!(
        us_rules("Eastern Standard Time 1")
            .iana_equivalent(&year)
            .as_deref(),
        Some("America/New_York"),
        "the CLDR mapping of the id, without Exchange's number"
    );
    let named = us_rules("Customized Time Zone")
        .iana_equivalent(&year)
        .unwrap();
    let tz: chrono_tz::Tz = named.parse().unwrap();
    assert!(named.contains('/') && !named.starts_with("Etc/"), "{named}");
    for t in &year {
        assert_eq!(
            tz.offset_from_utc_datetime(&t.naive_utc()).fix(),
            us_rules("x").offset_at_utc(*t),
            "{named} at {t}"
        );
    }
    // No instants: any zone agrees; IANA zones and UTC name themselves.
    assert!(us_rules("x").iana_equivalent(&[]).is_some());
    assert_eq!(
        Zone::Iana(chrono_tz::Europe::Berlin)
            .iana_equivalent(&year)
            .as_deref(),
        Some("Europe/Berlin")
    );
    assert_eq!(Zone::Utc.iana_equivalent(&year).as_deref(), Some("UTC"));
}
