//! `cargo xtask python-supp`: the interpreter's own Valgrind reports, as a
//! section of `suppressions/python.supp` per CPython minor version.
//!
//! The workload imports what the memory tests import (numpy included) and runs a
//! little pure-Python churn, but never imports sluice: nothing generated here can
//! name a frame of ours. Each entry keeps only the innermost `FRAMES` frames
//! (narrow: the exact chain of interpreter functions; short enough to match the
//! same interpreter allocation when it happens under the test runner's deeper
//! Python stack). Entries are grouped by kind and innermost interesting function,
//! with a comment saying what the group hides and why that is safe.

use std::{collections::BTreeMap, path::Path, process::Command};

use anyhow::{bail, Context, Result};
use vgxml_parse::SFrame;
use xshell::{cmd, Shell};

use crate::{
    flags::PythonSuppArgs,
    memcheck::{self, ValgrindOptions},
    paths::write_file,
    pool::{describe_status, run_logged},
    step::Step,
    unittest::native_memory_env,
    venv,
};

/// Frames kept per entry.
const FRAMES: usize = 12;

/// What the workload imports: the memory tests' imports, numpy included.
const WORKLOAD: &str = r#"
import array, gc, json, os, statistics, sys, time, tracemalloc, unittest, weakref
from dataclasses import asdict, dataclass, field
from unittest import mock
import numpy
class E(Exception): pass
def churn():
    d = {str(i): [i, float(i), (i, i)] for i in range(64)}
    a = array.array("f", range(64)); m = memoryview(a); m.cast("B").tobytes(); m.release()
    try:
        raise E(d)
    except E:
        pass
    numpy.asarray(a).sum()
    int.from_bytes(b"\x01\x02", "little")
for _ in range(20):
    churn()
gc.collect()
"#;

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

pub fn python_supp(sh: &Shell, root: &Path, args: &PythonSuppArgs) -> Result<()> {
    memcheck::preflight(sh)?;
    let python = match &args.python {
        Some(p) => p.clone(),
        None => venv::ensure(sh, root)?.python,
    };
    let real = std::fs::canonicalize(&python)
        .with_context(|| format!("{} not found", python.display()))?;
    if !venv::is_elf(&real) {
        bail!(
            "{} -> {} is not an ELF binary (a shim?): pass the real interpreter with --python",
            python.display(),
            real.display()
        );
    }
    let version = cmd!(
        sh,
        "{python} -c 'import sys; print(\"%d.%d\" % sys.version_info[:2], sys.version.split()[0])'"
    )
    .quiet()
    .read()?;
    let (minor, full) = version.split_once(' ').unwrap_or((&version, &version));
    let (minor, full) = (minor.to_owned(), full.to_owned());

    let step = Step::start(format!(
        "interpreter-only Valgrind run of CPython {full} (no sluice code)"
    ));
    let dir = root.join("target/memtest/python-supp");
    std::fs::create_dir_all(&dir)?;
    let xml = dir.join(format!("python-{full}.xml"));
    let opts = ValgrindOptions {
        gen_suppressions: true,
        ..Default::default()
    };
    // No suppressions at all for the generating run: we want everything.
    let base: Vec<String> = memcheck::valgrind_args(root, &opts)?
        .into_iter()
        .filter(|a| !a.starts_with("--suppressions=") && !a.starts_with("--num-callers="))
        .collect();
    let mut c = Command::new("valgrind");
    c.args(&base)
        .arg(format!("--num-callers={FRAMES}"))
        .arg(format!("--xml-file={}", xml.display()))
        .arg(&python)
        .arg("-c")
        .arg(WORKLOAD);
    native_memory_env(&mut c);
    let status = run_logged(c, &dir.join(format!("python-{full}.log")), false)?;
    if !status.success() {
        bail!(
            "the interpreter-only run failed ({}); is numpy installed?",
            describe_status(status)
        );
    }
    let rep = vgxml_parse::read_path(&xml)?;
    if !rep.complete {
        bail!("{} is incomplete", xml.display());
    }
    step.done();

    // Group: (kind, innermost non-allocator function) -> entries.
    let mut groups: BTreeMap<(String, String), BTreeMap<String, String>> = BTreeMap::new();
    for e in &rep.errors {
        let Some(s) = &e.suppression else { continue };
        let frames: Vec<String> = s
            .frames
            .iter()
            .take(FRAMES)
            .map(|f| match f {
                SFrame::Fun(x) => format!("fun:{x}"),
                SFrame::Obj(x) => format!("obj:{x}"),
            })
            .collect();
        let top = s
            .frames
            .iter()
            .find_map(|f| match f {
                SFrame::Fun(x) if !ALLOCATORS.contains(&x.as_str()) => Some(x.clone()),
                _ => None,
            })
            .unwrap_or_else(|| "?".into());
        let mut body = String::new();
        body.push_str(&format!("   {}\n", s.kind));
        if let Some(aux) = &s.aux {
            body.push_str(&format!("   {aux}\n"));
        }
        for f in &frames {
            body.push_str(&format!("   {f}\n"));
        }
        groups
            .entry((s.kind.clone(), top))
            .or_default()
            .insert(body, vgxml_judge::normalize_text(&e.what));
    }

    let mut section = format!(
        "# ==== BEGIN CPython {minor} (generated from CPython {full} by `cargo xtask python-supp`) ====\n\
         # Source: one Valgrind run of the interpreter alone (PYTHONMALLOC=malloc) importing what\n\
         # python/tests/memory_test.py imports (numpy included) and running pure-Python churn;\n\
         # sluice is never imported, so no entry below can contain a frame of sluice code.\n\
         # Each entry keeps the innermost {FRAMES} frames only: the exact chain of interpreter\n\
         # (or numpy/libc) functions, no `...` wildcards.\n\n"
    );
    let mut n = 0;
    for ((kind, top), entries) in &groups {
        let what = explain(kind);
        section.push_str(&format!(
            "# --- {kind} in {top} ({} entr{}) ---\n# Hides: {what}\n# Safe: reached without any sluice frame; a report of ours has a frame of the\n# extension module within these {FRAMES} innermost frames and so does not match.\n",
            entries.len(),
            if entries.len() == 1 { "y" } else { "ies" }
        ));
        for (body, text) in entries {
            n += 1;
            section.push_str(&format!(
                "# e.g. {text}\n{{\n   py{minor}-{}-{n}\n{body}}}\n",
                short_kind(kind)
            ));
        }
        section.push('\n');
    }
    section.push_str(&format!("# ==== END CPython {minor} ====\n"));
    println!("{n} entries in {} groups for CPython {minor}", groups.len());

    if args.dry_run {
        print!("{section}");
        return Ok(());
    }
    let path = root.join("suppressions/python.supp");
    let old = std::fs::read_to_string(&path).unwrap_or_default();
    let begin = format!("# ==== BEGIN CPython {minor} ");
    let end = format!("# ==== END CPython {minor} ====\n");
    let new = match (old.find(&begin), old.find(&end)) {
        (Some(b), Some(e)) if e > b => format!("{}{section}{}", &old[..b], &old[e + end.len()..]),
        _ => {
            let mut s = if old.is_empty() { header() } else { old };
            if !s.ends_with("\n\n") {
                s.push('\n');
            }
            s + &section
        }
    };
    write_file(&path, &new)?;
    println!("wrote the CPython {minor} section of {}", path.display());
    Ok(())
}

fn short_kind(kind: &str) -> String {
    kind.rsplit(':').next().unwrap_or(kind).to_lowercase()
}

fn explain(kind: &str) -> &'static str {
    match kind {
        "Memcheck:Leak" => {
            "memory the interpreter (or numpy) allocates once and keeps until exit: module,\n\
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
        _ => "an interpreter-internal report seen without sluice loaded.",
    }
}

fn header() -> String {
    "# Valgrind suppressions for the CPython interpreter itself (and numpy, which the\n\
     # memory tests import) under PYTHONMALLOC=malloc.\n\
     #\n\
     # One section per CPython minor version, each generated on that version with\n\
     # `cargo xtask python-supp` (it rewrites only its own section) and reviewed by hand.\n\
     # Sections for other versions never match and cost nothing. Never add an entry\n\
     # that names a sluice frame (_native*.so, cpp/, crates/): those go, justified, in\n\
     # sluice.supp. See docs/memory-testing.md.\n\n"
        .to_owned()
}
