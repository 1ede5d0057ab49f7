//! `vgxml suppressions`: the generated ones, deduplicated; with `--unused`,
//! the entries of suppression files that no run used.

use super::{finish, output, read_all};
use crate::cli::SuppressionsArgs;
use anyhow::{bail, Result};
use std::io::Write;
use vgxml_judge::supp;
use vgxml_parse::Options;

pub fn generated(a: &SuppressionsArgs) -> Result<u8> {
    let opts = Options {
        stacks: false,
        suppressions: true,
        collect_errors: true,
    };
    let read = read_all(&a.input.files, opts)?;
    let reports = &read.reports;
    for d in reports.iter().flat_map(|r| &r.diagnostics) {
        eprintln!("vgxml: note: {d}");
    }
    let mut out = output(a.output.output.as_deref())?;
    for (_, s) in supp::generated(reports) {
        writeln!(out, "{}", s.rawtext.trim_end())?;
    }
    finish(out)?;
    Ok(read.wholeness.exit_code())
}

pub fn unused(a: &SuppressionsArgs) -> Result<u8> {
    let entries = supp::parse_files(&a.supp)?;
    let opts = Options {
        stacks: false,
        suppressions: false,
        collect_errors: false,
    };
    let read = read_all(&a.input.files, opts)?;
    let reports = &read.reports;
    if !reports.iter().any(supp::suppcounts_known) {
        bail!("every run was made with -q/--quiet, which leaves <suppcounts> out of the XML: cannot tell which suppressions were used (rerun without -q)");
    }
    for r in reports.iter().filter(|r| !supp::suppcounts_known(r)) {
        eprintln!(
            "vgxml: warning: {}: run with -q, no <suppcounts>: ignored for --unused",
            r.source
        );
    }
    for f in &a.supp {
        if !reports.iter().any(|r| supp::loaded_by(r, f)) {
            eprintln!(
                "vgxml: warning: no run loaded {} (--suppressions=...): its entries cannot have been used",
                f.display()
            );
        }
    }
    for (name, es) in supp::duplicate_names(&entries) {
        let at: Vec<String> = es
            .iter()
            .map(|e| format!("{}:{}", e.file.display(), e.line))
            .collect();
        eprintln!(
            "vgxml: warning: {} entries named {name:?} ({}): Valgrind counts uses by name, so one used entry hides the others",
            es.len(),
            at.join(", ")
        );
    }
    let unused = supp::unused(&entries, reports);
    let mut out = output(a.output.output.as_deref())?;
    if a.json {
        serde_json::to_writer(&mut out, &unused)?;
        writeln!(out)?;
    } else {
        for e in &unused {
            writeln!(out, "unused: {e}")?;
        }
        writeln!(
            out,
            "{} of {} suppression(s) unused in {} run(s)",
            unused.len(),
            entries.len(),
            reports.len()
        )?;
    }
    finish(out)?;
    Ok(match read.wholeness.exit_code() {
        0 if unused.is_empty() => 0,
        0 => 1,
        c => c,
    })
}
