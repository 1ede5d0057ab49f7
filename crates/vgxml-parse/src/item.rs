//! The public vocabulary of the streaming reader: what it yields
//! ([`Item`]), what it keeps ([`Options`]) and why it stops ([`ReadError`]).

use crate::model::*;
use serde::Serialize;
use std::io;

/// Errors that stop reading a file. Truncation and malformed content after a
/// valid start are *not* errors: they end the report with
/// `complete == false` and a [`Diagnostic`].
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
    /// memory (records are tallied, not kept).
    pub fn totals() -> Self {
        Options {
            stacks: false,
            suppressions: false,
            collect_errors: false,
        }
    }
}

/// One piece of a report, yielded as soon as it is parsed.
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
    /// Always the last item: `complete` is true only when the closing
    /// `</valgrindoutput>` was read.
    End {
        complete: bool,
    },
}
