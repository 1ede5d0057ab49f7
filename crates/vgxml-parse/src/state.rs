//! How a report, and a file, ended: typed states a caller can turn into
//! exit codes.
//!
//! A file is a sequence of reports (one `<valgrindoutput>` document each:
//! several runs appending to one file, forked or exec'd processes writing
//! into their parent's file). Each [`Report`](crate::Report) has a
//! [`ReportState`]; each file an [`InputState`] (see
//! [`read_input`](crate::read_input)):
//!
//! | [`InputState`] | meaning | reports |
//! |---|---|---|
//! | `Complete` | every report read to `</valgrindoutput>`, nothing else in the file | all `Complete` |
//! | `Cut` | a report ends early: the input stops inside it (Valgrind killed, still running, disk full) or another report starts inside it and it never continues | at least one `Cut`, none `Malformed` |
//! | `Partial` | damage after a valid start: a malformed report (records before the damage kept), or bytes outside every report | at least one `Malformed`, or stray bytes |
//! | `NotValgrindXml` | bad input: no report starts (not XML, another root element, malformed before `<protocolversion>`) | none |
//! | `UnknownProtocol` | bad input: the first report has a protocol version other than 4, 5, 6 | none |
//!
//! An empty file, or one that ends before `<valgrindoutput>`, is `Cut` (one
//! report with nothing in it): Valgrind writes its preamble first, so such
//! a file is a run that was stopped, not foreign input.

use serde::{Deserialize, Serialize};

/// How one report (one `<valgrindoutput>` document) ended.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportState {
    /// Read to `</valgrindoutput>`.
    #[default]
    Complete,
    /// Ends early at byte `offset`: the input stops inside it, or another
    /// report starts inside it and it never continues. Every record before
    /// is kept.
    Cut { offset: u64 },
    /// Not well-formed (a mismatched closing tag, a merge-conflict marker,
    /// NUL bytes of a file another process truncated...) from byte
    /// `offset`, after a valid start: the records before are kept, the rest
    /// of the report is lost.
    Malformed { offset: u64, reason: String },
}

impl ReportState {
    pub fn is_complete(&self) -> bool {
        matches!(self, ReportState::Complete)
    }

    /// Where the report stops being readable (`None` when complete).
    pub fn offset(&self) -> Option<u64> {
        match self {
            ReportState::Complete => None,
            ReportState::Cut { offset } | ReportState::Malformed { offset, .. } => Some(*offset),
        }
    }
}

/// Bytes of a file that belong to no report: between or after reports
/// (another process's output overwriting the file, garbage), or before the
/// first one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stray {
    pub offset: u64,
    pub len: u64,
}

/// What one file held, as a whole (see the [module documentation](self)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InputState {
    /// One or more reports, every one complete, nothing else in the file.
    Complete,
    /// At least one report is cut; none is malformed and no bytes are stray.
    Cut,
    /// At least one report is malformed after a valid start, or some bytes
    /// belong to no report: what could be read is kept, the rest is lost.
    Partial,
    /// Bad input: no Valgrind report starts in the file.
    NotValgrindXml { offset: u64, reason: String },
    /// Bad input: the report's protocol version is not 4, 5 or 6.
    UnknownProtocol { offset: u64, version: String },
}

impl InputState {
    /// No report could be read at all.
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            InputState::NotValgrindXml { .. } | InputState::UnknownProtocol { .. }
        )
    }

    pub fn is_complete(&self) -> bool {
        matches!(self, InputState::Complete)
    }
}
