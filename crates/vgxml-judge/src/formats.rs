//! CI output formats of a [`Verdict`]: SARIF 2.1.0 (GitHub code
//! scanning), GitLab Code Quality, JUnit XML and GitHub workflow commands
//! with a Markdown job summary.

use crate::budget::{human_bytes, Category};
use crate::check::{tests_in, Finding, Verdict};
use crate::ours::OurCode;
use crate::render::{normalize_text, render_frame, render_record};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use vgxml_parse::Report;
use vgxml_parse::{ErrorRecord, Frame, Kind};

/// Where the tool is documented (SARIF `tool.driver.informationUri`).
pub const DEFAULT_INFORMATION_URI: &str = "https://valgrind.org/docs/manual/mc-manual.html";

/// A source path relative to the repository root `root`: the path with
/// `root` stripped; else the longest tail of the path that names a file
/// under `root` (the report came from another checkout or build
/// directory); else `None`. Relative paths are kept as they are.
pub fn repo_relative(path: &str, root: &Path) -> Option<String> {
    let p = Path::new(path);
    if p.is_relative() {
        return Some(path.trim_start_matches("./").to_string());
    }
    if let Ok(rest) = p.strip_prefix(root) {
        return Some(rest.to_string_lossy().into_owned());
    }
    let comps: Vec<_> = p.components().skip(1).collect();
    for i in 0..comps.len() {
        let tail: std::path::PathBuf = comps[i..].iter().collect();
        if root.join(&tail).is_file() {
            return Some(tail.to_string_lossy().into_owned());
        }
    }
    None
}

/// The location of a record: `(repo-relative or absolute path, line)`.
pub fn location(
    r: &ErrorRecord,
    ours: &OurCode,
    root: &Path,
) -> Option<(String, Option<u32>, bool)> {
    let f = ours.location_frame(r)?;
    let path = f.path()?;
    Some(match repo_relative(&path, root) {
        Some(rel) => (rel, f.line, true),
        None => (path, f.line, false),
    })
}

/// A one-line description of a kind (SARIF rule short description).
pub fn describe_kind(k: &Kind) -> &'static str {
    match k {
        Kind::LeakDefinitelyLost => "Memory definitely lost: no pointer to the block remains",
        Kind::LeakIndirectlyLost => "Memory indirectly lost: only reachable from lost blocks",
        Kind::LeakPossiblyLost => {
            "Memory possibly lost: only interior pointers to the block remain"
        }
        Kind::LeakStillReachable => "Memory still reachable at exit",
        Kind::InvalidRead => "Invalid read of memory",
        Kind::InvalidWrite => "Invalid write of memory",
        Kind::InvalidFree => "Invalid free",
        Kind::MismatchedFree => "Mismatched allocation and deallocation functions",
        Kind::UninitCondition => "Conditional jump or move depends on uninitialised value(s)",
        Kind::UninitValue => "Use of uninitialised value",
        Kind::SyscallParam => {
            "System call parameter points to unaddressable or uninitialised bytes"
        }
        Kind::Overlap => "Source and destination overlap",
        Kind::FishyValue => "Suspicious argument value (e.g. negative size)",
        Kind::InvalidJump => "Jump to an invalid address",
        Kind::Race => "Possible data race",
        _ => "Valgrind error",
    }
}

fn default_level(k: &Kind) -> &'static str {
    match k {
        Kind::LeakStillReachable => "note",
        Kind::LeakPossiblyLost | Kind::LeakIndirectlyLost => "warning",
        _ => "error",
    }
}

/// The message of a finding (one line, normalised). It does not start with
/// the kind (the rule id says it; sarif-tools 3 loses a message that starts
/// with its rule id).
pub fn message(f: &Finding<'_>) -> String {
    let mut s = normalize_text(&f.record.what);
    if let Some(fr) = f.record.stack.first().filter(|_| !f.record.is_leak()) {
        let _ = write!(s, " in {}", render_frame(fr));
    }
    if let Some(t) = &f.test {
        let _ = write!(s, " (test {t})");
    }
    s
}

fn physical(path: &str, line: Option<u32>, in_repo: bool) -> Value {
    let uri = if in_repo {
        path.to_string()
    } else {
        format!("file://{path}")
    };
    let mut v = json!({ "artifactLocation": { "uri": uri } });
    if in_repo {
        v["artifactLocation"]["uriBaseId"] = json!("%SRCROOT%");
    }
    if let Some(l) = line.filter(|l| *l > 0) {
        v["region"] = json!({ "startLine": l });
    }
    v
}

fn frame_location(f: &Frame, root: &Path) -> Value {
    let mut loc = json!({ "message": { "text": render_frame(f) } });
    if let Some(p) = f.path() {
        let (path, in_repo) = match repo_relative(&p, root) {
            Some(r) => (r, true),
            None => (p, false),
        };
        loc["physicalLocation"] = physical(&path, f.line, in_repo);
    }
    loc
}

/// SARIF 2.1.0 for GitHub code scanning: a rule per kind, a result per
/// finding located at the first frame of ours (repo-relative URI), the
/// fingerprint in `partialFingerprints`, the whole stack in `stacks`.
pub fn sarif(v: &Verdict<'_>, ours: &OurCode, root: &Path, information_uri: &str) -> Value {
    let mut kinds: BTreeMap<String, &Kind> = BTreeMap::new();
    for f in &v.findings {
        kinds
            .entry(f.record.kind.as_str().to_string())
            .or_insert(&f.record.kind);
    }
    let rule_index: BTreeMap<&str, usize> = kinds
        .keys()
        .enumerate()
        .map(|(i, k)| (k.as_str(), i))
        .collect();
    let rules: Vec<Value> = kinds
        .iter()
        .map(|(id, k)| {
            json!({
                "id": id,
                "name": id.replace('_', ""),
                "shortDescription": { "text": describe_kind(k) },
                "fullDescription": { "text": format!("Valgrind reported {id}: {}.", describe_kind(k)) },
                "help": { "text": format!("{}. See the Valgrind Memcheck manual.", describe_kind(k)) },
                "helpUri": "https://valgrind.org/docs/manual/mc-manual.html",
                "defaultConfiguration": { "level": default_level(k) },
                "properties": { "tags": ["memory", "valgrind"], "precision": "high" }
            })
        })
        .collect();
    let results: Vec<Value> = v
        .findings
        .iter()
        .map(|f| {
            let mut res = json!({
                "ruleId": f.record.kind.as_str(),
                "ruleIndex": rule_index[f.record.kind.as_str()],
                "level": if f.failing { "error" } else { "warning" },
                "message": { "text": message(f) },
                "partialFingerprints": { "vgxmlFingerprint/v1": f.fingerprint },
                "properties": { "fingerprintKey": f.key, "source": f.source },
            });
            let loc = match location(f.record, ours, root) {
                Some((p, l, in_repo)) => physical(&p, l, in_repo),
                None => physical(
                    f.record
                        .stack
                        .first()
                        .and_then(|fr| fr.obj.clone())
                        .as_deref()
                        .unwrap_or("unknown"),
                    None,
                    false,
                ),
            };
            res["locations"] = json!([{ "physicalLocation": loc }]);
            if let Some(b) = f.record.direct_bytes() {
                res["properties"]["bytes"] = json!(b);
                res["properties"]["blocks"] = json!(f.record.leaked_blocks);
            }
            if let Some(t) = &f.test {
                res["properties"]["test"] = json!(t);
            }
            if !f.record.stack.is_empty() {
                res["stacks"] = json!([{
                    "message": { "text": "stack" },
                    "frames": f.record.stack.iter().map(|fr| json!({
                        "location": frame_location(fr, root),
                        "properties": { "ours": ours.matches_frame(fr) }
                    })).collect::<Vec<_>>()
                }]);
            }
            res
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "vgxml",
                "version": env!("CARGO_PKG_VERSION"),
                "semanticVersion": env!("CARGO_PKG_VERSION"),
                "informationUri": information_uri,
                "rules": rules
            }},
            "originalUriBaseIds": { "%SRCROOT%": { "uri": format!("file://{}/", root.display().to_string().trim_end_matches('/')) } },
            "results": results
        }]
    })
}

/// GitLab Code Quality JSON: one issue per fingerprint (GitLab requires
/// unique fingerprints in a report), with `description`, `check_name`,
/// `fingerprint`, `severity` and `location.path` / `location.lines.begin`.
pub fn gitlab(v: &Verdict<'_>, ours: &OurCode, root: &Path) -> Value {
    let mut by_fp: BTreeMap<&str, Vec<&Finding<'_>>> = BTreeMap::new();
    for f in &v.findings {
        by_fp.entry(f.fingerprint.as_str()).or_default().push(f);
    }
    let issues: Vec<Value> = by_fp
        .values()
        .map(|fs| {
            let f = fs[0];
            let mut description = message(f);
            if fs.len() > 1 {
                let _ = write!(description, " [{} records]", fs.len());
            }
            let (path, line) = match location(f.record, ours, root) {
                Some((p, l, _)) => (p, l.unwrap_or(1)),
                None => ("unknown".to_string(), 1),
            };
            let severity = if !fs.iter().any(|f| f.failing) {
                "minor"
            } else {
                match f.category {
                    Category::Definite | Category::Errors => "critical",
                    Category::Indirect | Category::Possible => "major",
                    Category::Reachable => "minor",
                }
            };
            json!({
                "type": "issue",
                "description": description,
                "check_name": f.record.kind.as_str(),
                "fingerprint": f.fingerprint,
                "severity": severity,
                "categories": ["Bug Risk"],
                "location": { "path": path, "lines": { "begin": line } }
            })
        })
        .collect();
    Value::Array(issues)
}

fn xml_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '&' => o.push_str("&amp;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' && c != '\r' => o.push('?'),
            c => o.push(c),
        }
    }
    o
}

/// A JUnit test case: name, classname, failure texts (none: passed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestCase {
    pub name: String,
    pub classname: String,
    pub failures: Vec<String>,
}

/// The test cases of a verdict. With test markers in the reports
/// (`sluice-test-begin: ID`), one case per test (passing ones included)
/// plus `(outside tests)` for records no test produced; without markers,
/// one case per fingerprint. Budgets and incomplete input are cases too.
pub fn junit_cases(
    v: &Verdict<'_>,
    reports: &[Report],
    ours: &OurCode,
    prefix: &str,
) -> Vec<TestCase> {
    let tests = tests_in(reports, prefix);
    let mut cases: Vec<TestCase> = Vec::new();
    let text = |f: &Finding<'_>| {
        let mut s = String::new();
        if let Some(p) = f.pid {
            let _ = writeln!(s, "[{} pid {p}] fingerprint {}", f.source, f.fingerprint);
        } else {
            let _ = writeln!(s, "[{}] fingerprint {}", f.source, f.fingerprint);
        }
        s.push_str(&render_record(f.record, ours));
        s
    };
    if !tests.is_empty() {
        let mut by_test: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        let mut outside = Vec::new();
        for f in v.findings.iter().filter(|f| f.failing) {
            match &f.test {
                Some(t) => by_test.entry(t.as_str()).or_default().push(text(f)),
                None => outside.push(text(f)),
            }
        }
        for t in &tests {
            let (class, name) = match t.rsplit_once("::") {
                Some((c, n)) => (c.to_string(), n.to_string()),
                None => ("valgrind".to_string(), t.clone()),
            };
            cases.push(TestCase {
                name,
                classname: class,
                failures: by_test.remove(t.as_str()).unwrap_or_default(),
            });
        }
        for (t, fs) in by_test {
            cases.push(TestCase {
                name: t.to_string(),
                classname: "valgrind".into(),
                failures: fs,
            });
        }
        cases.push(TestCase {
            name: "(outside tests)".into(),
            classname: "valgrind".into(),
            failures: outside,
        });
    } else {
        let mut by_fp: BTreeMap<&str, Vec<&Finding<'_>>> = BTreeMap::new();
        for f in &v.findings {
            by_fp.entry(f.fingerprint.as_str()).or_default().push(f);
        }
        for fs in by_fp.values() {
            let f = fs[0];
            let loc = ours
                .location_frame(f.record)
                .map(render_frame)
                .unwrap_or_default();
            cases.push(TestCase {
                name: format!("{} {} [{}]", f.record.kind, loc, f.fingerprint),
                classname: "valgrind".into(),
                failures: fs.iter().filter(|f| f.failing).map(|f| text(f)).collect(),
            });
        }
    }
    for b in &v.budgets {
        cases.push(TestCase {
            name: format!("budget {}", b.budget.category),
            classname: "valgrind.budgets".into(),
            failures: if b.ok { vec![] } else { vec![budget_text(b)] },
        });
    }
    if !v.complete {
        cases.push(TestCase {
            name: "complete".into(),
            classname: "valgrind".into(),
            failures: vec!["at least one report is incomplete".into()],
        });
    }
    if cases.is_empty() {
        cases.push(TestCase {
            name: "valgrind".into(),
            classname: "valgrind".into(),
            failures: vec![],
        });
    }
    cases
}

/// One budget's line: `possible: 4.5 KiB > 4.0 KiB`, `indirect: not measured (...)`.
pub fn budget_text(b: &crate::check::BudgetOutcome) -> String {
    let fmt = |n: u64| {
        if b.budget.category == Category::Errors {
            format!("{n} context(s)")
        } else if n < 1024 {
            format!("{n} B")
        } else {
            format!("{n} B ({})", human_bytes(n))
        }
    };
    match b.measured {
        None => format!(
            "{}: not measured ({}); budget {}",
            b.budget.category,
            b.reason.as_deref().unwrap_or("no data"),
            fmt(b.budget.limit)
        ),
        Some(m) => format!(
            "{}: {} {} budget {}",
            b.budget.category,
            fmt(m),
            if b.ok { "within" } else { "OVER" },
            fmt(b.budget.limit)
        ),
    }
}

/// JUnit XML of [`junit_cases`].
pub fn junit_xml(suite: &str, cases: &[TestCase]) -> String {
    let failures = cases.iter().filter(|c| !c.failures.is_empty()).count();
    let mut out = String::new();
    let _ = writeln!(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
    let _ = writeln!(
        out,
        "<testsuites name=\"{0}\" tests=\"{1}\" failures=\"{2}\">\n  <testsuite name=\"{0}\" tests=\"{1}\" failures=\"{2}\">",
        xml_escape(suite),
        cases.len(),
        failures
    );
    for c in cases {
        if c.failures.is_empty() {
            let _ = writeln!(
                out,
                "    <testcase name=\"{}\" classname=\"{}\"/>",
                xml_escape(&c.name),
                xml_escape(&c.classname)
            );
        } else {
            let body = c.failures.join("\n");
            let _ = writeln!(
                out,
                "    <testcase name=\"{}\" classname=\"{}\">\n      <failure message=\"{}\">{}</failure>\n    </testcase>",
                xml_escape(&c.name),
                xml_escape(&c.classname),
                xml_escape(&format!(
                    "{} Valgrind finding(s): {}",
                    c.failures.len(),
                    c.failures[0].lines().nth(1).unwrap_or("")
                )),
                xml_escape(&body)
            );
        }
    }
    let _ = writeln!(out, "  </testsuite>\n</testsuites>");
    out
}

/// Escapes the message of a GitHub workflow command.
pub fn gh_escape(s: &str) -> String {
    s.trim_end()
        .replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a property of a GitHub workflow command.
pub fn gh_prop(s: &str) -> String {
    gh_escape(s).replace(':', "%3A").replace(',', "%2C")
}

/// `::error file=...,line=...,title=...::message` per finding (`::warning`
/// for findings within budget), plus budget and baseline lines.
pub fn github_annotations(v: &Verdict<'_>, ours: &OurCode, root: &Path) -> String {
    let mut out = String::new();
    for f in &v.findings {
        let mut props = String::new();
        if let Some((p, l, _)) = location(f.record, ours, root) {
            let _ = write!(props, "file={}", gh_prop(&p));
            if let Some(l) = l {
                let _ = write!(props, ",line={l}");
            }
            props.push(',');
        }
        let _ = write!(
            props,
            "title={}",
            gh_prop(&format!("Valgrind {}", f.record.kind))
        );
        let mut body = String::new();
        if let Some(t) = &f.test {
            let _ = writeln!(body, "test: {t}");
        }
        body.push_str(&render_record(f.record, ours));
        let _ = writeln!(
            out,
            "::{} {props}::{}",
            if f.failing { "error" } else { "warning" },
            gh_escape(&body)
        );
    }
    for b in v.budgets.iter().filter(|b| !b.ok) {
        let _ = writeln!(
            out,
            "::error title=Valgrind budget::{}",
            gh_escape(&budget_text(b))
        );
    }
    if !v.complete {
        let _ = writeln!(
            out,
            "::error title=Valgrind report incomplete::at least one report is incomplete"
        );
    }
    out
}

fn md_escape(s: &str) -> String {
    s.replace('|', "\\|")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The Markdown job summary (for `$GITHUB_STEP_SUMMARY`).
pub fn markdown_summary(v: &Verdict<'_>, ours: &OurCode, root: &Path) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "## Valgrind: {}\n",
        if v.failed() {
            "failed"
        } else if !v.complete {
            "incomplete input"
        } else {
            "passed"
        }
    );
    if !v.budgets.is_empty() {
        let _ = writeln!(
            s,
            "| budget | measured | limit | verdict |\n|---|---|---|---|"
        );
        for b in &v.budgets {
            let m = b
                .measured
                .map_or("not measured".to_string(), |m| m.to_string());
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} |",
                b.budget.category,
                m,
                b.budget.limit,
                if b.ok { "ok" } else { "**fail**" }
            );
        }
        s.push('\n');
    }
    if v.findings.is_empty() {
        let _ = writeln!(s, "No findings.\n");
    } else {
        let _ = writeln!(
            s,
            "| kind | bytes | where | test | fingerprint |\n|---|---|---|---|---|"
        );
        for f in &v.findings {
            let loc = match location(f.record, ours, root) {
                Some((p, Some(l), _)) => format!("{p}:{l}"),
                Some((p, None, _)) => p,
                None => String::new(),
            };
            let func = ours
                .location_frame(f.record)
                .and_then(|fr| fr.func.clone())
                .unwrap_or_default();
            let _ = writeln!(
                s,
                "| {}{} | {} | `{}` {} | {} | `{}` |",
                f.record.kind,
                if f.failing { "" } else { " (within budget)" },
                f.record
                    .direct_bytes()
                    .map_or(String::new(), |b| b.to_string()),
                md_escape(&func),
                md_escape(&loc),
                md_escape(f.test.as_deref().unwrap_or("")),
                f.fingerprint
            );
        }
        s.push('\n');
    }
    if !v.gone.is_empty() {
        let _ = writeln!(s, "Gone since the baseline (fixed): {}\n", v.gone.len());
        for g in &v.gone {
            let _ = writeln!(
                s,
                "- {} at `{}` `{}`",
                g.kind,
                md_escape(&g.first_frame),
                g.fingerprint
            );
        }
        s.push('\n');
    }
    if !v.complete {
        let _ = writeln!(s, "**At least one report is incomplete (truncated).**\n");
    }
    s
}
