//! # vgxml-judge: CI verdicts over Valgrind XML reports
//!
//! Takes the reports `vgxml-parse` read and a caller's policy (which frames
//! are "our code", which kinds fail, a baseline, budgets, the marker prefix a
//! test harness writes) and judges them, once: every finding with its
//! fingerprint, place, test and amounts. The formats (text, JSON, SARIF,
//! GitLab Code Quality, JUnit, GitHub annotations and job summary, HTML)
//! render that one judgement; [`supp`] reads `.supp` files and finds the
//! entries no run used.

pub mod baseline;
pub mod budget;
pub mod check;
mod fingerprint;
pub mod formats;
pub mod html;
mod ours;
mod render;
pub mod supp;

pub use baseline::{Baseline, BaselineEntry, Diff};
pub use budget::{parse_budgets, parse_size, Budget, Category};
pub use check::{check, CheckConfig, Finding, Verdict};
pub use fingerprint::{
    fingerprint, fingerprint_key, fingerprint_of_key, fnv1a64, frame_key, normalize_function,
};
pub use ours::{glob_match, OurCode};
pub use render::{normalize_text, render_frame, render_normalized, render_record};
pub use supp::{SuppEntry, SuppError, SuppFrame};
