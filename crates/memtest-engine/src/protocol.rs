//! What the engine and its Python half (`python/memtest`) tell each other:
//! the run description the engine writes for a test process, and the events
//! the process appends (`session`, `begin`/`end` around each test, `result`
//! per check). The strings and defaults both sides need are declared once,
//! in `python/memtest/protocol.json`, which both read; the shapes are tied
//! by a round-trip test through the real Python package (`tests` below).

use std::{collections::BTreeMap, path::PathBuf, sync::OnceLock};

use serde::{Deserialize, Serialize};

use crate::report::StageName;

const PROTOCOL_JSON: &str = include_str!("../python/memtest/protocol.json");

/// `protocol.json`.
#[derive(Debug, Deserialize)]
pub struct Protocol {
    pub schema: u32,
    /// The environment variable naming the run description.
    pub env_run: String,
    pub markers: MarkerStrings,
    /// The defaults of every check.
    pub defaults: CheckSettings,
    #[serde(default)]
    pub comment: String,
}

/// The client messages of the checkpoint protocol (`memtest.valgrind`).
#[derive(Debug, Deserialize)]
pub struct MarkerStrings {
    /// `<test> <test id>` before each test.
    pub test: String,
    /// `<checkpoint> <round>:<iterations> <test id>`, `<checkpoint> baseline`, `<checkpoint> end`.
    pub checkpoint: String,
    pub baseline: String,
    pub end: String,
}

/// The shared protocol (parsed once; its validity is a test).
pub fn protocol() -> &'static Protocol {
    static P: OnceLock<Protocol> = OnceLock::new();
    P.get_or_init(|| serde_json::from_str(PROTOCOL_JSON).expect("protocol.json is valid (tested)"))
}

/// What the fast stage does with the C heap it reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum CHeapMode {
    /// A steady growth of the C heap fails the test.
    Judge,
    /// Measured and reported, not judged.
    Record,
    /// Not read.
    Off,
}

/// How one check runs and decides (Python's `memtest.Config`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckSettings {
    pub iterations: u32,
    /// Fewer iterations per round when the first warm-up round takes longer (0: never).
    pub round_seconds: f64,
    pub min_iterations: u32,
    pub rounds: u32,
    pub warmup_rounds: u32,
    pub round_growth: u32,
    pub confirm_rounds: u32,
    pub confirm_factor: u32,
    pub tracemalloc: bool,
    pub c_heap: CHeapMode,
    pub min_python_bytes_per_iteration: f64,
    pub min_c_heap_bytes_per_iteration: f64,
    pub resources: bool,
    pub thread_grace_seconds: f64,
    pub frames: u32,
    pub top: u32,
    pub clear_caches: bool,
}

impl Default for CheckSettings {
    fn default() -> Self {
        protocol().defaults.clone()
    }
}

/// What the engine asks of one test process (written as JSON; the process
/// finds it through `Protocol::env_run`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunDescription {
    pub schema: u32,
    pub stage: StageName,
    /// The JSON-lines file the process appends its events to.
    pub events: PathBuf,
    pub check: CheckSettings,
    /// Valgrind: which leak searches the process asks for.
    pub searches: Searches,
    /// `module:callable` counting live native objects.
    pub live_objects: Option<String>,
    /// Test ids, in order.
    pub tests: Vec<String>,
    /// pytest's arguments for this process (options and paths).
    pub pytest_args: Vec<String>,
}

impl RunDescription {
    pub fn new(stage: StageName, events: PathBuf, check: CheckSettings) -> RunDescription {
        RunDescription {
            schema: protocol().schema,
            stage,
            events,
            check,
            searches: Searches::None,
            live_objects: None,
            tests: Vec::new(),
            pytest_args: Vec::new(),
        }
    }
}

/// The leak searches a Valgrind run asks for (a marker before each test is
/// written under Valgrind whatever this says).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Searches {
    None,
    /// One before the first test (the baseline) and one after the last.
    Process,
    /// Also after each test's warm-up and after each measured round.
    Rounds,
}

/// One line of the events file.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    Session(SessionEvent),
    Begin(BeginEvent),
    End(EndEvent),
    Result(Box<ResultLine>),
}

/// The interpreter that ran the tests, as it saw itself.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SessionEvent {
    pub schema: u32,
    pub stage: StageName,
    pub python: String,
    pub implementation: String,
    pub executable: String,
    pub free_threaded: bool,
    pub gil_enabled: bool,
    pub pid: u64,
    pub under_valgrind: bool,
    pub client_requests: bool,
    pub tests: usize,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BeginEvent {
    pub test: String,
    pub index: usize,
    pub total: usize,
}

/// How a test ended, as its runner saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Passed,
    /// The test itself failed (an assertion, an exception).
    Failed,
    Skipped,
    /// A leak rule failed it.
    Leaked,
    /// Run once, not judged (marked `memtest_skip`).
    NotJudged,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EndEvent {
    pub test: String,
    pub outcome: Outcome,
    pub seconds: f64,
    pub message: String,
}

/// How the steady-growth rule decided for one quantity.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    pub leaking: bool,
    pub bytes_per_iteration: f64,
    pub screen_bytes_per_iteration: f64,
    pub confirm_bytes_per_iteration: Option<f64>,
    /// Bytes per iteration at or above which the rule calls it growth.
    pub threshold: f64,
    pub reason: String,
}

/// One measured span of a check: its growth since the reading before.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RoundLine {
    pub label: String,
    pub phase: String,
    pub iterations: u32,
    pub python_bytes: Option<i64>,
    pub python_blocks: Option<i64>,
    pub c_heap_bytes: Option<i64>,
    pub tracemalloc_overhead_bytes: Option<i64>,
    pub c_heap_beyond_python_bytes: Option<i64>,
    pub fds: Option<i64>,
    pub threads: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TopSite {
    pub site: String,
    pub traceback: Vec<String>,
    pub size_diff: i64,
    pub count_diff: i64,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FdLeak {
    pub fd: i64,
    pub target: String,
    /// `module.function, called at file:line`: the native call during which
    /// such a descriptor appeared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opened_in: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ThreadKind {
    Python,
    Native,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ThreadLeak {
    pub kind: ThreadKind,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daemon: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub native_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tid: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_in: Option<String>,
}

/// What the measured rounds did besides calling code.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Activity {
    pub imports_per_round: Vec<u64>,
    pub module_execs_per_round: Vec<u64>,
    pub forks: u64,
    pub spawns: u64,
    pub examples: Vec<String>,
}

/// One check's result (Python's `memtest.Result`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ResultLine {
    pub name: String,
    pub iterations: u32,
    pub rounds: u32,
    pub warmup_rounds: u32,
    pub tracemalloc: bool,
    pub seconds: f64,
    pub growth_bytes: Vec<i64>,
    pub growth_blocks: Vec<i64>,
    pub bytes_per_iteration: f64,
    pub confirmed: bool,
    pub confirm_rounds: u32,
    pub confirm_iterations: u32,
    pub python: Decision,
    pub c_heap_mode: CHeapMode,
    pub c_heap_growth_bytes: Vec<i64>,
    pub c_heap: Decision,
    pub round_log: Vec<RoundLine>,
    pub live_baseline: BTreeMap<String, i64>,
    pub live_final: BTreeMap<String, i64>,
    pub leaking: bool,
    pub c_heap_leaking: bool,
    pub live_leaking: BTreeMap<String, u64>,
    pub fd_leaks: Vec<FdLeak>,
    pub thread_leaks: Vec<ThreadLeak>,
    pub top_sites: Vec<TopSite>,
    pub activity: Activity,
    pub not_a_leak_test: Option<String>,
    /// The id of the test the check ran in.
    pub test: Option<String>,
    pub message: String,
    pub ok: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn python_package() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("python")
    }

    fn python(args: &[&str]) -> String {
        let out = Command::new("python3")
            .args(["-m", "memtest"])
            .args(args)
            .env("PYTHONPATH", python_package())
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .output()
            .expect("python3 runs");
        assert!(
            out.status.success(),
            "python -m memtest {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    #[test]
    fn the_protocol_file_is_valid() {
        let p = protocol();
        assert!(p.schema >= 1);
        assert!(p
            .env_run
            .chars()
            .all(|c| c.is_ascii_uppercase() || c == '_'));
        assert!(p.markers.test.ends_with(':') && p.markers.checkpoint.ends_with(':'));
    }

    #[test]
    fn a_run_description_round_trips_through_the_python_package() {
        let check = CheckSettings {
            iterations: 7,
            round_seconds: 0.5,
            min_iterations: 3,
            rounds: 3,
            warmup_rounds: 1,
            round_growth: 2,
            confirm_rounds: 2,
            confirm_factor: 3,
            tracemalloc: false,
            c_heap: CHeapMode::Record,
            min_python_bytes_per_iteration: 2.5,
            min_c_heap_bytes_per_iteration: 8.0,
            resources: false,
            thread_grace_seconds: 0.5,
            frames: 5,
            top: 3,
            clear_caches: false,
        };
        assert_ne!(
            check,
            CheckSettings::default(),
            "every field differs from its default"
        );
        let mut run = RunDescription::new(StageName::Valgrind, "/tmp/e.jsonl".into(), check);
        run.searches = Searches::Rounds;
        run.live_objects = Some("pkg.mod:counts".into());
        run.tests = vec!["tests/test_a.py::test_b[x y]".into()];
        run.pytest_args = vec!["-q".into()];
        let dir = std::env::temp_dir().join(format!("memtest-roundtrip-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("run.json");
        let written = serde_json::to_value(&run).unwrap();
        std::fs::write(&file, written.to_string()).unwrap();
        let echoed: serde_json::Value =
            serde_json::from_str(&python(&["echo-run", file.to_str().unwrap()])).unwrap();
        assert_eq!(echoed, written);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_result_line_with_every_field_round_trips() {
        let text = python(&["sample-result"]);
        let line: ResultLine = serde_json::from_str(&text).expect("every field known");
        let original: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(serde_json::to_value(&line).unwrap(), original);
        assert!(line.not_a_leak_test.is_some() && line.c_heap_mode == CHeapMode::Judge);
    }

    #[test]
    fn the_defaults_are_pythons() {
        let code = "import json, dataclasses, memtest; print(json.dumps(dataclasses.asdict(memtest.Config())))";
        let out = Command::new("python3")
            .args(["-c", code])
            .env("PYTHONPATH", python_package())
            .output()
            .unwrap();
        let py: CheckSettings = serde_json::from_slice(&out.stdout).expect("same fields");
        assert_eq!(py, CheckSettings::default());
    }
}
