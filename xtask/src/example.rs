//! The memtest command end to end on a project that is not sluice: the
//! example C extension `examples/cbuf`, built by the command (pip, debug
//! information), its pytest suite through both stages; then the tests of its
//! planted defects, each of which must be caught and named at its line.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result};
use memtest_engine::step::Step;

use crate::{outcome::found, tools::run_tool};

const EXAMPLE: &str = "examples/cbuf";

/// What the planted run must report: (test, stage, rule, where).
const PLANTED: &[(&str, &str, &str, &str)] = &[
    (
        "test_keep_ref",
        "tracemalloc",
        "python_growth",
        "planted/test_planted.py:",
    ),
    (
        "test_lose_block",
        "valgrind",
        "lost",
        "src/cbuf/_cbuf.c:163",
    ),
    (
        "test_append_and_keep",
        "valgrind",
        "growth",
        "src/cbuf/_cbuf.c:97",
    ),
];

/// `cargo build -p memtest`, then the command on the example: clean, then planted.
pub fn check(root: &Path) -> Result<()> {
    let step = Step::start(format!(
        "memtest on {EXAMPLE}: its suite clean, its planted defects caught"
    ));
    let mut build = Command::new("cargo");
    build
        .args(["build", "--quiet", "-p", "memtest"])
        .current_dir(root);
    run_tool(build, "cargo build -p memtest", "")?;
    let memtest = root.join("target/debug/memtest");
    let example = root.join(EXAMPLE);
    let clean = run(&memtest, &example, &[])?;
    if clean != Some(0) {
        return Err(found(format!(
            "memtest on {EXAMPLE} exited {clean:?}, not 0 (report: {EXAMPLE}/.memtest/report.html)"
        )));
    }
    let planted = run(&memtest, &example, &["planted"])?;
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(example.join(".memtest/report.json"))
            .context("reading the planted run's report.json")?,
    )?;
    let mut missed = Vec::new();
    for (test, stage, rule, place) in PLANTED {
        let caught = report["stages"].as_array().into_iter().flatten().any(|s| {
            s["stage"] == *stage
                && s["findings"].as_array().into_iter().flatten().any(|f| {
                    f["rule"] == *rule
                        && f["test"].as_str().is_some_and(|t| t.ends_with(test))
                        && f["location"].as_str().is_some_and(|l| l.starts_with(place))
                })
        });
        if !caught {
            missed.push(format!("{test} ({stage} {rule} at {place})"));
        }
    }
    if planted != Some(1) || !missed.is_empty() {
        return Err(found(format!(
            "memtest on {EXAMPLE}'s planted defects exited {planted:?} (1 expected); not caught and named: {} (report: {EXAMPLE}/.memtest/report.html)",
            if missed.is_empty() { "none".to_owned() } else { missed.join(", ") }
        )));
    }
    println!("clean suite: exit 0; planted defects: exit 1, each named at its line");
    step.done();
    Ok(())
}

fn run(memtest: &Path, example: &Path, args: &[&str]) -> Result<Option<i32>> {
    let mut c = Command::new(memtest);
    c.arg("-C").arg(example).args(args);
    println!("$ {}", memtest_engine::process::display_cmd(&c));
    Ok(c.status().context("running memtest")?.code())
}
