//! Runs the built `calmeet` binary from async tests without blocking the runtime that serves
//! the fake servers.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::Path;
use std::process::{Command, Output};

/// `calmeet --config <config> <args…>` with the secret key in `CALMEET_SECRET_KEY`.
pub async fn calmeet(config: &Path, secret: &str, args: &[&str]) -> Output {
    calmeet_env(config, secret, args, &[]).await
}

/// The command `calmeet` runs, with extra environment variables (e.g. `CALMEET_FAILPOINT`).
pub fn command(config: &Path, secret: &str, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_calmeet"));
    cmd.arg("--config")
        .arg(config)
        .args(args)
        .env("CALMEET_SECRET_KEY", secret)
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .env_remove("CALMEET_FAILPOINT");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// Like [`calmeet`], with extra environment variables.
pub async fn calmeet_env(
    config: &Path,
    secret: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> Output {
    let mut cmd = command(config, secret, args, env);
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

/// Everything the command printed.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}
