//! Where log lines go and how they look: journald priorities, a colourful terminal, or JSON.
//!
//! Owns the choice of format (from `--log-format`, `JOURNAL_STREAM` and whether stderr is a
//! terminal) and of level (from `--log-level`, else `RUST_LOG`, else `info`). Logs go to stderr;
//! stdout stays free for command output such as `status` tables and `sync --dry-run` plans.
//!
//! Under systemd the lines carry a `<N>` syslog priority prefix that journald turns into the
//! entry's priority, with no colours and no timestamps (journald adds its own). Fields stay in
//! the text so `journalctl -u calmeet` shows them, which the native journald protocol would not.
//! This module must never log anything itself beyond setup problems, and never a config value.

use std::io::IsTerminal;
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, MakeWriter};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

/// The level used when neither `--log-level` nor `RUST_LOG` says otherwise.
const DEFAULT_LEVEL: &str = "info";

/// How log lines are written, as chosen by `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// Journald when stderr is the journal, else human-readable (coloured on a terminal).
    #[default]
    Auto,
    /// Human-readable lines with timestamps; colours only on a terminal without `NO_COLOR`.
    Human,
    /// One JSON object per line, for log shippers.
    Json,
    /// `<N>`-prefixed lines for journald (or any syslog-priority-aware reader).
    Journald,
}

/// The format actually in use after resolving [`LogFormat::Auto`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogOutput {
    /// `<N>message fields`, no colours, no timestamps.
    Journald,
    /// Timestamped lines; `ansi` says whether colours are on.
    Human {
        /// Colours on.
        ansi: bool,
    },
    /// JSON lines.
    Json,
}

/// Why logging could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// The level or filter did not parse.
    #[error(
        "log level {spec:?} (from {source_name}) is not valid: {reason}; use error, warn, info, \
         debug or trace, or a filter such as \"calmeet=debug,info\""
    )]
    InvalidLevel {
        /// The text given.
        spec: String,
        /// `--log-level` or `RUST_LOG`.
        source_name: &'static str,
        /// The parser's words.
        reason: String,
    },
    /// A global subscriber was already installed (`init` called twice).
    #[error("logging was already set up: {0}")]
    AlreadySet(String),
}

/// Installs the global log subscriber writing to stderr and returns the format chosen.
///
/// `level` is the `--log-level` flag; when `None`, `RUST_LOG` is used, else `info`. Either may be
/// a plain level or an `EnvFilter` directive list. Also forwards `log` records of dependencies.
///
/// # Errors
/// [`LogError::InvalidLevel`] for a bad level or filter, [`LogError::AlreadySet`] if called twice.
pub fn init(level: Option<&str>, format: LogFormat) -> Result<LogOutput, LogError> {
    let filter = filter_from(level, std::env::var("RUST_LOG").ok().as_deref())?;
    let output = resolve(
        format,
        std::env::var("JOURNAL_STREAM").ok().as_deref(),
        stderr_identity(),
        std::io::stderr().is_terminal(),
        std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()),
    );
    subscriber(filter, output, std::io::stderr)
        .try_init()
        .map_err(|err| LogError::AlreadySet(err.to_string()))?;
    Ok(output)
}

/// The filter from the flag, else `RUST_LOG`, else [`DEFAULT_LEVEL`].
///
/// # Errors
/// [`LogError::InvalidLevel`] naming where the bad text came from.
pub fn filter_from(flag: Option<&str>, rust_log: Option<&str>) -> Result<EnvFilter, LogError> {
    let (spec, source_name) = match (flag, rust_log) {
        (Some(flag), _) => (flag, "--log-level"),
        (None, Some(env)) if !env.trim().is_empty() => (env, "RUST_LOG"),
        _ => (DEFAULT_LEVEL, "the default"),
    };
    EnvFilter::try_new(spec).map_err(|err| LogError::InvalidLevel {
        spec: spec.to_owned(),
        source_name,
        reason: err.to_string(),
    })
}

/// Resolves `format` given the environment: `journal_stream` is `$JOURNAL_STREAM`
/// (`"<dev>:<inode>"`), `stderr` the device and inode of fd 2.
///
/// `Auto` picks journald only if stderr *is* the stream systemd connected, so a child process
/// that inherited the variable but writes to a file or terminal is not mistaken for a service.
#[must_use]
pub fn resolve(
    format: LogFormat,
    journal_stream: Option<&str>,
    stderr: Option<(u64, u64)>,
    stderr_is_terminal: bool,
    no_color: bool,
) -> LogOutput {
    let human = LogOutput::Human {
        ansi: stderr_is_terminal && !no_color,
    };
    match format {
        LogFormat::Journald => LogOutput::Journald,
        LogFormat::Json => LogOutput::Json,
        LogFormat::Human => human,
        LogFormat::Auto => {
            let on_journal = journal_stream
                .zip(stderr)
                .is_some_and(|(stream, id)| journal_stream_is(stream, id));
            if on_journal {
                LogOutput::Journald
            } else {
                human
            }
        }
    }
}

/// True if `$JOURNAL_STREAM` (`"<dev>:<inode>"`) names the file `(dev, inode)`.
fn journal_stream_is(stream: &str, (dev, inode): (u64, u64)) -> bool {
    let Some((d, i)) = stream.trim().split_once(':') else {
        return false;
    };
    d.parse() == Ok(dev) && i.parse() == Ok(inode)
}

/// Device and inode of stderr, as `JOURNAL_STREAM` states them.
fn stderr_identity() -> Option<(u64, u64)> {
    let fd = std::io::stderr().as_fd().try_clone_to_owned().ok()?;
    let meta = std::fs::File::from(fd).metadata().ok()?;
    Some((meta.dev(), meta.ino()))
}

/// The subscriber for `output`, writing through `writer` (stderr in production, a buffer in
/// tests).
pub fn subscriber<W>(
    filter: EnvFilter,
    output: LogOutput,
    writer: W,
) -> impl Subscriber + Send + Sync
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let layer: Box<dyn Layer<Registry> + Send + Sync> = match output {
        LogOutput::Journald => tracing_subscriber::fmt::layer()
            .with_writer(writer)
            .with_ansi(false)
            .event_format(SyslogPriority(
                tracing_subscriber::fmt::format()
                    .without_time()
                    .with_ansi(false)
                    .with_level(false)
                    .with_target(false),
            ))
            .boxed(),
        LogOutput::Human { ansi } => tracing_subscriber::fmt::layer()
            .with_writer(writer)
            .with_ansi(ansi)
            .with_target(false)
            .boxed(),
        LogOutput::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_writer(writer)
            .flatten_event(true)
            .with_current_span(true)
            .boxed(),
    };
    tracing_subscriber::registry().with(layer).with(filter)
}

/// The `sd-daemon(3)` priority for a tracing level.
#[must_use]
pub fn syslog_priority(level: Level) -> u8 {
    match level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        Level::DEBUG | Level::TRACE => 7,
    }
}

/// Event formatter that puts `<N>` before what the inner formatter writes.
struct SyslogPriority<F>(F);

impl<S, N, F> FormatEvent<S, N> for SyslogPriority<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        write!(writer, "<{}>", syslog_priority(*event.metadata().level()))?;
        self.0.format_event(ctx, writer, event)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use super::*;

    /// A writer that appends to a shared buffer.
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Buffer {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    fn capture(level: &str, output: LogOutput, emit: impl FnOnce()) -> String {
        let buf = Buffer::default();
        let writer = buf.clone();
        let sub = subscriber(filter_from(Some(level), None).unwrap(), output, move || {
            writer.clone()
        });
        tracing::subscriber::with_default(sub, emit);
        buf.text()
    }

    #[test]
    fn journald_lines_carry_priority_and_no_colour_or_time() {
        let text = capture("info", LogOutput::Journald, || {
            tracing::warn!(calendar = "team", "feed unreachable");
            tracing::info!(calendars = 3, "pass finished");
            tracing::debug!("hidden at info");
        });
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                "<4>feed unreachable calendar=\"team\"",
                "<6>pass finished calendars=3"
            ]
        );
    }

    #[test]
    fn json_lines_parse_and_keep_fields() {
        let text = capture("debug", LogOutput::Json, || {
            tracing::error!(errors = 2, "pass failed");
        });
        let v: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(v["level"], "ERROR");
        assert_eq!(v["message"], "pass failed");
        assert_eq!(v["errors"], 2);
    }

    #[test]
    fn human_without_terminal_has_no_escape_codes() {
        let text = capture("info", LogOutput::Human { ansi: false }, || {
            tracing::info!("hello");
        });
        assert!(text.contains("INFO"), "{text}");
        assert!(text.contains("hello"), "{text}");
        assert!(!text.contains('\u{1b}'), "{text:?}");
    }

    #[test]
    fn flag_beats_rust_log_and_bad_filters_name_their_source() {
        let text = capture("warn", LogOutput::Journald, || {
            tracing::info!("dropped");
            tracing::warn!("kept");
        });
        assert_eq!(text, "<4>kept\n");
        let err = filter_from(None, Some("calmeet=loud")).unwrap_err();
        assert!(err.to_string().contains("RUST_LOG"), "{err}");
        assert!(filter_from(None, Some("debug")).is_ok());
        assert!(filter_from(None, None).is_ok());
    }

    #[test]
    fn auto_uses_journald_only_when_stderr_is_the_journal_stream() {
        let id = Some((8, 1234));
        assert_eq!(
            resolve(LogFormat::Auto, Some("8:1234"), id, false, false),
            LogOutput::Journald
        );
        assert_eq!(
            resolve(LogFormat::Auto, Some("8:999"), id, true, false),
            LogOutput::Human { ansi: true }
        );
        assert_eq!(
            resolve(LogFormat::Auto, None, id, true, true),
            LogOutput::Human { ansi: false }
        );
        assert_eq!(
            resolve(LogFormat::Json, Some("8:1234"), id, true, false),
            LogOutput::Json
        );
    }
}
