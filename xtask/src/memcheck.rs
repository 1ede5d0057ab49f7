//! How the Valgrind stage and `python-supp` run memcheck: the check that it
//! is installed, the command line, the suppression files.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use xshell::{cmd, Shell};

#[derive(Debug, Default, Clone)]
pub struct ValgrindOptions {
    pub track_origins: bool,
    /// `--track-fds=yes` when this Valgrind writes fd errors in XML
    /// (3.23 and later, protocol 5+): descriptors our code opens and never
    /// closes are then reported (`FdNotClosed`) with where they were opened.
    pub track_fds: bool,
    /// One process per test (and per iteration count) instead of `--jobs`
    /// balanced shards; every finding then names its test. The detection matrix
    /// uses it so that what memcheck reports is attributed to one planted case.
    pub isolate: bool,
    pub gen_suppressions: bool,
    pub extra_args: Vec<String>,
}

/// The Valgrind on PATH, `(major, minor)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version(pub u32, pub u32);

impl Version {
    /// From `valgrind-3.19.0` (what `valgrind --version` prints).
    pub fn parse(s: &str) -> Option<Version> {
        let v = s.trim().strip_prefix("valgrind-")?;
        let mut it = v.split('.');
        let major = it.next()?.parse().ok()?;
        let minor = it
            .next()?
            .trim_end_matches(|c: char| !c.is_ascii_digit())
            .parse()
            .ok()?;
        Some(Version(major, minor))
    }

    /// fd errors (`FdNotClosed`, ...) in the XML.
    pub fn reports_fds_in_xml(self) -> bool {
        self >= Version(3, 23)
    }
}

/// Valgrind must be installed: say how to get it (exit 2 otherwise).
pub fn preflight(sh: &Shell) -> Result<Version> {
    match cmd!(sh, "valgrind --version")
        .quiet()
        .ignore_stderr()
        .read()
    {
        Ok(v) => {
            println!("using {v}");
            Version::parse(&v).with_context(|| format!("cannot read the Valgrind version {v:?}"))
        }
        Err(_) => bail!(
            "valgrind is not installed or not on PATH — on Debian/Ubuntu: apt-get install valgrind"
        ),
    }
}

/// Every `suppressions/*.supp`, sorted.
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
    if opts.track_fds {
        a.push("--track-fds=yes".into());
    }
    a.extend(opts.extra_args.iter().cloned());
    Ok(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(Version::parse("valgrind-3.19.0"), Some(Version(3, 19)));
        assert_eq!(Version::parse("valgrind-3.27.1\n"), Some(Version(3, 27)));
        assert_eq!(Version::parse("valgrind-3.26.0.GIT"), Some(Version(3, 26)));
        assert!(!Version(3, 19).reports_fds_in_xml());
        assert!(Version(3, 23).reports_fds_in_xml());
        assert_eq!(Version::parse("3.19"), None);
    }
}
