//! The fast native stage: the tests with LeakSanitizer preloaded into the real
//! interpreter (`LD_PRELOAD` of gcc's `liblsan.so`, no rebuild of Python), one
//! process per test. LSan reports the blocks no pointer reaches at exit; xtask
//! keeps the leaks whose stack has a frame in our code (`cpp/`, `crates/`,
//! `sluice::`, `_native::`), so the interpreter needs no suppressions (an LSan
//! suppression matches any frame: one on the interpreter would hide every leak).

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::Instant,
};

use anyhow::{bail, Context, Result};

use crate::{
    harness::{describe_status, Step},
    memtest::{rel, Finding, StageReport},
    valgrind::{self, short_path},
    venv::Venv,
};

/// Iterations per round under LSan (it reports at exit, so a leak needs only to happen).
pub const LSAN_ITERATIONS: u32 = 10;

/// The LeakSanitizer runtime to preload: `$SLUICE_LSAN_RUNTIME`, or gcc's
/// `liblsan.so.0` from `ldconfig -p`.
pub fn runtime() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("SLUICE_LSAN_RUNTIME") {
        let p = PathBuf::from(p);
        if !p.exists() {
            bail!(
                "SLUICE_LSAN_RUNTIME={} does not exist — on Debian/Ubuntu: apt-get install liblsan0",
                p.display()
            );
        }
        return Ok(p);
    }
    let out = Command::new("ldconfig").arg("-p").output();
    if let Ok(out) = out {
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let line = line.trim();
            if line.starts_with("liblsan.so.") {
                if let Some((_, path)) = line.rsplit_once("=> ") {
                    return Ok(PathBuf::from(path.trim()));
                }
            }
        }
    }
    for p in [
        "/lib/x86_64-linux-gnu/liblsan.so.0",
        "/usr/lib/x86_64-linux-gnu/liblsan.so.0",
        "/usr/lib64/liblsan.so.0",
    ] {
        if Path::new(p).exists() {
            return Ok(PathBuf::from(p));
        }
    }
    bail!(
        "LeakSanitizer's runtime (liblsan.so.0) was not found — on Debian/Ubuntu: apt-get install liblsan0 \
         (or set SLUICE_LSAN_RUNTIME=/path/to/liblsan.so)"
    )
}

/// One frame of an LSan stack: `#3 0x7f.. in FUNC FILE:LINE` or `in FUNC (MODULE+0x..)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LFrame {
    pub func: String,
    pub file: Option<String>,
    pub line: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeakRecord {
    pub direct: bool,
    pub bytes: u64,
    pub objects: u64,
    pub frames: Vec<LFrame>,
}

/// Parses the leak records of an LSan report.
pub fn parse(text: &str) -> Vec<LeakRecord> {
    let mut out: Vec<LeakRecord> = Vec::new();
    let mut current: Option<LeakRecord> = None;
    for line in text.lines() {
        let t = line.trim();
        if let Some(rest) = t
            .strip_prefix("Direct leak of ")
            .map(|r| (true, r))
            .or_else(|| t.strip_prefix("Indirect leak of ").map(|r| (false, r)))
        {
            out.extend(current.take());
            let (direct, rest) = rest;
            let nums: Vec<u64> = rest
                .split_whitespace()
                .filter_map(|w| w.parse().ok())
                .collect();
            current = Some(LeakRecord {
                direct,
                bytes: nums.first().copied().unwrap_or(0),
                objects: nums.get(1).copied().unwrap_or(0),
                frames: Vec::new(),
            });
        } else if t.starts_with('#') {
            let Some(rec) = current.as_mut() else {
                continue;
            };
            // `#N 0xADDR in FUNC LOCATION`; FUNC may contain spaces (C++ signatures).
            let Some((_, rest)) = t.split_once(" in ") else {
                continue;
            };
            let (func, loc) = match rest.rsplit_once(' ') {
                Some((f, l)) if !l.starts_with('(') || l.ends_with(')') => (f, Some(l)),
                _ => (rest, None),
            };
            let (file, line_no) = match loc {
                Some(l) if !l.starts_with('(') => match l.rsplit_once(':') {
                    Some((f, n)) if n.chars().all(|c| c.is_ascii_digit()) => {
                        (Some(f.to_owned()), n.parse().ok())
                    }
                    _ => (Some(l.to_owned()), None),
                },
                _ => (None, None),
            };
            rec.frames.push(LFrame {
                func: func.to_owned(),
                file,
                line: line_no,
            });
        } else if t.is_empty() || t.starts_with("SUMMARY") || t.starts_with("---") {
            out.extend(current.take());
        }
    }
    out.extend(current);
    out
}

/// A frame of our code: a source under `cpp/` or `crates/` of this repository,
/// or a function `sluice::*`, `_native::*`, `sluice_core::*`. The counting
/// allocator (`alloc_count.rs`) is a wrapper, never the place of a leak.
pub fn is_ours(f: &LFrame) -> bool {
    let file_ours = f.file.as_deref().is_some_and(|p| {
        !p.contains("/.cargo/")
            && !p.contains("alloc_count.rs")
            && (p.contains("/cpp/") || p.starts_with("crates/") || p.contains("/crates/"))
    });
    let func_ours = ["sluice::", "_native::", "sluice_core::"]
        .iter()
        .any(|p| f.func.starts_with(p))
        && !f.func.contains("alloc_count");
    file_ours || func_ours
}

/// `file:line (function)` of the first frame of ours, the hash of a Rust symbol dropped.
pub fn location(r: &LeakRecord) -> Option<String> {
    let f = r.frames.iter().find(|f| is_ours(f))?;
    let func = strip_hash(&f.func);
    Some(match (&f.file, f.line) {
        (Some(file), Some(line)) => format!("{}:{line} ({func})", short_path(file)),
        _ => func.to_owned(),
    })
}

fn strip_hash(func: &str) -> &str {
    match func.rsplit_once("::h") {
        Some((head, h)) if h.len() == 16 && h.chars().all(|c| c.is_ascii_hexdigit()) => head,
        _ => func,
    }
}

/// Runs one test (`test_id`, e.g. `planted_test.PlantedLeakTests.test_cpp_new`)
/// under LSan and returns the findings whose stack reaches our code.
pub fn run_test(
    root: &Path,
    venv: &Venv,
    runtime: &Path,
    test_id: &str,
    out: &Path,
    report: &mut StageReport,
) -> Result<Vec<Finding>> {
    let name = test_id.rsplit('.').next().unwrap_or(test_id);
    let log = out.join(format!("{name}.log"));
    let report_prefix = out.join(format!("{name}.lsan"));
    let supp = root.join("suppressions/lsan.txt");
    let mut cmd = Command::new(&venv.python);
    cmd.current_dir(root.join("python/tests"))
        .args(["-m", "unittest", "-v", test_id])
        .env("LD_PRELOAD", runtime)
        .env(
            "LSAN_OPTIONS",
            format!(
                "fast_unwind_on_malloc=0:malloc_context_size=40:print_suppressions=0:suppressions={}:log_path={}",
                supp.display(),
                report_prefix.display()
            ),
        )
        .env("SLUICE_MEMTEST_ITERATIONS", LSAN_ITERATIONS.to_string())
        .env("SLUICE_MEMTEST_ROUNDS", "2")
        .env("SLUICE_MEMTEST_WARMUP", "1");
    valgrind::python_env(&mut cmd); // PYTHONMALLOC=malloc, tracemalloc off (its own tables "leak")
    let status = valgrind::run_logged(cmd, &log, false)?;
    report.artifacts.push(rel(root, &log));
    let reports: Vec<PathBuf> = std::fs::read_dir(out)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&format!("{name}.lsan.")))
        })
        .collect();
    let code = status.code();
    let log_text = std::fs::read_to_string(&log).unwrap_or_default();
    let mut text = String::new();
    for r in &reports {
        text += &std::fs::read_to_string(r).with_context(|| format!("reading {}", r.display()))?;
        report.artifacts.push(rel(root, r));
    }
    if text.contains("LeakSanitizer has encountered a fatal error")
        || log_text.contains("LeakSanitizer has encountered a fatal error")
    {
        bail!(
            "LeakSanitizer could not run (ptrace not permitted in this container?); see {}",
            log.display()
        );
    }
    // 0: clean; 1: a test failed (a planted leak seen by the live counters); 23: LSan found leaks.
    match code {
        Some(0 | 1) => {}
        Some(23) if !reports.is_empty() => {}
        _ => bail!(
            "python under LeakSanitizer ended with {} and {} report(s); see {}",
            describe_status(status),
            reports.len(),
            log.display()
        ),
    }
    let mut findings: Vec<Finding> = Vec::new();
    for rec in parse(&text) {
        let Some(loc) = location(&rec) else { continue };
        let what = if rec.direct {
            "direct leak"
        } else {
            "indirect leak"
        };
        match findings
            .iter_mut()
            .find(|f| f.what == what && f.location.as_deref() == Some(&loc))
        {
            Some(f) => {
                f.bytes = Some(f.bytes.unwrap_or(0) + rec.bytes);
                f.blocks = Some(f.blocks.unwrap_or(0) + rec.objects);
            }
            None => findings.push(Finding {
                what: what.into(),
                test: Some(name.to_owned()),
                location: Some(loc),
                bytes: Some(rec.bytes),
                blocks: Some(rec.objects),
                detail: format!("LeakSanitizer report: {}", rel(root, &report_prefix)),
            }),
        }
    }
    Ok(findings)
}

/// Findings per test id, in the order of the tests.
pub type PerTest = Vec<(String, Vec<Finding>)>;

/// The LSan stage over `tests` (one process each, `jobs` at a time).
pub fn stage(
    root: &Path,
    venv: &Venv,
    tests: &[String],
    jobs: usize,
    out: &Path,
    title: &str,
) -> Result<(StageReport, PerTest)> {
    let step = Step::start(title);
    let runtime = runtime()?;
    println!("LeakSanitizer runtime: {}", runtime.display());
    if out.exists() {
        std::fs::remove_dir_all(out)?;
    }
    std::fs::create_dir_all(out)?;
    let start = Instant::now();
    let mut report = StageReport::new("lsan");
    report.tests = tests.len();
    report.processes = tests.len();
    report.iterations = format!("{LSAN_ITERATIONS} iterations x 2 rounds after warm-up");
    let results = std::sync::Mutex::new(Vec::new());
    let next = std::sync::atomic::AtomicUsize::new(0);
    let reports = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..jobs.max(1) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let Some(t) = tests.get(i) else { break };
                let mut r = StageReport::new("lsan");
                let res = run_test(root, venv, &runtime, t, out, &mut r);
                println!(
                    "  [{:>5.1}s] {t} under LSan: {}",
                    start.elapsed().as_secs_f64(),
                    match &res {
                        Ok(f) if f.is_empty() => "nothing of ours".to_owned(),
                        Ok(f) => format!("{} leak(s) of ours", f.len()),
                        Err(e) => format!("harness error: {e:#}"),
                    }
                );
                results.lock().unwrap().push((i, res));
                reports.lock().unwrap().push(r);
            });
        }
    });
    let mut results = results.into_inner().unwrap();
    results.sort_by_key(|r| r.0);
    let mut per_test = Vec::new();
    for (i, res) in results {
        let findings = res?;
        report.findings.extend(findings.iter().cloned());
        per_test.push((tests[i].clone(), findings));
    }
    for r in reports.into_inner().unwrap() {
        report.artifacts.extend(r.artifacts);
    }
    report.artifacts.sort();
    report.verdict = if report.findings.is_empty() {
        "clean"
    } else {
        "leak"
    }
    .into();
    report.seconds = step.done().as_secs_f64();
    Ok((report, per_test))
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPORT: &str = "
=================================================================
==1==ERROR: LeakSanitizer: detected memory leaks

Direct leak of 3392 byte(s) in 53 object(s) allocated from:
    #0 0x7fcb in operator new[](unsigned long) ../../../../src/libsanitizer/lsan/lsan_interceptors.cpp:236
    #1 0x7fcb in sluice::planted::leak_new(unsigned long) /w/crates/sluice-core/../../cpp/planted/planted.cc:10
    #2 0x7fcb in _native::planted::cpp_leak_new::h58578f45f404fc2f crates/sluice-py/src/planted.rs:194
    #3 0x7fcb in _PyEval_EvalFrameDefault Python/ceval.c:5091

Indirect leak of 80 byte(s) in 1 object(s) allocated from:
    #0 0x7f10 in __interceptor_realloc ../../../../src/libsanitizer/lsan/lsan_interceptors.cpp:98
    #1 0x7f10 in _$LT$_native..alloc_count..Counting$GT$::realloc::h41ecddc4fd2be13f crates/sluice-py/src/alloc_count.rs:51
    #2 0x7f10 in _native::planted::rust_leak::heb28d23bd531fff1 crates/sluice-py/src/planted.rs:200
    #3 0x7f10 in PyObject_Call (/usr/lib/libpython3.11.so+0x1234)

Direct leak of 8 byte(s) in 1 object(s) allocated from:
    #0 0x7f10 in malloc ../../../../src/libsanitizer/lsan/lsan_interceptors.cpp:75
    #1 0x7f10 in PyMem_RawMalloc Objects/obmalloc.c:586

SUMMARY: LeakSanitizer: 3480 byte(s) leaked in 55 allocation(s).
";

    #[test]
    fn parses_records_and_locates_our_first_frame() {
        let recs = parse(REPORT);
        assert_eq!(recs.len(), 3);
        assert!(recs[0].direct && recs[0].bytes == 3392 && recs[0].objects == 53);
        assert_eq!(
            location(&recs[0]).as_deref(),
            Some("cpp/planted/planted.cc:10 (sluice::planted::leak_new(unsigned long))")
        );
        assert!(!recs[1].direct);
        // The counting allocator's wrapper is skipped; the hash is dropped.
        assert_eq!(
            location(&recs[1]).as_deref(),
            Some("crates/sluice-py/src/planted.rs:200 (_native::planted::rust_leak)")
        );
        assert_eq!(recs[1].frames[3].file, None);
        // The interpreter's own leak has no frame of ours.
        assert_eq!(location(&recs[2]), None);
    }
}
