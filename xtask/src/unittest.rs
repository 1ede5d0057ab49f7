//! The Python test suites: which tests a selection names, how to split them
//! into shards, and what unittest's verbose log says about them.

use std::{collections::BTreeMap, path::Path, process::Command};

use anyhow::Result;

use crate::{pool::read_output, venv::Venv};

/// A unittest class of leak tests in `python/tests` (`module.Class`).
#[derive(Debug, Clone, Copy)]
pub struct Suite {
    pub module: &'static str,
    pub class: &'static str,
    /// What the tracemalloc stage does with the C heap `leakcheck` reads.
    pub c_heap: CHeap,
}

/// `SLUICE_MEMTEST_C_HEAP` of the tracemalloc stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CHeap {
    /// A steady growth of the C heap fails the test.
    Judge,
    /// Measured and written to the results, not judged.
    Record,
}

impl CHeap {
    pub fn env_value(self) -> &'static str {
        match self {
            CHeap::Judge => "judge",
            CHeap::Record => "record",
        }
    }
}

impl Suite {
    pub fn id(&self) -> String {
        format!("{}.{}", self.module, self.class)
    }
}

/// What `cargo xtask memtest` runs.
pub const MEMORY_TESTS: Suite = Suite {
    module: "memory_test",
    class: "MemoryLeakTests",
    c_heap: CHeap::Judge,
};

/// The detection matrix's planted cases (`cargo xtask memtest --planted`).
///
/// The C heap is recorded, not judged: the matrix's columns are the three
/// stages of `planted.rs` (tracemalloc = Python memory and `live_objects()`),
/// and a C-heap verdict would mark `cpp-new` and `rust-leak` (and every row
/// that leaks a native block) in the tracemalloc column. That it catches them
/// is shown by `SLUICE_MEMTEST_C_HEAP=judge` on the planted cases
/// (docs/memory-testing.md); a column of its own is for the matrix's owner.
pub const PLANTED_TESTS: Suite = Suite {
    module: "planted_test",
    class: "PlantedLeakTests",
    c_heap: CHeap::Record,
};

/// `test_x` of a test id `module.Class.test_x`.
pub fn short_name(id: &str) -> &str {
    let id = id.trim();
    id.rsplit('.').next().unwrap_or(id)
}

/// One test of a suite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestCase {
    /// `module.Class.test_x`.
    pub id: String,
    /// The test asks for a process of its own under Valgrind
    /// (`valgrind_harness.own_process`).
    pub own_process: bool,
}

/// Test ids of `suite` matching `-k` (unittest's own selection rules),
/// listed natively (fast).
pub fn list_tests(
    venv: &Venv,
    root: &Path,
    suite: Suite,
    patterns: &[String],
) -> Result<Vec<String>> {
    Ok(list_cases(venv, root, suite, patterns)?
        .into_iter()
        .map(|c| c.id)
        .collect())
}

/// The tests of `suite` matching `-k`, with what they ask of the harness.
pub fn list_cases(
    venv: &Venv,
    root: &Path,
    suite: Suite,
    patterns: &[String],
) -> Result<Vec<TestCase>> {
    let script = r#"
import sys, unittest
loader = unittest.TestLoader()
pats = sys.argv[2:]
if pats:
    loader.testNamePatterns = [p if "*" in p else "*%s*" % p for p in pats]
def walk(s):
    for t in s:
        if isinstance(t, unittest.TestSuite):
            yield from walk(t)
        else:
            yield t
for t in walk(loader.loadTestsFromName(sys.argv[1])):
    method = getattr(t, getattr(t, "_testMethodName", ""), None)
    print(t.id(), "own-process" if getattr(method, "own_process", False) else "")
"#;
    let mut cmd = Command::new(&venv.python);
    cmd.current_dir(root.join("python/tests"))
        .arg("-c")
        .arg(script)
        .arg(suite.id())
        .args(patterns);
    let out = read_output(&mut cmd, &format!("listing {}", suite.id()))?;
    Ok(out
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            Some(TestCase {
                id: w.next()?.to_owned(),
                own_process: w.next() == Some("own-process"),
            })
        })
        .collect())
}

/// The shards of `cases` for `n` processes: a test that asks for a process
/// of its own gets one; the others are balanced over the rest (at least one).
pub fn shard_cases(
    cases: &[TestCase],
    n: usize,
    durations: &BTreeMap<String, f64>,
) -> Vec<Vec<String>> {
    let (alone, shared): (Vec<&TestCase>, Vec<&TestCase>) =
        cases.iter().partition(|c| c.own_process);
    let mut shards: Vec<Vec<String>> = alone.iter().map(|c| vec![c.id.clone()]).collect();
    let shared: Vec<String> = shared.iter().map(|c| c.id.clone()).collect();
    if !shared.is_empty() {
        shards.extend(shard(
            &shared,
            n.saturating_sub(alone.len()).max(1),
            durations,
        ));
    }
    shards
}

/// Greedy longest-first assignment of tests to `n` shards by expected
/// duration (seconds per test name; unknown tests count 1 s).
pub fn shard(tests: &[String], n: usize, durations: &BTreeMap<String, f64>) -> Vec<Vec<String>> {
    let n = n.max(1).min(tests.len().max(1));
    let mut weighted: Vec<(f64, &String)> = tests
        .iter()
        .map(|t| (durations.get(short_name(t)).copied().unwrap_or(1.0), t))
        .collect();
    weighted.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
    let mut shards: Vec<(f64, Vec<String>)> = vec![(0.0, Vec::new()); n];
    for (w, t) in weighted {
        // Every process pays Python's start-up: weight 0.5 s per test on top.
        let s = shards
            .iter_mut()
            .min_by(|a, b| a.0.total_cmp(&b.0))
            .expect("n >= 1 shards");
        s.0 += w + 0.5;
        s.1.push(t.clone());
    }
    shards
        .into_iter()
        .map(|(_, mut t)| {
            t.sort();
            t
        })
        .filter(|t| !t.is_empty())
        .collect()
}

/// What unittest's verbose log (`-v`) says.
pub struct Log {
    text: String,
}

impl Log {
    pub fn read(path: &Path) -> Log {
        Log {
            text: std::fs::read_to_string(path).unwrap_or_default(),
        }
    }

    /// Tests finished so far (ok, FAIL, ERROR, skipped).
    pub fn tests_done(&self) -> usize {
        self.text
            .lines()
            .filter(|l| {
                l.ends_with(" ok")
                    || l.ends_with(" FAIL")
                    || l.ends_with(" ERROR")
                    || l.contains(" skipped ")
            })
            .count()
    }

    /// `test_x` for every `test_x (module.Class.test_x) ... FAIL|ERROR` line.
    pub fn failed_tests(&self) -> Vec<String> {
        self.text
            .lines()
            .filter(|l| l.ends_with("... FAIL") || l.ends_with("... ERROR"))
            .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
            .collect()
    }

    /// The lines that say what failed and why (at most 20), `; `-joined.
    pub fn failure_lines(&self) -> String {
        let mut lines: Vec<&str> = self
            .text
            .lines()
            .filter(|l| {
                l.ends_with("... FAIL")
                    || l.ends_with("... ERROR")
                    || l.starts_with("AssertionError")
                    || l.contains("LeakError")
            })
            .collect();
        lines.truncate(20);
        lines.join("; ")
    }
}

/// Environment of the tests under a native memory tool (Valgrind, LeakSanitizer).
pub fn native_memory_env(cmd: &mut Command) {
    cmd.env("PYTHONMALLOC", "malloc") // every object is a malloc block the tool can see
        .env("PYTHONHASHSEED", "0") // same dict layouts at every iteration count
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("OPENBLAS_NUM_THREADS", "1") // numpy: no BLAS thread pool
        .env("OMP_NUM_THREADS", "1")
        .env("SLUICE_MEMTEST_TRACEMALLOC", "0"); // tracemalloc itself misleads memcheck
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(id: &str, own_process: bool) -> TestCase {
        TestCase {
            id: id.into(),
            own_process,
        }
    }

    #[test]
    fn a_test_that_asks_for_its_own_process_gets_one() {
        let cases = [
            case("m.C.test_a", false),
            case("m.C.test_numpy", true),
            case("m.C.test_b", false),
            case("m.C.test_c", false),
        ];
        let d = BTreeMap::new();
        assert_eq!(
            shard_cases(&cases, 2, &d),
            vec![
                vec!["m.C.test_numpy".to_string()],
                vec![
                    "m.C.test_a".into(),
                    "m.C.test_b".into(),
                    "m.C.test_c".into()
                ]
            ]
        );
        assert_eq!(shard_cases(&cases, 3, &d).len(), 3);
        assert_eq!(
            shard_cases(&cases[..1], 2, &d),
            vec![vec!["m.C.test_a".to_string()]]
        );
    }
}
