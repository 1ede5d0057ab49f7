//! Files and directories as the engine reads and writes them: every error
//! names the path; paths are shown relative to the project root.

use std::path::{Path, PathBuf};

use crate::error::{IoContext, Result};

pub fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).context(|| format!("reading {}", path.display()))
}

pub fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).context(|| format!("writing {}", path.display()))
}

/// Creates `dir` and its parents.
pub fn create_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).context(|| format!("creating {}", dir.display()))
}

/// Empties `dir` (creating it).
pub fn fresh_dir(dir: &Path) -> Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).context(|| format!("removing {}", dir.display()))?;
    }
    create_dir(dir)
}

/// `p` relative to `root`, for messages and reports.
pub fn rel(root: &Path, p: &Path) -> String {
    p.strip_prefix(root).unwrap_or(p).display().to_string()
}

/// The files in `dir` whose name starts with `prefix` and ends with `suffix`, sorted.
pub fn with_prefix(dir: &Path, prefix: &str, suffix: &str) -> Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(prefix) && n.ends_with(suffix))
        })
        .collect();
    v.sort();
    Ok(v)
}

/// `true` when the file starts with the ELF magic (a real binary, not a shell shim).
pub fn is_elf(path: &Path) -> bool {
    use std::io::Read;
    let mut magic = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok()
        && magic == *b"\x7fELF"
}
