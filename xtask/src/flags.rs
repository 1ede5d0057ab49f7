//! Command-line interface of `cargo xtask` (clap, derive style).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Project automation for sluice.
///
/// Exit codes (every command): 0 = clean, 1 = a check failed (a leak, a memory
/// error, a failing test or lint, a changed snapshot), 2 = the harness itself
/// could not run (a missing tool such as valgrind, python3-venv or a compiler;
/// an incomplete Valgrind report).
#[derive(Debug, Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    version,
    about,
    long_about
)]
pub struct Xtask {
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Everything CI checks, in order: rustfmt, clippy, cargo test (the browser
    /// tests of the memtest page and vgxml's page need Chromium; they skip
    /// without), venv + wheel, the Python unit tests, stubtest of the .pyi against
    /// the wheel, the vgxml wheel (built and run), actionlint and zizmor (security
    /// audit) on .github/workflows, then `matrix --check-docs` (memtest on every
    /// CPython found) and `memtest --planted` (the detection matrix, on the
    /// default interpreter). Every check runs; the failed ones are listed at the end.
    Ci(CiArgs),
    /// The leak-test pipeline: build the `memtest` wheel into target/venv, run the
    /// tracemalloc stage, then the Valgrind stage, compare each stage's normalised
    /// leak summary with its snapshot in xtask/snapshots/, write target/memtest/report.json
    /// and the page to read, target/memtest/report.html.
    Memtest(MemtestArgs),
    /// `memtest` once per CPython interpreter (every CPython >= 3.9 found, or
    /// `--python PATH`...), each in its own venv and cargo target dir under
    /// target/matrix/<version>/; prints one table, writes target/memtest/matrix.json
    /// and keeps each run's artifacts in target/memtest-matrix/<version>/.
    /// Exit code: the worst of the runs.
    Matrix(MatrixArgs),
    /// Run the Valgrind stage alone (builds and installs the wheel first).
    Valgrind(ValgrindArgs),
    /// Regenerate this Python version's section of suppressions/python.supp from an
    /// interpreter-only Valgrind run (the same imports as the tests, no sluice code).
    PythonSupp(PythonSuppArgs),
    /// Print performance figures: `Pipeline.push` overhead and Gain throughput next
    /// to numpy (builds the wheel into target/venv first); with --vgxml also the
    /// Valgrind XML parser's throughput and peak RSS next to ElementTree.
    Bench(BenchArgs),
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Also run the vgxml parser benchmark (~10 MB and ~100 MB generated reports).
    #[arg(long)]
    pub vgxml: bool,
    /// Run only the vgxml parser benchmark.
    #[arg(long)]
    pub vgxml_only: bool,
    /// With --vgxml: add the ~1 GB report (needs ~2 GB of free disk under target/).
    #[arg(long)]
    pub with_1g: bool,
}

#[derive(Debug, Args)]
pub struct MatrixArgs {
    /// An interpreter to run (repeatable; default: every CPython >= 3.9 on PATH,
    /// under $PYENV_ROOT/versions or ~/.pyenv/versions, and /usr/bin/python3).
    #[arg(long = "python", value_name = "PATH")]
    pub pythons: Vec<PathBuf>,
    /// Run one stage only (default: both).
    #[arg(long, value_enum)]
    pub stage: Option<Stage>,
    /// Number of Valgrind shards per run (default: number of cores).
    #[arg(long, short = 'j')]
    pub jobs: Option<usize>,
    /// Write the measured rows of the "Supported platforms" table in docs/memory-testing.md.
    #[arg(long, conflicts_with = "check_docs")]
    pub write_docs: bool,
    /// Fail (exit 1) if the measured rows differ from that table (`cargo xtask ci` does this).
    #[arg(long)]
    pub check_docs: bool,
    /// Only list the interpreters found.
    #[arg(long)]
    pub list: bool,
}

#[derive(Debug, Args)]
pub struct CiArgs {
    /// Skip the final `matrix` and `memtest --planted` steps (quick local check).
    #[arg(long)]
    pub skip_memtest: bool,
    /// Number of Valgrind shards for the memtest step (default: number of cores).
    #[arg(long, short = 'j')]
    pub jobs: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Stage {
    /// Python allocations (tracemalloc) and `sluice.live_objects()`; fast, native code invisible.
    Tracemalloc,
    /// Every malloc (PYTHONMALLOC=malloc) under Valgrind memcheck; sees C++ and Rust leaks.
    Valgrind,
    /// LeakSanitizer preloaded into Python (only with --planted): unreachable native blocks at exit.
    Lsan,
}

#[derive(Debug, Clone, Args)]
pub struct SelectArgs {
    /// Only run tests whose name matches PATTERN (substring, or fnmatch pattern
    /// with `*`); may be repeated. Like `python -m unittest -k`. Skips the snapshot check.
    #[arg(short = 'k', value_name = "PATTERN")]
    pub patterns: Vec<String>,
    /// Iterations per round. Default: 200 for tracemalloc (4 rounds after the
    /// warm-up, a suspicious test confirmed by 6 rounds of 400); for Valgrind 5:
    /// a warm-up of N, then rounds of N, 2N and 4N, with a leak search after each.
    #[arg(long, value_name = "N")]
    pub iterations: Option<u32>,
    /// Number of Valgrind shards (processes) run in parallel (default: number of cores).
    #[arg(long, short = 'j', value_name = "N")]
    pub jobs: Option<usize>,
    /// Accept the current normalised leak summaries as the new snapshots in
    /// xtask/snapshots/ (what `cargo insta review` would do; works with CI set, too).
    #[arg(long)]
    pub accept: bool,
    /// Do not rebuild and reinstall the wheel (use what is in target/venv).
    #[arg(long)]
    pub no_build: bool,
}

#[derive(Debug, Args)]
pub struct MemtestArgs {
    /// Run one stage only (default: both, tracemalloc first).
    #[arg(long, value_enum)]
    pub stage: Option<Stage>,
    /// The detection matrix: build the wheel with the `planted-leaks` feature into
    /// target/venv-planted, run each planted case of python/tests/planted_test.py alone
    /// through the tracemalloc, Valgrind and LeakSanitizer stages, and compare the matrix
    /// with xtask/snapshots/planted_matrix.snap. Fails if a planted row is missed by
    /// every stage or the control is reported.
    #[arg(long)]
    pub planted: bool,
    #[command(flatten)]
    pub select: SelectArgs,
}

#[derive(Debug, Args)]
pub struct ValgrindArgs {
    /// Pass `--track-origins=yes`: the report shows where uninitialised values came from (slower).
    #[arg(long)]
    pub track_origins: bool,
    /// Pass `--gen-suppressions=all` and write the suppressions for everything found
    /// to target/memtest/candidates.supp, for a human to review (never applied automatically).
    #[arg(long)]
    pub gen_suppressions: bool,
    #[command(flatten)]
    pub select: SelectArgs,
    /// Extra arguments passed to valgrind as they are (after `--`).
    #[arg(last = true, value_name = "VALGRIND_ARGS")]
    pub valgrind_args: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PythonSuppArgs {
    /// Base interpreter to run (default: the venv's, target/venv/bin/python).
    #[arg(long, value_name = "PATH")]
    pub python: Option<PathBuf>,
    /// Print the section instead of writing suppressions/python.supp.
    #[arg(long)]
    pub dry_run: bool,
}
