//! Scale benchmark: a generated 100,000-event, ~72 MB ICS feed (long folded DESCRIPTIONs,
//! several ATTENDEEs per event, as real exports have) through the path a sync pass takes:
//! streamed from a file in 64 KiB chunks through the feed filter, then parse + select + plan.
//! The feed is written to a temporary file and never held in memory by the bench.
//!
//! Run with `cargo bench --bench feed_scale [-- N]`; figures go to BENCHMARKS.md. It asserts
//! that peak RSS (whole process) stays under the feed's size; timing is printed, not asserted
//! (it depends on the machine). `CALMEET_BENCH_QUICK=1` runs 10,000 events (CI), where what the
//! work adds to RSS is held under the feed's size instead.
#![allow(clippy::unwrap_used, clippy::cast_precision_loss)]

use std::collections::HashSet;
use std::io::{Read, Write};
use std::time::Instant;

use calmeet::config::Config;
use calmeet::event::{TagMatcher, parse_calendar};
use calmeet::source::feed_filter::FeedFilter;
use calmeet::sync::{PlanInput, SourcedEvent, plan};

fn rss_kib(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Folds a content line at 75 octets (RFC 5545 §3.1), on character boundaries.
fn folded(line: &str) -> String {
    let mut out = String::with_capacity(line.len() + line.len() / 70 * 3);
    let mut width = 0;
    for c in line.chars() {
        if width + c.len_utf8() > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += c.len_utf8();
    }
    out.push_str("\r\n");
    out
}

/// Writes an `n`-event feed to `out` (~720 bytes an event): every 10th event tagged, every 3rd
/// recurring, each with a ~240-character folded DESCRIPTION and three ATTENDEEs.
fn write_feed(n: usize, out: &mut impl Write) {
    out.write_all(
        b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Google Inc//Google Calendar 70.9054//EN\r\n",
    )
    .unwrap();
    for i in 0..n {
        let day = 1 + (i % 28);
        let month = 1 + (i / 28) % 12;
        let tagged = if i % 10 == 0 {
            "CATEGORIES:腾讯会议\r\n"
        } else {
            ""
        };
        let rule = if i % 3 == 0 {
            "RRULE:FREQ=WEEKLY;COUNT=10\r\n"
        } else {
            ""
        };
        let description = folded(&format!(
            "DESCRIPTION:Agenda for event {i}\\, with details\\n1. Actions from last week\\n2. \
             Status of each workstream: design\\, implementation\\, testing\\n3. Risks and \
             blockers\\n4. Decisions needed before the next milestone\\nPlease read the notes."
        ));
        let mut attendees = String::new();
        for a in 0..3 {
            attendees.push_str(&folded(&format!(
                "ATTENDEE;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;CN=Person {a}:mailto:p{a}.e{i}@example.com"
            )));
        }
        write!(
            out,
            "BEGIN:VEVENT\r\nDTSTART;TZID=Asia/Shanghai:2031{month:02}{day:02}T100000\r\n\
             DTEND;TZID=Asia/Shanghai:2031{month:02}{day:02}T110000\r\nDTSTAMP:20260101T000000Z\r\n\
             UID:event-{i}@bench.example.com\r\nSUMMARY:Event number {i} 周会\r\n{description}\
             {attendees}{tagged}{rule}END:VEVENT\r\n"
        )
        .unwrap();
    }
    out.write_all(b"END:VCALENDAR\r\n").unwrap();
}

/// CPU seconds this process has used (user + system), from /proc/self/stat (100 Hz ticks): on
/// a shared machine, wall time also counts the time other processes held the cores.
fn cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_name = stat.rsplit(')').next().unwrap_or_default();
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // Fields 14 and 15 of stat(5) (utime, stime) are 12 and 13 after the name.
    (ticks(11) + ticks(12)) / 100.0
}

fn main() {
    let quick = std::env::var_os("CALMEET_BENCH_QUICK").is_some();
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(if quick { 10_000 } else { 100_000 });
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("feed.ics");
    {
        let mut w = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        write_feed(n, &mut w);
        w.flush().unwrap();
    }
    let feed_bytes = std::fs::metadata(&path).unwrap().len();
    let config = Config::parse(
        "[[calendar]]\nname = \"big\"\nurl = \"big.ics\"\nkind = \"ics\"\n[meeting]\nuserid = \"u\"\n",
        "bench",
        std::path::Path::new("."),
    )
    .unwrap();
    let matcher = TagMatcher::new(None);
    let before = rss_kib("VmRSS:");

    // What a pass does: stream the body through the filter, parse what it kept, plan.
    let cpu0 = cpu_secs();
    let t0 = Instant::now();
    let mut filter = FeedFilter::new(&matcher);
    let mut file = std::fs::File::open(&path).unwrap();
    let mut buf = vec![0_u8; 64 * 1024];
    loop {
        let k = file.read(&mut buf).unwrap();
        if k == 0 {
            break;
        }
        filter.push(&buf[..k]);
    }
    let filtered = filter.finish();
    let t_read = t0.elapsed();
    let t1 = Instant::now();
    let parsed = parse_calendar(&filtered.data, chrono_tz::Asia::Shanghai, &matcher).unwrap();
    let t_parse = t1.elapsed();
    let events: Vec<SourcedEvent> = parsed
        .events
        .into_iter()
        .map(|event| SourcedEvent {
            event,
            href: None,
            etag: None,
        })
        .collect();
    let now = chrono::Utc::now();
    let t2 = Instant::now();
    let actions = plan(&PlanInput {
        calendar: &config.calendars[0],
        meeting: &config.meeting,
        events: &events,
        failed_uids: &HashSet::new(),
        rows: &[],
        segments: &[],
        now,
        horizon: chrono::Duration::days(3650),
        max_cancel_share: 0.5,
        confirm_deletions: false,
        held_cancels: None,
    });
    let t_plan = t2.elapsed();
    let cpu = cpu_secs() - cpu0;
    let peak = rss_kib("VmHWM:");
    let mib = |b: u64| b as f64 / 1_048_576.0;
    println!(
        "events in feed:        {n} ({} VEVENTs read)",
        filtered.vevents
    );
    println!(
        "feed size:             {:.1} MiB ({feed_bytes} bytes)",
        mib(feed_bytes)
    );
    println!(
        "kept by the filter:    {:.1} MiB",
        mib(filtered.data.len() as u64)
    );
    println!("tagged events:         {}", events.len());
    println!("actions planned:       {}", actions.len());
    println!("stream + filter:       {:.3} s", t_read.as_secs_f64());
    println!("parse + select:        {:.3} s", t_parse.as_secs_f64());
    println!("plan:                  {:.3} s", t_plan.as_secs_f64());
    println!(
        "total:                 {:.3} s",
        (t_read + t_parse + t_plan).as_secs_f64()
    );
    println!("CPU time of the above:  {cpu:.2} s (user + system)");
    println!(
        "peak RSS:              {:.1} MiB whole process ({:.2} x the feed; above baseline {:.1} MiB)",
        peak as f64 / 1024.0,
        (peak * 1024) as f64 / feed_bytes as f64,
        (peak.saturating_sub(before)) as f64 / 1024.0
    );
    assert_eq!(filtered.vevents, n);
    assert_eq!(events.len(), n.div_ceil(10));
    // The whole process stays under the feed's size; in quick mode (a small feed) the fixed
    // start-up memory would dominate, so what the work added is held to it instead.
    let measured = if quick {
        peak.saturating_sub(before)
    } else {
        peak
    };
    assert!(
        measured * 1024 < feed_bytes,
        "peak RSS {measured} KiB is not under the feed's {feed_bytes} bytes"
    );
}
