//! Generated user documentation: shell completions and the man page, both from the clap
//! command definition so they never drift from the real flags.
//!
//! Owns only the rendering; the command tree comes from `cli`. Must never read config or state.

use std::io::{self, Write};

pub use clap_complete::Shell;

/// Writes the completion script for `shell` to `out`, for the binary named by `cmd`.
///
/// Install it where the shell looks, e.g. `calmeet completions bash >
/// /usr/share/bash-completion/completions/calmeet`.
pub fn write_completions(shell: Shell, cmd: &mut clap::Command, out: &mut dyn Write) {
    let name = cmd.get_name().to_owned();
    clap_complete::generate(shell, cmd, name, out);
}

/// The man page (roff) for `cmd`, including its subcommands' options.
///
/// # Errors
/// Only if writing to memory fails, which it does not in practice.
pub fn man_page(cmd: clap::Command) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd).render(&mut out)?;
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn command() -> clap::Command {
        clap::Command::new("calmeet")
            .about("Tencent Meeting links for tagged calendar events")
            .arg(clap::Arg::new("config").long("config"))
            .subcommand(clap::Command::new("run").about("sync on the schedule"))
    }

    #[test]
    fn bash_completions_know_the_subcommands_and_flags() {
        let mut out = Vec::new();
        write_completions(Shell::Bash, &mut command(), &mut out);
        let script = String::from_utf8(out).unwrap();
        assert!(script.contains("calmeet"), "{script}");
        assert!(script.contains("--config"), "{script}");
        assert!(script.contains("run"), "{script}");
    }

    #[test]
    fn man_page_is_roff_with_name_and_options() {
        let page = String::from_utf8(man_page(command()).unwrap()).unwrap();
        assert!(page.starts_with(".ie"), "{page}");
        assert!(page.contains(".TH calmeet"), "{page}");
        assert!(page.contains("\\-\\-config"), "{page}");
    }
}
