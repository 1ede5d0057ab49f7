//! # vgxml: a streaming reader for Valgrind XML reports
//!
//! Reads the XML that Valgrind writes with `--xml=yes` (protocols 4, 5 and
//! 6; memcheck fully, helgrind/DRD errors read and counted) in constant
//! memory, and turns it into totals that agree with Valgrind's own text
//! `LEAK SUMMARY`, filtered leak lists and CI verdicts.
//!
//! * [`records`] yields [`Item`]s as they are parsed (constant memory);
//! * [`read`] / [`read_path`] collect one [`Report`];
//! * [`Summary::from_reports`] combines reports (one per process);
//! * [`OurCode`] tells the program's frames from system ones;
//! * [`render_normalized`] gives snapshot-friendly text;
//! * [`ErrorRecord::fingerprint`] gives a stable fingerprint per record,
//!   [`Baseline`] / [`Diff`] compare runs, [`check()`] judges them (baseline,
//!   budgets), [`supp`] reads `.supp` files and finds unused entries,
//!   [`formats`] writes SARIF, GitLab Code Quality, JUnit and GitHub
//!   outputs, [`html`] a self-contained HTML report.
//!
//! A truncated file is not an error: it yields every record before the cut
//! and `complete == false`. [`ReadError`] is only for unreadable files,
//! input that is not Valgrind XML, and unknown protocol versions.

pub mod baseline;
pub mod budget;
pub mod check;
mod fingerprint;
pub mod formats;
pub mod html;
mod model;
mod ours;
mod parse;
mod render;
mod report;
mod summary;
pub mod supp;

pub use baseline::{Baseline, BaselineEntry, Diff};
pub use budget::{parse_budgets, parse_size, Budget, Category};
pub use check::{check, CheckConfig, Finding, Verdict};
pub use fingerprint::{fingerprint_of_key, fnv1a64, frame_key, normalize_function};
pub use model::{
    Amount, AnnounceThread, Args, ClientMsg, Diagnostic, ErrorRecord, ErrorSummary, FatalSignal,
    Frame, HeapSummary, Kind, LeakKind, Origin, SFrame, Status, SuppCount, Suppression,
    ValgrindLeakSummary,
};
pub use ours::{glob_match, OurCode};
pub use parse::{records, records_with, Item, Options, ReadError, Records};
pub use render::{normalize_text, render_frame, render_normalized, render_record};
pub use report::{read, read_path, read_path_with, read_with, LeakSearch, Report, Tally};
pub use summary::{Derived, LeakSource, LeakTotals, ProcessSummary, Summary, Suppressed};
pub use supp::{SuppEntry, SuppError, SuppFrame};
