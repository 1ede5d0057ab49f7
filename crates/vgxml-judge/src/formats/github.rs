//! GitHub Actions: workflow commands (`::error file=,line=::`) and the
//! Markdown job summary.

use super::budget_text;
use super::sarif::place_file;
use crate::judgement::Judgement;
use std::fmt::Write as _;

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
pub fn github_annotations(v: &Judgement) -> String {
    let mut out = String::new();
    for f in &v.records {
        let mut props = String::new();
        if let Some((p, l, _)) = place_file(f) {
            let _ = write!(props, "file={}", gh_prop(p));
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
        body.push_str(&f.rendered);
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
pub fn markdown_summary(v: &Judgement) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "## Valgrind: {}\n",
        if v.failed {
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
    if v.records.is_empty() {
        let _ = writeln!(s, "No findings.\n");
    } else {
        let _ = writeln!(
            s,
            "| kind | bytes | where | test | fingerprint |\n|---|---|---|---|---|"
        );
        for f in &v.records {
            let loc = match place_file(f) {
                Some((p, Some(l), _)) => format!("{p}:{l}"),
                Some((p, None, _)) => p.to_string(),
                None => String::new(),
            };
            let func = f
                .first_frame_of_ours
                .as_ref()
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
