//! Which test a record belongs to, from the markers a test harness writes.
//!
//! A harness that wants per-test attribution writes a client message
//! (`VALGRIND_PRINTF("<prefix> <test id>\n")`, a `<clientmsg>` in the XML)
//! before each test and asks for an added-leak search
//! (`VALGRIND_DO_ADDED_LEAK_CHECK`) after it. The prefix is the caller's: it
//! is part of its harness, not of vgxml.

use crate::fingerprint::fingerprint_key;
use crate::ours::OurCode;
use std::collections::{BTreeSet, HashMap};
use vgxml_parse::{ErrorRecord, Report};

/// The test id of a marker text (`<prefix> tests/x.py::test_a` gives
/// `tests/x.py::test_a`), when it has the prefix.
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
pub(crate) fn site_key(e: &ErrorRecord, ours: &OurCode) -> String {
    let k = fingerprint_key(e, ours);
    match k.split_once('|') {
        Some((_, rest)) => rest.to_string(),
        None => String::new(),
    }
}

/// Which test each allocation site of one report belongs to: computed once
/// per report, then asked per record.
pub struct Attribution {
    /// Allocation site -> the test of the first intermediate leak search
    /// (requested by the program while it ran) that showed a loss record there.
    sites: HashMap<String, String>,
    prefix: Option<String>,
}

impl Attribution {
    /// No markers to read: every record's test is unknown.
    pub fn none() -> Attribution {
        Attribution {
            sites: HashMap::new(),
            prefix: None,
        }
    }

    /// The attribution of `r` by the markers that start with `prefix`.
    pub fn new(r: &Report, ours: &OurCode, prefix: &str) -> Attribution {
        let mut sites = HashMap::new();
        for e in r.errors.iter().filter(|e| e.is_leak() && !e.final_search) {
            if let Some(t) = e.marker.as_deref().and_then(|x| test_of_marker(x, prefix)) {
                sites
                    .entry(site_key(e, ours))
                    .or_insert_with(|| t.to_string());
            }
        }
        Attribution {
            sites,
            prefix: Some(prefix.to_string()),
        }
    }

    /// The test a record of this report belongs to: for errors and
    /// intermediate loss records, the marker before them; for end-of-run
    /// loss records, the test whose added-leak search first showed a record
    /// with the same allocation site (`None`: leaked outside every test, or
    /// no markers).
    pub fn test_of(&self, e: &ErrorRecord, ours: &OurCode) -> Option<String> {
        let prefix = self.prefix.as_deref()?;
        if e.is_leak() && e.final_search {
            self.sites.get(&site_key(e, ours)).cloned()
        } else {
            e.marker
                .as_deref()
                .and_then(|x| test_of_marker(x, prefix))
                .map(str::to_string)
        }
    }
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
