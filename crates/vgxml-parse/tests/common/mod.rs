#![allow(dead_code)]

use std::path::{Path, PathBuf};
use vgxml_parse::{Amount, LeakKind, Summary};

/// `vgxml-parse/tests/fixtures`, from any of the vgxml crates (siblings
/// under `crates/`) that include this file.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../vgxml-parse/tests/fixtures")
}

pub fn fixture(name: &str) -> PathBuf {
    fixtures().join(name)
}

/// The real (Valgrind-generated) XML fixtures, sorted.
pub fn real_xml_fixtures(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "xml"))
        .collect();
    v.sort();
    v
}

fn num(s: &str) -> u64 {
    s.replace(',', "").parse().unwrap()
}

/// The last `LEAK SUMMARY` of a Valgrind text log: kind -> amount.
/// Returns None when the log has no leak summary (e.g. helgrind).
pub fn text_leak_summary(path: &Path) -> Option<Vec<(LeakKind, Amount)>> {
    let text = std::fs::read_to_string(path).unwrap();
    let start = text.rfind("LEAK SUMMARY:")?;
    let mut out = Vec::new();
    for line in text[start..].lines().skip(1).take(5) {
        let body = line.splitn(3, "==").nth(2).unwrap_or(line).trim();
        let Some((label, rest)) = body.split_once(':') else {
            continue;
        };
        let kind = match label.trim() {
            "definitely lost" => LeakKind::DefinitelyLost,
            "indirectly lost" => LeakKind::IndirectlyLost,
            "possibly lost" => LeakKind::PossiblyLost,
            "still reachable" => LeakKind::StillReachable,
            _ => continue,
        };
        // "232 bytes in 3 blocks" (or with "(+N)" deltas)
        let toks: Vec<&str> = rest
            .split_whitespace()
            .filter(|t| !t.starts_with('('))
            .collect();
        out.push((
            kind,
            Amount {
                bytes: num(toks[0]),
                blocks: num(toks[3]),
            },
        ));
    }
    Some(out)
}

/// Checks a summary of one process against its text log; returns the
/// number of kinds compared exactly.
pub fn assert_matches_text(summary: &Summary, txt: &Path) -> usize {
    let Some(expected) = text_leak_summary(txt) else {
        return 0;
    };
    let mut compared = 0;
    for (k, amount) in expected {
        match summary.leaks.get(k) {
            Some(got) => {
                assert_eq!(
                    got,
                    amount,
                    "{}: {} differs from Valgrind's LEAK SUMMARY",
                    txt.display(),
                    k.label()
                );
                compared += 1;
            }
            None => {
                // not shown: the derived indirect bytes must still agree
                if k == LeakKind::IndirectlyLost {
                    if let Some(b) = summary.derived.indirectly_lost_bytes {
                        assert_eq!(b, amount.bytes, "{}: derived indirect bytes", txt.display());
                    }
                }
            }
        }
    }
    compared
}

/// The last `ERROR SUMMARY` of a Valgrind text log: (errors, contexts,
/// suppressed, suppressed contexts).
pub fn text_error_summary(path: &Path) -> Option<(u64, u64, u64, u64)> {
    let text = std::fs::read_to_string(path).unwrap();
    let start = text.rfind("ERROR SUMMARY: ")? + "ERROR SUMMARY: ".len();
    let line = text[start..].lines().next()?;
    // "7 errors from 6 contexts (suppressed: 0 from 0)"
    let nums: Vec<u64> = line
        .split(|c: char| !c.is_ascii_digit() && c != ',')
        .filter(|t| !t.is_empty() && *t != ",")
        .map(num)
        .collect();
    match nums[..] {
        [e, c, s, sc, ..] => Some((e, c, s, sc)),
        _ => None,
    }
}

/// Every report of a file (read_input), panicking on I/O errors.
pub fn input(name: &str) -> vgxml_parse::Input {
    vgxml_parse::read_path_input(&fixture(name), vgxml_parse::Options::full())
        .unwrap_or_else(|e| panic!("{e}"))
}
