//! Valgrind's own figures: amounts, the protocol 6 summaries (heap, leak,
//! error) and leak totals per kind.

use crate::kind::LeakKind;
use serde::{Deserialize, Serialize};

/// Bytes and blocks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Amount {
    pub bytes: u64,
    pub blocks: u64,
}

impl Amount {
    pub(crate) fn add(&mut self, o: Amount) {
        self.bytes = self.bytes.saturating_add(o.bytes);
        self.blocks = self.blocks.saturating_add(o.blocks);
    }
}

/// Protocol 6 `<error_summary>`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorSummary {
    pub errors: Option<u64>,
    pub error_contexts: Option<u64>,
    pub suppressed: Option<u64>,
    pub suppressed_contexts: Option<u64>,
}

/// Protocol 6 `<heap_summary>`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeapSummary {
    pub in_use_at_exit: Option<Amount>,
    pub allocs: Option<u64>,
    pub frees: Option<u64>,
    pub bytes_allocated: Option<u64>,
}

/// Leak totals per kind. `None` = not measured (the run did not show that
/// kind, or did not finish), never silently 0.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeakTotals {
    pub definitely_lost: Option<Amount>,
    pub indirectly_lost: Option<Amount>,
    pub possibly_lost: Option<Amount>,
    pub still_reachable: Option<Amount>,
}

impl LeakTotals {
    pub fn get(&self, k: LeakKind) -> Option<Amount> {
        match k {
            LeakKind::DefinitelyLost => self.definitely_lost,
            LeakKind::IndirectlyLost => self.indirectly_lost,
            LeakKind::PossiblyLost => self.possibly_lost,
            LeakKind::StillReachable => self.still_reachable,
        }
    }

    pub fn set(&mut self, k: LeakKind, v: Option<Amount>) {
        match k {
            LeakKind::DefinitelyLost => self.definitely_lost = v,
            LeakKind::IndirectlyLost => self.indirectly_lost = v,
            LeakKind::PossiblyLost => self.possibly_lost = v,
            LeakKind::StillReachable => self.still_reachable = v,
        }
    }
}

/// A change since the previous leak search, as an added or changed leak
/// search writes it after the value: `48 (+48)`, `0 (-16)`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AmountDelta {
    pub bytes: i64,
    pub blocks: i64,
}

/// The deltas of a `<leak_summary>` of an added/changed leak search, per
/// kind; `None` where Valgrind wrote no delta (searches that are not
/// incremental write none at all).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeakDeltas {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub definitely_lost: Option<AmountDelta>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub indirectly_lost: Option<AmountDelta>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub possibly_lost: Option<AmountDelta>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub still_reachable: Option<AmountDelta>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suppressed: Option<AmountDelta>,
}

impl LeakDeltas {
    pub fn is_empty(&self) -> bool {
        *self == LeakDeltas::default()
    }

    pub fn get(&self, k: LeakKind) -> Option<AmountDelta> {
        match k {
            LeakKind::DefinitelyLost => self.definitely_lost,
            LeakKind::IndirectlyLost => self.indirectly_lost,
            LeakKind::PossiblyLost => self.possibly_lost,
            LeakKind::StillReachable => self.still_reachable,
        }
    }

    pub(crate) fn set(&mut self, k: LeakKind, v: Option<AmountDelta>) {
        match k {
            LeakKind::DefinitelyLost => self.definitely_lost = v,
            LeakKind::IndirectlyLost => self.indirectly_lost = v,
            LeakKind::PossiblyLost => self.possibly_lost = v,
            LeakKind::StillReachable => self.still_reachable = v,
        }
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// Protocol 6 `<leak_summary>`: Valgrind's own totals. Valgrind 3.27 writes
/// one after every leak search, the ones the program requests while
/// running included; only the end-of-run one (`final_search`) gives the
/// totals of the run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValgrindLeakSummary {
    #[serde(flatten)]
    pub totals: LeakTotals,
    pub suppressed: Option<Amount>,
    /// The `(+N)` parts of an added/changed leak search.
    #[serde(default, skip_serializing_if = "LeakDeltas::is_empty")]
    pub deltas: LeakDeltas,
    /// Which leak search of the process it sums up (0-based, like
    /// [`ErrorRecord::search`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search: Option<usize>,
    /// The end-of-run search (after `<status>FINISHED`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub final_search: bool,
    /// Text (trimmed) of the last `<clientmsg>` before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub marker: Option<String>,
    /// Byte offset of the `<leak_summary>` element.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
}

impl ValgrindLeakSummary {
    /// True when no leak kind was read (all four `None`).
    pub fn has_no_kinds(&self) -> bool {
        LeakKind::ALL.iter().all(|&k| self.totals.get(k).is_none())
    }
}
