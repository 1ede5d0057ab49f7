//! The text of `vgxml check`: the offending records with normalised stacks,
//! budgets, what changed against a baseline, and a closing count.

use super::budget_text;
use crate::judgement::{Excuse, Judgement};
use std::fmt::Write as _;

/// The `check` text. `with_baseline`: the judgement compared against a
/// baseline (gone and grown fingerprints are listed).
pub fn check(v: &Judgement, with_baseline: bool) -> String {
    let mut out = String::new();
    let mut last_source = "";
    for f in &v.records {
        if f.source != last_source {
            let _ = writeln!(out, "== {}", f.source);
            last_source = &f.source;
        }
        if let Some(t) = &f.test {
            let _ = writeln!(out, "[test: {t}]");
        } else if let Some(m) = f.record.marker.as_ref().filter(|_| !f.record.final_search) {
            let _ = writeln!(out, "[after client message: {m}]");
        }
        out.push_str(&f.rendered);
        if f.chain.len() > 1 {
            let _ = writeln!(out, "  our frames: {}", crate::chain_text(&f.chain));
        }
        let _ = writeln!(
            out,
            "  fingerprint {}{}",
            f.fingerprint,
            match (f.failing, f.excuse) {
                (true, _) => "",
                (false, Some(Excuse::OneTimeBeforeTests)) => {
                    " (one-time: allocated before the tests, no larger at the end)"
                }
                (false, Some(Excuse::OneTimeFunction)) => {
                    " (one-time: allocated by a function that runs once)"
                }
                (false, None) => " (within budget)",
            }
        );
        let _ = writeln!(out);
    }
    for b in &v.budgets {
        let _ = writeln!(out, "budget {}", budget_text(b));
    }
    if with_baseline {
        for g in &v.gone {
            let _ = writeln!(
                out,
                "gone (fixed since the baseline): {} at {} [{}]",
                g.kind, g.first_frame, g.fingerprint
            );
        }
        for m in &v.more_than_baseline {
            let e = &m.entry;
            let _ = writeln!(
                out,
                "more records than the baseline: {} at {} [{}]: {} -> {}",
                e.kind, e.first_frame, e.fingerprint, e.count, m.records
            );
        }
    }
    for i in v.issues.iter().filter(|i| i.growth.is_some()) {
        let g = i.growth.as_ref().expect("filtered");
        let curve: Vec<String> = g
            .points
            .iter()
            .map(|p| format!("{} B/{} blocks", p.bytes, p.blocks))
            .collect();
        let _ = writeln!(
            out,
            "grows in every round{}: {} at {}: {}",
            i.test
                .as_deref()
                .map(|t| format!(" [test: {t}]"))
                .unwrap_or_default(),
            i.kind,
            i.place
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
            curve.join(" -> ")
        );
    }
    // One leak site often yields several loss records (different callers):
    // count the distinct fingerprints too.
    let growing = v.issues.iter().filter(|i| i.growth.is_some()).count();
    let _ = writeln!(
        out,
        "{} offending record(s){}{} in {} file(s), {} distinct fingerprint(s){}{}",
        v.offending,
        if with_baseline {
            " new since the baseline"
        } else {
            ""
        },
        if growing > 0 {
            format!(" and {growing} allocation site(s) growing in every round")
        } else {
            String::new()
        },
        v.reports,
        v.offending_fingerprints(),
        if v.budgets.iter().any(|b| !b.ok) {
            "; budget exceeded or not measured"
        } else {
            ""
        },
        if v.complete { "" } else { "; INCOMPLETE input" }
    );
    out
}
