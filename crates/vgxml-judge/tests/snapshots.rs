//! Snapshots of the normalised renderings (no addresses, pids, absolute
//! paths or loss-record numbers), so they survive `regen.sh`.

#[path = "../../vgxml-parse/tests/common/mod.rs"]
mod common;

use common::*;
use vgxml_judge::*;
use vgxml_parse::*;

fn report(name: &str) -> Report {
    read_path(&fixture(name)).unwrap()
}

fn ours() -> OurCode {
    OurCode::new()
        .source_prefix("/work/")
        .object_glob("*/vgxml-build.*")
}

#[test]
fn snapshot_final_leaks_all_kinds() {
    let r = report("leaks-all.xml");
    insta::assert_snapshot!(render_normalized(r.final_leaks(), &ours()));
}

#[test]
fn snapshot_final_leaks_default_kinds() {
    let r = report("leaks-default.xml");
    insta::assert_snapshot!(render_normalized(r.final_leaks(), &ours()));
}

#[test]
fn snapshot_memory_errors() {
    let r = report("memerr.xml");
    insta::assert_snapshot!(render_normalized(r.memory_errors(), &ours()));
}

#[test]
fn snapshot_cxx() {
    let r = report("cxx.xml");
    insta::assert_snapshot!(render_normalized(r.errors.iter(), &OurCode::new()));
}

#[test]
fn snapshot_leak_searches_by_marker() {
    let r = report("searches.xml");
    let mut out = String::new();
    for s in r.leak_searches() {
        out.push_str(&format!(
            "### search {} marker={:?} final={}\n",
            s.index, s.marker, s.is_final
        ));
        out.push_str(&render_normalized(s.records.iter().copied(), &ours()));
        out.push('\n');
    }
    insta::assert_snapshot!(out);
}

#[test]
fn snapshot_summary_totals_fork() {
    let s = Summary::from_reports(&[report("fork-parent.xml"), report("fork-child.xml")]);
    insta::assert_snapshot!(serde_json::to_string_pretty(&serde_json::json!({
        "complete": s.complete,
        "leaks": s.leaks,
        "errors": s.errors,
        "processes": s.processes.iter().map(|p| &p.leaks).collect::<Vec<_>>(),
    }))
    .unwrap());
}

#[test]
fn rendering_has_no_addresses_or_absolute_paths() {
    for p in real_xml_fixtures(&fixtures()) {
        let r = read_path(&p).unwrap();
        let text = render_normalized(r.errors.iter(), &ours());
        assert!(!text.contains("/work/"), "{text}");
        assert!(!text.contains("loss record"), "{text}");
        assert!(
            !text
                .split(|c: char| !c.is_ascii_alphanumeric())
                .any(|w| w.len() > 2
                    && w.starts_with("0x")
                    && w[2..].chars().all(|c| c.is_ascii_hexdigit())),
            "{text}"
        );
    }
}
