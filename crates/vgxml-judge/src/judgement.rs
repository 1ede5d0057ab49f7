//! The judgement's types: what the caller asks ([`Policy`], [`Input`]) and
//! what comes back ([`Judgement`]: judged records, budgets, [`Issue`]s),
//! serde both ways.

use crate::baseline::{Baseline, BaselineEntry};
use crate::budget::{Budget, Category};
use crate::markers::Markers;
use crate::ours::OurCode;
use crate::place::Place;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use vgxml_parse::{ErrorRecord, Frame, Kind, Report};

/// At least this many measured rounds (checkpoints after the warm-up's)
/// before growth is judged: one delta proves nothing.
pub const MIN_ROUNDS: usize = 2;

/// Growth below this many bytes per iteration is not judged a leak: a
/// site that grows in every round by less is a cache or a table filling
/// towards its bound (interned names, a type cache), not something that
/// grows per call.
pub const DEFAULT_GROWTH_BYTES_PER_ITERATION: f64 = 1.0;

/// What the caller wants judged, and how.
#[derive(Debug, Clone)]
pub struct Policy {
    pub ours: OurCode,
    /// Categories whose every record offends (when no budgets are given).
    pub fail_on: BTreeSet<Category>,
    /// Budgets; when non-empty they replace `fail_on`.
    pub budgets: Vec<Budget>,
    pub baseline: Option<Baseline>,
    /// The client messages that name tests and checkpoints (none: no
    /// attribution, no growth).
    pub markers: Markers,
    /// Categories judged by their growth across the checkpoints of a test.
    pub growth_on: BTreeSet<Category>,
    /// How many measured rounds (checkpoints after the warm-up's) a site must
    /// have grown in, every one of them, to grow ([`MIN_ROUNDS`]:
    /// one delta proves nothing; 1 for a screen that only looks for suspects).
    pub growth_min_rounds: usize,
    /// And by at least this many bytes per iteration, from the first
    /// checkpoint to the last, where the markers say how many iterations the
    /// rounds ran (0: any growth in every round).
    pub growth_min_bytes_per_iteration: f64,
    /// A lost block allocated before the first test and unchanged since (a
    /// baseline marker before the tests, and no search after it listed the
    /// site) is listed as one-time and does not fail.
    pub one_time_before_tests: bool,
    /// Functions that run once per process (e.g. a library's initialisation,
    /// a module's init): a lost block whose allocation stack passes through
    /// one of them (glob over the function name) is listed as one-time and
    /// does not fail. Growth is judged apart and still fails.
    pub one_time_functions: Vec<String>,
    /// Source files are shown relative to this directory.
    pub source_root: PathBuf,
}

impl Policy {
    /// The default verdict over the frames `ours` claims, sources relative
    /// to `source_root`: definitely and indirectly lost blocks and memory
    /// errors (possibly lost is a pointer into a block's middle, which
    /// lazily built type objects and small-object allocators leave behind:
    /// judged by growth, not at exit), growth at
    /// [`DEFAULT_GROWTH_BYTES_PER_ITERATION`].
    pub fn new(ours: OurCode, source_root: PathBuf) -> Policy {
        Policy {
            ours,
            fail_on: [Category::Definite, Category::Indirect, Category::Errors]
                .into_iter()
                .collect(),
            budgets: Vec::new(),
            baseline: None,
            markers: Markers::default(),
            growth_on: BTreeSet::new(),
            growth_min_rounds: MIN_ROUNDS,
            growth_min_bytes_per_iteration: DEFAULT_GROWTH_BYTES_PER_ITERATION,
            one_time_before_tests: false,
            one_time_functions: Vec::new(),
            source_root,
        }
    }

    /// The same policy judging every category: what a baseline or an
    /// overview page lists.
    pub fn listing_everything(&self) -> Policy {
        Policy {
            fail_on: Category::ALL.into_iter().collect(),
            budgets: Vec::new(),
            baseline: None,
            ..self.clone()
        }
    }
}

/// What the caller knows about the run that wrote one report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunInfo {
    /// The process ran this one test only: all its records are that test's.
    pub test: Option<String>,
}

/// The reports to judge, with what is known of their runs.
pub struct Input<'a> {
    pub reports: &'a [Report],
    /// One per report, or empty: nothing known.
    pub runs: Vec<RunInfo>,
}

impl<'a> Input<'a> {
    pub fn plain(reports: &'a [Report]) -> Input<'a> {
        Input {
            reports,
            runs: Vec::new(),
        }
    }

    pub(crate) fn run(&self, i: usize) -> Option<&RunInfo> {
        self.runs.get(i)
    }
}

/// One counted record, judged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Judged {
    /// The report (file) it comes from.
    pub source: String,
    pub kind: Kind,
    pub fingerprint: String,
    /// The readable key the fingerprint hashes.
    pub key: String,
    /// False for a record of a category within its budget.
    pub failing: bool,
    /// The test that produced it, from the run or the markers.
    pub test: Option<String>,
    /// Direct bytes of a loss record (the indirect blocks it owns have
    /// records of their own); `None` for errors.
    pub bytes: Option<u64>,
    pub blocks: Option<u64>,
    /// The location frame, rendered (`fn (file:line)`).
    pub first_frame: Option<String>,
    /// The record, normalised, our frames marked.
    pub rendered: String,
    pub first_frame_of_ours: Option<Frame>,
    pub record: ErrorRecord,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u64>,
    /// Where it points (the location frame, relative to the source root).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub place: Option<Place>,
    /// Our frames, innermost first (see [`crate::place::chain`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub chain: Vec<Place>,
    /// Where an uninitialised value was created (`--track-origins=yes`):
    /// the chain of our frames of the origin stack, innermost first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub origin: Vec<Place>,
    /// Why a record of a judged kind does not fail, besides a budget.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub excuse: Option<Excuse>,
}

/// Why a record that would offend does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Excuse {
    /// Allocated before the first test began and unchanged since.
    OneTimeBeforeTests,
    /// Allocated by a function that runs once (`Policy::one_time_functions`).
    OneTimeFunction,
}

impl Judged {
    pub fn category(&self) -> Category {
        Category::of_record(&self.record)
    }
}

/// The outcome of one budget.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BudgetOutcome {
    pub budget: Budget,
    /// Bytes (leak kinds) or contexts (errors); `None`: not measured.
    pub measured: Option<u64>,
    pub ok: bool,
    /// Why it is not measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A baseline fingerprint with more records now than in the baseline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MoreThanBaseline {
    pub entry: BaselineEntry,
    pub records: u64,
}

/// The rule that made an issue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// A memory error (invalid access, uninitialised value, bad free, ...).
    MemoryError,
    /// A loss record of a judged leak kind.
    Leak,
    /// A loss record that grows with the work done.
    Growth,
    /// A lost block allocated before the tests began, as large at the end:
    /// listed, not failing.
    OneTimeBeforeTests,
    /// A lost block allocated by a function that runs once: listed, not failing.
    OneTimeFunction,
}

/// What a person reads first: the judged records grouped by rule, place
/// and test, with their amounts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Issue {
    pub rule: Rule,
    /// The kind of the first record.
    pub kind: Kind,
    pub category: Category,
    /// The first record's text, normalised.
    pub what: String,
    pub place: Option<Place>,
    /// Our frames, innermost first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub chain: Vec<Place>,
    /// Where an uninitialised value was created: our frames, innermost first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub origin: Vec<Place>,
    pub test: Option<String>,
    /// Leaks: direct bytes and blocks; growth: what the last checkpoint
    /// holds more than the first.
    pub bytes: Option<u64>,
    pub blocks: Option<u64>,
    pub fingerprint: String,
    /// The first record, rendered.
    pub rendered: String,
    /// How many records it stands for.
    pub records: usize,
    pub failing: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub growth: Option<Growth>,
}

/// The judgement of a set of reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Judgement {
    /// Every report was read to its end.
    pub complete: bool,
    /// A record offends, a budget is exceeded or not measured, or something
    /// grows.
    pub failed: bool,
    /// How many records offend.
    pub offending: usize,
    /// The counted records of the judged categories.
    pub records: Vec<Judged>,
    pub budgets: Vec<BudgetOutcome>,
    /// Baseline fingerprints no record has any more.
    pub gone: Vec<BaselineEntry>,
    pub notes: Vec<String>,
    /// Baseline fingerprints with more records now (reported, not failing).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub more_than_baseline: Vec<MoreThanBaseline>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub issues: Vec<Issue>,
    /// Per test with checkpoints: what all the sites of ours held at each
    /// (a flat curve is a clean test).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub curves: Vec<Curve>,
    /// How many reports were judged.
    #[serde(default)]
    pub reports: usize,
}

impl Judgement {
    /// 1 failed, 3 incomplete input, 0 clean.
    pub fn exit_code(&self) -> u8 {
        if self.failed {
            1
        } else if !self.complete {
            3
        } else {
            0
        }
    }

    /// The records by fingerprint, in fingerprint order.
    pub fn by_fingerprint(&self) -> BTreeMap<&str, Vec<&Judged>> {
        let mut m: BTreeMap<&str, Vec<&Judged>> = BTreeMap::new();
        for j in &self.records {
            m.entry(j.fingerprint.as_str()).or_default().push(j);
        }
        m
    }

    /// The distinct fingerprints of the offending records.
    pub fn offending_fingerprints(&self) -> usize {
        self.records
            .iter()
            .filter(|j| j.failing)
            .map(|j| j.fingerprint.as_str())
            .collect::<BTreeSet<_>>()
            .len()
    }
}

/// What an allocation stack held at one checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Point {
    /// 0: after the warm-up; then after each measured round.
    pub round: u32,
    pub bytes: u64,
    pub blocks: u64,
    /// Iterations of the round that ended at this checkpoint, when the
    /// harness said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iterations: Option<u64>,
}

/// What every allocation site of ours held together at each checkpoint of
/// one test.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Curve {
    /// The report (process).
    pub source: String,
    pub test: String,
    pub points: Vec<Point>,
}

/// The measurements that decided a growth issue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Growth {
    /// The report (process) they come from.
    pub source: String,
    /// The allocation stack the points measure.
    pub stack: String,
    /// In order of rounds.
    pub points: Vec<Point>,
    /// Bytes added per iteration from the first checkpoint to the last,
    /// when the iterations are known: the figure the threshold is held to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes_per_iteration: Option<f64>,
}
