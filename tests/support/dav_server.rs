//! Starts a real CalDAV server (Radicale, Xandikos or sabre/dav) on 127.0.0.1 for integration
//! tests.
//!
//! Each [`DavServer`] gets a free port, a temporary storage directory and one calendar
//! collection, and is killed when dropped. Binaries come from `$CALMEET_RADICALE` /
//! `$CALMEET_XANDIKOS` / `$CALMEET_PHP`, else `.venv/bin/{radicale,xandikos}` in the crate
//! root, else `PATH`. A missing binary fails the test with the install command: tests are
//! never skipped.
//!
//! sabre/dav is Debian's `php-sabre-dav` (1.8, the engine of older Baikal; no sync-collection)
//! run by `tests/support/sabre/server.php` under `php -S`, with Basic ([`DavServer::sabre`]) or
//! Digest ([`DavServer::sabre_digest`], Baikal's default) authentication.
//!
//! Xandikos is started without authentication: its Basic auth requires its self-signed
//! HTTPS mode, which would mean teaching the client a test certificate. Radicale covers auth.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Which server implementation is running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Radicale,
    Xandikos,
    /// sabre/dav 1.8 with Basic authentication.
    Sabre,
    /// sabre/dav 1.8 with Digest authentication (RFC 2617 MD5, `qop=auth`).
    SabreDigest,
}

/// A running CalDAV server; killed on drop.
pub struct DavServer {
    pub kind: Kind,
    /// `http://127.0.0.1:PORT/`
    pub base: url::Url,
    /// User whose calendars live under `/<username>/` (Radicale) or `/user/` (Xandikos).
    pub username: String,
    /// That user's password (Radicale checks it; Xandikos ignores it).
    pub password: String,
    /// Display name given to the calendar created at start.
    pub calendar_name: String,
    child: Child,
    dir: tempfile::TempDir,
}

impl DavServer {
    /// Radicale with htpasswd (plain) auth for `alice` / `s3cret-密码`, calendar `work`.
    pub async fn radicale() -> Self {
        let bin = find_binary("radicale", "CALMEET_RADICALE");
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let (username, password) = ("alice".to_owned(), "s3cret-pass".to_owned());
        let htpasswd = dir.path().join("users");
        std::fs::write(&htpasswd, format!("{username}:{password}\n")).unwrap();
        let config = dir.path().join("config");
        std::fs::write(
            &config,
            format!(
                "[server]\nhosts = 127.0.0.1:{port}\n\
                 [auth]\ntype = htpasswd\nhtpasswd_filename = {}\nhtpasswd_encryption = plain\n\
                 [storage]\nfilesystem_folder = {}\n\
                 [logging]\nlevel = warning\n",
                htpasswd.display(),
                dir.path().join("collections").display()
            ),
        )
        .unwrap();
        let child = spawn(
            Command::new(&bin).arg("--config").arg(&config),
            dir.path(),
            &bin,
        );
        Self::started(Kind::Radicale, port, username, password, child, dir).await
    }

    /// Xandikos (no authentication, see the module doc), principal `/user/`, calendar `work`.
    pub async fn xandikos() -> Self {
        let bin = find_binary("xandikos", "CALMEET_XANDIKOS");
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let child = spawn(
            Command::new(&bin)
                .arg("serve")
                .arg("-d")
                .arg(dir.path().join("data"))
                .arg("--state-dir")
                .arg(dir.path().join("state"))
                .arg("--autocreate")
                .args(["-l", "127.0.0.1", "-p", &port.to_string()])
                .arg("--current-user-principal")
                .arg("/user/"),
            dir.path(),
            &bin,
        );
        let (username, password) = ("user".to_owned(), "unused".to_owned());
        Self::started(Kind::Xandikos, port, username, password, child, dir).await
    }

    /// sabre/dav with Basic authentication for `alice`, calendar `work`.
    pub async fn sabre() -> Self {
        Self::sabre_with(Kind::Sabre).await
    }

    /// sabre/dav with Digest authentication for `alice` (realm `SabreDAV`), calendar `work`.
    pub async fn sabre_digest() -> Self {
        Self::sabre_with(Kind::SabreDigest).await
    }

    async fn sabre_with(kind: Kind) -> Self {
        let bin = find_binary("php", "CALMEET_PHP");
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let (username, password) = ("alice".to_owned(), "s3cret-pass".to_owned());
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/sabre/server.php");
        let child = spawn(
            Command::new(&bin)
                .args(["-S", &format!("127.0.0.1:{port}")])
                .arg(&script)
                .current_dir(dir.path())
                .env("CALMEET_SABRE_DB", dir.path().join("db.sqlite"))
                .env("CALMEET_SABRE_USER", &username)
                .env("CALMEET_SABRE_PASSWORD", &password)
                .env(
                    "CALMEET_SABRE_AUTH",
                    if kind == Kind::SabreDigest {
                        "digest"
                    } else {
                        "basic"
                    },
                ),
            dir.path(),
            &bin,
        );
        Self::started(kind, port, username, password, child, dir).await
    }

    /// Whether this is one of the sabre/dav kinds.
    pub fn is_sabre(&self) -> bool {
        matches!(self.kind, Kind::Sabre | Kind::SabreDigest)
    }

    async fn started(
        kind: Kind,
        port: u16,
        username: String,
        password: String,
        child: Child,
        dir: tempfile::TempDir,
    ) -> Self {
        let mut server = Self {
            kind,
            base: url::Url::parse(&format!("http://127.0.0.1:{port}/")).unwrap(),
            username,
            password,
            calendar_name: "Work 工作".to_owned(),
            child,
            dir,
        };
        server.wait_until_up().await;
        server
            .mkcalendar("work", &server.calendar_name.clone())
            .await;
        server
    }

    /// URL of calendar `name` (a collection URL ending in `/`).
    pub fn url_for(&self, calendar: &str) -> url::Url {
        let home = match self.kind {
            Kind::Radicale => format!("{}/", self.username),
            Kind::Xandikos => "user/calendars/".to_owned(),
            Kind::Sabre | Kind::SabreDigest => format!("calendars/{}/", self.username),
        };
        self.base.join(&format!("{home}{calendar}/")).unwrap()
    }

    /// The account URL a user would configure for discovery.
    pub fn account_url(&self) -> url::Url {
        match self.kind {
            Kind::Radicale => self.base.clone(),
            Kind::Xandikos => self.base.join("user/").unwrap(),
            Kind::Sabre | Kind::SabreDigest => self.base.clone(),
        }
    }

    /// The auth the client should use.
    pub fn auth(&self) -> calmeet::source::caldav::Auth {
        calmeet::source::caldav::Auth::Basic {
            username: self.username.clone(),
            password: self.password.clone().into(),
        }
    }

    /// Creates a calendar collection `name` with a display name.
    pub async fn mkcalendar(&self, name: &str, display_name: &str) {
        let url = self.url_for(name);
        let body = calmeet::source::caldav::protocol::mkcalendar_body(display_name);
        let response = self.request("MKCALENDAR", &url, body.into_bytes()).await;
        let status = response.status();
        assert!(
            status.is_success(),
            "MKCALENDAR {url} on {:?}: {status} {}",
            self.kind,
            response.text().await.unwrap_or_default()
        );
    }

    /// Sends `method` to `url` as the test user: Basic pre-emptively, or (sabre Digest) the
    /// answer to the server's challenge.
    pub async fn request(&self, method: &str, url: &url::Url, body: Vec<u8>) -> reqwest::Response {
        let http = reqwest::Client::new();
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let build = || {
            http.request(method.clone(), url.clone())
                .header("content-type", "application/xml; charset=utf-8")
                .body(body.clone())
        };
        if self.kind != Kind::SabreDigest {
            return build()
                .basic_auth(&self.username, Some(&self.password))
                .send()
                .await
                .unwrap();
        }
        let challenge = build().send().await.unwrap();
        assert_eq!(challenge.status(), 401, "{:?} did not challenge", self.kind);
        let www = challenge.headers()["www-authenticate"].to_str().unwrap();
        let mut client = http_auth::PasswordClient::try_from(www).unwrap();
        let authorization = client
            .respond(&http_auth::PasswordParams {
                username: &self.username,
                password: &self.password,
                uri: url.path(),
                method: method.as_str(),
                body: None,
            })
            .unwrap();
        build()
            .header("authorization", authorization)
            .send()
            .await
            .unwrap()
    }

    async fn wait_until_up(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let http = reqwest::Client::new();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "{:?} exited with {status} before answering; log:\n{}",
                    self.kind,
                    self.log()
                );
            }
            let answered = http
                .get(self.base.clone())
                .timeout(Duration::from_millis(500))
                .send()
                .await
                .is_ok();
            if answered {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{:?} did not answer on {} within 30 s; log:\n{}",
                self.kind,
                self.base,
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The server's temporary folder (storage, configuration, log), for benchmarks that fill
    /// a calendar faster than one PUT per event.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The server's stdout+stderr so far, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }
}

impl Drop for DavServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(command: &mut Command, dir: &Path, bin: &Path) -> Child {
    let log = std::fs::File::create(dir.join("server.log")).unwrap();
    command
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("could not start {}: {e}", bin.display()))
}

/// `$ENV_VAR`, else `<crate>/.venv/bin/<name>`, else `<name>` on PATH; panics with the
/// install command when none exists.
fn find_binary(name: &str, env_var: &str) -> PathBuf {
    if let Some(path) = std::env::var_os(env_var) {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "{env_var}={} does not exist; unset it or point it at the {name} executable",
            path.display()
        );
        return path;
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(".venv/bin")
        .join(name);
    if venv.is_file() {
        return venv;
    }
    if let Some(found) = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|candidate| candidate.is_file())
    }) {
        return found;
    }
    panic!(
        "{name} not found: the CalDAV integration tests need a real {name} server. Install it \
         with `scripts/install-test-servers.sh` (creates ./.venv with radicale and xandikos \
         from PyPI; as root also apt-installs php-cli php-sqlite3 php-sabre-dav for sabre/dav), \
         or set {env_var} to its path."
    );
}

/// A port that was free a moment ago (the server binds it right after).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
