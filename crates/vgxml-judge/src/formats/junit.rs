//! JUnit XML: one test case per announced test (passing ones too) plus
//! `(outside tests)`, or one per fingerprint without test markers; budgets
//! and incomplete input are cases too.

use super::budget_text;
use crate::judgement::{Judged, Judgement, Policy};
use crate::markers::tests_in;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use vgxml_parse::Report;

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

/// The test cases of a judgement. With test markers in the reports (the
/// policy's marker prefix), one case per test (passing ones included)
/// plus `(outside tests)` for records no test produced; without markers,
/// one case per fingerprint. Budgets and incomplete input are cases too.
pub fn junit_cases(v: &Judgement, reports: &[Report], policy: &Policy) -> Vec<TestCase> {
    let tests = tests_in(reports, &policy.markers);
    let mut cases: Vec<TestCase> = Vec::new();
    let text = |f: &Judged| {
        let mut s = String::new();
        if let Some(p) = f.pid {
            let _ = writeln!(s, "[{} pid {p}] fingerprint {}", f.source, f.fingerprint);
        } else {
            let _ = writeln!(s, "[{}] fingerprint {}", f.source, f.fingerprint);
        }
        s.push_str(&f.rendered);
        s
    };
    if !tests.is_empty() {
        let mut by_test: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        let mut outside = Vec::new();
        for f in v.records.iter().filter(|f| f.failing) {
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
        for fs in v.by_fingerprint().values() {
            let f = fs[0];
            let loc = f.first_frame.clone().unwrap_or_default();
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
