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
    report::{Curve, Finding, Rule, StageName, StageReport, Trend},
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
        .env("SLUICE_MEMTEST_C_HEAP", ctx.suite.c_heap.env_value())
        .env("PYTHONDONTWRITEBYTECODE", "1");
    let status = run_logged(cmd, &log, true)?;
    let rows = read_results(&results)?;
    let mut report = StageReport::new(StageName::Tracemalloc);
    let confirm = rows
        .iter()
        .find(|r| r.row.confirmed)
        .map(|r| {
            format!(
                "; suspicious tests confirmed with {} x {}",
                r.row.confirm_rounds, r.row.confirm_iterations
            )
        })
        .unwrap_or_default();
    report.iterations = format!(
        "{iterations} iterations x {} rounds after warm-up{confirm}",
        rows.first().map_or(0, |r| r.row.rounds)
    );
    report.tests = rows.len();
    report.processes = 1;
    report.artifacts = vec![rel(ctx.root, &log), rel(ctx.root, &results)];
    let mut durations = BTreeMap::new();
    for r in rows {
        durations.insert(r.row.name.clone(), r.row.seconds);
        report.findings.extend(r.row.findings(ctx.root));
        report.curves.extend(r.row.curves());
        report.per_test.push(r.raw);
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
    #[serde(default)]
    python: Verdict,
    #[serde(default)]
    confirmed: bool,
    #[serde(default)]
    confirm_rounds: u32,
    #[serde(default)]
    confirm_iterations: u32,
    #[serde(default)]
    c_heap_leaking: bool,
    #[serde(default)]
    c_heap: Verdict,
    #[serde(default)]
    c_heap_growth_bytes: Vec<i64>,
    #[serde(default)]
    fd_leaks: Vec<FdLeak>,
    #[serde(default)]
    thread_leaks: Vec<ThreadLeak>,
    #[serde(default)]
    round_log: Vec<RoundRow>,
    #[serde(default)]
    live_baseline: BTreeMap<String, i64>,
    #[serde(default)]
    live_final: BTreeMap<String, i64>,
}

/// One logged round of a check: its growth since the reading before.
#[derive(Debug, Deserialize)]
struct RoundRow {
    label: String,
    #[serde(default)]
    iterations: u32,
    #[serde(default)]
    python_bytes: Option<i64>,
    #[serde(default)]
    c_heap_beyond_python_bytes: Option<i64>,
}

/// How `leakcheck`'s steady-growth rule decided for one quantity.
#[derive(Debug, Default, Deserialize)]
struct Verdict {
    bytes_per_iteration: f64,
    reason: String,
    /// Bytes per iteration at or above which the rule calls it growth.
    #[serde(default)]
    threshold: f64,
}

#[derive(Debug, Deserialize)]
struct TopSite {
    site: String,
}

#[derive(Debug, Deserialize)]
struct FdLeak {
    fd: i64,
    target: String,
    /// `module.function, called at file:line`: the C function during whose
    /// call such a descriptor appeared (leakcheck's diagnostic run).
    #[serde(default)]
    opened_in: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum ThreadKind {
    Python,
    Native,
}

#[derive(Debug, Deserialize)]
struct ThreadLeak {
    kind: ThreadKind,
    name: String,
    #[serde(default)]
    daemon: Option<bool>,
    #[serde(default)]
    tid: Option<i64>,
    /// As `FdLeak::opened_in`, for the call that started the thread.
    #[serde(default)]
    started_in: Option<String>,
}

/// `sluice._native._planted.resident_pages, called at /abs/planted_test.py:217`
/// as the function's last name (what the finding says) and the caller's
/// place, repository-relative.
fn opener(root: &Path, where_: Option<&String>) -> (String, Option<String>) {
    let Some(w) = where_ else {
        return (String::new(), None);
    };
    let (func, at) = w.rsplit_once(", called at ").unwrap_or((w.as_str(), ""));
    let short = func.rsplit('.').next().unwrap_or(func);
    let place = at
        .rsplit_once(':')
        .map(|(file, line)| format!("{}:{line}", rel(root, Path::new(file))));
    (short.to_owned(), place)
}

/// A results line, parsed, and as written (report.json keeps it whole: the
/// rounds and the reasons).
struct Row {
    row: ResultRow,
    raw: serde_json::Value,
}

/// What an fd points to, without what changes from run to run
/// (`pipe:[81234]` -> `pipe`).
fn fd_kind(target: &str) -> String {
    for kind in ["pipe", "socket"] {
        if target.starts_with(&format!("{kind}:[")) {
            return kind.to_owned();
        }
    }
    // `/proc/self/statm` reads back as `/proc/21744/statm`: the pid is not
    // what leaked, and the message must be the same in every run.
    if let Some(rest) = target.strip_prefix("/proc/") {
        if let Some((pid, tail)) = rest.split_once('/') {
            if !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()) {
                return format!("/proc/<pid>/{tail}");
            }
        }
    }
    target.to_owned()
}

impl ResultRow {
    /// Python bytes and the C heap beyond them, from the end of the warm-up
    /// (0) through every measured round; live objects at the baseline and
    /// after the rounds.
    fn curves(&self) -> Vec<Curve> {
        let mut out = Vec::new();
        let trend = |leaking: bool| {
            if leaking {
                Trend::Grows
            } else {
                Trend::Bounded
            }
        };
        let mut cumulative = |growth: fn(&RoundRow) -> Option<i64>,
                              metric: &str,
                              verdict: &Verdict,
                              leaking: bool,
                              rule: Rule| {
            // The logged warm-up is the baseline: the curve starts at 0 there.
            let rounds: Vec<&RoundRow> = self.round_log.iter().skip(1).collect();
            if rounds.is_empty() || rounds.iter().any(|r| growth(r).is_none()) {
                return;
            }
            let mut total = 0;
            let mut values = vec![0];
            values.extend(rounds.iter().map(|r| {
                total += growth(r).unwrap_or(0);
                total
            }));
            let mut labels = vec!["warm-up".to_owned()];
            labels.extend(rounds.iter().map(|r| r.label.clone()));
            let iterations: u32 = rounds.iter().map(|r| r.iterations).sum();
            out.push(Curve {
                test: self.name.clone(),
                metric: metric.into(),
                labels,
                values,
                trend: trend(leaking),
                span_at_least: (verdict.threshold * f64::from(iterations)).round() as i64,
                decides: Some(rule),
            });
        };
        cumulative(
            |r| r.python_bytes,
            "Python bytes since the warm-up (tracemalloc)",
            &self.python,
            self.leaking,
            Rule::PythonGrowth,
        );
        cumulative(
            |r| r.c_heap_beyond_python_bytes,
            "C heap bytes beyond Python's since the warm-up (mallinfo2)",
            &self.c_heap,
            self.c_heap_leaking,
            Rule::CHeapGrowth,
        );
        if !self.live_baseline.is_empty() || !self.live_final.is_empty() {
            out.push(Curve {
                test: self.name.clone(),
                metric: "native objects alive (sluice.live_objects())".into(),
                labels: vec!["baseline".into(), "after the rounds".into()],
                values: vec![
                    self.live_baseline.values().sum(),
                    self.live_final.values().sum(),
                ],
                trend: trend(!self.live_leaking.is_empty()),
                span_at_least: 1,
                decides: Some(Rule::LiveObjects),
            });
        }
        out
    }

    fn findings(&self, root: &Path) -> Vec<Finding> {
        let mut v = Vec::new();
        let test = Some(self.name.clone());
        if self.leaking {
            v.push(Finding {
                test: test.clone(),
                location: self
                    .top_sites
                    .first()
                    .map(|s| rel(root, Path::new(&s.site))),
                bytes: Some((self.bytes_per_iteration * f64::from(self.iterations)).round() as u64),
                detail: format!(
                    "{:.1} bytes/iteration; per round: {:?} bytes; {}",
                    self.bytes_per_iteration, self.growth_bytes, self.python.reason
                ),
                ..Finding::new(Rule::PythonGrowth, "python memory grows every round")
            });
        }
        if self.c_heap_leaking {
            v.push(Finding {
                test: test.clone(),
                bytes: Some(
                    (self.c_heap.bytes_per_iteration * f64::from(self.iterations)).round() as u64,
                ),
                detail: format!(
                    "{:.1} bytes/iteration; per round: {:?} bytes; {}; the Valgrind stage shows where",
                    self.c_heap.bytes_per_iteration, self.c_heap_growth_bytes, self.c_heap.reason
                ),
                ..Finding::new(
                    Rule::CHeapGrowth,
                    "C heap grows beyond Python's allocations (native memory: C++ new, Rust)",
                )
            });
        }
        for (ty, n) in &self.live_leaking {
            v.push(Finding {
                test: test.clone(),
                blocks: Some(*n),
                detail: format!("sluice.live_objects()[{ty:?}] stayed {n} above its baseline"),
                ..Finding::new(Rule::LiveObjects, format!("native {ty} objects not freed"))
            });
        }
        for fd in &self.fd_leaks {
            let (func, place) = opener(root, fd.opened_in.as_ref());
            let by = if func.is_empty() {
                String::new()
            } else {
                format!(", opened in {func}")
            };
            v.push(Finding {
                test: test.clone(),
                location: place,
                detail: format!(
                    "fd {} -> {} was opened during the check and is still open{}",
                    fd.fd,
                    fd.target,
                    fd.opened_in
                        .as_ref()
                        .map(|w| format!(" (opened in {w})"))
                        .unwrap_or_default()
                ),
                ..Finding::new(
                    Rule::FdLeak,
                    format!("file descriptor left open: {}{by}", fd_kind(&fd.target)),
                )
            });
        }
        for t in &self.thread_leaks {
            let (kind, id) = match t.kind {
                ThreadKind::Python => (
                    if t.daemon == Some(true) {
                        "Python daemon thread"
                    } else {
                        "Python thread"
                    },
                    String::new(),
                ),
                ThreadKind::Native => (
                    "native thread",
                    t.tid.map(|n| format!(", tid {n}")).unwrap_or_default(),
                ),
            };
            let (func, place) = opener(root, t.started_in.as_ref());
            let by = if func.is_empty() {
                String::new()
            } else {
                format!(", started in {func}")
            };
            v.push(Finding {
                test: test.clone(),
                location: place,
                detail: format!(
                    "{kind} {:?}{id} was started during the check and still runs after it{}",
                    t.name,
                    t.started_in
                        .as_ref()
                        .map(|w| format!(" (started in {w})"))
                        .unwrap_or_default()
                ),
                ..Finding::new(
                    Rule::ThreadLeak,
                    format!("thread left running: {:?} ({kind}){by}", t.name),
                )
            });
        }
        v
    }
}

fn read_results(path: &Path) -> Result<Vec<Row>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let bad = || format!("bad line in {}: {l}", path.display());
            Ok(Row {
                row: serde_json::from_str(l).with_context(bad)?,
                raw: serde_json::from_str(l).with_context(bad)?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_opener_is_its_last_name_and_a_repository_place() {
        let root = Path::new("/w");
        let w =
            "sluice._native._planted.resident_pages, called at /w/python/tests/planted_test.py:217"
                .to_owned();
        assert_eq!(
            super::opener(root, Some(&w)),
            (
                "resident_pages".to_owned(),
                Some("python/tests/planted_test.py:217".to_owned())
            )
        );
        assert_eq!(super::opener(root, None), (String::new(), None));
    }

    #[test]
    fn fd_targets_without_pids() {
        assert_eq!(super::fd_kind("pipe:[123]"), "pipe");
        assert_eq!(super::fd_kind("/proc/21744/statm"), "/proc/<pid>/statm");
        assert_eq!(super::fd_kind("/proc/self/statm"), "/proc/self/statm");
        assert_eq!(super::fd_kind("/tmp/x.log"), "/tmp/x.log");
    }

    use super::*;

    fn row(json: serde_json::Value) -> ResultRow {
        let mut base = serde_json::json!({
            "name": "test_x", "iterations": 200, "rounds": 4, "seconds": 0.1,
            "growth_bytes": [0, 0, 0, 0], "bytes_per_iteration": 0.0, "leaking": false,
            "live_leaking": {}, "top_sites": []
        });
        base.as_object_mut()
            .unwrap()
            .extend(json.as_object().unwrap().clone());
        serde_json::from_value(base).unwrap()
    }

    #[test]
    fn each_new_verdict_is_a_finding_naming_what_leaked() {
        let r = row(serde_json::json!({
            "c_heap_leaking": true,
            "c_heap": {"bytes_per_iteration": 80.0, "reason": "steady: ..."},
            "c_heap_growth_bytes": [16000, 16000, 16000, 16000],
            "fd_leaks": [{"fd": 7, "target": "pipe:[123]"}, {"fd": 8, "target": "/tmp/x"}],
            "thread_leaks": [
                {"kind": "python", "name": "worker", "daemon": true, "native_id": 5},
                {"kind": "native", "name": "python3", "tid": 9}
            ]
        }));
        let f = r.findings(Path::new("/"));
        let rules: Vec<Rule> = f.iter().map(|f| f.rule).collect();
        assert_eq!(
            rules,
            [
                Rule::CHeapGrowth,
                Rule::FdLeak,
                Rule::FdLeak,
                Rule::ThreadLeak,
                Rule::ThreadLeak
            ]
        );
        assert_eq!(f[0].bytes, Some(16000));
        assert_eq!(f[1].what, "file descriptor left open: pipe");
        assert!(f[1].detail.contains("fd 7 -> pipe:[123]"));
        assert_eq!(f[2].what, "file descriptor left open: /tmp/x");
        assert_eq!(
            f[3].what,
            "thread left running: \"worker\" (Python daemon thread)"
        );
        assert_eq!(
            f[4].what,
            "thread left running: \"python3\" (native thread)"
        );
        assert!(f[4].detail.contains("tid 9"));
    }

    #[test]
    fn a_clean_run_keeps_its_snapshot_text() {
        assert_eq!(
            normalize(&row(serde_json::json!({})).findings(Path::new("/"))),
            "no leaks: Python memory and sluice.live_objects() stay flat in every test\n"
        );
    }

    #[test]
    fn old_result_lines_still_read() {
        // A line without the new fields (an older leakcheck) parses.
        let r = row(serde_json::json!({}));
        assert!(!r.c_heap_leaking && r.fd_leaks.is_empty() && r.thread_leaks.is_empty());
    }
}
