//! A run: the tests listed and selected, the stages in order, what they
//! found. The environment (built or given) and the platform come from the
//! caller; the run never fails as a function: what stopped it is kept in
//! its [`Outcome`], and a stopped run still reports what it has.

use std::time::Instant;

use crate::config::Runner;
use crate::error::{harness, Error, Result};
use crate::files;
use crate::interrupt;
use crate::modules;
use crate::ours::Ours;
use crate::plan::{self, Shard, TestCase};
use crate::platform::Platform;
use crate::process::cores;
use crate::project::Project;
use crate::report::{RunReport, StageName, StageReport, Verdict};
use crate::stage::{
    lsan, memcheck::MemcheckOptions, tracemalloc, valgrind, valgrind::ValgrindOptions, FastFacts,
    StageCtx,
};
use crate::suppressions;

/// What the caller asks of this run, beyond the project's description.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The stages, in order (empty: the description's).
    pub stages: Vec<StageName>,
    /// Only the tests these select (pytest `-k` expressions, unittest name patterns).
    pub patterns: Vec<String>,
    /// Only this shard of the tests.
    pub shard: Option<Shard>,
    /// Processes at a time (default: the description's, else the cores).
    pub jobs: Option<usize>,
    /// Iterations per round for every stage instead of the description's.
    pub iterations: Option<u32>,
    /// `--track-origins=yes` whatever the description says.
    pub track_origins: bool,
    /// `--track-fds=yes` (default: on Valgrind 3.23 and later).
    pub track_fds: Option<bool>,
    /// Write candidate suppressions of everything Valgrind reported.
    pub gen_suppressions: bool,
    /// More arguments for Valgrind.
    pub valgrind_args: Vec<String>,
    /// One Valgrind process per test.
    pub isolate: bool,
    /// Screen before confirming (default: the description's).
    pub screen: Option<bool>,
}

/// What a run did.
pub struct Outcome {
    pub stages: Vec<StageReport>,
    /// Why it stopped, when it did not finish.
    pub error: Option<Error>,
    pub platform: Platform,
    pub seconds: f64,
    pub shard: Option<Shard>,
    /// The tests it selected.
    pub tests: Vec<TestCase>,
    pub runner: Runner,
}

impl Outcome {
    /// Whether the GIL was on while the tests ran, as the first stage's test process said.
    pub fn gil_enabled(&self) -> Option<bool> {
        self.stages.iter().find_map(|s| s.gil_enabled)
    }

    pub fn verdict(&self) -> Verdict {
        Verdict::of_run(&self.stages, self.error.as_ref())
    }

    /// The report of the run, as `report.json` and every other output show it.
    pub fn report(&self) -> RunReport {
        let verdict = self.verdict();
        RunReport {
            verdict,
            exit_code: verdict.exit_code(),
            python: self.platform.python.label(),
            platform: self.platform.clone(),
            seconds: self.seconds,
            shard: self.shard.map(|s| s.to_string()),
            error: self.error.as_ref().map(|e| format!("{e}")),
            tests: self
                .tests
                .iter()
                .map(|t| crate::plan::short_name(self.runner, &t.id).to_owned())
                .collect(),
            stages: self.stages.clone(),
        }
    }
}

/// The artifacts of an earlier run in `out` (not the venv or the cache).
fn clear_artifacts(project: &Project) -> Result<()> {
    files::create_dir(&project.out)?;
    for dir in [
        "tracemalloc",
        "valgrind",
        "lsan",
        "suppressions",
        "python-supp",
    ] {
        let d = project.out.join(dir);
        if d.exists() {
            std::fs::remove_dir_all(&d).map_err(|e| harness!("removing {}: {e}", d.display()))?;
        }
    }
    Ok(())
}

/// Runs `project`'s tests with the interpreter `platform` describes (the
/// project installed in its environment).
pub fn run(project: &Project, platform: Platform, options: &Options) -> Outcome {
    interrupt::install();
    let start = Instant::now();
    let mut stages = Vec::new();
    let mut tests = Vec::new();
    let error = stages_of(project, &platform, options, &mut stages, &mut tests).err();
    let error = match error {
        None if interrupt::requested() || stages.iter().any(|s| s.incomplete.is_some()) => {
            Some(Error::Interrupted)
        }
        e => e,
    };
    Outcome {
        stages,
        error,
        platform,
        seconds: start.elapsed().as_secs_f64(),
        shard: options.shard,
        tests,
        runner: project.description.runner,
    }
}

fn stages_of(
    project: &Project,
    platform: &Platform,
    options: &Options,
    stages: &mut Vec<StageReport>,
    selected: &mut Vec<TestCase>,
) -> Result<()> {
    let d = &project.description;
    clear_artifacts(project)?;
    crate::python_half::write_to(&project.python_dir())?;
    let wanted: Vec<StageName> = if options.stages.is_empty() {
        d.stages.clone()
    } else {
        options.stages.clone()
    };
    let mut tests = plan::list(
        project,
        &platform.python.executable,
        &options.patterns,
        &project.out,
    )?;
    if let Some(shard) = options.shard {
        tests.retain(|t| shard.has(&t.id));
    }
    if tests.is_empty() {
        return Err(harness!(
            "no test to run{}{} ({:?} runner, tests {:?}, in {})",
            if options.patterns.is_empty() {
                String::new()
            } else {
                format!(" matches {:?}", options.patterns)
            },
            options
                .shard
                .map(|s| format!(" in shard {s}"))
                .unwrap_or_default(),
            d.runner,
            d.tests,
            project.test_dir().display()
        ));
    }
    println!(
        "{} test(s){}{}",
        tests.len(),
        options
            .shard
            .map(|s| format!(" in shard {s}"))
            .unwrap_or_default(),
        if options.patterns.is_empty() {
            String::new()
        } else {
            format!(" matching {:?}", options.patterns)
        }
    );
    *selected = tests.clone();
    let modules = modules::discover(project, &platform.python.executable)?;
    let ours = Ours::of(project, &modules);
    println!(
        "our code: {} ({}); once per process: {}",
        ours.summary,
        if modules.is_empty() {
            "no extension module found".to_owned()
        } else {
            modules
                .iter()
                .map(|m| m.glob.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        },
        ours.one_time_functions.join(", ")
    );
    let jobs = options
        .jobs
        .unwrap_or(if d.valgrind.jobs > 0 {
            d.valgrind.jobs
        } else {
            cores()
        })
        .max(1);
    let mut fast: Option<FastFacts> = None;
    let n = wanted.len();
    for (i, stage) in wanted.iter().enumerate() {
        if interrupt::requested() {
            break;
        }
        let ctx = StageCtx {
            project,
            platform,
            ours: &ours,
            tests: &tests,
            out: project.out.join(stage.as_str()),
            title: String::new(),
            iterations: options.iterations,
            jobs,
            fast: fast.as_ref(),
        };
        let report = match stage {
            StageName::Tracemalloc => {
                let ctx = StageCtx {
                    title: format!(
                        "stage {}/{n}: tracemalloc ({} tests, each repeated in rounds, {} process(es))",
                        i + 1,
                        tests.len(),
                        jobs.min(tests.len())
                    ),
                    ..ctx
                };
                let (report, facts) = tracemalloc::run(&ctx, tracemalloc::settings(&ctx))?;
                fast = Some(facts);
                report
            }
            StageName::Valgrind => {
                let (given, notes) =
                    suppressions::for_run(project, platform, &modules, &project.out)?;
                for note in notes {
                    println!("note: {note}");
                }
                let opts = valgrind_options(project, platform, options, given)?;
                let ctx = StageCtx {
                    title: format!(
                        "stage {}/{n}: Valgrind memcheck (the same tests, tracemalloc off, a leak search after each round)",
                        i + 1
                    ),
                    ..ctx
                };
                valgrind::run(&ctx, &opts)?
            }
            StageName::Lsan => {
                let ctx = StageCtx {
                    title: format!(
                        "stage {}/{n}: LeakSanitizer (LD_PRELOAD, one process per test)",
                        i + 1
                    ),
                    ..ctx
                };
                let ids: Vec<String> = tests.iter().map(|t| t.id.clone()).collect();
                lsan::run(&ctx, &ids)?.0
            }
        };
        let stop = report.incomplete.is_some();
        stages.push(report);
        if stop {
            break;
        }
    }
    Ok(())
}

/// The Valgrind stage's options: the description's, the caller's choices,
/// and what this Valgrind can do.
pub fn valgrind_options(
    project: &Project,
    platform: &Platform,
    options: &Options,
    suppressions: Vec<std::path::PathBuf>,
) -> Result<ValgrindOptions> {
    let v = &project.description.valgrind;
    let valgrind = platform.valgrind()?;
    Ok(ValgrindOptions {
        memcheck: MemcheckOptions {
            track_origins: options.track_origins || v.track_origins,
            track_fds: options
                .track_fds
                .unwrap_or_else(|| valgrind.reports_fds_in_xml()),
            gen_suppressions: options.gen_suppressions,
            num_callers: v.num_callers,
            extra_args: v
                .args
                .iter()
                .chain(&options.valgrind_args)
                .cloned()
                .collect(),
            suppressions,
        },
        isolate: options.isolate,
        screen: options.screen.unwrap_or(v.screen),
        iterations: options.iterations.unwrap_or(v.iterations),
        rounds: v.rounds,
        round_growth: v.round_growth,
        growth_bytes_per_iteration: v.growth_bytes_per_iteration,
        fail_on: v.fail_on.iter().map(|f| f.category()).collect(),
        clear_caches: project.description.tracemalloc.clear_caches,
    })
}
