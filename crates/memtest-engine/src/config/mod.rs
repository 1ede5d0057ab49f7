//! The project description: everything the engine needs to know about a
//! project, read from the `[tool.memtest]` table of its `pyproject.toml`
//! ([`load`]). Every key has a default that works for a project whose
//! extension modules live in its package; the reference in the docs is
//! generated from these types ([`reference`]), so it cannot drift.

mod load;
mod reference;

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use crate::error::ConfigError;
pub use load::{load, load_str, TABLE};
pub use reference::reference_markdown;

use crate::protocol::{protocol, CHeapMode};
use crate::report::StageName;

/// `[tool.memtest]`: how the project's leak tests run.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct Description {
    /// How the tests run. `pytest`: every selected test is a leak test,
    /// repeated whole with its function-scoped fixtures. `unittest`: a plain
    /// `TestCase`'s tests are repeated whole (`setUp`, test, `tearDown`); a
    /// `memtest.LeakTestCase`'s tests run once and check what they churn.
    pub runner: Runner,
    /// What to run. pytest: paths or node ids (empty: pytest's own
    /// `testpaths`, else the test directory). unittest: dotted names of
    /// modules, classes or methods (empty: discovery in the test directory).
    pub tests: Vec<String>,
    /// The directory the tests run in, relative to the project root.
    pub test_dir: String,
    /// More arguments for pytest, before the tests (e.g. `["-p", "no:randomly"]`).
    pub pytest_args: Vec<String>,
    /// The stages, in the order they run.
    pub stages: Vec<StageName>,
    /// Where the venv, logs and reports go, relative to the project root.
    pub output: String,
    /// `module:callable` returning `{name: count}` of the project's live
    /// native objects (e.g. nanobind's or pybind11's instance counters):
    /// after each check the counts must be back to their baseline.
    pub live_objects: Option<String>,
    /// More environment variables for the test processes.
    pub env: BTreeMap<String, String>,
    pub build: Build,
    pub ours: Ours,
    pub suppressions: Suppressions,
    pub tracemalloc: FastStage,
    pub valgrind: ValgrindStage,
}

impl Default for Description {
    fn default() -> Self {
        Description {
            runner: Runner::Pytest,
            tests: Vec::new(),
            test_dir: ".".into(),
            pytest_args: Vec::new(),
            stages: vec![StageName::Tracemalloc, StageName::Valgrind],
            output: ".memtest".into(),
            live_objects: None,
            env: BTreeMap::new(),
            build: Build::default(),
            ours: Ours::default(),
            suppressions: Suppressions::default(),
            tracemalloc: FastStage::default(),
            valgrind: ValgrindStage::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Runner {
    Pytest,
    Unittest,
}

/// `[tool.memtest.build]`: how the project gets into the environment its tests run in.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct Build {
    /// `pip`: a venv of memtest's own (under `output`), the project installed
    /// into it by `pip install .` with debug information for every native
    /// build (C/C++ via setuptools, meson-python and scikit-build-core,
    /// Cython, Rust via maturin and setuptools-rust), its test dependencies
    /// and pytest. `none`: the tests run in an environment already built
    /// (`memtest --env PYTHON`).
    pub mode: BuildMode,
    /// The interpreter the venv is made from.
    pub python: String,
    /// Extras to install with the project (empty: those of `test`, `tests`,
    /// `testing` that the project declares).
    pub extras: Option<Vec<String>>,
    /// PEP 735 dependency groups to install (empty: those of `test`, `tests`,
    /// `dev` that the project declares).
    pub dependency_groups: Option<Vec<String>>,
    /// Requirement files to install, relative to the project root.
    pub requirements: Vec<String>,
    /// More packages to install (pip requirement specifiers).
    pub packages: Vec<String>,
    /// More arguments for `pip install .`.
    pub pip_args: Vec<String>,
    /// More environment variables for the build (after memtest's debug flags,
    /// so they win).
    pub env: BTreeMap<String, String>,
}

impl Default for Build {
    fn default() -> Self {
        Build {
            mode: BuildMode::Pip,
            python: "python3".into(),
            extras: None,
            dependency_groups: None,
            requirements: Vec::new(),
            packages: Vec::new(),
            pip_args: Vec::new(),
            env: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum BuildMode {
    Pip,
    None,
}

/// `[tool.memtest.ours]`: which native frames are the project's. A finding
/// needs one: an allocation or error of the interpreter's alone is never the
/// project's leak.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct Ours {
    /// Globs over the ELF objects (`*/mypkg/_speedups*.so`) whose frames are
    /// ours. Empty: the extension modules the project installed.
    pub objects: Option<Vec<String>>,
    /// Source directories whose frames are ours, relative to the project root
    /// (empty: the whole project; memtest's output directory never counts).
    pub sources: Vec<String>,
    /// Globs over function names that are ours (`mylib::*`).
    pub functions: Vec<String>,
    /// Globs over function names or source paths never to count as the place
    /// of a finding though another rule claims them (allocation wrappers).
    pub exclude: Vec<String>,
    /// Globs over functions that run once per process: a lost block allocated
    /// under one is listed, not failing (growth still fails). Empty: every
    /// extension module's `PyInit_<name>`, and the module-init functions of
    /// PyO3, pybind11 and nanobind.
    pub one_time_functions: Option<Vec<String>>,
}

/// `[tool.memtest.suppressions]`: Valgrind suppressions.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct Suppressions {
    /// The project's own suppression files, relative to the project root.
    pub files: Vec<String>,
    /// A file of per-CPython sections (`# ==== BEGIN CPython 3.11 ... ====`
    /// ... `# ==== END CPython 3.11 ====`); Valgrind gets the running
    /// interpreter's section only.
    pub python: Option<String>,
    /// When `python` has no section for the running interpreter: generate one
    /// from an interpreter-only run of the test runner under Valgrind (about a
    /// minute), cached per interpreter, runner and Valgrind under the output
    /// directory. Its entries never name the project's code.
    pub generate: bool,
    /// Also use memtest's suppressions of the binding libraries' one-time
    /// allocations (PyO3, pybind11, nanobind).
    pub bindings: bool,
    /// LeakSanitizer suppressions for the `lsan` stage (`leak:pattern` lines;
    /// they match any frame, so name only the project's own functions).
    pub lsan: Option<String>,
}

impl Default for Suppressions {
    fn default() -> Self {
        Suppressions {
            files: Vec::new(),
            python: None,
            generate: true,
            bindings: true,
            lsan: None,
        }
    }
}

/// `[tool.memtest.tracemalloc]`: the fast stage (in-process; seconds).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct FastStage {
    /// Iterations per measured round.
    pub iterations: u32,
    /// When a test's first warm-up round takes longer than this many
    /// seconds, fewer iterations per round (a whole pytest test is one
    /// iteration); the thresholds are per iteration all the same. 0: always
    /// `iterations`.
    pub round_seconds: f64,
    /// The fewest iterations per round a slow test gets.
    pub min_iterations: u32,
    /// Measured rounds of the screen.
    pub rounds: u32,
    /// Warm-up rounds before the first reading.
    pub warmup_rounds: u32,
    /// Rounds of the confirmation of a suspicious screen.
    pub confirm_rounds: u32,
    /// Each confirmation round runs this many times the screen's iterations.
    pub confirm_factor: u32,
    /// Python memory (tracemalloc) grows at or above this many bytes per
    /// iteration: a leak of one reference per call (8 bytes) is caught.
    pub python_bytes_per_iteration: f64,
    /// The C heap beyond Python's (glibc `mallinfo2`) grows at or above this
    /// many bytes per iteration: one malloc block kept per call is caught.
    pub c_heap_bytes_per_iteration: f64,
    /// `judge` the C heap, only `record` it, or leave it `off`.
    pub c_heap: CHeapMode,
    /// Empty CPython's caches (type attribute cache, regular expressions,
    /// ...) before every reading, as `regrtest -R` does.
    pub clear_caches: bool,
    /// Seconds a thread started by a test gets to finish before it counts as left running.
    pub thread_grace_seconds: f64,
}

impl Default for FastStage {
    fn default() -> Self {
        let d = &protocol().defaults;
        FastStage {
            iterations: d.iterations,
            round_seconds: d.round_seconds,
            min_iterations: d.min_iterations,
            rounds: d.rounds,
            warmup_rounds: d.warmup_rounds,
            confirm_rounds: d.confirm_rounds,
            confirm_factor: d.confirm_factor,
            python_bytes_per_iteration: d.min_python_bytes_per_iteration,
            c_heap_bytes_per_iteration: d.min_c_heap_bytes_per_iteration,
            c_heap: d.c_heap,
            clear_caches: d.clear_caches,
            thread_grace_seconds: d.thread_grace_seconds,
        }
    }
}

/// `[tool.memtest.valgrind]`: the Valgrind stage (memcheck; minutes).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct ValgrindStage {
    /// Iterations of each test's warm-up and of its first measured round.
    pub iterations: u32,
    /// Screen first: every test runs a warm-up and one measured round, and
    /// only a test with an allocation site of ours that grew gets the
    /// confirmation rounds (in a second process). Off: every test gets them.
    pub screen: bool,
    /// Confirmation rounds, the first of `iterations`, each `round-growth`
    /// times longer than the one before.
    pub rounds: u32,
    /// Growth factor of successive confirmation rounds (2: a buffer that
    /// doubles its capacity when full grows in every round too).
    pub round_growth: u32,
    /// An allocation site of ours grows when it held more after every
    /// confirmation round and at least this many bytes more per iteration.
    pub growth_bytes_per_iteration: f64,
    /// What fails at exit when our code allocated it or made it: `definite`,
    /// `indirect`, `possible` (lost blocks of these kinds), `errors` (memory
    /// errors). Growth is judged for every kind.
    pub fail_on: Vec<FailOn>,
    /// Pass `--track-origins=yes` (where an uninitialised value was created; slower).
    pub track_origins: bool,
    /// Stack frames Valgrind records per allocation (`--num-callers`).
    pub num_callers: u32,
    /// Valgrind processes at a time (0: the number of cores).
    pub jobs: usize,
    /// More arguments for Valgrind.
    pub args: Vec<String>,
}

impl Default for ValgrindStage {
    fn default() -> Self {
        ValgrindStage {
            iterations: 5,
            screen: true,
            rounds: 3,
            round_growth: 2,
            growth_bytes_per_iteration: vgxml_judge::DEFAULT_GROWTH_BYTES_PER_ITERATION,
            fail_on: vec![FailOn::Definite, FailOn::Indirect, FailOn::Errors],
            track_origins: false,
            num_callers: 40,
            jobs: 0,
            args: Vec::new(),
        }
    }
}

/// A kind of Valgrind finding that fails at exit.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum FailOn {
    Definite,
    Indirect,
    Possible,
    Errors,
}

impl FailOn {
    pub fn category(self) -> vgxml_judge::Category {
        match self {
            FailOn::Definite => vgxml_judge::Category::Definite,
            FailOn::Indirect => vgxml_judge::Category::Indirect,
            FailOn::Possible => vgxml_judge::Category::Possible,
            FailOn::Errors => vgxml_judge::Category::Errors,
        }
    }
}
