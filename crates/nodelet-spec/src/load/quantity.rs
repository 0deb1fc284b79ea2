//! Numbers where Kubernetes expects a quantity.
//!
//! `resources: {limits: {cpu: 1}}` is accepted by the API server (a
//! `resource.Quantity` unmarshals from a JSON number), but k8s-openapi's
//! `Quantity` is a plain string. Numbers at quantity positions are turned
//! into their decimal string before typing; nowhere else, so `value: 80` in
//! an env var stays the type error kubectl reports.

use serde_json::Value;

/// Rewrites numbers at quantity positions into strings, in place.
pub fn numbers_to_quantities(doc: &mut Value) {
    // (value, parent key, grandparent key): quantity maps are recognised by
    // their key and their parent's key, e.g. `resources.limits.cpu`.
    let mut stack: Vec<(&mut Value, Option<String>, Option<String>)> = vec![(doc, None, None)];
    while let Some((v, key, parent)) = stack.pop() {
        match v {
            Value::Number(n) if is_quantity_position(key.as_deref(), parent.as_deref()) => {
                *v = Value::String(n.to_string());
            }
            Value::Object(map) => {
                for (k, child) in map.iter_mut() {
                    stack.push((child, Some(k.clone()), key.clone()));
                }
            }
            Value::Array(items) => {
                // List elements keep the list's key as their context.
                for child in items.iter_mut() {
                    stack.push((child, key.clone(), parent.clone()));
                }
            }
            _ => {}
        }
    }
}

/// `parent` is the key of the map holding `key`.
fn is_quantity_position(key: Option<&str>, parent: Option<&str>) -> bool {
    matches!(key, Some("sizeLimit" | "divisor"))
        || matches!(parent, Some("limits" | "requests" | "overhead"))
}
