//! On GitHub Actions: the job summary (Markdown) and one `::error`
//! annotation per finding, escaped as the workflow-command syntax needs.

use std::io::Write;

use vgxml_judge::formats::github::{gh_escape, gh_prop};

use super::{Finding, StageReport};

/// Writes the annotations to stdout and appends the summary to
/// `$GITHUB_STEP_SUMMARY`; does nothing outside GitHub Actions.
pub fn report(stages: &[StageReport], verdict: &str, python: &str) {
    if std::env::var_os("GITHUB_ACTIONS").is_none() {
        return;
    }
    for st in stages {
        for f in &st.findings {
            println!("{}", annotation(st, f));
        }
    }
    let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY") else {
        return;
    };
    if let Ok(mut file) = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
    {
        let _ = file.write_all(summary(stages, verdict, python).as_bytes());
    }
}

/// The first place in our code: the chain's innermost frame, else the location.
fn place(f: &Finding) -> Option<(String, u32)> {
    if let Some(p) = f.chain.first().filter(|p| p.in_repo) {
        return Some((p.file.clone()?, p.line?));
    }
    let (file, line) = f
        .location
        .as_deref()?
        .split_whitespace()
        .next()?
        .rsplit_once(':')?;
    Some((file.to_owned(), line.parse().ok()?))
}

/// One `::error` workflow command.
fn annotation(st: &StageReport, f: &Finding) -> String {
    let msg = format!(
        "{} stage: {}{}",
        st.stage,
        f.what,
        f.test
            .as_ref()
            .map(|t| format!(" [{t}]"))
            .unwrap_or_default()
    );
    let props = match place(f) {
        Some((file, line)) => format!("file={},line={line},", gh_prop(&file)),
        None => String::new(),
    };
    format!("::error {props}title=memtest::{}", gh_escape(&msg))
}

/// Markdown cells must not break the table.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// The job summary: the verdict, the findings that decided it with their
/// `file:line`, then what ran; the page (`report.html`, an artifact) has the rest.
pub fn summary(stages: &[StageReport], verdict: &str, python: &str) -> String {
    let failing: usize = stages.iter().map(|s| s.findings.len()).sum();
    let mut md = format!("## memtest: {verdict}\n\n");
    md += &if failing == 0 {
        format!("Nothing of ours leaks, grows or misuses memory (CPython {python}).\n")
    } else {
        format!(
            "{failing} finding{} decided it (CPython {python}):\n\n",
            if failing == 1 { "" } else { "s" }
        )
    };
    for st in stages {
        for f in &st.findings {
            md += &format!("- **{}**", cell(&f.what));
            if let Some(t) = &f.test {
                md += &format!(" in `{t}`");
            }
            if let Some((file, line)) = place(f) {
                md += &format!(" at `{file}:{line}`");
            }
            if let Some(a) = f.amount() {
                md += &format!(": {a}");
            }
            md += &format!(" ({} stage: {})\n", st.stage, f.rule.explained(st.stage));
            if let Some(c) = f.chain_line() {
                md += &format!("  - our frames, innermost first: `{}`\n", cell(&c));
            }
            if let Some(o) = f.origin.first() {
                md += &format!("  - the uninitialised value was created at `{o}`\n");
            }
        }
    }
    md += "\n| stage | verdict | time | tests | iterations | processes | snapshot |\n|---|---|---|---|---|---|---|\n";
    for st in stages {
        md += &format!(
            "| {} | {} | {:.1} s | {} | {} | {} | {} |\n",
            st.stage,
            st.verdict.as_str(),
            st.seconds,
            st.tests,
            cell(&st.iterations),
            st.processes,
            cell(&st.snapshot.to_string())
        );
    }
    md += "\nThe memtest page (`report.html` in the output directory: keep it as the job's artifact) shows each finding's curve and source.\n";
    md
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Rule, StageName};

    #[test]
    fn the_job_summary_says_what_the_page_says() {
        let mut st = StageReport::new(StageName::Valgrind);
        st.tests = 15;
        st.iterations = "warm-up 5, then 3 rounds | a leak search after each".into();
        st.findings.push(Finding {
            test: Some("tests/test_buf.py::test_copy".into()),
            chain: vec![vgxml_judge::Place {
                file: Some("src/buf.cc".into()),
                line: Some(38),
                func: "mylib::Buf::clone() const".into(),
                object: None,
                in_repo: true,
                inlined: false,
            }],
            bytes: Some(16384),
            blocks: Some(32),
            ..Finding::new(
                Rule::Growth,
                "still reachable, grows in every measured round",
            )
        });
        let md = summary(&[st], "FAILED", "3.11.7");
        assert!(md.starts_with("## memtest: FAILED\n"), "{md}");
        assert!(
            md.contains("in `tests/test_buf.py::test_copy` at `src/buf.cc:38`"),
            "{md}"
        );
        assert!(md.contains("+16384 bytes, +32 blocks"), "{md}");
        assert!(md.contains("| stage | verdict |"), "{md}");
        // A `|` in a cell does not split the table.
        assert!(md.contains("3 rounds \\| a leak search"), "{md}");
        let st = StageReport::new(StageName::Tracemalloc);
        let f = Finding {
            location: Some("tests/test_buf.py:40 (body)".into()),
            ..Finding::new(Rule::PythonGrowth, "python memory grows every round")
        };
        assert_eq!(
            annotation(&st, &f),
            "::error file=tests/test_buf.py,line=40,title=memtest::tracemalloc stage: python memory grows every round"
        );
    }
}
