//! Issue 13: input that contradicts itself or the protocol (hand-made
//! fixtures, see tests/fixtures/handmade/README.md) gives a diagnostic with
//! the byte offset and the best reading: never a silent 0, null or empty
//! kind.

mod common;

use common::*;
use vgxml_parse::*;

fn report(name: &str) -> Report {
    read_path(&fixture(name)).unwrap_or_else(|e| panic!("{e}"))
}

fn diag<'a>(r: &'a Report, needle: &str) -> &'a Diagnostic {
    r.diagnostics
        .iter()
        .find(|d| d.message.contains(needle))
        .unwrap_or_else(|| panic!("no diagnostic with {needle:?}: {:?}", r.diagnostics))
}

fn text_at(name: &str, offset: u64) -> String {
    let t = std::fs::read(fixture(name)).unwrap();
    String::from_utf8_lossy(&t[offset as usize..]).into_owned()
}

#[test]
fn a_count_that_is_not_a_number_is_never_zero() {
    let name = "handmade/count-not-a-number.xml";
    let r = report(name);
    let d = diag(&r, "is not a number");
    assert!(d.message.contains("\"two\""), "{d}");
    assert!(text_at(name, d.offset.unwrap())
        .trim_start()
        .starts_with("<pair>"));
    // best reading: at least one occurrence, since Valgrind lists counts > 0
    assert!(r.errorcounts.contains(&("0x4".to_string(), 1)));
    let s = Summary::from_reports(std::slice::from_ref(&r));
    assert_eq!(s.error_occurrences.get("InvalidRead"), Some(&1));
    // and the error summary no longer adds up: said, not hidden
    assert_eq!(s.error_summary_agrees, Some(false));
    let es = s.processes[0].error_summary.as_ref().unwrap();
    assert_eq!((es.valgrind.errors, es.errors), (Some(7), 6));
    assert!(s
        .diagnostics
        .iter()
        .any(|d| d.contains("<error_summary> says 7 errors")));
}

#[test]
fn two_pairs_with_the_same_unique_are_told_and_kept() {
    let name = "handmade/duplicate-unique.xml";
    let r = report(name);
    let d = diag(&r, "the same <unique> twice");
    assert!(d.message.contains("0x4 (counts 2 and 3)"), "{d}");
    assert!(text_at(name, d.offset.unwrap()).starts_with("<errorcounts>"));
    // the stream keeps both pairs
    let f = std::fs::File::open(fixture(name)).unwrap();
    let pairs: Vec<(String, u64)> = records(std::io::BufReader::new(f), name)
        .filter_map(|i| match i.unwrap() {
            Item::ErrorCounts(p) => Some(p),
            _ => None,
        })
        .flatten()
        .filter(|(u, _)| u == "0x4")
        .collect();
    assert_eq!(pairs, vec![("0x4".into(), 2), ("0x4".into(), 3)]);
    // the report uses the last, as a later <errorcounts> would
    assert!(r.errorcounts.contains(&("0x4".to_string(), 3)));
    assert_eq!(r.errorcounts.iter().filter(|(u, _)| u == "0x4").count(), 1);
}

#[test]
fn an_error_without_kind_is_kind_missing_never_an_empty_string() {
    let name = "handmade/missing-kind.xml";
    let r = report(name);
    let missing: Vec<&ErrorRecord> = r
        .errors
        .iter()
        .filter(|e| e.kind == Kind::Missing)
        .collect();
    assert_eq!(missing.len(), 2);
    assert!(r.errors.iter().all(|e| !e.kind.as_str().is_empty()));
    let d = diag(&r, "<error> without <kind>");
    assert_eq!(d.offset, Some(missing[0].offset));
    assert!(text_at(name, d.offset.unwrap()).starts_with("<error>"));
    let d = diag(&r, "empty <kind>");
    assert!(
        text_at(name, d.offset.unwrap()).starts_with("</kind>")
            || d.offset > Some(missing[1].offset)
    );
    let s = Summary::from_reports(std::slice::from_ref(&r));
    assert_eq!(s.errors.get(Kind::MISSING), Some(&2));
    assert!(!s.errors.contains_key(""));
    // the summary still adds up with Valgrind's
    assert_eq!(s.error_summary_agrees, Some(true));
    // and it survives JSON
    let e: ErrorRecord = serde_json::from_str(&serde_json::to_string(missing[0]).unwrap()).unwrap();
    assert_eq!(e.kind, Kind::Missing);
}

#[test]
fn a_leak_summary_without_kinds_falls_back_to_the_loss_records_and_says_so() {
    let name = "handmade/leak-summary-empty.xml";
    let r = report(name);
    let d = diag(&r, "<leak_summary> holds no leak kind");
    assert!(text_at(name, d.offset.unwrap()).starts_with("<leak_summary>"));
    let s = Summary::from_reports(std::slice::from_ref(&r));
    assert_eq!(s.processes[0].leak_source, LeakSource::LossRecords);
    assert!(s
        .diagnostics
        .iter()
        .any(|d| d.contains("totals computed from the loss records instead")));
    // not "not shown": the loss records' totals, which are Valgrind's own
    // (the text log of the same run)
    assert!(LeakKind::ALL.iter().all(|&k| s.leaks.get(k).is_some()));
    assert_eq!(assert_matches_text(&s, &fixture("v3.27/leaks-all.txt")), 4);
}

#[test]
fn a_merge_conflict_marker_is_malformed_not_a_cut_file() {
    let name = "handmade/merge-conflict.xml";
    let i = input(name);
    assert_eq!(i.state, InputState::Partial);
    let r = &i.reports[0];
    let ReportState::Malformed { offset, reason } = &r.state else {
        panic!("{:?}", r.state)
    };
    assert!(reason.contains("merge-conflict"), "{reason}");
    assert!(text_at(name, *offset).starts_with("<<<<<<< HEAD"));
    // records before the damage are kept, and said to be partial
    let before = std::fs::read(fixture(name)).unwrap()[..*offset as usize]
        .windows(8)
        .filter(|w| w == b"</error>")
        .count();
    assert_eq!(r.errors.len(), before);
    assert!(!r.complete);
    assert!(diag(r, "malformed XML")
        .message
        .contains("records before are kept"));
    // a cut file is another state
    let bytes = std::fs::read(fixture("v3.27/leaks-default.xml")).unwrap();
    let cut = read_input(&bytes[..*offset as usize], "cut.xml", Options::full()).unwrap();
    assert_eq!(cut.state, InputState::Cut);
    assert!(matches!(cut.reports[0].state, ReportState::Cut { .. }));
}

#[test]
fn text_between_elements_is_noted() {
    let t = std::fs::read_to_string(fixture("leaks-all.xml")).unwrap();
    let p = t.find("<status>").unwrap();
    let doc = format!("{}=======\n{}", &t[..p], &t[p..]);
    let r = read(doc.as_bytes(), "x.xml").unwrap();
    assert!(r.complete);
    let d = diag(&r, "text outside any element");
    assert_eq!(d.offset, Some(p as u64));
}

#[test]
fn numbers_that_are_not_numbers_are_noted_not_zero() {
    let t = std::fs::read_to_string(fixture("memerr.xml")).unwrap();
    let e = t.find("<error>").unwrap();
    let doc = t[..e].to_string()
        + &t[e..]
            .replacen("<tid>1</tid>", "<tid>one</tid>", 1)
            .replacen("<line>12</line>", "<line>twelve</line>", 1);
    let r = read(doc.as_bytes(), "x.xml").unwrap();
    assert_eq!(r.errors[0].tid, None);
    assert_eq!(r.errors[0].stack[0].line, None);
    diag(&r, "<tid> is not a number: \"one\"");
    let d = diag(&r, "<line> is not a number");
    assert!(doc[d.offset.unwrap() as usize..].starts_with("twelve"));
}

#[test]
fn diagnostics_stay_bounded_in_memory() {
    // 3000 records with a bad <tid>: a report keeps MAX_DIAGNOSTICS
    let t = std::fs::read_to_string(fixture("memerr.xml")).unwrap();
    let a = t.find("<error>").unwrap();
    let b = t[a..].find("</error>").unwrap() + a + "</error>".len();
    let one = t[a..b].replacen("<tid>1</tid>", "<tid>x</tid>", 1);
    let mut doc = t[..a].to_string();
    for _ in 0..3000 {
        doc.push_str(&one);
    }
    doc.push_str(&t[b..]);
    let r = read_with(doc.as_bytes(), "x.xml", Options::summary()).unwrap();
    assert_eq!(r.errors.len(), 3000 + 4);
    assert_eq!(r.diagnostics.len(), MAX_DIAGNOSTICS + 1);
    assert!(r.diagnostics_dropped > 0);
    assert!(r
        .diagnostics
        .last()
        .unwrap()
        .message
        .contains("more diagnostics not kept"));
}
