//! The CI verdict of `vgxml check`: which records offend, against a
//! baseline and budgets.
//!
//! * The records looked at are [`counted_records`]: end-of-run loss records
//!   and non-leak errors, of our code when [`OurCode`] has rules.
//! * With a baseline, the records whose fingerprint it knows are left out
//!   (they neither offend nor count against budgets); the baseline's
//!   fingerprints that no record has any more are listed as *gone*.
//! * Without budgets, every remaining record of the `fail_on` categories
//!   offends. With budgets, they replace `fail_on`: only the budgeted
//!   categories are judged, each on its own (bytes for leak kinds, error
//!   contexts for `errors`), and a category that the run did not measure
//!   (`--show-leak-kinds` did not show it, or the run never finished) fails
//!   as *not measured*: it is never taken for 0.

use crate::baseline::{counted_records, Baseline, BaselineEntry};
use crate::budget::{Budget, Category};
use crate::ours::OurCode;
use serde::Serialize;
use std::collections::{BTreeSet, HashMap};
use vgxml_parse::Report;
use vgxml_parse::Summary;
use vgxml_parse::{ErrorRecord, LeakKind};

/// The prefix of the `VALGRIND_PRINTF` markers the memtest harness writes
/// before each test.
pub const TEST_MARKER_PREFIX: &str = "sluice-test-begin:";

/// What `check` judges.
#[derive(Debug, Clone)]
pub struct CheckConfig {
    pub ours: OurCode,
    /// Categories whose every record offends (when no budgets are given).
    pub fail_on: BTreeSet<Category>,
    /// Budgets; when non-empty they replace `fail_on`.
    pub budgets: Vec<Budget>,
    pub baseline: Option<Baseline>,
    /// Markers (`<clientmsg>` texts) that start with this prefix name a
    /// test: the rest of the text is the test id.
    pub marker_prefix: String,
}

impl Default for CheckConfig {
    fn default() -> Self {
        CheckConfig {
            ours: OurCode::new(),
            fail_on: [
                Category::Definite,
                Category::Indirect,
                Category::Possible,
                Category::Errors,
            ]
            .into_iter()
            .collect(),
            budgets: Vec::new(),
            baseline: None,
            marker_prefix: TEST_MARKER_PREFIX.to_string(),
        }
    }
}

/// One reported record.
#[derive(Debug, Clone, Serialize)]
pub struct Finding<'a> {
    pub source: &'a str,
    pub pid: Option<u64>,
    pub record: &'a ErrorRecord,
    pub category: Category,
    pub fingerprint: String,
    pub key: String,
    /// False for a record of a category within its budget.
    pub failing: bool,
    /// The test that produced it, from the markers (see
    /// [`test_of_record`]).
    pub test: Option<String>,
}

/// The outcome of one budget.
#[derive(Debug, Clone, Serialize)]
pub struct BudgetOutcome {
    pub budget: Budget,
    /// Bytes (leak kinds) or contexts (errors); `None`: not measured.
    pub measured: Option<u64>,
    pub ok: bool,
    /// Why it is not measured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The verdict.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict<'a> {
    pub complete: bool,
    pub findings: Vec<Finding<'a>>,
    pub budgets: Vec<BudgetOutcome>,
    /// Baseline fingerprints no record has any more.
    pub gone: Vec<BaselineEntry>,
    /// Baseline fingerprints with more records now than in the baseline
    /// (`(entry, records now)`): reported, not failing.
    pub more_than_baseline: Vec<(BaselineEntry, u64)>,
    pub notes: Vec<String>,
}

impl Verdict<'_> {
    /// True when a finding fails or a budget is exceeded or not measured.
    pub fn failed(&self) -> bool {
        self.findings.iter().any(|f| f.failing) || self.budgets.iter().any(|b| !b.ok)
    }

    /// 1 failed, 3 incomplete input, 0 clean.
    pub fn exit_code(&self) -> u8 {
        if self.failed() {
            1
        } else if !self.complete {
            3
        } else {
            0
        }
    }
}

/// The test id of a marker text (`sluice-test-begin: tests/x.py::test_a`
/// gives `tests/x.py::test_a`), when it has the prefix.
pub fn test_of_marker<'m>(marker: &'m str, prefix: &str) -> Option<&'m str> {
    marker
        .trim()
        .strip_prefix(prefix)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// The allocation site of a loss record: its fingerprint key without the
/// kind. (A block often shows as still reachable in the added-leak search
/// right after the test that leaked it, because a stale copy of the
/// pointer lingers in a register or stack slot, and as definitely lost at
/// the end: the kind changes, the site does not.)
fn site_key(e: &ErrorRecord, ours: &OurCode) -> String {
    let k = crate::fingerprint::fingerprint_key(e, ours);
    match k.split_once('|') {
        Some((_, rest)) => rest.to_string(),
        None => String::new(),
    }
}

/// For each report, allocation site -> the test of the first intermediate
/// leak search (requested by the program while it ran) that showed a
/// loss record there.
fn attribution(r: &Report, ours: &OurCode, prefix: &str) -> HashMap<String, String> {
    let mut m = HashMap::new();
    for e in r.errors.iter().filter(|e| e.is_leak() && !e.final_search) {
        if let Some(t) = e.marker.as_deref().and_then(|x| test_of_marker(x, prefix)) {
            m.entry(site_key(e, ours)).or_insert_with(|| t.to_string());
        }
    }
    m
}

/// Which test each allocation site of one report belongs to: computed once
/// per report, then asked per record (see [`test_of_record`]).
pub struct Attribution {
    sites: HashMap<String, String>,
    prefix: String,
}

impl Attribution {
    pub fn new(r: &Report, ours: &OurCode, prefix: &str) -> Attribution {
        Attribution {
            sites: attribution(r, ours, prefix),
            prefix: prefix.to_string(),
        }
    }

    /// The test a record of this report belongs to: for errors and
    /// intermediate loss records, the marker before them; for end-of-run
    /// loss records, the test whose added-leak search first showed a record
    /// with the same allocation site (`None`: leaked outside every test, or
    /// no markers).
    pub fn test_of(&self, e: &ErrorRecord, ours: &OurCode) -> Option<String> {
        if e.is_leak() && e.final_search {
            self.sites.get(&site_key(e, ours)).cloned()
        } else {
            e.marker
                .as_deref()
                .and_then(|x| test_of_marker(x, &self.prefix))
                .map(str::to_string)
        }
    }
}

/// The test a record belongs to (see [`Attribution::test_of`]). Builds the
/// report's attribution each call: for many records, use [`Attribution`].
pub fn test_of_record(r: &Report, e: &ErrorRecord, ours: &OurCode, prefix: &str) -> Option<String> {
    Attribution::new(r, ours, prefix).test_of(e, ours)
}

/// Every test id announced by a marker in the reports, in order.
pub fn tests_in(reports: &[Report], prefix: &str) -> Vec<String> {
    let mut seen = BTreeSet::new();
    let mut v = Vec::new();
    for r in reports {
        for m in &r.client_messages {
            if let Some(t) = test_of_marker(&m.text, prefix) {
                if seen.insert(t.to_string()) {
                    v.push(t.to_string());
                }
            }
        }
    }
    v
}

/// Judges reports.
pub fn check<'a>(reports: &'a [Report], cfg: &CheckConfig) -> Verdict<'a> {
    let summary = Summary::from_reports(reports);
    let mut notes = summary.diagnostics.clone();
    let ours = &cfg.ours;
    if let Some(b) = &cfg.baseline {
        if !b.ours.is_empty() && b.ours != ours.rules() {
            notes.push(format!(
                "the baseline was taken with other --ours rules ({}); fingerprints depend on them",
                b.ours.join(" ")
            ));
        }
    }
    let judged: BTreeSet<Category> = if cfg.budgets.is_empty() {
        cfg.fail_on.clone()
    } else {
        cfg.budgets.iter().map(|b| b.category).collect()
    };
    // every counted record, with fingerprints
    let mut counts: HashMap<String, u64> = HashMap::new();
    let mut kept = Vec::new();
    let attributions: Vec<HashMap<String, String>> = reports
        .iter()
        .map(|r| attribution(r, ours, &cfg.marker_prefix))
        .collect();
    for (r, e) in counted_records(reports, ours) {
        let key = crate::fingerprint::fingerprint_key(e, ours);
        let fp = crate::fingerprint::fingerprint_of_key(&key);
        *counts.entry(fp.clone()).or_insert(0) += 1;
        if cfg.baseline.as_ref().is_some_and(|b| b.contains(&fp)) {
            continue;
        }
        let category = Category::of_record(e);
        let ri = reports.iter().position(|x| std::ptr::eq(x, r)).unwrap_or(0);
        let test = if e.is_leak() {
            attributions[ri].get(&site_key(e, ours)).cloned()
        } else {
            e.marker
                .as_deref()
                .and_then(|x| test_of_marker(x, &cfg.marker_prefix))
                .map(str::to_string)
        };
        kept.push(Finding {
            source: &r.source,
            pid: r.pid,
            record: e,
            category,
            fingerprint: fp,
            key,
            failing: judged.contains(&category),
            test,
        });
    }
    let mut gone = Vec::new();
    let mut more = Vec::new();
    if let Some(b) = &cfg.baseline {
        for e in &b.records {
            match counts.get(&e.fingerprint) {
                None => gone.push(e.clone()),
                Some(&n) if n > e.count => more.push((e.clone(), n)),
                _ => {}
            }
        }
    }
    // budgets
    let filtered = !ours.is_empty() || cfg.baseline.is_some();
    let mut budgets = Vec::new();
    for b in &cfg.budgets {
        let measured: Result<u64, String> = match b.category.leak_kind() {
            Some(k) => measure_leaks(reports, &summary, k, filtered, &kept),
            None => Ok(kept
                .iter()
                .filter(|f| f.category == Category::Errors)
                .count() as u64),
        };
        let (measured, reason) = match measured {
            Ok(v) => (Some(v), None),
            Err(why) => (None, Some(why)),
        };
        budgets.push(BudgetOutcome {
            budget: *b,
            measured,
            ok: measured.is_some_and(|m| m <= b.limit),
            reason,
        });
    }
    let mut findings: Vec<Finding<'a>> = kept
        .into_iter()
        .filter(|f| judged.contains(&f.category))
        .collect();
    if !cfg.budgets.is_empty() {
        for f in &mut findings {
            f.failing = budgets
                .iter()
                .any(|o| o.budget.category == f.category && !o.ok);
        }
    } else {
        for r in reports {
            let shown = r.shown_leak_kinds();
            for c in &judged {
                if let Some(k) = c.leak_kind() {
                    if !shown.contains(&k) && r.valgrind_leak_summary.is_none() {
                        notes.push(format!(
                            "{}: {} records were not shown by this run; rerun Valgrind with --show-leak-kinds=all to check them",
                            r.source,
                            k.label()
                        ));
                    }
                }
            }
        }
    }
    Verdict {
        complete: summary.complete,
        findings,
        budgets,
        gone,
        more_than_baseline: more,
        notes,
    }
}

fn measure_leaks(
    reports: &[Report],
    summary: &Summary,
    k: LeakKind,
    filtered: bool,
    kept: &[Finding<'_>],
) -> Result<u64, String> {
    if !filtered {
        return summary
            .leaks
            .get(k)
            .map(|a| a.bytes)
            .ok_or_else(|| not_measured_reason(reports, k));
    }
    for r in reports {
        if !r.finished || !r.shown_leak_kinds().contains(&k) {
            return Err(not_measured_reason(reports, k));
        }
    }
    let c = Category::from_leak_kind(k);
    Ok(kept
        .iter()
        .filter(|f| f.category == c)
        .map(|f| f.record.direct_bytes().unwrap_or(0))
        .sum())
}

fn not_measured_reason(reports: &[Report], k: LeakKind) -> String {
    match reports.iter().find(|r| !r.finished) {
        Some(r) => format!(
            "{}: the run did not finish (no end-of-run leak search)",
            r.source
        ),
        None => format!(
            "{} was not shown by the run (rerun Valgrind with --show-leak-kinds=all)",
            k.label()
        ),
    }
}
