//! The "Supported platforms" table of docs/memory-testing.md: CPython minor x
//! Valgrind version x verdict, written by `cargo xtask matrix --write-docs`
//! and checked by `--check-docs` (`cargo xtask ci`).
//!
//! Rows are keyed by CPython minor and Valgrind `major.minor`. A run writes or
//! checks only the rows it measured: a machine with fewer interpreters (or
//! another Valgrind) leaves the other rows alone and is not failed by them.
//! Only the project's supported minors are tabled.

use std::{collections::BTreeMap, path::Path};

use anyhow::{bail, Context, Result};

use memtest_engine::report::{StageName, Verdict};

use super::Entry;
use crate::{flags::MatrixArgs, paths::write_file};

/// The CPython minors the project supports (the workflow's matrix).
pub const SUPPORTED: std::ops::RangeInclusive<u32> = 9..=13;

const DOC: &str = "docs/memory-testing.md";
const BEGIN: &str = "<!-- BEGIN supported-platforms: written by `cargo xtask matrix --write-docs`, checked by `cargo xtask ci` -->";
const END: &str = "<!-- END supported-platforms -->";
const HEADER: &str = "| CPython | Valgrind | tracemalloc | valgrind | memtest | measured with |\n|---|---|---|---|---|---|\n";

/// One row: the verdicts (compared) and the interpreters measured (not compared).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Row {
    tracemalloc: String,
    valgrind: String,
    memtest: String,
    measured: String,
}

type Key = (u32, String);

/// `--write-docs` / `--check-docs`. Returns the problem for a check that failed.
pub fn apply(
    root: &Path,
    valgrind: &str,
    entries: &[Entry],
    args: &MatrixArgs,
) -> Result<Option<String>> {
    if !args.write_docs && !args.check_docs {
        return Ok(None);
    }
    if args.stage.is_some() || valgrind.is_empty() {
        println!("matrix: the Supported platforms table needs both stages; not written or checked");
        return Ok(None);
    }
    let measured = measured_rows(valgrind, entries);
    if measured.is_empty() {
        println!(
            "matrix: no supported CPython (3.{}-3.{}) measured; the table is left alone",
            SUPPORTED.start(),
            SUPPORTED.end()
        );
        return Ok(None);
    }
    let path = root.join(DOC);
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {DOC}"))?;
    let (before, table, after) = split(&text)?;
    let mut rows = parse(table)?;
    if args.write_docs {
        rows.extend(measured);
        let new = format!("{before}{BEGIN}\n{}{END}{after}", render(&rows));
        if new != text {
            write_file(&path, &new)?;
            println!("matrix: wrote the Supported platforms table of {DOC}");
        } else {
            println!("matrix: the Supported platforms table of {DOC} is up to date");
        }
        return Ok(None);
    }
    let mut stale = Vec::new();
    for ((minor, vg), want) in &measured {
        match rows.get(&(*minor, vg.clone())) {
            Some(have) if same_verdicts(have, want) => {}
            Some(have) => stale.push(format!(
                "CPython 3.{minor} x Valgrind {vg}: the table says {}/{}/{}, measured {}/{}/{}",
                have.tracemalloc,
                have.valgrind,
                have.memtest,
                want.tracemalloc,
                want.valgrind,
                want.memtest
            )),
            None => stale.push(format!("CPython 3.{minor} x Valgrind {vg}: no row")),
        }
    }
    if stale.is_empty() {
        println!("matrix: the Supported platforms table of {DOC} matches what was measured");
        Ok(None)
    } else {
        Ok(Some(format!(
            "the Supported platforms table of {DOC} is out of date ({}); run `cargo xtask matrix --write-docs`",
            stale.join("; ")
        )))
    }
}

fn same_verdicts(a: &Row, b: &Row) -> bool {
    (&a.tracemalloc, &a.valgrind, &a.memtest) == (&b.tracemalloc, &b.valgrind, &b.memtest)
}

/// `valgrind-3.19.0` -> `3.19`.
fn valgrind_minor(v: &str) -> String {
    let v = v.trim().trim_start_matches("valgrind-");
    v.split('.').take(2).collect::<Vec<_>>().join(".")
}

fn rank(v: Verdict) -> u8 {
    match v {
        Verdict::Clean => 0,
        Verdict::SnapshotChanged => 1,
        Verdict::Leak => 2,
        Verdict::HarnessError | Verdict::Interrupted => 3,
    }
}

/// A stage's verdict in one interpreter's run (`None`: it did not run).
fn stage_verdict(e: &Entry, stage: StageName) -> Option<Verdict> {
    e.stages
        .iter()
        .find(|s| s.stage == stage)
        .map(|s| s.verdict)
}

/// The measured rows: per supported minor, the worst of its interpreters.
fn measured_rows(valgrind: &str, entries: &[Entry]) -> BTreeMap<Key, Row> {
    let vg = valgrind_minor(valgrind);
    let mut by_minor: BTreeMap<u32, Vec<&Entry>> = BTreeMap::new();
    for e in entries {
        let minor = e.version.split('.').nth(1).and_then(|m| m.parse().ok());
        if let Some(m) = minor.filter(|m| SUPPORTED.contains(m)) {
            by_minor.entry(m).or_default().push(e);
        }
    }
    by_minor
        .into_iter()
        .map(|(minor, es)| {
            let worst_stage = |stage| {
                let vs: Vec<Option<Verdict>> = es.iter().map(|e| stage_verdict(e, stage)).collect();
                [Some(Verdict::Leak), None, Some(Verdict::Clean)]
                    .into_iter()
                    .find(|v| vs.contains(v))
                    .flatten()
                    .map_or("not run", Verdict::as_str)
                    .to_owned()
            };
            let memtest = es
                .iter()
                .map(|e| e.verdict)
                .max_by_key(|v| rank(*v))
                .unwrap_or(Verdict::HarnessError);
            let mut measured: Vec<&str> = es.iter().map(|e| e.version.as_str()).collect();
            measured.sort();
            measured.dedup();
            (
                (minor, vg.clone()),
                Row {
                    tracemalloc: worst_stage(StageName::Tracemalloc),
                    valgrind: worst_stage(StageName::Valgrind),
                    memtest: memtest.as_str().to_owned(),
                    measured: measured.join(", "),
                },
            )
        })
        .collect()
}

/// The text before the table (up to BEGIN), the table, the text after END.
fn split(text: &str) -> Result<(&str, &str, &str)> {
    let (Some(b), Some(e)) = (text.find(BEGIN), text.find(END)) else {
        bail!("{DOC} has no Supported platforms table (the lines {BEGIN} and {END})");
    };
    if e < b {
        bail!("{DOC}: {END} comes before {BEGIN}");
    }
    Ok((
        &text[..b],
        &text[b + BEGIN.len()..e],
        &text[e + END.len()..],
    ))
}

fn parse(table: &str) -> Result<BTreeMap<Key, Row>> {
    let mut rows = BTreeMap::new();
    for line in table.lines().map(str::trim).filter(|l| l.starts_with('|')) {
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        if cells
            .first()
            .is_some_and(|c| *c == "CPython" || c.starts_with("---"))
        {
            continue;
        }
        let [cpython, vg, tracemalloc, valgrind, memtest, measured] = cells.as_slice() else {
            bail!("{DOC}: a Supported platforms row with other than 6 cells: {line}");
        };
        let minor = cpython
            .strip_prefix("3.")
            .and_then(|m| m.parse().ok())
            .with_context(|| format!("{DOC}: bad CPython cell {cpython:?}"))?;
        rows.insert(
            (minor, (*vg).to_owned()),
            Row {
                tracemalloc: (*tracemalloc).to_owned(),
                valgrind: (*valgrind).to_owned(),
                memtest: (*memtest).to_owned(),
                measured: (*measured).to_owned(),
            },
        );
    }
    Ok(rows)
}

fn render(rows: &BTreeMap<Key, Row>) -> String {
    let mut s = String::from(HEADER);
    for ((minor, vg), r) in rows {
        s += &format!(
            "| 3.{minor} | {vg} | {} | {} | {} | {} |\n",
            r.tracemalloc, r.valgrind, r.memtest, r.measured
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_trip_and_are_keyed_by_minor_and_valgrind() {
        let table = format!(
            "\n{HEADER}| 3.9 | 3.19 | clean | clean | clean | 3.9.18 |\n| 3.12 | 3.27 | clean | leak | leak | 3.12.1 |\n"
        );
        let rows = parse(&table).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[&(12, "3.27".to_owned())].valgrind, "leak");
        assert_eq!(render(&rows), table.trim_start());
    }

    #[test]
    fn valgrind_versions_keep_major_and_minor() {
        assert_eq!(valgrind_minor("valgrind-3.19.0"), "3.19");
        assert_eq!(valgrind_minor("valgrind-3.27.1\n"), "3.27");
    }

    #[test]
    fn the_committed_doc_has_a_table_that_parses() {
        let text = std::fs::read_to_string(crate::paths::project_root().join(DOC)).unwrap();
        let (_, table, _) = split(&text).unwrap();
        parse(table).unwrap();
    }
}
