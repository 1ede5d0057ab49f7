//! Which records a judgement, a baseline or a page looks at.

use crate::ours::OurCode;
use vgxml_parse::{ErrorRecord, Report};

/// The end-of-run loss records and every non-leak error, of our code when
/// `ours` has rules, with the index of their report.
pub fn counted_records<'a>(
    reports: &'a [Report],
    ours: &OurCode,
) -> impl Iterator<Item = (usize, &'a ErrorRecord)> + 'a {
    let ours = ours.clone();
    reports.iter().enumerate().flat_map(move |(i, r)| {
        let ours = ours.clone();
        r.errors
            .iter()
            .filter(move |e| {
                (!e.is_leak() || e.final_search) && (ours.is_empty() || ours.matches_record(e))
            })
            .map(move |e| (i, e))
    })
}
