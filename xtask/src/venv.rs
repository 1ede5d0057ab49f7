//! The project's own Python environments, created and provisioned by xtask
//! (python3 -m venv + pip install -r python/requirements-dev.txt), and the
//! `memtest`-profile wheels built by maturin and installed into them:
//! `target/venv` gets the normal wheel ([`Flavor::Normal`]); `target/venv-planted`
//! gets the wheel with the deliberate defects of the detection matrix
//! ([`Flavor::Planted`]), so the normal wheel is never replaced by the planted one.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use xshell::{cmd, Shell};

use memtest_engine::step::Step;

use crate::{paths::rel, tools::run_tool};

/// What a venv is provisioned with: the CI tools and everything (target/venv),
/// or only what leak testing needs (the matrix's venvs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requirements {
    Dev,
    Memtest,
}

impl Requirements {
    fn file(self) -> &'static str {
        match self {
            Requirements::Dev => "python/requirements-dev.txt",
            Requirements::Memtest => "python/requirements-memtest.txt",
        }
    }
}

/// Which wheel a venv holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// The normal wheel (no extra features): `target/venv`.
    Normal,
    /// `--features planted-leaks` (the detection matrix): `target/venv-planted`.
    Planted,
}

impl Flavor {
    /// Directory of the venv, under `target/`.
    fn venv_dir(self) -> &'static str {
        match self {
            Flavor::Normal => "target/venv",
            Flavor::Planted => "target/venv-planted",
        }
    }

    /// Cargo target dir of maturin (one per flavor: a feature switch must not
    /// rebuild the other flavor's artifacts).
    pub fn target_dir(self) -> &'static str {
        match self {
            // Not `target/maturin`: maturin stages the `memtest` wheel's binary there.
            Flavor::Normal => "target/maturin-sluice",
            Flavor::Planted => "target/maturin-planted",
        }
    }

    fn wheel_dir(self) -> &'static str {
        match self {
            Flavor::Normal => "target/wheels/memtest",
            Flavor::Planted => "target/wheels/planted",
        }
    }

    /// Cargo features of `sluice-py` for this flavor.
    pub fn features(self) -> &'static [&'static str] {
        match self {
            Flavor::Normal => &[],
            Flavor::Planted => &["planted-leaks"],
        }
    }
}

/// Where a venv lives, which interpreter it is made from, and where maturin
/// builds its wheel (the cargo target dir and the wheel's output directory).
#[derive(Debug, Clone)]
pub struct Layout {
    pub flavor: Flavor,
    pub dir: PathBuf,
    pub target_dir: PathBuf,
    pub wheel_dir: PathBuf,
    /// The base interpreter (`$SLUICE_PYTHON`, `python3`, or a matrix entry).
    pub base_python: PathBuf,
    pub requirements: Requirements,
}

impl Layout {
    /// The flavor's standard place under `target/`, from `$SLUICE_PYTHON` or `python3`.
    pub fn standard(sh: &Shell, root: &Path, flavor: Flavor) -> Layout {
        Layout {
            flavor,
            dir: root.join(flavor.venv_dir()),
            target_dir: root.join(flavor.target_dir()),
            wheel_dir: root.join(flavor.wheel_dir()),
            base_python: base_python(sh).into(),
            requirements: Requirements::Dev,
        }
    }
}

pub struct Venv {
    pub flavor: Flavor,
    pub root: PathBuf,
    /// `target/venv/bin/python`: a symlink to the real interpreter. Run this path
    /// (not its target) so that Python finds `pyvenv.cfg` and the venv's site-packages.
    pub python: PathBuf,
    /// Cargo target dir of maturin for this venv's wheel.
    pub target_dir: PathBuf,
    /// Where maturin writes the wheel.
    pub wheel_dir: PathBuf,
}

impl Venv {
    pub fn at(layout: &Layout) -> Venv {
        Venv {
            flavor: layout.flavor,
            python: layout.dir.join("bin/python"),
            root: layout.dir.clone(),
            target_dir: layout.target_dir.clone(),
            wheel_dir: layout.wheel_dir.clone(),
        }
    }

    pub fn bin(&self, name: &str) -> PathBuf {
        self.root.join("bin").join(name)
    }

    /// The interpreter binary Valgrind will really execute; must be an ELF file
    /// (Valgrind on a pyenv shell shim traces bash and reports nothing: a silent false negative).
    pub fn real_python(&self) -> Result<PathBuf> {
        let real = std::fs::canonicalize(&self.python).with_context(|| {
            format!(
                "{} does not exist: run `cargo xtask memtest` to create the venv",
                self.python.display()
            )
        })?;
        if !memtest_engine::files::is_elf(&real) {
            bail!(
                "{} resolves to {}, which is not an ELF binary (a shell shim?); Valgrind would trace the shim, not Python. \
                 Recreate the venv from a real interpreter: rm -rf target/venv and set SLUICE_PYTHON=/path/to/python3",
                self.python.display(),
                real.display()
            );
        }
        Ok(real)
    }
}

/// The interpreter the venv is created from: `$SLUICE_PYTHON`, or `python3` on PATH.
fn base_python(sh: &Shell) -> String {
    sh.var("SLUICE_PYTHON")
        .unwrap_or_else(|_| "python3".to_owned())
}

/// Create `target/venv` if needed and install the pinned requirements when they changed.
pub fn ensure(sh: &Shell, root: &Path) -> Result<Venv> {
    ensure_flavor(sh, root, Flavor::Normal)
}

/// [`ensure`] for the venv of `flavor`.
pub fn ensure_flavor(sh: &Shell, root: &Path, flavor: Flavor) -> Result<Venv> {
    ensure_at(sh, root, &Layout::standard(sh, root, flavor))
}

/// Create the venv of `layout` if needed (or recreate it when it was made by
/// another interpreter) and install the pinned requirements when they changed.
pub fn ensure_at(sh: &Shell, root: &Path, layout: &Layout) -> Result<Venv> {
    let step = Step::start(format!("Python venv ({})", rel(root, &layout.dir)));
    let venv = Venv::at(layout);
    let base = &layout.base_python;
    let base_version = cmd!(sh, "{base} -c 'import sys, venv, ensurepip; print(sys.version)'")
        .quiet()
        .ignore_stderr()
        .read()
        .map_err(|_| {
            anyhow::anyhow!(
                "`{}` cannot create a venv: Python 3 with the venv and ensurepip modules is required. \
                 On Debian/Ubuntu: apt-get install python3 python3-venv (or set SLUICE_PYTHON to another interpreter)",
                base.display()
            )
        })?;

    let python = &venv.python;
    let healthy = python.exists()
        && cmd!(sh, "{python} -c 'import sys; print(sys.version)'")
            .quiet()
            .ignore_stderr()
            .read()
            .map(|v| v == base_version)
            .unwrap_or(false);
    if !healthy {
        if venv.root.exists() {
            println!(
                "recreating {} (missing, broken, or made by another Python)",
                venv.root.display()
            );
            sh.remove_path(&venv.root)?;
        }
        let dir = &venv.root;
        run_tool(
            cmd!(sh, "{base} -m venv {dir}"),
            "python3 -m venv",
            "apt-get install python3-venv",
        )?;
    }

    let requirements = layout.requirements.file();
    let mut reqs = String::new();
    for file in [requirements, Requirements::Memtest.file()] {
        reqs += &sh
            .read_file(root.join(file))
            .with_context(|| format!("reading {file}"))?;
    }
    let want = stamp(&[reqs.as_bytes(), base_version.as_bytes()]);
    let stamp_file = venv.root.join(".requirements-stamp");
    if sh.read_file(&stamp_file).ok().as_deref() != Some(want.as_str()) {
        let python = &venv.python;
        run_tool(
            cmd!(
                sh,
                "{python} -m pip install -q --disable-pip-version-check -r {root}/{requirements}"
            ),
            &format!("pip install -r {requirements}"),
            "PyPI must be reachable",
        )?;
        sh.write_file(&stamp_file, &want)?;
    } else {
        println!("requirements up to date ({})", venv.root.display());
    }
    venv.real_python()?;
    step.done();
    Ok(venv)
}

/// Build the wheel with maturin (cargo profile `memtest`: optimised + debug info,
/// its own target dir so that plain `cargo build` and maturin do not rebuild pyo3
/// for each other) and install it into the venv when it changed.
pub fn build_and_install_wheel(sh: &Shell, root: &Path, venv: &Venv) -> Result<PathBuf> {
    let flavor = venv.flavor;
    let features = flavor.features();
    let step = Step::start(format!(
        "Build the wheel (maturin, profile memtest{}) and install it into {}",
        if features.is_empty() {
            String::new()
        } else {
            format!(", features {}", features.join(","))
        },
        rel(root, &venv.root)
    ));
    let out = venv.wheel_dir.clone();
    if out.exists() {
        sh.remove_path(&out)?;
    }
    let maturin = venv.bin("maturin");
    let python = &venv.python;
    let target_dir = &venv.target_dir;
    let feature_args: Vec<String> = if features.is_empty() {
        vec![]
    } else {
        vec!["--features".into(), features.join(",")]
    };
    let _cwd = sh.push_dir(root);
    run_tool(
        cmd!(sh, "{maturin} build --profile memtest --interpreter {python} --out {out} --target-dir {target_dir} {feature_args...}")
            .env_remove("CARGO_TARGET_DIR"),
        "maturin build",
        "a C++17 compiler (apt-get install g++) and a Rust toolchain are needed",
    )?;
    let wheels: Vec<PathBuf> = sh
        .read_dir(&out)?
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "whl"))
        .collect();
    let [wheel] = wheels.as_slice() else {
        bail!(
            "expected exactly one wheel in {}, found {}",
            out.display(),
            wheels.len()
        );
    };
    let bytes = sh.read_binary_file(wheel)?;
    let want = stamp(&[&bytes]);
    let stamp_file = venv.root.join(".wheel-stamp");
    if sh.read_file(&stamp_file).ok().as_deref() != Some(want.as_str()) {
        run_tool(
            cmd!(sh, "{python} -m pip install -q --disable-pip-version-check --no-deps --force-reinstall {wheel}"),
            "pip install (the sluice wheel)",
            "",
        )?;
        sh.write_file(&stamp_file, &want)?;
    } else {
        println!("installed wheel is up to date");
    }
    step.done();
    Ok(wheel.clone())
}

/// A cheap content stamp of some byte strings (FNV-1a, not security
/// relevant): what a venv was provisioned with.
fn stamp(parts: &[&[u8]]) -> String {
    let mut joined = Vec::new();
    for p in parts {
        joined.extend_from_slice(p);
        joined.push(0xff);
    }
    format!("{:016x}", vgxml_judge::fnv1a64(&joined))
}
