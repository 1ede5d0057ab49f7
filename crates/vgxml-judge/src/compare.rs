//! Building and loading baselines, and what changed between two runs.

use crate::baseline::{Baseline, BaselineEntry, BASELINE_VERSION};
use crate::budget::human_bytes;
use crate::judge::judge;
use crate::judgement::{Judged, Judgement, Policy};
use crate::ours::OurCode;
use serde::Serialize;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use vgxml_parse::{read_path, ReadError, Report};

/// Why a baseline could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: invalid JSON: {source}", path.display())]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("{}: neither a vgxml baseline nor `vgxml check --format json` output: {reason}", path.display())]
    NotABaseline { path: PathBuf, reason: String },
    #[error("{}: the report is incomplete (truncated)", path.display())]
    Incomplete { path: PathBuf },
    #[error(transparent)]
    Read(#[from] ReadError),
}

impl Baseline {
    /// The baseline of a judgement's records, equal fingerprints merged,
    /// in fingerprint order.
    pub fn from_judgement(j: &Judgement, ours: &OurCode) -> Baseline {
        Baseline {
            vgxml_baseline: BASELINE_VERSION,
            ours: ours.rules(),
            records: j
                .by_fingerprint()
                .into_values()
                .map(|group| entry_of(&group))
                .collect(),
        }
    }

    /// The baseline of reports: every counted record (end-of-run loss
    /// records and errors, of our code when `ours` has rules), in order of
    /// kind and key.
    pub fn from_reports(reports: &[Report], ours: &OurCode) -> Baseline {
        let policy = Policy::new(ours.clone(), PathBuf::new()).listing_everything();
        let mut b = Baseline::from_judgement(&judge(reports, &policy), ours);
        b.records
            .sort_by(|a, b| (&a.kind, &a.key).cmp(&(&b.kind, &b.key)));
        b
    }

    /// Reads a baseline JSON (`vgxml baseline`), or the JSON of `vgxml
    /// check --format json` (a judgement: its records carry fingerprints).
    pub fn from_json(text: &str, path: &Path) -> Result<Baseline, BaselineError> {
        let v: serde_json::Value =
            serde_json::from_str(text).map_err(|source| BaselineError::Json {
                path: path.to_path_buf(),
                source,
            })?;
        let not = |e: serde_json::Error| BaselineError::NotABaseline {
            path: path.to_path_buf(),
            reason: e.to_string(),
        };
        if v.get("vgxml_baseline").is_some() {
            return serde_json::from_value(v).map_err(not);
        }
        let j: Judgement = serde_json::from_value(v).map_err(not)?;
        let mut b = Baseline::from_judgement(&j, &OurCode::new());
        b.ours = Vec::new();
        Ok(b)
    }

    /// Loads a baseline from a JSON file (see [`Baseline::from_json`]) or
    /// computes it from a Valgrind XML file (told apart by the first
    /// non-blank byte: `{` or `<`).
    pub fn load(path: &Path, ours: &OurCode) -> Result<Baseline, BaselineError> {
        let io = |source| BaselineError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut head = [0u8; 512];
        let n = {
            use std::io::Read;
            std::fs::File::open(path)
                .and_then(|mut f| f.read(&mut head))
                .map_err(io)?
        };
        let first = head[..n].iter().find(|b| !b.is_ascii_whitespace()).copied();
        if first == Some(b'{') {
            let text = std::fs::read_to_string(path).map_err(io)?;
            Baseline::from_json(&text, path)
        } else {
            let r = read_path(path)?;
            if !r.complete {
                return Err(BaselineError::Incomplete {
                    path: path.to_path_buf(),
                });
            }
            Ok(Baseline::from_reports(&[r], ours))
        }
    }
}

/// A fingerprint whose records changed between two runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub old: BaselineEntry,
    pub new: BaselineEntry,
    /// New minus old bytes (leaks).
    pub byte_delta: i64,
    pub count_delta: i64,
}

/// `vgxml diff`: what appeared, what went away, what grew or shrank.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Diff {
    pub new: Vec<BaselineEntry>,
    pub fixed: Vec<BaselineEntry>,
    pub grown: Vec<Change>,
    pub shrunk: Vec<Change>,
    /// Unchanged fingerprints.
    pub unchanged: usize,
}

impl Diff {
    pub fn between(old: &Baseline, new: &Baseline) -> Diff {
        let mut d = Diff::default();
        let in_old: HashMap<&str, &BaselineEntry> = old
            .records
            .iter()
            .map(|e| (e.fingerprint.as_str(), e))
            .collect();
        for n in &new.records {
            match in_old.get(n.fingerprint.as_str()).copied() {
                None => d.new.push(n.clone()),
                Some(o) => {
                    let byte_delta = n.bytes.unwrap_or(0) as i64 - o.bytes.unwrap_or(0) as i64;
                    let count_delta = n.count as i64 - o.count as i64;
                    let c = Change {
                        old: o.clone(),
                        new: n.clone(),
                        byte_delta,
                        count_delta,
                    };
                    if byte_delta > 0 || (byte_delta == 0 && count_delta > 0) {
                        d.grown.push(c);
                    } else if byte_delta < 0 || count_delta < 0 {
                        d.shrunk.push(c);
                    } else {
                        d.unchanged += 1;
                    }
                }
            }
        }
        let in_new: HashMap<&str, &BaselineEntry> = new
            .records
            .iter()
            .map(|e| (e.fingerprint.as_str(), e))
            .collect();
        for o in &old.records {
            if !in_new.contains_key(o.fingerprint.as_str()) {
                d.fixed.push(o.clone());
            }
        }
        d
    }

    /// True when something is new or grew.
    pub fn is_worse(&self) -> bool {
        !self.new.is_empty() || !self.grown.is_empty()
    }

    /// The text rendering of `vgxml diff`.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let amount = |e: &BaselineEntry| match (e.bytes, e.blocks) {
            (Some(b), Some(n)) => format!("{} in {n} block(s)", human_bytes(b)),
            _ => format!("{} context(s)", e.count),
        };
        for e in &self.new {
            let _ = writeln!(
                s,
                "NEW    {} {} +{}  at {}  [{}]",
                e.kind,
                amount(e),
                e.bytes.map_or(String::new(), |b| format!("{b} B")),
                e.first_frame,
                e.fingerprint
            );
        }
        for (label, changes) in [("GROWN ", &self.grown), ("SHRUNK", &self.shrunk)] {
            for c in changes {
                let _ = writeln!(
                    s,
                    "{label} {} {} -> {} ({:+} B, {:+} record(s))  at {}  [{}]",
                    c.new.kind,
                    amount(&c.old),
                    amount(&c.new),
                    c.byte_delta,
                    c.count_delta,
                    c.new.first_frame,
                    c.new.fingerprint
                );
            }
        }
        for e in &self.fixed {
            let _ = writeln!(
                s,
                "FIXED  {} {} -{}  at {}  [{}]",
                e.kind,
                amount(e),
                e.bytes.map_or(String::new(), |b| format!("{b} B")),
                e.first_frame,
                e.fingerprint
            );
        }
        let _ = writeln!(
            s,
            "{} new, {} grown, {} shrunk, {} fixed, {} unchanged",
            self.new.len(),
            self.grown.len(),
            self.shrunk.len(),
            self.fixed.len(),
            self.unchanged
        );
        s
    }
}

/// One fingerprint's entry, from its records.
fn entry_of(group: &[&Judged]) -> BaselineEntry {
    let first = group[0];
    let leak = first.record.is_leak();
    BaselineEntry {
        fingerprint: first.fingerprint.clone(),
        key: first.key.clone(),
        kind: first.kind.as_str().to_string(),
        bytes: leak.then(|| group.iter().map(|j| j.bytes.unwrap_or(0)).sum()),
        blocks: leak.then(|| {
            group
                .iter()
                .map(|j| j.record.leaked_blocks.unwrap_or(0))
                .sum()
        }),
        first_frame: first.first_frame.clone().unwrap_or_default(),
        count: group.len() as u64,
    }
}
