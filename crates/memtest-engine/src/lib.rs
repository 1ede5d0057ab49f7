//! # memtest-engine: leak tests for anyone's Python bindings
//!
//! The engine plans, runs and reports a project's leak tests; the `memtest`
//! command and `cargo xtask memtest` are thin front doors to it (the model:
//! `nextest-runner` under `cargo-nextest`). A run:
//!
//! 1. reads the project's description (`[tool.memtest]` in its
//!    `pyproject.toml`: [`config`]) and probes the platform once
//!    ([`platform`]: the interpreter, free-threaded or not, Valgrind);
//! 2. builds the project with debug information into a venv of its own
//!    ([`build`]), or takes an environment already built;
//! 3. lists the tests with the project's runner, pytest or unittest, and
//!    selects and shards them ([`plan`]);
//! 4. runs the stages ([`stage`]): the fast stage in-process (tracemalloc,
//!    the C heap, descriptors, threads, a live-objects hook), then the
//!    Valgrind stage (a leak search after each round, judged per allocation
//!    site by `vgxml-judge`), each test repeated in rounds by the engine's
//!    Python half ([`python_half`], speaking [`protocol`]);
//! 5. reports ([`report`]): one [`Verdict`], the terminal summary,
//!    `report.json`, the page, SARIF, JUnit and GitHub output.
//!
//! The engine knows nothing of any particular project: what is "ours", what
//! runs once, which suppressions apply, all come from the description or
//! are found (the extension modules the project installed: [`modules`]).

pub mod build;
pub mod config;
pub mod error;
pub mod events;
pub mod files;
pub mod interrupt;
pub mod modules;
pub mod ours;
pub mod plan;
pub mod platform;
pub mod process;
pub mod project;
pub mod protocol;
pub mod python_half;
pub mod report;
pub mod run;
pub mod stage;
pub mod step;
pub mod suppressions;

pub use config::Description;
pub use error::{Error, Result};
pub use project::Project;
pub use report::{RunReport, Verdict};
pub use run::{run, Options};
