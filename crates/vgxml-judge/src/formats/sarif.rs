//! SARIF 2.1.0, for GitHub code scanning.

use super::{describe_kind, message};
use crate::judgement::{Judged, Judgement, Policy};
use crate::place::repo_relative;
use crate::render::render_frame;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;
use vgxml_parse::{Frame, Kind};

/// Where the tool is documented (SARIF `tool.driver.informationUri`).
pub const DEFAULT_INFORMATION_URI: &str = "https://valgrind.org/docs/manual/mc-manual.html";

fn default_level(k: &Kind) -> &'static str {
    match k {
        Kind::LeakStillReachable => "note",
        Kind::LeakPossiblyLost | Kind::LeakIndirectlyLost => "warning",
        _ => "error",
    }
}

/// The file, line and whether it is under the source root, of a record's place.
pub(crate) fn place_file(f: &Judged) -> Option<(&str, Option<u32>, bool)> {
    let p = f.place.as_ref()?;
    Some((p.file.as_deref()?, p.line, p.in_repo))
}

fn physical(path: &str, line: Option<u32>, in_repo: bool) -> Value {
    let uri = if in_repo {
        path.to_string()
    } else {
        format!("file://{path}")
    };
    let mut v = json!({ "artifactLocation": { "uri": uri } });
    if in_repo {
        v["artifactLocation"]["uriBaseId"] = json!("%SRCROOT%");
    }
    if let Some(l) = line.filter(|l| *l > 0) {
        v["region"] = json!({ "startLine": l });
    }
    v
}

fn frame_location(f: &Frame, root: &Path) -> Value {
    let mut loc = json!({ "message": { "text": render_frame(f) } });
    if let Some(p) = f.path() {
        let (path, in_repo) = match repo_relative(&p, root) {
            Some(r) => (r, true),
            None => (p, false),
        };
        loc["physicalLocation"] = physical(&path, f.line, in_repo);
    }
    loc
}

/// SARIF 2.1.0 for GitHub code scanning: a rule per kind, a result per
/// finding located at the first frame of ours (repo-relative URI), the
/// fingerprint in `partialFingerprints`, the whole stack in `stacks`.
pub fn sarif(v: &Judgement, policy: &Policy, information_uri: &str) -> Value {
    let (ours, root) = (&policy.ours, policy.source_root.as_path());
    let mut kinds: BTreeMap<String, &Kind> = BTreeMap::new();
    for f in &v.records {
        kinds
            .entry(f.record.kind.as_str().to_string())
            .or_insert(&f.record.kind);
    }
    let rule_index: BTreeMap<&str, usize> = kinds
        .keys()
        .enumerate()
        .map(|(i, k)| (k.as_str(), i))
        .collect();
    let rules: Vec<Value> = kinds
        .iter()
        .map(|(id, k)| {
            json!({
                "id": id,
                "name": id.replace('_', ""),
                "shortDescription": { "text": describe_kind(k) },
                "fullDescription": { "text": format!("Valgrind reported {id}: {}.", describe_kind(k)) },
                "help": { "text": format!("{}. See the Valgrind Memcheck manual.", describe_kind(k)) },
                "helpUri": "https://valgrind.org/docs/manual/mc-manual.html",
                "defaultConfiguration": { "level": default_level(k) },
                "properties": { "tags": ["memory", "valgrind"], "precision": "high" }
            })
        })
        .collect();
    let results: Vec<Value> = v
        .records
        .iter()
        .map(|f| {
            let mut res = json!({
                "ruleId": f.record.kind.as_str(),
                "ruleIndex": rule_index[f.record.kind.as_str()],
                "level": if f.failing { "error" } else { "warning" },
                "message": { "text": message(f) },
                "partialFingerprints": { "vgxmlFingerprint/v1": f.fingerprint },
                "properties": { "fingerprintKey": f.key, "source": f.source },
            });
            let loc = match place_file(f) {
                Some((p, l, in_repo)) => physical(p, l, in_repo),
                None => physical(
                    f.record
                        .stack
                        .first()
                        .and_then(|fr| fr.obj.clone())
                        .as_deref()
                        .unwrap_or("unknown"),
                    None,
                    false,
                ),
            };
            res["locations"] = json!([{ "physicalLocation": loc }]);
            // Our frames up to the binding entry point, and where an
            // uninitialised value was created: code scanning lists them
            // beside the result.
            let related: Vec<Value> = f
                .chain
                .iter()
                .skip(1)
                .map(|p| (p, "caller (our frames, innermost first)"))
                .chain(f.origin.iter().map(|p| (p, "the uninitialised value was created here")))
                .filter_map(|(p, why)| {
                    let file = p.file.as_deref()?;
                    Some((file, p.line, p.in_repo, format!("{why}: {}", p.func)))
                })
                .enumerate()
                .map(|(i, (file, line, in_repo, text))| {
                    json!({ "id": i + 1, "message": { "text": text }, "physicalLocation": physical(file, line, in_repo) })
                })
                .collect();
            if !related.is_empty() {
                res["relatedLocations"] = json!(related);
            }
            if f.chain.len() > 1 {
                res["properties"]["chain"] = json!(crate::chain_text(&f.chain));
            }
            if let Some(b) = f.record.direct_bytes() {
                res["properties"]["bytes"] = json!(b);
                res["properties"]["blocks"] = json!(f.record.leaked_blocks);
            }
            if let Some(t) = &f.test {
                res["properties"]["test"] = json!(t);
            }
            if !f.record.stack.is_empty() {
                res["stacks"] = json!([{
                    "message": { "text": "stack" },
                    "frames": f.record.stack.iter().map(|fr| json!({
                        "location": frame_location(fr, root),
                        "properties": { "ours": ours.matches_frame(fr) }
                    })).collect::<Vec<_>>()
                }]);
            }
            res
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "vgxml",
                "version": env!("CARGO_PKG_VERSION"),
                "semanticVersion": env!("CARGO_PKG_VERSION"),
                "informationUri": information_uri,
                "rules": rules
            }},
            "originalUriBaseIds": { "%SRCROOT%": { "uri": format!("file://{}/", root.display().to_string().trim_end_matches('/')) } },
            "results": results
        }]
    })
}
