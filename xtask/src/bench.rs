//! `cargo xtask bench`: prints the performance figures the issues ask for.
//! Numbers only; nothing here passes or fails on speed.

use std::path::Path;

use anyhow::Result;
use xshell::{cmd, Shell};

use memtest_engine::step::Step;

use crate::{bench_vgxml, flags::BenchArgs, tools::run_tool, venv};

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
        let venv = venv::ensure(sh, root)?;
        let step = Step::start("vgxml: throughput and peak RSS vs ElementTree");
        run_tool(
            cmd!(
                sh,
                // A target flag selects only the targets named, so the
                // binary is named too: `--example` alone builds no `vgxml`.
                "cargo build --release --quiet -p vgxml --bin vgxml -p vgxml-parse --example floors"
            ),
            "cargo build --release -p vgxml --bin vgxml -p vgxml-parse --example floors",
            "",
        )?;
        let mut sizes = vec![10, 100];
        if args.with_1g {
            sizes.push(1000);
        }
        bench_vgxml::run(&bench_vgxml::Options {
            sizes,
            runs: 3,
            dir: root.join("target/bench-vgxml"),
            python: venv.real_python()?,
            vgxml: root.join("target/release/vgxml"),
            floors: root.join("target/release/examples/floors"),
            fixtures: root.join("crates/vgxml-parse/tests/fixtures"),
        });
        step.done();
    }
    Ok(())
}
