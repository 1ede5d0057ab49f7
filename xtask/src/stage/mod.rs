//! The leak-test stages, each in its own module; what every stage is given.

pub mod lsan;
pub mod tracemalloc;
pub mod valgrind;

use std::path::{Path, PathBuf};

use crate::{flags::SelectArgs, unittest::Suite, venv::Venv};

/// What a stage runs, where, and where its output goes.
pub struct StageCtx<'a> {
    pub root: &'a Path,
    pub venv: &'a Venv,
    pub suite: Suite,
    pub select: &'a SelectArgs,
    /// The stage's output directory (logs, XML, results).
    pub out: PathBuf,
    /// The step header printed when it starts.
    pub title: String,
}
