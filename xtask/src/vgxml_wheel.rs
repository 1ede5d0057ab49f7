//! The `vgxml` command as a Python wheel (`crates/vgxml/pyproject.toml`,
//! maturin `bindings = "bin"`), proven the way a user gets it: built,
//! installed into a fresh venv with pip, and run on a real report.

use std::path::Path;

use anyhow::{bail, Context, Result};
use xshell::{cmd, Shell};

use memtest_engine::step::Step;

use crate::{outcome::found, paths::fresh_dir, tools::run_tool, venv::Venv};

/// A fixture whose totals are known (Valgrind's own LEAK SUMMARY says 232
/// bytes in 3 blocks definitely lost).
const FIXTURE: &str = "crates/vgxml-parse/tests/fixtures/leaks-all.xml";

pub fn check(sh: &Shell, root: &Path, venv: &Venv) -> Result<()> {
    let step = Step::start("vgxml wheel: maturin build, pip install into a fresh venv, run");
    let out = root.join("target/wheels/vgxml");
    fresh_dir(&out)?;
    let maturin = venv.bin("maturin");
    {
        let _dir = sh.push_dir(root.join("crates/vgxml"));
        // The dev profile reuses what `cargo test` built; the wheel is the same shape.
        run_tool(
            cmd!(sh, "{maturin} build --profile dev --out {out}"),
            "maturin build (crates/vgxml)",
            "",
        )?;
    }
    let wheel = sh
        .read_dir(&out)?
        .into_iter()
        .find(|p| p.extension().is_some_and(|e| e == "whl"))
        .context("maturin wrote no wheel")?;
    let fresh = root.join("target/vgxml-venv");
    if fresh.exists() {
        sh.remove_path(&fresh)?;
    }
    let python = &venv.python;
    run_tool(cmd!(sh, "{python} -m venv {fresh}"), "python -m venv", "")?;
    let pip = fresh.join("bin/pip");
    run_tool(
        cmd!(
            sh,
            "{pip} install -q --disable-pip-version-check --no-index --no-deps {wheel}"
        ),
        "pip install (the vgxml wheel)",
        "",
    )?;
    let vgxml = fresh.join("bin/vgxml");
    let fixture = root.join(FIXTURE);
    let json = cmd!(sh, "{vgxml} summary --json {fixture}")
        .quiet()
        .read()
        .map_err(|e| found(format!("the installed vgxml failed: {e}")))?;
    let v: serde_json::Value = serde_json::from_str(&json).context("vgxml summary --json")?;
    let lost = &v["leaks"]["definitely_lost"];
    if v["complete"] != true || lost["bytes"] != 232 || lost["blocks"] != 3 {
        bail!("the installed vgxml read {FIXTURE} wrong: {json}");
    }
    let status = cmd!(sh, "{vgxml} check {fixture}")
        .quiet()
        .ignore_stdout()
        .ignore_status()
        .output()?
        .status;
    if status.code() != Some(1) {
        return Err(found(format!(
            "the installed `vgxml check` on a leaking report exited {status}, not 1"
        )));
    }
    println!(
        "installed {} and ran it: 232 bytes in 3 blocks definitely lost, check exits 1",
        wheel.display()
    );
    step.done();
    Ok(())
}
