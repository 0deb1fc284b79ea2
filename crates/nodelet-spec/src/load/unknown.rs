//! Unknown-field detection, like `kubectl --validate=strict`.
//!
//! k8s-openapi structs silently drop fields they do not know, so a typo such
//! as `postStrat` would vanish. We re-serialize the typed object and report
//! every key present in the input but absent from the round trip.

use serde_json::Value;

/// Appends the full path of every input key the typed value did not keep.
pub fn unknown_fields(input: &Value, typed: &Value) -> Vec<String> {
    let mut out = Vec::new();
    // Explicit stack: input depth is bounded by the parser but we still avoid
    // recursion on data we did not write.
    let mut stack: Vec<(&Value, &Value, String)> = vec![(input, typed, String::new())];
    while let Some((inp, back, path)) = stack.pop() {
        match (inp, back) {
            (Value::Object(i), Value::Object(b)) => {
                // Reverse so that popping visits keys in input order.
                for (k, v) in i.iter().rev() {
                    let child = join(&path, k);
                    match b.get(k) {
                        Some(bv) => stack.push((v, bv, child)),
                        // `field: null` means "not set" to the API server.
                        None if v.is_null() => {}
                        None => out.push(child),
                    }
                }
            }
            (Value::Array(i), Value::Array(b)) => {
                for (n, (iv, bv)) in i.iter().zip(b.iter()).enumerate().rev() {
                    stack.push((iv, bv, format!("{path}[{n}]")));
                }
            }
            _ => {}
        }
    }
    out
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}
