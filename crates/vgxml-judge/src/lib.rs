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
//!
//! ```
//! use std::path::Path;
//! use vgxml_judge::{judge, Category, Markers, OurCode, Policy, Rule};
//! use vgxml_parse::{read_path_input, InputState, Options};
//!
//! // A real run (`tests/fixtures/programs/checkpoints.c` under memcheck):
//! // tests announced by client messages, a leak search after each round.
//! let fixture = Path::new("../vgxml-parse/tests/fixtures/checkpoints.xml");
//! let input = read_path_input(fixture, Options::full()).expect("readable");
//! assert_eq!(input.state, InputState::Complete);
//!
//! let mut policy = Policy::new(OurCode::new().source_glob("*checkpoints.c"), ".".into());
//! policy.fail_on = [Category::Errors].into_iter().collect();
//! policy.growth_on = Category::ALL.into_iter().collect();
//! policy.markers = Markers {
//!     test_prefix: Some("test-begin:".into()),
//!     checkpoint_prefix: Some("checkpoint:".into()),
//! };
//! let judgement = judge(&input.reports, &policy);
//!
//! // Growth inside the run, by allocation site: a buffer grown in place,
//! // a list never pruned, memory that exit frees; the bounded one is clean.
//! let growing: Vec<&str> = judgement
//!     .issues
//!     .iter()
//!     .filter(|i| i.rule == Rule::Growth)
//!     .filter_map(|i| i.test.as_deref())
//!     .collect();
//! assert_eq!(growing.len(), 3);
//! assert!(!growing.contains(&"t_bounded"));
//! assert_eq!(judgement.exit_code(), 1);
//! ```

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
pub use growth::{bytes_per_iteration, grows, grows_over, MIN_ROUNDS};
pub use judge::{judge, judge_input};
pub use judgement::{
    BudgetOutcome, Curve, Excuse, Growth, Input, Issue, Judged, Judgement, MoreThanBaseline, Point,
    Policy, Rule, RunInfo, DEFAULT_GROWTH_BYTES_PER_ITERATION,
};
pub use markers::{Marker, Markers};
pub use ours::{glob_match, OurCode};
pub use place::{chain, chain_text, normalize_lexically, origin, repo_relative, Place};
pub use records::counted_records;
pub use render::{normalize_text, render_frame, render_normalized, render_record};
pub use supp::{SuppEntry, SuppError, SuppFrame};
