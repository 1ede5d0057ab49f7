//! Which CPython interpreters the matrix runs: `--python PATH`, or every
//! CPython >= 3.9 found on this machine, deduplicated by real executable.

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
};

use anyhow::{bail, Result};
use xshell::{cmd, Shell};

use memtest_engine::files::is_elf;

/// The oldest CPython the project supports.
pub const MIN_MINOR: u32 = 9;

#[derive(Debug, Clone)]
pub struct Interpreter {
    /// `3.10.13`
    pub version: String,
    /// `(3, 10, 13)`, for sorting.
    pub parts: (u32, u32, u32),
    /// The real ELF binary (symlinks resolved).
    pub executable: PathBuf,
}

/// `explicit` if not empty (each must work: an error otherwise), else every
/// interpreter found. Also returns what was left out and why.
pub fn interpreters(sh: &Shell, explicit: &[PathBuf]) -> Result<(Vec<Interpreter>, Vec<String>)> {
    let mut skipped = Vec::new();
    let candidates = if explicit.is_empty() {
        candidates(sh)
    } else {
        explicit.to_vec()
    };
    let mut seen = BTreeSet::new();
    let mut found = Vec::new();
    for c in candidates {
        let Ok(real) = std::fs::canonicalize(&c) else {
            if !explicit.is_empty() {
                bail!("--python {}: not found", c.display());
            }
            continue;
        };
        if !seen.insert(real.clone()) {
            continue;
        }
        if !is_elf(&real) {
            let why = format!(
                "{} -> {} (not an ELF binary: a shim? Valgrind would trace it, not Python)",
                c.display(),
                real.display()
            );
            if !explicit.is_empty() {
                bail!("--python {why}");
            }
            skipped.push(why);
            continue;
        }
        match probe(sh, &real) {
            Some(parts) if parts.0 == 3 && parts.1 >= MIN_MINOR => found.push(Interpreter {
                version: format!("{}.{}.{}", parts.0, parts.1, parts.2),
                parts,
                executable: real,
            }),
            Some(parts) => {
                let why = format!(
                    "{} (CPython {}.{}.{}: older than 3.{MIN_MINOR})",
                    real.display(),
                    parts.0,
                    parts.1,
                    parts.2
                );
                if !explicit.is_empty() {
                    bail!("--python {why}");
                }
                skipped.push(why);
            }
            None => {
                let why = format!(
                    "{} (not a CPython that can make a venv: no venv/ensurepip module?)",
                    real.display()
                );
                if !explicit.is_empty() {
                    bail!("--python {why}");
                }
                skipped.push(why);
            }
        }
    }
    if explicit.is_empty() {
        found.sort_by(|a, b| a.parts.cmp(&b.parts).then(a.executable.cmp(&b.executable)));
    }
    Ok((found, skipped))
}

/// `python3.X` in every PATH directory, pyenv's versions, `/usr/bin/python3`.
fn candidates(sh: &Shell) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> =
        std::env::split_paths(&sh.var("PATH").unwrap_or_default()).collect();
    let pyenv_root = sh
        .var("PYENV_ROOT")
        .map(PathBuf::from)
        .ok()
        .or_else(|| sh.var("HOME").ok().map(|h| Path::new(&h).join(".pyenv")));
    if let Some(versions) = pyenv_root.map(|r| r.join("versions")) {
        if let Ok(rd) = std::fs::read_dir(&versions) {
            let mut v: Vec<PathBuf> = rd.flatten().map(|e| e.path().join("bin")).collect();
            v.sort();
            dirs.extend(v);
        }
    }
    let mut out = Vec::new();
    for d in dirs {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        let mut names: Vec<PathBuf> = rd
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(is_versioned_python)
            })
            .collect();
        names.sort();
        out.extend(names);
    }
    out.push(PathBuf::from("/usr/bin/python3"));
    out
}

/// `python3.10`, not `python3.10-config` or `python3.10m`.
fn is_versioned_python(name: &str) -> bool {
    name.strip_prefix("python3.")
        .is_some_and(|minor| !minor.is_empty() && minor.chars().all(|c| c.is_ascii_digit()))
}

/// `(major, minor, micro)` of a CPython that has `venv` and `ensurepip`.
fn probe(sh: &Shell, python: &Path) -> Option<(u32, u32, u32)> {
    let out = cmd!(
        sh,
        "{python} -c 'import sys, venv, ensurepip; assert sys.implementation.name == \"cpython\"; print(\"%d %d %d\" % sys.version_info[:3])'"
    )
    .quiet()
    .ignore_stderr()
    .read()
    .ok()?;
    let v: Vec<u32> = out
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    match v.as_slice() {
        [a, b, c] => Some((*a, *b, *c)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versioned_python_names() {
        assert!(is_versioned_python("python3.9"));
        assert!(is_versioned_python("python3.13"));
        for n in [
            "python3",
            "python3.10-config",
            "python3.10m",
            "python3.",
            "python2.7",
        ] {
            assert!(!is_versioned_python(n), "{n}");
        }
    }
}
