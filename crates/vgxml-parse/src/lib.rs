//! # vgxml-parse: a streaming reader for Valgrind XML reports
//!
//! Reads the XML that Valgrind writes with `--xml=yes` (protocols 4, 5 and
//! 6; memcheck fully, helgrind/DRD errors read and counted) in constant
//! memory, and turns it into totals that agree with Valgrind's own text
//! `LEAK SUMMARY`. It knows nothing of CI: fingerprints, baselines and
//! verdicts are `vgxml-judge`'s.
//!
//! * [`records`] yields [`Item`]s as they are parsed (constant memory);
//! * [`read`] / [`read_path`] collect one [`Report`];
//! * [`Summary::from_reports`] combines reports (one per process).
//!
//! A truncated file is not an error: it yields every record before the cut
//! and `complete == false`. [`ReadError`] is only for unreadable files,
//! input that is not Valgrind XML, and unknown protocol versions.

mod annotate;
mod cursor;
mod decode;
mod item;
mod model;
mod records;
mod report;
mod summary;
mod tags;

pub use item::{Item, Options, ReadError};
pub use model::{
    Amount, AnnounceThread, Args, ClientMsg, Diagnostic, ErrorRecord, ErrorSummary, FatalSignal,
    Frame, HeapSummary, Kind, LeakKind, LeakTotals, Origin, SFrame, Status, SuppCount, Suppression,
    ValgrindLeakSummary,
};
pub use records::{records, records_with, Records};
pub use report::{read, read_path, read_path_with, read_with, LeakSearch, Report, Tally};
pub use summary::{Derived, LeakSource, ProcessSummary, Summary, Suppressed};
