//! Runs the built `calmeet` binary from async tests without blocking the runtime that serves
//! the fake servers.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::Path;
use std::process::Output;

/// `calmeet --config <config> <args…>` with the secret key in `CALMEET_SECRET_KEY`.
pub async fn calmeet(config: &Path, secret: &str, args: &[&str]) -> Output {
    let config = config.to_path_buf();
    let secret = secret.to_owned();
    let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_calmeet"))
            .arg("--config")
            .arg(&config)
            .args(&args)
            .env("CALMEET_SECRET_KEY", secret)
            .env("NO_COLOR", "1")
            .env_remove("RUST_LOG")
            .output()
            .unwrap()
    })
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
