//! `cargo xtask memtest --planted`: the detection matrix.
//!
//! Builds the wheel with the `planted-leaks` feature into its own venv
//! (`target/venv-planted`), runs every case of `planted_test.PlantedLeakTests`
//! (one deliberate defect each, plus a control) alone through each stage —
//! tracemalloc, Valgrind memcheck (`--track-origins=yes`), LeakSanitizer —
//! and renders which stage caught which row, with the normalised message and
//! the first place in our code. The matrix is the insta snapshot
//! `xtask/snapshots/planted_matrix.snap`. Fails (exit 1) when a planted row is
//! missed by every stage, when the control is reported by any stage, or when
//! the matrix changed.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    time::Instant,
};

use anyhow::{bail, Result};
use memtest_engine::{
    config::Runner,
    modules,
    ours::Ours,
    plan::{self, TestCase},
    platform::{Platform, Valgrind},
    process::cores,
    protocol::CHeapMode,
    python_half,
    report::{Finding, Rule, SnapshotState, StageName, StageReport, Verdict},
    run::{valgrind_options, Options},
    stage::{lsan, tracemalloc, valgrind, StageCtx},
    suppressions, Project,
};
use xshell::Shell;

use crate::{
    flags::{MemtestArgs, Stage},
    outcome::found,
    paths::{fresh_dir, rel, write_file},
    snapshot,
    venv::{self, Flavor, Venv},
};

/// The suite of planted cases (`python/tests/planted_test.py`).
const PLANTED_TESTS: &str = "planted_test.PlantedLeakTests";

/// Iterations per round: planted leaks are loud, keep the run short.
const TRACEMALLOC_ITERATIONS: u32 = 50;
const VALGRIND_ITERATIONS: u32 = 3;

/// One row of the matrix: a planted defect (or the control) and its test.
pub struct Row {
    pub class: &'static str,
    pub test: &'static str,
    /// Names of the planted code; a caught row must show one of them in a message
    /// (`file:line (function)` of our code, or the Python line that calls it).
    pub planted: &'static [&'static str],
    pub control: bool,
}

const fn row(class: &'static str, test: &'static str, planted: &'static [&'static str]) -> Row {
    Row {
        class,
        test,
        planted,
        control: false,
    }
}

/// Something no stage may report (bounded memory, one-time initialisation).
const fn control(class: &'static str, test: &'static str) -> Row {
    Row {
        class,
        test,
        planted: &[],
        control: true,
    }
}

/// Keep in the order of the table; add a row here and a test in
/// `python/tests/planted_test.py` (see docs/memory-testing.md).
pub const ROWS: &[Row] = &[
    row(
        "python-refcount",
        "test_python_refcount",
        &["copy_with_extra_ref"],
    ),
    row("cross-cycle", "test_cross_cycle", &["UntracedPipeline"]),
    // The planted bug is in KeepingPipeline.subscribe()/cancel().
    row(
        "callback-kept",
        "test_callback_kept",
        &["KeepingPipeline", "subscribe"],
    ),
    row("buffer-export", "test_buffer_export", &["StickyBlock"]),
    row("cpp-new", "test_cpp_new", &["leak_new"]),
    row("rust-leak", "test_rust_leak", &["rust_leak"]),
    row("invalid-read", "test_invalid_read", &["read_past_end"]),
    row("uninit", "test_uninit", &["branch_on_uninitialised"]),
    row(
        "growing-reachable",
        "test_growing_reachable",
        &["append_sample_log"],
    ),
    row(
        "growth-freed-at-exit",
        "test_growth_freed_at_exit",
        &["append_static_sample_log"],
    ),
    // The kernel that skips the write is on no stack: the origin names the
    // fused path's uninitialised block, the boundary check our line.
    row(
        "uninit-output",
        "test_uninit_output",
        &["uninitialized_like", "PairwiseGain"],
    ),
    row("rust-drops-cpp", "test_rust_drops_cpp", &["snapshot_peak"]),
    row("fd-leak", "test_fd_leak", &["resident_pages"]),
    row("thread-leak", "test_thread_leak", &["start_flush_worker"]),
    row("subscriptions-kept", "test_subscriptions_kept", &["Fanout"]),
    control("one-time-init (control)", "test_one_time_init"),
    control("scratch-high-water (control)", "test_scratch_high_water"),
];

const STAGES: [StageName; 3] = [StageName::Tracemalloc, StageName::Valgrind, StageName::Lsan];

pub fn run(sh: &Shell, root: &Path, args: &MemtestArgs) -> Result<()> {
    let want = |s: Stage| args.stage.is_none() || args.stage == Some(s);
    if want(Stage::Valgrind) {
        Valgrind::probe()?;
    }
    if want(Stage::Lsan) {
        lsan::runtime()?;
    }
    let venv = venv::ensure_flavor(sh, root, Flavor::Planted)?;
    if !args.select.no_build {
        venv::build_and_install_wheel(sh, root, &venv)?;
    }
    run_with_venv(root, args, &venv)
}

/// sluice's description with the planted cases as its tests, the C heap
/// recorded (not judged: see `C heap` below) and its own output directory.
fn planted_project(root: &Path) -> Result<Project> {
    let mut d = Project::load(root)?.description;
    d.runner = Runner::Unittest;
    d.tests = vec![PLANTED_TESTS.to_owned()];
    // The matrix's columns are the three stages (tracemalloc = Python memory
    // and live objects); a C-heap verdict would mark every native row in the
    // tracemalloc column. That it catches them is shown in the docs.
    d.tracemalloc.c_heap = CHeapMode::Record;
    d.output = "target/memtest-planted".into();
    Ok(Project::new(root.to_path_buf(), d))
}

fn run_with_venv(root: &Path, args: &MemtestArgs, venv: &Venv) -> Result<()> {
    let start = Instant::now();
    let want = |s: Stage| args.stage.is_none() || args.stage == Some(s);
    let project = planted_project(root)?;
    let out = project.out.clone();
    fresh_dir(&out)?;
    python_half::write_to(&project.python_dir())?;
    let platform = Platform::probe(&venv.python, want(Stage::Valgrind))?;

    let tests = plan::list(&project, &venv.python, &args.select.patterns, &out)?;
    if tests.is_empty() {
        bail!(
            "no planted case matches {:?} (or sluice._planted is missing from {})",
            args.select.patterns,
            venv.root.display()
        );
    }
    let short = |id: &str| plan::short_name(Runner::Unittest, id).to_owned();
    let names: Vec<String> = tests.iter().map(|t| short(&t.id)).collect();
    for n in &names {
        if !ROWS.iter().any(|r| r.test == n) {
            bail!("{n} in python/tests/planted_test.py has no row in ROWS (xtask/src/planted.rs): add one");
        }
    }
    let rows: Vec<&Row> = ROWS
        .iter()
        .filter(|r| names.iter().any(|n| n == r.test))
        .collect();
    if args.select.patterns.is_empty() && rows.len() != ROWS.len() {
        bail!(
            "some rows of ROWS (xtask/src/planted.rs) have no test in python/tests/planted_test.py"
        );
    }

    // cells[row test][stage] = findings
    let mut cells: BTreeMap<&str, BTreeMap<StageName, Vec<Finding>>> = BTreeMap::new();
    let mut stages: Vec<StageReport> = Vec::new();
    let jobs = args.select.jobs.unwrap_or_else(cores).max(1);
    let modules = modules::discover(&project, &venv.python)?;
    let ours = Ours::of(&project, &modules);
    let case_of = |r: &Row| -> Vec<TestCase> {
        tests
            .iter()
            .filter(|t| short(&t.id) == r.test)
            .cloned()
            .collect()
    };
    let shared = Shared {
        project: &project,
        platform: &platform,
        ours: &ours,
        jobs,
        iterations: args.select.iterations,
    };

    if want(Stage::Tracemalloc) {
        let t = Instant::now();
        let mut total = StageReport::new(StageName::Tracemalloc);
        for r in &rows {
            let cases = case_of(r);
            let c = shared.ctx(
                &cases,
                out.join("tracemalloc").join(r.test),
                format!(
                    "planted {}: tracemalloc ({PLANTED_TESTS}.{})",
                    r.class, r.test
                ),
                TRACEMALLOC_ITERATIONS,
            );
            let (rep, _) = tracemalloc::run(&c, tracemalloc::settings(&c))?;
            merge(&mut total, &rep);
            cells
                .entry(r.test)
                .or_default()
                .insert(StageName::Tracemalloc, rep.findings);
        }
        total.seconds = t.elapsed().as_secs_f64();
        stages.push(total);
    }
    let all: Vec<TestCase> = rows.iter().flat_map(|r| case_of(r)).collect();
    if want(Stage::Valgrind) {
        // Every case in its own process, `jobs` at a time, every round
        // checkpointed (no screen); --track-origins=yes for all: it costs
        // little here and shows the uninit origin. Never --track-fds, though
        // Valgrind >= 3.23 reports descriptors in its XML (memtest uses it
        // there): the matrix must be the same on every Valgrind, and the
        // fd-leak row is the tracemalloc column's (the descriptor check) on
        // every version. With 3.27.1 the Valgrind column catches it too,
        // naming `resident_pages`.
        let options = Options {
            isolate: true,
            track_origins: true,
            track_fds: Some(false),
            screen: Some(false),
            iterations: Some(args.select.iterations.unwrap_or(VALGRIND_ITERATIONS)),
            ..Options::default()
        };
        let (given, _) = suppressions::for_run(&project, &platform, &modules, &out)?;
        let opts = valgrind_options(&project, &platform, &options, given)?;
        let c = shared.ctx(
            &all,
            out.join("valgrind"),
            "planted: Valgrind memcheck --track-origins=yes (one process per case)".into(),
            VALGRIND_ITERATIONS,
        );
        let rep = valgrind::run(&c, &opts)?;
        for r in &rows {
            // What memcheck itself reported; a planted test failing under Valgrind
            // is the live-object counter (the tracemalloc column), not memcheck.
            let memcheck: Vec<Finding> = rep
                .findings
                .iter()
                .filter(|f| f.test.as_deref() == Some(r.test))
                .filter(|f| f.rule != Rule::TestsFailed)
                .cloned()
                .collect();
            cells
                .entry(r.test)
                .or_default()
                .insert(StageName::Valgrind, memcheck);
        }
        stages.push(rep);
    }
    if want(Stage::Lsan) {
        let ids: Vec<String> = all.iter().map(|t| t.id.clone()).collect();
        let c = shared.ctx(
            &all,
            out.join("lsan"),
            "planted: LeakSanitizer (LD_PRELOAD=liblsan.so, one process per case)".into(),
            lsan::LSAN_ITERATIONS,
        );
        let c = StageCtx {
            iterations: args.select.iterations,
            ..c
        };
        let (rep, per_test) = lsan::run(&c, &ids)?;
        for (id, findings) in per_test {
            if let Some(r) = rows.iter().find(|r| r.test == short(&id)) {
                cells
                    .entry(r.test)
                    .or_default()
                    .insert(StageName::Lsan, findings);
            }
        }
        stages.push(rep);
    }

    let ran: Vec<StageName> = stages.iter().map(|s| s.stage).collect();
    let matrix = Matrix::build(root, &rows, &ran, &cells);
    let text = matrix.render();
    let snap = if args.select.patterns.is_empty() && args.stage.is_none() {
        snapshot::check(root, "planted_matrix", &text, args.select.accept)
    } else {
        SnapshotState::Skipped("-k or --stage selects a subset")
    };

    let json = serde_json::json!({
        "seconds": start.elapsed().as_secs_f64(),
        "snapshot": snap,
        "stages": stages,
        "matrix": text,
    });
    let json_path = out.join("report.json");
    write_file(&json_path, &(serde_json::to_string_pretty(&json)? + "\n"))?;

    println!("\n==> detection matrix\n\n{text}");
    for st in &stages {
        println!(
            "  {:<12} {:>6.1}s  {} case(s), {}, {} process(es)",
            st.stage.as_str(),
            st.seconds,
            st.tests,
            st.iterations,
            st.processes
        );
    }
    println!(
        "  snapshot {snap}; total {:.1}s; report: {}",
        start.elapsed().as_secs_f64(),
        json_path.display()
    );

    let mut problems = Vec::new();
    for r in &matrix.rows {
        match (r.control, r.caught_by.is_empty()) {
            (false, true) => problems.push(format!("{} was missed by every stage", r.class)),
            (true, false) => problems.push(format!(
                "the control {} was reported by {}",
                r.class,
                r.caught_by
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            _ => {}
        }
    }
    if !problems.is_empty() {
        return Err(found(format!("detection matrix: {}", problems.join("; "))));
    }
    if snap.is_changed() {
        return Err(found(
            "detection matrix changed (see the diff above); if intended: cargo xtask memtest --planted --accept",
        ));
    }
    Ok(())
}

/// What every stage of the matrix shares.
struct Shared<'a> {
    project: &'a Project,
    platform: &'a Platform,
    ours: &'a Ours,
    jobs: usize,
    /// `--iterations`, for every stage.
    iterations: Option<u32>,
}

impl<'a> Shared<'a> {
    fn ctx<'b>(
        &'b self,
        cases: &'b [TestCase],
        out: std::path::PathBuf,
        title: String,
        iterations: u32,
    ) -> StageCtx<'b>
    where
        'a: 'b,
    {
        StageCtx {
            project: self.project,
            platform: self.platform,
            ours: self.ours,
            tests: cases,
            out,
            title,
            iterations: Some(self.iterations.unwrap_or(iterations)),
            jobs: self.jobs,
            fast: None,
        }
    }
}

fn merge(total: &mut StageReport, rep: &StageReport) {
    total.tests += rep.tests;
    total.processes += rep.processes;
    total.iterations = rep.iterations.clone();
    total.findings.extend(rep.findings.iter().cloned());
    total.artifacts.extend(rep.artifacts.iter().cloned());
    total.verdict = Verdict::of(&total.findings);
}

struct MatrixRow {
    class: &'static str,
    test: &'static str,
    control: bool,
    /// Per stage that ran: the normalised messages (empty: not caught).
    cells: Vec<(StageName, Vec<String>)>,
    caught_by: Vec<StageName>,
    names_planted: bool,
}

struct Matrix {
    stages: Vec<StageName>,
    rows: Vec<MatrixRow>,
}

impl Matrix {
    fn build(
        root: &Path,
        rows: &[&Row],
        ran: &[StageName],
        cells: &BTreeMap<&str, BTreeMap<StageName, Vec<Finding>>>,
    ) -> Matrix {
        let stages: Vec<StageName> = STAGES.into_iter().filter(|s| ran.contains(s)).collect();
        let rows = rows
            .iter()
            .map(|r| {
                let mut row_cells = Vec::new();
                for st in &stages {
                    let findings = cells
                        .get(r.test)
                        .and_then(|c| c.get(st))
                        .cloned()
                        .unwrap_or_default();
                    let mut msgs: Vec<String> = findings.iter().map(|f| message(root, f)).collect();
                    msgs.sort();
                    msgs.dedup();
                    row_cells.push((*st, msgs));
                }
                let caught_by: Vec<StageName> = row_cells
                    .iter()
                    .filter(|(_, m)| !m.is_empty())
                    .map(|(s, _)| *s)
                    .collect();
                let names_planted = row_cells
                    .iter()
                    .flat_map(|(_, m)| m)
                    .any(|m| r.planted.iter().any(|p| m.contains(p)));
                MatrixRow {
                    class: r.class,
                    test: r.test,
                    control: r.control,
                    cells: row_cells,
                    caught_by,
                    names_planted,
                }
            })
            .collect();
        Matrix { stages, rows }
    }

    fn render(&self) -> String {
        let mut s = String::from(
            "Detection matrix: each case of python/tests/planted_test.py run alone through each stage\n\
             (x = caught, . = not caught). Regenerate: cargo xtask memtest --planted --accept\n\n",
        );
        let names: Vec<&str> = self.stages.iter().map(|s| s.as_str()).collect();
        s += &format!("| row | {} | verdict |\n", names.join(" | "));
        s += &format!("|---|{}---|\n", "---|".repeat(self.stages.len()));
        for r in &self.rows {
            let marks: Vec<&str> = r
                .cells
                .iter()
                .map(|(_, m)| if m.is_empty() { "." } else { "x" })
                .collect();
            let verdict = match (r.control, r.caught_by.is_empty(), r.names_planted) {
                (true, true, _) => "clean, as a control must be",
                (true, false, _) => "REPORTED (a false alarm)",
                (false, true, _) => "MISSED",
                (false, false, true) => "caught, names the planted code",
                (false, false, false) => "caught (the planted code is not named)",
            };
            s += &format!("| {} | {} | {verdict} |\n", r.class, marks.join(" | "));
        }
        for r in &self.rows {
            s += &format!("\n## {} ({})\n", r.class, r.test);
            for (st, msgs) in &r.cells {
                if msgs.is_empty() {
                    s += &format!("{st}: not caught\n");
                } else {
                    s += &format!("{st}:\n");
                    for m in msgs {
                        s += &format!("  - {m}\n");
                    }
                }
            }
        }
        s
    }
}

/// `what at place`; a Python `file:line` gets its source line, which names the
/// planted function the test calls.
fn message(root: &Path, f: &Finding) -> String {
    // Whether a growing block is "still reachable" or "possibly lost" depends on
    // stale interior pointers Valgrind's scan happens to find: not stable from
    // run to run. That it grows in every round is.
    let what = if f.rule == Rule::Growth {
        "grows in every measured round".to_owned()
    } else {
        f.what.clone()
    };
    let Some(loc) = &f.location else {
        return what;
    };
    // The chain of our frames and the origin name the planted line when the
    // place does not (a Rust line that dropped a C++ block; a kernel that
    // skipped a write, seen only through where its block was made).
    let mut also = String::new();
    if f.chain.len() > 1 {
        let chain: Vec<String> = f
            .chain
            .iter()
            .map(vgxml_judge::Place::stable_text)
            .collect();
        also += &format!("\n      via {}", chain.join(" <- "));
    }
    if !f.origin.is_empty() {
        let origin: Vec<String> = f
            .origin
            .iter()
            .map(vgxml_judge::Place::stable_text)
            .collect();
        also += &format!(
            "\n      uninitialised value created at {}",
            origin.join(" <- ")
        );
    }
    let mut place = loc.clone();
    if let Some((file, line)) = loc.rsplit_once(':') {
        if file.ends_with(".py") {
            if let Ok(n) = line.parse::<usize>() {
                let path: PathBuf = root.join(file);
                if let Some(src) = std::fs::read_to_string(&path)
                    .ok()
                    .and_then(|t| t.lines().nth(n - 1).map(|l| l.trim().to_owned()))
                {
                    place = format!("{} ({src})", rel(root, &path).to_owned() + ":" + line);
                }
            }
        }
    }
    format!("{what} at {place}{also}")
}
