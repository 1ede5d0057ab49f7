//! `memtest`: the command, a thin front door to `memtest-engine`.
//! Exit codes: 0 clean, 1 something found, 2 could not run or did not finish.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("\nmemtest: HARNESS ERROR (exit 2): {e:#}");
            ExitCode::from(2)
        }
    }
}
