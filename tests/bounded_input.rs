//! Hostile sizes (issue #6 part 3): a 500 MB feed, 100,000 attendees, a 10 MB line, an RRULE
//! with millions of occurrences, components nested 10,000 deep, oversized CalDAV and Tencent
//! answers. Each must end in bounded time and memory with a clear error (or a correct result).
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use calmeet::event::{ParseError, TagMatcher, Timing, parse_calendar};
use calmeet::recurrence::{Rrule, Series, map_series};
use calmeet::source::caldav::{Auth, CalDavClient, DavError};
use calmeet::source::ics::{self, IcsError, MAX_FEED_BYTES};
use chrono::{DateTime, Utc};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const MB: u64 = 1024 * 1024;

/// A server that answers every request with `total` bytes of `fill`, announced with a
/// `Content-Length` or sent chunked without one. Returns its base URL and the bytes it managed
/// to send before the client hung up.
async fn huge_server(
    total: u64,
    content_length: bool,
    status: &'static str,
    fill: u8,
) -> (String, Arc<AtomicU64>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let sent = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&sent);
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let counter = Arc::clone(&counter);
            tokio::spawn(async move {
                // Read the request head (and whatever body came with it).
                let mut buf = vec![0u8; 64 * 1024];
                let mut seen = Vec::new();
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    let Ok(n) = stream.read(&mut buf).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    seen.extend_from_slice(&buf[..n]);
                }
                let head = if content_length {
                    format!(
                        "HTTP/1.1 {status}\r\nContent-Type: text/calendar\r\nContent-Length: {total}\r\n\r\n"
                    )
                } else {
                    format!(
                        "HTTP/1.1 {status}\r\nContent-Type: text/calendar\r\nTransfer-Encoding: chunked\r\n\r\n"
                    )
                };
                if stream.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let chunk = vec![fill; MB as usize];
                let mut left = total;
                while left > 0 {
                    let n = left.min(MB);
                    let piece = &chunk[..usize::try_from(n).unwrap()];
                    let ok = if content_length {
                        stream.write_all(piece).await.is_ok()
                    } else {
                        let framed = [format!("{n:x}\r\n").as_bytes(), piece, b"\r\n"].concat();
                        stream.write_all(&framed).await.is_ok()
                    };
                    if !ok {
                        return;
                    }
                    counter.fetch_add(n, Ordering::Relaxed);
                    left -= n;
                }
                if !content_length {
                    let _ = stream.write_all(b"0\r\n\r\n").await;
                }
            });
        }
    });
    (format!("http://{addr}"), sent)
}

/// Peak resident memory of this process, from /proc (Linux), in bytes.
fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

#[tokio::test]
async fn a_500_mb_feed_with_content_length_is_refused_before_reading() {
    let (base, sent) = huge_server(500 * MB, true, "200 OK", b'A').await;
    let http = calmeet::sync::calendar_http_client().unwrap();
    let started = Instant::now();
    let err = ics::fetch(
        &http,
        &format!("{base}/feed.ics"),
        std::path::Path::new("."),
        None,
        None,
        Duration::from_secs(60),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, IcsError::TooLarge { .. }), "{err}");
    assert!(err.to_string().contains("larger than"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(10));
    // The client hung up at the header: far less than the body was ever sent.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(sent.load(Ordering::Relaxed) < 100 * MB, "{sent:?}");
}

#[tokio::test]
async fn a_500_mb_feed_without_content_length_stops_at_the_limit() {
    let (base, sent) = huge_server(500 * MB, false, "200 OK", b'A').await;
    let http = calmeet::sync::calendar_http_client().unwrap();
    let started = Instant::now();
    let err = ics::fetch(
        &http,
        &format!("{base}/feed.ics"),
        std::path::Path::new("."),
        None,
        None,
        Duration::from_secs(120),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, IcsError::TooLarge { limit, .. } if limit == MAX_FEED_BYTES),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(60));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let sent = sent.load(Ordering::Relaxed);
    assert!(
        sent < 200 * MB,
        "server sent {sent} bytes: the client read past the limit"
    );
    // Reading stopped at 100 MiB: the process never held the 500 MB.
    if let Some(peak) = peak_rss() {
        assert!(peak < 450 * MB, "peak RSS {peak}");
    }
}

#[tokio::test]
async fn an_oversized_caldav_answer_is_refused() {
    for content_length in [true, false] {
        let (base, sent) = huge_server(300 * MB, content_length, "207 Multi-Status", b' ').await;
        let url = url::Url::parse(&format!("{base}/cal/")).unwrap();
        let client = CalDavClient::new(url, Auth::None, Duration::from_secs(60)).unwrap();
        let err = client.sync_collection(None).await.unwrap_err();
        assert!(matches!(err, DavError::TooLarge { .. }), "{err}");
        assert!(err.to_string().contains("larger than"), "{err}");
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(sent.load(Ordering::Relaxed) < 200 * MB);
    }
}

#[tokio::test]
async fn an_oversized_tencent_answer_is_refused() {
    use calmeet::tencent::client::{ClientConfig, TencentClient};
    for content_length in [true, false] {
        let (base, _) = huge_server(64 * MB, content_length, "200 OK", b' ').await;
        let mut config = ClientConfig::new(&base, "200000001", "id", "key");
        config.max_attempts = 1;
        let client = TencentClient::new(config).unwrap();
        let started = Instant::now();
        let err = client.get_meeting("123", "alice", 1).await.unwrap_err();
        assert!(err.to_string().contains("larger than"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(20));
    }
}

// ------------------------------------------------------------------------- pure parsing

fn tagged_event(extra: &str) -> String {
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\nBEGIN:VEVENT\r\nUID:big@x\r\n\
DTSTAMP:20250101T000000Z\r\nDTSTART:20300101T090000Z\r\nDTEND:20300101T100000Z\r\n\
SUMMARY:Weekly\r\nCATEGORIES:Tencent Meeting\r\n{extra}END:VEVENT\r\nEND:VCALENDAR\r\n"
    )
}

fn matcher() -> TagMatcher {
    TagMatcher::new(None)
}

#[test]
fn an_event_with_100000_attendees_parses_in_bounded_time() {
    let mut extra = String::new();
    for i in 0..100_000 {
        extra.push_str(&format!(
            "ATTENDEE;CN=Person {i};PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:p{i}@example.com\r\n"
        ));
    }
    let text = tagged_event(&extra);
    assert!(text.len() > 7_000_000);
    let started = Instant::now();
    let parsed = parse_calendar(text.as_bytes(), chrono_tz::UTC, &matcher()).unwrap();
    let took = started.elapsed();
    assert_eq!(parsed.events.len(), 1);
    assert_eq!(parsed.events[0].uid, "big@x");
    assert!(took < Duration::from_secs(20), "took {took:?}");
    // The patcher handles it too (the write-back of such an event).
    let block = calmeet::writeback::MeetingBlock {
        meeting_id: "1".into(),
        join_url: "https://meeting.tencent.com/dm/x".into(),
        meeting_code: "123456789".into(),
        password: None,
        live_url: None,
    };
    let patched = calmeet::writeback::apply(&text, "big@x", &block, &Default::default()).unwrap();
    assert_eq!(patched.matches("ATTENDEE;").count(), 100_000);
}

#[test]
fn a_10_mb_single_line_parses_and_its_errors_stay_short() {
    let big = "x".repeat(10 * MB as usize);
    // A valid 10 MB DESCRIPTION line.
    let text = tagged_event(&format!("DESCRIPTION:{big}\r\n"));
    let started = Instant::now();
    let parsed = parse_calendar(text.as_bytes(), chrono_tz::UTC, &matcher()).unwrap();
    assert_eq!(parsed.events[0].description.len(), big.len());
    assert!(started.elapsed() < Duration::from_secs(20));
    // A 10 MB line that is not a property: the error must not quote it all.
    let text = tagged_event(&format!("{big}\r\n"));
    let started = Instant::now();
    match parse_calendar(text.as_bytes(), chrono_tz::UTC, &matcher()) {
        Err(e) => assert!(
            e.to_string().len() < 1000,
            "error of {} bytes",
            e.to_string().len()
        ),
        Ok(p) => assert!(p.events.len() <= 1),
    }
    assert!(started.elapsed() < Duration::from_secs(20));
}

#[test]
fn an_rrule_with_millions_of_occurrences_is_capped_or_refused() {
    let now: DateTime<Utc> = "2025-06-01T00:00:00Z".parse().unwrap();
    for (rule, expect_ok) in [
        ("FREQ=DAILY;COUNT=100000000", true),
        ("FREQ=DAILY", true),
        (
            "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR,SA,SU;COUNT=4000000000",
            true,
        ),
        ("FREQ=MINUTELY;COUNT=100000000", false),
        ("FREQ=SECONDLY", false),
        ("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30", false),
    ] {
        let text = tagged_event(&format!("RRULE:{rule}\r\n"))
            .replace("DTSTART:20300101", "DTSTART:19000101")
            .replace("DTEND:20300101", "DTEND:19000101");
        let started = Instant::now();
        let parsed = parse_calendar(text.as_bytes(), chrono_tz::UTC, &matcher()).unwrap();
        let ev = &parsed.events[0];
        let Timing::Timed {
            start,
            end,
            local_start,
            zone,
        } = &ev.timing
        else {
            panic!("timed");
        };
        let rrule = Rrule::parse(ev.rrule.as_deref().unwrap()).unwrap();
        let series = Series {
            rule: &rrule,
            dtstart: *local_start,
            zone,
            duration: *end - *start,
            exdates: &ev.exdates,
        };
        let result = map_series(&series, now);
        let took = started.elapsed();
        assert!(took < Duration::from_secs(10), "{rule}: {took:?}");
        match result {
            Ok(plan) => {
                assert!(expect_ok, "{rule}: {plan:?}");
                assert!(
                    plan.truncated,
                    "{rule}: a capped series must be marked truncated"
                );
                assert!(plan.occurrences.len() <= 1000, "{rule}");
                assert!(plan.first_start >= now, "{rule}");
            }
            Err(e) => {
                assert!(!expect_ok, "{rule}: {e}");
                assert!(e.to_string().contains("not supported"), "{rule}: {e}");
            }
        }
    }
}

#[test]
fn components_nested_10000_deep_are_refused_without_overflowing_the_stack() {
    for name in ["VEVENT", "VCALENDAR", "VALARM", "X"] {
        let mut text = String::from("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n");
        text.push_str(&format!("BEGIN:{name}\r\n").repeat(10_000));
        text.push_str(&format!("END:{name}\r\n").repeat(10_000));
        text.push_str("END:VCALENDAR\r\n");
        // Test threads have the 2 MiB stack of tokio's workers: what the daemon parses on.
        let started = Instant::now();
        let err = parse_calendar(text.as_bytes(), chrono_tz::UTC, &matcher()).unwrap_err();
        assert!(matches!(err, ParseError::TooDeep { .. }), "{name}: {err}");
        assert!(err.to_string().contains("nest"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }
    // Lower-case, folded BEGIN lines count too (unfolding happens first).
    let mut text = String::from("BEGIN:VCALENDAR\r\n");
    text.push_str(&"begin:\r\n vevent\r\n".repeat(10_000));
    text.push_str(&"end:vevent\r\n".repeat(10_000));
    text.push_str("END:VCALENDAR\r\n");
    let err = parse_calendar(text.as_bytes(), chrono_tz::UTC, &matcher()).unwrap_err();
    assert!(matches!(err, ParseError::TooDeep { .. }), "{err}");
    // Real nesting (VCALENDAR › VEVENT › VALARM) is far below the limit.
    let ok = tagged_event("BEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT5M\r\nEND:VALARM\r\n");
    assert_eq!(
        parse_calendar(ok.as_bytes(), chrono_tz::UTC, &matcher())
            .unwrap()
            .events
            .len(),
        1
    );
}
