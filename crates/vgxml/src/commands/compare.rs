//! `vgxml baseline` and `vgxml diff`: fingerprints known, and what changed.

use super::{finish, output, read_all};
use crate::cli::{BaselineArgs, DiffArgs};
use anyhow::{bail, Context as _, Result};
use std::io::Write;
use vgxml_judge::{Baseline, Diff};
use vgxml_parse::Options;

pub fn baseline(a: &BaselineArgs) -> Result<u8> {
    let reports = read_all(&a.input.files, Options::full())?.reports;
    let incomplete: Vec<&str> = reports
        .iter()
        .filter(|r| !r.complete)
        .map(|r| r.source.as_str())
        .collect();
    if !incomplete.is_empty() {
        bail!(
            "incomplete report(s), not a baseline: {}",
            incomplete.join(", ")
        );
    }
    let ours = a.ours.rules();
    let b = Baseline::from_reports(&reports, &ours);
    let text = serde_json::to_string_pretty(&b)? + "\n";
    match &a.output.output {
        Some(p) => std::fs::write(p, text).with_context(|| format!("{}", p.display()))?,
        None => {
            let mut out = output(None)?;
            out.write_all(text.as_bytes())?;
            finish(out)?;
        }
    }
    eprintln!(
        "vgxml: baseline of {} fingerprint(s) from {} file(s)",
        b.records.len(),
        reports.len()
    );
    Ok(0)
}

pub fn diff(a: &DiffArgs) -> Result<u8> {
    let ours = a.ours.rules();
    let (old, new) = (
        Baseline::load(&a.old, &ours)?,
        Baseline::load(&a.new, &ours)?,
    );
    let d = Diff::between(&old, &new);
    let mut out = output(a.output.output.as_deref())?;
    if a.json {
        serde_json::to_writer(&mut out, &d)?;
        writeln!(out)?;
    } else {
        write!(out, "{}", d.to_text())?;
    }
    finish(out)?;
    Ok(if d.is_worse() { 1 } else { 0 })
}
