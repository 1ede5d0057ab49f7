//! Valgrind suppressions for a run: the project's own files, memtest's file
//! of the binding libraries' one-time allocations (`suppressions/bindings.supp`,
//! embedded), and the interpreter's own reports for the running CPython:
//! its section of the project's per-version file when it has one, else a
//! section generated from an interpreter-only run of the test runner under
//! Valgrind (pytest's start-up is not unittest's), cached per interpreter,
//! runner and Valgrind. Generated entries come from a process that never
//! imports the project, so none can name its code.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use vgxml_parse::SFrame;

use crate::config::Runner;
use crate::error::{harness, Result};
use crate::files;
use crate::modules::ExtensionModule;
use crate::plan::native_memory_env;
use crate::platform::Platform;
use crate::process::{describe_status, run_logged};
use crate::project::Project;
use crate::step::Step;

/// The binding libraries' one-time allocations (PyO3, pybind11, nanobind).
pub const BINDINGS: &str = include_str!("../suppressions/bindings.supp");

/// Frames kept per generated entry: the exact chain of interpreter functions,
/// short enough to match the same allocation under a deeper test stack.
pub const FRAMES: usize = 12;

/// Allocation functions: a group is named by the first function below them.
const ALLOCATORS: &[&str] = &[
    "malloc",
    "calloc",
    "realloc",
    "memalign",
    "posix_memalign",
    "aligned_alloc",
    "_PyMem_RawMalloc",
    "_PyMem_RawCalloc",
    "_PyMem_RawRealloc",
    "PyMem_RawMalloc",
    "PyMem_RawCalloc",
    "PyMem_RawRealloc",
    "PyMem_Malloc",
    "PyMem_Calloc",
    "PyMem_Realloc",
    "PyObject_Malloc",
    "PyObject_Calloc",
    "PyObject_Realloc",
    "_PyObject_Malloc",
    "_PyObject_Calloc",
];

/// Interpreter frames a stack must start with (below the allocator) to be
/// the interpreter's own: more than the deepest first frame of a project's
/// code seen in any report (12, in three projects' suites, PyO3 and C).
pub const INTERPRETER_FRAMES: usize = 16;

/// Suppressions of what the interpreter alone does: loss records and errors
/// whose innermost frames (after the allocator) are all under the
/// interpreter's installation. A leak search lists every loss record that
/// changed since the last; most are the interpreter's, and writing them
/// (each symbolised, up to `--num-callers` frames) is most of a search's
/// cost. `None` when a module of the project is installed under the
/// interpreter's prefix (a system-wide install): the rule would hide it.
pub fn interpreter_only(platform: &Platform, modules: &[ExtensionModule]) -> Option<String> {
    let prefix = platform.python.base_prefix.display().to_string();
    if prefix.len() < 2
        || modules
            .iter()
            .any(|m| m.path.starts_with(&platform.python.base_prefix))
    {
        return None;
    }
    let frames = format!("   obj:{prefix}/*\n").repeat(INTERPRETER_FRAMES);
    let mut text = format!(
        "# Written by memtest for this run: loss records and errors whose {INTERPRETER_FRAMES} innermost\n\
         # frames (below the allocator) are all the interpreter's ({prefix}). A record of the\n\
         # project's code has one of its frames among them and does not match.\n\n\
         {{\n   interpreter-only-leak\n   Memcheck:Leak\n   match-leak-kinds: all\n   obj:*/vgpreload_memcheck-*\n{frames}}}\n"
    );
    for kind in [
        "Cond", "Value8", "Value4", "Addr8", "Addr4", "Addr16", "Addr32",
    ] {
        text += &format!(
            "{{\n   interpreter-only-{}\n   Memcheck:{kind}\n{frames}}}\n",
            kind.to_lowercase()
        );
    }
    Some(text)
}

/// The files Valgrind gets for `project` on `platform` (written under
/// `out`), and notes on what was generated or is missing.
pub fn for_run(
    project: &Project,
    platform: &Platform,
    modules: &[ExtensionModule],
    out: &Path,
) -> Result<(Vec<PathBuf>, Vec<String>)> {
    let s = &project.description.suppressions;
    let mut given = Vec::new();
    let mut notes = Vec::new();
    for f in &s.files {
        let path = project.root.join(f);
        if !path.is_file() {
            return Err(harness!(
                "[tool.memtest.suppressions] files: {} does not exist",
                path.display()
            ));
        }
        given.push(path);
    }
    let dir = out.join("suppressions");
    files::create_dir(&dir)?;
    if s.bindings {
        let path = dir.join("bindings.supp");
        files::write(&path, BINDINGS)?;
        given.push(path);
    }
    let minor = platform.python.minor_label();
    let committed = match &s.python {
        Some(f) => section(&files::read(&project.root.join(f))?, &minor),
        None => None,
    };
    let section_text = match (committed, s.generate) {
        (Some(text), _) => Some(text),
        (None, true) => {
            let (text, note) = cached_or_generated(project, platform)?;
            notes.push(note);
            Some(text)
        }
        (None, false) => {
            notes.push(format!(
                "no suppressions for CPython {minor}: the interpreter's own reports are judged by \"ours\" alone"
            ));
            None
        }
    };
    if let Some(text) = section_text {
        let path = dir.join("python.supp");
        files::write(&path, &text)?;
        given.push(path);
    }
    match interpreter_only(platform, modules) {
        Some(text) => {
            let path = dir.join("interpreter-only.supp");
            files::write(&path, &text)?;
            given.push(path);
        }
        None => notes.push(format!(
            "a module of the project is installed under the interpreter's prefix ({}): every interpreter record is listed (slower)",
            platform.python.base_prefix.display()
        )),
    }
    Ok((given, notes))
}

/// The section of a per-version file for CPython `minor` (`3.11`, `3.13t`).
pub fn section(text: &str, minor: &str) -> Option<String> {
    let begin = format!("# ==== BEGIN CPython {minor} ");
    let end = format!("# ==== END CPython {minor} ====");
    let b = text.find(&begin)?;
    let e = text[b..].find(&end)? + b;
    Some(format!("{}\n", &text[b..e + end.len()]))
}

/// `text` with its section for `minor` replaced by (or, when it has none,
/// followed by) `new_section`.
pub fn replace_section(text: &str, minor: &str, new_section: &str) -> String {
    let begin = format!("# ==== BEGIN CPython {minor} ");
    let end = format!("# ==== END CPython {minor} ====\n");
    match (text.find(&begin), text.find(&end)) {
        (Some(b), Some(e)) if e > b => {
            format!("{}{new_section}{}", &text[..b], &text[e + end.len()..])
        }
        _ => {
            let mut s = text.to_owned();
            if !s.is_empty() && !s.ends_with("\n\n") {
                s.push('\n');
            }
            s + new_section
        }
    }
}

/// What the interpreter-only run does.
pub enum Workload<'a> {
    /// The project's runner, on a test that imports nothing of the project.
    Runner(Runner),
    /// A script (`python -c`), e.g. the imports a project's tests make.
    Script(&'a str),
}

/// The generated section for this interpreter and runner, from the cache
/// when an earlier run made it.
fn cached_or_generated(project: &Project, platform: &Platform) -> Result<(String, String)> {
    let valgrind = platform.valgrind()?;
    let runner = project.description.runner;
    let key = format!(
        "{}|{}|{:?}|{}|{}",
        platform.python.real.display(),
        platform.python.label(),
        runner,
        valgrind.version,
        crate::protocol::protocol().schema
    );
    let cache = project.out.join("cache").join(format!(
        "python-{}-{}.supp",
        platform.python.label(),
        &format!("{:016x}", vgxml_judge::fnv1a64(key.as_bytes()))[..12]
    ));
    if let Ok(text) = std::fs::read_to_string(&cache) {
        return Ok((
            text,
            format!(
                "CPython {} suppressions from the cache ({})",
                platform.python.label(),
                cache.display()
            ),
        ));
    }
    let text = generate(
        platform,
        &Workload::Runner(runner),
        &project.python_dir(),
        &project.out.join("python-supp"),
        "memtest (cached; delete the file to regenerate)",
    )?;
    files::create_dir(cache.parent().expect("a cache directory"))?;
    files::write(&cache, &text)?;
    Ok((
        text,
        format!(
            "generated CPython {} suppressions from an interpreter-only {} run (cached: {})",
            platform.python.label(),
            match runner {
                Runner::Pytest => "pytest",
                Runner::Unittest => "unittest",
            },
            cache.display()
        ),
    ))
}

/// A test that exercises the runner's machinery and memtest's checks with
/// nothing of any project imported.
const WORKLOAD_TEST: &str = r#"
import array, gc, json, re, tracemalloc, unittest, weakref

class E(Exception):
    pass

def churn():
    d = {str(i): [i, float(i), (i, i)] for i in range(64)}
    a = array.array("f", range(64)); m = memoryview(a); m.cast("B").tobytes(); m.release()
    try:
        raise E(d)
    except E:
        pass
    re.sub("[0-9]+", "n", json.dumps(d))
    int.from_bytes(b"\x01\x02", "little")

class WorkloadTest(unittest.TestCase):
    def test_workload(self):
        churn()

def test_workload():
    churn()
"#;

/// Runs the interpreter alone under Valgrind and returns its reports as a
/// suppressions section for this interpreter (`generated_by` says how to
/// make it again).
pub fn generate(
    platform: &Platform,
    workload: &Workload<'_>,
    python_dir: &Path,
    dir: &Path,
    generated_by: &str,
) -> Result<String> {
    let valgrind = platform.valgrind()?;
    let python = platform.python.for_valgrind()?;
    let label = platform.python.label();
    let step = Step::start(format!(
        "interpreter-only Valgrind run of CPython {label} (its suppressions; about a minute, once)"
    ));
    files::fresh_dir(dir)?;
    let xml = dir.join(format!("python-{label}.xml"));
    let mut c = Command::new("valgrind");
    c.args([
        "--tool=memcheck",
        "--leak-check=full",
        "--show-leak-kinds=all",
        "--errors-for-leak-kinds=definite",
        "--error-limit=no",
        "--xml=yes",
        "--child-silent-after-fork=yes",
        "--gen-suppressions=all",
    ])
    .arg(format!("--num-callers={FRAMES}"))
    .arg(format!("--xml-file={}", xml.display()))
    .arg(python);
    match workload {
        Workload::Script(code) => {
            c.arg("-c").arg(code);
        }
        Workload::Runner(runner) => {
            files::write(&dir.join("test_workload.py"), WORKLOAD_TEST)?;
            // Its own rootdir and config: nothing of the project is read.
            files::write(&dir.join("pytest.ini"), "[pytest]\n")?;
            let run = crate::protocol::RunDescription::new(
                crate::report::StageName::Valgrind,
                dir.join("events.jsonl"),
                crate::protocol::CheckSettings {
                    iterations: 3,
                    round_seconds: 0.0,
                    rounds: 2,
                    warmup_rounds: 1,
                    tracemalloc: false,
                    c_heap: crate::protocol::CHeapMode::Off,
                    confirm_rounds: 0,
                    ..Default::default()
                },
            );
            let mut run = run;
            run.tests = match runner {
                Runner::Pytest => vec!["test_workload.py::test_workload".into()],
                Runner::Unittest => vec!["test_workload.WorkloadTest.test_workload".into()],
            };
            let run_file = dir.join("run.json");
            files::write(
                &run_file,
                &serde_json::to_string(&run).expect("serialisable"),
            )?;
            match runner {
                Runner::Pytest => {
                    c.args([
                        "-m",
                        "pytest",
                        "-p",
                        "no:memtest",
                        "-p",
                        "memtest.pytest_plugin",
                        "-p",
                        "no:cacheprovider",
                    ])
                    .arg(format!("--memtest-run={}", run_file.display()))
                    .arg("test_workload.py");
                }
                Runner::Unittest => {
                    c.args(["-m", "memtest", "unittest", "run"]).arg(&run_file);
                }
            }
            c.current_dir(dir).env("PYTHONPATH", python_dir);
        }
    }
    native_memory_env(&mut c);
    let log = dir.join(format!("python-{label}.log"));
    let status = run_logged(c, &log, false)?;
    if !status.success() {
        return Err(harness!(
            "the interpreter-only run failed ({}); see {}",
            describe_status(status),
            log.display()
        ));
    }
    let rep =
        vgxml_parse::read_path(&xml).map_err(|e| harness!("reading {}: {e}", xml.display()))?;
    if !rep.complete {
        return Err(harness!(
            "{} is incomplete; see {}",
            xml.display(),
            log.display()
        ));
    }
    step.done();
    let section = render_section(
        &rep,
        &platform.python.minor_label(),
        &label,
        valgrind,
        generated_by,
    );
    Ok(section)
}

/// The reports of an interpreter-only run as a section, grouped by kind and
/// innermost non-allocator function, each group saying what it hides.
fn render_section(
    rep: &vgxml_parse::Report,
    minor: &str,
    full: &str,
    valgrind: &crate::platform::Valgrind,
    generated_by: &str,
) -> String {
    let mut groups: BTreeMap<(String, String), BTreeMap<String, String>> = BTreeMap::new();
    for e in &rep.errors {
        let Some(s) = &e.suppression else { continue };
        let top = s
            .frames
            .iter()
            .find_map(|f| match f {
                SFrame::Fun(x) if !ALLOCATORS.contains(&x.as_str()) => Some(x.clone()),
                _ => None,
            })
            .unwrap_or_else(|| "?".into());
        let mut body = format!("   {}\n", s.kind);
        if let Some(aux) = &s.aux {
            body.push_str(&format!("   {aux}\n"));
        }
        for f in s.frames.iter().take(FRAMES) {
            match f {
                SFrame::Fun(x) => body.push_str(&format!("   fun:{x}\n")),
                SFrame::Obj(x) => body.push_str(&format!("   obj:{x}\n")),
            }
        }
        groups
            .entry((s.kind.clone(), top))
            .or_default()
            .insert(body, vgxml_judge::normalize_text(&e.what));
    }
    let mut section = format!(
        "# ==== BEGIN CPython {minor} (generated from CPython {full} under Valgrind {} by {generated_by}) ====\n\
         # Source: one Valgrind run of the interpreter alone (PYTHONMALLOC=malloc); the project\n\
         # under test is never imported, so no entry below can contain a frame of its code.\n\
         # Each entry keeps the innermost {FRAMES} frames only: the exact chain of interpreter\n\
         # functions, no `...` wildcards.\n\n",
        valgrind.version
    );
    let mut n = 0;
    for ((kind, top), entries) in &groups {
        section.push_str(&format!(
            "# --- {kind} in {top} ({} entr{}) ---\n# Hides: {}\n# Safe: reached without any frame of the project; a report of its code has one of\n# its frames within these {FRAMES} innermost frames and so does not match.\n",
            entries.len(),
            if entries.len() == 1 { "y" } else { "ies" },
            explain(kind)
        ));
        for (body, text) in entries {
            n += 1;
            section.push_str(&format!(
                "# e.g. {text}\n{{\n   py{minor}-{}-{n}\n{body}}}\n",
                kind.rsplit(':').next().unwrap_or(kind).to_lowercase()
            ));
        }
        section.push('\n');
    }
    section.push_str(&format!("# ==== END CPython {minor} ====\n"));
    println!(
        "{n} suppressions in {} groups for CPython {full}",
        groups.len()
    );
    section
}

fn explain(kind: &str) -> &'static str {
    match kind {
        "Memcheck:Leak" => {
            "memory the interpreter allocates once and keeps until exit: module,\n\
             # type and interned-string tables, import caches, thread state. Python does not free\n\
             # it at exit, so memcheck lists it as still reachable or possibly lost (interior\n\
             # pointers of GC-tracked objects)."
        }
        "Memcheck:Cond" | "Memcheck:Value8" | "Memcheck:Value4" => {
            "uses of uninitialised bits inside the interpreter under PYTHONMALLOC=malloc\n\
             # (e.g. small-int and bytes fast paths that read whole words); harmless by design."
        }
        "Memcheck:Addr8" | "Memcheck:Addr4" | "Memcheck:Addr16" | "Memcheck:Addr32" => {
            "word-sized reads past the end of a heap block by optimised string/search code\n\
             # (libc or numpy SIMD loops) that never cross a page; the bytes read are discarded."
        }
        _ => "an interpreter-internal report seen without the project loaded.",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str =
        "# header\n# ==== BEGIN CPython 3.9 (x) ====\n{\n   a\n}\n# ==== END CPython 3.9 ====\n\
         # ==== BEGIN CPython 3.10 (y) ====\n{\n   b\n}\n# ==== END CPython 3.10 ====\n";

    #[test]
    fn only_the_minors_section_is_cut() {
        let s = section(FILE, "3.10").unwrap();
        assert!(s.contains("   b\n") && !s.contains("   a\n"), "{s}");
        assert!(section(FILE, "3.13").is_none());
        assert!(section(FILE, "3.1").is_none(), "3.1 is not 3.10");
    }

    #[test]
    fn a_section_is_replaced_in_place_or_appended() {
        let new = "# ==== BEGIN CPython 3.9 (z) ====\n{\n   c\n}\n# ==== END CPython 3.9 ====\n";
        let r = replace_section(FILE, "3.9", new);
        assert!(r.contains("   c\n") && !r.contains("   a\n") && r.contains("   b\n"));
        let appended = replace_section(FILE, "3.13t", &new.replace("3.9", "3.13t"));
        assert!(
            appended.ends_with("# ==== END CPython 3.13t ====\n") && appended.contains("   a\n")
        );
    }

    #[test]
    fn the_bundled_bindings_file_parses() {
        let dir = std::env::temp_dir().join(format!("memtest-bindings-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("bindings.supp");
        std::fs::write(&f, BINDINGS).unwrap();
        let entries = vgxml_judge::supp::parse_files(&[f]).unwrap();
        assert!(!entries.is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
