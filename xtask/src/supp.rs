//! `cargo xtask python-supp`: the interpreter's own Valgrind reports, as a
//! section of `suppressions/python.supp` per CPython minor version, made by
//! the memtest engine's generator from a workload of sluice's: it imports
//! what the memory tests import (numpy included) and runs a little
//! pure-Python churn, but never imports sluice, so nothing generated here
//! can name a frame of ours.

use std::path::Path;

use anyhow::Result;
use memtest_engine::{
    platform::Platform,
    python_half,
    suppressions::{generate, replace_section, Workload},
    Project,
};
use xshell::Shell;

use crate::{flags::PythonSuppArgs, paths::write_file, venv};

/// What the memory tests import, and some churn.
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

const HEADER: &str =
    "# Valgrind suppressions for the CPython interpreter itself (and numpy, which the\n\
     # memory tests import) under PYTHONMALLOC=malloc.\n\
     #\n\
     # One section per CPython minor version, each generated on that version with\n\
     # `cargo xtask python-supp` (it rewrites only its own section) and reviewed by hand.\n\
     # memtest gives Valgrind the running interpreter's section only. Never add an entry\n\
     # that names a sluice frame (_native*.so, cpp/, crates/): those go, justified, in\n\
     # sluice.supp. See docs/memory-testing.md.\n\n";

pub fn python_supp(sh: &Shell, root: &Path, args: &PythonSuppArgs) -> Result<()> {
    let python = match &args.python {
        Some(p) => p.clone(),
        None => venv::ensure(sh, root)?.python,
    };
    let platform = Platform::probe(&python, true)?;
    let project = Project::load(root)?;
    python_half::write_to(&project.python_dir())?;
    let section = generate(
        &platform,
        &Workload::Script(WORKLOAD),
        &project.python_dir(),
        &project.out.join("python-supp"),
        "`cargo xtask python-supp`",
    )?;
    if args.dry_run {
        print!("{section}");
        return Ok(());
    }
    let path = root.join("suppressions/python.supp");
    let old = std::fs::read_to_string(&path).unwrap_or_else(|_| HEADER.to_owned());
    write_file(
        &path,
        &replace_section(&old, &platform.python.minor_label(), &section),
    )?;
    println!(
        "wrote the CPython {} section of {}",
        platform.python.minor_label(),
        path.display()
    );
    Ok(())
}
