//! Facts about the platform, probed once per run: the interpreter (its real
//! binary, version, whether it is a free-threaded build) and Valgrind's
//! version. Every stage and report reads them from here.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};

use crate::error::{harness, Result};
use crate::files::is_elf;
use crate::process::read_output;

/// What the run ran on.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Platform {
    pub python: Interpreter,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valgrind: Option<Valgrind>,
}

/// The interpreter the tests run with.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Interpreter {
    /// As given (a venv's `bin/python`): run this path, so that Python finds
    /// its `pyvenv.cfg`.
    pub executable: PathBuf,
    /// The binary it resolves to.
    pub real: PathBuf,
    /// `3.11.7`.
    pub version: String,
    /// `3.11`: the key of a suppressions section.
    pub minor: String,
    pub implementation: String,
    /// Built with `--disable-gil` (`Py_GIL_DISABLED`).
    pub free_threaded: bool,
    /// The directory of installed pure-Python packages.
    pub purelib: PathBuf,
    /// Where the interpreter itself is installed (`sys.base_prefix`, resolved):
    /// its binary, libpython and standard extension modules are under it.
    pub base_prefix: PathBuf,
    /// The binary is an ELF file, not a shell shim (Valgrind traces what it execs).
    pub elf: bool,
}

impl Interpreter {
    /// `3.13.15`, or `3.13.15t` for a free-threaded build.
    pub fn label(&self) -> String {
        if self.free_threaded {
            format!("{}t", self.version)
        } else {
            self.version.clone()
        }
    }

    /// The minor with the build's letter: `3.13t` (the key of a suppressions section).
    pub fn minor_label(&self) -> String {
        if self.free_threaded {
            format!("{}t", self.minor)
        } else {
            self.minor.clone()
        }
    }

    /// The binary Valgrind will run: must be an ELF file (Valgrind on a
    /// pyenv shell shim traces bash and reports nothing: a silent false negative).
    pub fn for_valgrind(&self) -> Result<&Path> {
        if !self.elf {
            return Err(harness!(
                "{} resolves to {}, which is not an ELF binary (a shell shim?); Valgrind would trace the shim, not Python. \
                 Use an interpreter that is a real binary (python3 -c 'import sys; print(sys.executable)' names it)",
                self.executable.display(),
                self.real.display()
            ));
        }
        Ok(&self.executable)
    }
}

/// The Valgrind on PATH.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Valgrind {
    /// `3.19.0`.
    pub version: String,
    pub major: u32,
    pub minor: u32,
}

impl Valgrind {
    /// From `valgrind-3.19.0` (what `valgrind --version` prints).
    pub fn parse(s: &str) -> Option<Valgrind> {
        let v = s.trim().strip_prefix("valgrind-")?;
        let mut it = v.split('.');
        let major = it.next()?.parse().ok()?;
        let minor = it
            .next()?
            .trim_end_matches(|c: char| !c.is_ascii_digit())
            .parse()
            .ok()?;
        Some(Valgrind {
            version: v.to_owned(),
            major,
            minor,
        })
    }

    /// fd errors (`FdNotClosed`, ...) in the XML: 3.23 and later.
    pub fn reports_fds_in_xml(&self) -> bool {
        (self.major, self.minor) >= (3, 23)
    }

    /// Valgrind must be installed: say how to get it.
    pub fn probe() -> Result<Valgrind> {
        let out = Command::new("valgrind").arg("--version").output();
        match out {
            Ok(o) if o.status.success() => {
                let text = String::from_utf8_lossy(&o.stdout).trim().to_owned();
                Valgrind::parse(&text)
                    .ok_or_else(|| harness!("cannot read the Valgrind version {text:?}"))
            }
            _ => Err(harness!(
                "valgrind is not installed or not on PATH — on Debian/Ubuntu: apt-get install valgrind"
            )),
        }
    }
}

const PROBE: &str = r#"
import json, os, platform, sys, sysconfig
print(json.dumps({
    "version": platform.python_version(),
    "minor": "%d.%d" % sys.version_info[:2],
    "implementation": sys.implementation.name,
    "free_threaded": bool(sysconfig.get_config_var("Py_GIL_DISABLED")),
    "purelib": sysconfig.get_paths()["purelib"],
    "base_prefix": os.path.realpath(sys.base_prefix),
}))
"#;

#[derive(Deserialize)]
struct Probed {
    version: String,
    minor: String,
    implementation: String,
    free_threaded: bool,
    purelib: PathBuf,
    base_prefix: PathBuf,
}

impl Interpreter {
    /// Asks `python` about itself.
    pub fn probe(python: &Path) -> Result<Interpreter> {
        let mut cmd = Command::new(python);
        cmd.arg("-c").arg(PROBE).env_remove("PYTHONPATH");
        let text = read_output(
            &mut cmd,
            &format!("{} (probing the interpreter)", python.display()),
        )?;
        let p: Probed = serde_json::from_str(text.lines().last().unwrap_or_default())
            .map_err(|e| harness!("{} answered the probe with {text:?}: {e}", python.display()))?;
        let real = std::fs::canonicalize(python).unwrap_or_else(|_| python.to_path_buf());
        Ok(Interpreter {
            executable: python.to_path_buf(),
            elf: is_elf(&real),
            real,
            version: p.version,
            minor: p.minor,
            implementation: p.implementation,
            free_threaded: p.free_threaded,
            purelib: p.purelib,
            base_prefix: p.base_prefix,
        })
    }
}

impl Platform {
    /// The interpreter, and Valgrind when a stage needs it.
    pub fn probe(python: &Path, valgrind: bool) -> Result<Platform> {
        let valgrind = if valgrind {
            Some(Valgrind::probe()?)
        } else {
            None
        };
        Ok(Platform {
            python: Interpreter::probe(python)?,
            valgrind,
        })
    }

    /// The Valgrind probed, or the error a stage that needs it reports.
    pub fn valgrind(&self) -> Result<&Valgrind> {
        self.valgrind
            .as_ref()
            .ok_or_else(|| harness!("Valgrind was not probed for this run"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        let v = Valgrind::parse("valgrind-3.19.0").unwrap();
        assert_eq!((v.major, v.minor, v.version.as_str()), (3, 19, "3.19.0"));
        assert!(!v.reports_fds_in_xml());
        assert!(Valgrind::parse("valgrind-3.27.1\n")
            .unwrap()
            .reports_fds_in_xml());
        assert_eq!(Valgrind::parse("valgrind-3.26.0.GIT").unwrap().minor, 26);
        assert!(Valgrind::parse("3.19").is_none());
    }

    #[test]
    fn the_interpreter_running_the_tests_is_probed() {
        let i = Interpreter::probe(Path::new("python3")).unwrap();
        assert!(i.version.starts_with(&i.minor), "{i:?}");
        assert!(i.label().starts_with("3."));
    }
}
