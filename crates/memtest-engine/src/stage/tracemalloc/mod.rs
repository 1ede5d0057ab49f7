//! Stage 1, the fast stage: the selected tests in one process, each check
//! measuring Python's allocations (tracemalloc), the C heap beyond them,
//! descriptors, threads and the live-objects hook, round by round (see
//! `python/memtest/checker.py`); seconds, native allocations seen only in
//! the C heap's total.

mod check;

use super::{FastFacts, StageCtx};
use crate::error::{harness, Result};
use crate::events::Events;
use crate::files::rel;
use crate::process::{describe_status, run_pool, Job};
use crate::protocol::{CheckSettings, Outcome, ResultLine, RoundLine, RunDescription};
use crate::report::{Finding, Rule, StageName, StageReport};
use crate::step::Step;
use check::Check;

/// The check settings of the fast stage.
pub fn settings(ctx: &StageCtx<'_>) -> CheckSettings {
    let d = &ctx.project.description.tracemalloc;
    CheckSettings {
        iterations: ctx.iterations.unwrap_or(d.iterations),
        round_seconds: d.round_seconds,
        min_iterations: d.min_iterations.min(ctx.iterations.unwrap_or(d.iterations)),
        rounds: d.rounds,
        warmup_rounds: d.warmup_rounds,
        confirm_rounds: d.confirm_rounds,
        confirm_factor: d.confirm_factor,
        min_python_bytes_per_iteration: d.python_bytes_per_iteration,
        min_c_heap_bytes_per_iteration: d.c_heap_bytes_per_iteration,
        c_heap: d.c_heap,
        clear_caches: d.clear_caches,
        thread_grace_seconds: d.thread_grace_seconds,
        ..CheckSettings::default()
    }
}

/// How the live-objects hook is named in messages: `pkg.counts()`.
pub fn live_name(hook: Option<&str>) -> String {
    hook.map(|h| format!("{}()", h.replacen(':', ".", 1)))
        .unwrap_or_else(|| "the live-objects hook".into())
}

/// Python memory that grew by this many bytes per iteration over all the
/// measured rounds makes a test one the Valgrind stage looks at round by
/// round. (Python memory is exact: a clean test sums to 0.)
pub const SUSPECT_PYTHON_BYTES_PER_ITERATION: f64 = 1.0;
/// The C heap beyond Python's, by the median of its measured rounds: glibc's
/// count moves by a few hundred bytes from round to round with nothing
/// leaking (up to 3.5 bytes per iteration in rounds of 200 in the clean
/// tests of the first project using it), so less cannot be told from noise here.
pub const SUSPECT_C_HEAP_BYTES_PER_ITERATION: f64 = 4.0;

/// Whether a check's Python memory or C heap grew enough, over its measured
/// rounds (screen and confirmation), for the Valgrind stage to look at it
/// round by round; or could not be measured.
pub fn grew(line: &ResultLine) -> bool {
    let measured: Vec<&RoundLine> = line
        .round_log
        .iter()
        .filter(|r| r.phase != "warmup")
        .collect();
    let iterations: u32 = measured.iter().map(|r| r.iterations).sum();
    if measured.is_empty() || iterations == 0 {
        return true;
    }
    let python: Option<i64> = measured.iter().map(|r| r.python_bytes).sum();
    let python_grew = python
        .is_none_or(|g| g as f64 / f64::from(iterations) >= SUSPECT_PYTHON_BYTES_PER_ITERATION);
    let mut c_rates: Vec<f64> = match measured
        .iter()
        .map(|r| Some(r.c_heap_beyond_python_bytes? as f64 / f64::from(r.iterations.max(1))))
        .collect::<Option<Vec<f64>>>()
    {
        Some(v) => v,
        None => return python_grew || line.c_heap_mode != crate::protocol::CHeapMode::Off,
    };
    c_rates.sort_by(f64::total_cmp);
    let median = (c_rates[(c_rates.len() - 1) / 2] + c_rates[c_rates.len() / 2]) / 2.0;
    python_grew || median >= SUSPECT_C_HEAP_BYTES_PER_ITERATION
}

/// Runs the stage: the tests split over `jobs` processes (a test's
/// measurements are its own process's: they do not disturb each other).
/// Returns the report and what the Valgrind stage needs to know.
pub fn run(ctx: &StageCtx<'_>, check: CheckSettings) -> Result<(StageReport, FastFacts)> {
    let step = Step::start(&ctx.title);
    let out = &ctx.out;
    crate::files::create_dir(out)?;
    let live = ctx.project.description.live_objects.clone();
    let n = ctx.jobs.clamp(1, ctx.tests.len().max(1));
    let mut jobs = Vec::new();
    let mut parts: Vec<(std::path::PathBuf, usize)> = Vec::new();
    for i in 0..n {
        let events = out.join(format!("events-{i}.jsonl"));
        let _ = std::fs::remove_file(&events);
        let mut run = RunDescription::new(StageName::Tracemalloc, events.clone(), check.clone());
        run.live_objects = live.clone();
        // Every n-th test, in the runner's order: equal shares without durations.
        run.tests = ctx
            .tests
            .iter()
            .skip(i)
            .step_by(n)
            .map(|t| t.id.clone())
            .collect();
        let command = ctx.runner_command(&run, &out.join(format!("run-{i}.json")))?;
        parts.push((events, run.tests.len()));
        jobs.push(Job {
            label: format!("tracemalloc {i}"),
            command,
            log: out.join(format!("log-{i}.txt")),
            echo: false,
        });
    }
    let logs: Vec<std::path::PathBuf> = jobs.iter().map(|j| j.log.clone()).collect();
    let pool = run_pool(jobs, n, |i, _| {
        let (events, total) = &parts[i];
        Events::read(events)
            .map(|e| e.progress(*total))
            .unwrap_or_default()
    })?;
    let mut events = Events::default();
    for ((path, _), (status, log)) in parts.iter().zip(pool.statuses.iter().zip(&logs)) {
        let ev = Events::read(path)?;
        if !pool.interrupted {
            if let Some(test) = ev.unfinished() {
                return Err(harness!(
                    "the fast stage stopped in {test} ({}); see {}",
                    describe_status(*status),
                    log.display()
                ));
            }
            if ev.session.is_none()
                || (!status.success()
                    && ev.results.is_empty()
                    && ev.ended.iter().all(|e| e.outcome != Outcome::Failed))
            {
                return Err(harness!(
                    "the fast stage could not run the tests ({}): {}see {}",
                    describe_status(*status),
                    crate::plan::tail(&crate::files::read(log).unwrap_or_default(), 15),
                    log.display()
                ));
            }
        }
        events.absorb(ev);
    }
    let live_name = live_name(live.as_deref());
    let mut report = StageReport::new(StageName::Tracemalloc);
    let confirm = events
        .results
        .iter()
        .find(|(r, _)| r.confirmed)
        .map(|(r, _)| {
            format!(
                "; suspicious tests confirmed with {} x {}",
                r.confirm_rounds, r.confirm_iterations
            )
        })
        .unwrap_or_default();
    let fewer = events
        .results
        .iter()
        .filter(|(r, _)| r.iterations < check.iterations)
        .count();
    report.iterations = format!(
        "{} iterations x {} rounds after warm-up{confirm}{}",
        check.iterations,
        check.rounds,
        if fewer > 0 {
            format!(
                " ({fewer} slow test(s) with fewer iterations per round, at least {})",
                check.min_iterations
            )
        } else {
            String::new()
        }
    );
    report.tests = events.begun.len().max(events.results.len());
    report.gil_enabled = events.session.as_ref().map(|s| s.gil_enabled);
    report.processes = n;
    for ((path, _), log) in parts.iter().zip(&logs) {
        report.artifacts.push(rel(&ctx.project.root, log));
        report.artifacts.push(rel(&ctx.project.root, path));
    }
    let mut facts = FastFacts::default();
    for e in &events.ended {
        facts.durations.insert(e.test.clone(), e.seconds);
    }
    for (line, _) in &events.results {
        if grew(line) {
            facts
                .grew
                .insert(line.test.clone().unwrap_or_else(|| line.name.clone()));
        }
    }
    for (line, raw) in &events.results {
        let c = Check {
            line,
            test: ctx.short(&line.name).to_owned(),
            live: &live_name,
        };
        let findings = c.findings(&ctx.project.root);
        match &line.not_a_leak_test {
            Some(why) if !findings.is_empty() => report.notes.push(Finding {
                test: Some(c.test.clone()),
                detail: findings
                    .iter()
                    .map(Finding::line)
                    .collect::<Vec<_>>()
                    .join("\n"),
                ..Finding::new(Rule::NotALeakTest, format!("not a leak test: it {why}"))
            }),
            _ => report.findings.extend(findings),
        }
        report.curves.extend(c.curves());
        report.per_test.push(raw.clone());
    }
    for e in &events.ended {
        match e.outcome {
            Outcome::Failed => report.findings.push(Finding {
                test: Some(ctx.short(&e.test).to_owned()),
                detail: format!("{} (logs: {})", e.message, rel(&ctx.project.root, out)),
                ..Finding::new(Rule::TestsFailed, "the test itself failed")
            }),
            Outcome::NotJudged => report.notes.push(Finding {
                test: Some(ctx.short(&e.test).to_owned()),
                ..Finding::new(
                    Rule::NotALeakTest,
                    format!("not a leak test: {}", e.message),
                )
            }),
            _ => {}
        }
    }
    if pool.interrupted {
        report.incomplete = Some("interrupted".into());
    }
    report.conclude();
    report.normalized = normalize(&report.findings, &live_name);
    report.seconds = step.done().as_secs_f64();
    Ok((report, facts))
}

/// The snapshot text: `test: what (at place)` per finding, sorted.
fn normalize(findings: &[Finding], live: &str) -> String {
    if findings.is_empty() {
        return format!("no leaks: Python memory and {live} stay flat in every test\n");
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
