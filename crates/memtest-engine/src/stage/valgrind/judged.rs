//! The Valgrind stage's judged issues as the report shows them: findings,
//! the snapshot text, curves, totals ours apart from theirs, the page of
//! raw records, unused suppressions and candidate suppressions.

use std::collections::BTreeMap;
use std::path::Path;

use vgxml_judge::{supp, Issue, Judgement, Policy, Rule as JudgeRule};
use vgxml_parse::{LeakKind, Report, Summary};

use super::StageCtx;
use crate::error::{harness, Result};
use crate::files::{self, rel};
use crate::report::{Curve, Finding, Rule, StageReport, Trend};

/// A judged issue as the summary and the snapshot show it.
pub(super) fn finding(ctx: &StageCtx<'_>, i: &Issue) -> Finding {
    let label = i.kind.leak_kind().map(LeakKind::label).unwrap_or("lost");
    let (rule, what) = match i.rule {
        JudgeRule::MemoryError => (
            Rule::MemoryError,
            format!("{} ({})", i.kind, without_fd_number(&i.what)),
        ),
        JudgeRule::Leak => (Rule::Lost, label.to_string()),
        JudgeRule::Growth => (
            Rule::Growth,
            format!("{label}, grows in every measured round"),
        ),
        JudgeRule::OneTimeBeforeTests => (
            Rule::OneTime,
            format!("{label} once, before the first test (not failing)"),
        ),
        JudgeRule::OneTimeFunction => (
            Rule::OneTime,
            format!("{label} once, by the module's init (not failing)"),
        ),
    };
    let mut detail = String::new();
    if let Some(g) = &i.growth {
        let curve: Vec<String> = g
            .points
            .iter()
            .map(|p| match p.iterations {
                Some(n) if p.round > 0 => format!(
                    "{} B in {} blocks (after {n} iterations)",
                    p.bytes, p.blocks
                ),
                _ => format!("{} B in {} blocks", p.bytes, p.blocks),
            })
            .collect();
        detail += &format!(
            "per checkpoint (after the warm-up, then each round): {}\n",
            curve.join(", ")
        );
        if let Some(rate) = g.bytes_per_iteration {
            detail += &format!("{rate:.1} bytes per iteration over the measured rounds\n");
        }
    }
    detail += &i.rendered;
    Finding {
        test: i.test.as_deref().map(|t| ctx.short(t).to_owned()),
        location: i.place.as_ref().map(ToString::to_string),
        chain: i.chain.clone(),
        origin: i.origin.clone(),
        bytes: i.bytes,
        blocks: i.blocks,
        detail,
        growth: i.growth.clone(),
        ..Finding::new(rule, what)
    }
}

/// `Open file descriptor 27: /path` as `Open file descriptor: /path`: which
/// number the process got is not what leaked (it is in the detail), and the
/// message must be the same in every run.
fn without_fd_number(what: &str) -> String {
    const AT: &str = "file descriptor ";
    match what.find(AT) {
        Some(i) => {
            let rest = &what[i + AT.len()..];
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return what.to_owned();
            }
            format!("{}file descriptor{}", &what[..i], &rest[digits..])
        }
        None => what.to_owned(),
    }
}

/// The snapshot text: `test: what at place` per finding, sorted.
pub(super) fn normalize(findings: &[Finding], ours: &str) -> String {
    if findings.is_empty() {
        return format!("no leaks or memory errors in our code ({ours})\n");
    }
    let mut lines: Vec<String> = findings
        .iter()
        .map(|f| {
            let test = f
                .test
                .as_deref()
                .map(|t| format!("{t}: "))
                .unwrap_or_default();
            format!(
                "{test}{} at {}",
                f.what,
                f.location.as_deref().unwrap_or("?")
            )
        })
        .collect();
    lines.sort();
    lines.dedup();
    lines.join("\n") + "\n"
}

/// Per test: what all our allocation sites held at each checkpoint, bytes
/// and blocks.
pub(super) fn curves(ctx: &StageCtx<'_>, j: &Judgement) -> Vec<Curve> {
    let mut out = Vec::new();
    for c in &j.curves {
        let labels: Vec<String> = c
            .points
            .iter()
            .map(|p| match p.round {
                0 => "warm-up".to_owned(),
                n => format!("round {n}"),
            })
            .collect();
        let trend = if vgxml_judge::grows(&c.points) {
            Trend::Grows
        } else {
            Trend::Bounded
        };
        let test = ctx.short(&c.test).to_owned();
        out.push(Curve {
            test: test.clone(),
            metric: "our bytes (Valgrind checkpoints)".into(),
            labels: labels.clone(),
            values: c.points.iter().map(|p| p.bytes as i64).collect(),
            trend,
            span_at_least: 0,
            decides: None,
        });
        out.push(Curve {
            test,
            metric: "our blocks (Valgrind checkpoints)".into(),
            labels,
            values: c.points.iter().map(|p| p.blocks as i64).collect(),
            trend,
            span_at_least: 0,
            decides: None,
        });
    }
    out
}

/// Totals of the end-of-run loss records per kind: all, ours, and the rest
/// (the interpreter and third-party code), and what was suppressed.
pub(super) fn valgrind_json(
    reports: &[Report],
    policy: &Policy,
    judgement: &Judgement,
    unused: usize,
) -> serde_json::Value {
    let summary = Summary::from_reports(reports);
    let mut ours: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for r in reports {
        for e in r.final_leaks().filter(|e| policy.ours.matches_record(e)) {
            if let Some(k) = e.leak_kind() {
                let slot = ours.entry(k.key()).or_default();
                slot.0 += e.direct_bytes().unwrap_or(0);
                slot.1 += e.leaked_blocks.unwrap_or(0);
            }
        }
    }
    let ours: serde_json::Map<String, serde_json::Value> = LeakKind::ALL
        .iter()
        .map(|k| {
            let (bytes, blocks) = ours.get(k.key()).copied().unwrap_or_default();
            (
                k.key().to_owned(),
                serde_json::json!({ "bytes": bytes, "blocks": blocks }),
            )
        })
        .collect();
    serde_json::json!({
        // "Using Valgrind-3.19.0 and LibVEX; rerun with -h for copyright info"
        "version": reports.first().and_then(|r| {
            r.preamble
                .iter()
                .find_map(|l| l.split_whitespace().find(|w| w.starts_with("Valgrind-")))
                .map(|w| w.trim_start_matches("Valgrind-").to_owned())
        }),
        "leaks_ours": ours,
        "leaks_all_code": summary.leaks,
        "errors_all_code": summary.errors,
        "suppressed": summary.suppressed.by_name.values().sum::<u64>(),
        "diagnostics": summary.diagnostics,
        "notes": judgement.notes,
        "curves": judgement.curves,
        "unused_suppressions": unused,
    })
}

/// `report.html` beside the XML: one self-contained page (vgxml's renderer)
/// with records grouped by fingerprint and our frames highlighted.
pub(super) fn write_html(
    root: &Path,
    out: &Path,
    reports: &[Report],
    policy: &Policy,
    report: &mut StageReport,
) -> Result<()> {
    let html = out.join("report.html");
    files::write(&html, &vgxml_judge::html::render(reports, policy))?;
    report.artifacts.push(rel(root, &html));
    Ok(())
}

/// Suppressions rot: an entry that matched nothing in any run hides nothing
/// today and may hide a real leak tomorrow. Warn (never fail: which
/// interpreter entries match depends on the tests selected), and list them
/// all in `unused-suppressions.txt`. Only the files Valgrind was given count
/// (python.supp's section for this CPython, not the other versions').
pub(super) fn warn_unused_suppressions(
    ctx: &StageCtx<'_>,
    given: &[std::path::PathBuf],
    reports: &[Report],
    report: &mut StageReport,
) -> Result<usize> {
    let root = &ctx.project.root;
    let entries =
        supp::parse_files(given).map_err(|e| harness!("reading the suppressions: {e}"))?;
    let unused = supp::unused(&entries, reports);
    let list = ctx.out.join("unused-suppressions.txt");
    let mut text = String::new();
    let mut per_file: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for e in &entries {
        per_file.entry(rel(root, &e.file)).or_default().1 += 1;
    }
    for e in &unused {
        per_file.entry(rel(root, &e.file)).or_default().0 += 1;
        text += &format!("{}:{}: {}\n", rel(root, &e.file), e.line, e.name);
    }
    files::write(&list, &text)?;
    // The project's own files must earn every entry: name what matched
    // nothing. memtest's (the interpreter's, the binding libraries') cover
    // more than any one suite touches: they are only counted in the list.
    let own: Vec<std::path::PathBuf> = ctx
        .project
        .description
        .suppressions
        .files
        .iter()
        .map(|f| root.join(f))
        .collect();
    for (file, (unused, total)) in &per_file {
        if *unused > 0 && own.iter().any(|o| rel(root, o) == *file) {
            println!("warning: {unused} of {total} suppressions in {file} matched nothing in this run (list: {})", rel(root, &list));
        }
    }
    for e in unused.iter().filter(|e| own.contains(&e.file)) {
        println!(
            "warning: unused suppression {} at {}:{}",
            e.name,
            rel(root, &e.file),
            e.line
        );
    }
    report.artifacts.push(rel(root, &list));
    Ok(unused.len())
}

/// The generated suppressions of every record, once each, for review.
pub(super) fn candidates(reports: &[Report]) -> String {
    let mut out = String::from(
        "# Candidate suppressions written by the Valgrind stage's --gen-suppressions.\n\
         # Review each one; never copy an entry whose frames reach the project's own code.\n\n",
    );
    for (e, s) in supp::generated(reports) {
        if let Some(e) = e {
            out.push_str(&format!(
                "# {}: {}\n",
                e.kind,
                vgxml_judge::normalize_text(&e.what)
            ));
        }
        out.push_str(s.rawtext.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn fd_messages_without_the_number() {
        assert_eq!(
            super::without_fd_number("Open file descriptor 27: /proc/self/statm"),
            "Open file descriptor: /proc/self/statm"
        );
        assert_eq!(
            super::without_fd_number("Invalid read of size 4"),
            "Invalid read of size 4"
        );
    }
}
