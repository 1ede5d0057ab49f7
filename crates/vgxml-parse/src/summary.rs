//! Totals over one or several reports, with Valgrind's own semantics.

use crate::model::*;
use crate::report::Report;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Where a process's leak totals come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LeakSource {
    /// Valgrind's own `<leak_summary>` (protocol 6).
    ValgrindLeakSummary,
    /// Computed from the loss records of the end-of-run search.
    LossRecords,
    /// No end-of-run leak search in the file.
    None,
}

/// Figures that can be derived although the run did not show the kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Derived {
    /// Indirectly lost bytes from the "(N direct, M indirect)" text of the
    /// definitely and possibly lost records, when no indirect records were
    /// shown. Block counts cannot be derived.
    pub indirectly_lost_bytes: Option<u64>,
}

/// Suppressed errors and leaks.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Suppressed {
    /// `<suppcounts>`: uses per suppression name, summed over files.
    pub by_name: BTreeMap<String, u64>,
    /// Protocol 6 `<error_summary>`: suppressed errors / contexts.
    pub errors: Option<u64>,
    pub contexts: Option<u64>,
    /// Protocol 6 `<leak_summary><suppressed>`.
    pub leaks: Option<Amount>,
}

/// The figures of one process (one file).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProcessSummary {
    pub source: String,
    pub pid: Option<u64>,
    pub ppid: Option<u64>,
    pub tool: String,
    pub protocol_version: u32,
    pub program: Option<String>,
    pub complete: bool,
    pub finished: bool,
    pub leaks: LeakTotals,
    pub leak_source: LeakSource,
    pub derived: Derived,
    /// The leak kinds the run showed loss records for.
    pub shown_leak_kinds: Vec<LeakKind>,
    /// Error contexts (records) per kind, loss records excluded.
    pub errors: BTreeMap<String, u64>,
    /// Occurrences per kind, from `<errorcounts>`.
    pub error_occurrences: BTreeMap<String, u64>,
    pub leak_searches: usize,
    pub fatal_signal: Option<String>,
}

/// Totals over several reports.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// Every file was read to its end.
    pub complete: bool,
    pub leaks: LeakTotals,
    pub derived: Derived,
    /// Error contexts per kind (loss records excluded).
    pub errors: BTreeMap<String, u64>,
    pub error_occurrences: BTreeMap<String, u64>,
    pub suppressed: Suppressed,
    pub processes: Vec<ProcessSummary>,
    pub diagnostics: Vec<String>,
}

fn add_opt(a: &mut Option<u64>, b: Option<u64>) {
    if let Some(b) = b {
        *a = Some(a.unwrap_or(0).saturating_add(b));
    }
}

fn fmt_amount(a: Amount) -> String {
    format!("{} bytes in {} blocks", a.bytes, a.blocks)
}

impl ProcessSummary {
    /// Computes one process's figures; diagnostics are appended to `diags`.
    pub fn from_report(r: &Report, diags: &mut Vec<String>) -> ProcessSummary {
        let shown = r.shown_leak_kinds();
        let mut computed = LeakTotals::default();
        let mut derived = Derived::default();
        if r.finished {
            for &k in &shown {
                computed.set(k, Some(r.tally.final_leak(k)));
            }
            let owners = [LeakKind::DefinitelyLost, LeakKind::PossiblyLost];
            if !shown.contains(&LeakKind::IndirectlyLost)
                && owners.iter().all(|k| shown.contains(k))
            {
                derived.indirectly_lost_bytes = Some(r.tally.final_owned_indirect_bytes);
            }
        }
        let (leaks, source) = if let Some(ls) = &r.valgrind_leak_summary {
            let t = ls.totals;
            for k in LeakKind::ALL {
                if let (Some(theirs), Some(ours)) = (t.get(k), computed.get(k)) {
                    if theirs != ours {
                        diags.push(format!(
                            "{}: Valgrind's <leak_summary> says {} {}, the loss records add up to {}",
                            r.source,
                            k.label(),
                            fmt_amount(theirs),
                            fmt_amount(ours)
                        ));
                    }
                }
            }
            (t, LeakSource::ValgrindLeakSummary)
        } else if r.finished {
            for k in LeakKind::ALL {
                if computed.get(k).is_none() && r.tool_is_memcheck() && !shown.is_empty() {
                    let mut msg = format!(
                        "{}: {} not shown by this run (see --show-leak-kinds): not measured",
                        r.source,
                        k.label()
                    );
                    if k == LeakKind::IndirectlyLost {
                        if let Some(b) = derived.indirectly_lost_bytes {
                            let _ = write!(
                                msg,
                                "; {b} bytes derived from the definitely/possibly lost records' text (blocks unknown)"
                            );
                        }
                    }
                    diags.push(msg);
                }
            }
            (computed, LeakSource::LossRecords)
        } else {
            if r.tool_is_memcheck() {
                diags.push(format!(
                    "{}: the run did not reach <status>FINISHED</status>: no end-of-run leak search, leaks not measured",
                    r.source
                ));
            }
            (LeakTotals::default(), LeakSource::None)
        };
        let errors = r.tally.memory_errors.clone();
        let mut error_occurrences = BTreeMap::new();
        let mut unattributed = false;
        for (u, c) in &r.errorcounts {
            match r.tally.unique_kinds.get(u) {
                Some(k) => *error_occurrences.entry(k.as_str().to_string()).or_insert(0) += *c,
                None => unattributed |= r.tally.unique_overflow,
            }
        }
        if unattributed {
            diags.push(format!(
                "{}: too many error contexts to attribute every <errorcounts> pair; occurrences are partial",
                r.source
            ));
        }
        ProcessSummary {
            source: r.source.clone(),
            pid: r.pid,
            ppid: r.ppid,
            tool: r.tool.clone(),
            protocol_version: r.protocol_version,
            program: r.args.program_exe.clone(),
            complete: r.complete,
            finished: r.finished,
            leaks,
            leak_source: source,
            derived,
            shown_leak_kinds: shown,
            errors,
            error_occurrences,
            leak_searches: r.tally.leak_searches,
            fatal_signal: r.fatal_signal.as_ref().map(|f| {
                f.signame
                    .clone()
                    .or_else(|| f.signo.map(|s| format!("signal {s}")))
                    .unwrap_or_else(|| "unknown signal".into())
            }),
        }
    }
}

impl Report {
    pub(crate) fn tool_is_memcheck(&self) -> bool {
        self.tool.is_empty() || self.tool == "memcheck"
    }
}

impl Summary {
    /// Combines reports (one per process) into one summary.
    pub fn from_reports(reports: &[Report]) -> Summary {
        let mut diagnostics = Vec::new();
        let processes: Vec<ProcessSummary> = reports
            .iter()
            .map(|r| {
                for d in &r.diagnostics {
                    diagnostics.push(d.to_string());
                }
                ProcessSummary::from_report(r, &mut diagnostics)
            })
            .collect();
        let mut leaks = LeakTotals::default();
        for k in LeakKind::ALL {
            let mut total = Some(Amount::default());
            for p in &processes {
                match (total.as_mut(), p.leaks.get(k)) {
                    (Some(t), Some(a)) => t.add(a),
                    _ => total = None,
                }
            }
            if processes.is_empty() {
                total = None;
            }
            leaks.set(k, total);
        }
        let mut derived = Derived::default();
        for p in &processes {
            add_opt(
                &mut derived.indirectly_lost_bytes,
                p.derived.indirectly_lost_bytes,
            );
        }
        if leaks.indirectly_lost.is_some() {
            derived.indirectly_lost_bytes = None;
        }
        let mut errors = BTreeMap::new();
        let mut error_occurrences = BTreeMap::new();
        for p in &processes {
            for (k, v) in &p.errors {
                *errors.entry(k.clone()).or_insert(0) += v;
            }
            for (k, v) in &p.error_occurrences {
                *error_occurrences.entry(k.clone()).or_insert(0) += v;
            }
        }
        let mut suppressed = Suppressed::default();
        for r in reports {
            for s in &r.suppcounts {
                *suppressed.by_name.entry(s.name.clone()).or_insert(0) += s.count;
            }
            if let Some(es) = &r.error_summary {
                add_opt(&mut suppressed.errors, es.suppressed);
                add_opt(&mut suppressed.contexts, es.suppressed_contexts);
            }
            if let Some(a) = r.valgrind_leak_summary.as_ref().and_then(|l| l.suppressed) {
                suppressed.leaks.get_or_insert_with(Amount::default).add(a);
            }
        }
        Summary {
            complete: !reports.is_empty() && reports.iter().all(|r| r.complete),
            leaks,
            derived,
            errors,
            error_occurrences,
            suppressed,
            processes,
            diagnostics,
        }
    }

    /// The human-readable rendering used by `vgxml summary`.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "LEAK SUMMARY");
        for k in LeakKind::ALL {
            let v = match self.leaks.get(k) {
                Some(a) => fmt_amount(a),
                None => {
                    if k == LeakKind::IndirectlyLost {
                        match self.derived.indirectly_lost_bytes {
                            Some(b) => format!(
                                "not shown ({b} bytes derived from definite/possible records)"
                            ),
                            None => "not shown".to_string(),
                        }
                    } else {
                        "not shown".to_string()
                    }
                }
            };
            let _ = writeln!(s, "  {:>15}: {}", k.label(), v);
        }
        if let Some(a) = self.suppressed.leaks {
            let _ = writeln!(s, "  {:>15}: {}", "suppressed", fmt_amount(a));
        }
        let _ = writeln!(s, "ERRORS (contexts per kind)");
        if self.errors.is_empty() {
            let _ = writeln!(s, "  none");
        }
        for (k, v) in &self.errors {
            match self.error_occurrences.get(k) {
                Some(o) => {
                    let _ = writeln!(s, "  {k}: {v} contexts, {o} occurrences");
                }
                None => {
                    let _ = writeln!(s, "  {k}: {v} contexts");
                }
            }
        }
        if !self.suppressed.by_name.is_empty() || self.suppressed.errors.is_some() {
            let _ = writeln!(s, "SUPPRESSED");
            if let (Some(e), Some(c)) = (self.suppressed.errors, self.suppressed.contexts) {
                let _ = writeln!(s, "  {e} errors from {c} contexts");
            }
            for (n, c) in &self.suppressed.by_name {
                let _ = writeln!(s, "  {c:>6} {n}");
            }
        }
        let _ = writeln!(s, "PROCESSES");
        for p in &self.processes {
            let _ = writeln!(
                s,
                "  {} pid={} ppid={} tool={} protocol={} {}{}",
                p.source,
                p.pid.map_or("?".into(), |v| v.to_string()),
                p.ppid.map_or("?".into(), |v| v.to_string()),
                if p.tool.is_empty() { "?" } else { &p.tool },
                p.protocol_version,
                if p.complete { "complete" } else { "INCOMPLETE" },
                p.fatal_signal
                    .as_ref()
                    .map_or(String::new(), |f| format!(" killed by {f}"))
            );
        }
        for d in &self.diagnostics {
            let _ = writeln!(s, "note: {d}");
        }
        let _ = writeln!(
            s,
            "{}",
            if self.complete {
                "all files complete"
            } else {
                "INCOMPLETE: at least one file was truncated or unreadable; figures are partial"
            }
        );
        s
    }
}
