//! Stage 2: the tests under memcheck, in processes of their own (`jobs` at
//! a time; a test marked `memtest_own_process` alone). Each test runs a
//! warm-up and measured rounds, with a leak search after each (a
//! checkpoint): growth is judged inside the run, by allocation site, so
//! memory that exit frees and buffers that grow in place count.
//!
//! To keep the stage near the cost of a plain Valgrind run, the fast stage
//! is its screen (`[tool.memtest.valgrind] screen`): a leak search scans the
//! whole heap, a quarter of a second each under Python, so only a test whose
//! Python memory or C heap grew there by a byte per iteration or more gets
//! the rounds with a leak search after each, where an allocation site of
//! ours fails only if it grew in every round at the threshold per
//! iteration; every other test runs once more (a warm-up and one round)
//! with no leak search of its own: its memory errors and the blocks lost at
//! exit are still read. Without the fast stage every test gets the rounds.
//! The engine runs the processes and collects the XML; `vgxml-judge` judges
//! it against our code.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;

use vgxml_judge::{judge_input, Category, Input, Markers, Policy, Rule as JudgeRule, RunInfo};
use vgxml_parse::Report;

mod judged;

use super::memcheck::MemcheckOptions;
use super::StageCtx;
use crate::error::{harness, Result};
use crate::events::Events;
use crate::files;
use crate::plan::native_memory_env;
use crate::process::{describe_status, run_pool, Job};
use crate::protocol::{protocol, CHeapMode, CheckSettings, Outcome, RunDescription, Searches};
use crate::report::{Finding, Rule, StageName, StageReport};
use crate::step::Step;
use judged::{
    candidates, curves, finding, normalize, valgrind_json, warn_unused_suppressions, write_html,
};

/// How the stage runs, from the description and the caller's choices.
#[derive(Debug, Clone)]
pub struct ValgrindOptions {
    pub memcheck: MemcheckOptions,
    /// One process per test (every record then belongs to its test): the
    /// detection matrix attributes what memcheck says to one deliberate defect.
    pub isolate: bool,
    /// Screen first, confirm the suspects (else every test gets the rounds).
    pub screen: bool,
    /// Iterations of the warm-up and the first confirmation round.
    pub iterations: u32,
    pub rounds: u32,
    pub round_growth: u32,
    pub growth_bytes_per_iteration: f64,
    pub fail_on: BTreeSet<Category>,
    pub clear_caches: bool,
}

/// What one phase (the screen, the confirmation, or all rounds) left.
struct Phase {
    reports: Vec<Report>,
    infos: Vec<RunInfo>,
    events: Vec<Events>,
    interrupted: bool,
}

/// The stage.
pub fn run(ctx: &StageCtx<'_>, opts: &ValgrindOptions) -> Result<StageReport> {
    let step = Step::start(&ctx.title);
    let python = ctx.platform.python.for_valgrind()?;
    println!(
        "python under Valgrind: {} -> {} (ELF)",
        python.display(),
        ctx.platform.python.real.display()
    );
    files::fresh_dir(&ctx.out)?;
    if ctx.tests.is_empty() {
        return Err(harness!("no test to run under Valgrind"));
    }
    let n = opts.iterations.max(1);
    let ids: Vec<String> = ctx.tests.iter().map(|t| t.id.clone()).collect();
    let mut phases = Vec::new();
    let mut report = StageReport::new(StageName::Valgrind);
    report.tests = ids.len();
    let full = full_rounds(opts, n);
    // The fast stage is the screen: a test whose memory did not grow there
    // runs once more here (memory errors, blocks lost at exit), without a
    // leak search of its own.
    let screened = if opts.screen {
        ctx.fast.map(|f| &f.grew)
    } else {
        None
    };
    if let Some(grew) = screened {
        let once = CheckSettings {
            rounds: 1,
            ..full.clone()
        };
        let confirm: Vec<String> = ids.iter().filter(|t| grew.contains(*t)).cloned().collect();
        let calm: Vec<String> = ids.iter().filter(|t| !grew.contains(*t)).cloned().collect();
        println!(
            "{} of {} test(s) grew in the fast stage: they get rounds with a leak search after each; the others run once",
            confirm.len(),
            ids.len()
        );
        report.iterations = format!(
            "{} test(s) with warm-up {n} and rounds of {}, a leak search after each; {} once (warm-up {n}, one round of {n})",
            confirm.len(),
            rounds_text(opts, n),
            calm.len()
        );
        phases.push(run_phases(
            ctx,
            opts,
            &[
                PhasePlan {
                    name: "rounds",
                    tests: &confirm,
                    check: full.clone(),
                    searches: Searches::Rounds,
                },
                PhasePlan {
                    name: "once",
                    tests: &calm,
                    check: once,
                    searches: Searches::Process,
                },
            ],
        )?);
    } else {
        report.iterations = format!(
            "warm-up {n}, then {} rounds of {} iterations, a leak search after each",
            opts.rounds,
            rounds_text(opts, n)
        );
        phases.push(run_phases(
            ctx,
            opts,
            &[PhasePlan {
                name: "rounds",
                tests: &ids,
                check: full,
                searches: Searches::Rounds,
            }],
        )?);
    }
    let interrupted = phases.iter().any(|p| p.interrupted);
    let mut reports = Vec::new();
    let mut infos = Vec::new();
    let mut not_leak_tests: BTreeMap<String, String> = BTreeMap::new();
    for p in phases {
        reports.extend(p.reports);
        infos.extend(p.infos);
        for ev in &p.events {
            record_outcomes(ctx, ev, &mut report, &mut not_leak_tests);
            report.gil_enabled = report
                .gil_enabled
                .or(ev.session.as_ref().map(|s| s.gil_enabled));
        }
    }
    report.processes = reports.len();
    let policy = policy(ctx, opts);
    let judgement = judge_input(
        &Input {
            reports: &reports,
            runs: infos,
        },
        &policy,
    );
    for i in &judgement.issues {
        let f = finding(ctx, i);
        let excused = i.rule == JudgeRule::Growth
            && f.test
                .as_ref()
                .and_then(|t| not_leak_tests.get(t))
                .is_some();
        if excused {
            let why = &not_leak_tests[f.test.as_ref().expect("a test")];
            report.notes.push(Finding {
                what: format!("not a leak test: it {why} ({})", f.what),
                rule: Rule::NotALeakTest,
                ..f
            });
        } else if i.failing {
            report.findings.push(f);
        } else {
            report.notes.push(f);
        }
    }
    // A block lost per iteration is at the end of the screen's process too,
    // with no test (the screen has no leak search per test): the confirmation
    // names its test. The same place without a test adds nothing.
    let attributed: BTreeSet<(Rule, String, Option<String>)> = report
        .findings
        .iter()
        .filter(|f| f.test.is_some())
        .map(|f| (f.rule, f.what.clone(), f.location.clone()))
        .collect();
    report.findings.retain(|f| {
        f.test.is_some() || !attributed.contains(&(f.rule, f.what.clone(), f.location.clone()))
    });
    if opts.memcheck.gen_suppressions {
        let cand = ctx.out.join("candidates.supp");
        files::write(&cand, &candidates(&reports))?;
        println!(
            "candidate suppressions (review before copying them into your suppressions): {}",
            cand.display()
        );
    }
    write_html(&ctx.project.root, &ctx.out, &reports, &policy, &mut report)?;
    let unused_suppressions =
        warn_unused_suppressions(ctx, &opts.memcheck.suppressions, &reports, &mut report)?;
    report.curves = curves(ctx, &judgement);
    report.valgrind = Some(valgrind_json(
        &reports,
        &policy,
        &judgement,
        unused_suppressions,
    ));
    report.conclude();
    report.normalized = normalize(&report.findings, &ctx.ours.summary);
    if interrupted {
        report.incomplete = Some("interrupted".into());
    }
    report.seconds = step.done().as_secs_f64();
    Ok(report)
}

/// The confirmation's settings: a warm-up of `n`, then `rounds` rounds of
/// `n`, `n * growth`, ...; measurement off (tracemalloc itself misleads
/// memcheck); live objects, descriptors and threads still checked.
fn full_rounds(opts: &ValgrindOptions, n: u32) -> CheckSettings {
    CheckSettings {
        iterations: n,
        // Fixed counts: the rounds' lengths are what the growth rule reads.
        round_seconds: 0.0,
        rounds: opts.rounds,
        warmup_rounds: 1,
        round_growth: opts.round_growth,
        confirm_rounds: 0,
        tracemalloc: false,
        c_heap: CHeapMode::Off,
        clear_caches: opts.clear_caches,
        ..CheckSettings::default()
    }
}

/// `5, 10, 20`.
fn rounds_text(opts: &ValgrindOptions, n: u32) -> String {
    (0..opts.rounds)
        .map(|k| (u64::from(n) * u64::from(opts.round_growth).pow(k)).to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A set of tests run one way: its processes' file names start with `name`.
struct PhasePlan<'p> {
    name: &'static str,
    tests: &'p [String],
    check: CheckSettings,
    searches: Searches,
}

/// Runs every phase's tests under memcheck, all processes in one pool
/// (`jobs` at a time, the first phase's first): one process per test when
/// isolated, else the balanced processes of the plan.
fn run_phases(
    ctx: &StageCtx<'_>,
    opts: &ValgrindOptions,
    plans: &[PhasePlan<'_>],
) -> Result<Phase> {
    let base_args = opts.memcheck.args();
    let no_durations = BTreeMap::new();
    let durations = ctx.fast.map(|f| &f.durations).unwrap_or(&no_durations);
    let mut jobs = Vec::new();
    let mut runs: Vec<(String, PathBuf, usize)> = Vec::new();
    for plan in plans.iter().filter(|p| !p.tests.is_empty()) {
        let cases: Vec<crate::plan::TestCase> = ctx
            .tests
            .iter()
            .filter(|t| plan.tests.contains(&t.id))
            .cloned()
            .collect();
        // A later phase shares the cores the earlier ones left.
        let free = ctx.jobs.saturating_sub(jobs.len()).max(1);
        let groups: Vec<Vec<String>> = if opts.isolate {
            plan.tests.iter().map(|t| vec![t.clone()]).collect()
        } else {
            crate::plan::processes(&cases, free, durations)
        };
        println!(
            "{}: {} test(s) in {} Valgrind process(es)",
            plan.name,
            plan.tests.len(),
            groups.len()
        );
        for (i, group) in groups.iter().enumerate() {
            let prefix = format!("{}-{i}-", plan.name);
            let events = ctx.out.join(format!("{prefix}events.jsonl"));
            let mut run =
                RunDescription::new(StageName::Valgrind, events.clone(), plan.check.clone());
            run.searches = plan.searches;
            run.live_objects = ctx.project.description.live_objects.clone();
            run.tests = group.clone();
            let runner = ctx.runner_command(&run, &ctx.out.join(format!("{prefix}run.json")))?;
            let mut c = Command::new("valgrind");
            c.args(&base_args)
                .arg(format!("--xml-file={}/{prefix}%p.xml", ctx.out.display()))
                .arg(runner.get_program())
                .args(runner.get_args());
            if let Some(dir) = runner.get_current_dir() {
                c.current_dir(dir);
            }
            for (k, v) in runner.get_envs() {
                match v {
                    Some(v) => c.env(k, v),
                    None => c.env_remove(k),
                };
            }
            native_memory_env(&mut c);
            jobs.push(Job {
                label: format!("{} {i}", plan.name),
                command: c,
                log: ctx.out.join(format!("{prefix}log.txt")),
                echo: false,
            });
            runs.push((prefix, events, group.len()));
        }
    }
    println!(
        "{} Valgrind process(es), {} at a time",
        jobs.len(),
        ctx.jobs.max(1)
    );
    let logs: Vec<PathBuf> = jobs.iter().map(|j| j.log.clone()).collect();
    let labels: Vec<String> = jobs.iter().map(|j| j.label.clone()).collect();
    let pool = run_pool(jobs, ctx.jobs.max(1), |i, _| {
        let (_, events, total) = &runs[i];
        Events::read(events)
            .map(|e| format!("{}: {}", labels[i], e.progress(*total)))
            .unwrap_or_default()
    })?;
    let mut phase = Phase {
        reports: Vec::new(),
        infos: Vec::new(),
        events: Vec::new(),
        interrupted: pool.interrupted,
    };
    for (((prefix, events, _), status), log) in runs.iter().zip(&pool.statuses).zip(&logs) {
        let ev = Events::read(events)?;
        let xmls = files::with_prefix(&ctx.out, prefix, ".xml")?;
        if !pool.interrupted {
            if let Some(t) = ev.unfinished() {
                return Err(harness!(
                    "the Valgrind process stopped in {t} ({}); see {}",
                    describe_status(*status),
                    log.display()
                ));
            }
            if xmls.is_empty() || ev.session.is_none() {
                return Err(harness!(
                    "the Valgrind process of {prefix}* did not run the tests ({}): {}see {}",
                    describe_status(*status),
                    crate::plan::tail(&files::read(log).unwrap_or_default(), 15),
                    log.display()
                ));
            }
        }
        for x in &xmls {
            let rep =
                vgxml_parse::read_path(x).map_err(|e| harness!("reading {}: {e}", x.display()))?;
            if (!rep.complete || !rep.finished) && !pool.interrupted {
                return Err(harness!(
                    "{} is incomplete or never reached FINISHED (Valgrind or Python died, or Valgrind refused its arguments: {}); an incomplete report is never taken as clean. See {}",
                    x.display(),
                    describe_status(*status),
                    log.display()
                ));
            }
            phase.reports.push(rep);
            phase.infos.push(RunInfo {
                test: if opts.isolate {
                    ev.begun.first().map(|b| ctx.short(&b.test).to_owned())
                } else {
                    None
                },
            });
        }
        phase.events.push(ev);
    }
    Ok(phase)
}

/// How each test ended under Valgrind: a test that failed there (its
/// assertions, or its live objects, descriptors or threads) is a finding;
/// what is not a leak test is remembered for its growth.
fn record_outcomes(
    ctx: &StageCtx<'_>,
    ev: &Events,
    report: &mut StageReport,
    not_leak_tests: &mut BTreeMap<String, String>,
) {
    for (line, _) in &ev.results {
        if let Some(why) = &line.not_a_leak_test {
            not_leak_tests.insert(ctx.short(&line.name).to_owned(), why.clone());
        }
    }
    for e in &ev.ended {
        let what = match e.outcome {
            Outcome::Failed => "the test failed under Valgrind",
            Outcome::Leaked => {
                "the test's leak check failed under Valgrind (live objects, descriptors or threads)"
            }
            _ => continue,
        };
        let test = ctx.short(&e.test).to_owned();
        if report
            .findings
            .iter()
            .any(|f| f.rule == Rule::TestsFailed && f.test.as_deref() == Some(&test))
        {
            continue;
        }
        report.findings.push(Finding {
            test: Some(test),
            detail: e.message.clone(),
            ..Finding::new(Rule::TestsFailed, what)
        });
    }
}

/// The verdict: memory errors in our code, lost blocks of the failing kinds
/// in our code (but one-time allocations: as large at the end as before the
/// first test, or made by a function that runs once), and every allocation
/// site of ours that grows in every measured round of a test, at the
/// threshold per iteration, whatever its kind.
pub fn policy(ctx: &StageCtx<'_>, opts: &ValgrindOptions) -> Policy {
    let mut p = ctx.ours.policy(ctx.project);
    p.fail_on = opts.fail_on.clone();
    p.growth_on = Category::ALL.into_iter().collect();
    p.growth_min_bytes_per_iteration = opts.growth_bytes_per_iteration;
    let m = &protocol().markers;
    p.markers = Markers {
        test_prefix: Some(m.test.clone()),
        checkpoint_prefix: Some(m.checkpoint.clone()),
    };
    p.one_time_before_tests = true;
    p
}
