//! Running processes: a tool the harness needs (its failure is a harness
//! error naming what to install), one process with its output copied to a
//! log, or a pool of them `parallel` at a time with progress lines. On
//! Ctrl-C ([`crate::interrupt`]) the pool asks its processes to stop
//! (SIGINT: pytest and unittest end the run and Valgrind writes its report),
//! waits for them, and returns what they left.

use std::{
    fs::File,
    io::{BufRead, BufReader, Write},
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    sync::{Arc, Mutex},
    thread,
    time::{Duration, Instant},
};

use crate::error::{harness, IoContext, Result};
use crate::interrupt;

/// Runs a command the harness needs (building, installing): any failure is
/// a harness error with `hint` on what to install.
pub fn run_tool(cmd: &mut Command, what: &str, hint: &str) -> Result<()> {
    println!("$ {}", display_cmd(cmd));
    let status = cmd.status().context(|| {
        format!(
            "could not run `{}`{}",
            cmd.get_program().to_string_lossy(),
            hint_suffix(hint)
        )
    })?;
    if status.success() {
        Ok(())
    } else {
        Err(harness!(
            "{what} failed ({}){}",
            describe_status(status),
            hint_suffix(hint)
        ))
    }
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
    let out = cmd.output().context(|| format!("could not run {what}"))?;
    if !out.status.success() {
        return Err(harness!(
            "{what} failed ({}):\n{}",
            describe_status(out.status),
            String::from_utf8_lossy(&out.stderr)
        ));
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

/// Number of cores, for the default number of parallel processes.
pub fn cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// Runs `cmd` with stdout+stderr copied to `log` (and echoed when `echo`).
pub fn run_logged(mut cmd: Command, log: &Path, echo: bool) -> Result<ExitStatus> {
    let pool = run_pool(
        vec![Job {
            label: "tests".into(),
            command: std::mem::replace(&mut cmd, Command::new("true")),
            log: log.to_path_buf(),
            echo,
        }],
        1,
        |_, _| String::new(),
    )?;
    Ok(pool.statuses[0])
}

struct Logged {
    child: Child,
    pumps: Vec<thread::JoinHandle<()>>,
}

impl Logged {
    fn join(self) {
        for p in self.pumps {
            let _ = p.join();
        }
    }
}

fn spawn_logged(cmd: &mut Command, log: &Path, echo: bool) -> Result<Logged> {
    use std::os::unix::process::CommandExt;
    println!("$ {}", display_cmd(cmd));
    // A process group of its own: the terminal's Ctrl-C reaches the engine
    // only, which stops each process once (see `crate::interrupt`).
    cmd.process_group(0);
    let file = Arc::new(Mutex::new(
        File::create(log).context(|| format!("creating {}", log.display()))?,
    ));
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(Stdio::null())
        .spawn()
        .context(|| format!("could not start {}", cmd.get_program().to_string_lossy()))?;
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
    /// How the job is named in progress lines (`shard 0`).
    pub label: String,
    pub command: Command,
    /// Where its stdout and stderr go.
    pub log: PathBuf,
    /// Also print its output.
    pub echo: bool,
}

/// What a pool ended with.
pub struct Pool {
    /// Exit statuses in job order.
    pub statuses: Vec<ExitStatus>,
    /// Ctrl-C stopped it: some jobs never ran (their status is a failure).
    pub interrupted: bool,
}

/// Seconds an interrupted process gets to finish (Valgrind writes its
/// report), then it is killed.
const STOP_GRACE: Duration = Duration::from_secs(60);

/// Runs the jobs `parallel` at a time; every 5 s prints `progress(index,
/// job)` of the running ones (tests done, elapsed, the slowest so far, read
/// from their events). On Ctrl-C starts no more jobs and stops the running
/// ones.
pub fn run_pool(
    jobs: Vec<Job>,
    parallel: usize,
    progress: impl Fn(usize, &Job) -> String,
) -> Result<Pool> {
    use std::os::unix::process::ExitStatusExt;
    let start = Instant::now();
    let total = jobs.len();
    let mut statuses: Vec<Option<ExitStatus>> = vec![None; total];
    let mut waiting = jobs.into_iter().enumerate();
    let mut running: Vec<(usize, Job, Logged)> = Vec::new();
    let mut last_progress = Instant::now();
    let mut last_line = String::new();
    let mut stopping: Option<Instant> = None;
    while statuses.iter().any(Option::is_none) {
        if interrupt::requested() && stopping.is_none() {
            stopping = Some(Instant::now());
            println!(
                "  interrupted: stopping {} process(es) (they write what they have)",
                running.len()
            );
            for (_, _, l) in &running {
                interrupt::forward(l.child.id());
            }
            // The jobs never started end as "killed by SIGINT".
            for (i, _) in waiting.by_ref() {
                statuses[i] = Some(ExitStatus::from_raw(2));
            }
        }
        if stopping.is_some_and(|s| s.elapsed() > STOP_GRACE) {
            for (_, _, l) in running.iter_mut() {
                let _ = l.child.kill();
            }
        }
        while stopping.is_none() && running.len() < parallel.max(1) {
            let Some((i, mut job)) = waiting.next() else {
                break;
            };
            let logged = spawn_logged(&mut job.command, &job.log, job.echo)?;
            running.push((i, job, logged));
        }
        let mut k = 0;
        while k < running.len() {
            let done = running[k]
                .2
                .child
                .try_wait()
                .context(|| "waiting for a process".to_owned())?;
            if let Some(st) = done {
                let (i, job, logged) = running.swap_remove(k);
                logged.join();
                statuses[i] = Some(st);
                if total > 1 {
                    println!(
                        "  [{:>6.1}s] {} finished ({}) — {}/{total} processes done",
                        start.elapsed().as_secs_f64(),
                        job.label,
                        describe_status(st),
                        statuses.iter().filter(|s| s.is_some()).count(),
                    );
                }
            } else {
                k += 1;
            }
        }
        if last_progress.elapsed() >= Duration::from_secs(5) && !running.is_empty() {
            last_progress = Instant::now();
            let line = running
                .iter()
                .map(|(i, job, _)| progress(*i, job))
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join("; ");
            if !line.is_empty() && line != last_line {
                println!("  [{:>6.1}s] {line}", start.elapsed().as_secs_f64());
                last_line = line;
            }
        }
        thread::sleep(Duration::from_millis(50));
    }
    Ok(Pool {
        statuses: statuses.into_iter().map(Option::unwrap).collect(),
        interrupted: stopping.is_some(),
    })
}
