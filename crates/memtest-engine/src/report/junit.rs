//! JUnit XML of a run: a test suite per stage, a test case per test with a
//! failure for each of its findings (findings of no test go to a case of
//! their own), so that CI test reporters show which test leaked.

use std::collections::BTreeMap;

use vgxml_judge::html::escape;

use super::{Finding, RunReport};

pub fn render(report: &RunReport) -> String {
    let mut out =
        String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"memtest\">\n");
    for st in &report.stages {
        let mut cases: BTreeMap<String, Vec<&Finding>> = report
            .tests
            .iter()
            .map(|t| (t.clone(), Vec::new()))
            .collect();
        for f in &st.findings {
            let key = f.test.clone().unwrap_or_else(|| "(the whole run)".into());
            cases.entry(key).or_default().push(f);
        }
        let failures = cases.values().filter(|v| !v.is_empty()).count();
        out += &format!(
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" time=\"{:.3}\">\n",
            st.stage,
            cases.len(),
            st.seconds
        );
        for (test, findings) in &cases {
            let (class, name) = match test.rsplit_once("::") {
                Some((c, n)) => (c, n),
                None => (st.stage.as_str(), test.as_str()),
            };
            out += &format!(
                "    <testcase classname=\"{}\" name=\"{}\"",
                escape(class),
                escape(name)
            );
            if findings.is_empty() {
                out += "/>\n";
                continue;
            }
            out += ">\n";
            for f in findings {
                out += &format!(
                    "      <failure type=\"{}\" message=\"{}\">{}</failure>\n",
                    escape(&format!("{:?}", f.rule)),
                    escape(f.line().lines().next().unwrap_or_default()),
                    escape(&format!("{}\n{}", f.line(), f.detail))
                );
            }
            out += "    </testcase>\n";
        }
        out += "  </testsuite>\n";
    }
    out += "</testsuites>\n";
    out
}
