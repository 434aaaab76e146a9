//! Runs the real `calmeet` binary as a child process for the scale benchmarks and measures
//! it from outside: wall time, exit status, and peak resident memory (`VmHWM` read from
//! `/proc/<pid>/status` every 2 ms while it runs; the high-water mark only grows, so the last
//! reading before exit is the peak up to the final 2 ms). Logs go to a file, not a pipe, so a
//! chatty pass never blocks on a full pipe.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// What one `calmeet` process did.
#[derive(Debug, Clone)]
pub struct Run {
    pub wall: Duration,
    pub success: bool,
    /// Peak resident memory in KiB.
    pub peak_kib: u64,
    /// Everything it printed (stdout then stderr).
    pub output: String,
}

fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// Runs `calmeet --config <config> <args…>` with the secret key in the environment.
pub async fn run(config: &Path, secret: &str, args: &[&str], log: &Path) -> Run {
    let mut cmd = crate::support::cli::command(config, secret, args, &[]);
    let out = std::fs::File::create(log).unwrap();
    let err = out.try_clone().unwrap();
    cmd.stdout(Stdio::from(out)).stderr(Stdio::from(err));
    let log = log.to_owned();
    tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let mut child = cmd.spawn().unwrap();
        let pid = child.id();
        let mut peak = 0;
        let status = loop {
            if let Some(kib) = vm_hwm_kib(pid) {
                peak = peak.max(kib);
            }
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            std::thread::sleep(Duration::from_millis(2));
        };
        Run {
            wall: started.elapsed(),
            success: status.success(),
            peak_kib: peak,
            output: std::fs::read_to_string(&log).unwrap_or_default(),
        }
    })
    .await
    .unwrap()
}

/// `KiB` as MiB with one decimal.
pub fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// Bytes as KiB or MiB.
pub fn size(bytes: u64) -> String {
    if bytes >= 1024 * 1024 {
        format!("{:.2} MiB", bytes as f64 / 1024.0 / 1024.0)
    } else {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    }
}

/// The median of some durations.
pub fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}
