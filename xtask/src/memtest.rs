//! `cargo xtask memtest`: build, tracemalloc stage, Valgrind stage,
//! snapshots, report.json and the summary.

use std::{collections::BTreeMap, path::Path, time::Instant};

use anyhow::{bail, Context, Result};
use serde::Serialize;
use xshell::{cmd, Shell};

use crate::{
    flags::{MemtestArgs, Stage},
    github,
    memcheck::{self, ValgrindOptions},
    outcome::found,
    page,
    paths::{fresh_dir, memtest_out, write_file},
    report::{SnapshotState, StageName, StageReport, Verdict},
    snapshot,
    stage::{tracemalloc, valgrind, StageCtx},
    unittest::MEMORY_TESTS,
    venv::{self, Venv},
};

/// The verdict of a whole memtest run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunVerdict {
    Clean,
    Leak,
    #[serde(rename = "snapshot changed")]
    SnapshotChanged,
    #[serde(rename = "harness error")]
    HarnessError,
}

impl RunVerdict {
    pub fn as_str(self) -> &'static str {
        match self {
            RunVerdict::Clean => "clean",
            RunVerdict::Leak => "leak",
            RunVerdict::SnapshotChanged => "snapshot changed",
            RunVerdict::HarnessError => "harness error",
        }
    }

    /// The verdict as the page and the job summary headline it.
    pub fn headline(self) -> &'static str {
        match self {
            RunVerdict::Clean => "CLEAN",
            RunVerdict::Leak => "FAILED",
            RunVerdict::SnapshotChanged => "SNAPSHOT CHANGED",
            RunVerdict::HarnessError => "HARNESS ERROR",
        }
    }

    pub fn exit_code(self) -> i32 {
        match self {
            RunVerdict::Clean => 0,
            RunVerdict::Leak | RunVerdict::SnapshotChanged => 1,
            RunVerdict::HarnessError => 2,
        }
    }
}

#[derive(Serialize)]
struct JsonReport<'a> {
    verdict: RunVerdict,
    exit_code: i32,
    python: String,
    seconds: f64,
    stages: &'a [StageReport],
}

pub fn run(sh: &Shell, root: &Path, args: &MemtestArgs) -> Result<()> {
    run_with_options(sh, root, args, &ValgrindOptions::default())
}

/// `memtest` with Valgrind options (`cargo xtask valgrind` uses `--stage valgrind`).
pub fn run_with_options(
    sh: &Shell,
    root: &Path,
    args: &MemtestArgs,
    opts: &ValgrindOptions,
) -> Result<()> {
    if args.stage != Some(Stage::Tracemalloc) {
        memcheck::preflight(sh)?;
    }
    let venv = venv::ensure(sh, root)?;
    if !args.select.no_build {
        venv::build_and_install_wheel(sh, root, &venv)?;
    }
    run_with_venv(sh, root, args, &venv, opts)
}

/// Runs the stages with an already provisioned venv (also used by `ci`).
pub fn run_with_venv(
    sh: &Shell,
    root: &Path,
    args: &MemtestArgs,
    venv: &Venv,
    opts: &ValgrindOptions,
) -> Result<()> {
    execute(sh, root, args, venv, opts).result
}

/// One stage of a run, as the matrix shows it.
#[derive(Debug, Clone, Serialize)]
pub struct StageOutcome {
    pub stage: StageName,
    pub verdict: Verdict,
    pub seconds: f64,
    pub snapshot: SnapshotState,
    pub findings: usize,
}

/// What a run ended with: the verdict, per stage, and the command's result
/// (`Ok`, a finding, or a harness error).
pub struct RunOutcome {
    pub verdict: RunVerdict,
    pub stages: Vec<StageOutcome>,
    pub result: Result<()>,
}

/// [`run_with_venv`], with what it found for the caller to tabulate (`matrix`).
pub fn execute(
    sh: &Shell,
    root: &Path,
    args: &MemtestArgs,
    venv: &Venv,
    opts: &ValgrindOptions,
) -> RunOutcome {
    let start = Instant::now();
    match stages(sh, root, args, venv, opts, start) {
        Ok(o) => o,
        Err(e) => RunOutcome {
            verdict: RunVerdict::HarnessError,
            stages: Vec::new(),
            result: Err(e),
        },
    }
}

fn stages(
    sh: &Shell,
    root: &Path,
    args: &MemtestArgs,
    venv: &Venv,
    opts: &ValgrindOptions,
    start: Instant,
) -> Result<RunOutcome> {
    if args.stage == Some(Stage::Lsan) {
        bail!("--stage lsan runs only with --planted (the detection matrix)");
    }
    let out = memtest_out(root);
    fresh_dir(&out)?;
    let want = |s: Stage| args.stage.is_none() || args.stage == Some(s);
    let mut opts = opts.clone();
    if want(Stage::Valgrind) {
        opts.track_fds = memcheck::preflight(sh)?.reports_fds_in_xml();
    }
    let python = &venv.python;
    let python_version = cmd!(
        sh,
        "{python} -c 'import sys; print(sys.version.split()[0])'"
    )
    .quiet()
    .read()
    .context("running the venv's Python")?;

    // Valgrind gets this interpreter's section of python.supp only.
    let opts = &ValgrindOptions {
        python_minor: Some(memcheck::minor_of(&python_version)),
        ..opts.clone()
    };

    let mut stages = Vec::new();
    let mut durations = BTreeMap::new();
    let mut harness_error: Option<anyhow::Error> = None;
    let ctx = |out: std::path::PathBuf, title: String| StageCtx {
        root,
        venv,
        suite: MEMORY_TESTS,
        select: &args.select,
        out,
        title,
    };

    if want(Stage::Tracemalloc) {
        let title = format!(
            "memtest stage 1/2: tracemalloc (python -m unittest {})",
            MEMORY_TESTS.id()
        );
        match tracemalloc::run(&ctx(out.clone(), title)) {
            Ok((report, secs)) => {
                durations = secs;
                stages.push(report);
            }
            Err(e) => harness_error = Some(e),
        }
    }
    if harness_error.is_none() && want(Stage::Valgrind) {
        let title = "memtest stage 2/2: Valgrind memcheck (same tests, tracemalloc off)".into();
        match valgrind::run(&ctx(out.join("valgrind"), title), opts, &durations) {
            Ok(report) => stages.push(report),
            Err(e) => harness_error = Some(e),
        }
    }

    // Snapshots: the normalised leak summary of each stage (what we expect:
    // nothing of ours leaks). Skipped for a -k selection (a partial run).
    for st in stages.iter_mut() {
        st.snapshot = if args.select.patterns.is_empty() {
            snapshot::check(
                root,
                &format!("memtest_{}", st.stage),
                &st.normalized,
                args.select.accept,
            )
        } else {
            SnapshotState::Skipped("-k selects a subset")
        };
    }

    let leaks = stages.iter().any(|s| s.verdict != Verdict::Clean);
    let snap_changed = stages.iter().any(|s| s.snapshot.is_changed());
    let verdict = if harness_error.is_some() {
        RunVerdict::HarnessError
    } else if leaks {
        RunVerdict::Leak
    } else if snap_changed {
        RunVerdict::SnapshotChanged
    } else {
        RunVerdict::Clean
    };
    let seconds = start.elapsed().as_secs_f64();
    let report = JsonReport {
        verdict,
        exit_code: verdict.exit_code(),
        python: python_version,
        seconds,
        stages: &stages,
    };
    let json_path = out.join("report.json");
    write_file(&json_path, &(serde_json::to_string_pretty(&report)? + "\n"))?;
    let page_path = out.join("report.html");
    let html = page::render(&page::Page {
        verdict: verdict.headline(),
        failed: verdict != RunVerdict::Clean,
        python: &report.python,
        seconds: report.seconds,
        stages: &stages,
        root,
        out_dir: &out,
    });
    write_file(&page_path, &html)?;
    print_summary(&stages, seconds, verdict, &json_path, &page_path);
    github::report(&stages, verdict.headline(), &report.python);

    let result = if let Some(e) = harness_error {
        Err(e.context("memtest could not run"))
    } else if snap_changed && !leaks {
        Err(found(
            "memtest: a leak summary changed (see the diff above); if intended: cargo xtask memtest --accept (or cargo insta review)",
        ))
    } else if leaks {
        Err(found(
            "memtest: leaks or memory errors found (see the summary above)",
        ))
    } else {
        Ok(())
    };
    Ok(RunOutcome {
        verdict,
        stages: stages
            .iter()
            .map(|s| StageOutcome {
                stage: s.stage,
                verdict: s.verdict,
                seconds: s.seconds,
                snapshot: s.snapshot.clone(),
                findings: s.findings.len(),
            })
            .collect(),
        result,
    })
}

fn print_summary(
    stages: &[StageReport],
    total: f64,
    verdict: RunVerdict,
    json: &Path,
    page: &Path,
) {
    println!("\n==> memtest summary");
    for st in stages {
        println!(
            "  {:<12} {:<6} {:>6.1}s  {} tests, {}, {} process(es); snapshot {}",
            st.stage.as_str(),
            st.verdict.as_str(),
            st.seconds,
            st.tests,
            st.iterations,
            st.processes,
            st.snapshot
        );
        for f in st.findings.iter().take(8) {
            println!("      - {}", f.line());
        }
        if st.findings.len() > 8 {
            println!("      ... and {} more (report.json)", st.findings.len() - 8);
        }
    }
    println!(
        "  verdict: {} in {total:.1}s; report: {} (page: {})",
        verdict.as_str(),
        json.display(),
        page.display()
    );
}
