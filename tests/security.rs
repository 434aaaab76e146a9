//! Security review checks (issue #6 part 5): no secret in trace-level output of a full sync,
//! TLS verification on unless a calendar says `insecure_skip_verify = true` (and then a warning
//! every pass), ICS fetches never carry configured credentials and never forward a URL's
//! credentials to another host.
#![allow(clippy::unwrap_used)]

mod support;

#[path = "support/dav_server.rs"]
mod dav_server;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use calmeet::source::caldav::{Auth, CalDavClient, DavError};
use calmeet::source::ics::{self, Fetched, IcsError};
use chrono::Utc;
use dav_server::DavServer;
use support::cli::{calmeet, text};
use support::fake_tencent::FakeTencent;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

fn feed() -> String {
    let day = (Utc::now() + chrono::Duration::days(2)).format("%Y%m%d");
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\nBEGIN:VEVENT\r\nUID:sec-1@x\r\n\
DTSTAMP:20250101T000000Z\r\nDTSTART:{day}T090000Z\r\nDTEND:{day}T100000Z\r\nSUMMARY:Security\r\n\
CATEGORIES:Tencent Meeting\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
}

/// A plain HTTP server that records each request head and answers with `respond(path)`.
type Responder = Arc<dyn Fn(&str) -> String + Send + Sync>;

async fn recording_server(respond: Responder) -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let heads = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&heads);
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let log = Arc::clone(&log);
            let respond = Arc::clone(&respond);
            tokio::spawn(async move {
                let mut seen = Vec::new();
                let mut buf = [0u8; 4096];
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&seen).into_owned();
                let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
                log.lock().unwrap().push(head);
                let _ = stream.write_all(respond(&path).as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    (port, heads)
}

fn ok_feed(body: &str) -> String {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/calendar\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

fn has_authorization(head: &str) -> bool {
    head.lines()
        .any(|l| l.to_ascii_lowercase().starts_with("authorization:"))
}

#[tokio::test]
async fn ics_fetch_sends_no_credentials_and_never_forwards_url_credentials_cross_host() {
    let body = feed();
    let (target_port, target_heads) =
        recording_server(Arc::new(move |_: &str| ok_feed(&body))).await;
    let (origin_port, origin_heads) = recording_server(Arc::new(move |path: &str| {
        if path == "/plain.ics" {
            ok_feed(&feed())
        } else {
            // Another host: `localhost` is not `127.0.0.1` to an HTTP client.
            format!(
                "HTTP/1.1 302 Found\r\nLocation: http://localhost:{target_port}/moved.ics\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )
        }
    }))
    .await;
    let http = calmeet::sync::calendar_http_client().unwrap();
    let fetch = |url: String| {
        let http = http.clone();
        async move {
            ics::fetch(
                &http,
                &url,
                std::path::Path::new("."),
                None,
                None,
                Duration::from_secs(10),
            )
            .await
        }
    };

    // A plain feed URL: no Authorization header at all.
    let got = fetch(format!("http://127.0.0.1:{origin_port}/plain.ics"))
        .await
        .unwrap();
    assert!(matches!(got, Fetched::Body { .. }));
    assert!(!has_authorization(&origin_heads.lock().unwrap()[0]));

    // Credentials in the URL go to that host only; the cross-host redirect target gets none.
    let got = fetch(format!(
        "http://feeduser:FEEDPW@127.0.0.1:{origin_port}/redirect.ics"
    ))
    .await
    .unwrap();
    assert!(matches!(got, Fetched::Body { .. }));
    let target = target_heads.lock().unwrap();
    assert_eq!(target.len(), 1);
    assert!(
        !has_authorization(&target[0]),
        "credentials forwarded cross-host: {}",
        target[0]
    );
    let basic = base64::engine::general_purpose::STANDARD.encode("feeduser:FEEDPW");
    assert!(!target[0].contains(&basic) && !target[0].contains("FEEDPW"));
}

#[tokio::test]
async fn ics_errors_do_not_show_the_password_of_the_url() {
    let (port, _) = recording_server(Arc::new(|_: &str| {
        "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_owned()
    }))
    .await;
    let http = calmeet::sync::calendar_http_client().unwrap();
    for url in [
        format!("http://u:URLSECRET@127.0.0.1:{port}/gone.ics"),
        // Nothing listens on port 9 of loopback: a transport error.
        "http://u:URLSECRET@127.0.0.1:9/x.ics".to_owned(),
    ] {
        let err = ics::fetch(
            &http,
            &url,
            std::path::Path::new("."),
            None,
            None,
            Duration::from_secs(5),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(err, IcsError::Status { .. } | IcsError::Transport { .. }),
            "{err}"
        );
        assert!(!err.to_string().contains("URLSECRET"), "{err}");
    }
}

// ------------------------------------------------------------------------------------ TLS

/// An HTTPS server with the self-signed certificate of `tests/fixtures/tls`, answering every
/// request with `answer`.
async fn https_server(answer: String) -> u16 {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    let dir = format!("{}/tests/fixtures/tls", env!("CARGO_MANIFEST_DIR"));
    let cert = CertificateDer::from(
        std::fs::read(format!("{dir}/selfsigned-127.0.0.1.cert.der")).unwrap(),
    );
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        std::fs::read(format!("{dir}/selfsigned-127.0.0.1.key.der")).unwrap(),
    ));
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            let answer = answer.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut seen = Vec::new();
                let mut buf = [0u8; 4096];
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = tls.write_all(answer.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    port
}

#[tokio::test]
async fn tls_is_verified_unless_the_calendar_opts_out() {
    let port = https_server(ok_feed(&feed())).await;
    let url = format!("https://127.0.0.1:{port}/feed.ics");
    let fetch = |http: reqwest::Client, url: String| async move {
        ics::fetch(
            &http,
            &url,
            std::path::Path::new("."),
            None,
            None,
            Duration::from_secs(10),
        )
        .await
    };
    // The shared calendar client refuses the self-signed certificate.
    let err = fetch(calmeet::sync::calendar_http_client().unwrap(), url.clone())
        .await
        .unwrap_err();
    assert!(matches!(err, IcsError::Transport { .. }), "{err}");
    assert!(
        err.to_string().to_lowercase().contains("certificate"),
        "{err}"
    );
    // The opt-out client reads it.
    let got = fetch(calmeet::sync::insecure_calendar_http_client().unwrap(), url)
        .await
        .unwrap();
    assert!(matches!(got, Fetched::Body { .. }));

    // CalDAV: the same, through the client's own TLS setting.
    let dav = url::Url::parse(&format!("https://127.0.0.1:{port}/cal/")).unwrap();
    let strict = CalDavClient::new(dav.clone(), Auth::None, Duration::from_secs(10)).unwrap();
    let err = strict.ctag().await.unwrap_err();
    assert!(matches!(err, DavError::Transport { .. }), "{err}");
    assert!(
        err.to_string().to_lowercase().contains("certificate"),
        "{err}"
    );
    let lax = CalDavClient::with_tls(dav, Auth::None, Duration::from_secs(10), true).unwrap();
    // The server answers a feed, not a multistatus: reaching it is what counts.
    let err = lax.ctag().await.unwrap_err();
    assert!(!matches!(err, DavError::Transport { .. }), "{err}");
}

#[tokio::test]
async fn insecure_skip_verify_syncs_and_warns_on_every_pass() {
    let port = https_server(ok_feed(&feed())).await;
    let fake = FakeTencent::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "timezone = \"UTC\"\nstate_db = \"state.db\"\n[meeting]\napi_base = \"{}\"\n\
             app_id = \"{}\"\nsdk_id = \"{}\"\nsecret_id = \"{}\"\nuserid = \"alice\"\n\
             [[calendar]]\nname = \"selfsigned\"\nurl = \"https://127.0.0.1:{port}/feed.ics\"\n\
             kind = \"ics\"\ninsecure_skip_verify = true\n",
            fake.base_url,
            fake.app_id,
            fake.sdk_id.clone().unwrap(),
            fake.secret_id
        ),
    )
    .unwrap();
    for pass in 0..2 {
        let out = calmeet(&config, &fake.secret_key, &["sync"]).await;
        let all = text(&out);
        assert!(out.status.success(), "pass {pass}: {all}");
        assert!(
            all.contains("TLS certificate verification is OFF"),
            "pass {pass}: no warning: {all}"
        );
    }
    assert_eq!(fake.live_meeting_count(), 1);
}

// ------------------------------------------------------------------- trace output of a sync

#[tokio::test]
async fn trace_output_of_a_full_sync_holds_no_secret() {
    let server = DavServer::radicale().await;
    let fake = FakeTencent::start().await;
    let cal_url = server.url_for("work");
    let client =
        CalDavClient::new(cal_url.clone(), server.auth(), Duration::from_secs(10)).unwrap();
    let href = format!("{}sec-1.ics", cal_url.path());
    client.create(&href, feed().as_bytes()).await.unwrap();

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pw"), format!("{}\n", server.password)).unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "timezone = \"UTC\"\nstate_db = \"state.db\"\n[meeting]\napi_base = \"{}\"\n\
             app_id = \"{}\"\nsdk_id = \"{}\"\nsecret_id = \"{}\"\nuserid = \"alice\"\n\
             [[calendar]]\nname = \"work\"\nurl = \"{cal_url}\"\nkind = \"caldav\"\n\
             username = \"{}\"\npassword_file = \"pw\"\n",
            fake.base_url,
            fake.app_id,
            fake.sdk_id.clone().unwrap(),
            fake.secret_id,
            server.username
        ),
    )
    .unwrap();
    let basic = base64::engine::general_purpose::STANDARD
        .encode(format!("{}:{}", server.username, server.password));
    let mut outputs = String::new();
    for args in [
        &["--log-level", "trace", "sync"][..],
        &["--log-level", "trace", "--log-format", "json", "sync"][..],
        &["--log-level", "trace", "check"][..],
        &["--log-level", "trace", "status"][..],
    ] {
        let out = calmeet(&config, &fake.secret_key, args).await;
        assert!(out.status.success(), "{args:?}: {}", text(&out));
        outputs.push_str(&text(&out));
    }
    // The passes really ran at trace level and did the work.
    assert!(outputs.contains("TRACE") || outputs.contains("\"level\":\"TRACE\""));
    assert_eq!(fake.live_meeting_count(), 1);
    for secret in [
        fake.secret_key.as_str(),
        server.password.as_str(),
        basic.as_str(),
    ] {
        assert!(
            !outputs.contains(secret),
            "secret {secret:?} found in trace output"
        );
    }
}

// ------------------------------------------------------------- `calmeet check` and TLS

fn check_config(dir: &std::path::Path, fake: &FakeTencent, calendars: &str) -> std::path::PathBuf {
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "timezone = \"UTC\"\nstate_db = \"state.db\"\n[meeting]\napi_base = \"{}\"\n\
             app_id = \"{}\"\nsdk_id = \"{}\"\nsecret_id = \"{}\"\nuserid = \"alice\"\n{calendars}",
            fake.base_url,
            fake.app_id,
            fake.sdk_id.clone().unwrap(),
            fake.secret_id
        ),
    )
    .unwrap();
    config
}

#[tokio::test]
async fn check_honours_insecure_skip_verify_for_ics() {
    let port = https_server(ok_feed(&feed())).await;
    let fake = FakeTencent::start().await;
    let dir = tempfile::tempdir().unwrap();
    let calendar = format!(
        "[[calendar]]\nname = \"selfsigned\"\nurl = \"https://127.0.0.1:{port}/feed.ics\"\nkind = \"ics\"\n"
    );

    // Without the opt-out, `check` refuses the certificate, like `sync`.
    let config = check_config(dir.path(), &fake, &calendar);
    let out = calmeet(&config, &fake.secret_key, &["check"]).await;
    let all = text(&out);
    assert!(!out.status.success(), "{all}");
    assert!(all.contains("calendar 'selfsigned': FAILED"), "{all}");
    assert!(all.to_lowercase().contains("certificate"), "{all}");
    assert!(!all.contains("verification is OFF"), "{all}");

    // With it, `check` reads and parses the feed, and says verification is off.
    let config = check_config(
        dir.path(),
        &fake,
        &format!("{calendar}insecure_skip_verify = true\n"),
    );
    let out = calmeet(&config, &fake.secret_key, &["check"]).await;
    let all = text(&out);
    assert!(out.status.success(), "{all}");
    assert!(
        all.contains("calendar 'selfsigned': ok (1 events, 1 tagged)"),
        "{all}"
    );
    assert!(
        all.contains("calendar 'selfsigned': WARNING: TLS certificate verification is OFF"),
        "{all}"
    );
}

// -------------------------------------------------------------------- CalDAV redirects

/// One request as a test server saw it: method, path and whether it carried credentials.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    authorization: bool,
    /// Answered with the 401 Basic challenge instead of `respond`.
    challenged: bool,
}

/// A plain HTTP server that reads each whole request (head and `Content-Length` body, so
/// closing never resets the connection), records it and answers `respond(method, path)`.
/// Like a real server it challenges a request without credentials (401, Basic): over plain
/// http calmeet sends a password only when asked (issue #13).
type DavResponder = Arc<dyn Fn(&str, &str) -> String + Send + Sync>;

async fn dav_recording_server(respond: DavResponder) -> (u16, Arc<Mutex<Vec<Seen>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let log = Arc::clone(&log);
            let respond = Arc::clone(&respond);
            tokio::spawn(async move {
                let mut data = Vec::new();
                let mut buf = [0u8; 4096];
                let head_end = loop {
                    if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
                        break i + 4;
                    }
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => data.extend_from_slice(&buf[..n]),
                    }
                };
                let head = String::from_utf8_lossy(&data[..head_end]).into_owned();
                let length: usize = head
                    .lines()
                    .find_map(|l| {
                        let (name, value) = l.split_once(':')?;
                        name.eq_ignore_ascii_case("content-length")
                            .then(|| value.trim().parse().ok())?
                    })
                    .unwrap_or(0);
                while data.len() < head_end + length {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => data.extend_from_slice(&buf[..n]),
                    }
                }
                let mut words = head.split_whitespace();
                let method = words.next().unwrap_or("").to_owned();
                let path = words.next().unwrap_or("/").to_owned();
                let authorization = has_authorization(&head);
                log.lock().unwrap().push(Seen {
                    method: method.clone(),
                    path: path.clone(),
                    authorization,
                    challenged: !authorization,
                });
                let answer = if authorization {
                    respond(&method, &path)
                } else {
                    "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"test\"\r\n\
                     Content-Length: 0\r\nConnection: close\r\n\r\n"
                        .to_owned()
                };
                let _ = stream.write_all(answer.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    (port, seen)
}

fn redirect_to(location: &str) -> String {
    format!(
        "HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
}

fn not_found() -> String {
    "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_owned()
}

fn principal_multistatus(principal: &str) -> String {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<d:multistatus xmlns:d=\"DAV:\"><d:response>\
         <d:href>/</d:href><d:propstat><d:prop><d:current-user-principal><d:href>{principal}\
         </d:href></d:current-user-principal></d:prop><d:status>HTTP/1.1 200 OK</d:status>\
         </d:propstat></d:response></d:multistatus>"
    );
    format!(
        "HTTP/1.1 207 Multi-Status\r\nContent-Type: application/xml; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

fn basic_client(port: u16, path: &str) -> CalDavClient {
    let url = url::Url::parse(&format!("http://127.0.0.1:{port}{path}")).unwrap();
    let auth = Auth::Basic {
        username: "alice".into(),
        password: "hunter2".into(),
    };
    CalDavClient::new(url, auth, Duration::from_secs(10)).unwrap()
}

#[tokio::test]
async fn caldav_discovery_follows_a_bounded_number_of_same_origin_redirects() {
    // The account URL has no principal; /.well-known/caldav redirects into an endless loop on
    // the same origin.
    let (port, seen) = dav_recording_server(Arc::new(|_: &str, path: &str| {
        if path == "/.well-known/caldav" {
            redirect_to("/loop/0")
        } else if let Some(n) = path.strip_prefix("/loop/") {
            let n: u32 = n.parse().unwrap_or(0);
            redirect_to(&format!("/loop/{}", n + 1))
        } else {
            not_found()
        }
    }))
    .await;
    let client = basic_client(port, "/");
    let account = url::Url::parse(&format!("http://127.0.0.1:{port}/")).unwrap();
    let err = client.discover(&account).await.unwrap_err();
    assert!(matches!(err, DavError::TooManyRedirects { .. }), "{err:?}");
    assert!(err.to_string().contains("too many redirects"), "{err}");
    // The first request met the challenge; what follows carries the credentials.
    let all = seen.lock().unwrap().clone();
    assert_eq!(all.iter().filter(|s| s.challenged).count(), 1, "{all:?}");
    let seen: Vec<&Seen> = all.iter().filter(|s| !s.challenged).collect();
    let paths: Vec<&str> = seen.iter().map(|s| s.path.as_str()).collect();
    // `/` (no principal), `/.well-known/caldav`, then five redirects followed, no more.
    assert_eq!(
        paths,
        [
            "/",
            "/.well-known/caldav",
            "/loop/0",
            "/loop/1",
            "/loop/2",
            "/loop/3",
            "/loop/4"
        ],
        "{seen:?}"
    );
    // Same origin: the credentials go along, and the method stays PROPFIND.
    assert!(
        seen.iter()
            .all(|s| s.authorization && s.method == "PROPFIND"),
        "{seen:?}"
    );
}

#[tokio::test]
async fn caldav_never_sends_credentials_to_another_origin() {
    // Another origin on the same machine: another port is another service.
    let (other, other_seen) = dav_recording_server(Arc::new(|_: &str, _: &str| {
        principal_multistatus("/principals/alice/")
    }))
    .await;
    let (port, seen) = dav_recording_server(Arc::new(move |_: &str, path: &str| match path {
        // Discovery: /.well-known/caldav redirects to the other port.
        "/.well-known/caldav" => redirect_to(&format!("http://127.0.0.1:{other}/")),
        // A collection that redirects to another host name.
        "/cal/" => redirect_to(&format!("http://localhost:{other}/cal/")),
        // A principal href on another origin.
        "/account/" => principal_multistatus(&format!("http://127.0.0.1:{other}/principals/a/")),
        _ => not_found(),
    }))
    .await;

    let account = url::Url::parse(&format!("http://127.0.0.1:{port}/")).unwrap();
    let err = basic_client(port, "/")
        .discover(&account)
        .await
        .unwrap_err();
    assert!(matches!(err, DavError::CrossHost { .. }), "{err:?}");
    assert!(
        err.to_string().contains(&format!("127.0.0.1:{other}")),
        "{err}"
    );

    let err = basic_client(port, "/cal/").ctag().await.unwrap_err();
    assert!(matches!(err, DavError::CrossHost { .. }), "{err:?}");

    let account = url::Url::parse(&format!("http://127.0.0.1:{port}/account/")).unwrap();
    let err = basic_client(port, "/account/")
        .discover(&account)
        .await
        .unwrap_err();
    assert!(matches!(err, DavError::CrossHost { .. }), "{err:?}");

    assert!(
        other_seen.lock().unwrap().is_empty(),
        "another origin was contacted: {:?}",
        other_seen.lock().unwrap()
    );
    // The configured origin did get the credentials once it asked (so the test would see them
    // if leaked).
    assert!(
        seen.lock()
            .unwrap()
            .iter()
            .all(|s| s.authorization || s.challenged)
    );
    assert!(seen.lock().unwrap().iter().any(|s| s.authorization));
}

#[tokio::test]
async fn check_discover_stops_after_a_bounded_number_of_redirects() {
    let (port, seen) = dav_recording_server(Arc::new(|_: &str, path: &str| {
        if path == "/.well-known/caldav" || path.starts_with("/loop/") {
            redirect_to(&format!("/loop/{}", path.len()))
        } else {
            not_found()
        }
    }))
    .await;
    let fake = FakeTencent::start().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pw"), "DAVPASSWORD\n").unwrap();
    let config = check_config(
        dir.path(),
        &fake,
        &format!(
            "[[calendar]]\nname = \"dav\"\nurl = \"http://127.0.0.1:{port}/cal/\"\nkind = \"caldav\"\n\
             username = \"alice\"\npassword_file = \"pw\"\n"
        ),
    );
    let out = calmeet(
        &config,
        &fake.secret_key,
        &["check", "--discover", &format!("http://127.0.0.1:{port}/")],
    )
    .await;
    let all = text(&out);
    assert!(!out.status.success(), "{all}");
    assert!(all.contains("too many redirects"), "{all}");
    assert!(!all.contains("DAVPASSWORD"), "{all}");
    let seen = seen.lock().unwrap().clone();
    let redirected = seen
        .iter()
        .filter(|s| s.path.starts_with("/loop/") && !s.challenged)
        .count();
    assert_eq!(redirected, 5, "{seen:?}");
    assert!(
        seen.iter().all(|s| s.authorization || s.challenged),
        "{seen:?}"
    );
}
