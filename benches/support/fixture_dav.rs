//! A generated CalDAV fixture server on 127.0.0.1 for the scale benchmarks: any number of
//! calendars, each holding generated events, served fast enough that the figures measure
//! calmeet rather than the server (Radicale needs minutes to seed 200,000 events).
//!
//! It answers exactly what calmeet sends for a collection: `sync-collection` REPORT with
//! numbered sync tokens (changes since a token; an unknown token gets the RFC 6578
//! `valid-sync-token` error), `calendar-multiget` and `calendar-query` REPORTs, PROPFIND
//! Depth 0 (ctag, sync-token, ETag), GET, and PUT with `If-Match` (412 on a stale ETag). Event
//! bodies are generated on demand from (calendar, index) in four client styles (Apple, Google,
//! Outlook, Thunderbird) with time zones, alarms, attendees and recurrences; a PUT keeps its
//! body. Every request is counted with its bytes (request line, headers and body each way).
//! No authentication. Not a test server for protocol edge cases: `tests/support/dav_fault.rs`
//! and Radicale cover those.
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use chrono::{NaiveDate, Utc};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// Which events of a calendar carry the meeting tag.
#[derive(Clone, Copy, Debug)]
pub enum Tagging {
    /// One event per calendar (index `calendar % events`), by CATEGORIES or LOCATION.
    OnePerCalendar,
    /// Every event.
    All,
}

/// Requests and bytes seen since the last reset.
#[derive(Clone, Debug, Default)]
pub struct Traffic {
    pub requests: u64,
    pub bytes_up: u64,
    pub bytes_down: u64,
    /// Requests per kind (`REPORT sync-collection`, `GET`, `PUT`, …).
    pub by_kind: BTreeMap<String, u64>,
}

struct Calendar {
    /// Current sync-token number; every change increments it.
    version: u64,
    /// Per event: the version at which it last changed.
    modified: Vec<u64>,
    /// Per event: its ETag revision.
    revision: Vec<u32>,
    /// Bodies written by PUT.
    written: HashMap<usize, Vec<u8>>,
}

struct World {
    calendars: Vec<Calendar>,
    events: usize,
    tagging: Tagging,
    today: NaiveDate,
    traffic: Traffic,
}

/// A running fixture server; stops when dropped.
pub struct FixtureDav {
    pub base_url: String,
    world: Arc<Mutex<World>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FixtureDav {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FixtureDav {
    /// `calendars` collections of `events` generated events each.
    pub async fn start(calendars: usize, events: usize, tagging: Tagging) -> FixtureDav {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let world = Arc::new(Mutex::new(World {
            calendars: (0..calendars)
                .map(|_| Calendar {
                    version: 1,
                    modified: vec![1; events],
                    revision: vec![1; events],
                    written: HashMap::new(),
                })
                .collect(),
            events,
            tagging,
            today: Utc::now().date_naive(),
            traffic: Traffic::default(),
        }));
        let served = world.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let world = served.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| handle(world.clone(), req));
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        FixtureDav {
            base_url: format!("http://{addr}"),
            world,
            task,
        }
    }

    /// The collection URL of calendar `i`.
    pub fn calendar_url(&self, i: usize) -> String {
        format!("{}/dav/cal{i}/", self.base_url)
    }

    /// Traffic since the last reset.
    pub fn traffic(&self) -> Traffic {
        self.world.lock().unwrap().traffic.clone()
    }

    /// Starts counting from zero.
    pub fn reset(&self) {
        self.world.lock().unwrap().traffic = Traffic::default();
    }

    /// How many events carry the tag, over all calendars.
    pub fn tagged(&self) -> usize {
        let w = self.world.lock().unwrap();
        (0..w.calendars.len())
            .map(|c| (0..w.events).filter(|&i| w.is_tagged(c, i)).count())
            .sum()
    }

    /// How many stored events (over all calendars) hold a link written back by calmeet.
    pub fn written_back(&self) -> usize {
        let w = self.world.lock().unwrap();
        w.calendars
            .iter()
            .flat_map(|c| c.written.values())
            .filter(|b| String::from_utf8_lossy(b).contains("meeting.tencent.com"))
            .count()
    }
}

impl World {
    fn is_tagged(&self, cal: usize, i: usize) -> bool {
        match self.tagging {
            Tagging::All => true,
            Tagging::OnePerCalendar => i == cal % self.events.max(1),
        }
    }

    fn etag(&self, cal: usize, i: usize) -> String {
        format!("\"{cal}-{i}-{}\"", self.calendars[cal].revision[i])
    }

    fn body(&self, cal: usize, i: usize) -> Vec<u8> {
        if let Some(b) = self.calendars[cal].written.get(&i) {
            return b.clone();
        }
        event_body(self.today, cal, i, self.is_tagged(cal, i)).into_bytes()
    }
}

const TZ: &str = "BEGIN:VTIMEZONE\r\nTZID:Asia/Shanghai\r\nX-LIC-LOCATION:Asia/Shanghai\r\n\
BEGIN:STANDARD\r\nTZOFFSETFROM:+0800\r\nTZOFFSETTO:+0800\r\nTZNAME:CST\r\n\
DTSTART:19700101T000000\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n";

/// One calendar object as a client of the style `i % 4` would store it: all within the next
/// 80 days, every 7th weekly, every 11th daily with an EXDATE, most with an alarm.
pub fn event_body(today: NaiveDate, cal: usize, i: usize, tagged: bool) -> String {
    let day = today + chrono::Duration::days(1 + ((i * 7 + cal) % 80) as i64);
    let d = day.format("%Y%m%d");
    let hour = 8 + (i + cal) % 10;
    let minute = (i % 4) * 15;
    let uid = format!("{cal:04}-{i:05}-5f1c9a2e-bench@example.com");
    let rule = if i % 7 == 3 {
        "RRULE:FREQ=WEEKLY;COUNT=8\r\n".to_owned()
    } else if i % 11 == 5 {
        let ex = (day + chrono::Duration::days(2)).format("%Y%m%d");
        format!(
            "RRULE:FREQ=DAILY;COUNT=5\r\nEXDATE;TZID=Asia/Shanghai:{ex}T{hour:02}{minute:02}00\r\n"
        )
    } else {
        String::new()
    };
    let (tag_cat, tag_loc) = match (tagged, i % 2) {
        (false, _) => ("", "Room 3F-12 会议室"),
        (true, 0) => ("CATEGORIES:腾讯会议\r\n", "Room 3F-12 会议室"),
        (true, _) => ("", "腾讯会议"),
    };
    let mut s = String::with_capacity(1200);
    let style = i % 4;
    s.push_str("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n");
    s.push_str(match style {
        0 => "PRODID:-//Apple Inc.//macOS 14.5//EN\r\nCALSCALE:GREGORIAN\r\n",
        1 => "PRODID:-//Google Inc//Google Calendar 70.9054//EN\r\nCALSCALE:GREGORIAN\r\n",
        2 => "PRODID:-//Microsoft Corporation//Outlook 16.0 MIMEDIR//EN\r\nMETHOD:PUBLISH\r\n",
        _ => "PRODID:-//Mozilla.org/NONSGML Mozilla Calendar V1.1//EN\r\n",
    });
    s.push_str(TZ);
    write!(
        s,
        "BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nCREATED:20251201T080000Z\r\n\
LAST-MODIFIED:20251215T093000Z\r\nSEQUENCE:{}\r\n\
DTSTART;TZID=Asia/Shanghai:{d}T{hour:02}{minute:02}00\r\n\
DTEND;TZID=Asia/Shanghai:{d}T{:02}{minute:02}00\r\n{rule}\
SUMMARY:项目周会 {cal}/{i} — planning\\, review and next steps\r\n\
LOCATION:{tag_loc}\r\n{tag_cat}\
DESCRIPTION:Agenda:\\n1. Status of the release\\n2. Open issues\\, risks\\n3. AOB\\n\
 Notes: https://wiki.example.com/team/meetings/{cal}/{i}\r\n\
ORGANIZER;CN=\"Zhang San\":mailto:zhangsan@example.com\r\n\
ATTENDEE;CN=Li Si;PARTSTAT=ACCEPTED;ROLE=REQ-PARTICIPANT:mailto:lisi@example.com\r\n\
ATTENDEE;CN=Wang Wu;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:wangwu@example.com\r\n\
STATUS:CONFIRMED\r\nTRANSP:OPAQUE\r\n",
        i % 3,
        hour + 1
    )
    .unwrap();
    match style {
        0 => s.push_str(
            "X-APPLE-TRAVEL-ADVISORY-BEHAVIOR:AUTOMATIC\r\nBEGIN:VALARM\r\nX-WR-ALARMUID:\
7E1D8C3A-1B2C-4D5E-8F90-A1B2C3D4E5F6\r\nUID:7E1D8C3A-1B2C-4D5E-8F90-A1B2C3D4E5F6\r\n\
TRIGGER:-PT15M\r\nACTION:DISPLAY\r\nDESCRIPTION:Reminder\r\nEND:VALARM\r\n",
        ),
        1 => s.push_str(
            "BEGIN:VALARM\r\nACTION:DISPLAY\r\nDESCRIPTION:This is an event reminder\r\n\
TRIGGER:-P0DT0H10M0S\r\nEND:VALARM\r\n",
        ),
        2 => s.push_str(
            "X-MICROSOFT-CDO-BUSYSTATUS:BUSY\r\nX-MICROSOFT-CDO-IMPORTANCE:1\r\n\
X-MICROSOFT-DISALLOW-COUNTER:FALSE\r\nBEGIN:VALARM\r\nTRIGGER:-PT15M\r\nACTION:DISPLAY\r\n\
DESCRIPTION:Reminder\r\nEND:VALARM\r\n",
        ),
        _ => s.push_str("X-MOZ-GENERATION:2\r\n"),
    }
    s.push_str("END:VEVENT\r\nEND:VCALENDAR\r\n");
    s
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Texts of the elements whose local name is `name` (any prefix), in order.
fn element_texts<'a>(xml: &'a str, name: &str) -> Vec<&'a str> {
    let mut out = Vec::new();
    let mut rest = xml;
    let open = format!("{name}>");
    while let Some(at) = rest.find(&open) {
        let start = at + open.len();
        // An opening tag: preceded by '<' or by "<prefix:".
        let before = &rest[..at];
        let is_open = before.ends_with('<')
            || before
                .rfind('<')
                .is_some_and(|lt| !before[lt..].contains('/') && before[lt..].ends_with(':'));
        let end = rest[start..].find('<').map_or(rest.len(), |e| start + e);
        if is_open {
            out.push(&rest[start..end]);
        }
        rest = &rest[end..];
    }
    out
}

const MS_OPEN: &str = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<d:multistatus xmlns:d=\"DAV:\" \
xmlns:cal=\"urn:ietf:params:xml:ns:caldav\" xmlns:cs=\"http://calendarserver.org/ns/\">\n";

fn response(status: u16, headers: &[(&str, String)], body: Vec<u8>) -> Response<Full<Bytes>> {
    let mut r = Response::builder().status(status);
    for (k, v) in headers {
        r = r.header(*k, v.as_str());
    }
    r.body(Full::new(Bytes::from(body))).unwrap()
}

fn multistatus(body: String) -> (u16, Vec<(&'static str, String)>, Vec<u8>, String) {
    (
        207,
        vec![("content-type", "application/xml; charset=utf-8".into())],
        body.into_bytes(),
        String::new(),
    )
}

async fn handle(
    world: Arc<Mutex<World>>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let method = req.method().as_str().to_owned();
    let path = req.uri().path().to_owned();
    let mut up = (method.len() + path.len() + 11) as u64;
    for (k, v) in req.headers() {
        up += (k.as_str().len() + v.len() + 4) as u64;
    }
    let if_match = req
        .headers()
        .get("if-match")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    up += 2 + body.len() as u64;
    let text = String::from_utf8_lossy(&body);
    let mut w = world.lock().unwrap();
    let (status, headers, out, kind) = answer(&mut w, &method, &path, &text, if_match.as_deref());
    let kind = if kind.is_empty() {
        method.clone()
    } else {
        format!("{method} {kind}")
    };
    let mut down = 17 + 2 + out.len() as u64 + 40; // status line, date/length headers
    for (k, v) in &headers {
        down += (k.len() + v.len() + 4) as u64;
    }
    let t = &mut w.traffic;
    t.requests += 1;
    t.bytes_up += up;
    t.bytes_down += down;
    *t.by_kind.entry(kind).or_default() += 1;
    drop(w);
    Ok(response(status, &headers, out))
}

/// (calendar, event index) of a path: `/dav/cal{c}/` or `/dav/cal{c}/ev{i}.ics`.
fn locate(w: &World, path: &str) -> Option<(usize, Option<usize>)> {
    let rest = path.strip_prefix("/dav/cal")?;
    let (cal, member) = rest.split_once('/')?;
    let cal: usize = cal.parse().ok()?;
    if cal >= w.calendars.len() {
        return None;
    }
    if member.is_empty() {
        return Some((cal, None));
    }
    let i: usize = member
        .strip_prefix("ev")?
        .strip_suffix(".ics")?
        .parse()
        .ok()?;
    (i < w.events).then_some((cal, Some(i)))
}

type Answer = (u16, Vec<(&'static str, String)>, Vec<u8>, String);

fn answer(w: &mut World, method: &str, path: &str, body: &str, if_match: Option<&str>) -> Answer {
    let not_found = || (404, Vec::new(), b"not found".to_vec(), String::new());
    let Some((cal, member)) = locate(w, path) else {
        return not_found();
    };
    let href = |i: usize| format!("/dav/cal{cal}/ev{i}.ics");
    let token = |v: u64| format!("http://calmeet.bench/sync/{cal}/{v}");
    match (method, member) {
        ("REPORT", None) if body.contains("sync-collection") => {
            let asked = element_texts(body, "sync-token")
                .first()
                .map(|t| t.trim().to_owned())
                .unwrap_or_default();
            let c = &w.calendars[cal];
            let since = if asked.is_empty() {
                0
            } else {
                match asked
                    .strip_prefix(&format!("http://calmeet.bench/sync/{cal}/"))
                    .and_then(|v| v.parse::<u64>().ok())
                    .filter(|&v| v <= c.version)
                {
                    Some(v) => v,
                    None => {
                        let e = "<?xml version=\"1.0\"?>\n<d:error xmlns:d=\"DAV:\"><d:valid-sync-token/></d:error>";
                        return (403, Vec::new(), e.into(), "sync-collection".into());
                    }
                }
            };
            let mut s = String::from(MS_OPEN);
            for i in (0..w.events).filter(|&i| c.modified[i] > since) {
                writeln!(
                    s,
                    "<d:response><d:href>{}</d:href><d:propstat><d:prop><d:getetag>{}</d:getetag></d:prop>\
<d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>",
                    href(i),
                    xml_escape(&w.etag(cal, i))
                )
                .unwrap();
            }
            write!(
                s,
                "<d:sync-token>{}</d:sync-token>\n</d:multistatus>\n",
                token(c.version)
            )
            .unwrap();
            let mut a = multistatus(s);
            a.3 = "sync-collection".into();
            a
        }
        ("REPORT", None) if body.contains("calendar-multiget") => {
            let mut s = String::from(MS_OPEN);
            for h in element_texts(body, "href") {
                match locate(w, h) {
                    Some((c, Some(i))) if c == cal => writeln!(
                        s,
                        "<d:response><d:href>{}</d:href><d:propstat><d:prop><d:getetag>{}</d:getetag>\
<cal:calendar-data>{}</cal:calendar-data></d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>",
                        href(i),
                        xml_escape(&w.etag(cal, i)),
                        xml_escape(&String::from_utf8_lossy(&w.body(cal, i)))
                    )
                    .unwrap(),
                    _ => writeln!(
                        s,
                        "<d:response><d:href>{}</d:href><d:status>HTTP/1.1 404 Not Found</d:status></d:response>",
                        xml_escape(h)
                    )
                    .unwrap(),
                }
            }
            s.push_str("</d:multistatus>\n");
            let mut a = multistatus(s);
            a.3 = "calendar-multiget".into();
            a
        }
        ("REPORT", None) if body.contains("calendar-query") => {
            let mut s = String::from(MS_OPEN);
            for i in 0..w.events {
                writeln!(
                    s,
                    "<d:response><d:href>{}</d:href><d:propstat><d:prop><d:getetag>{}</d:getetag></d:prop>\
<d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>",
                    href(i),
                    xml_escape(&w.etag(cal, i))
                )
                .unwrap();
            }
            s.push_str("</d:multistatus>\n");
            let mut a = multistatus(s);
            a.3 = "calendar-query".into();
            a
        }
        ("PROPFIND", None) => {
            let v = w.calendars[cal].version;
            let s = format!(
                "{MS_OPEN}<d:response><d:href>/dav/cal{cal}/</d:href><d:propstat><d:prop>\
<d:resourcetype><d:collection/><cal:calendar/></d:resourcetype><d:displayname>Calendar {cal}</d:displayname>\
<cs:getctag>\"{v}\"</cs:getctag><d:sync-token>{}</d:sync-token></d:prop>\
<d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>\n</d:multistatus>\n",
                token(v)
            );
            multistatus(s)
        }
        ("PROPFIND", Some(i)) => {
            let s = format!(
                "{MS_OPEN}<d:response><d:href>{}</d:href><d:propstat><d:prop><d:getetag>{}</d:getetag></d:prop>\
<d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>\n</d:multistatus>\n",
                href(i),
                xml_escape(&w.etag(cal, i))
            );
            multistatus(s)
        }
        ("GET", Some(i)) => (
            200,
            vec![
                ("content-type", "text/calendar; charset=utf-8".into()),
                ("etag", w.etag(cal, i)),
            ],
            w.body(cal, i),
            String::new(),
        ),
        ("PUT", Some(i)) => {
            if if_match != Some(w.etag(cal, i).as_str()) {
                return (412, Vec::new(), b"etag mismatch".to_vec(), String::new());
            }
            let c = &mut w.calendars[cal];
            c.version += 1;
            c.modified[i] = c.version;
            c.revision[i] += 1;
            c.written.insert(i, body.as_bytes().to_vec());
            (
                204,
                vec![("etag", w.etag(cal, i))],
                Vec::new(),
                String::new(),
            )
        }
        _ => (405, Vec::new(), b"not supported".to_vec(), String::new()),
    }
}
