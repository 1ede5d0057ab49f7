//! What a command's result means for its exit code: 0 clean, 1 a check
//! found something, 2 the harness could not run.

use std::fmt;

use anyhow::Result;

/// A check found a problem (a leak, a memory error, a failing test, a lint,
/// a changed snapshot): exit code 1. Every other error is a harness failure: exit 2.
#[derive(Debug)]
pub struct Found(pub String);

impl fmt::Display for Found {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Found {}

pub fn found(msg: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Found(msg.into()))
}

/// True when the error is a finding (exit 1), not a harness failure (exit 2).
pub fn is_finding(e: &anyhow::Error) -> bool {
    e.downcast_ref::<Found>().is_some()
}

/// Exit code for the outcome of a command.
pub fn exit_code(res: &Result<()>) -> u8 {
    match res {
        Ok(()) => 0,
        Err(e) if is_finding(e) => 1,
        Err(_) => 2,
    }
}
