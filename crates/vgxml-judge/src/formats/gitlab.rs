//! GitLab Code Quality JSON.

use super::message;
use super::sarif::place_file;
use crate::budget::Category;
use crate::judgement::Judgement;
use serde_json::{json, Value};
use std::fmt::Write as _;

/// GitLab Code Quality JSON: one issue per fingerprint (GitLab requires
/// unique fingerprints in a report), with `description`, `check_name`,
/// `fingerprint`, `severity` and `location.path` / `location.lines.begin`.
pub fn gitlab(v: &Judgement) -> Value {
    let issues: Vec<Value> = v
        .by_fingerprint()
        .values()
        .map(|fs| {
            let f = fs[0];
            let mut description = message(f);
            if fs.len() > 1 {
                let _ = write!(description, " [{} records]", fs.len());
            }
            let (path, line) = match place_file(f) {
                Some((p, l, _)) => (p.to_string(), l.unwrap_or(1)),
                None => ("unknown".to_string(), 1),
            };
            let severity = if !fs.iter().any(|f| f.failing) {
                "minor"
            } else {
                match f.category() {
                    Category::Definite | Category::Errors => "critical",
                    Category::Indirect | Category::Possible => "major",
                    Category::Reachable => "minor",
                }
            };
            json!({
                "type": "issue",
                "description": description,
                "check_name": f.record.kind.as_str(),
                "fingerprint": f.fingerprint,
                "severity": severity,
                "categories": ["Bug Risk"],
                "location": { "path": path, "lines": { "begin": line } }
            })
        })
        .collect();
    Value::Array(issues)
}
