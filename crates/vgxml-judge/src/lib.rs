//! # vgxml-judge: CI verdicts over Valgrind XML reports
//!
//! Takes the reports `vgxml-parse` read and a caller's [`Policy`] (which
//! frames are "our code", which kinds fail, a baseline, budgets, the marker
//! prefix a test harness writes, which kinds are judged by growth) and
//! judges them once, in [`judge`]: every finding with its fingerprint,
//! place, test and amounts, grouped into [`Issue`]s. The [`formats`] (text,
//! SARIF, GitLab Code Quality, JUnit, GitHub annotations and job summary)
//! and the [`html`] page render that one [`Judgement`], whose JSON is a
//! serde type both ways; [`supp`] reads `.supp` files and finds the entries
//! no run used.

pub mod baseline;
pub mod budget;
pub mod compare;
mod fingerprint;
pub mod formats;
mod growth;
pub mod html;
mod judge;
mod judgement;
pub mod markers;
mod ours;
mod place;
mod records;
mod render;
mod searches;
pub mod supp;

pub use baseline::{Baseline, BaselineEntry};
pub use budget::{parse_budgets, parse_size, Budget, BudgetError, Category};
pub use compare::{BaselineError, Change, Diff};
pub use fingerprint::{
    fingerprint, fingerprint_key, fingerprint_of_key, fnv1a64, frame_key, normalize_function,
};
pub use growth::grows;
pub use judge::{judge, judge_input};
pub use judgement::{
    BudgetOutcome, Curve, Excuse, Growth, Input, Issue, Judged, Judgement, MoreThanBaseline, Point,
    Policy, Rule, RunInfo,
};
pub use markers::{Marker, Markers};
pub use ours::{glob_match, OurCode};
pub use place::{chain, chain_text, normalize_lexically, origin, repo_relative, Place};
pub use records::counted_records;
pub use render::{normalize_text, render_frame, render_normalized, render_record};
pub use supp::{SuppEntry, SuppError, SuppFrame};
