//! A whole file: its reports, and its [`InputState`].

use crate::item::{Item, Options, ReadError};
use crate::model::Diagnostic;
use crate::records::records_with;
use crate::report::Report;
use crate::state::{InputState, ReportState};
use serde::Serialize;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

/// Everything one file held: every report in it, in the order they start,
/// and what the file is as a whole.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Input {
    pub source: String,
    /// One per `<valgrindoutput>` document (each a process or a run). Bytes
    /// that belong to no report are in the [`Report::stray`] of the report
    /// before them (of the first report, before it).
    pub reports: Vec<Report>,
    pub state: InputState,
}

impl Input {
    /// Every diagnostic of every report.
    pub fn diagnostics(&self) -> impl Iterator<Item = &Diagnostic> {
        self.reports.iter().flat_map(|r| r.diagnostics.iter())
    }
}

/// Reads every report of a file. Never fails on its content (bad input is
/// an [`InputState`]); `Err` only for I/O.
pub fn read_input<Rd: BufRead>(
    reader: Rd,
    source_name: &str,
    opts: Options,
) -> Result<Input, ReadError> {
    let mut reports: Vec<Report> = Vec::new();
    // the report items go to; None between reports
    let mut current: Option<usize> = None;
    // the report that ended last, for what comes after it
    let mut last: Option<usize> = None;
    let mut bad = None;
    let new = |index: usize, offset: u64| {
        let mut r = Report::new(source_name, opts.collect_errors);
        r.index = index;
        r.offset = offset;
        r
    };
    for item in records_with(reader, source_name, opts) {
        let item = match item {
            Ok(i) => i,
            Err(ReadError::NotValgrindXml { offset, reason, .. }) => {
                bad = Some(InputState::NotValgrindXml { offset, reason });
                break;
            }
            Err(ReadError::UnknownProtocol {
                offset, version, ..
            }) => {
                bad = Some(InputState::UnknownProtocol { offset, version });
                break;
            }
            Err(e) => return Err(e),
        };
        match item {
            Item::Document { index, offset, .. } => {
                while reports.len() <= index {
                    let i = reports.len();
                    reports.push(new(i, if i == index { offset } else { 0 }));
                }
                current = Some(index);
            }
            Item::Stray(_) | Item::Diagnostic(_) if current.is_none() && last.is_some() => {
                if let Some(l) = last {
                    reports[l].push(item)
                }
            }
            other => {
                let i = match current {
                    Some(i) => i,
                    None => {
                        // the first report's items come without a Document
                        if reports.is_empty() {
                            reports.push(new(0, 0));
                        }
                        current = Some(0);
                        0
                    }
                };
                let end = matches!(other, Item::End { .. });
                reports[i].push(other);
                if end {
                    last = Some(i);
                    current = None;
                }
            }
        }
    }
    if let Some(state) = bad {
        return Ok(Input {
            source: source_name.to_string(),
            reports: Vec::new(),
            state,
        });
    }
    let state = if reports
        .iter()
        .any(|r| matches!(r.state, ReportState::Malformed { .. }) || !r.stray.is_empty())
    {
        InputState::Partial
    } else if reports.iter().any(|r| !r.state.is_complete()) {
        InputState::Cut
    } else {
        InputState::Complete
    };
    Ok(Input {
        source: source_name.to_string(),
        reports,
        state,
    })
}

/// [`read_input`] of a file.
pub fn read_path_input(path: &Path, opts: Options) -> Result<Input, ReadError> {
    let name = path.display().to_string();
    let f = File::open(path).map_err(|error| ReadError::Io {
        file: name.clone(),
        offset: 0,
        error,
    })?;
    read_input(BufReader::with_capacity(1 << 20, f), &name, opts)
}

/// Reads a file that holds one report (see [`read_with`]).
pub fn read_path(path: &Path) -> Result<Report, ReadError> {
    read_path_with(path, Options::full())
}

/// [`read_path`] with [`Options`].
pub fn read_path_with(path: &Path, opts: Options) -> Result<Report, ReadError> {
    one(read_path_input(path, opts)?)
}

/// Reads a file that holds one report.
pub fn read<Rd: BufRead>(reader: Rd, source_name: &str) -> Result<Report, ReadError> {
    read_with(reader, source_name, Options::full())
}

/// [`read`] with [`Options`]. Bad input is an `Err`
/// ([`ReadError::NotValgrindXml`], [`ReadError::UnknownProtocol`]), and so
/// is a file with several reports ([`ReadError::SeveralReports`]): read
/// those with [`read_input`].
pub fn read_with<Rd: BufRead>(
    reader: Rd,
    source_name: &str,
    opts: Options,
) -> Result<Report, ReadError> {
    one(read_input(reader, source_name, opts)?)
}

fn one(input: Input) -> Result<Report, ReadError> {
    let file = input.source;
    match input.state {
        InputState::NotValgrindXml { offset, reason } => {
            return Err(ReadError::NotValgrindXml {
                file,
                offset,
                reason,
            })
        }
        InputState::UnknownProtocol { offset, version } => {
            return Err(ReadError::UnknownProtocol {
                file,
                offset,
                version,
            })
        }
        _ => {}
    }
    let count = input.reports.len();
    let mut reports = input.reports;
    match (reports.pop(), count) {
        (Some(r), 1) => Ok(r),
        _ => Err(ReadError::SeveralReports { file, count }),
    }
}
