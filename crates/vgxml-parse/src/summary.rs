//! Totals over one or several reports, with Valgrind's own semantics.

use crate::model::*;
use crate::report::Report;
use crate::state::ReportState;
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
    /// Valgrind said `<all_heap_blocks_freed>true` at the end (protocol 6,
    /// which then writes no `<leak_summary>`): every kind is 0.
    AllHeapBlocksFreed,
    /// No end-of-run leak search in the file.
    None,
}

/// Valgrind's own error summary (protocol 6 `<error_summary>`) next to
/// what the records of the report add up to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorSummaryCheck {
    /// As Valgrind wrote it.
    pub valgrind: ErrorSummary,
    /// Occurrences from the records: every non-leak error (its
    /// `<errorcounts>` count, or 1 without a pair: `FdNotClosed` and other
    /// errors reported once) plus the loss records of every search whose
    /// kind `--errors-for-leak-kinds` counts.
    pub errors: u64,
    /// Contexts from the records: non-leak errors plus those loss records.
    pub contexts: u64,
    /// False when some counted leak kind was not shown (`--show-leak-kinds`):
    /// the records then give a lower bound.
    pub exact: bool,
    /// The records agree with Valgrind's figures (equal, or not above them
    /// when not `exact`).
    pub agrees: bool,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
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

/// The figures of one process (one report).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProcessSummary {
    pub source: String,
    /// Which report of its file (0-based; files with several reports).
    #[serde(skip_serializing_if = "is_zero")]
    pub index: usize,
    pub pid: Option<u64>,
    pub ppid: Option<u64>,
    pub tool: String,
    pub protocol_version: u32,
    pub program: Option<String>,
    pub complete: bool,
    /// How its document ended, when not complete.
    #[serde(skip_serializing_if = "ReportState::is_complete")]
    pub state: ReportState,
    pub finished: bool,
    pub leaks: LeakTotals,
    pub leak_source: LeakSource,
    pub derived: Derived,
    /// The leak kinds the run showed loss records for.
    pub shown_leak_kinds: Vec<LeakKind>,
    /// Error contexts (records) per kind, loss records excluded.
    pub errors: BTreeMap<String, u64>,
    /// Occurrences per kind: an error's `<errorcounts>` count, or 1 for an
    /// error without a pair (`FdNotClosed` and others reported once).
    pub error_occurrences: BTreeMap<String, u64>,
    pub leak_searches: usize,
    pub fatal_signal: Option<String>,
    /// Valgrind's `<error_summary>` (protocol 6) checked against the records.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_summary: Option<ErrorSummaryCheck>,
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
    /// Valgrind's error summaries (protocol 6), summed over the processes
    /// that have one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_summary: Option<ErrorSummary>,
    /// Whether the records agree with every one of them (`None` without
    /// any).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_summary_agrees: Option<bool>,
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
        let (leaks, source) = match &r.valgrind_leak_summary {
            Some(ls) if r.finished => {
                let mut t = ls.totals;
                let at = ls.offset.map_or(String::new(), |o| format!(" (byte {o})"));
                if ls.has_no_kinds() {
                    diags.push(format!(
                        "{}: Valgrind's <leak_summary>{at} holds no leak kind: totals computed from the loss records instead",
                        r.source
                    ));
                    t = computed;
                }
                for k in LeakKind::ALL {
                    match (t.get(k), computed.get(k)) {
                        (Some(theirs), Some(ours)) if theirs != ours => diags.push(format!(
                            "{}: Valgrind's <leak_summary> says {} {}, the loss records add up to {}",
                            r.source,
                            k.label(),
                            fmt_amount(theirs),
                            fmt_amount(ours)
                        )),
                        (None, Some(ours)) if !ls.has_no_kinds() => {
                            diags.push(format!(
                                "{}: Valgrind's <leak_summary>{at} has no {}: {} from the loss records instead",
                                r.source,
                                k.label(),
                                fmt_amount(ours)
                            ));
                            t.set(k, Some(ours));
                        }
                        _ => {}
                    }
                }
                let src = if ls.has_no_kinds() {
                    LeakSource::LossRecords
                } else {
                    LeakSource::ValgrindLeakSummary
                };
                (t, src)
            }
            _ if r.finished
                && r.all_heap_blocks_freed == Some(true)
                && !r.tally.final_records_seen() =>
            {
                let mut t = LeakTotals::default();
                for k in LeakKind::ALL {
                    t.set(k, Some(Amount::default()));
                }
                (t, LeakSource::AllHeapBlocksFreed)
            }
            _ if r.finished => {
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
            }
            _ => {
                if r.tool_is_memcheck() {
                    diags.push(format!(
                        "{}: the run did not reach <status>FINISHED</status>: no end-of-run leak search, leaks not measured",
                        r.source
                    ));
                }
                (LeakTotals::default(), LeakSource::None)
            }
        };
        let errors = r.tally.memory_errors.clone();
        // every non-leak error is one occurrence, or its <errorcounts> count
        let mut error_occurrences = errors.clone();
        let mut unattributed = false;
        for (u, c) in &r.errorcounts {
            match r.tally.unique_kinds.get(u) {
                Some(k) => {
                    let slot = error_occurrences.entry(k.as_str().to_string()).or_insert(0);
                    *slot = slot.saturating_add(c.saturating_sub(1));
                }
                None if r.tally.unique_overflow => unattributed = true,
                None => diags.push(format!(
                    "{}: <errorcounts> counts {c} occurrence(s) of error {u}, which no <error> of this report has: not attributed to a kind",
                    r.source
                )),
            }
        }
        if unattributed {
            diags.push(format!(
                "{}: too many error contexts to attribute every <errorcounts> pair; occurrences are partial",
                r.source
            ));
        }
        let error_summary = r.error_summary.as_ref().map(|es| {
            let counted = r.error_leak_kinds();
            let exact = counted.iter().all(|k| shown.contains(k));
            let leak_errors: u64 = counted.iter().map(|&k| r.tally.leak_records_of(k)).sum();
            let occurrences: u64 = error_occurrences.values().sum();
            let contexts: u64 = errors.values().sum();
            let (e, c) = (occurrences + leak_errors, contexts + leak_errors);
            let fits = |theirs: Option<u64>, ours: u64| match theirs {
                Some(t) if exact => t == ours,
                Some(t) => t >= ours,
                None => false,
            };
            let agrees = fits(es.errors, e) && fits(es.error_contexts, c);
            if !agrees {
                let show = |v: Option<u64>| v.map_or("?".to_string(), |v| v.to_string());
                diags.push(format!(
                    "{}: Valgrind's <error_summary> says {} errors from {} contexts, the records add up to {e} errors from {c} contexts{}",
                    r.source,
                    show(es.errors),
                    show(es.error_contexts),
                    if exact { "" } else { " (at least: some kinds counted as errors were not shown)" }
                ));
            }
            ErrorSummaryCheck {
                valgrind: es.clone(),
                errors: e,
                contexts: c,
                exact,
                agrees,
            }
        });
        ProcessSummary {
            source: r.source.clone(),
            index: r.index,
            pid: r.pid,
            ppid: r.ppid,
            tool: r.tool.clone(),
            protocol_version: r.protocol_version,
            program: r.args.program_exe.clone(),
            complete: r.complete,
            state: r.state.clone(),
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
            error_summary,
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
        let mut error_summary: Option<ErrorSummary> = None;
        let mut error_summary_agrees = None;
        for p in &processes {
            if let Some(c) = &p.error_summary {
                let t = error_summary.get_or_insert_with(ErrorSummary::default);
                add_opt(&mut t.errors, c.valgrind.errors);
                add_opt(&mut t.error_contexts, c.valgrind.error_contexts);
                add_opt(&mut t.suppressed, c.valgrind.suppressed);
                add_opt(&mut t.suppressed_contexts, c.valgrind.suppressed_contexts);
                error_summary_agrees = Some(error_summary_agrees.unwrap_or(true) && c.agrees);
            }
        }
        Summary {
            complete: !reports.is_empty() && reports.iter().all(|r| r.complete),
            leaks,
            derived,
            errors,
            error_occurrences,
            suppressed,
            error_summary,
            error_summary_agrees,
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
        if let Some(es) = &self.error_summary {
            let show = |v: Option<u64>| v.map_or("?".to_string(), |v| v.to_string());
            let _ = writeln!(
                s,
                "VALGRIND ERROR SUMMARY: {} errors from {} contexts (suppressed: {} from {}){}",
                show(es.errors),
                show(es.error_contexts),
                show(es.suppressed),
                show(es.suppressed_contexts),
                match self.error_summary_agrees {
                    Some(true) => ", as the records say",
                    _ => ", NOT what the records add up to (see notes)",
                }
            );
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
                match (&p.state, p.complete) {
                    (_, true) => "complete".to_string(),
                    (ReportState::Cut { offset }, _) =>
                        format!("INCOMPLETE (cut at byte {offset})"),
                    (ReportState::Malformed { offset, .. }, _) => {
                        format!("INCOMPLETE (malformed at byte {offset})")
                    }
                    (ReportState::Complete, false) => {
                        "INCOMPLETE (stray bytes next to it)".to_string()
                    }
                },
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
