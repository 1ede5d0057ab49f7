//! The leak-test stages, each in its own module, and what every stage is
//! given: the project, the platform, our code, the selected tests, where its
//! output goes. A stage returns its [`StageReport`](crate::report::StageReport);
//! findings are judged, not computed, here.

pub mod lsan;
pub mod memcheck;
pub mod tracemalloc;
pub mod valgrind;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::config::Runner;
use crate::error::Result;
use crate::files;
use crate::ours::Ours;
use crate::plan::{self, TestCase};
use crate::platform::Platform;
use crate::project::Project;
use crate::protocol::RunDescription;

/// What a stage runs, where, and where its output goes.
pub struct StageCtx<'a> {
    pub project: &'a Project,
    pub platform: &'a Platform,
    pub ours: &'a Ours,
    /// The selected tests, in order.
    pub tests: &'a [TestCase],
    /// The stage's output directory (logs, XML, events).
    pub out: PathBuf,
    /// The step header printed when it starts.
    pub title: String,
    /// Iterations per round instead of the description's.
    pub iterations: Option<u32>,
    /// Processes at a time.
    pub jobs: usize,
    /// What the fast stage found out, when it ran first.
    pub fast: Option<&'a FastFacts>,
}

/// What the fast stage tells the Valgrind stage.
#[derive(Debug, Clone, Default)]
pub struct FastFacts {
    /// Seconds per test (they balance Valgrind's processes).
    pub durations: BTreeMap<String, f64>,
    /// The tests whose Python memory or C heap grew, over all their
    /// measured rounds, by at least a byte per iteration (or that could not
    /// be measured): only their allocation sites can grow, so only they need
    /// Valgrind's rounds with a leak search after each.
    pub grew: BTreeSet<String>,
}

impl StageCtx<'_> {
    /// A report's name for a test.
    pub fn short<'t>(&self, id: &'t str) -> &'t str {
        plan::short_name(self.project.description.runner, id)
    }

    /// The command that runs `run.tests` as `run` describes (written to `run_file`).
    pub fn runner_command(&self, run: &RunDescription, run_file: &Path) -> Result<Command> {
        files::write(
            run_file,
            &serde_json::to_string_pretty(run).expect("serialisable"),
        )?;
        let python = &self.platform.python.executable;
        let mut c = match self.project.description.runner {
            Runner::Pytest => {
                let mut c = plan::pytest(python, self.project);
                c.arg(format!("--memtest-run={}", run_file.display()));
                // Collect only the files the selected tests are in.
                let mut paths: Vec<&str> = self
                    .tests
                    .iter()
                    .filter(|t| run.tests.contains(&t.id))
                    .map(|t| {
                        t.path
                            .as_deref()
                            .unwrap_or_else(|| t.id.split("::").next().unwrap_or(&t.id))
                    })
                    .collect();
                paths.sort_unstable();
                paths.dedup();
                c.args(paths);
                c
            }
            Runner::Unittest => {
                let mut c = Command::new(python);
                c.args(["-m", "memtest", "unittest", "run"]).arg(run_file);
                c
            }
        };
        plan::test_env(&mut c, self.project);
        Ok(c)
    }
}
