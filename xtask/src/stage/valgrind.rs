//! Stage 2: the memory tests under memcheck, sharded over `--jobs`
//! processes. Each test runs a warm-up and measured rounds of doubling
//! length, with a leak search after each (a checkpoint): growth is judged
//! inside the run, by allocation site, so memory that exit frees and
//! buffers that grow in place count. xtask runs the processes and collects
//! the XML; `vgxml-judge` judges it against "our code" (the extension
//! module, `cpp/`, `crates/`).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};
use vgxml_judge::{
    judge_input, supp, Category, Input, Issue, Judgement, Markers, Policy, Rule as JudgeRule,
    RunInfo,
};
use vgxml_parse::{LeakKind, Report, Summary};

use super::StageCtx;
use crate::{
    memcheck::{valgrind_args, ValgrindOptions},
    ours,
    paths::{files_with_prefix, fresh_dir, rel, write_file},
    pool::{cores, describe_status, run_pool, Job},
    report::{Curve, Finding, Rule, StageName, StageReport, Trend},
    step::Step,
    unittest::{self, list_cases, native_memory_env, shard_cases, short_name},
};

/// Iterations of the warm-up and of the first measured round (the next
/// rounds double).
pub const VALGRIND_ITERATIONS: u32 = 5;
/// Measured rounds: checkpoints after the warm-up and after each round.
pub const VALGRIND_ROUNDS: u32 = 3;

/// The prefixes of the markers `python/tests/memory_test.py` writes
/// (`sluice._native._valgrind_marker`): before each test, and before each
/// checkpoint's leak search. The harness's protocol, told to the judge.
pub const TEST_MARKER_PREFIX: &str = "sluice-test-begin:";
pub const CHECKPOINT_PREFIX: &str = "sluice-checkpoint:";

/// One Valgrind process: a shard of the tests.
struct Run {
    shard: usize,
    tests: Vec<String>,
    xml_prefix: String,
}

/// The stage. `durations` (seconds per test, from the tracemalloc stage)
/// balance the shards.
pub fn run(
    ctx: &StageCtx<'_>,
    opts: &ValgrindOptions,
    durations: &BTreeMap<String, f64>,
) -> Result<StageReport> {
    let step = Step::start(&ctx.title);
    let (root, venv, out) = (ctx.root, ctx.venv, ctx.out.as_path());
    let real = venv.real_python()?;
    println!(
        "python under Valgrind: {} -> {} (ELF)",
        venv.python.display(),
        real.display()
    );
    fresh_dir(out)?;

    let cases = list_cases(venv, root, ctx.suite, &ctx.select.patterns)?;
    let tests: Vec<String> = cases.iter().map(|c| c.id.clone()).collect();
    if tests.is_empty() {
        bail!(
            "no test of {} matches {:?}",
            ctx.suite.id(),
            ctx.select.patterns
        );
    }
    let jobs = ctx.select.jobs.unwrap_or_else(cores).max(1);
    let shards = if opts.isolate {
        tests.iter().map(|t| vec![t.clone()]).collect()
    } else {
        shard_cases(&cases, jobs, durations)
    };
    let n = ctx.select.iterations.unwrap_or(VALGRIND_ITERATIONS).max(1);
    let runs: Vec<Run> = shards
        .iter()
        .enumerate()
        .map(|(i, t)| Run {
            shard: i,
            tests: t.clone(),
            xml_prefix: format!("shard-{i}-"),
        })
        .collect();
    println!(
        "{} tests in {} shard(s): {} Valgrind processes, {jobs} at a time; per test a warm-up of {n} iterations, then {VALGRIND_ROUNDS} rounds of {n}, {}, {} ... with a leak search after each",
        tests.len(),
        shards.len(),
        runs.len(),
        2 * n,
        4 * n
    );
    let base_args = valgrind_args(root, opts)?;
    let pool: Vec<Job> = runs
        .iter()
        .map(|r| {
            let mut c = Command::new("valgrind");
            c.current_dir(root.join("python/tests"))
                .args(&base_args)
                .arg(format!(
                    "--xml-file={}/{}%p.xml",
                    out.display(),
                    r.xml_prefix
                ))
                .arg(&venv.python)
                .args(["-m", "unittest", "-v"])
                .args(&r.tests)
                .env("SLUICE_MEMTEST_ITERATIONS", n.to_string())
                .env("SLUICE_MEMTEST_ROUNDS", VALGRIND_ROUNDS.to_string())
                .env("SLUICE_MEMTEST_ROUND_GROWTH", "2")
                .env("SLUICE_MEMTEST_WARMUP", "1");
            native_memory_env(&mut c);
            Job {
                label: format!("shard {}", r.shard),
                command: c,
                log: out.join(format!("shard-{}.log", r.shard)),
            }
        })
        .collect();
    let logs: Vec<_> = pool.iter().map(|j| j.log.clone()).collect();
    let statuses = run_pool(pool, jobs, |i, job| {
        let r = &runs[i];
        format!(
            "shard {}: {}/{} tests",
            r.shard,
            unittest::Log::read(&job.log).tests_done(),
            r.tests.len()
        )
    })?;

    // Read every XML; an incomplete one is a harness failure, never "clean".
    let mut report = StageReport::new(StageName::Valgrind);
    report.tests = tests.len();
    report.processes = runs.len();
    report.iterations = format!(
        "warm-up {n}, then {VALGRIND_ROUNDS} rounds of {n}, {}, {} iterations, a leak search after each",
        2 * n,
        4 * n
    );
    let mut reports = Vec::new();
    let mut infos = Vec::new();
    for ((r, status), log) in runs.iter().zip(&statuses).zip(&logs) {
        let xmls = files_with_prefix(out, &r.xml_prefix, ".xml")?;
        if xmls.is_empty() {
            bail!(
                "Valgrind wrote no XML for {} ({}); see {}",
                r.xml_prefix,
                describe_status(*status),
                log.display()
            );
        }
        for x in &xmls {
            let rep =
                vgxml_parse::read_path(x).with_context(|| format!("reading {}", x.display()))?;
            if !rep.complete || !rep.finished {
                bail!(
                    "{} is incomplete or never reached FINISHED (Valgrind or Python died, or Valgrind refused its arguments: {}); an incomplete report is never taken as clean. See {}",
                    x.display(),
                    describe_status(*status),
                    log.display()
                );
            }
            report.artifacts.push(rel(root, x));
            reports.push(rep);
            infos.push(RunInfo {
                test: opts.isolate.then(|| short_name(&r.tests[0]).to_owned()),
            });
        }
        report.artifacts.push(rel(root, log));
        if !status.success() {
            let log_path = log;
            let log = unittest::Log::read(log);
            let failed = log.failed_tests();
            report.findings.push(Finding {
                test: (!failed.is_empty()).then(|| failed.join(", ")),
                detail: format!("{} (log: {})", log.failure_lines(), log_path.display()),
                ..Finding::new(
                    Rule::TestsFailed,
                    format!(
                        "tests failed under Valgrind (shard {}, {})",
                        r.shard,
                        describe_status(*status)
                    ),
                )
            });
        }
    }

    let policy = policy(root);
    let judgement = judge_input(
        &Input {
            reports: &reports,
            runs: infos,
        },
        &policy,
    );
    for i in &judgement.issues {
        if i.failing {
            report.findings.push(finding(i));
        } else {
            report.notes.push(finding(i));
        }
    }
    if opts.gen_suppressions {
        let cand = root.join("target/memtest/candidates.supp");
        write_file(&cand, &candidates(&reports))?;
        println!(
            "candidate suppressions (review before copying into suppressions/): {}",
            cand.display()
        );
    }
    write_html(root, out, &reports, &policy, &mut report)?;
    let unused_suppressions = warn_unused_suppressions(root, out, opts, &reports, &mut report)?;
    report.curves = curves(&judgement);
    report.valgrind = Some(valgrind_json(
        &reports,
        &policy,
        &judgement,
        unused_suppressions,
    ));
    report.conclude();
    report.normalized = normalize(&report.findings);
    report.seconds = step.done().as_secs_f64();
    Ok(report)
}

/// The verdict: memory errors in our code, definitely/indirectly lost blocks
/// in our code (but one-time allocations: as large at the end as before the
/// first test, or made by the module's init), and every allocation site of ours that grows
/// in every measured round of a test, whatever its kind.
pub fn policy(root: &Path) -> Policy {
    let mut p = ours::policy(root);
    p.fail_on = [Category::Definite, Category::Indirect, Category::Errors]
        .into_iter()
        .collect();
    p.growth_on = Category::ALL.into_iter().collect();
    p.markers = Markers {
        test_prefix: Some(TEST_MARKER_PREFIX.to_string()),
        checkpoint_prefix: Some(CHECKPOINT_PREFIX.to_string()),
    };
    p.one_time_before_tests = true;
    p
}

/// A judged issue as the summary and the snapshot show it.
fn finding(i: &Issue) -> Finding {
    let label = i.kind.leak_kind().map(LeakKind::label).unwrap_or("lost");
    let (rule, what) = match i.rule {
        JudgeRule::MemoryError => (
            Rule::MemoryError,
            format!("{} ({})", i.kind, without_fd_number(&i.what)),
        ),
        JudgeRule::Leak => (Rule::Lost, label.to_string()),
        JudgeRule::Growth => (
            Rule::Growth,
            format!("{label}, grows in every measured round"),
        ),
        JudgeRule::OneTimeBeforeTests => (
            Rule::OneTime,
            format!("{label} once, before the first test (not failing)"),
        ),
        JudgeRule::OneTimeFunction => (
            Rule::OneTime,
            format!("{label} once, by the module's init (not failing)"),
        ),
    };
    let mut detail = String::new();
    if let Some(g) = &i.growth {
        let curve: Vec<String> = g
            .points
            .iter()
            .map(|p| format!("{} B in {} blocks", p.bytes, p.blocks))
            .collect();
        detail += &format!(
            "per checkpoint (after the warm-up, then each round): {}\n",
            curve.join(", ")
        );
    }
    detail += &i.rendered;
    Finding {
        test: i.test.as_deref().map(|t| short_name(t).to_owned()),
        location: i.place.as_ref().map(ToString::to_string),
        chain: i.chain.clone(),
        origin: i.origin.clone(),
        bytes: i.bytes,
        blocks: i.blocks,
        detail,
        growth: i.growth.clone(),
        ..Finding::new(rule, what)
    }
}

/// `Open file descriptor 27: /path` as `Open file descriptor: /path`: which
/// number the process got is not what leaked (it is in the detail), and the
/// message must be the same in every run.
fn without_fd_number(what: &str) -> String {
    const AT: &str = "file descriptor ";
    match what.find(AT) {
        Some(i) => {
            let rest = &what[i + AT.len()..];
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return what.to_owned();
            }
            format!("{}file descriptor{}", &what[..i], &rest[digits..])
        }
        None => what.to_owned(),
    }
}

/// The snapshot text: `test: what at place` per finding, sorted.
fn normalize(findings: &[Finding]) -> String {
    if findings.is_empty() {
        return "no leaks or memory errors in our code (extension module, cpp/, crates/)\n".into();
    }
    let mut lines: Vec<String> = findings
        .iter()
        .map(|f| {
            let test = f
                .test
                .as_deref()
                .map(|t| format!("{t}: "))
                .unwrap_or_default();
            format!(
                "{test}{} at {}",
                f.what,
                f.location.as_deref().unwrap_or("?")
            )
        })
        .collect();
    lines.sort();
    lines.dedup();
    lines.join("\n") + "\n"
}

/// Per test: what all our allocation sites held at each checkpoint, bytes
/// and blocks.
fn curves(j: &Judgement) -> Vec<Curve> {
    let mut out = Vec::new();
    for c in &j.curves {
        let labels: Vec<String> = c
            .points
            .iter()
            .map(|p| match p.round {
                0 => "warm-up".to_owned(),
                n => format!("round {n}"),
            })
            .collect();
        let trend = if vgxml_judge::grows(&c.points) {
            Trend::Grows
        } else {
            Trend::Bounded
        };
        let test = short_name(&c.test).to_owned();
        out.push(Curve {
            test: test.clone(),
            metric: "our bytes (Valgrind checkpoints)".into(),
            labels: labels.clone(),
            values: c.points.iter().map(|p| p.bytes as i64).collect(),
            trend,
            span_at_least: 0,
            decides: None,
        });
        out.push(Curve {
            test,
            metric: "our blocks (Valgrind checkpoints)".into(),
            labels,
            values: c.points.iter().map(|p| p.blocks as i64).collect(),
            trend,
            span_at_least: 0,
            decides: None,
        });
    }
    out
}

/// Totals of the end-of-run loss records per kind: all, ours, and the rest
/// (the interpreter and third-party code), and what was suppressed.
fn valgrind_json(
    reports: &[Report],
    policy: &Policy,
    judgement: &Judgement,
    unused: usize,
) -> serde_json::Value {
    let summary = Summary::from_reports(reports);
    let mut ours: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for r in reports {
        for e in r.final_leaks().filter(|e| policy.ours.matches_record(e)) {
            if let Some(k) = e.leak_kind() {
                let slot = ours.entry(k.key()).or_default();
                slot.0 += e.direct_bytes().unwrap_or(0);
                slot.1 += e.leaked_blocks.unwrap_or(0);
            }
        }
    }
    let ours: serde_json::Map<String, serde_json::Value> = LeakKind::ALL
        .iter()
        .map(|k| {
            let (bytes, blocks) = ours.get(k.key()).copied().unwrap_or_default();
            (
                k.key().to_owned(),
                serde_json::json!({ "bytes": bytes, "blocks": blocks }),
            )
        })
        .collect();
    serde_json::json!({
        // "Using Valgrind-3.19.0 and LibVEX; rerun with -h for copyright info"
        "version": reports.first().and_then(|r| {
            r.preamble
                .iter()
                .find_map(|l| l.split_whitespace().find(|w| w.starts_with("Valgrind-")))
                .map(|w| w.trim_start_matches("Valgrind-").to_owned())
        }),
        "leaks_ours": ours,
        "leaks_all_code": summary.leaks,
        "errors_all_code": summary.errors,
        "suppressed": summary.suppressed.by_name.values().sum::<u64>(),
        "diagnostics": summary.diagnostics,
        "notes": judgement.notes,
        "curves": judgement.curves,
        "unused_suppressions": unused,
    })
}

/// `report.html` beside the XML: one self-contained page (vgxml's renderer)
/// with records grouped by fingerprint and our frames highlighted.
fn write_html(
    root: &Path,
    out: &Path,
    reports: &[Report],
    policy: &Policy,
    report: &mut StageReport,
) -> Result<()> {
    let html = out.join("report.html");
    write_file(&html, &vgxml_judge::html::render(reports, policy))?;
    report.artifacts.push(rel(root, &html));
    Ok(())
}

/// Suppressions rot: an entry that matched nothing in any run hides nothing
/// today and may hide a real leak tomorrow. Warn (never fail: which
/// interpreter entries match depends on the tests selected), and list them
/// all in `unused-suppressions.txt`. Only the files Valgrind was given count
/// (python.supp's section for this CPython, not the other versions').
fn warn_unused_suppressions(
    root: &Path,
    out: &Path,
    opts: &ValgrindOptions,
    reports: &[Report],
    report: &mut StageReport,
) -> Result<usize> {
    let files = crate::memcheck::given_suppressions(root, opts)?;
    let entries = supp::parse_files(&files).context("reading suppressions/")?;
    let unused = supp::unused(&entries, reports);
    let list = out.join("unused-suppressions.txt");
    let mut text = String::new();
    let mut per_file: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for e in &entries {
        per_file.entry(rel(root, &e.file)).or_default().1 += 1;
    }
    for e in &unused {
        per_file.entry(rel(root, &e.file)).or_default().0 += 1;
        text += &format!("{}:{}: {}\n", rel(root, &e.file), e.line, e.name);
    }
    write_file(&list, &text)?;
    for (file, (unused, total)) in &per_file {
        if *unused > 0 {
            println!("warning: {unused} of {total} suppressions in {file} matched nothing in this run (list: {})", rel(root, &list));
        }
    }
    // Our own file is small and every entry in it must earn its place: name them.
    for e in unused.iter().filter(|e| e.file.ends_with("sluice.supp")) {
        println!(
            "warning: unused suppression {} at {}:{}",
            e.name,
            rel(root, &e.file),
            e.line
        );
    }
    report.artifacts.push(rel(root, &list));
    Ok(unused.len())
}

/// The generated suppressions of every record, once each, for review.
fn candidates(reports: &[Report]) -> String {
    let mut out = String::from(
        "# Candidate suppressions written by `cargo xtask valgrind --gen-suppressions`.\n\
         # Review each one; never copy an entry whose frames reach sluice code.\n\n",
    );
    for (e, s) in supp::generated(reports) {
        if let Some(e) = e {
            out.push_str(&format!(
                "# {}: {}\n",
                e.kind,
                vgxml_judge::normalize_text(&e.what)
            ));
        }
        out.push_str(s.rawtext.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn fd_messages_without_the_number() {
        assert_eq!(
            super::without_fd_number("Open file descriptor 27: /proc/self/statm"),
            "Open file descriptor: /proc/self/statm"
        );
        assert_eq!(
            super::without_fd_number("Invalid read of size 4"),
            "Invalid read of size 4"
        );
    }
}
