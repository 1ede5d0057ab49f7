//! Which test a record belongs to, from the markers a test harness writes.
//!
//! A harness that wants per-test attribution writes a client message
//! (`VALGRIND_PRINTF("<test prefix><test id>\n")`, a `<clientmsg>` in the
//! XML) before each test. A harness that wants growth judged inside the run
//! also asks for leak searches between measured rounds
//! (`VALGRIND_DO_CHANGED_LEAK_CHECK`), each after a checkpoint message
//! `<checkpoint prefix><round> <test id>` (round 0 after the warm-up, then
//! 1, 2, ...), or `<checkpoint prefix><round>:<iterations> <test id>` when it
//! says how many iterations the round ran (growth is then also judged per
//! iteration). Before the first test it may write `<checkpoint
//! prefix>baseline` and ask for a quiet search (`VALGRIND_DO_QUICK_LEAK_CHECK`,
//! which lists nothing): the changed-leak searches then list only what the
//! tests changed, and a lost block that none of them listed was allocated
//! before the tests and never changed. The prefixes are the caller's: they
//! are part of its harness, not of vgxml.

use crate::fingerprint::fingerprint_key;
use crate::ours::OurCode;
use std::collections::{BTreeSet, HashMap};
use vgxml_parse::{ErrorRecord, Report};

/// The prefixes of the harness's client messages.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Markers {
    /// `<prefix><test id>`: a test begins.
    pub test_prefix: Option<String>,
    /// `<prefix><round> <test id>`: a leak search between measured rounds follows.
    pub checkpoint_prefix: Option<String>,
}

/// What a marker says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Marker<'m> {
    TestBegins(&'m str),
    /// Before the first test: a quiet leak search follows.
    Baseline,
    Checkpoint {
        round: u32,
        /// Iterations of the round that ended here, when the harness says.
        iterations: Option<u64>,
        test: &'m str,
    },
}

impl Markers {
    /// The marker a client message text is, if any.
    pub fn read<'m>(&self, text: &'m str) -> Option<Marker<'m>> {
        let text = text.trim();
        if let Some(rest) = self
            .checkpoint_prefix
            .as_deref()
            .and_then(|p| text.strip_prefix(p))
        {
            if rest.trim() == "baseline" {
                return Some(Marker::Baseline);
            }
            let (round, test) = rest.trim().split_once(' ')?;
            let test = test.trim();
            let (round, iterations) = match round.split_once(':') {
                Some((r, n)) => (r, Some(n.parse().ok()?)),
                None => (round, None),
            };
            return (!test.is_empty()).then_some(Marker::Checkpoint {
                round: round.parse().ok()?,
                iterations,
                test,
            });
        }
        test_of_marker(text, self.test_prefix.as_deref()?).map(Marker::TestBegins)
    }

    /// The test a marker names (a test begins, or a checkpoint of it).
    pub fn test<'m>(&self, text: &'m str) -> Option<&'m str> {
        match self.read(text)? {
            Marker::TestBegins(t) | Marker::Checkpoint { test: t, .. } => Some(t),
            Marker::Baseline => None,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.test_prefix.is_none() && self.checkpoint_prefix.is_none()
    }
}

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
/// kind. (A block often shows as still reachable in the leak search right
/// after the test that leaked it, because a stale copy of the pointer
/// lingers in a register or stack slot, and as definitely lost at the end:
/// the kind changes, the site does not.)
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
    markers: Markers,
}

impl Attribution {
    /// The attribution of `r` by `markers`.
    pub fn new(r: &Report, ours: &OurCode, markers: &Markers) -> Attribution {
        let mut sites = HashMap::new();
        if !markers.is_empty() {
            for e in r.errors.iter().filter(|e| e.is_leak() && !e.final_search) {
                if let Some(t) = e.marker.as_deref().and_then(|x| markers.test(x)) {
                    sites
                        .entry(site_key(e, ours))
                        .or_insert_with(|| t.to_string());
                }
            }
        }
        Attribution {
            sites,
            markers: markers.clone(),
        }
    }

    /// The test a record of this report belongs to: for errors and
    /// intermediate loss records, the marker before them; for end-of-run
    /// loss records, the test whose leak search first showed a record with
    /// the same allocation site (`None`: leaked outside every test, or no
    /// markers).
    pub fn test_of(&self, e: &ErrorRecord, ours: &OurCode) -> Option<String> {
        if e.is_leak() && e.final_search {
            self.sites.get(&site_key(e, ours)).cloned()
        } else {
            e.marker
                .as_deref()
                .and_then(|x| self.markers.test(x))
                .map(str::to_string)
        }
    }
}

/// Every test id announced by a test marker in the reports, in order.
pub fn tests_in(reports: &[Report], markers: &Markers) -> Vec<String> {
    let mut seen = BTreeSet::new();
    let mut v = Vec::new();
    for r in reports {
        for m in &r.client_messages {
            if let Some(Marker::TestBegins(t)) = markers.read(&m.text) {
                if seen.insert(t.to_string()) {
                    v.push(t.to_string());
                }
            }
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_are_read_by_the_callers_prefixes() {
        let m = Markers {
            test_prefix: Some("begin:".into()),
            checkpoint_prefix: Some("checkpoint:".into()),
        };
        assert_eq!(
            m.read("begin: a.b.test_x\n"),
            Some(Marker::TestBegins("a.b.test_x"))
        );
        assert_eq!(
            m.read("checkpoint: 2 a.b.test_x"),
            Some(Marker::Checkpoint {
                round: 2,
                iterations: None,
                test: "a.b.test_x"
            })
        );
        assert_eq!(
            m.read("checkpoint: 2:20 t.py::test_x[a b]"),
            Some(Marker::Checkpoint {
                round: 2,
                iterations: Some(20),
                test: "t.py::test_x[a b]"
            })
        );
        assert_eq!(m.read("checkpoint: 2:x a.b.test_x"), None);
        assert_eq!(m.read("checkpoint: baseline\n"), Some(Marker::Baseline));
        assert_eq!(m.read("checkpoint: x a.b.test_x"), None);
        assert_eq!(m.read("checkpoint: 2"), None);
        assert_eq!(m.read("something else"), None);
        assert_eq!(Markers::default().read("begin: a"), None);
    }
}
