//! Baselines: the known records of a run, by fingerprint. Building and
//! loading them, and diffs between runs, are `compare`'s.

use crate::budget::Category;
use serde::{Deserialize, Serialize};

/// The format version written to `vgxml_baseline`.
pub const BASELINE_VERSION: u32 = 1;

/// One known fingerprint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BaselineEntry {
    pub fingerprint: String,
    /// The readable key the fingerprint hashes.
    #[serde(default)]
    pub key: String,
    pub kind: String,
    /// Leak records: direct bytes summed over the records with this
    /// fingerprint (the indirect blocks they own have records of their
    /// own). `None` for non-leak errors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocks: Option<u64>,
    /// The first frame of ours (normalised: `fn (file:line)`).
    #[serde(default)]
    pub first_frame: String,
    /// How many records (processes, call sites that differ only by line
    /// number) have this fingerprint.
    #[serde(default = "one")]
    pub count: u64,
}

fn one() -> u64 {
    1
}

/// A set of known fingerprints (`vgxml baseline`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Baseline {
    #[serde(default)]
    pub vgxml_baseline: u32,
    /// The `--ours` rules the fingerprints were computed with
    /// ([`OurCode::rules`]); fingerprints depend on them.
    #[serde(default)]
    pub ours: Vec<String>,
    pub records: Vec<BaselineEntry>,
}

impl Baseline {
    pub fn get(&self, fingerprint: &str) -> Option<&BaselineEntry> {
        self.records.iter().find(|e| e.fingerprint == fingerprint)
    }
}

/// The budget/verdict category of a baseline entry.
pub fn entry_category(e: &BaselineEntry) -> Category {
    match e.kind.as_str() {
        "Leak_DefinitelyLost" => Category::Definite,
        "Leak_IndirectlyLost" => Category::Indirect,
        "Leak_PossiblyLost" => Category::Possible,
        "Leak_StillReachable" => Category::Reachable,
        _ => Category::Errors,
    }
}
