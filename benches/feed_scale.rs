//! Scale benchmark: a generated 100,000-event ICS feed through parse + select + plan.
//! Run with `cargo bench --bench feed_scale`; figures go to BENCHMARKS.md. Not a test: timing
//! depends on the machine.
#![allow(clippy::unwrap_used, clippy::cast_precision_loss)]

use std::collections::HashSet;
use std::time::Instant;

use calmeet::config::Config;
use calmeet::event::{TagMatcher, parse_calendar};
use calmeet::sync::{PlanInput, SourcedEvent, plan};

fn rss_kib(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn feed(n: usize) -> Vec<u8> {
    let mut s = String::with_capacity(n * 330);
    s.push_str(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Google Inc//Google Calendar 70.9054//EN\r\n",
    );
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
        s.push_str(&format!(
            "BEGIN:VEVENT\r\nDTSTART;TZID=Asia/Shanghai:2031{month:02}{day:02}T100000\r\nDTEND;TZID=Asia/Shanghai:2031{month:02}{day:02}T110000\r\nDTSTAMP:20260101T000000Z\r\nUID:event-{i}@bench.example.com\r\nSUMMARY:Event number {i} 周会\r\nDESCRIPTION:Agenda for event {i}\\, with details\\nand a second line\r\n{tagged}{rule}END:VEVENT\r\n"
        ));
    }
    s.push_str("END:VCALENDAR\r\n");
    s.into_bytes()
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let data = feed(n);
    let config = Config::parse(
        "[[calendar]]\nname = \"big\"\nurl = \"big.ics\"\nkind = \"ics\"\n[meeting]\nuserid = \"u\"\n",
        "bench",
        std::path::Path::new("."),
    )
    .unwrap();
    let before = rss_kib("VmRSS:");
    let t0 = Instant::now();
    let parsed = parse_calendar(&data, chrono_tz::Asia::Shanghai, &TagMatcher::new(None)).unwrap();
    let t_parse = t0.elapsed();
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
    let t1 = Instant::now();
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
    let t_plan = t1.elapsed();
    let peak = rss_kib("VmHWM:");
    println!("events in feed:        {n}");
    println!(
        "feed size:             {:.1} MiB",
        data.len() as f64 / 1048576.0
    );
    println!("tagged events:         {}", events.len());
    println!("actions planned:       {}", actions.len());
    println!("parse + select:        {:.3} s", t_parse.as_secs_f64());
    println!("plan:                  {:.3} s", t_plan.as_secs_f64());
    println!(
        "total:                 {:.3} s",
        (t_parse + t_plan).as_secs_f64()
    );
    println!(
        "peak RSS:              {:.1} MiB (feed itself {:.1} MiB; above baseline {:.1} MiB)",
        peak as f64 / 1024.0,
        data.len() as f64 / 1048576.0,
        (peak.saturating_sub(before)) as f64 / 1024.0
    );
}
