//! Stage 1: `python -m unittest memory_test.MemoryLeakTests` (or another
//! suite) with tracemalloc measuring Python's allocations and
//! `sluice.live_objects()` counting native objects; seconds, native
//! allocations invisible.

use std::{collections::BTreeMap, path::Path};

use anyhow::{bail, Context, Result};
use serde::Deserialize;

use super::StageCtx;
use crate::{
    paths::rel,
    pool::{describe_status, run_logged},
    report::{Finding, Rule, StageName, StageReport},
    step::Step,
};

pub const TRACEMALLOC_ITERATIONS: u32 = 200;

/// Runs the stage. Returns the report and each test's duration (used to
/// balance the Valgrind shards).
pub fn run(ctx: &StageCtx<'_>) -> Result<(StageReport, BTreeMap<String, f64>)> {
    let step = Step::start(&ctx.title);
    let out = &ctx.out;
    let results = out.join("tracemalloc-results.jsonl");
    let log = out.join("tracemalloc.log");
    let iterations = ctx.select.iterations.unwrap_or(TRACEMALLOC_ITERATIONS);
    let mut cmd = std::process::Command::new(&ctx.venv.python);
    cmd.current_dir(ctx.root.join("python/tests"))
        .args(["-m", "unittest", "-v"])
        .args(ctx.select.patterns.iter().flat_map(|p| ["-k", p.as_str()]))
        .arg(ctx.suite.id())
        .env("SLUICE_MEMTEST_RESULTS", &results)
        .env("SLUICE_MEMTEST_ITERATIONS", iterations.to_string())
        .env("PYTHONDONTWRITEBYTECODE", "1");
    let status = run_logged(cmd, &log, true)?;
    let rows = read_results(&results)?;
    let mut report = StageReport::new(StageName::Tracemalloc);
    report.iterations = format!(
        "{iterations} iterations x {} rounds after warm-up",
        rows.first().map_or(0, |r| r.rounds)
    );
    report.tests = rows.len();
    report.processes = 1;
    report.artifacts = vec![rel(ctx.root, &log), rel(ctx.root, &results)];
    let mut durations = BTreeMap::new();
    for r in &rows {
        durations.insert(r.name.clone(), r.seconds);
        report.findings.extend(r.findings(ctx.root));
    }
    if let Some(sig) = std::os::unix::process::ExitStatusExt::signal(&status) {
        bail!(
            "the tracemalloc stage crashed (signal {sig}); see {}",
            log.display()
        );
    }
    if !status.success() && report.findings.is_empty() {
        report.findings.push(Finding {
            detail: format!(
                "unittest exited with {}; see {}",
                describe_status(status),
                log.display()
            ),
            ..Finding::new(Rule::TestsFailed, "memory tests failed")
        });
    }
    report.conclude();
    report.normalized = normalize(&report.findings);
    report.seconds = step.done().as_secs_f64();
    Ok((report, durations))
}

/// The snapshot text: `test: what (at place)` per finding, sorted.
fn normalize(findings: &[Finding]) -> String {
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

/// One line of `SLUICE_MEMTEST_RESULTS` (written by `leakcheck.py`).
#[derive(Debug, Deserialize)]
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

#[derive(Debug, Deserialize)]
struct TopSite {
    site: String,
}

impl ResultRow {
    fn findings(&self, root: &Path) -> Vec<Finding> {
        let mut v = Vec::new();
        if self.leaking {
            v.push(Finding {
                test: Some(self.name.clone()),
                location: self
                    .top_sites
                    .first()
                    .map(|s| rel(root, Path::new(&s.site))),
                bytes: Some((self.bytes_per_iteration * f64::from(self.iterations)).round() as u64),
                detail: format!(
                    "{:.1} bytes/iteration; per round: {:?} bytes",
                    self.bytes_per_iteration, self.growth_bytes
                ),
                ..Finding::new(Rule::PythonGrowth, "python memory grows every round")
            });
        }
        for (ty, n) in &self.live_leaking {
            v.push(Finding {
                test: Some(self.name.clone()),
                blocks: Some(*n),
                detail: format!("sluice.live_objects()[{ty:?}] stayed {n} above its baseline"),
                ..Finding::new(Rule::LiveObjects, format!("native {ty} objects not freed"))
            });
        }
        v
    }
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
