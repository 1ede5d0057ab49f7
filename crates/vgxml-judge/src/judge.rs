//! The judgement: parsed reports and a caller's policy in, every finding
//! out, each computed once.
//!
//! * The records looked at are the end-of-run loss records and the non-leak
//!   errors, of our code when [`OurCode`] has rules ([`counted_records`]).
//! * With a baseline, the records whose fingerprint it knows are left out
//!   (they neither offend nor count against budgets); the baseline's
//!   fingerprints that no record has any more are listed as *gone*.
//! * Without budgets, every remaining record of the `fail_on` categories
//!   offends. With budgets, they replace `fail_on`: only the budgeted
//!   categories are judged, each on its own (bytes for leak kinds, error
//!   contexts for `errors`), and a category that the run did not measure
//!   (`--show-leak-kinds` did not show it, or the run never finished) fails
//!   as *not measured*: it is never taken for 0.
//! * With checkpoint markers, the leak searches between a test's measured
//!   rounds are replayed and an allocation stack of ours that grows in every
//!   round offends, however small, whatever its kind (see [`crate::growth`]).
//! * With `one_time_before_tests`, a lost block allocated before the first
//!   test and unchanged since (no search after the baseline listed its
//!   site) is listed as one-time, not failing.
//! * A lost block allocated under one of `one_time_functions` (code that
//!   runs once per process) is listed as one-time, not failing.
//! * [`Judgement::issues`] groups what was found by rule, place and test:
//!   what a person reads first.

use crate::budget::Category;
use crate::fingerprint::{fingerprint_key, fingerprint_of_key, normalize_function};
use crate::growth;
use crate::judgement::{
    BudgetOutcome, Curve, Excuse, Input, Issue, Judged, Judgement, MoreThanBaseline, Point, Policy,
    Rule,
};
use crate::markers::{site_key, Attribution};
use crate::ours::glob_match;
use crate::place::{chain, origin, Place};
use crate::records::counted_records;
use crate::render::{normalize_text, render_frame, render_record};
use crate::searches::{replay, Timeline};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use vgxml_parse::{ErrorRecord, LeakKind, Report, Summary};

/// Judges plain reports (nothing known of their runs).
pub fn judge(reports: &[Report], policy: &Policy) -> Judgement {
    judge_input(&Input::plain(reports), policy)
}

/// Judges reports with what is known of their runs.
pub fn judge_input(input: &Input<'_>, policy: &Policy) -> Judgement {
    let reports = input.reports;
    let summary = Summary::from_reports(reports);
    let mut notes = summary.diagnostics.clone();
    let ours = &policy.ours;
    if let Some(b) = &policy.baseline {
        if !b.ours.is_empty() && b.ours != ours.rules() {
            notes.push(format!(
                "the baseline was taken with other --ours rules ({}); fingerprints depend on them",
                b.ours.join(" ")
            ));
        }
    }
    let judged: BTreeSet<Category> = if policy.budgets.is_empty() {
        policy.fail_on.clone()
    } else {
        policy.budgets.iter().map(|b| b.category).collect()
    };
    let attributions: Vec<Attribution> = reports
        .iter()
        .map(|r| Attribution::new(r, ours, &policy.markers))
        .collect();
    let replays = policy.one_time_before_tests
        || (!policy.growth_on.is_empty() && policy.markers.checkpoint_prefix.is_some());
    let timelines: Vec<Option<Timeline<'_>>> = reports
        .iter()
        .map(|r| replays.then(|| replay(r, ours, &policy.markers)))
        .collect();
    let one_time = one_time_sites(reports, &timelines, policy);
    let known: BTreeSet<&str> = policy
        .baseline
        .iter()
        .flat_map(|b| b.records.iter().map(|e| e.fingerprint.as_str()))
        .collect();
    let mut counts: HashMap<String, u64> = HashMap::new();
    // (report index, judged record)
    let mut kept: Vec<(usize, Judged)> = Vec::new();
    for (ri, e) in counted_records(reports, ours) {
        let key = fingerprint_key(e, ours);
        let fp = fingerprint_of_key(&key);
        *counts.entry(fp.clone()).or_insert(0) += 1;
        if known.contains(fp.as_str()) {
            continue;
        }
        let category = Category::of_record(e);
        let test = input
            .run(ri)
            .and_then(|r| r.test.clone())
            .or_else(|| attributions[ri].test_of(e, ours));
        let r = &reports[ri];
        let location = ours.location_frame(e);
        let excuse = if !e.is_leak() {
            None
        } else if one_time[ri].contains(&site_key(e, ours)) {
            Some(Excuse::OneTimeBeforeTests)
        } else if allocated_by_one_time_function(e, policy) {
            Some(Excuse::OneTimeFunction)
        } else {
            None
        };
        kept.push((
            ri,
            Judged {
                source: r.source.clone(),
                kind: e.kind.clone(),
                fingerprint: fp,
                key,
                failing: judged.contains(&category) && excuse.is_none(),
                test,
                bytes: e.direct_bytes(),
                blocks: e.leak_kind().and(e.leaked_blocks),
                first_frame: location.map(render_frame),
                rendered: render_record(e, ours),
                first_frame_of_ours: location.cloned(),
                record: e.clone(),
                pid: r.pid,
                place: location.map(|f| Place::of(f, &policy.source_root)),
                chain: chain(e, ours, &policy.source_root),
                origin: origin(e, ours, &policy.source_root),
                excuse,
            },
        ));
    }
    let mut gone = Vec::new();
    let mut more_than_baseline = Vec::new();
    if let Some(b) = &policy.baseline {
        for e in &b.records {
            match counts.get(&e.fingerprint) {
                None => gone.push(e.clone()),
                Some(&n) if n > e.count => more_than_baseline.push(MoreThanBaseline {
                    entry: e.clone(),
                    records: n,
                }),
                _ => {}
            }
        }
    }
    let filtered = !ours.is_empty() || policy.baseline.is_some();
    let budgets: Vec<BudgetOutcome> = policy
        .budgets
        .iter()
        .map(|b| {
            let measured = match b.category.leak_kind() {
                Some(k) => measure_leaks(reports, &summary, k, filtered, &kept),
                None => Ok(kept
                    .iter()
                    .filter(|(_, f)| f.category() == Category::Errors)
                    .count() as u64),
            };
            let (measured, reason) = match measured {
                Ok(v) => (Some(v), None),
                Err(why) => (None, Some(why)),
            };
            BudgetOutcome {
                budget: *b,
                measured,
                ok: measured.is_some_and(|m| m <= b.limit),
                reason,
            }
        })
        .collect();
    let mut records: Vec<(usize, Judged)> = kept
        .into_iter()
        .filter(|(_, f)| judged.contains(&f.category()))
        .collect();
    if !policy.budgets.is_empty() {
        for (_, f) in &mut records {
            f.failing = f.excuse.is_none()
                && budgets
                    .iter()
                    .any(|o| o.budget.category == f.category() && !o.ok);
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
    let mut growing = Vec::new();
    for (ri, t) in timelines.iter().enumerate() {
        if let Some(t) = t {
            let run_test = input.run(ri).and_then(|r| r.test.as_deref());
            growing.extend(growth::issues(&reports[ri].source, t, run_test, policy));
        }
    }
    let issues = merge_growth(issues_of(&records), growing);
    let curves = timelines
        .iter()
        .zip(reports)
        .filter_map(|(t, r)| Some((t.as_ref()?, r)))
        .flat_map(|(t, r)| {
            t.totals().into_iter().map(|(test, points)| Curve {
                source: r.source.clone(),
                test,
                points: points
                    .into_iter()
                    .map(|(mark, a)| Point {
                        round: mark.round,
                        bytes: a.bytes,
                        blocks: a.blocks,
                        iterations: mark.iterations,
                    })
                    .collect(),
            })
        })
        .collect();
    let records: Vec<Judged> = records.into_iter().map(|(_, j)| j).collect();
    let offending = records.iter().filter(|f| f.failing).count();
    Judgement {
        complete: summary.complete,
        failed: offending > 0
            || budgets.iter().any(|b| !b.ok)
            || issues.iter().any(|i| i.rule == Rule::Growth && i.failing),
        offending,
        records,
        budgets,
        gone,
        notes,
        more_than_baseline,
        issues,
        curves,
        reports: reports.len(),
    }
}

/// The sites of each report whose lost blocks are one-time allocations of
/// start-up or import: after a baseline before the first test, no search
/// listed the site, so it did not change from before the tests to the end.
fn one_time_sites(
    reports: &[Report],
    timelines: &[Option<Timeline<'_>>],
    policy: &Policy,
) -> Vec<BTreeSet<String>> {
    reports
        .iter()
        .zip(timelines)
        .map(|(r, t)| match t {
            Some(t) if policy.one_time_before_tests && t.baseline => r
                .final_leaks()
                .map(|e| site_key(e, &policy.ours))
                .filter(|site| !t.changed_after_baseline.contains(site))
                .collect(),
            _ => BTreeSet::new(),
        })
        .collect()
}

/// The record's allocation stack passes through a function that runs once.
fn allocated_by_one_time_function(e: &ErrorRecord, policy: &Policy) -> bool {
    !policy.one_time_functions.is_empty()
        && e.stack
            .iter()
            .filter_map(|f| f.func.as_deref())
            .any(|func| {
                let name = normalize_function(func);
                policy
                    .one_time_functions
                    .iter()
                    .any(|p| glob_match(p, &name))
            })
}

/// The judged records grouped by rule, kind (category for leaks), place and
/// test, with their amounts summed.
fn issues_of(records: &[(usize, Judged)]) -> Vec<Issue> {
    struct Acc {
        first: usize,
        records: usize,
        failing: bool,
        amount: (u64, u64),
    }
    let mut groups: BTreeMap<(Rule, String, String, Option<String>), Acc> = BTreeMap::new();
    for (i, (_, j)) in records.iter().enumerate() {
        let rule = rule_of(j);
        let what = match j.record.leak_kind() {
            Some(k) => k.label().to_string(),
            None => j.kind.as_str().to_string(),
        };
        let place = j.place.as_ref().map(Place::to_string).unwrap_or_default();
        let acc = groups
            .entry((rule, what, place, j.test.clone()))
            .or_insert(Acc {
                first: i,
                records: 0,
                failing: false,
                amount: (0, 0),
            });
        acc.records += 1;
        acc.failing |= j.failing;
        acc.amount.0 += j.bytes.unwrap_or(0);
        acc.amount.1 += j.blocks.unwrap_or(0);
    }
    groups
        .into_values()
        .map(|acc| {
            let j = &records[acc.first].1;
            let leak = j.record.is_leak();
            Issue {
                rule: rule_of(j),
                kind: j.kind.clone(),
                category: j.category(),
                what: normalize_text(&j.record.what),
                place: j.place.clone(),
                chain: j.chain.clone(),
                origin: j.origin.clone(),
                test: j.test.clone(),
                bytes: leak.then_some(acc.amount.0),
                blocks: leak.then_some(acc.amount.1),
                fingerprint: j.fingerprint.clone(),
                rendered: j.rendered.clone(),
                records: acc.records,
                failing: acc.failing,
                growth: None,
            }
        })
        .collect()
}

fn rule_of(j: &Judged) -> Rule {
    match (j.record.is_leak(), j.excuse) {
        (_, Some(Excuse::OneTimeBeforeTests)) => Rule::OneTimeBeforeTests,
        (_, Some(Excuse::OneTimeFunction)) => Rule::OneTimeFunction,
        (true, None) => Rule::Leak,
        (false, None) => Rule::MemoryError,
    }
}

/// A growing stack that also has lost blocks at the end is one issue: the
/// leak, with its curve; the others stand alone.
fn merge_growth(mut issues: Vec<Issue>, growing: Vec<Issue>) -> Vec<Issue> {
    for g in growing {
        let same = issues.iter_mut().find(|i| {
            i.rule == Rule::Leak && i.growth.is_none() && i.place == g.place && i.test == g.test
        });
        match same {
            Some(leak) => leak.growth = g.growth,
            None => issues.push(g),
        }
    }
    issues
}

fn measure_leaks(
    reports: &[Report],
    summary: &Summary,
    k: LeakKind,
    filtered: bool,
    kept: &[(usize, Judged)],
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
        .filter(|(_, f)| f.category() == c)
        .map(|(_, f)| f.bytes.unwrap_or(0))
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
