//! The Valgrind stage: the memory tests under memcheck, sharded over `--jobs`
//! processes, each shard run at two iteration counts (N and 2N); the XML is read
//! with `vgxml` and judged against "our code" (the extension module, `cpp/`, `crates/`).

use std::{
    collections::BTreeMap,
    fs::File,
    io::{BufRead, BufReader, Write},
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    sync::{Arc, Mutex},
    thread,
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};
use vgxml_judge::OurCode;
use vgxml_parse::{ErrorRecord, LeakKind, Report};
use xshell::{cmd, Shell};

use crate::{
    flags::SelectArgs,
    harness::{self, describe_status, Step},
    memtest::{rel, Finding, StageReport, Suite},
    venv::Venv,
};

pub const VALGRIND_ITERATIONS: u32 = 10;

#[derive(Debug, Default, Clone)]
pub struct ValgrindOptions {
    pub track_origins: bool,
    /// One process per test (and per iteration count) instead of `--jobs`
    /// balanced shards; every finding then names its test. The detection matrix
    /// uses it so that what memcheck reports is attributed to one planted case.
    pub isolate: bool,
    pub gen_suppressions: bool,
    pub extra_args: Vec<String>,
}

/// Valgrind must be installed: say how to get it (exit 2 otherwise).
pub fn preflight(sh: &Shell) -> Result<()> {
    match cmd!(sh, "valgrind --version")
        .quiet()
        .ignore_stderr()
        .read()
    {
        Ok(v) => {
            println!("using {v}");
            Ok(())
        }
        Err(_) => bail!(
            "valgrind is not installed or not on PATH — on Debian/Ubuntu: apt-get install valgrind"
        ),
    }
}

/// Runs `cmd` with stdout+stderr copied to `log` (and echoed when `echo`).
pub fn run_logged(mut cmd: Command, log: &Path, echo: bool) -> Result<ExitStatus> {
    let child = spawn_logged(&mut cmd, log, echo)?;
    wait(child)
}

struct Logged {
    child: Child,
    pumps: Vec<thread::JoinHandle<()>>,
}

fn spawn_logged(cmd: &mut Command, log: &Path, echo: bool) -> Result<Logged> {
    println!("$ {}", harness::display_cmd(cmd));
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

fn wait(mut l: Logged) -> Result<ExitStatus> {
    let status = l.child.wait()?;
    for p in l.pumps {
        let _ = p.join();
    }
    Ok(status)
}

/// Test ids of `suite` (e.g. `memory_test.MemoryLeakTests`) matching `-k`
/// (unittest's own selection rules), listed natively (fast).
pub fn list_tests(
    venv: &Venv,
    root: &Path,
    suite: Suite,
    patterns: &[String],
) -> Result<Vec<String>> {
    let script = r#"
import sys, unittest
loader = unittest.TestLoader()
pats = sys.argv[2:]
if pats:
    loader.testNamePatterns = [p if "*" in p else "*%s*" % p for p in pats]
def walk(s):
    for t in s:
        if isinstance(t, unittest.TestSuite):
            yield from walk(t)
        else:
            yield t.id()
for i in walk(loader.loadTestsFromName(sys.argv[1])):
    print(i)
"#;
    let out = Command::new(&venv.python)
        .current_dir(root.join("python/tests"))
        .arg("-c")
        .arg(script)
        .arg(suite.id())
        .args(patterns)
        .output()
        .context("listing the memory tests")?;
    if !out.status.success() {
        bail!(
            "could not list {}:\n{}",
            suite.id(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect())
}

/// Greedy longest-first assignment of tests to `n` shards by expected duration.
fn shard(tests: &[String], n: usize, durations: &BTreeMap<String, f64>) -> Vec<Vec<String>> {
    let n = n.max(1).min(tests.len().max(1));
    let mut weighted: Vec<(f64, &String)> = tests
        .iter()
        .map(|t| {
            (
                durations
                    .get(t.rsplit('.').next().unwrap_or(t))
                    .copied()
                    .unwrap_or(1.0),
                t,
            )
        })
        .collect();
    weighted.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
    let mut shards: Vec<(f64, Vec<String>)> = vec![(0.0, Vec::new()); n];
    for (w, t) in weighted {
        // Every process pays Python's start-up: weight 0.5 s per test on top.
        let s = shards
            .iter_mut()
            .min_by(|a, b| a.0.total_cmp(&b.0))
            .unwrap();
        s.0 += w + 0.5;
        s.1.push(t.clone());
    }
    shards
        .into_iter()
        .map(|(_, mut t)| {
            t.sort();
            t
        })
        .filter(|t| !t.is_empty())
        .collect()
}

pub fn suppression_files(root: &Path) -> Result<Vec<PathBuf>> {
    let dir = root.join("suppressions");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "supp"))
        .collect();
    files.sort();
    Ok(files)
}

pub fn our_code(root: &Path) -> OurCode {
    let root = root.display().to_string();
    OurCode::new()
        .object_glob("*/sluice/_native*.so")
        .source_prefix(&format!("{root}/cpp/"))
        .source_prefix(&format!("{root}/crates/"))
        .function_pattern("sluice::*")
        .function_pattern("_native::*")
        .function_pattern("sluice_core::*")
}

/// The common memcheck command line (without `--xml-file`).
pub fn valgrind_args(root: &Path, opts: &ValgrindOptions) -> Result<Vec<String>> {
    let mut a: Vec<String> = [
        "--tool=memcheck",
        "--leak-check=full",
        "--show-leak-kinds=all",
        "--errors-for-leak-kinds=definite",
        "--num-callers=40",
        "--error-limit=no",
        "--xml=yes",
        "--child-silent-after-fork=yes",
    ]
    .map(String::from)
    .to_vec();
    for f in suppression_files(root)? {
        a.push(format!("--suppressions={}", f.display()));
    }
    if opts.track_origins {
        a.push("--track-origins=yes".into());
    }
    if opts.gen_suppressions {
        a.push("--gen-suppressions=all".into());
    }
    a.extend(opts.extra_args.iter().cloned());
    Ok(a)
}

/// Environment of Python under Valgrind.
pub fn python_env(cmd: &mut Command) {
    cmd.env("PYTHONMALLOC", "malloc") // every object is a malloc block Valgrind can see
        .env("PYTHONHASHSEED", "0") // same dict layouts at both iteration counts
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("OPENBLAS_NUM_THREADS", "1") // numpy: no BLAS thread pool under Valgrind
        .env("OMP_NUM_THREADS", "1")
        .env("SLUICE_MEMTEST_TRACEMALLOC", "0"); // tracemalloc itself misleads memcheck
}

struct Run {
    shard: usize,
    iterations: u32,
    tests: Vec<String>,
    log: PathBuf,
    xml_prefix: String,
}

/// The Valgrind stage over the tests of `suite` selected by `select`; XML and
/// logs go to `out` (emptied first).
#[allow(clippy::too_many_arguments)]
pub fn stage(
    sh: &Shell,
    root: &Path,
    venv: &Venv,
    suite: Suite,
    select: &SelectArgs,
    opts: &ValgrindOptions,
    durations: &BTreeMap<String, f64>,
    out: &Path,
    title: &str,
) -> Result<StageReport> {
    let step = Step::start(title);
    let _ = sh;
    let real = venv.real_python()?;
    println!(
        "python under Valgrind: {} -> {} (ELF)",
        venv.python.display(),
        real.display()
    );
    if out.exists() {
        std::fs::remove_dir_all(out)?;
    }
    std::fs::create_dir_all(out)?;

    let tests = list_tests(venv, root, suite, &select.patterns)?;
    if tests.is_empty() {
        bail!("no test of {} matches {:?}", suite.id(), select.patterns);
    }
    let jobs = select.jobs.unwrap_or_else(harness::cores).max(1);
    let shards = if opts.isolate {
        tests.iter().map(|t| vec![t.clone()]).collect()
    } else {
        shard(&tests, jobs, durations)
    };
    let n = select.iterations.unwrap_or(VALGRIND_ITERATIONS).max(1);
    let counts = [2 * n, n];
    let mut runs = Vec::new();
    for &it in &counts {
        for (i, t) in shards.iter().enumerate() {
            let name = format!("shard-{i}-n{it}");
            runs.push(Run {
                shard: i,
                iterations: it,
                tests: t.clone(),
                log: out.join(format!("{name}.log")),
                xml_prefix: format!("{name}-"),
            });
        }
    }
    println!(
        "{} tests in {} shard(s) x iteration counts {n} and {}: {} Valgrind processes, {jobs} at a time",
        tests.len(),
        shards.len(),
        2 * n,
        runs.len()
    );
    let base_args = valgrind_args(root, opts)?;
    let statuses = run_all(&runs, jobs, |r| {
        let mut c = Command::new("valgrind");
        c.current_dir(root.join("python/tests"))
            .args(&base_args)
            .arg(format!(
                "--xml-file={}/{}%p.xml",
                out.display(),
                r.xml_prefix
            ))
            .arg(&venv.python)
            .args(["-m", "unittest", "-v"])
            .args(&r.tests)
            .env("SLUICE_MEMTEST_ITERATIONS", r.iterations.to_string())
            // Per-test added-leak searches (for attribution) only in the 2N run:
            // every finding is reported from it, and the searches are costly.
            .env(
                "SLUICE_MEMTEST_LEAK_SEARCHES",
                if r.iterations == 2 * n { "1" } else { "0" },
            )
            .env("SLUICE_MEMTEST_ROUNDS", "1")
            .env("SLUICE_MEMTEST_WARMUP", "1");
        python_env(&mut c);
        c
    })?;

    // Read every XML; an incomplete one is a harness failure, never "clean".
    let ours = our_code(root);
    let mut report = StageReport::new("valgrind");
    report.tests = tests.len();
    report.processes = runs.len();
    report.iterations = format!(
        "{n} and {} iterations after warm-up (every shard at both)",
        2 * n
    );
    let mut all_reports = Vec::new();
    let mut per_run: Vec<(usize, u32, Vec<Report>)> = Vec::new();
    for (r, status) in runs.iter().zip(&statuses) {
        let xmls = files_with_prefix(out, &r.xml_prefix, ".xml")?;
        if xmls.is_empty() {
            bail!(
                "Valgrind wrote no XML for {} ({}); see {}",
                r.xml_prefix,
                describe_status(*status),
                r.log.display()
            );
        }
        let mut reps = Vec::new();
        for x in &xmls {
            let rep =
                vgxml_parse::read_path(x).with_context(|| format!("reading {}", x.display()))?;
            if !rep.complete || !rep.finished {
                bail!(
                    "{} is incomplete or never reached FINISHED (Valgrind or Python died, or Valgrind refused its arguments: {}); an incomplete report is never taken as clean. See {}",
                    x.display(),
                    describe_status(*status),
                    r.log.display()
                );
            }
            report.artifacts.push(rel(root, x));
            reps.push(rep);
        }
        report.artifacts.push(rel(root, &r.log));
        if !status.success() {
            let failed = failed_test_names(&r.log);
            report.findings.push(Finding {
                what: format!(
                    "tests failed under Valgrind (shard {} at {} iterations, {})",
                    r.shard,
                    r.iterations,
                    describe_status(*status)
                ),
                test: (!failed.is_empty()).then(|| failed.join(", ")),
                location: None,
                bytes: None,
                blocks: None,
                detail: failed_tests(&r.log),
            });
        }
        per_run.push((r.shard, r.iterations, reps));
    }

    if opts.isolate {
        for (i, shard_tests) in shards.iter().enumerate() {
            let runs: Vec<_> = per_run
                .iter()
                .filter(|r| r.0 == i)
                .map(|(s, it, reps)| (*s, *it, reps.clone()))
                .collect();
            let mut one = StageReport::new("valgrind");
            analyse(&runs, n, &ours, &mut one);
            let name = shard_tests[0].rsplit('.').next().unwrap_or(&shard_tests[0]);
            for mut f in one.findings {
                f.test = Some(name.to_owned());
                report.findings.push(f);
            }
        }
    } else {
        analyse(&per_run, n, &ours, &mut report);
    }
    if opts.gen_suppressions {
        let cand = root.join("target/memtest/candidates.supp");
        let text = candidates(per_run.iter().flat_map(|(_, _, r)| r.iter()));
        std::fs::write(&cand, text)?;
        println!(
            "candidate suppressions (review before copying into suppressions/): {}",
            cand.display()
        );
    }
    for (_, _, reps) in per_run {
        all_reports.extend(reps);
    }
    write_html(root, out, &ours, &all_reports, &mut report)?;
    let unused_suppressions = warn_unused_suppressions(root, out, &all_reports, &mut report)?;
    let summary = vgxml_parse::Summary::from_reports(&all_reports);
    report.valgrind = Some(serde_json::json!({
        "leaks_all_code": summary.leaks,
        "errors_all_code": summary.errors,
        "suppressed": summary.suppressed.by_name.values().sum::<u64>(),
        "diagnostics": summary.diagnostics,
        "unused_suppressions": unused_suppressions,
    }));
    report.verdict = if report.findings.is_empty() {
        "clean"
    } else {
        "leak"
    }
    .into();
    report.normalized = normalize_findings(&report.findings);
    report.seconds = step.done().as_secs_f64();
    Ok(report)
}

/// `test_x` for every `test_x (memory_test.MemoryLeakTests.test_x) ... FAIL|ERROR` line.
fn failed_test_names(log: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines()
        .filter(|l| l.ends_with("... FAIL") || l.ends_with("... ERROR"))
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect()
}

fn failed_tests(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let mut lines: Vec<&str> = text
        .lines()
        .filter(|l| {
            l.ends_with("... FAIL")
                || l.ends_with("... ERROR")
                || l.starts_with("AssertionError")
                || l.contains("LeakError")
        })
        .collect();
    lines.truncate(20);
    format!("{} (log: {})", lines.join("; "), log.display())
}

fn files_with_prefix(dir: &Path, prefix: &str, suffix: &str) -> Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(prefix) && n.ends_with(suffix))
        })
        .collect();
    v.sort();
    Ok(v)
}

/// Runs the processes `jobs` at a time, printing progress (tests done per process).
fn run_all(runs: &[Run], jobs: usize, make: impl Fn(&Run) -> Command) -> Result<Vec<ExitStatus>> {
    let start = Instant::now();
    let mut statuses: Vec<Option<ExitStatus>> = vec![None; runs.len()];
    let mut running: Vec<(usize, Logged)> = Vec::new();
    let mut next = 0;
    let mut last_progress = Instant::now();
    let mut last_line = String::new();
    while statuses.iter().any(Option::is_none) {
        while running.len() < jobs && next < runs.len() {
            let mut c = make(&runs[next]);
            running.push((next, spawn_logged(&mut c, &runs[next].log, false)?));
            next += 1;
        }
        let mut i = 0;
        while i < running.len() {
            if let Some(st) = running[i].1.child.try_wait()? {
                let (idx, l) = running.swap_remove(i);
                for p in l.pumps {
                    let _ = p.join();
                }
                statuses[idx] = Some(st);
                println!(
                    "  [{:>5.1}s] shard {} at {} iterations finished ({}) — {}/{} processes done",
                    start.elapsed().as_secs_f64(),
                    runs[idx].shard,
                    runs[idx].iterations,
                    describe_status(st),
                    statuses.iter().filter(|s| s.is_some()).count(),
                    runs.len()
                );
            } else {
                i += 1;
            }
        }
        if last_progress.elapsed() >= Duration::from_secs(5) {
            last_progress = Instant::now();
            let line: Vec<String> = running
                .iter()
                .map(|(idx, _)| {
                    let r = &runs[*idx];
                    format!(
                        "shard {}/n{}: {}/{} tests",
                        r.shard,
                        r.iterations,
                        tests_done(&r.log),
                        r.tests.len()
                    )
                })
                .collect();
            let line = line.join(", ");
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

fn tests_done(log: &Path) -> usize {
    std::fs::read_to_string(log)
        .map(|t| {
            t.lines()
                .filter(|l| {
                    l.ends_with(" ok")
                        || l.ends_with(" FAIL")
                        || l.ends_with(" ERROR")
                        || l.contains(" skipped ")
                })
                .count()
        })
        .unwrap_or(0)
}

fn is_lost(r: &ErrorRecord) -> bool {
    matches!(
        r.leak_kind(),
        Some(LeakKind::DefinitelyLost | LeakKind::IndirectlyLost)
    )
}

/// A loss record's identity across runs: its stack (functions, files, lines; no addresses).
fn stack_key(r: &ErrorRecord) -> String {
    r.stack
        .iter()
        .map(vgxml_judge::render_frame)
        .collect::<Vec<_>>()
        .join(" <- ")
}

/// The first frame of ours, preferring one with a source file in this repository
/// (`cpp/`, `crates/`) over inlined library code inside the extension module.
fn location(ours: &OurCode, r: &ErrorRecord) -> Option<String> {
    let in_repo = |f: &&vgxml_parse::Frame| {
        f.path().is_some_and(|p| {
            p.contains("/cpp/") || (p.contains("/crates/") && !p.contains("/.cargo/"))
        }) && ours.matches_frame(f)
    };
    let frame = r.stack.iter().find(in_repo).or_else(|| ours.first_frame(r));
    frame.map(|f| {
        let func = f.func.as_deref().unwrap_or("???");
        match (f.path(), f.line) {
            (Some(file), Some(line)) => format!("{}:{line} ({func})", short_path(&file)),
            _ => format!(
                "{func} (in {})",
                f.obj.as_deref().map(short_path).unwrap_or_default()
            ),
        }
    })
}

pub fn short_path(p: &str) -> String {
    // Keep from `cpp/` or `crates/` on; else the file name.
    if p.starts_with("cpp/") || p.starts_with("crates/") {
        return p.to_owned();
    }
    for anchor in ["/cpp/", "/crates/"] {
        if let Some(i) = p.rfind(anchor) {
            return p[i + 1..].to_owned();
        }
    }
    p.rsplit('/').next().unwrap_or(p).to_owned()
}

/// The verdict: memory errors in our code, definitely/indirectly lost blocks in
/// our code, and our loss records that grow from N to 2N iterations.
fn analyse(
    per_run: &[(usize, u32, Vec<Report>)],
    n: u32,
    ours: &OurCode,
    report: &mut StageReport,
) {
    let mut seen_err = BTreeMap::new();
    for (_, _, reps) in per_run {
        for rep in reps {
            for e in rep.memory_errors().filter(|e| ours.matches_record(e)) {
                let key = format!("{} {}", e.kind, location(ours, e).unwrap_or_default());
                seen_err.entry(key).or_insert_with(|| Finding {
                    what: format!("{} ({})", e.kind, vgxml_judge::normalize_text(&e.what)),
                    test: test_of(rep, e, ours),
                    location: location(ours, e),
                    bytes: None,
                    blocks: None,
                    detail: vgxml_judge::render_record(e, ours),
                });
            }
        }
    }
    // Definitely/indirectly lost in our code: per place, the largest amount any one run lost.
    for (_, _, reps) in per_run {
        let mut this_run: BTreeMap<String, (u64, u64, &ErrorRecord, &Report)> = BTreeMap::new();
        for rep in reps {
            for l in rep
                .final_leaks()
                .filter(|l| is_lost(l) && ours.matches_record(l))
            {
                let what = l.leak_kind().map(|k| k.label()).unwrap_or("lost");
                let key = format!("{what} {}", location(ours, l).unwrap_or_default());
                let e = this_run.entry(key).or_insert((0, 0, l, rep));
                e.0 += l.leaked_bytes.unwrap_or(0);
                e.1 += l.leaked_blocks.unwrap_or(0);
            }
        }
        for (key, (bytes, blocks, l, rep)) in this_run {
            let f = seen_err.entry(key).or_insert_with(|| Finding {
                what: l
                    .leak_kind()
                    .map(|k| k.label())
                    .unwrap_or("lost")
                    .to_owned(),
                test: test_of(rep, l, ours),
                location: location(ours, l),
                bytes: Some(0),
                blocks: Some(0),
                detail: vgxml_judge::render_record(l, ours),
            });
            f.bytes = Some(f.bytes.unwrap_or(0).max(bytes));
            f.blocks = Some(f.blocks.unwrap_or(0).max(blocks));
        }
    }
    report.findings.extend(seen_err.into_values());

    // Growth: per shard, our (possibly lost / still reachable) records at 2N vs N.
    let shards: std::collections::BTreeSet<usize> = per_run.iter().map(|r| r.0).collect();
    for s in shards {
        let totals = |it: u32| {
            let mut m: BTreeMap<String, (u64, u64, &ErrorRecord, &Report)> = BTreeMap::new();
            for (_, _, reps) in per_run.iter().filter(|r| r.0 == s && r.1 == it) {
                for rep in reps {
                    for l in rep
                        .final_leaks()
                        .filter(|l| !is_lost(l) && ours.matches_record(l))
                    {
                        let e = m.entry(stack_key(l)).or_insert((0, 0, l, rep));
                        e.0 += l.leaked_bytes.unwrap_or(0);
                        e.1 += l.leaked_blocks.unwrap_or(0);
                    }
                }
            }
            m
        };
        let low = totals(n);
        let high = totals(2 * n);
        for (k, (hb, hn, rec, rep)) in &high {
            let (lb, ln) = low.get(k).map_or((0, 0), |v| (v.0, v.1));
            if *hn > ln {
                report.findings.push(Finding {
                    what: format!("{} grows with iterations", rec.leak_kind().map(|k| k.label()).unwrap_or("leak")),
                    test: test_of(rep, rec, ours),
                    location: location(ours, rec),
                    bytes: Some(hb.saturating_sub(lb)),
                    blocks: Some(hn - ln),
                    detail: format!(
                        "{lb} bytes in {ln} blocks at {n} iterations, {hb} bytes in {hn} blocks at {} iterations\n{}",
                        2 * n,
                        vgxml_judge::render_record(rec, ours)
                    ),
                });
            }
        }
    }
}

/// The test that produced a record, from the `sluice-test-begin:` markers the
/// memory tests write before each test (an added-leak search follows each
/// test): `test_x`, without module and class.
fn test_of(rep: &Report, record: &ErrorRecord, ours: &OurCode) -> Option<String> {
    let id = vgxml_judge::check::test_of_record(
        rep,
        record,
        ours,
        vgxml_judge::check::TEST_MARKER_PREFIX,
    )?;
    Some(id.trim().rsplit('.').next().unwrap_or(id.trim()).to_owned())
}

fn normalize_findings(findings: &[Finding]) -> String {
    if findings.is_empty() {
        return "no leaks or memory errors in our code (extension module, cpp/, crates/)\n".into();
    }
    let mut lines: Vec<String> = findings
        .iter()
        .map(|f| {
            let test = f
                .test
                .as_deref()
                .map(|t| format!("{t}: "))
                .unwrap_or_default();
            format!(
                "{test}{} at {}",
                f.what,
                f.location.as_deref().unwrap_or("?")
            )
        })
        .collect();
    lines.sort();
    lines.dedup();
    lines.join("\n") + "\n"
}

/// `report.html` beside the XML: one self-contained page (vgxml's renderer)
/// with records grouped by fingerprint and our frames highlighted.
fn write_html(
    root: &Path,
    out: &Path,
    ours: &OurCode,
    reports: &[Report],
    report: &mut StageReport,
) -> Result<()> {
    let html = out.join("report.html");
    let page =
        vgxml_judge::html::render(reports, ours, root, vgxml_judge::check::TEST_MARKER_PREFIX);
    std::fs::write(&html, page).with_context(|| format!("writing {}", html.display()))?;
    report.artifacts.push(rel(root, &html));
    Ok(())
}

/// Suppressions rot: an entry that matched nothing in any run hides nothing
/// today and may hide a real leak tomorrow. Warn (never fail: which
/// interpreter entries match depends on the tests selected), and list them
/// all in `unused-suppressions.txt`.
fn warn_unused_suppressions(
    root: &Path,
    out: &Path,
    reports: &[Report],
    report: &mut StageReport,
) -> Result<usize> {
    let files = suppression_files(root)?;
    let entries = vgxml_judge::supp::parse_files(&files).context("reading suppressions/")?;
    let unused = vgxml_judge::supp::unused(&entries, reports);
    let list = out.join("unused-suppressions.txt");
    let mut text = String::new();
    let mut per_file: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for e in &entries {
        per_file.entry(rel(root, &e.file)).or_default().1 += 1;
    }
    for e in &unused {
        per_file.entry(rel(root, &e.file)).or_default().0 += 1;
        text += &format!("{}:{}: {}\n", rel(root, &e.file), e.line, e.name);
    }
    std::fs::write(&list, &text).with_context(|| format!("writing {}", list.display()))?;
    for (file, (unused, total)) in &per_file {
        if *unused > 0 {
            println!("warning: {unused} of {total} suppressions in {file} matched nothing in this run (list: {})", rel(root, &list));
        }
    }
    // Our own file is small and every entry in it must earn its place: name them.
    for e in unused.iter().filter(|e| e.file.ends_with("sluice.supp")) {
        println!(
            "warning: unused suppression {} at {}:{}",
            e.name,
            rel(root, &e.file),
            e.line
        );
    }
    report.artifacts.push(rel(root, &list));
    Ok(unused.len())
}

/// The generated suppressions of every record, deduplicated, for review.
fn candidates<'a>(reports: impl Iterator<Item = &'a Report>) -> String {
    let mut seen = std::collections::BTreeSet::new();
    let mut out = String::from(
        "# Candidate suppressions written by `cargo xtask valgrind --gen-suppressions`.\n\
         # Review each one; never copy an entry whose frames reach sluice code.\n\n",
    );
    for rep in reports {
        for e in &rep.errors {
            if let Some(s) = &e.suppression {
                if seen.insert(s.rawtext.clone()) {
                    out.push_str(&format!(
                        "# {}: {}\n{}\n",
                        e.kind,
                        vgxml_judge::normalize_text(&e.what),
                        s.rawtext.trim_end()
                    ));
                }
            }
        }
    }
    out
}

pub fn write_file(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}
