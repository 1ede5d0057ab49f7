//! `cargo xtask bench`: prints the performance figures the issues ask for.
//! Numbers only; nothing here passes or fails on speed.

use std::path::Path;

use anyhow::Result;
use xshell::{cmd, Shell};

use crate::{
    flags::BenchArgs,
    harness::{run_tool, Step},
    venv,
};

pub fn run(sh: &Shell, root: &Path, args: &BenchArgs) -> Result<()> {
    if !args.vgxml_only {
        let venv = venv::ensure(sh, root)?;
        venv::build_and_install_wheel(sh, root, &venv)?;
        let step = Step::start("bindings: push overhead and Gain throughput vs numpy");
        let python = &venv.python;
        run_tool(
            cmd!(sh, "{python} python/benchmarks/bench_push.py"),
            "python/benchmarks/bench_push.py",
            "",
        )?;
        step.done();
    }
    if args.vgxml || args.vgxml_only {
        let step = Step::start("vgxml: throughput and peak RSS vs ElementTree");
        let sizes = if args.with_1g {
            vec!["--with-1g"]
        } else {
            vec![]
        };
        // The benchmark times the `vgxml` binary as a child process.
        run_tool(
            cmd!(sh, "cargo build --release --quiet -p vgxml"),
            "cargo build --release -p vgxml",
            "",
        )?;
        run_tool(
            cmd!(
                sh,
                "cargo run --release --quiet -p vgxml --example bench -- {sizes...}"
            ),
            "vgxml benchmark",
            "",
        )?;
        step.done();
    }
    Ok(())
}
