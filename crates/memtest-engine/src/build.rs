//! The environment the tests run in: a venv of memtest's own under the
//! output directory, the project installed into it by `pip install .` with
//! debug information for every native build pip can drive, and its test
//! dependencies. Or an environment the user built ([`existing`]).
//!
//! Debug information, by build backend (read from `[build-system]`):
//! C and C++ through setuptools (Cython included) take `CFLAGS`/`CXXFLAGS`;
//! meson-python `-Csetup-args=-Dbuildtype=debugoptimized`; scikit-build-core
//! `-Ccmake.build-type=RelWithDebInfo`; Rust through maturin or
//! setuptools-rust the release profile with `debug = true` and nothing
//! stripped. Builds keep their directories under the output directory, so a
//! second run rebuilds only what changed.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::config::{BuildMode, Runner};
use crate::error::{harness, Result};
use crate::files::{self, is_elf};
use crate::process::{read_output, run_tool};
use crate::project::Project;
use crate::step::Step;

/// The compiler flags memtest adds: debug information, optimised a little
/// (`-O1` keeps a deliberately leaked block that `-O3` may delete).
pub const C_FLAGS: &str = "-g -O1";

/// Extras and dependency groups taken when the description names none.
const TEST_EXTRAS: &[&str] = &["test", "tests", "testing"];
const TEST_GROUPS: &[&str] = &["test", "tests", "dev"];

/// The build backend of a project, as far as memtest's flags go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Setuptools,
    Meson,
    ScikitBuild,
    Maturin,
    /// Another backend (hatchling, flit, pdm, ...): the generic flags only.
    Other,
}

impl Backend {
    pub fn of(build_backend: &str) -> Backend {
        match build_backend.split(':').next().unwrap_or_default().trim() {
            b if b.starts_with("setuptools") => Backend::Setuptools,
            "mesonpy" => Backend::Meson,
            b if b.starts_with("scikit_build_core") => Backend::ScikitBuild,
            "maturin" => Backend::Maturin,
            _ => Backend::Other,
        }
    }
}

/// What `pyproject.toml` says about building and testing the project.
#[derive(Debug, Default)]
struct Declared {
    backend: String,
    extras: Vec<String>,
    groups: Vec<String>,
}

fn declared(root: &Path) -> Declared {
    let Ok(text) = std::fs::read_to_string(root.join("pyproject.toml")) else {
        return Declared::default();
    };
    let Ok(doc) = toml::from_str::<toml::Table>(&text) else {
        return Declared::default();
    };
    let keys = |v: Option<&toml::Value>| -> Vec<String> {
        v.and_then(toml::Value::as_table)
            .map(|t| t.keys().cloned().collect())
            .unwrap_or_default()
    };
    Declared {
        backend: doc
            .get("build-system")
            .and_then(|b| b.get("build-backend"))
            .and_then(toml::Value::as_str)
            .unwrap_or("setuptools.build_meta:__legacy__")
            .to_owned(),
        extras: keys(
            doc.get("project")
                .and_then(|p| p.get("optional-dependencies")),
        ),
        groups: keys(doc.get("dependency-groups")),
    }
}

/// The interpreter of an environment the user built (`--env`): checked to
/// run and to have the runner.
pub fn existing(project: &Project, python: &Path) -> Result<PathBuf> {
    let module = match project.description.runner {
        Runner::Pytest => "pytest",
        Runner::Unittest => "unittest",
    };
    read_output(
        Command::new(python).args(["-c", &format!("import {module}")]),
        &format!("{} (importing {module})", python.display()),
    )
    .map_err(|e| match project.description.runner {
        Runner::Pytest => harness!(
            "{e}\nInstall pytest into that environment ({} -m pip install pytest)",
            python.display()
        ),
        Runner::Unittest => e,
    })?;
    Ok(python.to_path_buf())
}

/// The venv's interpreter after building and installing the project into it.
pub fn build(project: &Project) -> Result<PathBuf> {
    let d = &project.description.build;
    if d.mode == BuildMode::None {
        return Err(harness!(
            "[tool.memtest.build] mode = \"none\": give the environment to use with --env PYTHON"
        ));
    }
    let venv = project.out.join("venv");
    let python = venv.join("bin/python");
    let step = Step::start(format!("Python venv ({})", venv.display()));
    let base = &d.python;
    let base_version = read_output(
        Command::new(base).args(["-c", "import sys, venv, ensurepip; print(sys.version)"]),
        &format!("{base} (the venv's base interpreter)"),
    )
    .map_err(|_| {
        harness!(
            "`{base}` cannot create a venv: Python 3 with the venv and ensurepip modules is required. \
             On Debian/Ubuntu: apt-get install python3 python3-venv (or set [tool.memtest.build] python, or --python)"
        )
    })?;
    let healthy = python.exists()
        && read_output(
            Command::new(&python).args(["-c", "import sys; print(sys.version)"]),
            "the venv",
        )
        .is_ok_and(|v| v == base_version);
    if !healthy {
        if venv.exists() {
            println!(
                "recreating {} (missing, broken, or made by another Python)",
                venv.display()
            );
            std::fs::remove_dir_all(&venv)
                .map_err(|e| harness!("removing {}: {e}", venv.display()))?;
        }
        run_tool(
            Command::new(base).args(["-m", "venv"]).arg(&venv),
            "python -m venv",
            "apt-get install python3-venv",
        )?;
        // A pip that knows dependency groups (PEP 735, pip 25.1).
        run_tool(
            Command::new(&python).args([
                "-m",
                "pip",
                "install",
                "-q",
                "--disable-pip-version-check",
                "--upgrade",
                "pip",
            ]),
            "upgrading pip in the venv",
            "PyPI must be reachable",
        )?;
    }
    if !files::is_elf(&std::fs::canonicalize(&python).unwrap_or_else(|_| python.clone())) {
        return Err(harness!(
            "{} does not resolve to an ELF binary (a shell shim?): set [tool.memtest.build] python (or --python) to a real interpreter",
            python.display()
        ));
    }
    step.done();
    install(project, &python)?;
    Ok(python)
}

/// `pip install .` with the debug flags of the project's backend, its test
/// extras and groups, requirement files and more packages.
fn install(project: &Project, python: &Path) -> Result<()> {
    let d = &project.description.build;
    let declared = declared(&project.root);
    let backend = Backend::of(&declared.backend);
    let extras: Vec<String> = d.extras.clone().unwrap_or_else(|| {
        TEST_EXTRAS
            .iter()
            .filter(|e| declared.extras.iter().any(|x| x == *e))
            .map(|e| (*e).to_owned())
            .collect()
    });
    let groups: Vec<String> = d.dependency_groups.clone().unwrap_or_else(|| {
        TEST_GROUPS
            .iter()
            .filter(|g| declared.groups.iter().any(|x| x == *g))
            .map(|g| (*g).to_owned())
            .collect()
    });
    let step = Step::start(format!(
        "Build and install the project with debug information ({:?} backend{}{})",
        backend,
        if extras.is_empty() {
            String::new()
        } else {
            format!(", extras {}", extras.join(","))
        },
        if groups.is_empty() {
            String::new()
        } else {
            format!(", groups {}", groups.join(","))
        },
    ));
    let build_dir = project.out.join("build");
    files::create_dir(&build_dir)?;
    let mut c = Command::new(python);
    c.current_dir(&project.root)
        .args([
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--force-reinstall",
        ])
        .env("CFLAGS", C_FLAGS)
        .env("CXXFLAGS", C_FLAGS)
        .env("CARGO_PROFILE_RELEASE_DEBUG", "true")
        .env("CARGO_PROFILE_RELEASE_STRIP", "none")
        .env("CARGO_TARGET_DIR", build_dir.join("cargo"))
        .env_remove("PYTHONPATH");
    match backend {
        Backend::Meson => {
            c.arg("-Csetup-args=-Dbuildtype=debugoptimized")
                .arg(format!("-Cbuild-dir={}", build_dir.join("meson").display()));
        }
        Backend::ScikitBuild => {
            c.arg("-Ccmake.build-type=RelWithDebInfo").arg(format!(
                "-Cbuild-dir={}",
                build_dir.join("scikit-build").display()
            ));
        }
        Backend::Setuptools | Backend::Maturin | Backend::Other => {}
    }
    c.args(&d.pip_args);
    c.arg(if extras.is_empty() {
        ".".to_owned()
    } else {
        format!(".[{}]", extras.join(","))
    });
    for g in &groups {
        c.args(["--group", g]);
    }
    for r in &d.requirements {
        c.arg("-r").arg(project.root.join(r));
    }
    c.args(&d.packages);
    if project.description.runner == Runner::Pytest {
        c.arg("pytest");
    }
    c.envs(&d.env);
    let log = project.out.join("build.log");
    let status = crate::process::run_logged(c, &log, false)?;
    if !status.success() {
        return Err(harness!(
            "building and installing the project failed ({}):\n{}see {}",
            crate::process::describe_status(status),
            crate::plan::tail(&files::read(&log).unwrap_or_default(), 25),
            log.display()
        ));
    }
    step.done();
    Ok(())
}

/// Extension modules without debug information (Valgrind names no file or line in them).
pub fn without_debug_info(paths: &[PathBuf]) -> Vec<PathBuf> {
    paths
        .iter()
        .filter(|p| is_elf(p))
        .filter(|p| {
            std::fs::read(p)
                .map(|bytes| !bytes.windows(11).any(|w| w == b".debug_info"))
                .unwrap_or(false)
        })
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backends_are_told_apart() {
        assert_eq!(Backend::of("setuptools.build_meta"), Backend::Setuptools);
        assert_eq!(
            Backend::of("setuptools.build_meta:__legacy__"),
            Backend::Setuptools
        );
        assert_eq!(Backend::of("mesonpy"), Backend::Meson);
        assert_eq!(Backend::of("scikit_build_core.build"), Backend::ScikitBuild);
        assert_eq!(Backend::of("maturin"), Backend::Maturin);
        assert_eq!(Backend::of("hatchling.build"), Backend::Other);
    }
}
