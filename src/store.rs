//! The state database (SQLite): which event has which meeting, and each calendar's sync state.
//!
//! One row per (calendar, UID, RECURRENCE-ID) in `events`; one row per calendar in `calendars`;
//! cached calendar objects in `objects` so an unchanged calendar need not be downloaded again;
//! continuation meetings of long series in `segments`, one row per (calendar, UID, segment start).
//! The schema is versioned with `PRAGMA user_version` and migrated by an append-only list.
//! A row is written as `pending` before a create call and completed after it, so a crash in
//! between is visible on the next start. This module knows nothing of HTTP or iCalendar.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use rusqlite::{Connection, OptionalExtension, params};
use thiserror::Error;

/// Append-only schema migrations; entry N brings the schema to `user_version` N+1.
const MIGRATIONS: &[&str] = &[
    r"
CREATE TABLE events (
    calendar        TEXT NOT NULL,
    uid             TEXT NOT NULL,
    recurrence_id   INTEGER NOT NULL DEFAULT -1,
    state           TEXT NOT NULL,
    meeting_id      TEXT,
    meeting_code    TEXT,
    join_url        TEXT,
    password        TEXT,
    sub_meeting_id  TEXT,
    userid          TEXT,
    fingerprint     TEXT,
    subject         TEXT NOT NULL DEFAULT '',
    start_at        INTEGER,
    end_at          INTEGER,
    series_end_at   INTEGER,
    recurring       INTEGER NOT NULL DEFAULT 0,
    needs_extension INTEGER NOT NULL DEFAULT 0,
    href            TEXT,
    etag            TEXT,
    written_back    INTEGER NOT NULL DEFAULT 0,
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    PRIMARY KEY (calendar, uid, recurrence_id)
);
CREATE INDEX events_meeting ON events(meeting_id);
CREATE TABLE calendars (
    name            TEXT PRIMARY KEY,
    sync_token      TEXT,
    ctag            TEXT,
    http_etag       TEXT,
    http_last_modified TEXT,
    last_pass_at    INTEGER,
    last_ok_at      INTEGER,
    last_error      TEXT,
    held_cancels    TEXT,
    evaluated_at    INTEGER
);
CREATE TABLE objects (
    calendar TEXT NOT NULL,
    href     TEXT NOT NULL,
    etag     TEXT,
    data     BLOB NOT NULL,
    PRIMARY KEY (calendar, href)
);
",
    // Starts of the occurrences a meeting holds (comma-separated unix seconds): the next
    // occurrence for `status`, and when a truncated series is due for extension.
    r"
ALTER TABLE events ADD COLUMN occurrences TEXT NOT NULL DEFAULT '';
",
    // Continuation meetings: when the API refuses to extend a long series in place, the next
    // occurrences get a meeting of their own, keyed by the event and the segment's first
    // occurrence. Same columns as `events` (recurrence_id is always -1) plus the segment start.
    r"
CREATE TABLE segments (
    calendar        TEXT NOT NULL,
    uid             TEXT NOT NULL,
    segment_start   INTEGER NOT NULL,
    recurrence_id   INTEGER NOT NULL DEFAULT -1,
    state           TEXT NOT NULL,
    meeting_id      TEXT,
    meeting_code    TEXT,
    join_url        TEXT,
    password        TEXT,
    sub_meeting_id  TEXT,
    userid          TEXT,
    fingerprint     TEXT,
    subject         TEXT NOT NULL DEFAULT '',
    start_at        INTEGER,
    end_at          INTEGER,
    series_end_at   INTEGER,
    recurring       INTEGER NOT NULL DEFAULT 0,
    needs_extension INTEGER NOT NULL DEFAULT 0,
    href            TEXT,
    etag            TEXT,
    written_back    INTEGER NOT NULL DEFAULT 0,
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    occurrences     TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (calendar, uid, segment_start)
);
",
    // CalDAV listing state: whether the server refused sync-collection (0) or answered it (1),
    // when the saved change marker was read and when calmeet last wrote to the calendar (unix
    // milliseconds; a marker of one-second resolution read in the second of a write may hide
    // an edit made in that second).
    r"
ALTER TABLE calendars ADD COLUMN sync_collection INTEGER;
ALTER TABLE calendars ADD COLUMN marker_read_at INTEGER;
ALTER TABLE calendars ADD COLUMN wrote_at INTEGER;
",
    // The meeting's recurring_rule as sent (JSON), so `status` can say the rule in words and
    // `status --json` show it as the API took it. Empty for rows from before.
    r"
ALTER TABLE events ADD COLUMN rule TEXT;
ALTER TABLE segments ADD COLUMN rule TEXT;
",
    // The live-stream watch address of a meeting (written into the event's block), and a
    // digest of each calendar's meeting options, so that a changed config re-evaluates an
    // unchanged calendar at once.
    r"
ALTER TABLE events ADD COLUMN live_url TEXT;
ALTER TABLE segments ADD COLUMN live_url TEXT;
ALTER TABLE calendars ADD COLUMN options_digest TEXT;
",
    // Failing creates: when a create that may pass is tried again (persisted backoff), and a
    // hash of the request last sent (a refused one is tried again once it changes). `api_state`
    // holds facts about the meeting API that outlive a pass: a quota hold on creates, the
    // occurrence limit a create is allowed.
    r"
ALTER TABLE events ADD COLUMN next_attempt_at INTEGER;
ALTER TABLE events ADD COLUMN request_hash TEXT;
ALTER TABLE segments ADD COLUMN next_attempt_at INTEGER;
ALTER TABLE segments ADD COLUMN request_hash TEXT;
CREATE TABLE api_state (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
",
];

/// A state database failure.
#[derive(Debug, Error)]
pub enum StoreError {
    /// SQLite reported an error.
    #[error("state database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The file could not be created or opened.
    #[error("state database {path}: {message}")]
    Open {
        /// The path.
        path: String,
        /// What went wrong.
        message: String,
    },
}

/// Lifecycle of an event's meeting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowState {
    /// A create call was (or is about to be) sent; its outcome is not known yet.
    Pending,
    /// The meeting exists.
    Created,
    /// The meeting was cancelled (or the event left calmeet's care).
    Cancelled,
    /// The last attempt failed; `last_error` says why.
    Failed,
    /// The event cannot get a meeting (all-day, unsupported rule); `last_error` says why.
    Skipped,
}

impl RowState {
    /// The name stored in the database and shown by `status`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Created => "created",
            Self::Cancelled => "cancelled",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "pending" => Self::Pending,
            "created" => Self::Created,
            "cancelled" => Self::Cancelled,
            "skipped" => Self::Skipped,
            _ => Self::Failed,
        }
    }
}

/// The key of an event row. `recurrence_id` is the original occurrence start (unix seconds)
/// for an override, `None` for a master or single event.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventKey {
    /// Calendar name.
    pub calendar: String,
    /// Event UID.
    pub uid: String,
    /// RECURRENCE-ID instant for overrides.
    pub recurrence_id: Option<i64>,
}

impl std::fmt::Display for EventKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "calendar '{}' event {}", self.calendar, self.uid)?;
        if let Some(r) = self.recurrence_id {
            let when = chrono::DateTime::from_timestamp(r, 0).map_or_else(
                || r.to_string(),
                |d| d.format("%Y-%m-%d %H:%MZ").to_string(),
            );
            write!(f, " (occurrence {when})")?;
        }
        Ok(())
    }
}

/// One row of `events`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRow {
    /// The key.
    pub key: EventKey,
    /// State.
    pub state: RowState,
    /// Tencent meeting id.
    pub meeting_id: Option<String>,
    /// Meeting code (9 digits).
    pub meeting_code: Option<String>,
    /// Join URL.
    pub join_url: Option<String>,
    /// Meeting password, if any.
    pub password: Option<String>,
    /// For an override: the sub-meeting it maps to.
    pub sub_meeting_id: Option<String>,
    /// Creator userid (needed to modify and cancel).
    pub userid: Option<String>,
    /// Fingerprint of the meeting-relevant fields at the last successful API call.
    pub fingerprint: Option<String>,
    /// Subject sent.
    pub subject: String,
    /// Start of the (first) meeting, unix seconds.
    pub start_at: Option<i64>,
    /// End of the (first) meeting.
    pub end_at: Option<i64>,
    /// End of the last occurrence the meeting holds (series), or `end_at`.
    pub series_end_at: Option<i64>,
    /// Whether the meeting is recurring.
    pub recurring: bool,
    /// The series continues past what the meeting holds and must be extended later.
    pub needs_extension: bool,
    /// Starts of the occurrences the meeting holds (unix seconds, ascending; EXDATEs left
    /// out), as of the last create, update or extension. Empty for rows from before.
    pub occurrences: Vec<i64>,
    /// The meeting's `recurring_rule` as sent (JSON), for `status`; `None` for a single
    /// meeting or a row from before it was kept.
    pub rule: Option<String>,
    /// Href of the calendar object (CalDAV).
    pub href: Option<String>,
    /// ETag of the object after calmeet's last write or read.
    pub etag: Option<String>,
    /// Whether the join link is known to be in the event.
    pub written_back: bool,
    /// Failed attempts in a row.
    pub attempts: i64,
    /// The last error, for `status`.
    pub last_error: Option<String>,
    /// When the row was created (unix seconds).
    pub created_at: i64,
    /// When the row last changed.
    pub updated_at: i64,
    /// Live-stream watch address (`live_config.live_addr`), when the meeting is streamed.
    pub live_url: Option<String>,
    /// A failed create that may pass later: not tried again before this time (unix seconds).
    /// `None` on a `failed` row means the API refused the request itself.
    pub next_attempt_at: Option<i64>,
    /// Hash of the create request last sent ([`crate::sync::apply::request_hash`]); a refused
    /// create is sent again as soon as the request the event and config shape differs.
    pub request_hash: Option<String>,
}

impl EventRow {
    /// A fresh row for `key` in `state`.
    #[must_use]
    pub fn new(key: EventKey, state: RowState, now: i64) -> Self {
        Self {
            key,
            state,
            meeting_id: None,
            meeting_code: None,
            join_url: None,
            password: None,
            sub_meeting_id: None,
            userid: None,
            fingerprint: None,
            subject: String::new(),
            start_at: None,
            end_at: None,
            series_end_at: None,
            recurring: false,
            needs_extension: false,
            occurrences: Vec::new(),
            rule: None,
            href: None,
            etag: None,
            written_back: false,
            attempts: 0,
            last_error: None,
            created_at: now,
            updated_at: now,
            live_url: None,
            next_attempt_at: None,
            request_hash: None,
        }
    }
}

/// A continuation meeting of a recurring event: the API would not extend the event's meeting
/// in place, so the occurrences from `start` on got a meeting of their own. The event keeps its
/// original meeting (its `events` row); each continuation is one segment, and segments follow
/// each other in order of `start`. `row.key` is the event's key; `row.recurrence_id` is `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// Start of the segment's first occurrence (unix seconds): the segment's identity.
    pub start: i64,
    /// The meeting, with the same fields and lifecycle as an event row (`pending` before the
    /// create call, `created` after it, `cancelled`, `failed`).
    pub row: EventRow,
}

/// One row of `calendars`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CalendarState {
    /// Calendar name.
    pub name: String,
    /// RFC 6578 sync token.
    pub sync_token: Option<String>,
    /// CalendarServer ctag.
    pub ctag: Option<String>,
    /// HTTP ETag of an ICS feed.
    pub http_etag: Option<String>,
    /// HTTP Last-Modified of an ICS feed.
    pub http_last_modified: Option<String>,
    /// When the last pass over this calendar ran.
    pub last_pass_at: Option<i64>,
    /// When the last pass succeeded.
    pub last_ok_at: Option<i64>,
    /// The last pass's error, if it failed.
    pub last_error: Option<String>,
    /// Cancellations held by the mass-deletion guard (a fingerprint of the set).
    pub held_cancels: Option<String>,
    /// When the events were last evaluated against the clock (horizon, past series).
    pub evaluated_at: Option<i64>,
    /// Digest of the calendar's meeting options at that evaluation: a config change
    /// re-evaluates the calendar even when its events did not change.
    pub options_digest: Option<String>,
    /// Whether the CalDAV server answers RFC 6578 sync-collection: `Some(false)` once it
    /// refused, so that it is not asked again on every pass with a change.
    pub sync_collection: Option<bool>,
    /// When the saved change marker (ctag) was read, unix milliseconds.
    pub marker_read_at: Option<i64>,
    /// When calmeet last wrote an object of this calendar, unix milliseconds.
    pub wrote_at: Option<i64>,
}

/// What one fetch learned, committed in one transaction by [`Store::commit_fetch`]: the
/// objects and the markers that vouch for them (DESIGN.md §2).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FetchCommit {
    /// Objects downloaded (new or changed).
    pub upserts: Vec<CachedObject>,
    /// Hrefs deleted.
    pub deleted: Vec<String>,
    /// Every other cached object is dropped (an ICS feed is one object).
    pub replace_all: bool,
    /// The sync token, ctag and HTTP validators that describe the cache after this commit.
    pub sync_token: Option<String>,
    /// See [`CalendarState::ctag`].
    pub ctag: Option<String>,
    /// See [`CalendarState::http_etag`].
    pub http_etag: Option<String>,
    /// See [`CalendarState::http_last_modified`].
    pub http_last_modified: Option<String>,
    /// See [`CalendarState::sync_collection`].
    pub sync_collection: Option<bool>,
    /// See [`CalendarState::marker_read_at`].
    pub marker_read_at: Option<i64>,
}

/// A cached calendar object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedObject {
    /// Href (CalDAV) or the feed URL (ICS).
    pub href: String,
    /// ETag, when the server gave one.
    pub etag: Option<String>,
    /// Raw bytes.
    pub data: Vec<u8>,
}

/// The state database.
pub struct Store {
    conn: Mutex<Connection>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Store")
    }
}

const ROW_COLUMNS: &str = "calendar, uid, recurrence_id, state, meeting_id, meeting_code, \
    join_url, password, sub_meeting_id, userid, fingerprint, subject, start_at, end_at, \
    series_end_at, recurring, needs_extension, href, etag, written_back, attempts, last_error, \
    created_at, updated_at, occurrences, rule, live_url, next_attempt_at, request_hash";

impl Store {
    /// Opens (creating if needed) the database at `path` and migrates it.
    ///
    /// # Errors
    /// When the file cannot be opened or migrated.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::Open {
                path: path.display().to_string(),
                message: format!("cannot create directory {}: {e}", dir.display()),
            })?;
        }
        let conn = Connection::open(path).map_err(|e| StoreError::Open {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        Self::init(conn)
    }

    /// An in-memory database, for dry runs without a state file and for tests.
    ///
    /// # Errors
    /// Never in practice.
    pub fn open_in_memory() -> Result<Self, StoreError> {
        Self::init(Connection::open_in_memory()?)
    }

    /// Opens an existing database read-only (for `status` and `--dry-run`).
    ///
    /// # Errors
    /// When the file does not exist or cannot be read.
    pub fn open_read_only(path: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(|e| StoreError::Open {
                path: path.display().to_string(),
                message: e.to_string(),
            })?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        // Read-only cannot migrate: say so instead of failing on a missing column.
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if usize::try_from(version).unwrap_or(0) < MIGRATIONS.len() {
            return Err(StoreError::Open {
                path: path.display().to_string(),
                message: "written by an older calmeet; run `calmeet sync` (or start the \
                          daemon) once to upgrade it"
                    .into(),
            });
        }
        Ok(Self {
            conn: Mutex::new(conn),
        })
    }

    fn init(mut conn: Connection) -> Result<Self, StoreError> {
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        let done: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        for (i, sql) in MIGRATIONS
            .iter()
            .enumerate()
            .skip(usize::try_from(done).unwrap_or(0))
        {
            let tx = conn.transaction()?;
            tx.execute_batch(sql)?;
            tx.pragma_update(
                None,
                "user_version",
                i64::try_from(i + 1).unwrap_or(i64::MAX),
            )?;
            tx.commit()?;
        }
        Ok(Self {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite inconsistent (every write is a
        // statement or a transaction), so a poisoned lock is safe to keep using.
        self.conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// All rows of one calendar.
    ///
    /// # Errors
    /// On SQLite errors.
    pub fn rows(&self, calendar: &str) -> Result<Vec<EventRow>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {ROW_COLUMNS} FROM events WHERE calendar = ?1 ORDER BY uid, recurrence_id"
        ))?;
        let rows = stmt.query_map(params![calendar], row_from_sql)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Every row, for `status`.
    ///
    /// # Errors
    /// On SQLite errors.
    pub fn all_rows(&self) -> Result<Vec<EventRow>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {ROW_COLUMNS} FROM events ORDER BY calendar, start_at, uid, recurrence_id"
        ))?;
        let rows = stmt.query_map([], row_from_sql)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// One row.
    ///
    /// # Errors
    /// On SQLite errors.
    pub fn row(&self, key: &EventKey) -> Result<Option<EventRow>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {ROW_COLUMNS} FROM events WHERE calendar = ?1 AND uid = ?2 AND recurrence_id = ?3"
        ))?;
        Ok(stmt
            .query_row(
                params![key.calendar, key.uid, key.recurrence_id.unwrap_or(-1)],
                row_from_sql,
            )
            .optional()?)
    }

    /// Inserts or replaces a row (one statement: atomic and durable when it returns).
    ///
    /// # Errors
    /// On SQLite errors.
    pub fn put(&self, row: &EventRow) -> Result<(), StoreError> {
        write_row(
            &self.conn(),
            &put_event_sql(),
            row,
            row.key.recurrence_id.unwrap_or(-1),
        )
    }

    /// Commits a series change of one meeting (the event's own row, or continuation segment
    /// `segment`) together with what it leaves to do, in one transaction: the new `row` (its
    /// new fingerprint), and every occurrence change already sent to that meeting (a
    /// cancelled or moved occurrence row of the same event naming `meeting_id`) set back to
    /// `pending` with no fingerprint, because the API resets a series' sub-meetings when the
    /// series is modified (reference §3.2) and they must be sent again. A crash after this
    /// commit leaves the re-sends recorded, so the next pass sends them even though the
    /// series' fingerprint already matches; a crash before it leaves the old fingerprint, and
    /// the whole change is sent again. Returns how many occurrence rows were marked.
    ///
    /// # Errors
    /// On SQLite errors (then nothing is changed).
    pub fn commit_series_change(
        &self,
        row: &EventRow,
        segment: Option<i64>,
        meeting_id: &str,
    ) -> Result<usize, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        match segment {
            None => write_row(
                &tx,
                &put_event_sql(),
                row,
                row.key.recurrence_id.unwrap_or(-1),
            )?,
            Some(start) => write_row(&tx, &put_segment_sql(), row, start)?,
        }
        let marked = tx.execute(
            "UPDATE events SET state = 'pending', fingerprint = NULL \
             WHERE calendar = ?1 AND uid = ?2 AND recurrence_id <> -1 AND meeting_id = ?3 \
             AND state IN ('cancelled', 'created')",
            params![row.key.calendar, row.key.uid, meeting_id],
        )?;
        tx.commit()?;
        Ok(marked)
    }

    /// Deletes a row.
    ///
    /// # Errors
    /// On SQLite errors.
    pub fn delete(&self, key: &EventKey) -> Result<(), StoreError> {
        self.conn().execute(
            "DELETE FROM events WHERE calendar = ?1 AND uid = ?2 AND recurrence_id = ?3",
            params![key.calendar, key.uid, key.recurrence_id.unwrap_or(-1)],
        )?;
        Ok(())
    }

    /// Continuation segments of one calendar, ordered by event and segment start.
    ///
    /// # Errors
    /// On SQLite errors.
    pub fn segments(&self, calendar: &str) -> Result<Vec<Segment>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {ROW_COLUMNS}, segment_start FROM segments WHERE calendar = ?1 \
             ORDER BY uid, segment_start"
        ))?;
        let rows = stmt.query_map(params![calendar], segment_from_sql)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Every segment, for `status`.
    ///
    /// # Errors
    /// On SQLite errors.
    pub fn all_segments(&self) -> Result<Vec<Segment>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {ROW_COLUMNS}, segment_start FROM segments ORDER BY calendar, uid, segment_start"
        ))?;
        let rows = stmt.query_map([], segment_from_sql)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The segments of one event, ordered by start.
    ///
    /// # Errors
    /// On SQLite errors.
    pub fn segments_of(&self, key: &EventKey) -> Result<Vec<Segment>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {ROW_COLUMNS}, segment_start FROM segments \
             WHERE calendar = ?1 AND uid = ?2 ORDER BY segment_start"
        ))?;
        let rows = stmt.query_map(params![key.calendar, key.uid], segment_from_sql)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// One segment of an event.
    ///
    /// # Errors
    /// On SQLite errors.
    pub fn segment(&self, key: &EventKey, start: i64) -> Result<Option<Segment>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {ROW_COLUMNS}, segment_start FROM segments \
             WHERE calendar = ?1 AND uid = ?2 AND segment_start = ?3"
        ))?;
        Ok(stmt
            .query_row(params![key.calendar, key.uid, start], segment_from_sql)
            .optional()?)
    }

    /// Inserts or replaces a segment (one statement: atomic and durable when it returns).
    ///
    /// # Errors
    /// On SQLite errors.
    pub fn put_segment(&self, segment: &Segment) -> Result<(), StoreError> {
        write_row(
            &self.conn(),
            &put_segment_sql(),
            &segment.row,
            segment.start,
        )
    }

    /// Deletes every segment of an event (its meeting is over and the event gone).
    ///
    /// # Errors
    /// On SQLite errors.
    pub fn delete_segments(&self, key: &EventKey) -> Result<(), StoreError> {
        self.conn().execute(
            "DELETE FROM segments WHERE calendar = ?1 AND uid = ?2",
            params![key.calendar, key.uid],
        )?;
        Ok(())
    }

    /// A fact about the meeting API kept across passes (`api_state`), e.g. a quota hold.
    ///
    /// # Errors
    /// On SQLite errors.
    pub fn api_state(&self, key: &str) -> Result<Option<String>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached("SELECT value FROM api_state WHERE key = ?1")?;
        Ok(stmt.query_row(params![key], |r| r.get(0)).optional()?)
    }

    /// Sets (or with `None` removes) a fact about the meeting API.
    ///
    /// # Errors
    /// On SQLite errors.
    pub fn set_api_state(&self, key: &str, value: Option<&str>) -> Result<(), StoreError> {
        let conn = self.conn();
        match value {
            Some(v) => conn.execute(
                "INSERT OR REPLACE INTO api_state (key, value) VALUES (?1, ?2)",
                params![key, v],
            )?,
            None => conn.execute("DELETE FROM api_state WHERE key = ?1", params![key])?,
        };
        Ok(())
    }

    /// The row that holds a meeting id, if any (adoption after a lost database).
    ///
    /// # Errors
    /// On SQLite errors.
    pub fn row_by_meeting(&self, meeting_id: &str) -> Result<Option<EventRow>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {ROW_COLUMNS} FROM events WHERE meeting_id = ?1 AND recurrence_id = -1 LIMIT 1"
        ))?;
        Ok(stmt
            .query_row(params![meeting_id], row_from_sql)
            .optional()?)
    }

    /// A calendar's sync state (default when never synced).
    ///
    /// # Errors
    /// On SQLite errors.
    pub fn calendar(&self, name: &str) -> Result<CalendarState, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT name, sync_token, ctag, http_etag, http_last_modified, last_pass_at, \
             last_ok_at, last_error, held_cancels, evaluated_at, sync_collection, marker_read_at, \
             wrote_at, options_digest FROM calendars WHERE name = ?1",
        )?;
        let found = stmt
            .query_row(params![name], |r| {
                Ok(CalendarState {
                    name: r.get(0)?,
                    sync_token: r.get(1)?,
                    ctag: r.get(2)?,
                    http_etag: r.get(3)?,
                    http_last_modified: r.get(4)?,
                    last_pass_at: r.get(5)?,
                    last_ok_at: r.get(6)?,
                    last_error: r.get(7)?,
                    held_cancels: r.get(8)?,
                    evaluated_at: r.get(9)?,
                    sync_collection: r.get(10)?,
                    marker_read_at: r.get(11)?,
                    wrote_at: r.get(12)?,
                    options_digest: r.get(13)?,
                })
            })
            .optional()?;
        Ok(found.unwrap_or_else(|| CalendarState {
            name: name.to_owned(),
            ..CalendarState::default()
        }))
    }

    /// Every calendar's sync state.
    ///
    /// # Errors
    /// On SQLite errors.
    pub fn calendars(&self) -> Result<Vec<CalendarState>, StoreError> {
        let names: Vec<String> = {
            let conn = self.conn();
            let mut stmt = conn.prepare_cached("SELECT name FROM calendars ORDER BY name")?;

            stmt.query_map([], |r| r.get(0))?
                .collect::<Result<_, _>>()?
        };
        names.iter().map(|n| self.calendar(n)).collect()
    }

    /// Saves a calendar's sync state. `wrote_at` only moves forward: a pass saving the state
    /// it read before its own writes keeps the time [`Self::record_write`] stored.
    ///
    /// # Errors
    /// On SQLite errors.
    pub fn put_calendar(&self, c: &CalendarState) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT INTO calendars (name, sync_token, ctag, http_etag, \
             http_last_modified, last_pass_at, last_ok_at, last_error, held_cancels, evaluated_at, \
             sync_collection, marker_read_at, wrote_at, options_digest) \
             VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14) \
             ON CONFLICT(name) DO UPDATE SET sync_token = excluded.sync_token, \
             ctag = excluded.ctag, http_etag = excluded.http_etag, \
             http_last_modified = excluded.http_last_modified, last_pass_at = excluded.last_pass_at, \
             last_ok_at = excluded.last_ok_at, last_error = excluded.last_error, \
             held_cancels = excluded.held_cancels, evaluated_at = excluded.evaluated_at, \
             sync_collection = excluded.sync_collection, marker_read_at = excluded.marker_read_at, \
             wrote_at = CASE WHEN wrote_at IS NULL THEN excluded.wrote_at \
             WHEN excluded.wrote_at IS NULL THEN wrote_at ELSE max(wrote_at, excluded.wrote_at) END, \
             options_digest = excluded.options_digest",
            params![
                c.name,
                c.sync_token,
                c.ctag,
                c.http_etag,
                c.http_last_modified,
                c.last_pass_at,
                c.last_ok_at,
                c.last_error,
                c.held_cancels,
                c.evaluated_at,
                c.sync_collection,
                c.marker_read_at,
                c.wrote_at,
                c.options_digest
            ],
        )?;
        Ok(())
    }

    /// Every cached object of a calendar.
    ///
    /// # Errors
    /// On SQLite errors.
    pub fn objects(&self, calendar: &str) -> Result<Vec<CachedObject>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT href, etag, data FROM objects WHERE calendar = ?1 ORDER BY href",
        )?;
        let rows = stmt.query_map(params![calendar], |r| {
            Ok(CachedObject {
                href: r.get(0)?,
                etag: r.get(1)?,
                data: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Href and ETag of every cached object of `calendar`, without the bodies: what change
    /// detection needs on a poll that may find nothing new.
    ///
    /// # Errors
    /// On SQLite errors.
    pub fn object_etags(
        &self,
        calendar: &str,
    ) -> Result<Vec<(String, Option<String>)>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached("SELECT href, etag FROM objects WHERE calendar = ?1 ORDER BY href")?;
        let rows = stmt.query_map(params![calendar], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// One cached object of `calendar` by its href, body included.
    ///
    /// # Errors
    /// On SQLite errors.
    pub fn object(&self, calendar: &str, href: &str) -> Result<Option<CachedObject>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT href, etag, data FROM objects WHERE calendar = ?1 AND href = ?2",
        )?;
        Ok(stmt
            .query_row(params![calendar, href], |r| {
                Ok(CachedObject {
                    href: r.get(0)?,
                    etag: r.get(1)?,
                    data: r.get(2)?,
                })
            })
            .optional()?)
    }

    /// Commits what a fetch learned in one transaction: `upserts` are stored, `deleted`
    /// removed (with `replace_all` every other object too), and the calendar's markers (sync
    /// token, ctag, HTTP validators, sync-collection support, when the marker was read) are
    /// set to the ones that vouch for the cache after it. When objects changed, the calendar
    /// is also marked as not evaluated since (`evaluated_at` cleared), so that a pass that
    /// dies before applying them evaluates them next time. A crash can thus never leave
    /// objects newer than their marker, nor a marker newer than its objects (issue #12 kind 3:
    /// a ctag that returns to an old value must not vouch for objects fetched since).
    ///
    /// # Errors
    /// On SQLite errors.
    pub fn commit_fetch(&self, calendar: &str, c: &FetchCommit) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute(
            "INSERT OR IGNORE INTO calendars (name) VALUES (?1)",
            params![calendar],
        )?;
        if c.replace_all {
            tx.execute("DELETE FROM objects WHERE calendar = ?1", params![calendar])?;
        }
        {
            let mut put = tx.prepare_cached(
                "INSERT OR REPLACE INTO objects (calendar, href, etag, data) VALUES (?1,?2,?3,?4)",
            )?;
            for o in &c.upserts {
                put.execute(params![calendar, o.href, o.etag, o.data])?;
            }
            let mut del =
                tx.prepare_cached("DELETE FROM objects WHERE calendar = ?1 AND href = ?2")?;
            for h in &c.deleted {
                del.execute(params![calendar, h])?;
            }
        }
        if c.replace_all || !c.upserts.is_empty() || !c.deleted.is_empty() {
            // Cached changes are not evaluated yet: a crash before the pass applies them must
            // not let the next pass take the calendar for "unchanged and evaluated".
            tx.execute(
                "UPDATE calendars SET evaluated_at = NULL WHERE name = ?1",
                params![calendar],
            )?;
        }
        tx.execute(
            "UPDATE calendars SET sync_token = ?2, ctag = ?3, http_etag = ?4, \
             http_last_modified = ?5, sync_collection = ?6, marker_read_at = ?7 WHERE name = ?1",
            params![
                calendar,
                c.sync_token,
                c.ctag,
                c.http_etag,
                c.http_last_modified,
                c.sync_collection,
                c.marker_read_at
            ],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Records calmeet's own write of an object: the cache gets the body and ETag the server
    /// now holds, so that the write is not a change on the next pass, and the calendar the
    /// time of the write (`at_ms`, unix milliseconds). With `reread` the body holds an edit
    /// the pass has not planned from (read after a 412), so the calendar is marked as not
    /// evaluated. One transaction.
    ///
    /// # Errors
    /// On SQLite errors.
    pub fn record_write(
        &self,
        calendar: &str,
        object: &CachedObject,
        at_ms: i64,
        reread: bool,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute(
            "INSERT OR IGNORE INTO calendars (name) VALUES (?1)",
            params![calendar],
        )?;
        tx.execute(
            "INSERT OR REPLACE INTO objects (calendar, href, etag, data) VALUES (?1,?2,?3,?4)",
            params![calendar, object.href, object.etag, object.data],
        )?;
        tx.execute(
            "UPDATE calendars SET wrote_at = ?2 WHERE name = ?1",
            params![calendar, at_ms],
        )?;
        if reread {
            tx.execute(
                "UPDATE calendars SET evaluated_at = NULL WHERE name = ?1",
                params![calendar],
            )?;
        }
        tx.commit()?;
        Ok(())
    }
}

fn row_from_sql(r: &rusqlite::Row<'_>) -> rusqlite::Result<EventRow> {
    let rid: i64 = r.get(2)?;
    let state: String = r.get(3)?;
    Ok(EventRow {
        key: EventKey {
            calendar: r.get(0)?,
            uid: r.get(1)?,
            recurrence_id: (rid != -1).then_some(rid),
        },
        state: RowState::parse(&state),
        meeting_id: r.get(4)?,
        meeting_code: r.get(5)?,
        join_url: r.get(6)?,
        password: r.get(7)?,
        sub_meeting_id: r.get(8)?,
        userid: r.get(9)?,
        fingerprint: r.get(10)?,
        subject: r.get(11)?,
        start_at: r.get(12)?,
        end_at: r.get(13)?,
        series_end_at: r.get(14)?,
        recurring: r.get(15)?,
        needs_extension: r.get(16)?,
        href: r.get(17)?,
        etag: r.get(18)?,
        written_back: r.get(19)?,
        attempts: r.get(20)?,
        last_error: r.get(21)?,
        created_at: r.get(22)?,
        updated_at: r.get(23)?,
        occurrences: split_occurrences(&r.get::<_, String>(24)?),
        rule: r.get(25)?,
        live_url: r.get(26)?,
        next_attempt_at: r.get(27)?,
        request_hash: r.get(28)?,
    })
}

fn segment_from_sql(r: &rusqlite::Row<'_>) -> rusqlite::Result<Segment> {
    Ok(Segment {
        start: r.get(29)?,
        row: row_from_sql(r)?,
    })
}

/// `INSERT OR REPLACE` of an event row (`?3` = recurrence id, -1 for the event itself).
fn put_event_sql() -> String {
    format!(
        "INSERT OR REPLACE INTO events ({ROW_COLUMNS}) VALUES \
         (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19,?20,?21,?22,?23,?24,?25,?26,?27,?28,?29)"
    )
}

/// `INSERT OR REPLACE` of a continuation segment (`?3` = segment start).
fn put_segment_sql() -> String {
    format!(
        "INSERT OR REPLACE INTO segments ({ROW_COLUMNS}, segment_start) VALUES \
         (?1,?2,-1,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19,?20,?21,?22,?23,?24,?25,?26,?27,?28,?29,?3)"
    )
}

/// Runs `sql` with the columns of `row` as `?1`…`?29`, `?3` being `third` (the recurrence
/// id in `events`, the segment start in `segments`).
fn write_row(conn: &Connection, sql: &str, row: &EventRow, third: i64) -> Result<(), StoreError> {
    let mut stmt = conn.prepare_cached(sql)?;

    stmt.execute(params![
        row.key.calendar,
        row.key.uid,
        third,
        row.state.as_str(),
        row.meeting_id,
        row.meeting_code,
        row.join_url,
        row.password,
        row.sub_meeting_id,
        row.userid,
        row.fingerprint,
        row.subject,
        row.start_at,
        row.end_at,
        row.series_end_at,
        row.recurring,
        row.needs_extension,
        row.href,
        row.etag,
        row.written_back,
        row.attempts,
        row.last_error,
        row.created_at,
        row.updated_at,
        join_occurrences(&row.occurrences),
        row.rule,
        row.live_url,
        row.next_attempt_at,
        row.request_hash,
    ])?;
    Ok(())
}

fn join_occurrences(starts: &[i64]) -> String {
    starts
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// Unparsable entries are dropped: the list is advisory (status, extension timing).
fn split_occurrences(text: &str) -> Vec<i64> {
    text.split(',')
        .filter_map(|t| t.trim().parse().ok())
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn key(uid: &str, rid: Option<i64>) -> EventKey {
        EventKey {
            calendar: "team".into(),
            uid: uid.into(),
            recurrence_id: rid,
        }
    }

    /// Issue 12 kind 2: the series' new state and "send its occurrence changes again" are one
    /// commit; only this meeting's sent occurrence rows are marked.
    #[test]
    fn a_series_change_marks_its_sent_occurrence_changes_in_the_same_commit() {
        let s = Store::open_in_memory().unwrap();
        let occ = |uid: &str, rid: i64, state: RowState, mid: &str| {
            let mut r = EventRow::new(key(uid, Some(rid)), state, 1);
            r.meeting_id = Some(mid.into());
            r.fingerprint = Some("fp".into());
            r
        };
        for r in [
            occ("a", 10, RowState::Cancelled, "m1"),
            occ("a", 20, RowState::Created, "m1"),
            occ("a", 30, RowState::Cancelled, "m-old"),
            occ("b", 10, RowState::Cancelled, "m1"),
            occ("a", 40, RowState::Skipped, "m1"),
        ] {
            s.put(&r).unwrap();
        }
        let mut series = EventRow::new(key("a", None), RowState::Created, 1);
        series.meeting_id = Some("m1".into());
        series.fingerprint = Some("new".into());
        assert_eq!(s.commit_series_change(&series, None, "m1").unwrap(), 2);
        let state = |uid: &str, rid: i64| {
            let r = s.row(&key(uid, Some(rid))).unwrap().unwrap();
            (r.state, r.fingerprint)
        };
        assert_eq!(state("a", 10), (RowState::Pending, None));
        assert_eq!(state("a", 20), (RowState::Pending, None));
        assert_eq!(state("a", 30).0, RowState::Cancelled, "another meeting's");
        assert_eq!(state("b", 10).0, RowState::Cancelled, "another event's");
        assert_eq!(state("a", 40).0, RowState::Skipped);
        let saved = s.row(&key("a", None)).unwrap().unwrap();
        assert_eq!(saved.fingerprint.as_deref(), Some("new"));
        // A continuation segment's change is committed into its own table.
        let mut seg = series.clone();
        seg.meeting_id = Some("m2".into());
        s.commit_series_change(&seg, Some(99), "m2").unwrap();
        assert_eq!(
            s.segment(&key("a", None), 99)
                .unwrap()
                .unwrap()
                .row
                .meeting_id
                .as_deref(),
            Some("m2")
        );
    }

    #[test]
    fn rows_round_trip_and_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/state.db");
        {
            let s = Store::open(&path).unwrap();
            let mut row = EventRow::new(key("a", None), RowState::Pending, 100);
            row.subject = "周会".into();
            s.put(&row).unwrap();
            row.state = RowState::Created;
            row.meeting_id = Some("m1".into());
            row.occurrences = vec![1_900_000_000, 1_900_086_400];
            s.put(&row).unwrap();
            s.put(&EventRow::new(
                key("a", Some(1_900_000_000)),
                RowState::Skipped,
                100,
            ))
            .unwrap();
        }
        let s = Store::open(&path).unwrap();
        let rows = s.rows("team").unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].state, RowState::Created);
        assert_eq!(rows[0].subject, "周会");
        assert_eq!(rows[0].occurrences, vec![1_900_000_000, 1_900_086_400]);
        assert_eq!(rows[1].key.recurrence_id, Some(1_900_000_000));
        assert_eq!(s.row_by_meeting("m1").unwrap().unwrap().key.uid, "a");
        s.delete(&key("a", None)).unwrap();
        assert!(s.row(&key("a", None)).unwrap().is_none());
    }

    #[test]
    fn migrations_are_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.db");
        drop(Store::open(&p).unwrap());
        let s = Store::open(&p).unwrap();
        let v: i64 = s
            .conn()
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v, i64::try_from(MIGRATIONS.len()).unwrap());
    }

    #[test]
    fn first_schema_is_migrated_keeping_rows() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("old.db");
        {
            let conn = Connection::open(&p).unwrap();
            conn.execute_batch(MIGRATIONS[0]).unwrap();
            conn.pragma_update(None, "user_version", 1).unwrap();
            conn.execute(
                "INSERT INTO events (calendar, uid, state, created_at, updated_at) \
                 VALUES ('team', 'a', 'created', 1, 1)",
                [],
            )
            .unwrap();
        }
        let s = Store::open(&p).unwrap();
        let row = s.row(&key("a", None)).unwrap().unwrap();
        assert_eq!(row.state, RowState::Created);
        assert!(row.occurrences.is_empty());
    }

    #[test]
    fn segments_round_trip_per_event() {
        let s = Store::open_in_memory().unwrap();
        let mut row = EventRow::new(key("a", None), RowState::Pending, 1);
        row.subject = "Daily".into();
        row.occurrences = vec![300, 400];
        let later = Segment {
            start: 300,
            row: row.clone(),
        };
        s.put_segment(&later).unwrap();
        s.put_segment(&Segment {
            start: 100,
            row: row.clone(),
        })
        .unwrap();
        row.state = RowState::Created;
        row.meeting_id = Some("m2".into());
        s.put_segment(&Segment {
            start: 300,
            row: row.clone(),
        })
        .unwrap();
        s.put_segment(&Segment {
            start: 5,
            row: EventRow::new(key("b", None), RowState::Created, 1),
        })
        .unwrap();
        let of_a = s.segments_of(&key("a", None)).unwrap();
        assert_eq!(of_a.iter().map(|x| x.start).collect::<Vec<_>>(), [100, 300]);
        assert_eq!(of_a[1].row, row);
        assert_eq!(s.segment(&key("a", None), 300).unwrap().unwrap().row, row);
        assert_eq!(s.segments("team").unwrap().len(), 3);
        assert_eq!(s.all_segments().unwrap().len(), 3);
        s.delete_segments(&key("a", None)).unwrap();
        assert!(s.segments_of(&key("a", None)).unwrap().is_empty());
        assert_eq!(s.segments("team").unwrap().len(), 1);
        // The events table is untouched by segments.
        assert!(s.rows("team").unwrap().is_empty());
    }

    #[test]
    fn calendar_state_and_objects() {
        let s = Store::open_in_memory().unwrap();
        assert_eq!(s.calendar("c").unwrap().name, "c");
        let mut c = s.calendar("c").unwrap();
        c.sync_token = Some("t1".into());
        s.put_calendar(&c).unwrap();
        assert_eq!(s.calendar("c").unwrap().sync_token.as_deref(), Some("t1"));
        let o = |h: &str| CachedObject {
            href: h.into(),
            etag: Some("e".into()),
            data: b"x".to_vec(),
        };
        let commit =
            |upserts: Vec<CachedObject>, deleted: Vec<String>, replace_all, token: &str| {
                s.commit_fetch(
                    "c",
                    &FetchCommit {
                        upserts,
                        deleted,
                        replace_all,
                        sync_token: Some(token.into()),
                        ..FetchCommit::default()
                    },
                )
                .unwrap();
            };
        commit(vec![o("/1"), o("/2")], vec![], true, "t2");
        commit(vec![o("/3")], vec!["/1".into()], false, "t3");
        let hrefs: Vec<_> = s
            .objects("c")
            .unwrap()
            .into_iter()
            .map(|o| o.href)
            .collect();
        assert_eq!(hrefs, vec!["/2", "/3"]);
        assert_eq!(s.calendar("c").unwrap().sync_token.as_deref(), Some("t3"));
        commit(vec![o("/9")], vec![], true, "t4");
        assert_eq!(s.objects("c").unwrap().len(), 1);
        assert_eq!(
            s.object_etags("c").unwrap(),
            vec![("/9".to_owned(), Some("e".to_owned()))]
        );
    }

    #[test]
    fn a_fetch_commits_objects_and_markers_together_and_clears_evaluation() {
        let s = Store::open_in_memory().unwrap();
        let mut c = s.calendar("c").unwrap();
        c.evaluated_at = Some(5);
        c.ctag = Some("old".into());
        s.put_calendar(&c).unwrap();
        // Markers only: the evaluation stands.
        s.commit_fetch(
            "c",
            &FetchCommit {
                ctag: Some("same".into()),
                ..FetchCommit::default()
            },
        )
        .unwrap();
        let c = s.calendar("c").unwrap();
        assert_eq!((c.ctag.as_deref(), c.evaluated_at), (Some("same"), Some(5)));
        // Objects and markers: both land, the calendar is to be evaluated again.
        s.commit_fetch(
            "c",
            &FetchCommit {
                upserts: vec![CachedObject {
                    href: "/a".into(),
                    etag: Some("\"1\"".into()),
                    data: b"x".to_vec(),
                }],
                ctag: Some("new".into()),
                sync_token: Some("t9".into()),
                sync_collection: Some(false),
                marker_read_at: Some(1234),
                ..FetchCommit::default()
            },
        )
        .unwrap();
        let c = s.calendar("c").unwrap();
        assert_eq!(c.ctag.as_deref(), Some("new"));
        assert_eq!(c.sync_token.as_deref(), Some("t9"));
        assert_eq!(c.sync_collection, Some(false));
        assert_eq!(c.marker_read_at, Some(1234));
        assert_eq!(c.evaluated_at, None);
        assert_eq!(s.objects("c").unwrap().len(), 1);
    }

    #[test]
    fn own_writes_are_cached_and_their_time_survives_a_stale_state_save() {
        let s = Store::open_in_memory().unwrap();
        let mut stale = s.calendar("c").unwrap();
        stale.evaluated_at = Some(7);
        s.put_calendar(&stale).unwrap();
        let obj = CachedObject {
            href: "/a".into(),
            etag: Some("\"2\"".into()),
            data: b"mine".to_vec(),
        };
        s.record_write("c", &obj, 1_000, false).unwrap();
        assert_eq!(s.object("c", "/a").unwrap().unwrap(), obj);
        assert_eq!(s.calendar("c").unwrap().evaluated_at, Some(7));
        // The pass saves the state it read before writing: the write time stays.
        s.put_calendar(&stale).unwrap();
        assert_eq!(s.calendar("c").unwrap().wrote_at, Some(1_000));
        // A body read after a 412 holds an unplanned edit: evaluate again.
        s.record_write("c", &obj, 2_000, true).unwrap();
        let c = s.calendar("c").unwrap();
        assert_eq!((c.wrote_at, c.evaluated_at), (Some(2_000), None));
    }
}
