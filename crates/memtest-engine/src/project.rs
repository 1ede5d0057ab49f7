//! The project under test: its root, its description and where its run's
//! files go.

use std::path::{Path, PathBuf};

use crate::config::{self, Description};
use crate::error::Result;

#[derive(Debug, Clone)]
pub struct Project {
    /// The directory of its `pyproject.toml` (absolute).
    pub root: PathBuf,
    pub description: Description,
    /// `output` of the description, absolute.
    pub out: PathBuf,
}

impl Project {
    /// The project at `root`, described by its `pyproject.toml`.
    pub fn load(root: &Path) -> Result<Project> {
        let root = absolute(root);
        let description = config::load(&root)?;
        Ok(Project::new(root, description))
    }

    pub fn new(root: PathBuf, description: Description) -> Project {
        let root = absolute(&root);
        let out = root.join(&description.output);
        Project {
            root,
            description,
            out,
        }
    }

    /// Where the tests run.
    pub fn test_dir(&self) -> PathBuf {
        self.root.join(&self.description.test_dir)
    }

    /// Where memtest's Python half is written for the test processes.
    pub fn python_dir(&self) -> PathBuf {
        self.out.join("python")
    }

    /// `PYTHONPATH` of the test processes: memtest's Python half first, then
    /// whatever the caller's environment had.
    pub fn python_path(&self) -> std::ffi::OsString {
        let mut paths = vec![self.python_dir()];
        if let Some(existing) = std::env::var_os("PYTHONPATH") {
            paths.extend(std::env::split_paths(&existing));
        }
        std::env::join_paths(paths).unwrap_or_default()
    }

    /// The project's name (`[project].name`), when it declares one.
    pub fn name(&self) -> Option<String> {
        let text = std::fs::read_to_string(self.root.join("pyproject.toml")).ok()?;
        let doc: toml::Table = toml::from_str(&text).ok()?;
        Some(doc.get("project")?.get("name")?.as_str()?.to_owned())
    }
}

fn absolute(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| {
        std::env::current_dir()
            .map(|d| d.join(p))
            .unwrap_or_else(|_| p.to_path_buf())
    })
}
