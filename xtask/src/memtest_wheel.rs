//! The `memtest` wheel (`crates/memtest-engine/pyproject.toml`: the command
//! and the engine's Python half), proven the way a user gets it: built,
//! installed into a fresh venv with pip, its command run, its pytest plugin
//! loaded by pytest through the entry point.

use std::path::Path;

use anyhow::{Context, Result};
use memtest_engine::step::Step;
use xshell::{cmd, Shell};

use crate::{outcome::found, paths::fresh_dir, tools::run_tool, venv::Venv};

pub fn check(sh: &Shell, root: &Path, venv: &Venv) -> Result<()> {
    let step = Step::start("memtest wheel: maturin build, pip install into a fresh venv, run");
    let out = root.join("target/wheels/memtest");
    fresh_dir(&out)?;
    let maturin = venv.bin("maturin");
    {
        let _dir = sh.push_dir(root.join("crates/memtest-engine"));
        run_tool(
            cmd!(sh, "{maturin} build --profile dev --out {out}"),
            "maturin build (crates/memtest-engine)",
            "",
        )?;
    }
    let wheel = sh
        .read_dir(&out)?
        .into_iter()
        .find(|p| p.extension().is_some_and(|e| e == "whl"))
        .context("maturin wrote no wheel")?;
    let fresh = root.join("target/memtest-venv");
    if fresh.exists() {
        sh.remove_path(&fresh)?;
    }
    let python = &venv.python;
    run_tool(cmd!(sh, "{python} -m venv {fresh}"), "python -m venv", "")?;
    let pip = fresh.join("bin/pip");
    run_tool(
        cmd!(
            sh,
            "{pip} install -q --disable-pip-version-check {wheel} pytest"
        ),
        "pip install (the memtest wheel, pytest)",
        "PyPI must be reachable (pytest)",
    )?;
    let memtest = fresh.join("bin/memtest");
    let help = cmd!(sh, "{memtest} --help")
        .quiet()
        .read()
        .map_err(|e| found(format!("the installed memtest failed: {e}")))?;
    if !help.contains("Exit codes") || !help.contains("[tool.memtest]") {
        return Err(found(
            "the installed memtest --help does not explain the exit codes and the configuration",
        ));
    }
    let reference = cmd!(sh, "{memtest} config --reference").quiet().read()?;
    if !reference.contains("### `[tool.memtest.valgrind]`") {
        return Err(found(
            "the installed memtest config --reference has no [tool.memtest.valgrind] table",
        ));
    }
    // The plugin, loaded by pytest from the entry point: a leaking test fails.
    let project = root.join("target/memtest-wheel-project");
    fresh_dir(&project)?;
    sh.write_file(
        project.join("test_leaky.py"),
        "KEPT = []\n\ndef test_leaks():\n    KEPT.append(bytearray(100))\n\ndef test_clean():\n    bytearray(100)\n",
    )?;
    let fresh_python = fresh.join("bin/python");
    let _dir = sh.push_dir(&project);
    let output = cmd!(
        sh,
        "{fresh_python} -m pytest -q -p no:cacheprovider --memtest test_leaky.py"
    )
    .quiet()
    .ignore_status()
    .output()?;
    let text = String::from_utf8_lossy(&output.stdout);
    if output.status.code() != Some(1)
        || !text.contains("1 failed, 1 passed")
        || !text.contains("memtest:")
    {
        return Err(found(format!(
            "pytest --memtest with the installed wheel: expected the leaking test to fail and the clean one to pass, got {}:\n{text}",
            output.status
        )));
    }
    println!(
        "installed {} and ran memtest --help, config --reference and pytest --memtest",
        wheel.display()
    );
    step.done();
    Ok(())
}
