//! Renderings of a [`Judgement`](crate::Judgement): the `check` text, SARIF
//! 2.1.0 (GitHub code scanning), GitLab Code Quality, JUnit XML, GitHub
//! workflow commands with a Markdown job summary. Each reads the one
//! judgement; none judges anything itself.

pub mod github;
pub mod gitlab;
pub mod junit;
pub mod sarif;
pub mod text;

use crate::budget::{human_bytes, Category};
use crate::judgement::{BudgetOutcome, Judged};
use crate::render::{normalize_text, render_frame};
use std::fmt::Write as _;
use vgxml_parse::Kind;

/// A one-line description of a kind (SARIF rule short description).
pub fn describe_kind(k: &Kind) -> &'static str {
    match k {
        Kind::LeakDefinitelyLost => "Memory definitely lost: no pointer to the block remains",
        Kind::LeakIndirectlyLost => "Memory indirectly lost: only reachable from lost blocks",
        Kind::LeakPossiblyLost => {
            "Memory possibly lost: only interior pointers to the block remain"
        }
        Kind::LeakStillReachable => "Memory still reachable at exit",
        Kind::InvalidRead => "Invalid read of memory",
        Kind::InvalidWrite => "Invalid write of memory",
        Kind::InvalidFree => "Invalid free",
        Kind::MismatchedFree => "Mismatched allocation and deallocation functions",
        Kind::UninitCondition => "Conditional jump or move depends on uninitialised value(s)",
        Kind::UninitValue => "Use of uninitialised value",
        Kind::SyscallParam => {
            "System call parameter points to unaddressable or uninitialised bytes"
        }
        Kind::Overlap => "Source and destination overlap",
        Kind::FishyValue => "Suspicious argument value (e.g. negative size)",
        Kind::InvalidJump => "Jump to an invalid address",
        Kind::Race => "Possible data race",
        _ => "Valgrind error",
    }
}

/// The message of a finding (one line, normalised). It does not start with
/// the kind (the rule id says it; sarif-tools 3 loses a message that starts
/// with its rule id).
pub fn message(f: &Judged) -> String {
    let mut s = normalize_text(&f.record.what);
    if let Some(fr) = f.record.stack.first().filter(|_| !f.record.is_leak()) {
        let _ = write!(s, " in {}", render_frame(fr));
    }
    if let Some(t) = &f.test {
        let _ = write!(s, " (test {t})");
    }
    s
}

/// One budget's line: `possible: 4.5 KiB > 4.0 KiB`, `indirect: not measured (...)`.
pub fn budget_text(b: &BudgetOutcome) -> String {
    let fmt = |n: u64| {
        if b.budget.category == Category::Errors {
            format!("{n} context(s)")
        } else if n < 1024 {
            format!("{n} B")
        } else {
            format!("{n} B ({})", human_bytes(n))
        }
    };
    match b.measured {
        None => format!(
            "{}: not measured ({}); budget {}",
            b.budget.category,
            b.reason.as_deref().unwrap_or("no data"),
            fmt(b.budget.limit)
        ),
        Some(m) => format!(
            "{}: {} {} budget {}",
            b.budget.category,
            fmt(m),
            if b.ok { "within" } else { "OVER" },
            fmt(b.budget.limit)
        ),
    }
}
