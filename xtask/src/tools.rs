//! Running the tools a check or a setup step is: a check's non-zero exit is
//! a finding (exit 1), a setup step's is a harness failure (exit 2), and a
//! tool that cannot start says what to install.

use std::process::{Command, ExitStatus};

use anyhow::{Context, Result};
use memtest_engine::process::{describe_status, display_cmd};

use crate::outcome::found;

/// Run a command that checks something: a non-zero exit is a finding (exit 1),
/// failing to start it is a harness failure (exit 2) with `hint` on what to install.
pub fn run_check(cmd: impl Into<Command>, what: &str, hint: &str) -> Result<()> {
    let mut cmd: Command = cmd.into();
    let status = spawn_status(&mut cmd, hint)?;
    if status.success() {
        Ok(())
    } else {
        Err(found(format!(
            "{what} failed ({})",
            describe_status(status)
        )))
    }
}

/// Run a command the harness needs (building, installing): any failure is exit 2.
pub fn run_tool(cmd: impl Into<Command>, what: &str, hint: &str) -> Result<()> {
    let mut cmd: Command = cmd.into();
    let status = spawn_status(&mut cmd, hint)?;
    if status.success() {
        Ok(())
    } else {
        anyhow::bail!(
            "{what} failed ({}){}",
            describe_status(status),
            hint_suffix(hint)
        )
    }
}

fn spawn_status(cmd: &mut Command, hint: &str) -> Result<ExitStatus> {
    let program = cmd.get_program().to_string_lossy().into_owned();
    println!("$ {}", display_cmd(cmd));
    cmd.status()
        .with_context(|| format!("could not run `{program}`{}", hint_suffix(hint)))
}

fn hint_suffix(hint: &str) -> String {
    if hint.is_empty() {
        String::new()
    } else {
        format!(" — {hint}")
    }
}
