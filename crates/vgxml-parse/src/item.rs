//! The public vocabulary of the streaming reader: what it yields
//! ([`Item`]), what it keeps ([`Options`]) and why it stops ([`ReadError`]).

use crate::model::*;
use crate::state::{ReportState, Stray};
use serde::Serialize;
use std::io;

/// Errors that stop reading a file. Truncation and malformed content after a
/// valid start are *not* errors: they end the report with
/// `complete == false`, a [`ReportState`] and a [`Diagnostic`].
/// [`read_input`](crate::read_input) returns bad input as an
/// [`InputState`](crate::InputState) instead, and fails only on I/O.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{file}: byte {offset}: cannot read: {error}")]
    Io {
        file: String,
        offset: u64,
        #[source]
        error: io::Error,
    },
    #[error("{file}: byte {offset}: not a Valgrind XML report: {reason}")]
    NotValgrindXml {
        file: String,
        offset: u64,
        reason: String,
    },
    #[error(
        "{file}: byte {offset}: unknown Valgrind XML protocol version {version:?} \
         (vgxml reads protocols 4, 5 and 6)"
    )]
    UnknownProtocol {
        file: String,
        offset: u64,
        version: String,
    },
    /// [`read`](crate::read) and its siblings return one report; this file
    /// holds several (several runs or processes wrote to it): read it with
    /// [`read_input`](crate::read_input).
    #[error(
        "{file}: holds {count} Valgrind reports (several runs or processes wrote to it): \
         read it with read_input, which returns every report"
    )]
    SeveralReports { file: String, count: usize },
}

/// What to keep while reading.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Keep `<stack>`s (errors, aux, origins, clientmsgs, fatal signals).
    pub stacks: bool,
    /// Keep `<suppression>` blocks.
    pub suppressions: bool,
    /// When collecting a [`Report`](crate::Report): keep every
    /// [`ErrorRecord`] in `Report::errors`. When false, records only update
    /// the report's [`Tally`](crate::Tally) and memory stays flat however
    /// large the file.
    pub collect_errors: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options::full()
    }
}

impl Options {
    /// Everything.
    pub fn full() -> Self {
        Options {
            stacks: true,
            suppressions: true,
            collect_errors: true,
        }
    }
    /// Records without stacks and suppressions: the fast mode.
    pub fn summary() -> Self {
        Options {
            stacks: false,
            suppressions: false,
            collect_errors: true,
        }
    }
    /// Only what [`Summary`](crate::Summary) needs: fast, and constant
    /// memory (records are tallied, not kept). The records streamed carry
    /// only their kind, unique id and, for loss records, the primary text
    /// and sizes: the rest of each `<error>` is skipped unread (as stacks
    /// are without [`Options::stacks`]), so damage or another process's
    /// report written into the middle of a skipped part goes unseen.
    pub fn totals() -> Self {
        Options {
            stacks: false,
            suppressions: false,
            collect_errors: false,
        }
    }

    /// [`Options::totals`]: records are read only as far as the totals need.
    pub(crate) fn is_lean(&self) -> bool {
        !self.stacks && !self.suppressions && !self.collect_errors
    }
}

/// One piece of a report, yielded as soon as it is parsed.
///
/// A file may hold several reports: the items of the first come first;
/// [`Item::Document`] says when the following items belong to another one
/// (a report that starts, or one that resumes after a report written
/// inside it ended), and [`Item::End`] ends the current one.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
pub enum Item {
    ProtocolVersion(u32),
    ProtocolTool(String),
    Preamble(Vec<String>),
    Pid(u64),
    Ppid(u64),
    Tool(String),
    LogFileQualifier {
        var: String,
        value: String,
    },
    UserComment(String),
    Args(Args),
    Status(Status),
    ClientMsg(ClientMsg),
    Error(Box<ErrorRecord>),
    ErrorCounts(Vec<(String, u64)>),
    SuppCounts(Vec<SuppCount>),
    /// A `<suppression>` outside an `<error>` (Valgrind 3.19 repeats each
    /// generated suppression after its error).
    Suppression(Suppression),
    AnnounceThread(AnnounceThread),
    FatalSignal(FatalSignal),
    ErrorSummary(ErrorSummary),
    HeapSummary(HeapSummary),
    AllHeapBlocksFreed(bool),
    LeakSummary(ValgrindLeakSummary),
    Diagnostic(Diagnostic),
    /// The items that follow belong to report `index` of the file (0-based,
    /// in the order the reports start). Never yielded before the items of
    /// the first report, so a file with one report has none. `offset` is
    /// where the report starts, or where it resumes (`resumed`: a report
    /// written inside it, by a child process sharing its output, ended).
    Document {
        index: usize,
        offset: u64,
        resumed: bool,
    },
    /// Bytes that belong to no report (a [`Diagnostic`] says what they
    /// look like).
    Stray(Stray),
    /// Ends the current report: `complete` is true only when its closing
    /// `</valgrindoutput>` was read; `state` says how it ended otherwise.
    /// The last item of a file is an `End`, or the `Stray` (and
    /// `Diagnostic`) of bytes after the last report.
    End {
        complete: bool,
        #[serde(skip_serializing_if = "ReportState::is_complete")]
        state: ReportState,
    },
}
