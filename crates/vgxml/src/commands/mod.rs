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
use vgxml_parse::{read_path_input, InputState, Options, ReadError, Report};

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

/// How whole the input was, worst last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Wholeness {
    Complete,
    /// A report ends early (Valgrind killed, disk full): exit 3.
    Cut,
    /// Malformed after a valid start, or bytes outside any report: what
    /// could be read is kept and said partial; exit 2 (bad input).
    Partial,
}

impl Wholeness {
    fn exit_code(self) -> u8 {
        match self {
            Wholeness::Complete => 0,
            Wholeness::Cut => 3,
            Wholeness::Partial => 2,
        }
    }
}

/// Every report of every file (a file may hold several), and how whole
/// the input was. A file in which no report starts is an error.
struct Reports {
    reports: Vec<Report>,
    wholeness: Wholeness,
}

fn read_all(files: &[PathBuf], opts: Options) -> Result<Reports> {
    let mut out = Reports {
        reports: Vec::new(),
        wholeness: Wholeness::Complete,
    };
    for f in files {
        let input = read_path_input(f, opts)?;
        let file = input.source.clone();
        let w = match input.state {
            InputState::Complete => Wholeness::Complete,
            InputState::Cut => Wholeness::Cut,
            InputState::Partial => Wholeness::Partial,
            InputState::NotValgrindXml { offset, reason } if input.reports.is_empty() => {
                return Err(ReadError::NotValgrindXml {
                    file,
                    offset,
                    reason,
                }
                .into())
            }
            InputState::UnknownProtocol { offset, version } if input.reports.is_empty() => {
                return Err(ReadError::UnknownProtocol {
                    file,
                    offset,
                    version,
                }
                .into())
            }
            InputState::NotValgrindXml { .. } | InputState::UnknownProtocol { .. } => {
                Wholeness::Partial
            }
        };
        out.wholeness = out.wholeness.max(w);
        out.reports.extend(input.reports);
    }
    Ok(out)
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
