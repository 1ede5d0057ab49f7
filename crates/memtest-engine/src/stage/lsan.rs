//! The fast native stage: the tests with LeakSanitizer preloaded into the real
//! interpreter (`LD_PRELOAD` of gcc's `liblsan.so`, no rebuild of Python), one
//! process per test. LSan reports the blocks no pointer reaches at exit; its
//! records are read here into the judge's model and judged with the same
//! "our code" as Valgrind's (`crate::ours`), so the interpreter needs no
//! suppressions (an LSan suppression matches any frame: one on the
//! interpreter would hide every leak); the project's own LSan suppressions
//! are `[tool.memtest.suppressions] lsan`.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use vgxml_judge::{judge, Category, Policy};
use vgxml_parse::{ErrorRecord, Frame, Kind, Report};

use super::StageCtx;
use crate::error::{harness, Result};
use crate::files::{self, fresh_dir, rel};
use crate::plan::native_memory_env;
use crate::process::{describe_status, run_pool, Job};
use crate::protocol::{CHeapMode, CheckSettings, RunDescription};
use crate::report::{Finding, Rule, StageName, StageReport};
use crate::step::Step;

/// Iterations per round under LSan (it reports at exit, so a leak needs only to happen).
pub const LSAN_ITERATIONS: u32 = 10;

/// The LeakSanitizer runtime to preload: `$MEMTEST_LSAN_RUNTIME`, or gcc's
/// `liblsan.so.0` from `ldconfig -p`.
pub fn runtime() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("MEMTEST_LSAN_RUNTIME") {
        let p = PathBuf::from(p);
        if !p.exists() {
            return Err(harness!(
                "MEMTEST_LSAN_RUNTIME={} does not exist — on Debian/Ubuntu: apt-get install liblsan0",
                p.display()
            ));
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
    Err(harness!(
        "LeakSanitizer's runtime (liblsan.so.0) was not found — on Debian/Ubuntu: apt-get install liblsan0 \
         (or set MEMTEST_LSAN_RUNTIME=/path/to/liblsan.so)"
    ))
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

impl LeakRecord {
    /// The record in the judge's model: an end-of-run loss record.
    fn to_record(&self, index: usize) -> ErrorRecord {
        let mut e = ErrorRecord::new(index as u64);
        e.kind = if self.direct {
            Kind::LeakDefinitelyLost
        } else {
            Kind::LeakIndirectlyLost
        };
        e.what = format!(
            "{} leak of {} byte(s) in {} object(s) allocated from:",
            if self.direct { "Direct" } else { "Indirect" },
            self.bytes,
            self.objects
        );
        e.leaked_bytes = Some(self.bytes);
        e.leaked_blocks = Some(self.objects);
        e.final_search = true;
        e.stack = self
            .frames
            .iter()
            .map(|f| Frame {
                func: Some(f.func.clone()),
                file: f.file.clone(),
                line: f.line,
                ..Frame::default()
            })
            .collect();
        e
    }
}

/// The records of an LSan report as a report the judge reads.
fn report_of(source: &str, records: &[LeakRecord]) -> Report {
    let mut r = Report::new(source, true);
    r.tool = "lsan".into();
    r.complete = true;
    r.finished = true;
    r.errors = records
        .iter()
        .enumerate()
        .map(|(i, rec)| rec.to_record(i))
        .collect();
    r
}

/// LSan's verdict: every lost block (direct or indirect) whose stack
/// reaches our code.
fn policy(ctx: &StageCtx<'_>) -> Policy {
    // With our one-time functions, as under Valgrind: what the module's init
    // leaves (CPython 3.12/3.13's `str` per `add_function`) is not a test's.
    let mut p = ctx.ours.policy(ctx.project);
    p.fail_on = [Category::Definite, Category::Indirect]
        .into_iter()
        .collect();
    p
}

/// The findings of one test's LSan report.
fn findings(
    policy: &Policy,
    root: &Path,
    test: &str,
    text: &str,
    report_prefix: &Path,
) -> Vec<Finding> {
    let report = report_of(&rel(root, report_prefix), &parse(text));
    judge(std::slice::from_ref(&report), policy)
        .issues
        .into_iter()
        // One-time allocations do not fail (the Valgrind stage lists them).
        .filter(|i| i.failing)
        .map(|i| Finding {
            test: Some(test.to_owned()),
            location: i.place.as_ref().map(ToString::to_string),
            chain: i.chain.clone(),
            bytes: i.bytes,
            blocks: i.blocks,
            detail: format!("LeakSanitizer report: {}", rel(root, report_prefix)),
            ..Finding::new(
                Rule::Lost,
                if i.category == Category::Definite {
                    "direct leak"
                } else {
                    "indirect leak"
                },
            )
        })
        .collect()
}

/// One test's LSan process: its log and where LSan writes its reports.
struct LsanRun {
    test: String,
    log: PathBuf,
    report_prefix: PathBuf,
}

impl LsanRun {
    fn new(ctx: &StageCtx<'_>, test_id: &str) -> LsanRun {
        let name = file_name(ctx.short(test_id));
        LsanRun {
            test: test_id.to_owned(),
            log: ctx.out.join(format!("{name}.log")),
            report_prefix: ctx.out.join(format!("{name}.lsan")),
        }
    }

    fn command(&self, ctx: &StageCtx<'_>, runtime: &Path) -> Result<Command> {
        let name = file_name(ctx.short(&self.test));
        // tracemalloc off: its own tables "leak" at exit.
        let check = CheckSettings {
            iterations: ctx.iterations.unwrap_or(LSAN_ITERATIONS),
            round_seconds: 0.0,
            rounds: 2,
            warmup_rounds: 1,
            confirm_rounds: 0,
            tracemalloc: false,
            c_heap: CHeapMode::Off,
            ..CheckSettings::default()
        };
        let mut run = RunDescription::new(
            StageName::Lsan,
            ctx.out.join(format!("{name}.events.jsonl")),
            check,
        );
        run.live_objects = ctx.project.description.live_objects.clone();
        run.tests = vec![self.test.clone()];
        let mut cmd = ctx.runner_command(&run, &ctx.out.join(format!("{name}.run.json")))?;
        let supp = match &ctx.project.description.suppressions.lsan {
            Some(f) => format!(":suppressions={}", ctx.project.root.join(f).display()),
            None => String::new(),
        };
        cmd.env("LD_PRELOAD", runtime).env(
            "LSAN_OPTIONS",
            format!(
                "fast_unwind_on_malloc=0:malloc_context_size=40:print_suppressions=0{supp}:log_path={}",
                self.report_prefix.display()
            ),
        );
        native_memory_env(&mut cmd);
        Ok(cmd)
    }

    /// Reads what LSan wrote; the findings whose stack reaches our code.
    fn findings(
        &self,
        ctx: &StageCtx<'_>,
        status: std::process::ExitStatus,
        report: &mut StageReport,
    ) -> Result<Vec<Finding>> {
        let root = &ctx.project.root;
        let name = file_name(ctx.short(&self.test));
        report.artifacts.push(rel(root, &self.log));
        let reports = files::with_prefix(&ctx.out, &format!("{name}.lsan."), "")?;
        let log_text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let mut text = String::new();
        for r in &reports {
            text += &files::read(r)?;
            report.artifacts.push(rel(root, r));
        }
        if text.contains("LeakSanitizer has encountered a fatal error")
            || log_text.contains("LeakSanitizer has encountered a fatal error")
        {
            return Err(harness!(
                "LeakSanitizer could not run (ptrace not permitted in this container?); see {}",
                self.log.display()
            ));
        }
        // 0: clean; 1: a test failed (a leak seen by the live counters); 23: LSan found leaks.
        match status.code() {
            Some(0 | 1) => {}
            Some(23) if !reports.is_empty() => {}
            _ => {
                return Err(harness!(
                    "python under LeakSanitizer ended with {} and {} report(s); see {}",
                    describe_status(status),
                    reports.len(),
                    self.log.display()
                ))
            }
        }
        Ok(findings(
            &policy(ctx),
            root,
            ctx.short(&self.test),
            &text,
            &self.report_prefix,
        ))
    }
}

/// Findings per test id, in the order of the tests.
pub type PerTest = Vec<(String, Vec<Finding>)>;

/// The LSan stage over `tests` (one process each, `--jobs` at a time).
pub fn run(ctx: &StageCtx<'_>, tests: &[String]) -> Result<(StageReport, PerTest)> {
    let step = Step::start(&ctx.title);
    let runtime = runtime()?;
    println!("LeakSanitizer runtime: {}", runtime.display());
    fresh_dir(&ctx.out)?;
    let mut report = StageReport::new(StageName::Lsan);
    report.tests = tests.len();
    report.processes = tests.len();
    report.iterations = format!(
        "{} iterations x 2 rounds after warm-up",
        ctx.iterations.unwrap_or(LSAN_ITERATIONS)
    );
    let runs: Vec<LsanRun> = tests.iter().map(|t| LsanRun::new(ctx, t)).collect();
    let jobs = runs
        .iter()
        .map(|r| {
            Ok(Job {
                label: format!("{} under LSan", r.test),
                command: r.command(ctx, &runtime)?,
                log: r.log.clone(),
                echo: false,
            })
        })
        .collect::<Result<Vec<Job>>>()?;
    let pool = run_pool(jobs, ctx.jobs.max(1), |i, _| {
        format!("{} under LSan", runs[i].test)
    })?;
    if pool.interrupted {
        return Err(crate::Error::Interrupted);
    }
    let mut per_test = Vec::new();
    for (r, status) in runs.iter().zip(pool.statuses) {
        let findings = r.findings(ctx, status, &mut report)?;
        println!(
            "  {}: {}",
            r.test,
            if findings.is_empty() {
                "nothing of ours".to_owned()
            } else {
                format!("{} leak(s) of ours", findings.len())
            }
        );
        report.findings.extend(findings.iter().cloned());
        per_test.push((r.test.clone(), findings));
    }
    report.artifacts.sort();
    report.conclude();
    report.seconds = step.done().as_secs_f64();
    Ok((report, per_test))
}

/// A test's name as a file name (a pytest node id has `/`, `::`, `[`).
fn file_name(test: &str) -> String {
    test.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPORT: &str = "
=================================================================
==1==ERROR: LeakSanitizer: detected memory leaks

Direct leak of 3392 byte(s) in 53 object(s) allocated from:
    #0 0x7fcb in operator new[](unsigned long) ../../../../src/libsanitizer/lsan/lsan_interceptors.cpp:236
    #1 0x7fcb in mylib::leak_new(unsigned long) /w/src/native/../leaky.cc:10
    #2 0x7fcb in _ext::cpp_leak_new::h58578f45f404fc2f crates/ext/src/lib.rs:194
    #3 0x7fcb in _PyEval_EvalFrameDefault Python/ceval.c:5091

Indirect leak of 80 byte(s) in 1 object(s) allocated from:
    #0 0x7f10 in __interceptor_realloc ../../../../src/libsanitizer/lsan/lsan_interceptors.cpp:98
    #1 0x7f10 in _$LT$_ext..alloc_count..Counting$GT$::realloc::h41ecddc4fd2be13f crates/ext/src/alloc_count.rs:51
    #2 0x7f10 in _ext::rust_leak::heb28d23bd531fff1 crates/ext/src/lib.rs:200
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
        assert!(!recs[1].direct);
        assert_eq!(recs[1].frames[3].file, None);
        let root = Path::new("/w");
        let ours = vgxml_judge::OurCode::new()
            .source_prefix("/w/src/")
            .source_glob("src/*")
            .source_glob("crates/*")
            .function_pattern("mylib::*")
            .function_pattern("_ext::*")
            .exclude("*alloc_count*");
        let mut policy = Policy::new(ours, root.to_path_buf());
        policy.fail_on = [Category::Definite, Category::Indirect]
            .into_iter()
            .collect();
        let found = findings(&policy, root, "test_x", REPORT, &root.join("x.lsan"));
        let places: Vec<(&str, Option<&str>, Option<u64>)> = found
            .iter()
            .map(|f| (f.what.as_str(), f.location.as_deref(), f.bytes))
            .collect();
        assert_eq!(
            places,
            vec![
                (
                    "direct leak",
                    Some("src/leaky.cc:10 (mylib::leak_new(unsigned long))"),
                    Some(3392)
                ),
                // The counting allocator's wrapper is skipped; the hash is dropped.
                (
                    "indirect leak",
                    Some("crates/ext/src/lib.rs:200 (_ext::rust_leak)"),
                    Some(80)
                ),
            ],
            "the interpreter's own leak has no frame of ours"
        );
    }
}
