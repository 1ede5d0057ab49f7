//! What a run found, in the one shape every output is drawn from: the
//! terminal summary, `report.json`, the page, SARIF, JUnit and the GitHub
//! job summary. One [`Verdict`] for stages and runs; its exit code is
//! computed in one place ([`Verdict::exit_code`]).

pub mod github;
pub mod junit;
pub mod page;
pub mod sarif;
pub mod summary;

use std::{fmt, path::Path};

use serde::{Deserialize, Serialize, Serializer};

use crate::platform::Platform;

/// The leak-test stages.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum StageName {
    /// The fast stage: in-process, tracemalloc and the C heap, descriptors,
    /// threads and live native objects; repeats each test in rounds.
    Tracemalloc,
    /// Valgrind memcheck: every allocation, a leak search after each round.
    Valgrind,
    /// LeakSanitizer preloaded into the interpreter: unreachable native blocks at exit.
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

/// The verdict of a stage or of a whole run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verdict {
    Clean,
    /// A leak, a memory error, a failing test: something was found.
    Leak,
    /// A caller's expectation (a committed snapshot of the findings) changed.
    SnapshotChanged,
    /// The harness could not run (a missing tool, an incomplete report).
    HarnessError,
    /// Ctrl-C: what ran is reported, incomplete.
    Interrupted,
}

impl Verdict {
    /// A stage's verdict from its findings.
    pub fn of(findings: &[Finding]) -> Verdict {
        if findings.is_empty() {
            Verdict::Clean
        } else {
            Verdict::Leak
        }
    }

    /// A run's: an error or interruption first, then findings, then a changed snapshot.
    pub fn of_run(stages: &[StageReport], error: Option<&crate::Error>) -> Verdict {
        match error {
            Some(crate::Error::Interrupted) => Verdict::Interrupted,
            Some(_) => Verdict::HarnessError,
            None if stages.iter().any(|s| s.verdict != Verdict::Clean) => Verdict::Leak,
            None if stages.iter().any(|s| s.snapshot.is_changed()) => Verdict::SnapshotChanged,
            None => Verdict::Clean,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Clean => "clean",
            Verdict::Leak => "leak",
            Verdict::SnapshotChanged => "snapshot changed",
            Verdict::HarnessError => "harness error",
            Verdict::Interrupted => "interrupted",
        }
    }

    /// As the page and the job summary headline it.
    pub fn headline(self) -> &'static str {
        match self {
            Verdict::Clean => "CLEAN",
            Verdict::Leak => "FAILED",
            Verdict::SnapshotChanged => "SNAPSHOT CHANGED",
            Verdict::HarnessError => "HARNESS ERROR",
            Verdict::Interrupted => "INTERRUPTED (incomplete)",
        }
    }

    /// 0 clean, 1 found (a leak, a changed snapshot), 2 could not run or did not finish.
    pub fn exit_code(self) -> u8 {
        match self {
            Verdict::Clean => 0,
            Verdict::Leak | Verdict::SnapshotChanged => 1,
            Verdict::HarnessError | Verdict::Interrupted => 2,
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
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
    /// The live-objects hook's counts did not come back to their baseline.
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
    /// What a test does is not a leak test's (re-imports, forks, spawns) or it
    /// is marked `memtest_skip`: listed, not failing.
    NotALeakTest,
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
            LiveObjects => "native objects did not return to their baseline (the live-objects hook)",
            FdLeak => "a file descriptor opened by the test is still open after it",
            ThreadLeak => "a thread started by the test still runs after it",
            TestsFailed => "the tests themselves failed",
            MemoryError => "a memory error in our code (Valgrind memcheck)",
            Lost if stage == StageName::Lsan => "a block no pointer reaches at exit (LeakSanitizer)",
            Lost => "a block lost at exit, allocated by our code (Valgrind)",
            Growth => "an allocation site of ours grew in every measured round (Valgrind checkpoints)",
            OneTime => "allocated once before the first test (listed, not failing)",
            NotALeakTest => "not a leak test (listed, not failing)",
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
    /// (`src/buf.cc:35 <- src/bindings.cc:131 <- ...`).
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
#[derive(Debug, Clone, Serialize)]
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
    /// (tracemalloc: the result lines the checks wrote).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub per_test: Vec<serde_json::Value>,
    pub artifacts: Vec<String>,
    /// Why the stage did not run every test to its end (`interrupted`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incomplete: Option<String>,
    /// Whether the GIL was on while the tests ran (the test process said).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gil_enabled: Option<bool>,
    /// What this stage cannot see on this platform (e.g. Python objects in
    /// a free-threaded build's mimalloc pages, under Valgrind).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blind_spot: Option<String>,
}

impl StageReport {
    pub fn new(stage: StageName) -> StageReport {
        StageReport {
            stage,
            verdict: Verdict::Clean,
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
            incomplete: None,
            gil_enabled: None,
            blind_spot: None,
        }
    }

    /// Sets the verdict from the findings.
    pub fn conclude(&mut self) {
        self.verdict = Verdict::of(&self.findings);
    }
}

/// A whole run: what `report.json` holds.
#[derive(Debug, Serialize)]
pub struct RunReport {
    pub verdict: Verdict,
    pub exit_code: u8,
    /// The interpreter's version (`3.11.7`).
    pub python: String,
    pub platform: Platform,
    pub seconds: f64,
    /// The shard of the tests this run covers (`1/4`), or all.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shard: Option<String>,
    /// Why the run did not finish, when it did not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The tests the run selected, by the names findings give them.
    pub tests: Vec<String>,
    pub stages: Vec<StageReport>,
}

impl RunReport {
    /// Writes `report.json`, the page, SARIF and JUnit into `out`, and on
    /// GitHub Actions the annotations and the job summary; returns the paths.
    pub fn write(&self, root: &Path, out: &Path) -> crate::Result<Outputs> {
        crate::files::create_dir(out)?;
        let o = Outputs::in_dir(out);
        crate::files::write(
            &o.json,
            &(serde_json::to_string_pretty(self).expect("serialisable") + "\n"),
        )?;
        crate::files::write(&o.page, &page::render(&page::Page::of(self, root, out)))?;
        crate::files::write(&o.sarif, &sarif::render(self, root))?;
        crate::files::write(&o.junit, &junit::render(self))?;
        github::report(&self.stages, self.verdict.headline(), &self.python);
        Ok(o)
    }
}

/// Where a run's outputs are.
#[derive(Debug, Clone)]
pub struct Outputs {
    pub json: std::path::PathBuf,
    pub page: std::path::PathBuf,
    pub sarif: std::path::PathBuf,
    pub junit: std::path::PathBuf,
}

impl Outputs {
    pub fn in_dir(out: &Path) -> Outputs {
        Outputs {
            json: out.join("report.json"),
            page: out.join("report.html"),
            sarif: out.join("report.sarif"),
            junit: out.join("report.junit.xml"),
        }
    }
}
