//! The command line (clap, a struct per subcommand, each flag declared once)
//! and what each subcommand asks of the engine.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use memtest_engine::{
    build, config,
    plan::{self, Shard},
    platform::Platform,
    report::{summary, StageName},
    run::{run as run_engine, Options},
    suppressions, Project,
};

/// Leak-test a project's Python bindings: build it with debug information
/// into a venv of its own, then run its tests in-process under tracemalloc
/// (the fast stage: Python memory, the C heap, descriptors, threads) and
/// under Valgrind memcheck (every allocation, a leak search after each
/// round of each test), and report what leaks, where: file and line of the
/// project's own code.
///
/// Run it from the project's root (the directory of its pyproject.toml); it
/// reads [tool.memtest] there (`memtest config --reference` lists every key).
/// Writes the terminal summary and, in the output directory (.memtest/),
/// report.json, report.html (the page to read), report.sarif,
/// report.junit.xml; on GitHub Actions also annotations and the job summary.
///
/// Exit codes: 0 clean; 1 a leak, a memory error or a failing test was
/// found; 2 memtest could not run (a bad key in [tool.memtest], a missing
/// tool, a build that failed) or was interrupted (Ctrl-C: it still writes
/// what it found, marked incomplete).
#[derive(Debug, Parser)]
#[command(
    name = "memtest",
    version,
    about,
    long_about,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    cmd: Option<Cmd>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Build, run the stages, report (what `memtest` alone does).
    Run(RunArgs),
    /// List the tests a run would select (id and what their marks ask).
    List(ListArgs),
    /// The configuration: the reference of every [tool.memtest] key, or the
    /// project's description as memtest reads it.
    Config(ConfigArgs),
    /// Write this interpreter's Valgrind suppressions section (an
    /// interpreter-only run of the test runner), to commit into a
    /// per-version file ([tool.memtest.suppressions] python).
    Suppressions(SuppressionsArgs),
}

/// Where the project is and which interpreter runs it.
#[derive(Debug, Clone, Args)]
struct Where {
    /// The project's root (its pyproject.toml).
    #[arg(short = 'C', long = "project", value_name = "DIR", default_value = ".")]
    project: PathBuf,
    /// Use this environment's interpreter as it is (the project already
    /// installed in it, e.g. by `pip install -e .`): no venv, no build.
    #[arg(long, value_name = "PYTHON", conflicts_with_all = ["python", "no_build"])]
    env: Option<PathBuf>,
    /// The interpreter memtest's venv is made from (default: [tool.memtest.build] python).
    #[arg(long, value_name = "PYTHON")]
    python: Option<String>,
    /// Do not rebuild: run with the venv as the last run left it.
    #[arg(long)]
    no_build: bool,
    /// The output directory instead of [tool.memtest] output.
    #[arg(long, value_name = "DIR")]
    output: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum StageArg {
    /// In-process: tracemalloc, the C heap, descriptors, threads, live objects (seconds).
    Tracemalloc,
    /// Valgrind memcheck: every allocation, a leak search after each round (minutes).
    Valgrind,
    /// LeakSanitizer preloaded into the interpreter: unreachable native blocks at exit.
    Lsan,
}

impl From<StageArg> for StageName {
    fn from(s: StageArg) -> StageName {
        match s {
            StageArg::Tracemalloc => StageName::Tracemalloc,
            StageArg::Valgrind => StageName::Valgrind,
            StageArg::Lsan => StageName::Lsan,
        }
    }
}

/// Which tests.
#[derive(Debug, Clone, Args)]
struct Select {
    /// Only tests matching PATTERN: a pytest -k expression, or for unittest a
    /// name pattern (substring, or fnmatch with `*`). Repeatable.
    #[arg(short = 'k', value_name = "PATTERN")]
    patterns: Vec<String>,
    /// Only shard I of N (1-based): tests are split by a hash of their id, the
    /// same on every machine, and a test keeps its shard as others are added.
    /// Merge the shards' reports with `memtest merge`.
    #[arg(long, value_name = "I/N")]
    shard: Option<Shard>,
}

#[derive(Debug, Clone, Args)]
struct RunArgs {
    /// What to run instead of [tool.memtest] tests: pytest paths or node ids,
    /// unittest dotted names.
    #[arg(value_name = "TESTS")]
    tests: Vec<String>,
    #[command(flatten)]
    at: Where,
    #[command(flatten)]
    select: Select,
    /// Run this stage only (repeatable; default: [tool.memtest] stages).
    #[arg(long, value_enum, value_name = "STAGE")]
    stage: Vec<StageArg>,
    /// Valgrind processes at a time (default: the number of cores).
    #[arg(short = 'j', long, value_name = "N")]
    jobs: Option<usize>,
    /// Iterations per round for every stage instead of the configured ones.
    #[arg(long, value_name = "N")]
    iterations: Option<u32>,
    /// Valgrind: where uninitialised values were created (--track-origins=yes; slower).
    #[arg(long)]
    track_origins: bool,
    /// Valgrind: no screen, every test runs the confirmation rounds.
    #[arg(long)]
    no_screen: bool,
    /// Valgrind: write candidate suppressions of everything reported to
    /// valgrind/candidates.supp, for review.
    #[arg(long)]
    gen_suppressions: bool,
    /// Arguments passed to Valgrind as they are (after `--`).
    #[arg(last = true, value_name = "VALGRIND_ARGS")]
    valgrind_args: Vec<String>,
}

#[derive(Debug, Args)]
struct ListArgs {
    #[command(flatten)]
    at: Where,
    #[command(flatten)]
    select: Select,
}

#[derive(Debug, Args)]
struct ConfigArgs {
    /// Print the reference of every key (Markdown), not the project's description.
    #[arg(long)]
    reference: bool,
    /// The project's root.
    #[arg(short = 'C', long = "project", value_name = "DIR", default_value = ".")]
    project: PathBuf,
}

#[derive(Debug, Args)]
struct SuppressionsArgs {
    #[command(flatten)]
    at: Where,
    /// Write the section into this per-version file (replacing this
    /// interpreter's section, or appending one) instead of printing it.
    #[arg(long, value_name = "FILE")]
    write: Option<PathBuf>,
}

pub fn run(cli: Cli) -> Result<u8> {
    match cli.cmd {
        None => run_tests(cli.run),
        Some(Cmd::Run(a)) => run_tests(a),
        Some(Cmd::List(a)) => list(a),
        Some(Cmd::Config(a)) => show_config(a),
        Some(Cmd::Suppressions(a)) => write_suppressions(a),
    }
}

/// The project at `at`, with the command line's overrides.
fn project(at: &Where) -> Result<Project> {
    let mut p = Project::load(&at.project)?;
    if let Some(py) = &at.python {
        p.description.build.python = py.clone();
    }
    if let Some(out) = &at.output {
        p.description.output = out.clone();
        p = Project::new(p.root, p.description);
    }
    Ok(p)
}

/// The interpreter the tests run with: the one given, or memtest's venv
/// (built now unless asked not to).
fn interpreter(project: &Project, at: &Where) -> Result<PathBuf> {
    if let Some(env) = &at.env {
        return Ok(build::existing(project, env)?);
    }
    if at.no_build {
        let python = project.out.join("venv/bin/python");
        anyhow::ensure!(
            python.exists(),
            "--no-build: there is no venv at {} yet; run without --no-build once",
            python.display()
        );
        return Ok(python);
    }
    Ok(build::build(project)?)
}

fn run_tests(a: RunArgs) -> Result<u8> {
    let mut project = project(&a.at)?;
    if !a.tests.is_empty() {
        project.description.tests = a.tests.clone();
    }
    let stages: Vec<StageName> = a.stage.iter().map(|s| (*s).into()).collect();
    let wanted = if stages.is_empty() {
        &project.description.stages
    } else {
        &stages
    };
    let needs_valgrind = wanted.contains(&StageName::Valgrind);
    // Valgrind missing is said before minutes of building.
    if needs_valgrind {
        memtest_engine::platform::Valgrind::probe()?;
    }
    let python = interpreter(&project, &a.at)?;
    let platform = Platform::probe(&python, needs_valgrind)?;
    let options = Options {
        stages,
        patterns: a.select.patterns,
        shard: a.select.shard,
        jobs: a.jobs,
        iterations: a.iterations,
        track_origins: a.track_origins,
        track_fds: None,
        gen_suppressions: a.gen_suppressions,
        valgrind_args: a.valgrind_args,
        isolate: false,
        screen: a.no_screen.then_some(false),
    };
    let outcome = run_engine(&project, platform, &options);
    let report = outcome.report();
    let outputs = report
        .write(&project.root, &project.out)
        .context("writing the reports")?;
    summary::print(&report, &outputs);
    if let Some(e) = &outcome.error {
        eprintln!("\nmemtest: {}: {e}", report.verdict.headline());
    }
    Ok(report.exit_code)
}

fn list(a: ListArgs) -> Result<u8> {
    let project = project(&a.at)?;
    let python = interpreter(&project, &a.at)?;
    memtest_engine::files::create_dir(&project.out)?;
    memtest_engine::python_half::write_to(&project.python_dir())?;
    let mut tests = plan::list(&project, &python, &a.select.patterns, &project.out)?;
    if let Some(s) = a.select.shard {
        tests.retain(|t| s.has(&t.id));
    }
    for t in &tests {
        let mut marks = Vec::new();
        if t.own_process {
            marks.push("own process".to_owned());
        }
        if let Some(n) = t.iterations {
            marks.push(format!("{n} iterations"));
        }
        if let Some(why) = &t.skip {
            marks.push(format!("not judged: {why}"));
        }
        if marks.is_empty() {
            println!("{}", t.id);
        } else {
            println!("{}  ({})", t.id, marks.join("; "));
        }
    }
    eprintln!("{} test(s)", tests.len());
    Ok(0)
}

fn show_config(a: ConfigArgs) -> Result<u8> {
    if a.reference {
        print!("{}", config::reference_markdown());
        return Ok(0);
    }
    let p = Project::load(&a.project)?;
    println!(
        "# [{}] of {} as memtest reads it (defaults filled in)",
        config::TABLE,
        p.root.join("pyproject.toml").display()
    );
    let mut table = toml::Table::new();
    table.insert("memtest".into(), toml::Value::try_from(&p.description)?);
    let mut tool = toml::Table::new();
    tool.insert("tool".into(), toml::Value::Table(table));
    print!("{}", toml::to_string_pretty(&tool)?);
    Ok(0)
}

fn write_suppressions(a: SuppressionsArgs) -> Result<u8> {
    let project = project(&a.at)?;
    let python = interpreter(&project, &a.at)?;
    let platform = Platform::probe(&python, true)?;
    memtest_engine::python_half::write_to(&project.python_dir())?;
    let section = suppressions::generate(
        &platform,
        &suppressions::Workload::Runner(project.description.runner),
        &project.python_dir(),
        &project.out.join("python-supp"),
        "`memtest suppressions`",
    )?;
    match &a.write {
        None => print!("{section}"),
        Some(file) => {
            let old = std::fs::read_to_string(file).unwrap_or_default();
            let new = suppressions::replace_section(&old, &platform.python.minor_label(), &section);
            std::fs::write(file, new).with_context(|| format!("writing {}", file.display()))?;
            eprintln!(
                "wrote the CPython {} section of {}",
                platform.python.minor_label(),
                file.display()
            );
        }
    }
    Ok(0)
}
