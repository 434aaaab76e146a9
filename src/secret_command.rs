//! Secrets from commands: `password_command`, `token_command` (per calendar) and
//! `secret_key_command` (`[meeting]`), as vdirsyncer's `password.fetch = ["command", …]` and
//! pimsync's `password { cmd … }`: an argv list run without a shell, whose first line of
//! standard output is the secret. It is how password managers (`pass`, `rbw`), `systemd-creds`
//! and OAuth helpers handing out short-lived bearer tokens are used.
//!
//! A secret is fetched once and kept in memory (zeroized on drop) until the server answers
//! 401, when the caller asks for a fresh one ([`fetch`] with `fresh = true`) at most once per
//! pass. The command's output never reaches a log or an error: a failure is reported by the
//! program's name and its exit status (or "timed out", "could not start"). Its standard error
//! is discarded for the same reason, and its standard input is empty.

use std::collections::HashMap;
use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use zeroize::Zeroizing;

use crate::config::Secret;

/// Secrets already fetched, by argv: a daemon asks the password manager once, not every pass.
static CACHE: LazyLock<Mutex<HashMap<Vec<String>, Secret>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// Why a secret command gave no secret. Never holds the command's output.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// The argv list is empty.
    #[error("the command is empty; write it as a list, e.g. [\"pass\", \"show\", \"caldav\"]")]
    Empty,
    /// The program could not be started (not found, not executable).
    #[error("`{program}` could not start ({cause}); check the path and that it is executable")]
    Start {
        /// `argv[0]`.
        program: String,
        /// The OS error, e.g. "No such file or directory".
        cause: String,
    },
    /// The program ended unsuccessfully.
    #[error("`{program}` failed ({status}); run it by hand to see why")]
    Failed {
        /// `argv[0]`.
        program: String,
        /// "exit status 3" or "killed by signal 9".
        status: String,
    },
    /// The program did not finish in time and was killed.
    #[error("`{program}` did not finish within {secs} s and was stopped")]
    Timeout {
        /// `argv[0]`.
        program: String,
        /// The limit in seconds, e.g. "30" or "0.3".
        secs: String,
    },
    /// The program succeeded but its first line of output is empty or not UTF-8.
    #[error("`{program}` succeeded but printed no secret on its first line of output")]
    NoSecret {
        /// `argv[0]`.
        program: String,
    },
}

/// The secret `argv` prints: from memory unless `fresh`, else by running the command (and
/// remembering the result). `timeout` bounds the run; the command is killed after it.
///
/// # Errors
/// [`CommandError`] when it cannot start, exits unsuccessfully, times out or prints nothing.
pub fn fetch(argv: &[String], timeout: Duration, fresh: bool) -> Result<Secret, CommandError> {
    if !fresh
        && let Some(s) = CACHE
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(argv)
    {
        return Ok(s.clone());
    }
    let secret = run(argv, timeout)?;
    CACHE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .insert(argv.to_vec(), secret.clone());
    Ok(secret)
}

/// Runs `argv` once and returns its first line of standard output.
///
/// # Errors
/// As [`fetch`].
pub fn run(argv: &[String], timeout: Duration) -> Result<Secret, CommandError> {
    let Some((program, args)) = argv.split_first().filter(|(p, _)| !p.is_empty()) else {
        return Err(CommandError::Empty);
    };
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| CommandError::Start {
            program: program.clone(),
            cause: e.kind().to_string(),
        })?;
    let deadline = Instant::now() + timeout;
    let timed_out = || CommandError::Timeout {
        program: program.clone(),
        secs: format!("{}", timeout.as_secs_f64()),
    };
    // Read on a thread, so that a command that never closes its output cannot hang us.
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = child.stdout.take();
    std::thread::spawn(move || {
        let mut out = Zeroizing::new(Vec::new());
        if let Some(mut s) = stdout {
            // Only the first line counts; a few KiB is plenty for any secret.
            let _ = s.by_ref().take(64 * 1024).read_to_end(&mut out);
        }
        let _ = tx.send(out);
    });
    let output = match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        Ok(out) => out,
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(timed_out());
        }
    };
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            Ok(None) | Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(timed_out());
            }
        }
    };
    if !status.success() {
        return Err(CommandError::Failed {
            program: program.clone(),
            status: describe_status(status),
        });
    }
    let first = output.split(|b| *b == b'\n').next().unwrap_or_default();
    let first = first.strip_suffix(b"\r").unwrap_or(first);
    match std::str::from_utf8(first) {
        Ok(line) if !line.is_empty() => Ok(Secret::new(line)),
        _ => Err(CommandError::NoSecret {
            program: program.clone(),
        }),
    }
}

/// "exit status 3" or "killed by signal 9".
fn describe_status(status: std::process::ExitStatus) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(sig) = status.signal() {
            return format!("killed by signal {sig}");
        }
    }
    match status.code() {
        Some(code) => format!("exit status {code}"),
        None => "no exit status".to_owned(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Vec<String> {
        vec!["/bin/sh".into(), "-c".into(), script.into()]
    }

    #[test]
    fn first_line_is_the_secret() {
        let s = run(
            &sh("printf 'hunter2\\r\\nsecond line\\n'"),
            Duration::from_secs(5),
        )
        .unwrap();
        assert_eq!(s.expose(), "hunter2");
        let s = run(&sh("printf 'no newline'"), Duration::from_secs(5)).unwrap();
        assert_eq!(s.expose(), "no newline");
    }

    #[test]
    fn arguments_are_not_split_by_a_shell() {
        let argv = vec!["/bin/echo".into(), "a b; echo c".into()];
        assert_eq!(
            run(&argv, Duration::from_secs(5)).unwrap().expose(),
            "a b; echo c"
        );
    }

    /// Every failure names the program and how it ended, never what it printed.
    #[test]
    fn failures_say_the_status_never_the_output() {
        let cases: Vec<(Vec<String>, &str)> = vec![
            (
                sh("echo leaked-secret; echo leaked-err >&2; exit 3"),
                "exit status 3",
            ),
            (sh("echo leaked-secret; kill -9 $$"), "killed by signal 9"),
            (sh("echo leaked-secret; sleep 5"), "within 0.3 s"),
            (sh("sleep 5"), "within 0.3 s"),
            (sh("printf '\\nleaked-secret\\n'"), "no secret"),
            (vec!["/nonexistent/helper".into()], "could not start"),
            (vec![], "empty"),
        ];
        for (argv, want) in cases {
            let started = Instant::now();
            let err = run(&argv, Duration::from_millis(300))
                .unwrap_err()
                .to_string();
            assert!(err.contains(want), "{argv:?}: {err}");
            assert!(!err.contains("leaked"), "{argv:?}: {err}");
            assert!(
                started.elapsed() < Duration::from_secs(3),
                "{argv:?} not stopped in time"
            );
        }
    }

    #[test]
    fn fetched_once_until_fresh_is_asked() {
        let dir = tempfile::tempdir().unwrap();
        let counter = dir.path().join("n");
        let argv = sh(&format!(
            "echo x >> {0}; printf 'token-%s' $(wc -l < {0})",
            counter.display()
        ));
        let t = Duration::from_secs(5);
        assert_eq!(fetch(&argv, t, false).unwrap().expose(), "token-1");
        assert_eq!(fetch(&argv, t, false).unwrap().expose(), "token-1");
        assert_eq!(fetch(&argv, t, true).unwrap().expose(), "token-2");
        assert_eq!(fetch(&argv, t, false).unwrap().expose(), "token-2");
    }
}
