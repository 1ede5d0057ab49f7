//! What the stages found, as report.json and the summary show it.

use std::fmt;

use serde::{Serialize, Serializer};

/// The leak-test stages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StageName {
    Tracemalloc,
    Valgrind,
    Lsan,
}

impl StageName {
    pub fn as_str(self) -> &'static str {
        match self {
            StageName::Tracemalloc => "tracemalloc",
            StageName::Valgrind => "valgrind",
            StageName::Lsan => "lsan",
        }
    }
}

impl fmt::Display for StageName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stage's verdict.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Verdict {
    #[default]
    NotRun,
    Clean,
    /// Something was found.
    Leak,
}

impl Verdict {
    pub fn of(findings: &[Finding]) -> Verdict {
        if findings.is_empty() {
            Verdict::Clean
        } else {
            Verdict::Leak
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::NotRun => "not run",
            Verdict::Clean => "clean",
            Verdict::Leak => "leak",
        }
    }
}

/// How a stage's normalised summary compares with its snapshot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum SnapshotState {
    #[default]
    NotCompared,
    Matches,
    /// `--accept` wrote the snapshot (path).
    Accepted(String),
    /// No snapshot file yet (path).
    Missing(String),
    /// The snapshot differs (path); insta printed the diff.
    Changed(String),
    /// Not compared, and why.
    Skipped(&'static str),
}

impl SnapshotState {
    /// True when the snapshot did not match (a finding).
    pub fn is_changed(&self) -> bool {
        matches!(self, SnapshotState::Missing(_) | SnapshotState::Changed(_))
    }
}

impl fmt::Display for SnapshotState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SnapshotState::NotCompared => f.write_str(""),
            SnapshotState::Matches => f.write_str("matches"),
            SnapshotState::Accepted(p) => write!(f, "accepted ({p})"),
            SnapshotState::Missing(p) => write!(
                f,
                "changed (no snapshot {p} yet; run with --accept outside CI)"
            ),
            SnapshotState::Changed(p) => write!(f, "changed ({p} differs, see diff above)"),
            SnapshotState::Skipped(why) => write!(f, "skipped ({why})"),
        }
    }
}

macro_rules! serialize_as_str {
    ($($t:ty => $e:expr),*) => {$(
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let f: fn(&$t) -> String = $e;
                s.serialize_str(&f(self))
            }
        }
    )*};
}

serialize_as_str! {
    Verdict => |v| v.as_str().to_owned(),
    SnapshotState => |v| v.to_string()
}

/// Which rule a finding broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// tracemalloc: Python memory grew at a steady rate (screen and confirmation).
    PythonGrowth,
    /// glibc's heap in use grew at a steady rate beyond what tracemalloc explains
    /// (native memory: C++ `new`, Rust's allocator).
    CHeapGrowth,
    /// A file descriptor opened during a check was still open after it.
    FdLeak,
    /// A thread (Python or native) started during a check was still running after it.
    ThreadLeak,
    /// `sluice.live_objects()` did not come back to its baseline.
    LiveObjects,
    /// The tests themselves failed (the log says why).
    TestsFailed,
    /// Valgrind: a memory error in our code.
    MemoryError,
    /// Valgrind or LeakSanitizer: a lost block in our code.
    Lost,
    /// Valgrind: an allocation site of ours that grows in every measured round.
    Growth,
    /// Valgrind: a lost block allocated once, before the first test (listed,
    /// not failing).
    OneTime,
}

impl Rule {
    /// The rule in words, as the page and the job summary state it.
    pub fn explained(self, stage: StageName) -> &'static str {
        use Rule::*;
        match self {
            PythonGrowth => {
                "Python memory kept growing at or above the threshold, confirmed by longer rounds (tracemalloc)"
            }
            CHeapGrowth => {
                "the C heap kept growing beyond what Python allocated, confirmed by longer rounds (mallinfo2)"
            }
            LiveObjects => "native objects did not return to their baseline (sluice.live_objects())",
            FdLeak => "a file descriptor opened by the test is still open after it",
            ThreadLeak => "a thread started by the test still runs after it",
            TestsFailed => "the tests themselves failed",
            MemoryError => "a memory error in our code (Valgrind memcheck)",
            Lost if stage == StageName::Lsan => "a block no pointer reaches at exit (LeakSanitizer)",
            Lost => "a block lost at exit, allocated by our code (Valgrind)",
            Growth => "an allocation site of ours grew in every measured round (Valgrind checkpoints)",
            OneTime => "allocated once before the first test (listed, not failing)",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub rule: Rule,
    /// e.g. `python memory grows every round`, `definitely lost`, `InvalidRead (...)`.
    pub what: String,
    pub test: Option<String>,
    /// The first place in our code (`file:line (function)`).
    pub location: Option<String>,
    /// Our frames, innermost first up to the binding entry point
    /// (`cpp/src/block.cc:35 <- crates/sluice-core/src/lib.rs:131 <- ...`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub chain: Vec<vgxml_judge::Place>,
    /// Where an uninitialised value was created: our frames, innermost first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub origin: Vec<vgxml_judge::Place>,
    pub bytes: Option<u64>,
    pub blocks: Option<u64>,
    pub detail: String,
    /// The measurements that showed the growth (Valgrind checkpoints).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub growth: Option<vgxml_judge::Growth>,
}

/// Frames of a chain the terminal summary shows.
const SUMMARY_FRAMES: usize = 6;

impl Finding {
    /// A finding of `rule` with nothing known but what it is.
    pub fn new(rule: Rule, what: impl Into<String>) -> Finding {
        Finding {
            rule,
            what: what.into(),
            test: None,
            location: None,
            chain: Vec::new(),
            origin: Vec::new(),
            bytes: None,
            blocks: None,
            detail: String::new(),
            growth: None,
        }
    }

    /// The chain of our frames as one line (`a:1 <- b:2`), when it has more
    /// than the location.
    pub fn chain_line(&self) -> Option<String> {
        (self.chain.len() > 1).then(|| vgxml_judge::chain_text(&self.chain))
    }

    /// How much, in the terms of its rule: `N bytes in M blocks` at exit,
    /// `N bytes per round` of a steady growth, `+N bytes, +M blocks` between
    /// the first and the last checkpoint.
    pub fn amount(&self) -> Option<String> {
        match (self.rule, self.bytes, self.blocks) {
            (Rule::Growth, Some(b), Some(n)) => Some(format!(
                "+{b} bytes, +{n} blocks from the warm-up to the last round"
            )),
            (Rule::PythonGrowth | Rule::CHeapGrowth, Some(b), _) => {
                Some(format!("{b} bytes per round"))
            }
            (_, Some(b), Some(n)) => Some(format!("{b} bytes in {n} blocks")),
            (_, Some(b), None) => Some(format!("{b} bytes")),
            (Rule::LiveObjects, None, Some(n)) => Some(format!("{n} objects")),
            (_, None, Some(n)) => Some(format!("{n} blocks")),
            (_, None, None) => None,
        }
    }

    /// `what [test] at location: amount`, the summary's line; a long chain
    /// is cut (the page and report.json have it whole).
    pub fn line(&self) -> String {
        let mut line = self.what.clone();
        if let Some(t) = &self.test {
            line += &format!(" [{t}]");
        }
        if let Some(l) = &self.location {
            line += &format!(" at {l}");
        }
        if let Some(a) = self.amount() {
            line += &format!(": {a}");
        }
        if let Some(o) = self.origin.first() {
            line += &format!(", created at {o}");
        }
        if self.chain.len() > 1 {
            let shown = &self.chain[..self.chain.len().min(SUMMARY_FRAMES)];
            line += &format!("\n          {}", vgxml_judge::chain_text(shown));
            if self.chain.len() > SUMMARY_FRAMES {
                line += &format!(" <- ... ({} more)", self.chain.len() - SUMMARY_FRAMES);
            }
        }
        line
    }
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

/// How a curve was judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Trend {
    /// Grew in every measured round: a leak.
    Grows,
    /// Did not grow in every round (flat, noise, a decaying warm-up).
    Bounded,
}

/// One measured quantity of one test, round by round: what a verdict was
/// drawn from (the memtest page plots it).
#[derive(Debug, Clone, Serialize)]
pub struct Curve {
    pub test: String,
    /// What is measured, with its unit (`Python bytes (tracemalloc)`, `our bytes (Valgrind)`).
    pub metric: String,
    /// One per point (`warm-up`, `round 1`, ...).
    pub labels: Vec<String>,
    pub values: Vec<i64>,
    pub trend: Trend,
    /// The y axis spans at least this much: what a leak at the rule's
    /// threshold would add over these rounds, so noise far below it is drawn
    /// flat (0: the curve's own range).
    #[serde(skip_serializing_if = "is_zero")]
    pub span_at_least: i64,
    /// The rule whose verdict this curve carries (its finding shows it first).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decides: Option<Rule>,
}

/// What one stage found.
#[derive(Debug, Serialize)]
pub struct StageReport {
    pub stage: StageName,
    pub verdict: Verdict,
    pub seconds: f64,
    pub tests: usize,
    pub iterations: String,
    pub processes: usize,
    pub findings: Vec<Finding>,
    /// Listed, not failing (e.g. one-time allocations of the import).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<Finding>,
    /// Per test, the measurements the verdict was drawn from.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub curves: Vec<Curve>,
    /// The normalised leak summary compared with the snapshot.
    pub normalized: String,
    pub snapshot: SnapshotState,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valgrind: Option<serde_json::Value>,
    /// Per test, what the stage measured round by round and why it decided
    /// (tracemalloc: the lines `leakcheck.py` wrote).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub per_test: Vec<serde_json::Value>,
    pub artifacts: Vec<String>,
}

impl StageReport {
    pub fn new(stage: StageName) -> StageReport {
        StageReport {
            stage,
            verdict: Verdict::NotRun,
            seconds: 0.0,
            tests: 0,
            iterations: String::new(),
            processes: 0,
            findings: Vec::new(),
            notes: Vec::new(),
            curves: Vec::new(),
            normalized: String::new(),
            snapshot: SnapshotState::NotCompared,
            valgrind: None,
            per_test: Vec::new(),
            artifacts: Vec::new(),
        }
    }

    /// Sets the verdict from the findings.
    pub fn conclude(&mut self) {
        self.verdict = Verdict::of(&self.findings);
    }
}
