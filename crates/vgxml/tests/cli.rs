//! The `vgxml` binary: output shapes and exit codes.

mod common;

use common::*;

#[test]
fn summary_json_shape_and_exit_0() {
    let o = vgxml(&["summary", "--json", "fork-parent.xml", "fork-child.xml"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let out = stdout(&o);
    assert_eq!(out.lines().count(), 1, "exactly one JSON object");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["complete"], true);
    assert_eq!(v["leaks"]["definitely_lost"]["bytes"], 73);
    assert_eq!(v["leaks"]["definitely_lost"]["blocks"], 3);
    for k in ["indirectly_lost", "possibly_lost", "still_reachable"] {
        assert!(v["leaks"][k].is_object(), "{k}");
    }
    assert!(v["errors"].is_object());
    assert_eq!(v["processes"].as_array().unwrap().len(), 2);
}

#[test]
fn summary_not_shown_is_null_and_text_says_so() {
    let o = vgxml(&["summary", "--json", "leaks-default.xml"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert!(v["leaks"]["still_reachable"].is_null());
    assert!(v["leaks"]["indirectly_lost"].is_null());
    assert_eq!(v["derived"]["indirectly_lost_bytes"], 192);
    let o = vgxml(&["summary", "leaks-default.xml"]);
    assert!(stdout(&o).contains("still reachable: not shown"));
}

#[test]
fn summary_exit_3_when_truncated_and_2_when_invalid() {
    let dir = std::env::temp_dir().join(format!("vgxml-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let full = std::fs::read(fixture("leaks-all.xml")).unwrap();
    let cut = dir.join("cut.xml");
    std::fs::write(&cut, &full[..full.len() / 2]).unwrap();
    let bad = dir.join("bad.xml");
    std::fs::write(&bad, "<html/>").unwrap();
    let o = vgxml(&["summary", "--json", cut.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(3));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["complete"], false);
    let o = vgxml(&["summary", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("bad.xml") && err.contains("not a Valgrind XML report"),
        "{err}"
    );
    let o = vgxml(&["summary", "/nonexistent.xml"]);
    assert_eq!(o.status.code(), Some(2));
    let o = vgxml(&["check", cut.to_str().unwrap(), "--fail-on", "errors"]);
    assert_eq!(o.status.code(), Some(3), "incomplete is never clean");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn check_verdicts() {
    let o = vgxml(&["check", "leaks-all.xml"]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(
        out.contains("Leak_DefinitelyLost: 224 (32 direct, 192 indirect) bytes"),
        "{out}"
    );
    assert!(!out.contains("loss record"));
    let o = vgxml(&["check", "leaks-all.xml", "--fail-on", "errors"]);
    assert_eq!(o.status.code(), Some(0));
    let o = vgxml(&["check", "memerr.xml", "--ours", "*/libnothing.so"]);
    assert_eq!(o.status.code(), Some(0), "nothing in our code");
    let o = vgxml(&[
        "check",
        "memerr.xml",
        "--ours-src",
        "/work/",
        "--fail-on",
        "errors",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("5 offending record(s)"));
}

#[test]
fn check_github_and_junit_formats() {
    let o = vgxml(&[
        "check",
        "memerr.xml",
        "--ours-fn",
        "invalid_*",
        "--fail-on",
        "errors",
        "--format",
        "github",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(lines[0].starts_with("::error file="), "{out}");
    assert!(lines[0].contains("memerr.c,line=12,"), "{out}");
    let all = "definite,indirect,possible,errors";
    let o = vgxml(&[
        "check",
        "leaks-all.xml",
        "--fail-on",
        all,
        "--format",
        "junit",
    ]);
    let out = stdout(&o);
    assert!(out.starts_with("<?xml"));
    // no test markers: one test case per fingerprint (the two leak_plain
    // records differ only by the caller's line: one fingerprint)
    assert!(
        out.contains("<testsuite name=\"vgxml check\" tests=\"5\" failures=\"5\">"),
        "{out}"
    );
    let o = vgxml(&[
        "check",
        "leaks-all.xml",
        "--fail-on",
        all,
        "--format",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["offending"], 10);
}

#[test]
fn check_fails_by_default_on_what_the_memtest_stage_fails_on() {
    // possibly lost is judged by growth, not at exit: the default leaves it out
    let o = vgxml(&["check", "leaks-all.xml", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let kinds: std::collections::BTreeSet<String> = v["issues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["category"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(!kinds.contains("possible"), "{kinds:?}");
    assert!(kinds.contains("definite"), "{kinds:?}");
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn suppressions_are_deduplicated() {
    let o = vgxml(&["suppressions", "supp.xml", "supp.xml"]);
    assert_eq!(o.status.code(), Some(0));
    let out = stdout(&o);
    assert_eq!(
        out.matches("<insert_a_suppression_name_here>").count(),
        5,
        "{out}"
    );
    assert!(out.contains("Memcheck:Addr4\n   fun:invalid_read\n   fun:main\n}"));
}

#[test]
fn records_and_usage() {
    let o = vgxml(&["records", "segv.xml"]);
    assert_eq!(o.status.code(), Some(0));
    let out = stdout(&o);
    for line in out.lines() {
        let _: serde_json::Value = serde_json::from_str(line).unwrap();
    }
    assert!(out.contains("\"fatal_signal\""));
    assert_eq!(vgxml(&["--help"]).status.code(), Some(0));
    let bare = vgxml(&[]);
    assert_eq!(bare.status.code(), Some(0), "vgxml alone prints its help");
    assert!(stdout(&bare).contains("Usage: vgxml <COMMAND>"));
    assert_eq!(
        vgxml(&["summary", "--format", "nope", "x"]).status.code(),
        Some(2)
    );
    assert_eq!(vgxml(&["frobnicate", "x"]).status.code(), Some(2));
}

#[test]
fn each_subcommand_has_its_own_help_and_rejects_flags_of_others() {
    let o = vgxml(&["check", "--help"]);
    assert_eq!(o.status.code(), Some(0));
    let help = stdout(&o);
    assert!(
        help.contains("--fail-on") && help.contains("--baseline"),
        "{help}"
    );
    assert!(
        !help.contains("\n      --unused"),
        "check --help shows suppressions' flags: {help}"
    );
    let o = vgxml(&["suppressions", "--help"]);
    let help = stdout(&o);
    assert!(
        help.contains("\n      --unused") && !help.contains("--fail-on"),
        "{help}"
    );
    // flags that do not apply are errors, not silently accepted
    for args in [
        &["summary", "--fail-on", "errors", "leaks-all.xml"][..],
        &["records", "--baseline", "x.json", "leaks-all.xml"][..],
        &["diff", "--max", "definite=0", "a.xml", "b.xml"][..],
    ] {
        let o = vgxml(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stdout(&o));
        assert!(stderr(&o).contains("unexpected argument"), "{}", stderr(&o));
    }
    // the exit codes are documented in every --help
    for cmd in [
        "summary",
        "check",
        "baseline",
        "diff",
        "suppressions",
        "html",
        "records",
    ] {
        let help = stdout(&vgxml(&[cmd, "--help"]));
        assert!(
            help.contains("Exit status:") && help.contains("3  some report was cut"),
            "{cmd}: {help}"
        );
    }
}

#[test]
fn check_judges_growth_between_checkpoints() {
    let args = [
        "check",
        "--ours",
        "*checkpoints.c",
        "--marker-prefix",
        "test-begin:",
        "--checkpoint-prefix",
        "checkpoint:",
        "--fail-on",
        "errors",
        "checkpoints.xml",
    ];
    let o = vgxml(&args);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let out = stdout(&o);
    for t in ["t_grows_in_place", "t_list", "t_freed_at_exit"] {
        assert!(
            out.contains(&format!("grows in every round [test: {t}]")),
            "{t}: {out}"
        );
    }
    assert!(!out.contains("t_bounded"), "{out}");
    assert!(
        out.contains("512 B/1 blocks -> 1024 B/1 blocks -> 2048 B/1 blocks -> 4096 B/1 blocks"),
        "{out}"
    );
    // The closing count does not say "0 offending" alone while sites grow.
    assert!(
        out.contains("0 offending record(s) and 3 allocation site(s) growing in every round"),
        "{out}"
    );
    // without checkpoints nothing of this is judged
    let o = vgxml(&["check", "--fail-on", "errors", "checkpoints.xml"]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
}

#[test]
fn exit_codes_tell_bad_input_cut_and_complete_apart() {
    // several complete reports in one file: every one read, complete
    let o = vgxml(&["summary", "--json", "multi/appended.xml"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["processes"].as_array().unwrap().len(), 2, "{v}");
    // a merge-conflict marker: malformed after a valid start, partial: bad input
    let o = vgxml(&["summary", "handmade/merge-conflict.xml"]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    assert!(stdout(&o).contains("INCOMPLETE"), "{}", stdout(&o));
    // a killed run: cut, its records kept
    let o = vgxml(&["summary", "multi/killed-then-complete.xml"]);
    assert_eq!(o.status.code(), Some(3), "{}", stdout(&o));
}

#[test]
fn every_format_names_the_chain_of_our_frames() {
    let ours = ["--ours", "*programs/*", "--source-root", "."];
    let chain = "programs/cxx.cpp:8 <- programs/cxx.cpp:20 <- programs/cxx.cpp:27";
    let o = vgxml(&[&["check"][..], &ours, &["cxx.xml"]].concat());
    assert!(
        stdout(&o).contains(&format!("  our frames: {chain}")),
        "{}",
        stdout(&o)
    );

    let o = vgxml(&[&["check", "--format", "sarif"][..], &ours, &["cxx.xml"]].concat());
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let result = v["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["properties"]["chain"] == chain)
        .expect("a result with the chain");
    let related = result["relatedLocations"].as_array().unwrap();
    let lines: Vec<u64> = related
        .iter()
        .map(|l| {
            l["physicalLocation"]["region"]["startLine"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(lines, [20, 27]);
    assert!(related
        .iter()
        .all(|l| l["physicalLocation"]["artifactLocation"]["uri"] == "programs/cxx.cpp"));

    let page = std::env::temp_dir().join(format!("vgxml-chain-{}.html", std::process::id()));
    let page_arg = page.display().to_string();
    let o = vgxml(&[&["html", "-o", &page_arg][..], &ours, &["cxx.xml"]].concat());
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let html = std::fs::read_to_string(&page).unwrap();
    std::fs::remove_file(&page).unwrap();
    assert!(
        html.contains(&format!(
            "our frames, innermost first: <code>{}</code>",
            chain.replace('<', "&lt;")
        )),
        "no chain in the page"
    );
}

#[test]
fn one_time_functions_are_listed_not_failing() {
    let ours = ["--ours", "*programs/*", "--source-root", "."];
    let o = vgxml(&[&["check"][..], &ours, &["leaks-all.xml"]].concat());
    assert_eq!(o.status.code(), Some(1));
    // Every leak of this program is allocated under `main`: said to run once,
    // nothing fails, and each record says why.
    let o = vgxml(
        &[
            &["check", "--one-time-fn", "main"][..],
            &ours,
            &["leaks-all.xml"],
        ]
        .concat(),
    );
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let out = stdout(&o);
    assert!(
        out.contains("(one-time: allocated by a function that runs once)"),
        "{out}"
    );
    assert!(out.contains("0 offending record(s)"), "{out}");
    let o = vgxml(
        &[
            &["check", "--one-time-fn", "main", "--format", "json"][..],
            &ours,
            &["leaks-all.xml"],
        ]
        .concat(),
    );
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let issues = v["issues"].as_array().unwrap();
    assert!(!issues.is_empty());
    assert!(issues
        .iter()
        .all(|i| i["rule"] == "one_time_function" && i["failing"] == false));
    // A pattern that matches nothing changes nothing.
    let o = vgxml(
        &[
            &["check", "--one-time-fn", "no_such_fn*"][..],
            &ours,
            &["leaks-all.xml"],
        ]
        .concat(),
    );
    assert_eq!(o.status.code(), Some(1));
}
