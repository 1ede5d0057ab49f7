//! `vgxml records` (every parsed item as JSON lines) and `vgxml html`.

use super::{finish, output, read_all, source_root};
use crate::cli::{HtmlArgs, RecordsArgs};
use anyhow::{Context as _, Result};
use std::io::{self, Write};
use vgxml_judge::{html, Policy};
use vgxml_parse::{records_with, Item, Options};

pub fn dump(a: &RecordsArgs) -> Result<u8> {
    let mut complete = true;
    let mut out = output(None)?;
    for f in &a.input.files {
        let name = f.display().to_string();
        let file = std::fs::File::open(f).with_context(|| format!("{name}: cannot open"))?;
        let reader = io::BufReader::with_capacity(1 << 20, file);
        for item in records_with(reader, &name, Options::full()) {
            let item = item?;
            if let Item::End { complete: c, .. } = item {
                complete &= c;
            }
            serde_json::to_writer(&mut out, &item)?;
            writeln!(out)?;
        }
    }
    finish(out)?;
    Ok(if complete { 0 } else { 3 })
}

pub fn html(a: &HtmlArgs) -> Result<u8> {
    let read = read_all(&a.input.files, Options::full())?;
    let mut policy = Policy::new(a.ours.rules(), source_root(a.source_root.as_deref()));
    policy.markers = a.markers.markers();
    let page = html::render(&read.reports, &policy);
    match &a.output.output {
        Some(p) => std::fs::write(p, page).with_context(|| format!("{}", p.display()))?,
        None => {
            let mut out = output(None)?;
            out.write_all(page.as_bytes())?;
            finish(out)?;
        }
    }
    Ok(read.wholeness.exit_code())
}
