//! `cargo xtask`: sluice's project automation (see `cargo xtask --help`).
//!
//! Style after rust-analyzer's xtask: a plain binary, `xshell` for commands,
//! no build scripts. Exit codes: 0 clean, 1 a check found something, 2 the
//! harness could not run.

mod bench;
mod bench_vgxml;
mod ci;
mod example;
mod flags;
mod matrix;
mod memtest;
mod memtest_wheel;
mod outcome;
mod paths;
mod planted;
mod snapshot;
mod supp;
#[cfg(test)]
mod tidy;
mod tools;
mod venv;
mod vgxml_wheel;

use std::process::ExitCode;

use anyhow::Result;
use clap::Parser;
use xshell::Shell;

use crate::flags::{Cmd, MemtestArgs, Stage, Xtask};

fn main() -> ExitCode {
    let flags = Xtask::parse();
    let res = run(flags);
    let code = outcome::exit_code(&res);
    if let Err(e) = &res {
        let kind = if code == 1 {
            "FAILED"
        } else {
            "HARNESS ERROR (exit 2)"
        };
        eprintln!("\nxtask: {kind}: {e:#}");
    }
    ExitCode::from(code)
}

fn run(flags: Xtask) -> Result<()> {
    let sh = Shell::new()?;
    let root = paths::project_root();
    sh.change_dir(&root);
    match flags.cmd {
        Cmd::Ci(args) => ci::run(&sh, &root, &args),
        Cmd::Memtest(args) if args.planted => planted::run(&sh, &root, &args),
        Cmd::Memtest(args) => memtest::run(&sh, &root, &args),
        Cmd::Matrix(args) => matrix::run(&sh, &root, &args),
        Cmd::Valgrind(args) => {
            let choices = memtest::ValgrindChoices {
                track_origins: args.track_origins,
                gen_suppressions: args.gen_suppressions,
                extra_args: args.valgrind_args,
            };
            memtest::run_with(
                &sh,
                &root,
                &MemtestArgs {
                    stage: Some(Stage::Valgrind),
                    planted: false,
                    select: args.select,
                },
                &choices,
            )
        }
        Cmd::PythonSupp(args) => supp::python_supp(&sh, &root, &args),
        Cmd::Bench(args) => bench::run(&sh, &root, &args),
    }
}
