//! `cargo xtask memtest`: build, tracemalloc stage, Valgrind stage, snapshots, report.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    time::Instant,
};

use anyhow::{bail, Context, Result};
use serde::Serialize;
use xshell::{cmd, Shell};

use crate::{
    flags::{MemtestArgs, SelectArgs, Stage},
    harness::{self, found, Step},
    snapshot,
    valgrind::{self, ValgrindOptions},
    venv::{self, Venv},
};

pub const TRACEMALLOC_ITERATIONS: u32 = 200;

/// A unittest class of leak tests in `python/tests` (`module.Class`).
#[derive(Debug, Clone, Copy)]
pub struct Suite {
    pub module: &'static str,
    pub class: &'static str,
}

impl Suite {
    pub fn id(&self) -> String {
        format!("{}.{}", self.module, self.class)
    }
}

/// What `cargo xtask memtest` runs.
pub const MEMORY_TESTS: Suite = Suite {
    module: "memory_test",
    class: "MemoryLeakTests",
};

/// What one stage found.
#[derive(Debug, Default, Serialize)]
pub struct StageReport {
    pub stage: &'static str,
    /// `clean`, `leak` (something was found), or `not run`.
    pub verdict: String,
    pub seconds: f64,
    pub tests: usize,
    pub iterations: String,
    pub processes: usize,
    pub findings: Vec<Finding>,
    /// The normalised leak summary compared with the snapshot.
    pub normalized: String,
    /// `matches`, `accepted`, `changed`, `skipped (-k)`.
    pub snapshot: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valgrind: Option<serde_json::Value>,
    pub artifacts: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// e.g. `python memory growth`, `definitely lost`, `grows with iterations`, `InvalidRead`.
    pub what: String,
    pub test: Option<String>,
    /// The first place in our code (`file:line`, function).
    pub location: Option<String>,
    pub bytes: Option<u64>,
    pub blocks: Option<u64>,
    pub detail: String,
}

impl StageReport {
    pub fn new(stage: &'static str) -> StageReport {
        StageReport {
            stage,
            verdict: "not run".into(),
            ..Default::default()
        }
    }
}

#[derive(Serialize)]
struct JsonReport<'a> {
    verdict: &'a str,
    exit_code: i32,
    python: String,
    seconds: f64,
    stages: &'a [StageReport],
}

pub fn run(sh: &Shell, root: &Path, args: &MemtestArgs) -> Result<()> {
    run_valgrind_only(sh, root, args, &ValgrindOptions::default())
}

/// `memtest` with Valgrind options (`cargo xtask valgrind` uses `--stage valgrind`).
pub fn run_valgrind_only(
    sh: &Shell,
    root: &Path,
    args: &MemtestArgs,
    opts: &ValgrindOptions,
) -> Result<()> {
    if args.stage != Some(Stage::Tracemalloc) {
        valgrind::preflight(sh)?;
    }
    let venv = venv::ensure(sh, root)?;
    if !args.select.no_build {
        venv::build_and_install_wheel(sh, root, &venv)?;
    }
    run_with_venv(sh, root, args, &venv, opts)
}

pub fn out_dir(root: &Path) -> PathBuf {
    root.join("target/memtest")
}

/// Runs the stages with an already provisioned venv (also used by `ci`).
pub fn run_with_venv(
    sh: &Shell,
    root: &Path,
    args: &MemtestArgs,
    venv: &Venv,
    opts: &ValgrindOptions,
) -> Result<()> {
    if args.stage == Some(Stage::Lsan) {
        bail!("--stage lsan runs only with --planted (the detection matrix)");
    }
    let start = Instant::now();
    let out = out_dir(root);
    if out.exists() {
        sh.remove_path(&out)?;
    }
    sh.create_dir(&out)?;
    let want = |s: Stage| args.stage.is_none() || args.stage == Some(s);
    if want(Stage::Valgrind) {
        valgrind::preflight(sh)?;
    }
    let python = &venv.python;
    let python_version = cmd!(
        sh,
        "{python} -c 'import sys; print(sys.version.split()[0])'"
    )
    .quiet()
    .read()
    .context("running the venv's Python")?;

    let mut stages = Vec::new();
    let mut durations = BTreeMap::new();
    let mut harness_error: Option<anyhow::Error> = None;

    if want(Stage::Tracemalloc) {
        let title = format!(
            "memtest stage 1/2: tracemalloc (python -m unittest {})",
            MEMORY_TESTS.id()
        );
        match tracemalloc_stage(sh, root, venv, MEMORY_TESTS, &args.select, &out, &title) {
            Ok((report, secs)) => {
                durations = secs;
                stages.push(report);
            }
            Err(e) => harness_error = Some(e),
        }
    }
    if harness_error.is_none() && want(Stage::Valgrind) {
        let title = "memtest stage 2/2: Valgrind memcheck (same tests, tracemalloc off)";
        let vg_out = out.join("valgrind");
        match valgrind::stage(
            sh,
            root,
            venv,
            MEMORY_TESTS,
            &args.select,
            opts,
            &durations,
            &vg_out,
            title,
        ) {
            Ok(report) => stages.push(report),
            Err(e) => harness_error = Some(e),
        }
    }

    // Snapshots: the normalised leak summary of each stage (what we expect:
    // nothing of ours leaks). Skipped for a -k selection (a partial run).
    for st in stages.iter_mut() {
        if !args.select.patterns.is_empty() {
            st.snapshot = "skipped (-k selects a subset)".into();
            continue;
        }
        st.snapshot = snapshot::check(
            root,
            &format!("memtest_{}", st.stage),
            &st.normalized,
            args.select.accept,
        )?;
    }

    let leaks = stages.iter().any(|s| s.verdict != "clean");
    let snap_changed = stages.iter().any(|s| s.snapshot.starts_with("changed"));
    let (verdict, code) = if harness_error.is_some() {
        ("harness error", 2)
    } else if leaks {
        ("leak", 1)
    } else if snap_changed {
        ("snapshot changed", 1)
    } else {
        ("clean", 0)
    };
    let report = JsonReport {
        verdict,
        exit_code: code,
        python: python_version,
        seconds: start.elapsed().as_secs_f64(),
        stages: &stages,
    };
    let json_path = out.join("report.json");
    sh.write_file(&json_path, serde_json::to_string_pretty(&report)? + "\n")?;
    print_summary(&stages, start.elapsed().as_secs_f64(), verdict, &json_path);
    github_report(&stages, verdict);

    if let Some(e) = harness_error {
        return Err(e.context("memtest could not run"));
    }
    if snap_changed && !leaks {
        return Err(found(
            "memtest: a leak summary changed (see the diff above); if intended: cargo xtask memtest --accept (or cargo insta review)",
        ));
    }
    if leaks {
        return Err(found(
            "memtest: leaks or memory errors found (see the summary above)",
        ));
    }
    Ok(())
}

fn print_summary(stages: &[StageReport], total: f64, verdict: &str, json: &Path) {
    println!("\n==> memtest summary");
    for st in stages {
        println!(
            "  {:<12} {:<6} {:>6.1}s  {} tests, {}, {} process(es); snapshot {}",
            st.stage, st.verdict, st.seconds, st.tests, st.iterations, st.processes, st.snapshot
        );
        for f in st.findings.iter().take(8) {
            let mut line = format!("      - {}", f.what);
            if let Some(t) = &f.test {
                line += &format!(" [{t}]");
            }
            if let Some(l) = &f.location {
                line += &format!(" at {l}");
            }
            if let Some(b) = f.bytes {
                line += &format!(": {b} bytes");
                if let Some(n) = f.blocks {
                    line += &format!(" in {n} blocks");
                }
            }
            println!("{line}");
        }
        if st.findings.len() > 8 {
            println!("      ... and {} more (report.json)", st.findings.len() - 8);
        }
    }
    println!(
        "  verdict: {verdict} in {total:.1}s; report: {}",
        json.display()
    );
}

/// On GitHub Actions: a job summary (markdown) and one `::error` annotation per finding.
fn github_report(stages: &[StageReport], verdict: &str) {
    if std::env::var_os("GITHUB_ACTIONS").is_none() {
        return;
    }
    for st in stages {
        for f in &st.findings {
            let msg = format!(
                "{} stage: {}{}",
                st.stage,
                f.what,
                f.test
                    .as_ref()
                    .map(|t| format!(" [{t}]"))
                    .unwrap_or_default()
            );
            match f
                .location
                .as_deref()
                .and_then(|l| l.split_whitespace().next())
                .and_then(|l| l.rsplit_once(':'))
            {
                Some((file, line)) if line.chars().all(|c| c.is_ascii_digit()) => {
                    println!("::error file={file},line={line},title=memtest::{msg}")
                }
                _ => println!("::error title=memtest::{msg}"),
            }
        }
    }
    let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY") else {
        return;
    };
    let mut md = format!("## memtest: {verdict}\n\n| stage | verdict | time | tests | iterations | snapshot |\n|---|---|---|---|---|---|\n");
    for st in stages {
        md += &format!(
            "| {} | {} | {:.1}s | {} | {} | {} |\n",
            st.stage, st.verdict, st.seconds, st.tests, st.iterations, st.snapshot
        );
    }
    for st in stages.iter().filter(|s| !s.findings.is_empty()) {
        md += &format!("\n### {} findings\n\n", st.stage);
        for f in &st.findings {
            md += &format!(
                "- **{}** at `{}`{}\n",
                f.what,
                f.location.as_deref().unwrap_or("?"),
                f.bytes.map(|b| format!(": {b} bytes")).unwrap_or_default()
            );
        }
    }
    use std::io::Write;
    if let Ok(mut file) = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
    {
        let _ = file.write_all(md.as_bytes());
    }
}

/// Stage 1: `python -m unittest memory_test.MemoryLeakTests` (or another
/// `suite`) with tracemalloc; logs and results go to `out`.
/// Returns the report and each test's duration (used to balance the Valgrind shards).
pub fn tracemalloc_stage(
    sh: &Shell,
    root: &Path,
    venv: &Venv,
    suite: Suite,
    select: &SelectArgs,
    out: &Path,
    title: &str,
) -> Result<(StageReport, BTreeMap<String, f64>)> {
    let step = Step::start(title);
    let results = out.join("tracemalloc-results.jsonl");
    let log = out.join("tracemalloc.log");
    let iterations = select.iterations.unwrap_or(TRACEMALLOC_ITERATIONS);
    let mut cmd: std::process::Command = sh.cmd(&venv.python).into();
    cmd.current_dir(root.join("python/tests"))
        .args(["-m", "unittest", "-v"])
        .args(select.patterns.iter().flat_map(|p| ["-k", p.as_str()]))
        .arg(suite.id())
        .env("SLUICE_MEMTEST_RESULTS", &results)
        .env("SLUICE_MEMTEST_ITERATIONS", iterations.to_string())
        .env("PYTHONDONTWRITEBYTECODE", "1");
    let status = valgrind::run_logged(cmd, &log, true)?;
    let rows = read_results(&results)?;
    let mut report = StageReport::new("tracemalloc");
    report.iterations = format!(
        "{iterations} iterations x {} rounds after warm-up",
        rows.first().map_or(0, |r| r.rounds)
    );
    report.tests = rows.len();
    report.processes = 1;
    report.artifacts = vec![rel(root, &log), rel(root, &results)];
    let mut durations = BTreeMap::new();
    for r in &rows {
        durations.insert(r.name.clone(), r.seconds);
        if r.leaking {
            let top = r.top_sites.first();
            report.findings.push(Finding {
                what: "python memory grows every round".into(),
                test: Some(r.name.clone()),
                location: top.map(|s| rel(root, Path::new(&s.site))),
                bytes: Some((r.bytes_per_iteration * f64::from(r.iterations)).round() as u64),
                blocks: None,
                detail: format!(
                    "{:.1} bytes/iteration; per round: {:?} bytes",
                    r.bytes_per_iteration, r.growth_bytes
                ),
            });
        }
        for (ty, n) in &r.live_leaking {
            report.findings.push(Finding {
                what: format!("native {ty} objects not freed"),
                test: Some(r.name.clone()),
                location: None,
                bytes: None,
                blocks: Some(*n),
                detail: format!("sluice.live_objects()[{ty:?}] stayed {n} above its baseline"),
            });
        }
    }
    let failed_tests = !status.success();
    if let Some(sig) = std::os::unix::process::ExitStatusExt::signal(&status) {
        bail!(
            "the tracemalloc stage crashed (signal {sig}); see {}",
            log.display()
        );
    }
    if failed_tests && report.findings.is_empty() {
        report.findings.push(Finding {
            what: "memory tests failed".into(),
            test: None,
            location: None,
            bytes: None,
            blocks: None,
            detail: format!(
                "unittest exited with {}; see {}",
                harness::describe_status(status),
                log.display()
            ),
        });
    }
    report.verdict = if report.findings.is_empty() {
        "clean"
    } else {
        "leak"
    }
    .into();
    report.normalized = normalize_tracemalloc(&report.findings);
    report.seconds = step.done().as_secs_f64();
    Ok((report, durations))
}

fn normalize_tracemalloc(findings: &[Finding]) -> String {
    if findings.is_empty() {
        return "no leaks: Python memory and sluice.live_objects() stay flat in every test\n"
            .into();
    }
    let mut lines: Vec<String> = findings
        .iter()
        .map(|f| {
            let mut s = format!("{}: {}", f.test.as_deref().unwrap_or("-"), f.what);
            if let Some(l) = &f.location {
                s += &format!(" (at {l})");
            }
            s
        })
        .collect();
    lines.sort();
    lines.dedup();
    lines.join("\n") + "\n"
}

pub fn rel(root: &Path, p: &Path) -> String {
    p.strip_prefix(root).unwrap_or(p).display().to_string()
}

#[derive(Debug, serde::Deserialize)]
struct ResultRow {
    name: String,
    iterations: u32,
    rounds: u32,
    seconds: f64,
    growth_bytes: Vec<i64>,
    bytes_per_iteration: f64,
    leaking: bool,
    live_leaking: BTreeMap<String, u64>,
    top_sites: Vec<TopSite>,
}

#[derive(Debug, serde::Deserialize)]
struct TopSite {
    site: String,
}

fn read_results(path: &Path) -> Result<Vec<ResultRow>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l).with_context(|| format!("bad line in {}: {l}", path.display()))
        })
        .collect()
}
