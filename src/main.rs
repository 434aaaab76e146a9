//! The `calmeet` binary: parses the command line, sets up logging, runs the command.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = calmeet::cli::Cli::parse();
    if let Err(e) = calmeet::logging::init(cli.log_level.as_deref(), cli.log_format) {
        eprintln!("calmeet: {e}");
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("calmeet: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(calmeet::cli::main(cli))
}
