//! On GitHub Actions: the job summary (Markdown) and one `::error`
//! annotation per finding, escaped as the workflow-command syntax needs.

use std::io::Write;

use vgxml_judge::formats::github::{gh_escape, gh_prop};

use crate::report::StageReport;

/// Writes the annotations to stdout and appends the summary to
/// `$GITHUB_STEP_SUMMARY`; does nothing outside GitHub Actions.
pub fn report(stages: &[StageReport], verdict: &str) {
    if std::env::var_os("GITHUB_ACTIONS").is_none() {
        return;
    }
    for st in stages {
        for f in &st.findings {
            let msg = format!(
                "{} stage: {}{}",
                st.stage,
                f.what,
                f.test
                    .as_ref()
                    .map(|t| format!(" [{t}]"))
                    .unwrap_or_default()
            );
            let place = f
                .location
                .as_deref()
                .and_then(|l| l.split_whitespace().next())
                .and_then(|l| l.rsplit_once(':'))
                .filter(|(_, line)| line.chars().all(|c| c.is_ascii_digit()));
            let props = match place {
                Some((file, line)) => format!("file={},line={line},", gh_prop(file)),
                None => String::new(),
            };
            println!("::error {props}title=memtest::{}", gh_escape(&msg));
        }
    }
    let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY") else {
        return;
    };
    let mut md = format!("## memtest: {verdict}\n\n| stage | verdict | time | tests | iterations | snapshot |\n|---|---|---|---|---|---|\n");
    for st in stages {
        md += &format!(
            "| {} | {} | {:.1}s | {} | {} | {} |\n",
            st.stage,
            st.verdict.as_str(),
            st.seconds,
            st.tests,
            st.iterations,
            st.snapshot
        );
    }
    for st in stages.iter().filter(|s| !s.findings.is_empty()) {
        md += &format!("\n### {} findings\n\n", st.stage);
        for f in &st.findings {
            md += &format!(
                "- **{}** at `{}`{}\n",
                f.what,
                f.location.as_deref().unwrap_or("?"),
                f.bytes.map(|b| format!(": {b} bytes")).unwrap_or_default()
            );
        }
    }
    if let Ok(mut file) = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
    {
        let _ = file.write_all(md.as_bytes());
    }
}
