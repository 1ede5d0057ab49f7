//! The terminal summary: per stage its verdict, time, what ran and its
//! findings (a long chain cut; the page and report.json have it whole),
//! then the run's verdict and where the outputs are.

use super::{Outputs, RunReport};

/// Findings shown per stage.
const SHOWN: usize = 8;

pub fn print(report: &RunReport, outputs: &Outputs) {
    println!("\n==> memtest summary");
    for st in &report.stages {
        println!(
            "  {:<12} {:<6} {:>7.1}s  {} tests, {}, {} process(es){}{}",
            st.stage.as_str(),
            st.verdict.as_str(),
            st.seconds,
            st.tests,
            st.iterations,
            st.processes,
            match st.snapshot.to_string().as_str() {
                "" => String::new(),
                s => format!("; snapshot {s}"),
            },
            st.incomplete
                .as_ref()
                .map(|why| format!("; INCOMPLETE ({why})"))
                .unwrap_or_default()
        );
        for f in st.findings.iter().take(SHOWN) {
            println!("      - {}", f.line());
        }
        if st.findings.len() > SHOWN {
            println!(
                "      ... and {} more (report.json)",
                st.findings.len() - SHOWN
            );
        }
        if !st.notes.is_empty() {
            println!(
                "      ({} listed, not failing: see the page)",
                st.notes.len()
            );
        }
    }
    if let Some(e) = &report.error {
        println!("  stopped: {e}");
    }
    println!(
        "  verdict: {} in {:.1}s (CPython {}{}); report: {} (page: {})",
        report.verdict.as_str(),
        report.seconds,
        report.python,
        report
            .shard
            .as_ref()
            .map(|s| format!(", shard {s}"))
            .unwrap_or_default(),
        outputs.json.display(),
        outputs.page.display()
    );
}
