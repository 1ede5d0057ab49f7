//! `vgxml`: summaries, CI verdicts, baselines and suppressions from Valgrind
//! XML reports. The reading is `vgxml-parse`'s, the judging and the formats
//! are `vgxml-judge`'s; this binary parses the command line, reads files and
//! writes the output.

mod cli;
mod commands;

use clap::{CommandFactory, Parser};
use std::process::ExitCode;

fn main() -> ExitCode {
    let start = std::time::Instant::now();
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        // `vgxml` alone prints its help on stdout and succeeds, as it did
        // before clap: scripts that probe for the command rely on exit 0.
        Err(e) if e.kind() == clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            print!("{}", cli::Cli::command().render_long_help());
            return ExitCode::SUCCESS;
        }
        Err(e) => e.exit(),
    };
    let code = match commands::run(cli.command) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("vgxml: error: {e:#}");
            2
        }
    };
    if cli.stats {
        eprintln!(
            "vgxml-stats: elapsed_s={:.3} peak_rss_kib={}",
            start.elapsed().as_secs_f64(),
            peak_rss_kib().unwrap_or(0)
        );
    }
    ExitCode::from(code)
}

/// Peak resident set size of this process (Linux: VmHWM).
fn peak_rss_kib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
