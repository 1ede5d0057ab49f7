//! Issue 7: fingerprints, baselines, diffs, budgets, unused suppressions,
//! CI formats (SARIF, GitLab, JUnit, GitHub) and the HTML report, on the
//! real fixtures. Tests that need `valgrind`, `sarif` (sarif-tools) or
//! `chromium` skip with a printed reason when those are missing.

mod common;

use common::*;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use vgxml_judge::*;
use vgxml_parse::*;

/// The marker prefix `programs/tests.c` writes before each test.
const MARKERS: &str = "sluice-test-begin:";

/// The default verdict over `ours`, with the fixtures' test markers.
fn policy(ours: OurCode) -> Policy {
    let mut p = Policy::new(ours, fixtures());
    p.markers.test_prefix = Some(MARKERS.to_string());
    p
}

fn report(name: &str) -> Report {
    read_path(&fixture(name)).unwrap_or_else(|e| panic!("{e}"))
}

fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("vgxml-ci-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A command that answers `--version` (or `--help`), or None.
fn find_tool(env: &str, candidates: &[PathBuf]) -> Option<PathBuf> {
    let mut c: Vec<PathBuf> = std::env::var_os(env)
        .map(PathBuf::from)
        .into_iter()
        .collect();
    c.extend(candidates.iter().cloned());
    c.into_iter().find(|p| {
        Command::new(p)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

fn ours_programs() -> OurCode {
    OurCode::new().source_glob("*/programs/*")
}

fn fingerprints(r: &Report, ours: &OurCode) -> BTreeSet<String> {
    r.errors
        .iter()
        .filter(|e| !e.is_leak() || e.final_search)
        .map(|e| fingerprint(e, ours))
        .collect()
}

// ---------------------------------------------------------------- fingerprints

#[test]
fn fingerprint_keys_have_no_run_specific_parts() {
    for name in [
        "leaks-all.xml",
        "memerr.xml",
        "cxx.xml",
        "tests.xml",
        "fork-child.xml",
    ] {
        let r = report(name);
        for e in &r.errors {
            for ours in [OurCode::new(), ours_programs()] {
                let k = fingerprint_key(e, &ours);
                assert!(k.starts_with(e.kind.as_str()), "{k}");
                assert!(!k.contains('/'), "no paths: {k}");
                assert!(!k.contains("0x"), "no addresses: {k}");
                assert!(!k.contains("loss record"), "{k}");
                assert!(
                    !k.chars()
                        .any(|c| c.is_ascii_digit() && k.contains(&format!(":{c}"))),
                    "no line numbers: {k}"
                );
                let fp = fingerprint(e, &ours);
                assert_eq!(fp.len(), 16);
                assert!(fp.bytes().all(|b| b.is_ascii_hexdigit()));
                assert_eq!(fp, fingerprint_of_key(&k));
            }
        }
    }
    let r = report("leaks-all.xml");
    let owner = r
        .final_leaks()
        .find(|e| e.what.contains(" direct, "))
        .unwrap();
    assert_eq!(
        fingerprint_key(owner, &ours_programs()),
        "Leak_DefinitelyLost|make_tree@leaks.c|leak_tree@leaks.c|main@leaks.c"
    );
    // no frame of ours: the top frames of the stack
    let none = OurCode::new().function_pattern("nothing_matches");
    assert_eq!(
        fingerprint_key(owner, &none),
        "Leak_DefinitelyLost|malloc@vgpreload_memcheck-amd64-linux.so|make_tree@leaks.c|leak_tree@leaks.c|main@leaks.c"
    );
}

#[test]
fn fingerprints_equal_across_processes_and_searches() {
    // the intermediate and final searches of one run report the same
    // definite leak with the same fingerprint
    let r = report("searches.xml");
    let ours = ours_programs();
    let inter: BTreeSet<String> = r
        .errors
        .iter()
        .filter(|e| e.kind == Kind::LeakDefinitelyLost && !e.final_search)
        .map(|e| fingerprint(e, &ours))
        .collect();
    let fin: BTreeSet<String> = r
        .final_leaks()
        .filter(|e| e.kind == Kind::LeakDefinitelyLost)
        .map(|e| fingerprint(e, &ours))
        .collect();
    assert!(!inter.is_empty() && inter.is_subset(&fin));
}

/// Compiles `programs/NAME.c` in `dir` (a copy of the source, so both the
/// debug-info directory and the object path differ) and runs it under
/// memcheck into `dir/out-RUN.xml`.
fn build_and_run(dir: &Path, name: &str, runs: usize) -> Vec<Report> {
    let src = dir.join(format!("{name}.c"));
    std::fs::copy(fixture(&format!("programs/{name}.c")), &src).unwrap();
    let st = Command::new("gcc")
        .args(["-g", "-O0", "-o"])
        .arg(dir.join(name))
        .arg(&src)
        .status()
        .unwrap();
    assert!(st.success());
    (0..runs)
        .map(|i| {
            let xml = dir.join(format!("out-{i}.xml"));
            let _ = Command::new("valgrind")
                .arg("--xml=yes")
                .arg(format!("--xml-file={}", xml.display()))
                .args(["--leak-check=full", "--show-leak-kinds=all"])
                .arg(dir.join(name))
                .current_dir(dir)
                .output()
                .unwrap();
            let r = read_path(&xml).unwrap();
            assert!(r.complete);
            r
        })
        .collect()
}

#[test]
fn live_fingerprints_identical_across_runs_and_build_directories() {
    let have = |c: &str| {
        Command::new(c)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !have("valgrind") || !have("gcc") {
        println!("skipped: valgrind or gcc not on PATH");
        return;
    }
    let base = tmpdir("builddirs");
    let (a, b) = (base.join("build-a/x"), base.join("another/build-b"));
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    for name in ["tests", "leaks"] {
        let ra = build_and_run(&a, name, 2);
        let rb = build_and_run(&b, name, 1);
        for ours in [
            OurCode::new(),
            OurCode::new().source_glob(&format!("*/{name}.c")),
        ] {
            let f0 = fingerprints(&ra[0], &ours);
            assert!(!f0.is_empty());
            assert_eq!(f0, fingerprints(&ra[1], &ours), "{name}: two runs");
            assert_eq!(f0, fingerprints(&rb[0], &ours), "{name}: two build dirs");
            // and the fixture generated elsewhere, earlier
            let fixture_name = if name == "tests" {
                "tests.xml"
            } else {
                "leaks-all.xml"
            };
            assert_eq!(
                f0,
                fingerprints(&report(fixture_name), &ours),
                "{name}: fixture"
            );
        }
        let base_a = Baseline::from_reports(&ra[..1], &OurCode::new());
        let base_b = Baseline::from_reports(&rb, &OurCode::new());
        assert_eq!(base_a.records, base_b.records, "{name}: baselines");
    }
    let _ = std::fs::remove_dir_all(&base);
}

// ---------------------------------------------------------------- baselines

#[test]
fn baseline_then_planted_leak_then_fixed() {
    let ours = ours_programs();
    let reports = vec![report("tests.xml")];
    let full = Baseline::from_reports(&reports, &ours);
    assert_eq!(full.records.len(), 3, "{full:#?}");
    // "clean tree": the baseline without the test_b leak
    let planted = full
        .records
        .iter()
        .find(|e| e.key.contains("leak_in_b"))
        .unwrap()
        .clone();
    assert_eq!(planted.bytes, Some(48));
    assert_eq!(planted.first_frame, "leak_in_b (tests.c:23)");
    let mut clean = full.clone();
    clean
        .records
        .retain(|e| e.fingerprint != planted.fingerprint);
    let cfg = Policy {
        baseline: Some(clean.clone()),
        ..policy(ours.clone())
    };
    let v = judge(&reports, &cfg);
    assert_eq!(v.records.len(), 1, "exactly one new record");
    assert_eq!(v.records[0].fingerprint, planted.fingerprint);
    assert_eq!(
        v.records[0].test.as_deref(),
        Some("tests/test_suite.py::test_b")
    );
    assert_eq!(v.exit_code(), 1);
    assert!(v.gone.is_empty());
    // the plant removed: the run has no such record, the baseline has it
    let v = judge(
        &reports,
        &Policy {
            baseline: Some(full.clone()),
            ..policy(ours.clone())
        },
    );
    assert!(v.records.is_empty());
    assert_eq!(v.exit_code(), 0);
    let mut with_extra = full.clone();
    with_extra.records.push(BaselineEntry {
        fingerprint: "0123456789abcdef".into(),
        key: "Leak_DefinitelyLost|gone@x.c".into(),
        kind: "Leak_DefinitelyLost".into(),
        bytes: Some(1),
        blocks: Some(1),
        first_frame: "gone (x.c:1)".into(),
        count: 1,
    });
    let v = judge(
        &reports,
        &Policy {
            baseline: Some(with_extra),
            ..policy(ours)
        },
    );
    assert_eq!(v.gone.len(), 1);
    assert_eq!(v.exit_code(), 0, "gone records do not fail");
}

#[test]
fn cli_baseline_check_and_diff() {
    let d = tmpdir("baseline");
    let b = d.join("b.json");
    let o = vgxml(&[
        "baseline",
        "--ours",
        "*/programs/*",
        "-o",
        b.to_str().unwrap(),
        "tests.xml",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&b).unwrap()).unwrap();
    assert_eq!(json["vgxml_baseline"], 1);
    let recs = json["records"].as_array().unwrap();
    assert_eq!(recs.len(), 3);
    for r in recs {
        for f in ["fingerprint", "key", "kind", "first_frame", "count"] {
            assert!(!r[f].is_null(), "{f} in {r}");
        }
    }
    // same run: nothing new
    let o = vgxml(&[
        "check",
        "--ours",
        "*/programs/*",
        "--baseline",
        b.to_str().unwrap(),
        "tests.xml",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("0 offending record(s) new since the baseline"));
    // a baseline of another program: everything is new, its records gone
    let o = vgxml(&[
        "check",
        "--ours",
        "*/programs/*",
        "--baseline",
        "leaks-all.xml",
        "tests.xml",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(
        out.contains("3 offending record(s) new since the baseline"),
        "{out}"
    );
    assert!(
        out.contains("gone (fixed since the baseline): Leak_DefinitelyLost at leak_plain"),
        "{out}"
    );
    // diff: XML against XML, and baseline JSON against XML
    let o = vgxml(&["diff", "leaks-default.xml", "leaks-all.xml"]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(out.contains("NEW    Leak_StillReachable 333 B"), "{out}");
    assert!(
        out.contains("3 new, 0 grown, 0 shrunk, 0 fixed, 3 unchanged"),
        "{out}"
    );
    let o = vgxml(&[
        "diff",
        "--ours",
        "*/programs/*",
        b.to_str().unwrap(),
        "tests.xml",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(stdout(&o).contains("0 new, 0 grown, 0 shrunk, 0 fixed, 3 unchanged"));
    // grown: one definite leak of `leak` (searches.c) -> three
    let d1 = d.join("one.json");
    let mut one = Baseline::from_reports(&[report("searches.xml")], &OurCode::new());
    for e in &mut one.records {
        if e.kind == "Leak_DefinitelyLost" {
            e.count = 1;
            e.bytes = Some(10);
            e.blocks = Some(1);
        }
    }
    std::fs::write(&d1, serde_json::to_string(&one).unwrap()).unwrap();
    let o = vgxml(&["diff", "--json", d1.to_str().unwrap(), "searches.xml"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["grown"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["grown"][0]["byte_delta"], 50);
    assert_eq!(o.status.code(), Some(1));
    // check --format json output is a valid diff input too
    let cj = d.join("check.json");
    let o = vgxml(&[
        "check",
        "--format",
        "json",
        "-o",
        cj.to_str().unwrap(),
        "tests.xml",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let o = vgxml(&["diff", cj.to_str().unwrap(), "tests.xml"]);
    assert!(
        stdout(&o).contains("0 new, 0 grown, 0 shrunk, 0 fixed, 3 unchanged"),
        "{}",
        stdout(&o)
    );
    let _ = std::fs::remove_dir_all(&d);
}

// ---------------------------------------------------------------- budgets

#[test]
fn budgets_each_kind_on_its_own_and_not_measured_fails() {
    let all = vec![report("leaks-all.xml")];
    let cfg = |m: &str| Policy {
        budgets: parse_budgets(m).unwrap(),
        ..policy(OurCode::new())
    };
    // leaks-all: definite 232 B, indirect 192 B, possible 64 B, reachable 333 B
    let v = judge(
        &all,
        &cfg("definite=232,indirect=192B,possible=4KiB,reachable=1KB,errors=0"),
    );
    assert!(v.budgets.iter().all(|b| b.ok), "{:?}", v.budgets);
    assert_eq!(v.exit_code(), 0);
    assert!(v.records.iter().all(|f| !f.failing));
    let v = judge(&all, &cfg("definite=231,possible=4KiB"));
    let bad: Vec<Category> = v
        .budgets
        .iter()
        .filter(|b| !b.ok)
        .map(|b| b.budget.category)
        .collect();
    assert_eq!(bad, vec![Category::Definite]);
    assert!(v
        .records
        .iter()
        .filter(|f| f.failing)
        .all(|f| f.category() == Category::Definite));
    assert!(v
        .records
        .iter()
        .any(|f| f.category() == Category::Possible && !f.failing));
    assert_eq!(v.exit_code(), 1);
    // default --show-leak-kinds: indirect and reachable not measured -> fail, never 0
    let def = vec![report("leaks-default.xml")];
    let v = judge(&def, &cfg("indirect=1MiB"));
    assert_eq!(v.budgets[0].measured, None);
    assert!(!v.budgets[0].ok);
    assert!(v.budgets[0]
        .reason
        .as_deref()
        .unwrap()
        .contains("not shown"));
    assert_eq!(v.exit_code(), 1);
    // errors: contexts, filtered by ours
    let mem = vec![report("memerr.xml")];
    let v = judge(&mem, &cfg("errors=5"));
    assert_eq!(v.budgets[0].measured, Some(5));
    assert!(v.budgets[0].ok);
    let v = judge(
        &mem,
        &Policy {
            ours: OurCode::new().function_pattern("invalid_*"),
            ..cfg("errors=2")
        },
    );
    assert_eq!(v.budgets[0].measured, Some(3));
    assert_eq!(v.exit_code(), 1);
    // CLI
    let o = vgxml(&[
        "check",
        "--max",
        "definite=0,indirect=0,possible=4KiB,errors=0",
        "leaks-default.xml",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(out.contains("budget indirect: not measured"), "{out}");
    assert!(out.contains("budget possible: 64 B within budget"), "{out}");
    assert!(out.contains("budget definite: 232 B OVER budget"), "{out}");
    let o = vgxml(&["check", "--max", "possible=4KiB,errors=0", "leaks-all.xml"]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let o = vgxml(&["check", "--max", "possible=4XB", "leaks-all.xml"]);
    assert_eq!(o.status.code(), Some(2));
}

// ---------------------------------------------------------------- suppressions

#[test]
fn unused_suppressions_found_used_ones_not() {
    let entries = supp::parse_file(&fixture("supp/leaks.supp")).unwrap();
    assert_eq!(entries.len(), 4);
    let r = report("supp-used.xml");
    let used: BTreeSet<&str> = r.suppcounts.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        used,
        BTreeSet::from(["leak-plain", "keep-reachable-by-src"])
    );
    let unused: Vec<&str> = supp::unused(&entries, std::slice::from_ref(&r))
        .iter()
        .map(|e| e.name.as_str())
        .collect();
    assert_eq!(unused, vec!["planted-never-called", "unused-cond"]);
    assert!(supp::loaded_by(&r, &fixture("supp/leaks.supp")));
    // a -q run has no <suppcounts>: it cannot tell, so it makes nothing unused
    let quiet = report("leaks-all.xml");
    assert!(!supp::suppcounts_known(&quiet));
    assert!(supp::unused(&entries, &[quiet]).is_empty());
    // CLI
    let o = vgxml(&[
        "suppressions",
        "--unused",
        "--supp",
        "supp/leaks.supp",
        "supp-used.xml",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(
        out.contains("supp/leaks.supp:23: planted-never-called"),
        "{out}"
    );
    assert!(!out.contains("leak-plain"), "{out}");
    assert!(out.contains("2 of 4 suppression(s) unused"), "{out}");
    let o = vgxml(&[
        "suppressions",
        "--unused",
        "--supp",
        "supp/leaks.supp",
        "leaks-all.xml",
    ]);
    assert_eq!(o.status.code(), Some(2), "-q runs cannot tell");
    assert!(stderr(&o).contains("-q"));
    // malformed: the file and line
    let d = tmpdir("supp");
    let bad = d.join("bad.supp");
    std::fs::write(&bad, "{\n  ok\n  Memcheck:Leak\n  fun:malloc\n}\n{\n  broken\n  Memcheck:Leak\n  fun:malloc\n  not a frame\n}\n").unwrap();
    let o = vgxml(&[
        "suppressions",
        "--unused",
        "--supp",
        bad.to_str().unwrap(),
        "supp-used.xml",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains(&format!("{}:10: expected fun:", bad.display())),
        "{}",
        stderr(&o)
    );
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn live_unused_suppressions_on_a_fresh_run() {
    if !Command::new("valgrind")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        println!("skipped: valgrind not on PATH");
        return;
    }
    let d = tmpdir("supplive");
    let r = build_and_run_with(
        &d,
        "leaks",
        &[format!(
            "--suppressions={}",
            fixture("supp/leaks.supp").display()
        )],
    );
    let entries = supp::parse_file(&fixture("supp/leaks.supp")).unwrap();
    let unused: Vec<&str> = supp::unused(&entries, &[r])
        .iter()
        .map(|e| e.name.as_str())
        .collect();
    assert_eq!(unused, vec!["planted-never-called", "unused-cond"]);
    let _ = std::fs::remove_dir_all(&d);
}

fn build_and_run_with(dir: &Path, name: &str, extra: &[String]) -> Report {
    let src = dir.join(format!("{name}.c"));
    std::fs::copy(fixture(&format!("programs/{name}.c")), &src).unwrap();
    assert!(Command::new("gcc")
        .args(["-g", "-O0", "-o"])
        .arg(dir.join(name))
        .arg(&src)
        .status()
        .unwrap()
        .success());
    let xml = dir.join("out.xml");
    let _ = Command::new("valgrind")
        .arg("--xml=yes")
        .arg(format!("--xml-file={}", xml.display()))
        .args(["--leak-check=full", "--show-leak-kinds=all"])
        .args(extra)
        .arg(dir.join(name))
        .output()
        .unwrap();
    read_path(&xml).unwrap()
}

// ---------------------------------------------------------------- per-test attribution, JUnit

#[test]
fn junit_one_case_per_test_naming_only_the_leaking_test() {
    let reports = vec![report("tests.xml")];
    let v = judge(&reports, &policy(OurCode::new()));
    let by_test: Vec<(Option<&str>, &str)> = v
        .records
        .iter()
        .map(|f| (f.test.as_deref(), f.record.kind.as_str()))
        .collect();
    assert!(by_test.contains(&(Some("tests/test_suite.py::test_b"), "Leak_DefinitelyLost")));
    assert!(by_test.contains(&(Some("tests/test_suite.py::test_c"), "InvalidRead")));
    assert!(
        by_test.contains(&(None, "Leak_DefinitelyLost")),
        "teardown leak: no test"
    );
    let cases = formats::junit::junit_cases(&v, &reports, &policy(OurCode::new()));
    let names: Vec<(&str, usize)> = cases
        .iter()
        .map(|c| (c.name.as_str(), c.failures.len()))
        .collect();
    assert_eq!(
        names,
        vec![
            ("test_a", 0),
            ("test_b", 1),
            ("test_c", 1),
            ("test_d", 0),
            ("(outside tests)", 1)
        ]
    );
    assert!(cases[1].failures[0].contains("leak_in_b"));
    let o = vgxml(&[
        "check",
        "--marker-prefix",
        MARKERS,
        "--format",
        "junit",
        "tests.xml",
    ]);
    let out = stdout(&o);
    assert!(out.contains("tests=\"5\" failures=\"3\""), "{out}");
    assert!(
        out.contains("<testcase name=\"test_a\" classname=\"tests/test_suite.py\"/>"),
        "{out}"
    );
}

// ---------------------------------------------------------------- SARIF

fn sarif_of(args: &[&str]) -> serde_json::Value {
    let o = vgxml(args);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    serde_json::from_str(&stdout(&o)).unwrap()
}

#[test]
fn sarif_has_what_github_code_scanning_requires() {
    let s = sarif_of(&[
        "check",
        "--format",
        "sarif",
        "--source-root",
        ".",
        "--ours",
        "*/programs/*",
        "tests.xml",
        "memerr.xml",
    ]);
    assert_eq!(s["version"], "2.1.0");
    assert!(s["$schema"].as_str().unwrap().contains("sarif"));
    let run = &s["runs"][0];
    let driver = &run["tool"]["driver"];
    assert_eq!(driver["name"], "vgxml");
    assert!(driver["version"].is_string());
    assert!(driver["informationUri"]
        .as_str()
        .unwrap()
        .starts_with("https://"));
    let rules = driver["rules"].as_array().unwrap();
    let rule_ids: Vec<&str> = rules.iter().map(|r| r["id"].as_str().unwrap()).collect();
    let mut sorted = rule_ids.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), rule_ids.len(), "a rule per kind");
    for r in rules {
        assert!(r["shortDescription"]["text"].is_string());
        assert!(r["defaultConfiguration"]["level"].is_string());
    }
    let results = run["results"].as_array().unwrap();
    assert_eq!(results.len(), 8);
    for res in results {
        let id = res["ruleId"].as_str().unwrap();
        assert_eq!(rule_ids[res["ruleIndex"].as_u64().unwrap() as usize], id);
        assert!(["error", "warning", "note"].contains(&res["level"].as_str().unwrap()));
        assert!(!res["message"]["text"].as_str().unwrap().is_empty());
        let fp = res["partialFingerprints"]["vgxmlFingerprint/v1"]
            .as_str()
            .unwrap();
        assert_eq!(fp.len(), 16);
        let pl = &res["locations"][0]["physicalLocation"];
        let uri = pl["artifactLocation"]["uri"].as_str().unwrap();
        assert!(uri.starts_with("programs/"), "repo-relative: {uri}");
        assert!(!uri.starts_with('/'));
        assert!(pl["region"]["startLine"].as_u64().unwrap() > 0);
    }
    // the location is the first frame of ours, not malloc
    let leak = results
        .iter()
        .find(|r| r["message"]["text"].as_str().unwrap().contains("48 bytes"))
        .unwrap();
    assert_eq!(
        leak["locations"][0]["physicalLocation"]["region"]["startLine"],
        23
    );
}

#[test]
fn sarif_reads_back_with_sarif_tools() {
    let ws = workspace_root();
    let Some(sarif) = find_tool(
        "VGXML_SARIF",
        &[
            ws.join("target/dev-vgxml-venv/bin/sarif"),
            ws.join("target/venv/bin/sarif"),
            PathBuf::from("sarif"),
        ],
    ) else {
        println!("skipped: sarif-tools (`sarif`) not installed (pip install sarif-tools; or set VGXML_SARIF)");
        return;
    };
    let d = tmpdir("sariftools");
    let f = d.join("r.sarif");
    let o = vgxml(&[
        "check",
        "--format",
        "sarif",
        "--source-root",
        ".",
        "--ours",
        "*/programs/*",
        "--marker-prefix",
        MARKERS,
        "-o",
        f.to_str().unwrap(),
        "tests.xml",
        "memerr.xml",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let o = Command::new(&sarif)
        .arg("summary")
        .arg(&f)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("error: 8"), "{out}");
    assert!(out.contains("Leak_DefinitelyLost"), "{out}");
    let csv = d.join("r.csv");
    let o = Command::new(&sarif)
        .arg("csv")
        .arg(&f)
        .arg("-o")
        .arg(&csv)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let text = std::fs::read_to_string(&csv).unwrap();
    assert!(
        text.contains("vgxml,error,Leak_DefinitelyLost,48 bytes in 1 blocks are definitely lost (test tests/test_suite.py::test_b),programs/tests.c,23"),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(&d);
}

// ---------------------------------------------------------------- GitLab, GitHub

#[test]
fn gitlab_code_quality_has_the_documented_fields() {
    let o = vgxml(&[
        "check",
        "--format",
        "gitlab",
        "--source-root",
        ".",
        "leaks-all.xml",
        "tests.xml",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let issues = v.as_array().unwrap();
    assert!(!issues.is_empty());
    let mut fps = BTreeSet::new();
    for i in issues {
        assert!(i["description"].as_str().is_some_and(|s| !s.is_empty()));
        assert!(i["check_name"].is_string());
        assert!(
            fps.insert(i["fingerprint"].as_str().unwrap().to_string()),
            "unique fingerprints"
        );
        assert!(["info", "minor", "major", "critical", "blocker"]
            .contains(&i["severity"].as_str().unwrap()));
        let path = i["location"]["path"].as_str().unwrap();
        assert!(!path.starts_with('/'), "{path}");
        assert!(i["location"]["lines"]["begin"].as_u64().unwrap() >= 1);
    }
}

#[test]
fn github_annotations_and_job_summary() {
    let d = tmpdir("github");
    let md = d.join("summary.md");
    let o = Command::new(env!("CARGO_BIN_EXE_vgxml"))
        .args([
            "check",
            "--format",
            "github",
            "--ours",
            "*/programs/*",
            "--marker-prefix",
            MARKERS,
            "tests.xml",
        ])
        .env("GITHUB_STEP_SUMMARY", &md)
        .current_dir(fixtures())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(
        lines
            .iter()
            .all(|l| l.starts_with("::error file=programs/tests.c,line=")),
        "{out}"
    );
    let summary = std::fs::read_to_string(&md).unwrap();
    assert!(summary.starts_with("## Valgrind: failed"), "{summary}");
    assert!(summary.contains("| Leak_DefinitelyLost | 48 | `leak_in_b` programs/tests.c:23 | tests/test_suite.py::test_b |"), "{summary}");
    // --summary-file wins, budgets in the table
    let md2 = d.join("s2.md");
    let o = vgxml(&[
        "check",
        "--format",
        "github",
        "--max",
        "definite=1KiB",
        "--summary-file",
        md2.to_str().unwrap(),
        "tests.xml",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(
        stdout(&o).starts_with("::warning "),
        "within budget: warnings"
    );
    let s2 = std::fs::read_to_string(&md2).unwrap();
    assert!(s2.contains("| definite | 55 | 1024 | ok |"), "{s2}");
    let _ = std::fs::remove_dir_all(&d);
}

// ---------------------------------------------------------------- HTML

fn html_page(files: &[&str]) -> String {
    let ours = OurCode::new();
    let reports: Vec<Report> = files.iter().map(|f| report(f)).collect();
    // The reports were made where the fixtures were then; their programs'
    // sources resolve under the fixtures directory.
    html::render(&reports, &policy(ours))
}

#[test]
fn html_is_self_contained_escaped_and_shows_sources() {
    let page = html_page(&[
        "tests.xml",
        "cxx.xml",
        "leaks-all.xml",
        "fork-parent.xml",
        "fork-child.xml",
    ]);
    assert!(page.starts_with("<!DOCTYPE html>"));
    for bad in ["<link", " src=", "http://", "@import", "url("] {
        assert!(!page.contains(bad), "external reference {bad:?}");
    }
    // https only in the CSP meta? none at all
    assert!(!page.contains("https://"));
    // C++ names with <> are escaped
    let r = report("cxx.xml");
    let templ = r
        .errors
        .iter()
        .flat_map(|e| e.stack.iter())
        .filter_map(|f| f.func.as_deref())
        .find(|f| f.contains('<'))
        .expect("a C++ frame with template arguments");
    assert!(!page.contains(templ));
    assert!(page.contains(&html::escape(templ)));
    // the source line of a frame of ours, escaped, highlighted
    assert!(
        page.contains(
            "<span class=\"hl\"><span class=\"ln\">   23</span>     char *p = malloc(48);</span>"
        ),
        "source context"
    );
    assert!(
        page.contains("#include &lt;stdlib.h&gt;") || page.contains("&lt;"),
        "escaped source"
    );
    // totals per kind and per process, records by fingerprint
    assert!(page.contains("id=\"totals\"") && page.contains("id=\"processes\""));
    assert!(page.contains("data-bytes=\"48\""));
    assert!(page.contains("tests/test_suite.py::test_b"));
}

#[test]
fn html_opens_in_headless_chromium_without_errors() {
    let Some(chromium) = find_tool(
        "VGXML_CHROMIUM",
        &[
            PathBuf::from("chromium"),
            PathBuf::from("chromium-browser"),
            PathBuf::from("google-chrome"),
        ],
    ) else {
        println!("skipped: no headless browser (apt-get install chromium; or set VGXML_CHROMIUM)");
        return;
    };
    let d = tmpdir("chromium");
    let page = d.join("report.html");
    let o = vgxml(&[
        "html",
        "--source-root",
        ".",
        "-o",
        page.to_str().unwrap(),
        "tests.xml",
        "cxx.xml",
        "leaks-all.xml",
        "memerr.xml",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = Command::new(&chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-extensions",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", d.join("profile").display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    let dom = stdout(&o);
    let log = stderr(&o);
    assert!(
        dom.contains("data-vgxml-ready=\"1\""),
        "the page's script did not finish\n{log}"
    );
    for l in log.lines().filter(|l| l.contains("CONSOLE")) {
        assert!(!l.to_lowercase().contains("error"), "console: {l}");
    }
    assert!(!log.contains("Uncaught"), "{log}");
    // sorted by bytes, descending: the first group is the largest
    let first = dom.find("data-bytes=\"").map(|i| &dom[i + 12..]).unwrap();
    let n: u64 = first[..first.find('"').unwrap()].parse().unwrap();
    let all: Vec<u64> = dom
        .match_indices("data-bytes=\"")
        .map(|(i, _)| {
            let s = &dom[i + 12..];
            s[..s.find('"').unwrap()].parse().unwrap()
        })
        .collect();
    assert_eq!(n, *all.iter().max().unwrap(), "sorted by bytes");
    let _ = std::fs::remove_dir_all(&d);
}
