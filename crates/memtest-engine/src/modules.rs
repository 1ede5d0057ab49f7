//! The project's extension modules: what its distribution installed (the
//! `.so` files its `RECORD` lists) and what sits in its source tree (an
//! editable install, an in-place build). Their objects are "our code" and
//! their init functions run once, unless the description says otherwise.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};

use crate::error::{harness, Result};
use crate::process::read_output;
use crate::project::Project;

/// One extension module file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtensionModule {
    pub path: PathBuf,
    /// The module's own name (`_speedups` of `markupsafe/_speedups.cpython-311-x86_64-linux-gnu.so`).
    pub name: String,
    /// A glob over the object path that matches this module and its other
    /// builds (`*/markupsafe/_speedups*.so`).
    pub glob: String,
}

const INSTALLED: &str = r#"
import json, sys
import importlib.metadata as md
out = []
try:
    d = md.distribution(sys.argv[1])
    for f in d.files or []:
        if str(f).endswith(".so"):
            out.append(str(d.locate_file(f)))
except Exception:
    pass
print(json.dumps(out))
"#;

impl ExtensionModule {
    fn of(path: &Path) -> Option<ExtensionModule> {
        let file = path.file_name()?.to_str()?;
        if !file.ends_with(".so") {
            return None;
        }
        let name = file.split('.').next()?.to_owned();
        let parent = path.parent()?.file_name()?.to_str()?;
        Some(ExtensionModule {
            path: path.to_path_buf(),
            glob: format!("*/{parent}/{name}*.so"),
            name,
        })
    }
}

/// The extension modules of `project` as installed for `python`, then those
/// in its source tree (memtest's output directory and hidden directories left out).
pub fn discover(project: &Project, python: &Path) -> Result<Vec<ExtensionModule>> {
    let mut found: Vec<ExtensionModule> = Vec::new();
    if let Some(name) = project.name() {
        let mut cmd = Command::new(python);
        cmd.arg("-c")
            .arg(INSTALLED)
            .arg(&name)
            .env_remove("PYTHONPATH");
        let text = read_output(&mut cmd, "listing the project's installed files")?;
        let paths: Vec<PathBuf> = serde_json::from_str(&text)
            .map_err(|e| harness!("bad answer listing the installed files: {e}: {text}"))?;
        found.extend(paths.iter().filter_map(|p| ExtensionModule::of(p)));
    }
    let mut todo = vec![project.root.clone()];
    while let Some(dir) = todo.pop() {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            if p.is_dir() {
                if !name.starts_with('.') && p != project.out && name != "target" && name != "build"
                {
                    todo.push(p);
                }
            } else if let Some(m) = ExtensionModule::of(&p) {
                if !found.iter().any(|f| f.glob == m.glob) {
                    found.push(m);
                }
            }
        }
    }
    found.sort_by(|a, b| a.glob.cmp(&b.glob));
    found.dedup_by(|a, b| a.glob == b.glob);
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_module_file_names_its_module_and_glob() {
        let m = ExtensionModule::of(Path::new(
            "/v/lib/python3.11/site-packages/markupsafe/_speedups.cpython-311-x86_64-linux-gnu.so",
        ))
        .unwrap();
        assert_eq!(m.name, "_speedups");
        assert_eq!(m.glob, "*/markupsafe/_speedups*.so");
        assert!(ExtensionModule::of(Path::new("/x/y/z.py")).is_none());
    }
}
