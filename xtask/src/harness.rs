//! Step headers, timing, exit-code classification and small process helpers.

use std::{
    fmt,
    path::{Path, PathBuf},
    process::{Command, ExitStatus},
    time::{Duration, Instant},
};

use anyhow::{Context, Result};

/// A check found a problem (a leak, a memory error, a failing test, a lint,
/// a changed snapshot): exit code 1. Every other error is a harness failure: exit 2.
#[derive(Debug)]
pub struct Found(pub String);

impl fmt::Display for Found {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Found {}

pub fn found(msg: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Found(msg.into()))
}

/// Exit code for the outcome of a command.
pub fn exit_code(res: &Result<()>) -> i32 {
    match res {
        Ok(()) => 0,
        Err(e) if e.downcast_ref::<Found>().is_some() => 1,
        Err(_) => 2,
    }
}

pub fn project_root() -> PathBuf {
    // xtask/ lives directly under the workspace root.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask has a parent directory")
        .to_path_buf()
}

pub fn fmt_secs(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

/// A named step: prints a header when it starts and its time when it ends.
pub struct Step {
    name: String,
    start: Instant,
}

impl Step {
    pub fn start(name: impl Into<String>) -> Step {
        let name = name.into();
        println!("\n==> {name}");
        Step {
            name,
            start: Instant::now(),
        }
    }

    pub fn done(self) -> Duration {
        let d = self.start.elapsed();
        println!("<== {} ({})", self.name, fmt_secs(d));
        d
    }
}

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

pub fn display_cmd(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        let a = a.to_string_lossy();
        s.push(' ');
        if a.contains(char::is_whitespace) || a.is_empty() {
            s.push_str(&format!("'{a}'"));
        } else {
            s.push_str(&a);
        }
    }
    s
}

pub fn describe_status(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(c), _) => format!("exit code {c}"),
        (None, Some(s)) => format!("killed by signal {s}"),
        _ => status.to_string(),
    }
}

/// Number of cores, for the default `--jobs`.
pub fn cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// `true` when the file starts with the ELF magic (a real binary, not a shell shim).
pub fn is_elf(path: &Path) -> bool {
    use std::io::Read;
    let mut magic = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok()
        && magic == *b"\x7fELF"
}

/// FNV-1a of some bytes: a cheap content stamp (not security relevant).
pub fn stamp(parts: &[&[u8]]) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for p in parts {
        for b in p.iter().chain(&[0xffu8]) {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x100000001b3);
        }
    }
    format!("{h:016x}")
}
