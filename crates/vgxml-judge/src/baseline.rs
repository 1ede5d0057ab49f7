//! Baselines (the known records, by fingerprint) and diffs between runs.

use crate::budget::{human_bytes, Category};
use crate::ours::OurCode;
use crate::render::render_frame;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use vgxml_parse::ErrorRecord;
use vgxml_parse::{read_path, Report};

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

/// The records a baseline, a check or a diff looks at: the end-of-run
/// loss records and every non-leak error, of our code when `ours` has
/// rules.
pub fn counted_records<'a>(
    reports: &'a [Report],
    ours: &OurCode,
) -> Vec<(&'a Report, &'a ErrorRecord)> {
    let mut v = Vec::new();
    for r in reports {
        for e in &r.errors {
            if (!e.is_leak() || e.final_search) && (ours.is_empty() || ours.matches_record(e)) {
                v.push((r, e));
            }
        }
    }
    v
}

impl Baseline {
    /// Builds a baseline from records, merging equal fingerprints.
    pub fn from_records<'a>(
        records: impl IntoIterator<Item = &'a ErrorRecord>,
        ours: &OurCode,
    ) -> Baseline {
        let mut map: BTreeMap<String, BaselineEntry> = BTreeMap::new();
        for r in records {
            let key = crate::fingerprint::fingerprint_key(r, ours);
            let fp = crate::fingerprint::fingerprint_of_key(&key);
            let e = map.entry(fp.clone()).or_insert_with(|| BaselineEntry {
                fingerprint: fp,
                key,
                kind: r.kind.as_str().to_string(),
                bytes: r.is_leak().then_some(0),
                blocks: r.is_leak().then_some(0),
                first_frame: ours.location_frame(r).map(render_frame).unwrap_or_default(),
                count: 0,
            });
            e.count += 1;
            if let Some(b) = e.bytes.as_mut() {
                *b += r.direct_bytes().unwrap_or(0);
            }
            if let Some(b) = e.blocks.as_mut() {
                *b += r.leaked_blocks.unwrap_or(0);
            }
        }
        let mut records: Vec<BaselineEntry> = map.into_values().collect();
        records.sort_by(|a, b| (&a.kind, &a.key).cmp(&(&b.kind, &b.key)));
        Baseline {
            vgxml_baseline: BASELINE_VERSION,
            ours: ours.rules(),
            records,
        }
    }

    /// The baseline of reports ([`counted_records`]).
    pub fn from_reports(reports: &[Report], ours: &OurCode) -> Baseline {
        Baseline::from_records(
            counted_records(reports, ours).into_iter().map(|(_, e)| e),
            ours,
        )
    }

    pub fn get(&self, fingerprint: &str) -> Option<&BaselineEntry> {
        self.records.iter().find(|e| e.fingerprint == fingerprint)
    }

    pub fn contains(&self, fingerprint: &str) -> bool {
        self.get(fingerprint).is_some()
    }

    /// Reads a baseline JSON (`vgxml baseline`), or the JSON of `vgxml
    /// check --format json` (its `records[]` carry fingerprints).
    pub fn from_json(text: &str) -> Result<Baseline, String> {
        let v: serde_json::Value =
            serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?;
        if v.get("vgxml_baseline").is_some() {
            return serde_json::from_value(v).map_err(|e| format!("not a vgxml baseline: {e}"));
        }
        // `check --format json`: records[] with fingerprint, key, kind, bytes, blocks
        let recs = v
            .get("records")
            .and_then(|r| r.as_array())
            .ok_or("neither a vgxml baseline nor `vgxml check --format json` output")?;
        let mut map: BTreeMap<String, BaselineEntry> = BTreeMap::new();
        for r in recs {
            let fp = r
                .get("fingerprint")
                .and_then(|f| f.as_str())
                .ok_or("a record without \"fingerprint\"")?;
            let e = map.entry(fp.to_string()).or_insert_with(|| BaselineEntry {
                fingerprint: fp.to_string(),
                key: r["key"].as_str().unwrap_or("").to_string(),
                kind: r["kind"].as_str().unwrap_or("").to_string(),
                bytes: r["bytes"].as_u64().map(|_| 0),
                blocks: r["blocks"].as_u64().map(|_| 0),
                first_frame: r["first_frame"].as_str().unwrap_or("").to_string(),
                count: 0,
            });
            e.count += 1;
            if let (Some(b), Some(x)) = (e.bytes.as_mut(), r["bytes"].as_u64()) {
                *b += x;
            }
            if let (Some(b), Some(x)) = (e.blocks.as_mut(), r["blocks"].as_u64()) {
                *b += x;
            }
        }
        Ok(Baseline {
            vgxml_baseline: BASELINE_VERSION,
            ours: Vec::new(),
            records: map.into_values().collect(),
        })
    }

    /// Loads a baseline from a JSON file (see [`Baseline::from_json`]) or
    /// computes it from a Valgrind XML file (told apart by the first
    /// non-blank byte: `{` or `<`).
    pub fn load(path: &Path, ours: &OurCode) -> Result<Baseline, String> {
        let name = path.display().to_string();
        let mut head = [0u8; 512];
        let n = {
            use std::io::Read;
            let mut f = std::fs::File::open(path).map_err(|e| format!("{name}: {e}"))?;
            f.read(&mut head).map_err(|e| format!("{name}: {e}"))?
        };
        let first = head[..n].iter().find(|b| !b.is_ascii_whitespace()).copied();
        if first == Some(b'{') {
            let text = std::fs::read_to_string(path).map_err(|e| format!("{name}: {e}"))?;
            Baseline::from_json(&text).map_err(|e| format!("{name}: {e}"))
        } else {
            let r = read_path(path).map_err(|e| e.to_string())?;
            if !r.complete {
                return Err(format!("{name}: the report is incomplete (truncated)"));
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
        for n in &new.records {
            match old.get(&n.fingerprint) {
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
        for o in &old.records {
            if !new.contains(&o.fingerprint) {
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
