//! The Python half of the engine (`python/memtest`: the checker, the
//! checkpoint protocol, the pytest plugin and the unittest runner), embedded
//! in the engine so that every run gives its test processes the copy that
//! speaks its protocol: written under the output directory and put first on
//! `PYTHONPATH` (an installed `memtest` of another version never answers).

use std::path::Path;

use crate::error::Result;
use crate::files;

/// `(path under the package's parent, contents)` of every file of the package.
pub const FILES: &[(&str, &str)] = &[
    (
        "memtest/__init__.py",
        include_str!("../python/memtest/__init__.py"),
    ),
    (
        "memtest/__main__.py",
        include_str!("../python/memtest/__main__.py"),
    ),
    (
        "memtest/activity.py",
        include_str!("../python/memtest/activity.py"),
    ),
    (
        "memtest/caches.py",
        include_str!("../python/memtest/caches.py"),
    ),
    (
        "memtest/checker.py",
        include_str!("../python/memtest/checker.py"),
    ),
    (
        "memtest/marks.py",
        include_str!("../python/memtest/marks.py"),
    ),
    (
        "memtest/protocol.json",
        include_str!("../python/memtest/protocol.json"),
    ),
    (
        "memtest/protocol.py",
        include_str!("../python/memtest/protocol.py"),
    ),
    (
        "memtest/pytest_plugin.py",
        include_str!("../python/memtest/pytest_plugin.py"),
    ),
    (
        "memtest/readings.py",
        include_str!("../python/memtest/readings.py"),
    ),
    ("memtest/rule.py", include_str!("../python/memtest/rule.py")),
    (
        "memtest/session.py",
        include_str!("../python/memtest/session.py"),
    ),
    (
        "memtest/testcase.py",
        include_str!("../python/memtest/testcase.py"),
    ),
    (
        "memtest/unittest_runner.py",
        include_str!("../python/memtest/unittest_runner.py"),
    ),
    (
        "memtest/valgrind.py",
        include_str!("../python/memtest/valgrind.py"),
    ),
];

/// Writes the package into `dir` (`dir/memtest/...`), replacing what is there.
pub fn write_to(dir: &Path) -> Result<()> {
    let package = dir.join("memtest");
    files::fresh_dir(&package)?;
    for (path, text) in FILES {
        files::write(&dir.join(path), text)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_file_of_the_package_is_embedded() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("python/memtest");
        let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".py") || n.ends_with(".json"))
            .map(|n| format!("memtest/{n}"))
            .collect();
        on_disk.sort();
        let embedded: Vec<String> = super::FILES.iter().map(|(p, _)| (*p).to_owned()).collect();
        assert_eq!(
            embedded, on_disk,
            "list every file of python/memtest in FILES"
        );
    }
}
