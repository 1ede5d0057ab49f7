//! The configuration reference, rendered from the description's JSON schema
//! (doc comments and defaults included), so that the docs say what the
//! types say.

use serde_json::Value;

use super::Description;

/// Markdown: one table per `[tool.memtest...]` table, a row per key with its
/// type, its default and what it does.
pub fn reference_markdown() -> String {
    let schema = serde_json::to_value(schemars::schema_for!(Description)).expect("a schema");
    let defs = schema.get("$defs").cloned().unwrap_or(Value::Null);
    let mut out = String::new();
    table(&mut out, "tool.memtest", &schema, &defs);
    out
}

fn resolve<'a>(v: &'a Value, defs: &'a Value) -> &'a Value {
    match v.get("$ref").and_then(Value::as_str) {
        Some(r) => r
            .strip_prefix("#/$defs/")
            .and_then(|name| defs.get(name))
            .unwrap_or(v),
        None => v,
    }
}

/// The sub-table a property is, if it is one (a `$ref` to an object with properties).
fn sub_table<'a>(prop: &'a Value, defs: &'a Value) -> Option<&'a Value> {
    prop.get("$ref")?;
    let t = resolve(prop, defs);
    t.get("properties").is_some().then_some(t)
}

fn table(out: &mut String, name: &str, schema: &Value, defs: &Value) {
    let Some(props) = schema.get("properties").and_then(Value::as_object) else {
        return;
    };
    out.push_str(&format!("### `[{name}]`\n\n"));
    if let Some(d) = schema.get("description").and_then(Value::as_str) {
        // The doc comment starts with the table's own name: said once, above.
        let d = one_line(d);
        let d = d.strip_prefix(&format!("`[{name}]`: ")).unwrap_or(&d);
        let mut chars = d.chars();
        if let Some(first) = chars.next() {
            out.push_str(&first.to_uppercase().collect::<String>());
            out.push_str(chars.as_str());
        }
        out.push_str("\n\n");
    }
    out.push_str("| key | type | default | what it does |\n|---|---|---|---|\n");
    let mut subs = Vec::new();
    for (key, prop) in props {
        if let Some(t) = sub_table(prop, defs) {
            subs.push((key.clone(), t));
            continue;
        }
        let default = schema
            .get("default")
            .and_then(|d| d.get(key))
            .or_else(|| prop.get("default"));
        out.push_str(&format!(
            "| `{key}` | {} | {} | {} |\n",
            type_of(prop, defs),
            default.map(show).unwrap_or_else(|| "none".into()),
            one_line(
                prop.get("description")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
            )
            .replace('|', "\\|")
        ));
    }
    out.push('\n');
    for (key, t) in subs {
        table(out, &format!("{name}.{key}"), t, defs);
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A default value as TOML shows it.
fn show(v: &Value) -> String {
    match v {
        Value::Null => "none".into(),
        Value::String(s) => format!("`{s:?}`"),
        Value::Array(a) if a.is_empty() => "`[]`".into(),
        Value::Object(o) if o.is_empty() => "`{}`".into(),
        other => format!("`{}`", other.to_string().replace(',', ", ")),
    }
}

fn type_of(prop: &Value, defs: &Value) -> String {
    let p = resolve(prop, defs);
    if let Some(choices) = p.get("enum").and_then(Value::as_array) {
        return choices
            .iter()
            .map(|c| format!("`{c}`"))
            .collect::<Vec<_>>()
            .join(" or ");
    }
    if let Some(variants) = p.get("oneOf").and_then(Value::as_array) {
        return variants
            .iter()
            .filter_map(|v| {
                v.get("const")
                    .or_else(|| v.get("enum").and_then(|e| e.get(0)))
            })
            .map(|c| format!("`{c}`"))
            .collect::<Vec<_>>()
            .join(" or ");
    }
    if let Some(any) = p.get("anyOf").and_then(Value::as_array) {
        let kinds: Vec<String> = any
            .iter()
            .filter(|v| v.get("type").and_then(Value::as_str) != Some("null"))
            .map(|v| type_of(v, defs))
            .collect();
        return kinds.join(" or ");
    }
    let kind = match p.get("type") {
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or("any")
            .to_owned(),
        Some(Value::String(t)) => t.clone(),
        _ => "any".to_owned(),
    };
    match kind.as_str() {
        "array" => format!(
            "list of {}",
            p.get("items").map(|i| type_of(i, defs)).unwrap_or_default()
        ),
        "object" => "table of strings".into(),
        "integer" => "integer".into(),
        "number" => "number".into(),
        "boolean" => "boolean".into(),
        "string" => "string".into(),
        other => other.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_is_in_the_reference() {
        let md = reference_markdown();
        for table in [
            "[tool.memtest]",
            "[tool.memtest.build]",
            "[tool.memtest.ours]",
            "[tool.memtest.suppressions]",
            "[tool.memtest.tracemalloc]",
            "[tool.memtest.valgrind]",
        ] {
            assert!(
                md.contains(&format!("### `{table}`")),
                "{table} missing:\n{md}"
            );
        }
        for row in [
            "| `runner` | `\"pytest\"` or `\"unittest\"` | `\"pytest\"` |",
            "| `iterations` | integer | `200` |",
            "| `fail-on` | list of `\"definite\"` or `\"indirect\"` or `\"possible\"` or `\"errors\"` | `[\"definite\", \"indirect\", \"errors\"]` |",
            "| `live-objects` | string | none |",
        ] {
            assert!(md.contains(row), "no row {row}:\n{md}");
        }
    }
}
