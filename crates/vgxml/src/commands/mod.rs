//! One module per subcommand; each returns the exit code.

mod check;
mod compare;
mod records;
mod summary;
mod suppressions;

use crate::cli::Command;
use anyhow::{Context as _, Result};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use vgxml_parse::{read_path_with, Options, Report};

pub fn run(command: Command) -> Result<u8> {
    match command {
        Command::Summary(a) => summary::run(&a),
        Command::Check(a) => check::run(&a),
        Command::Baseline(a) => compare::baseline(&a),
        Command::Diff(a) => compare::diff(&a),
        Command::Suppressions(a) if a.unused => suppressions::unused(&a),
        Command::Suppressions(a) => suppressions::generated(&a),
        Command::Html(a) => records::html(&a),
        Command::Records(a) => records::dump(&a),
    }
}

fn read_all(files: &[PathBuf], opts: Options) -> Result<Vec<Report>> {
    files
        .iter()
        .map(|f| read_path_with(f, opts).map_err(anyhow::Error::from))
        .collect()
}

/// Where the output goes: `-o FILE`, else stdout.
fn output(path: Option<&Path>) -> Result<Box<dyn Write>> {
    Ok(match path {
        Some(p) => Box::new(BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("{}: cannot create", p.display()))?,
        )),
        None => Box::new(BufWriter::new(io::stdout().lock())),
    })
}

fn finish(mut out: Box<dyn Write>) -> Result<()> {
    out.flush().context("writing the output")
}

/// `--source-root`, else the current directory, made absolute.
fn source_root(given: Option<&Path>) -> PathBuf {
    let r = given
        .map(Path::to_path_buf)
        .or_else(|| std::env::current_dir().ok())
        .unwrap_or_else(|| PathBuf::from("."));
    std::fs::canonicalize(&r).unwrap_or(r)
}

/// 0 when every report was read to its end, else 3.
fn completeness_code(reports: &[Report]) -> u8 {
    if reports.iter().all(|r| r.complete) {
        0
    } else {
        3
    }
}
