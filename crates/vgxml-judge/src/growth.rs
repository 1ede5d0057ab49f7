//! Growth with the work done: the same tests run at several scales (a
//! series of runs), and a loss record of ours that holds more blocks at the
//! largest scale than at the smallest grows with the work — a leak however
//! small, and whatever its kind (a still-reachable cache that is never
//! pruned is one). One-time initialisation has the same size at every scale.

use crate::budget::Category;
use crate::judgement::{Growth, Input, Issue, Point, Policy, Rule};
use crate::markers::Attribution;
use crate::place::Place;
use crate::render::{normalize_text, render_frame, render_record};
use std::collections::BTreeMap;
use vgxml_parse::ErrorRecord;

/// A loss record's identity across runs: its whole stack (functions,
/// files, lines; no addresses).
fn stack_key(r: &ErrorRecord) -> String {
    r.stack
        .iter()
        .map(render_frame)
        .collect::<Vec<_>>()
        .join(" <- ")
}

/// The growth issues of the input's series.
pub(crate) fn issues(
    input: &Input<'_>,
    policy: &Policy,
    attributions: &[Attribution],
) -> Vec<Issue> {
    if policy.growth_on.is_empty() {
        return Vec::new();
    }
    struct Site<'a> {
        bytes: u64,
        blocks: u64,
        first: (usize, &'a ErrorRecord),
    }
    // series -> work -> stack -> site
    let mut series: BTreeMap<&str, BTreeMap<u64, BTreeMap<String, Site<'_>>>> = BTreeMap::new();
    for (ri, r) in input.reports.iter().enumerate() {
        let Some(scale) = input.run(ri).and_then(|x| x.scale.as_ref()) else {
            continue;
        };
        let sites = series
            .entry(scale.series.as_str())
            .or_default()
            .entry(scale.work)
            .or_default();
        for e in r.final_leaks().filter(|e| {
            policy.growth_on.contains(&Category::of_record(e)) && policy.ours.matches_record(e)
        }) {
            let s = sites.entry(stack_key(e)).or_insert(Site {
                bytes: 0,
                blocks: 0,
                first: (ri, e),
            });
            s.bytes += e.leaked_bytes.unwrap_or(0);
            s.blocks += e.leaked_blocks.unwrap_or(0);
        }
    }
    let mut out = Vec::new();
    for (name, scales) in &series {
        let (Some((&low_work, low)), Some((&high_work, high))) =
            (scales.iter().next(), scales.iter().next_back())
        else {
            continue;
        };
        if low_work == high_work {
            continue;
        }
        for (stack, h) in high {
            let (lb, ln) = low.get(stack).map_or((0, 0), |l| (l.bytes, l.blocks));
            if h.blocks <= ln {
                continue;
            }
            let (ri, rec) = h.first;
            let ours = &policy.ours;
            let location = ours.location_frame(rec);
            out.push(Issue {
                rule: Rule::Growth,
                kind: rec.kind.clone(),
                category: Category::of_record(rec),
                what: normalize_text(&rec.what),
                place: location.map(|f| Place::of(f, &policy.source_root)),
                test: input
                    .run(ri)
                    .and_then(|r| r.test.clone())
                    .or_else(|| attributions[ri].test_of(rec, ours)),
                bytes: Some(h.bytes.saturating_sub(lb)),
                blocks: Some(h.blocks - ln),
                fingerprint: crate::fingerprint::fingerprint(rec, ours),
                rendered: render_record(rec, ours),
                records: 1,
                failing: true,
                growth: Some(Growth {
                    series: name.to_string(),
                    stack: stack.clone(),
                    points: vec![
                        Point {
                            work: low_work,
                            bytes: lb,
                            blocks: ln,
                        },
                        Point {
                            work: high_work,
                            bytes: h.bytes,
                            blocks: h.blocks,
                        },
                    ],
                }),
            });
        }
    }
    out
}
