//! Running processes: checks and tools with their exit status classified,
//! one process with its output copied to a log, or a pool of them `jobs` at
//! a time with progress lines.

use std::{
    fs::File,
    io::{BufRead, BufReader, Write},
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    sync::{Arc, Mutex},
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context, Result};

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

/// The output of a command that must succeed (stdout, trimmed).
pub fn read_output(cmd: &mut Command, what: &str) -> Result<String> {
    let out = cmd
        .output()
        .with_context(|| format!("could not run {what}"))?;
    if !out.status.success() {
        anyhow::bail!(
            "{what} failed ({}):\n{}",
            describe_status(out.status),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
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

/// Runs `cmd` with stdout+stderr copied to `log` (and echoed when `echo`).
pub fn run_logged(mut cmd: Command, log: &Path, echo: bool) -> Result<ExitStatus> {
    let child = spawn_logged(&mut cmd, log, echo)?;
    child.wait()
}

struct Logged {
    child: Child,
    pumps: Vec<thread::JoinHandle<()>>,
}

impl Logged {
    fn wait(mut self) -> Result<ExitStatus> {
        let status = self.child.wait()?;
        self.join();
        Ok(status)
    }

    fn join(self) {
        for p in self.pumps {
            let _ = p.join();
        }
    }
}

fn spawn_logged(cmd: &mut Command, log: &Path, echo: bool) -> Result<Logged> {
    println!("$ {}", display_cmd(cmd));
    let file = Arc::new(Mutex::new(
        File::create(log).with_context(|| format!("creating {}", log.display()))?,
    ));
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(Stdio::null())
        .spawn()
        .with_context(|| format!("could not start {}", cmd.get_program().to_string_lossy()))?;
    let mut pumps = Vec::new();
    let out = child
        .stdout
        .take()
        .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>);
    let err = child
        .stderr
        .take()
        .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>);
    for stream in [out, err].into_iter().flatten() {
        let file = Arc::clone(&file);
        pumps.push(thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                if echo {
                    println!("{line}");
                }
                let _ = writeln!(file.lock().unwrap(), "{line}");
            }
        }));
    }
    Ok(Logged { child, pumps })
}

/// One process of a pool.
pub struct Job {
    /// How the job is named in progress lines (`shard 0 at 20 iterations`).
    pub label: String,
    pub command: Command,
    /// Where its stdout and stderr go.
    pub log: PathBuf,
}

/// Runs the jobs `parallel` at a time; every 5 s, prints `progress(index,
/// job)` of the running ones (e.g. tests done, read from their logs).
/// Returns the exit statuses in job order.
pub fn run_pool(
    jobs: Vec<Job>,
    parallel: usize,
    progress: impl Fn(usize, &Job) -> String,
) -> Result<Vec<ExitStatus>> {
    let start = Instant::now();
    let total = jobs.len();
    let mut statuses: Vec<Option<ExitStatus>> = vec![None; total];
    let mut waiting = jobs.into_iter().enumerate();
    let mut running: Vec<(usize, Job, Logged)> = Vec::new();
    let mut last_progress = Instant::now();
    let mut last_line = String::new();
    while statuses.iter().any(Option::is_none) {
        while running.len() < parallel.max(1) {
            let Some((i, mut job)) = waiting.next() else {
                break;
            };
            let logged = spawn_logged(&mut job.command, &job.log, false)?;
            running.push((i, job, logged));
        }
        let mut k = 0;
        while k < running.len() {
            if let Some(st) = running[k].2.child.try_wait()? {
                let (i, job, logged) = running.swap_remove(k);
                logged.join();
                statuses[i] = Some(st);
                println!(
                    "  [{:>5.1}s] {} finished ({}) — {}/{total} processes done",
                    start.elapsed().as_secs_f64(),
                    job.label,
                    describe_status(st),
                    statuses.iter().filter(|s| s.is_some()).count(),
                );
            } else {
                k += 1;
            }
        }
        if last_progress.elapsed() >= Duration::from_secs(5) {
            last_progress = Instant::now();
            let line = running
                .iter()
                .map(|(i, job, _)| progress(*i, job))
                .collect::<Vec<_>>()
                .join(", ");
            if line != last_line {
                println!(
                    "  [{:>5.1}s] running: {line}",
                    start.elapsed().as_secs_f64()
                );
                last_line = line;
            }
        }
        thread::sleep(Duration::from_millis(100));
    }
    Ok(statuses.into_iter().map(Option::unwrap).collect())
}
