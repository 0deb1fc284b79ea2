//! Text to untyped documents.
//!
//! Manifests are parsed into `serde_json::Value` first: that keeps the whole
//! structure, so the typed step can name unknown fields and bad values by
//! their full path. Parser limits guard against hostile input (alias bombs,
//! deep nesting, document storms).

use serde_json::Value;

use super::error::Format;

/// Deepest nesting accepted; real manifests stay far below 30.
pub const MAX_DEPTH: usize = 100;

/// Parses all documents of `text`, dropping empty ones (`null`).
pub fn documents(text: &str) -> Result<Vec<Value>, (Format, String)> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let docs = if looks_like_json(text) {
        match json_documents(text) {
            Ok(d) => d,
            // `{a: b}` is YAML flow syntax, not JSON: give YAML a chance and
            // only report the JSON error when YAML fails too.
            Err(json_err) => yaml_documents(text).map_err(|_| (Format::Json, json_err))?,
        }
    } else {
        yaml_documents(text).map_err(|e| (Format::Yaml, e))?
    };
    Ok(docs.into_iter().filter(|d| !d.is_null()).collect())
}

fn looks_like_json(text: &str) -> bool {
    matches!(text.trim_start().as_bytes().first(), Some(b'{' | b'['))
}

/// A JSON stream: one value or several concatenated (`kubectl get -o json`
/// output piped together).
fn json_documents(text: &str) -> Result<Vec<Value>, String> {
    serde_json::Deserializer::from_str(text)
        .into_iter::<Value>()
        .map(|r| r.map_err(|e| e.to_string()))
        .collect()
}

fn yaml_documents(text: &str) -> Result<Vec<Value>, String> {
    let mut options = serde_saphyr::Options::default();
    options.budget = serde_saphyr::budget! {
        max_depth: MAX_DEPTH,
        // A pod with a few hundred containers and env vars is ~50k events,
        // a 1 MiB ConfigMap of short keys ~150k; the caps bound parse time
        // on hostile input (the parser is the slow part in debug builds).
        max_events: 200_000,
        max_documents: 10_000,
        max_nodes: 200_000,
    };
    options.with_snippet = false;
    // Manifests rarely use aliases; an alias bomb must fail fast.
    options.alias_limits.max_total_replayed_events = 50_000;
    // Kubernetes manifests are written for go-yaml (YAML 1.1) in one respect
    // users rely on: `defaultMode: 0644` is octal.
    options.legacy_octal_numbers = true;
    // ...but `y`/`n`/`yes`/`off` as booleans (the "Norway problem") turns
    // names and values like `N` into type errors; read them as strings.
    options.strict_booleans = true;
    serde_saphyr::from_multiple_with_options::<Value>(text, options).map_err(|e| e.to_string())
}

/// Nesting depth of a value, without recursion (input may be adversarial).
pub fn depth_exceeds(root: &Value, limit: usize) -> bool {
    let mut stack: Vec<(&Value, usize)> = vec![(root, 1)];
    while let Some((v, d)) = stack.pop() {
        if d > limit {
            return true;
        }
        match v {
            Value::Array(a) => stack.extend(a.iter().map(|c| (c, d + 1))),
            Value::Object(o) => stack.extend(o.values().map(|c| (c, d + 1))),
            _ => {}
        }
    }
    false
}

/// A short name for a JSON type, for messages.
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a sequence",
        Value::Object(_) => "a mapping",
    }
}
