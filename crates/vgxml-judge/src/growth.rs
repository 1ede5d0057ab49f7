//! Growth inside the run: at each checkpoint of a test (a leak search
//! between measured rounds), what each allocation site of ours held. A
//! site that holds more bytes or more blocks after *every* measured round
//! grows with the work — a leak however small, whatever its kind (a
//! still-reachable cache that is never pruned is one, and so is a buffer
//! that grows in place, which keeps its block count, and memory a static
//! object frees only at exit). One-time initialisation happens in the
//! warm-up and stays flat; noise does not grow every round.
//!
//! With rounds that double in length, a buffer that doubles its capacity
//! when full grows in every round too. Where the harness says how many
//! iterations each round ran, the caller may also ask for a rate: bytes
//! per iteration from the first checkpoint to the last.

use crate::budget::Category;
use crate::judgement::{Growth, Issue, Point, Policy, Rule};
use crate::place::Place;
use crate::render::{normalize_text, render_record};
use crate::searches::Timeline;
use vgxml_parse::Amount;

pub use crate::judgement::MIN_ROUNDS;

/// True when every round added bytes or blocks, over [`MIN_ROUNDS`] rounds or more.
pub fn grows(points: &[Point]) -> bool {
    grows_over(points, MIN_ROUNDS)
}

/// True when every round added bytes or blocks, over `min_rounds` rounds or more.
pub fn grows_over(points: &[Point], min_rounds: usize) -> bool {
    points.len() > min_rounds.max(1)
        && points
            .windows(2)
            .all(|w| w[1].bytes > w[0].bytes || w[1].blocks > w[0].blocks)
}

/// Bytes added per iteration from the first point to the last, when every
/// measured round's iterations are known.
pub fn bytes_per_iteration(points: &[Point]) -> Option<f64> {
    let (first, last) = (points.first()?, points.last()?);
    let iterations: u64 = points[1..]
        .iter()
        .map(|p| p.iterations)
        .sum::<Option<u64>>()?;
    (iterations > 0).then(|| (last.bytes as f64 - first.bytes as f64) / iterations as f64)
}

/// The growth issues of one report's timeline.
pub(crate) fn issues(
    source: &str,
    timeline: &Timeline<'_>,
    run_test: Option<&str>,
    policy: &Policy,
) -> Vec<Issue> {
    let mut out = Vec::new();
    for ((test, site), series) in timeline.series() {
        let points: Vec<Point> = series
            .iter()
            .map(|&(mark, Amount { bytes, blocks })| Point {
                round: mark.round,
                bytes,
                blocks,
                iterations: mark.iterations,
            })
            .collect();
        if !grows_over(&points, policy.growth_min_rounds) {
            continue;
        }
        let rate = bytes_per_iteration(&points);
        if policy.growth_min_bytes_per_iteration > 0.0
            && rate.is_some_and(|r| r < policy.growth_min_bytes_per_iteration)
        {
            continue;
        }
        let Some(rec) = timeline.latest.get(&site) else {
            continue;
        };
        let category = Category::of_record(rec);
        if !policy.growth_on.contains(&category) {
            continue;
        }
        let ours = &policy.ours;
        let (first, last) = (points[0], points[points.len() - 1]);
        out.push(Issue {
            rule: Rule::Growth,
            kind: rec.kind.clone(),
            category,
            what: normalize_text(&rec.what),
            place: ours
                .location_frame(rec)
                .map(|f| Place::of(f, &policy.source_root)),
            chain: crate::place::chain(rec, ours, &policy.source_root),
            origin: Vec::new(),
            test: Some(run_test.map_or(test.clone(), str::to_owned)),
            bytes: Some(last.bytes.saturating_sub(first.bytes)),
            blocks: Some(last.blocks.saturating_sub(first.blocks)),
            fingerprint: crate::fingerprint::fingerprint(rec, ours),
            rendered: render_record(rec, ours),
            records: 1,
            failing: true,
            growth: Some(Growth {
                source: source.to_string(),
                stack: crate::searches::stack_key(rec),
                points,
                bytes_per_iteration: rate,
            }),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pts(v: &[(u64, u64)]) -> Vec<Point> {
        v.iter()
            .enumerate()
            .map(|(i, &(bytes, blocks))| Point {
                round: i as u32,
                bytes,
                blocks,
                iterations: (i > 0).then_some(10 << i),
            })
            .collect()
    }

    #[test]
    fn steady_growth_by_bytes_or_blocks() {
        assert!(grows(&pts(&[(64, 1), (128, 2), (256, 4)])));
        // a buffer growing in place: one block, more bytes every round
        assert!(grows(&pts(&[(1024, 1), (2048, 1), (4096, 1), (8192, 1)])));
        // one-time initialisation, and a round without growth
        assert!(!grows(&pts(&[(64, 1), (64, 1), (64, 1)])));
        assert!(!grows(&pts(&[(64, 1), (128, 2), (128, 2)])));
        assert!(!grows(&pts(&[(64, 1), (32, 1), (128, 2)])));
        // too few rounds to tell, unless a screen asks for one
        assert!(!grows(&pts(&[(64, 1), (128, 2)])));
        assert!(grows_over(&pts(&[(64, 1), (128, 2)]), 1));
        assert!(!grows_over(&pts(&[(64, 1)]), 1));
    }

    #[test]
    fn the_rate_is_over_the_measured_rounds_iterations() {
        // rounds of 20, 40, 80 iterations: 1024 bytes more over 140 iterations
        let p = pts(&[(64, 1), (128, 2), (512, 4), (1088, 8)]);
        assert_eq!(bytes_per_iteration(&p), Some(1024.0 / 140.0));
        let mut unknown = p.clone();
        unknown[2].iterations = None;
        assert_eq!(bytes_per_iteration(&unknown), None);
    }
}
