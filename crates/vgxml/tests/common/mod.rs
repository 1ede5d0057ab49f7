#![allow(dead_code)]

//! The fixtures of `vgxml-parse` and a runner for the `vgxml` binary.

#[path = "../../../vgxml-parse/tests/common/mod.rs"]
mod fixtures;

pub use fixtures::*;
use std::process::{Command, Output};

/// Runs the `vgxml` binary in the fixtures directory.
pub fn vgxml(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vgxml"))
        .args(args)
        .current_dir(fixtures())
        .output()
        .unwrap()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
