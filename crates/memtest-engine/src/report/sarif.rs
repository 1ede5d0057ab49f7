//! SARIF 2.1.0 of a run: a result per finding (level `error`) and per note
//! (level `note`), at the first frame of ours, with the chain of our frames
//! as related locations; the rules are memtest's.

use std::path::Path;

use serde_json::{json, Value};

use super::{Finding, Rule, RunReport, StageReport};

const RULES: [Rule; 11] = [
    Rule::PythonGrowth,
    Rule::CHeapGrowth,
    Rule::FdLeak,
    Rule::ThreadLeak,
    Rule::LiveObjects,
    Rule::TestsFailed,
    Rule::MemoryError,
    Rule::Lost,
    Rule::Growth,
    Rule::OneTime,
    Rule::NotALeakTest,
];

fn rule_id(r: Rule) -> String {
    serde_json::to_value(r)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// `file:line` of a finding's first place of ours.
fn location(f: &Finding) -> Option<(String, u32)> {
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

fn physical(file: &str, line: u32) -> Value {
    json!({"physicalLocation": {
        "artifactLocation": {"uri": file, "uriBaseId": "%SRCROOT%"},
        "region": {"startLine": line}
    }})
}

fn result(st: &StageReport, f: &Finding, level: &str) -> Value {
    let mut r = json!({
        "ruleId": rule_id(f.rule),
        "level": level,
        "message": {"text": format!("{} stage: {}", st.stage, f.line())},
        "properties": {
            "stage": st.stage,
            "test": f.test,
            "bytes": f.bytes,
            "blocks": f.blocks,
        }
    });
    if let Some((file, line)) = location(f) {
        r["locations"] = json!([physical(&file, line)]);
    }
    let related: Vec<Value> = f
        .chain
        .iter()
        .skip(1)
        .filter(|p| p.in_repo)
        .filter_map(|p| Some(physical(p.file.as_deref()?, p.line?)))
        .collect();
    if !related.is_empty() {
        r["relatedLocations"] = Value::Array(related);
    }
    r
}

pub fn render(report: &RunReport, root: &Path) -> String {
    let rules: Vec<Value> = RULES
        .iter()
        .map(|r| {
            json!({
                "id": rule_id(*r),
                "shortDescription": {"text": r.explained(super::StageName::Valgrind)},
            })
        })
        .collect();
    let mut results = Vec::new();
    for st in &report.stages {
        results.extend(st.findings.iter().map(|f| result(st, f, "error")));
        results.extend(st.notes.iter().map(|f| result(st, f, "note")));
    }
    let sarif = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "memtest",
                "informationUri": "https://example.invalid/memtest",
                "rules": rules,
            }},
            "originalUriBaseIds": {"%SRCROOT%": {"uri": format!("file://{}/", root.display())}},
            "invocations": [{
                "executionSuccessful": report.error.is_none(),
                "exitCode": report.exit_code,
            }],
            "results": results,
        }]
    });
    serde_json::to_string_pretty(&sarif).expect("serialisable") + "\n"
}
