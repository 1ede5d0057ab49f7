//! `cargo xtask matrix`: `memtest` once per CPython interpreter.
//!
//! The interpreters are `--python PATH` (repeatable) or, by default, every
//! CPython >= 3.9 found: `python3.X` on PATH, pyenv's versions under
//! `$PYENV_ROOT/versions` (or `~/.pyenv/versions`) and `/usr/bin/python3`,
//! deduplicated by real executable (shims, which are no ELF binaries, are left
//! out: Valgrind would trace the shim). Each gets its own venv and cargo target
//! dir under `target/matrix/<version>/`; a new target dir starts as a copy of
//! `target/maturin-sluice` (the normal wheel's), so only pyo3 and sluice-py are built
//! again for another interpreter. Each run's `target/memtest/` is kept in
//! `target/memtest-matrix/<version>/`. A failing interpreter does not stop the
//! others; the exit code is the worst. The table goes to the terminal and to
//! `target/memtest/matrix.json`, and with `--write-docs` (or `--check-docs`)
//! to (or against) the "Supported platforms" table of docs/memory-testing.md.

mod discover;
mod docs;

use std::{
    path::{Path, PathBuf},
    time::Instant,
};

use anyhow::{Context, Result};
use memtest_engine::{platform::Valgrind, report::Verdict, step::fmt_secs};
use serde::Serialize;
use xshell::{cmd, Shell};

use crate::{
    flags::{MatrixArgs, MemtestArgs, SelectArgs, Stage},
    memtest::{self, StageOutcome, ValgrindChoices},
    outcome::{exit_code, found},
    paths::{rel, write_file},
    venv::{self, Flavor, Layout, Requirements},
};

pub use discover::Interpreter;

/// One interpreter's run.
#[derive(Debug, Serialize)]
pub struct Entry {
    /// `3.10.13`; the directory names under `target/matrix/` and `target/memtest-matrix/`.
    pub key: String,
    pub version: String,
    /// The build as the run saw it: `3.13.15`, or `3.13.15t` for a free-threaded one.
    pub label: String,
    /// Whether the GIL was on while the tests ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gil_enabled: Option<bool>,
    pub executable: PathBuf,
    pub verdict: Verdict,
    pub exit_code: u8,
    pub seconds: f64,
    /// Venv and wheel (build and install) time.
    pub setup_seconds: f64,
    pub stages: Vec<StageOutcome>,
    /// The error when the run did not end clean.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub artifacts: String,
}

#[derive(Serialize)]
struct MatrixJson<'a> {
    valgrind: &'a str,
    exit_code: u8,
    seconds: f64,
    skipped: &'a [String],
    interpreters: &'a [Entry],
}

/// What the command runs with.
struct Ctx<'a> {
    sh: &'a Shell,
    root: &'a Path,
    args: &'a MatrixArgs,
    /// `valgrind-3.19.0`, or empty when the Valgrind stage does not run.
    valgrind: String,
}

pub fn run(sh: &Shell, root: &Path, args: &MatrixArgs) -> Result<()> {
    let start = Instant::now();
    let (interpreters, skipped) = discover::interpreters(sh, &args.pythons)?;
    for s in &skipped {
        println!("matrix: skipped {s}");
    }
    if interpreters.is_empty() {
        anyhow::bail!("no CPython >= 3.9 found (pass --python PATH)");
    }
    println!(
        "matrix: {} interpreter(s): {}",
        interpreters.len(),
        interpreters
            .iter()
            .map(|i| format!("{} ({})", i.version, i.executable.display()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if args.list {
        return Ok(());
    }
    let valgrind = if args.stage == Some(Stage::Tracemalloc) {
        String::new()
    } else {
        format!("valgrind-{}", Valgrind::probe()?.version)
    };
    let ctx = Ctx {
        sh,
        root,
        args,
        valgrind,
    };
    let mut entries: Vec<Entry> = Vec::new();
    for interp in &interpreters {
        let key = unique_key(&entries, &interp.version);
        entries.push(run_one(&ctx, interp, key));
    }

    let worst = entries.iter().map(|e| e.exit_code).max().unwrap_or(0);
    print_table(&ctx, &entries, start.elapsed().as_secs_f64());
    let json = MatrixJson {
        valgrind: &ctx.valgrind,
        exit_code: worst,
        seconds: start.elapsed().as_secs_f64(),
        skipped: &skipped,
        interpreters: &entries,
    };
    let text = serde_json::to_string_pretty(&json)? + "\n";
    let out = memtest_out(root);
    for dir in [&out, &matrix_out(root)] {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    write_file(&out.join("matrix.json"), &text)?;
    write_file(&matrix_out(root).join("matrix.json"), &text)?;
    println!(
        "matrix: {} (and target/memtest-matrix/matrix.json)",
        rel(root, &out.join("matrix.json"))
    );

    let docs_problem = docs::apply(root, &ctx.valgrind, &entries, args)?;

    match worst {
        0 if docs_problem.is_none() => Ok(()),
        0 | 1 => {
            let mut why: Vec<String> = entries
                .iter()
                .filter(|e| e.exit_code == 1)
                .map(|e| format!("CPython {}: {}", e.label, e.verdict.as_str()))
                .collect();
            why.extend(docs_problem);
            Err(found(format!("matrix: {}", why.join("; "))))
        }
        _ => Err(anyhow::anyhow!(
            "matrix: could not run on {}",
            entries
                .iter()
                .filter(|e| e.exit_code == 2)
                .map(|e| format!(
                    "CPython {} ({})",
                    e.version,
                    e.error.as_deref().unwrap_or("")
                ))
                .collect::<Vec<_>>()
                .join("; ")
        )),
    }
}

/// `target/memtest`: where `cargo xtask memtest` writes (sluice's `[tool.memtest] output`).
fn memtest_out(root: &Path) -> PathBuf {
    root.join("target/memtest")
}

/// `target/memtest-matrix`: every interpreter's artifacts.
fn matrix_out(root: &Path) -> PathBuf {
    root.join("target/memtest-matrix")
}

fn unique_key(entries: &[Entry], version: &str) -> String {
    let mut key = version.to_owned();
    let mut n = 2;
    while entries.iter().any(|e| e.key == key) {
        key = format!("{version}-{n}");
        n += 1;
    }
    key
}

/// Venv, wheel and memtest for one interpreter; every error is kept in the entry.
fn run_one(ctx: &Ctx<'_>, interp: &Interpreter, key: String) -> Entry {
    let start = Instant::now();
    println!(
        "\n==> matrix: CPython {} ({})",
        interp.version,
        interp.executable.display()
    );
    let dir = ctx.root.join("target/matrix").join(&key);
    let layout = Layout {
        flavor: Flavor::Normal,
        dir: dir.join("venv"),
        target_dir: dir.join("maturin"),
        wheel_dir: dir.join("wheels"),
        base_python: interp.executable.clone(),
        requirements: Requirements::Memtest,
    };
    let setup = (|| -> Result<venv::Venv> {
        seed_target_dir(ctx, &layout.target_dir)?;
        let venv = venv::ensure_at(ctx.sh, ctx.root, &layout)?;
        venv::build_and_install_wheel(ctx.sh, ctx.root, &venv)?;
        Ok(venv)
    })();
    let setup_seconds = start.elapsed().as_secs_f64();
    let artifacts = matrix_out(ctx.root).join(&key);
    let mut entry = Entry {
        key,
        version: interp.version.clone(),
        label: interp.version.clone(),
        gil_enabled: None,
        executable: interp.executable.clone(),
        verdict: Verdict::HarnessError,
        exit_code: 2,
        seconds: 0.0,
        setup_seconds,
        stages: Vec::new(),
        error: None,
        artifacts: rel(ctx.root, &artifacts),
    };
    let venv = match setup {
        Ok(v) => v,
        Err(e) => {
            println!(
                "matrix: CPython {}: could not set up: {e:#}",
                interp.version
            );
            entry.error = Some(format!("{e:#}"));
            entry.seconds = start.elapsed().as_secs_f64();
            return entry;
        }
    };
    let args = MemtestArgs {
        stage: ctx.args.stage,
        planted: false,
        select: SelectArgs {
            patterns: vec![],
            iterations: None,
            jobs: ctx.args.jobs,
            accept: false,
            no_build: true,
        },
    };
    let outcome = memtest::execute(ctx.root, &args, &venv, &ValgrindChoices::default());
    if let Some(python) = &outcome.python {
        entry.label = python.label();
    }
    entry.gil_enabled = outcome.gil_enabled;
    entry.verdict = outcome.verdict;
    entry.exit_code = exit_code(&outcome.result);
    entry.stages = outcome.stages;
    entry.error = outcome.result.err().map(|e| format!("{e:#}"));
    if let Err(e) = keep_artifacts(ctx.root, &artifacts) {
        println!("matrix: could not keep target/memtest: {e:#}");
    }
    entry.seconds = start.elapsed().as_secs_f64();
    entry
}

/// A new interpreter's cargo target dir starts as a copy of `target/maturin-sluice`
/// (timestamps kept, so cargo finds everything but pyo3's crates and sluice-py
/// fresh): measured, a cold build per interpreter costs about 60 s on 2 cores,
/// a seeded one about 20 s.
fn seed_target_dir(ctx: &Ctx<'_>, target_dir: &Path) -> Result<()> {
    let seed = ctx.root.join(Flavor::Normal.target_dir());
    if target_dir.exists() || !seed.exists() {
        return Ok(());
    }
    if let Some(parent) = target_dir.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let sh = ctx.sh;
    cmd!(sh, "cp -a {seed} {target_dir}")
        .quiet()
        .run()
        .with_context(|| format!("seeding {} from {}", target_dir.display(), seed.display()))
}

/// `target/memtest` (which the next run wipes) to `target/memtest-matrix/<key>/`.
fn keep_artifacts(root: &Path, to: &Path) -> Result<()> {
    if to.exists() {
        std::fs::remove_dir_all(to).with_context(|| format!("removing {}", to.display()))?;
    }
    std::fs::create_dir_all(to.parent().unwrap_or(to))?;
    let from = memtest_out(root);
    copy_dir(&from, to).with_context(|| format!("copying {} to {}", from.display(), to.display()))
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let dest = to.join(e.file_name());
        if e.file_type()?.is_dir() {
            copy_dir(&e.path(), &dest)?;
        } else {
            std::fs::copy(e.path(), &dest)?;
        }
    }
    Ok(())
}

fn print_table(ctx: &Ctx<'_>, entries: &[Entry], total: f64) {
    println!(
        "\n==> matrix: {} interpreter(s){}",
        entries.len(),
        if ctx.valgrind.is_empty() {
            String::new()
        } else {
            format!(", {}", ctx.valgrind)
        }
    );
    println!(
        "  {:<10} {:<4} {:<12} {:<16} {:>7}  snapshot",
        "CPython", "GIL", "stage", "verdict", "time"
    );
    for e in entries {
        let gil = match e.gil_enabled {
            Some(true) => "on",
            Some(false) => "off",
            None => "?",
        };
        if e.stages.is_empty() {
            println!(
                "  {:<10} {gil:<4} {:<12} {:<16} {:>7}  -",
                e.label,
                "setup",
                e.verdict.as_str(),
                format!("{:.1}s", e.setup_seconds)
            );
        }
        for st in &e.stages {
            println!(
                "  {:<10} {gil:<4} {:<12} {:<16} {:>7}  {}{}",
                e.label,
                st.stage.as_str(),
                st.verdict.as_str(),
                format!("{:.1}s", st.seconds),
                st.snapshot,
                st.blind_spot
                    .as_ref()
                    .map(|b| format!(" (cannot see: {b})"))
                    .unwrap_or_default()
            );
        }
        println!(
            "  {:<10} {gil:<4} {:<12} {:<16} {:>7}  exit {} ({}; setup {:.1}s; {})",
            e.label,
            "=> memtest",
            e.verdict.as_str(),
            format!("{:.1}s", e.seconds),
            e.exit_code,
            e.executable.display(),
            e.setup_seconds,
            e.artifacts
        );
    }
    println!(
        "  total {}",
        fmt_secs(std::time::Duration::from_secs_f64(total))
    );
}
