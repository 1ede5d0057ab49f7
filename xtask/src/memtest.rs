//! `cargo xtask memtest`: sluice's wheel built into `target/venv`, then the
//! memtest engine with sluice's description (`[tool.memtest]` in the root
//! `pyproject.toml`), then each stage's normalised summary compared with its
//! snapshot in `xtask/snapshots/`. The engine plans, runs, judges and
//! reports; this file only builds and snapshots.

use std::path::Path;

use anyhow::Result;
use memtest_engine::{
    platform::{Platform, Valgrind},
    report::{summary, SnapshotState, StageName, Verdict},
    run::{run as run_engine, Options, Outcome},
    Project,
};
use xshell::Shell;

use crate::{
    flags::{MemtestArgs, SelectArgs, Stage},
    outcome::found,
    snapshot,
    venv::{self, Venv},
};

/// The Valgrind stage's choices that `cargo xtask valgrind` adds.
#[derive(Debug, Default, Clone)]
pub struct ValgrindChoices {
    pub track_origins: bool,
    pub gen_suppressions: bool,
    pub extra_args: Vec<String>,
}

pub fn run(sh: &Shell, root: &Path, args: &MemtestArgs) -> Result<()> {
    run_with(sh, root, args, &ValgrindChoices::default())
}

/// `memtest` with Valgrind choices (`cargo xtask valgrind` is `--stage valgrind`).
pub fn run_with(
    sh: &Shell,
    root: &Path,
    args: &MemtestArgs,
    choices: &ValgrindChoices,
) -> Result<()> {
    if args.stage == Some(Stage::Lsan) {
        anyhow::bail!("--stage lsan runs only with --planted (the detection matrix)");
    }
    if args.stage != Some(Stage::Tracemalloc) {
        Valgrind::probe()?;
    }
    let venv = venv::ensure(sh, root)?;
    if !args.select.no_build {
        venv::build_and_install_wheel(sh, root, &venv)?;
    }
    execute(root, args, &venv, choices).result
}

/// One stage of a run, as the matrix shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StageOutcome {
    pub stage: StageName,
    pub verdict: Verdict,
    pub seconds: f64,
    pub snapshot: SnapshotState,
    pub findings: usize,
    /// What the stage could not see on this platform.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blind_spot: Option<String>,
}

/// What a run ended with: the verdict, per stage, the interpreter, and the
/// command's result (`Ok`, a finding, or a harness error).
pub struct RunOutcome {
    pub verdict: Verdict,
    pub python: Option<memtest_engine::platform::Interpreter>,
    pub gil_enabled: Option<bool>,
    pub stages: Vec<StageOutcome>,
    pub result: Result<()>,
}

/// The engine's options for an `xtask memtest` selection.
pub fn options(args: &MemtestArgs, select: &SelectArgs, choices: &ValgrindChoices) -> Options {
    Options {
        stages: args.stage.map(|s| vec![stage_name(s)]).unwrap_or_default(),
        patterns: select.patterns.clone(),
        shard: None,
        jobs: select.jobs,
        iterations: select.iterations,
        track_origins: choices.track_origins,
        track_fds: None,
        gen_suppressions: choices.gen_suppressions,
        valgrind_args: choices.extra_args.clone(),
        isolate: false,
        screen: None,
    }
}

pub fn stage_name(s: Stage) -> StageName {
    match s {
        Stage::Tracemalloc => StageName::Tracemalloc,
        Stage::Valgrind => StageName::Valgrind,
        Stage::Lsan => StageName::Lsan,
    }
}

/// Runs the engine with an already provisioned venv (also `ci` and `matrix`):
/// sluice's description, the snapshots, the reports.
pub fn execute(
    root: &Path,
    args: &MemtestArgs,
    venv: &Venv,
    choices: &ValgrindChoices,
) -> RunOutcome {
    match execute_inner(root, args, venv, choices) {
        Ok(o) => o,
        Err(e) => RunOutcome {
            verdict: Verdict::HarnessError,
            python: None,
            gil_enabled: None,
            stages: Vec::new(),
            result: Err(e),
        },
    }
}

fn execute_inner(
    root: &Path,
    args: &MemtestArgs,
    venv: &Venv,
    choices: &ValgrindChoices,
) -> Result<RunOutcome> {
    let project = Project::load(root)?;
    let needs_valgrind = args.stage != Some(Stage::Tracemalloc);
    let platform = Platform::probe(&venv.python, needs_valgrind)?;
    let mut outcome = run_engine(&project, platform, &options(args, &args.select, choices));
    snapshots(root, args, &mut outcome);
    let report = outcome.report();
    let outputs = report.write(&project.root, &project.out)?;
    summary::print(&report, &outputs);
    let result = match report.verdict {
        Verdict::Clean => Ok(()),
        Verdict::Leak => Err(found("memtest: leaks or memory errors found (see the summary above)")),
        Verdict::SnapshotChanged => Err(found(
            "memtest: a leak summary changed (see the diff above); if intended: cargo xtask memtest --accept (or cargo insta review)",
        )),
        Verdict::HarnessError | Verdict::Interrupted => Err(anyhow::anyhow!(
            "memtest could not run: {}",
            report.error.as_deref().unwrap_or("see above")
        )),
    };
    Ok(RunOutcome {
        verdict: report.verdict,
        gil_enabled: outcome.gil_enabled(),
        python: Some(outcome.platform.python.clone()),
        stages: report
            .stages
            .iter()
            .map(|s| StageOutcome {
                stage: s.stage,
                verdict: s.verdict,
                seconds: s.seconds,
                snapshot: s.snapshot.clone(),
                findings: s.findings.len(),
                blind_spot: s.blind_spot.clone(),
            })
            .collect(),
        result,
    })
}

/// Each stage's normalised leak summary against its snapshot (what we
/// expect: nothing of ours leaks); skipped for a `-k` selection.
fn snapshots(root: &Path, args: &MemtestArgs, outcome: &mut Outcome) {
    for st in outcome.stages.iter_mut() {
        st.snapshot = if !args.select.patterns.is_empty() {
            SnapshotState::Skipped("-k selects a subset")
        } else if st.incomplete.is_some() {
            SnapshotState::Skipped("the stage did not finish")
        } else {
            snapshot::check(
                root,
                &format!("memtest_{}", st.stage),
                &st.normalized,
                args.select.accept,
            )
        };
    }
}
