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
    /// The CPython minor (`3.11`) under test: Valgrind gets only its section of
    /// `suppressions/python.supp` (see [`python_section`]). `None`: the whole file.
    pub python_minor: Option<String>,
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

/// The suppression files Valgrind is given: every `suppressions/*.supp`,
/// python.supp cut to the running CPython's section when it is known.
pub fn given_suppressions(root: &Path, opts: &ValgrindOptions) -> Result<Vec<PathBuf>> {
    suppression_files(root)?
        .into_iter()
        .map(|f| match &opts.python_minor {
            Some(minor) if f.file_name().is_some_and(|n| n == "python.supp") => {
                python_section(root, &f, minor)
            }
            _ => Ok(f),
        })
        .collect()
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
    for f in given_suppressions(root, opts)? {
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

/// `3.11` of `3.11.7` (the key of a python.supp section).
pub fn minor_of(version: &str) -> String {
    version.split('.').take(2).collect::<Vec<_>>().join(".")
}

/// The section of `python.supp` for CPython `minor`, written to
/// `target/suppressions-<minor>/python.supp` (the same file name, so a
/// report still names `python.supp`); the whole file when it has no such section.
///
/// Valgrind matches every error and loss record against every entry: with the
/// five sections of 3.9-3.13 (about 6,900 entries) one memory test's process
/// took 16.5 s of CPU instead of 9.7 s with its own section alone (measured on
/// 3.11.7, `test_numpy_views`). Another version's section never matches anyway.
pub fn python_section(root: &Path, file: &Path, minor: &str) -> Result<PathBuf> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let begin = format!("# ==== BEGIN CPython {minor} ");
    let end = format!("# ==== END CPython {minor} ====");
    let (Some(b), Some(e)) = (text.find(&begin), text.find(&end)) else {
        println!(
            "note: {} has no section for CPython {minor}; Valgrind gets the whole file (generate one: cargo xtask python-supp)",
            file.display()
        );
        return Ok(file.to_path_buf());
    };
    // Not under target/memtest/, which memtest empties when it starts: a
    // memtest --planted running meanwhile still reads its copy. Written to a
    // temporary name and renamed, so a reader never sees half a file.
    let dir = root.join(format!("target/suppressions-{minor}"));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let out = dir.join("python.supp");
    let tmp = dir.join(format!("python.supp.{}", std::process::id()));
    std::fs::write(&tmp, format!("{}\n", &text[b..e + end.len()]))
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &out).with_context(|| format!("renaming to {}", out.display()))?;
    Ok(out)
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

    #[test]
    fn only_the_minors_section_is_given_to_valgrind() {
        let root = std::env::temp_dir().join(format!("xtask-supp-{}", std::process::id()));
        std::fs::create_dir_all(&root).unwrap();
        let file = root.join("python.supp");
        std::fs::write(
            &file,
            "# header\n# ==== BEGIN CPython 3.9 (x) ====\n{\n   a\n}\n# ==== END CPython 3.9 ====\n\
             # ==== BEGIN CPython 3.10 (y) ====\n{\n   b\n}\n# ==== END CPython 3.10 ====\n",
        )
        .unwrap();
        let got = python_section(&root, &file, "3.10").unwrap();
        assert!(got.ends_with("suppressions-3.10/python.supp"));
        let text = std::fs::read_to_string(&got).unwrap();
        assert!(
            text.contains("   b\n") && !text.contains("   a\n"),
            "{text}"
        );
        // No section: the whole file.
        assert_eq!(python_section(&root, &file, "3.13").unwrap(), file);
        std::fs::remove_dir_all(&root).unwrap();
    }
}
