//! # vgxml-parse: a streaming reader for Valgrind XML reports
//!
//! Reads the XML that Valgrind writes with `--xml=yes` (protocols 4, 5 and
//! 6; memcheck fully, helgrind/DRD errors read and counted) in constant
//! memory, and turns it into totals that agree with Valgrind's own text
//! `LEAK SUMMARY`. It knows nothing of CI: fingerprints, baselines and
//! verdicts are `vgxml-judge`'s.
//!
//! * [`records`] yields [`Item`]s as they are parsed (constant memory);
//! * [`read_input`] / [`read_path_input`] collect every [`Report`] of a
//!   file (a file is a sequence of reports: several runs or processes may
//!   write to one) with its [`InputState`]; [`read`] / [`read_path`] are
//!   for files that hold one report;
//! * [`Summary::from_reports`] combines reports (one per process).
//!
//! A truncated or damaged file is not an error: it yields every record
//! before the damage, typed states ([`ReportState`], [`InputState`], see
//! [`state`]) and [`Diagnostic`]s with byte offsets. Wherever the input
//! contradicts itself or the protocol, a diagnostic gives the offset and the
//! reading chosen: never a silent 0, null or empty kind.

mod annotate;
mod cursor;
mod decode;
mod docs;
mod errors;
mod input;
mod item;
mod kind;
mod model;
mod raw;
mod records;
mod report;
pub mod state;
mod summaries;
mod summary;
mod tags;
mod values;

pub use input::{read, read_input, read_path, read_path_input, read_path_with, read_with, Input};
pub use item::{Item, Options, ReadError};
pub use model::{
    Amount, AmountDelta, AnnounceThread, Args, AuxStack, ClientMsg, Diagnostic, ErrorRecord,
    ErrorSummary, FatalSignal, Frame, HeapSummary, Kind, LeakDeltas, LeakKind, LeakTotals, Origin,
    SFrame, StackRole, Status, SuppCount, Suppression, ValgrindLeakSummary,
};
pub use records::{records, records_with, Records};
pub use report::{LeakSearch, Report, Tally, MAX_DIAGNOSTICS};
pub use state::{InputState, ReportState, Stray};
pub use summary::{Derived, ErrorSummaryCheck, LeakSource, ProcessSummary, Summary, Suppressed};
