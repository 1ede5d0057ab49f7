//! Which tests run, and in which processes: the listing (by the project's
//! runner, through memtest's Python half, with what each test's marks ask),
//! `-k` selection, `--shard I/N` (by a hash of the test id: the same split on
//! every machine, and a test keeps its shard as others are added), and the
//! Valgrind processes (a test marked `memtest_own_process` gets one; the
//! others are balanced by the durations the fast stage measured).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde::Deserialize;

use crate::config::Runner;
use crate::error::{harness, Result};
use crate::files;
use crate::process::{describe_status, display_cmd};
use crate::project::Project;

/// One test, as its runner listed it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TestCase {
    /// pytest: the node id (`tests/test_x.py::test_a[1]`); unittest: `module.Class.test_a`.
    pub id: String,
    /// Under Valgrind, a process of its own (`memtest_own_process`).
    #[serde(default)]
    pub own_process: bool,
    /// `memtest_skip(reason)`: run once, not judged.
    #[serde(default)]
    pub skip: Option<String>,
    /// `memtest_iterations(n)`.
    #[serde(default)]
    pub iterations: Option<u32>,
    /// pytest: the test's file (absolute), what a run collects.
    #[serde(default)]
    pub path: Option<String>,
}

/// `I/N` of `--shard`: this machine runs shard `index` (1-based) of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl std::str::FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Shard, String> {
        let bad = || format!("expected I/N with 1 <= I <= N (e.g. 2/4), got {s:?}");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count): (u32, u32) = (
            i.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if index == 0 || count == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Shard {
    /// Whether `id` is this shard's: FNV-1a of the id, modulo the count.
    pub fn has(&self, id: &str) -> bool {
        (vgxml_judge::fnv1a64(id.as_bytes()) % u64::from(self.count)) as u32 == self.index - 1
    }
}

/// The environment of the test processes: the project's, memtest's Python
/// half on the path, no bytecode written into the project.
pub fn test_env(cmd: &mut Command, project: &Project) {
    cmd.current_dir(project.test_dir())
        .env("PYTHONPATH", project.python_path())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .envs(&project.description.env);
}

/// The environment of the tests under a native memory tool (Valgrind,
/// LeakSanitizer).
pub fn native_memory_env(cmd: &mut Command) {
    cmd.env("PYTHONMALLOC", "malloc") // every object is a malloc block the tool can see
        .env("PYTHONHASHSEED", "0") // same dict layouts at every iteration count
        .env("OPENBLAS_NUM_THREADS", "1") // numpy: no BLAS thread pool
        .env("OMP_NUM_THREADS", "1");
}

/// pytest's command line for `project` with memtest's plugin (and not a
/// copy of it that the environment may have installed).
pub fn pytest(python: &Path, project: &Project) -> Command {
    let mut c = Command::new(python);
    c.args([
        "-m",
        "pytest",
        "-p",
        "no:memtest",
        "-p",
        "memtest.pytest_plugin",
        "-p",
        "no:cacheprovider",
    ]);
    c.args(&project.description.pytest_args);
    c
}

/// The tests of the project matching `patterns` (pytest's `-k` expressions,
/// or unittest's name patterns), in the runner's order.
pub fn list(
    project: &Project,
    python: &Path,
    patterns: &[String],
    out_dir: &Path,
) -> Result<Vec<TestCase>> {
    let listing = out_dir.join("tests.jsonl");
    let mut cmd = match project.description.runner {
        Runner::Pytest => {
            let mut c = pytest(python, project);
            c.arg("--collect-only")
                .arg("-q")
                .arg(format!("--memtest-list={}", listing.display()));
            for p in patterns {
                c.args(["-k", p]);
            }
            c.args(&project.description.tests);
            c
        }
        Runner::Unittest => {
            let mut c = Command::new(python);
            c.args(["-m", "memtest", "unittest", "list"]);
            for p in patterns {
                c.args(["-k", p]);
            }
            c.args(&project.description.tests);
            c
        }
    };
    test_env(&mut cmd, project);
    let out = cmd
        .output()
        .map_err(|e| harness!("could not run {}: {e}", display_cmd(&cmd)))?;
    let text = match project.description.runner {
        Runner::Pytest => std::fs::read_to_string(&listing).unwrap_or_default(),
        Runner::Unittest => String::from_utf8_lossy(&out.stdout).into_owned(),
    };
    // pytest exits 5 when nothing was collected: an empty list, said by the caller.
    let nothing = project.description.runner == Runner::Pytest && out.status.code() == Some(5);
    if !out.status.success() && !nothing {
        return Err(harness!(
            "listing the tests failed ({}): {}\n{}{}",
            describe_status(out.status),
            display_cmd(&cmd),
            tail(&String::from_utf8_lossy(&out.stdout), 30),
            tail(&String::from_utf8_lossy(&out.stderr), 30),
        ));
    }
    let _ = files::write(
        &out_dir.join("tests.log"),
        &String::from_utf8_lossy(&out.stdout),
    );
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).map_err(|e| harness!("bad test listing line {l:?}: {e}")))
        .collect()
}

/// The last `n` lines of `text`.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let from = lines.len().saturating_sub(n);
    lines[from..].join("\n") + if lines.is_empty() { "" } else { "\n" }
}

/// The name a report gives a test: pytest's node id as it is; unittest's
/// `module.Class.test_x` as `test_x`.
pub fn short_name(runner: Runner, id: &str) -> &str {
    let id = id.trim();
    match runner {
        Runner::Pytest => id,
        Runner::Unittest => id.rsplit('.').next().unwrap_or(id),
    }
}

/// The processes of `cases` for `n` in parallel: a test that asks for a
/// process of its own gets one; the others are balanced over the rest (at
/// least one).
pub fn processes(
    cases: &[TestCase],
    n: usize,
    durations: &BTreeMap<String, f64>,
) -> Vec<Vec<String>> {
    let (alone, shared): (Vec<&TestCase>, Vec<&TestCase>) =
        cases.iter().partition(|c| c.own_process);
    let mut shards: Vec<Vec<String>> = alone.iter().map(|c| vec![c.id.clone()]).collect();
    let shared: Vec<String> = shared.iter().map(|c| c.id.clone()).collect();
    if !shared.is_empty() {
        shards.extend(balance(
            &shared,
            n.saturating_sub(alone.len()).max(1),
            durations,
        ));
    }
    shards
}

/// Greedy longest-first assignment of tests to `n` groups by expected
/// duration (seconds per test id; unknown tests count 1 s), each group in
/// the runner's order.
pub fn balance(tests: &[String], n: usize, durations: &BTreeMap<String, f64>) -> Vec<Vec<String>> {
    let n = n.max(1).min(tests.len().max(1));
    let mut weighted: Vec<(f64, usize)> = tests
        .iter()
        .enumerate()
        .map(|(i, t)| (durations.get(t).copied().unwrap_or(1.0), i))
        .collect();
    weighted.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut groups: Vec<(f64, Vec<usize>)> = vec![(0.0, Vec::new()); n];
    for (w, i) in weighted {
        // Every process pays Python's start-up: weight 0.5 s per test on top.
        let g = groups
            .iter_mut()
            .min_by(|a, b| a.0.total_cmp(&b.0))
            .expect("n >= 1 groups");
        g.0 += w + 0.5;
        g.1.push(i);
    }
    groups
        .into_iter()
        .map(|(_, mut idx)| {
            idx.sort_unstable();
            idx.into_iter()
                .map(|i| tests[i].clone())
                .collect::<Vec<_>>()
        })
        .filter(|t| !t.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(id: &str, own_process: bool) -> TestCase {
        TestCase {
            id: id.into(),
            own_process,
            skip: None,
            iterations: None,
            path: None,
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
            processes(&cases, 2, &d),
            vec![
                vec!["m.C.test_numpy".to_string()],
                vec![
                    "m.C.test_a".into(),
                    "m.C.test_b".into(),
                    "m.C.test_c".into()
                ]
            ]
        );
        assert_eq!(processes(&cases, 3, &d).len(), 3);
        assert_eq!(
            processes(&cases[..1], 2, &d),
            vec![vec!["m.C.test_a".to_string()]]
        );
    }

    #[test]
    fn shards_split_by_name_and_stay_put_as_tests_are_added() {
        let ids: Vec<String> = (0..200)
            .map(|i| format!("tests/test_m.py::test_{i}"))
            .collect();
        let shards: Vec<Shard> = (1..=4).map(|i| Shard { index: i, count: 4 }).collect();
        for id in &ids {
            assert_eq!(
                shards.iter().filter(|s| s.has(id)).count(),
                1,
                "{id} in exactly one shard"
            );
        }
        let sizes: Vec<usize> = shards
            .iter()
            .map(|s| ids.iter().filter(|i| s.has(i)).count())
            .collect();
        assert!(sizes.iter().all(|&n| n > 30), "roughly balanced: {sizes:?}");
        // The same test in the same shard, whatever else exists.
        assert!(
            shards[0].has(&ids[0]) == Shard { index: 1, count: 4 }.has("tests/test_m.py::test_0")
        );
    }

    #[test]
    fn shard_syntax() {
        assert_eq!(
            "2/4".parse::<Shard>().unwrap(),
            Shard { index: 2, count: 4 }
        );
        for bad in ["0/4", "5/4", "1", "a/b", "1/0"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }

    #[test]
    fn short_names() {
        assert_eq!(
            short_name(Runner::Unittest, "test_mod.MyTests.test_x"),
            "test_x"
        );
        assert_eq!(
            short_name(Runner::Pytest, "tests/t.py::test_x[a.b]"),
            "tests/t.py::test_x[a.b]"
        );
    }
}
