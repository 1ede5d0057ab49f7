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
//! when full grows in every round too.

use crate::budget::Category;
use crate::judgement::{Growth, Issue, Point, Policy, Rule};
use crate::place::Place;
use crate::render::{normalize_text, render_record};
use crate::searches::Timeline;
use vgxml_parse::Amount;

/// At least this many measured rounds (checkpoints after the warm-up's)
/// before growth is judged: one delta proves nothing.
pub const MIN_ROUNDS: usize = 2;

/// True when every round added bytes or blocks.
pub fn grows(points: &[Point]) -> bool {
    points.len() > MIN_ROUNDS
        && points
            .windows(2)
            .all(|w| w[1].bytes > w[0].bytes || w[1].blocks > w[0].blocks)
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
            .map(|&(round, Amount { bytes, blocks })| Point {
                round,
                bytes,
                blocks,
            })
            .collect();
        if !grows(&points) {
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
        // too few rounds to tell
        assert!(!grows(&pts(&[(64, 1), (128, 2)])));
    }
}
