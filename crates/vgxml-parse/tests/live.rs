//! When `valgrind` is on the machine: rebuild and rerun the fixture
//! programs (tests/fixtures/regen.sh into a temporary directory) and check
//! the parsed totals against Valgrind's text LEAK SUMMARY of the same runs.

mod common;

use common::*;
use std::process::Command;
use vgxml_parse::{read_path, Summary};

#[test]
fn live_valgrind_totals_match_text_leak_summary() {
    let have = |cmd: &str| {
        Command::new(cmd)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !have("valgrind") || !have("gcc") || !have("g++") {
        println!("skipped: valgrind, gcc or g++ not on PATH");
        return;
    }
    let out = std::env::temp_dir().join(format!("vgxml-live-{}", std::process::id()));
    let status = Command::new("sh")
        .arg(fixture("regen.sh"))
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success(), "regen.sh failed");
    let mut compared = 0;
    let files = real_xml_fixtures(&out);
    assert!(files.len() >= 10, "{files:?}");
    for p in &files {
        let r = read_path(p).unwrap();
        assert!(r.complete, "{}", p.display());
        let s = Summary::from_reports(&[r]);
        compared += assert_matches_text(&s, &p.with_extension("txt"));
    }
    assert!(compared >= 30, "only {compared} kinds compared");
    let _ = std::fs::remove_dir_all(&out);
}
