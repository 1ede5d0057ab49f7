//! `vgxml summary`: totals per kind, errors, suppressed counts, processes.

use super::{finish, output, read_all};
use crate::cli::{SummaryArgs, SummaryFormat};
use anyhow::Result;
use std::io::Write;
use vgxml_judge::formats::github::gh_escape;
use vgxml_judge::formats::junit::{junit_xml, TestCase};
use vgxml_parse::{LeakKind, Options, Summary};

pub fn run(a: &SummaryArgs) -> Result<u8> {
    let read = read_all(&a.input.files, Options::totals())?;
    let s = Summary::from_reports(&read.reports);
    let mut out = output(a.output.output.as_deref())?;
    match a.format() {
        SummaryFormat::Text => write!(out, "{}", s.to_text())?,
        SummaryFormat::Json => {
            serde_json::to_writer(&mut out, &s)?;
            writeln!(out)?;
        }
        SummaryFormat::Junit => {
            warn_diagnostics(&s);
            write!(out, "{}", junit_xml("vgxml summary", &junit_cases(&s)))?;
        }
        SummaryFormat::Github => {
            warn_diagnostics(&s);
            github(&s, &mut out)?;
        }
    }
    if matches!(a.format(), SummaryFormat::Text | SummaryFormat::Json) && !s.complete {
        // The diagnostics are in the output already; tell stderr too.
        eprintln!("vgxml: at least one report is incomplete");
    }
    finish(out)?;
    Ok(read.wholeness.exit_code())
}

fn warn_diagnostics(s: &Summary) {
    for d in &s.diagnostics {
        eprintln!("vgxml: note: {d}");
    }
}

/// A case per leak kind (failing when bytes are lost; still reachable never
/// fails), one failing case per error kind, and one for incomplete input.
fn junit_cases(s: &Summary) -> Vec<TestCase> {
    let mut cases: Vec<(String, Option<String>)> = Vec::new();
    for k in LeakKind::ALL {
        let failure = s.leaks.get(k).and_then(|a| {
            (a.bytes > 0 && k != LeakKind::StillReachable)
                .then(|| format!("{} bytes in {} blocks", a.bytes, a.blocks))
        });
        cases.push((k.label().to_string(), failure));
    }
    for (k, v) in &s.errors {
        cases.push((k.clone(), Some(format!("{v} contexts"))));
    }
    if !s.complete {
        cases.push((
            "complete".into(),
            Some("at least one report is incomplete".into()),
        ));
    }
    cases
        .into_iter()
        .map(|(name, failure)| TestCase {
            name,
            classname: "valgrind".into(),
            failures: failure.into_iter().collect(),
        })
        .collect()
}

fn github(s: &Summary, out: &mut dyn Write) -> Result<()> {
    let mut parts = Vec::new();
    for k in LeakKind::ALL {
        parts.push(match s.leaks.get(k) {
            Some(a) => format!("{}: {} bytes in {} blocks", k.label(), a.bytes, a.blocks),
            None => format!("{}: not shown", k.label()),
        });
    }
    for (k, v) in &s.errors {
        parts.push(format!("{k}: {v} contexts"));
    }
    writeln!(
        out,
        "::notice title=Valgrind summary::{}",
        gh_escape(&parts.join("; "))
    )?;
    if !s.complete {
        writeln!(
            out,
            "::error title=Valgrind report incomplete::at least one report is incomplete"
        )?;
    }
    Ok(())
}
