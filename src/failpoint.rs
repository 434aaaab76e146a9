//! Crash-test hooks: `CALMEET_FAILPOINT=<name>` makes the process abort (like SIGKILL, no
//! clean-up, no destructors) when it reaches the named point. The crash tests use it to prove
//! that no step between "decide to create" and "state committed" can lose or duplicate a
//! meeting. Unset, a hook costs one environment lookup.

/// Aborts the process if `CALMEET_FAILPOINT` names this point.
pub fn hit(name: &str) {
    if std::env::var_os("CALMEET_FAILPOINT").is_some_and(|v| v == name) {
        eprintln!("calmeet: failpoint {name} reached; aborting");
        std::process::abort();
    }
}
