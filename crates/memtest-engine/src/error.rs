//! The engine's errors. A run that found leaks is not an error (its verdict
//! says so); these are the reasons a run could not be made: a bad
//! configuration (the key is named), a missing tool (what to install is
//! said), an incomplete report, an interrupted run.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// An operating-system error, with what was being done.
    #[error("{context}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// The harness could not run; the message says what is missing and how
    /// to get it.
    #[error("{0}")]
    Harness(String),
    /// Ctrl-C: what was done so far is reported, marked incomplete.
    #[error("interrupted (Ctrl-C)")]
    Interrupted,
}

/// A `[tool.memtest]` that memtest cannot use.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{}: cannot read it: {source}", file.display())]
    Read {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: not valid TOML: {message}", file.display())]
    Toml { file: PathBuf, message: String },
    /// A key of `[tool.memtest]` with a wrong name, type or value.
    #[error("{}: [{table}] key `{key}`: {message}", file.display())]
    Key {
        file: PathBuf,
        /// `tool.memtest`.
        table: &'static str,
        key: String,
        message: String,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// `Error::Harness(format!(...))`.
macro_rules! harness {
    ($($arg:tt)*) => { $crate::error::Error::Harness(format!($($arg)*)) };
}
pub(crate) use harness;

/// Adds what was being done to an I/O error.
pub trait IoContext<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| Error::Io {
            context: what(),
            source,
        })
    }
}
