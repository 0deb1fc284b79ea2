//! PATCH bodies: JSON patch (RFC 6902), JSON merge patch (RFC 7386),
//! strategic merge patch (lists of containers, env, ports, volumes ...
//! merged by their key, with the `$patch`, `$retainKeys`,
//! `$setElementOrder` and `$deleteFromPrimitiveList` directives kubectl
//! sends) and server-side apply (approximated as a strategic merge of the
//! applied configuration, recorded in `managedFields`).

use serde_json::{Map, Value};

use crate::error::ApiError;

/// The patch types of the `Content-Type` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    Json,
    Merge,
    Strategic,
    Apply,
}

impl PatchType {
    pub fn from_content_type(ct: &str) -> Result<Self, ApiError> {
        let base = ct.split(';').next().unwrap_or("").trim();
        match base {
            "application/json-patch+json" => Ok(PatchType::Json),
            "application/merge-patch+json" => Ok(PatchType::Merge),
            "application/strategic-merge-patch+json" => Ok(PatchType::Strategic),
            "application/apply-patch+yaml" | "application/apply-patch+cbor" => Ok(PatchType::Apply),
            other => Err(ApiError::unsupported_media(format!(
                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json (got {other:?})"
            ))),
        }
    }
}

/// Parses a patch body: JSON, or YAML for apply patches.
pub fn parse_body(pt: PatchType, body: &[u8]) -> Result<Value, ApiError> {
    let bad = |e: String| ApiError::bad_request(format!("error decoding patch: {e}"));
    if pt == PatchType::Apply {
        let text = std::str::from_utf8(body).map_err(|e| bad(e.to_string()))?;
        serde_saphyr::from_str::<Value>(text).map_err(|e| bad(e.to_string()))
    } else {
        serde_json::from_slice(body).map_err(|e| bad(e.to_string()))
    }
}

/// Applies `patch` of type `pt` to `doc`.
pub fn apply(pt: PatchType, doc: &mut Value, patch: &Value) -> Result<(), ApiError> {
    match pt {
        PatchType::Json => {
            let p: json_patch::Patch = serde_json::from_value(patch.clone())
                .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
            json_patch::patch(doc, &p).map_err(|e| {
                ApiError::new(
                    422,
                    "Invalid",
                    format!("the server rejected our request due to an error in our request: {e}"),
                )
            })
        }
        PatchType::Merge => {
            json_patch::merge(doc, patch);
            Ok(())
        }
        PatchType::Strategic | PatchType::Apply => {
            if !patch.is_object() {
                return Err(ApiError::bad_request(
                    "strategic merge patch must be a JSON object",
                ));
            }
            strategic_merge(doc, patch, "");
            Ok(())
        }
    }
}

/// The merge key of a list field, by its path (dotted, without indices).
fn merge_key(path: &str, field: &str) -> Option<&'static str> {
    match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "volumes"
        | "env"
        | "imagePullSecrets"
        | "resourceClaims"
        | "schedulingGates" => Some("name"),
        "volumeMounts" => Some("mountPath"),
        "volumeDevices" => Some("devicePath"),
        "ownerReferences" => Some("uid"),
        "conditions" => Some("type"),
        "hostAliases" => Some("ip"),
        "topologySpreadConstraints" => Some("topologyKey"),
        "ports" if path.ends_with("containers") || path.contains("ontainers") => {
            Some("containerPort")
        }
        "ports" => Some("port"),
        _ => None,
    }
}

/// Primitive lists merged as sets.
fn is_set_list(field: &str) -> bool {
    field == "finalizers"
}

fn strategic_merge(doc: &mut Value, patch: &Value, path: &str) {
    let Some(pm) = patch.as_object() else {
        *doc = patch.clone();
        return;
    };
    match pm.get("$patch").and_then(Value::as_str) {
        Some("replace") => {
            let mut m = pm.clone();
            m.remove("$patch");
            *doc = Value::Object(m);
            return;
        }
        Some("delete") => {
            *doc = Value::Object(Map::new());
            return;
        }
        _ => {}
    }
    if !doc.is_object() {
        *doc = Value::Object(Map::new());
    }
    let Some(dm) = doc.as_object_mut() else {
        return;
    };
    let mut orders: Vec<(String, Vec<Value>)> = Vec::new();
    for (k, pv) in pm {
        if k == "$patch" {
            continue;
        }
        if k == "$retainKeys" {
            if let Some(keep) = pv.as_array() {
                let keep: Vec<&str> = keep.iter().filter_map(Value::as_str).collect();
                dm.retain(|key, _| keep.contains(&key.as_str()) || pm.contains_key(key));
            }
            continue;
        }
        if let Some(field) = k.strip_prefix("$setElementOrder/") {
            if let Some(order) = pv.as_array() {
                orders.push((field.to_string(), order.clone()));
            }
            continue;
        }
        if let Some(field) = k.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(list)), Some(del)) = (dm.get_mut(field), pv.as_array()) {
                list.retain(|v| !del.contains(v));
            }
            continue;
        }
        if pv.is_null() {
            dm.remove(k);
            continue;
        }
        let child_path = if path.is_empty() {
            k.clone()
        } else {
            format!("{path}.{k}")
        };
        match pv {
            Value::Object(_) => {
                let entry = dm.entry(k.clone()).or_insert(Value::Null);
                strategic_merge(entry, pv, &child_path);
            }
            Value::Array(items) => {
                let merged = match (merge_key(path, k), dm.get(k)) {
                    (Some(key), Some(Value::Array(cur))) => {
                        merge_list(cur, items, key, &child_path)
                    }
                    (None, Some(Value::Array(cur))) if is_set_list(k) => {
                        let mut out = cur.clone();
                        for it in items {
                            if !out.contains(it) {
                                out.push(it.clone());
                            }
                        }
                        out
                    }
                    _ => items
                        .iter()
                        .filter(|i| i.get("$patch").is_none())
                        .cloned()
                        .collect(),
                };
                dm.insert(k.clone(), Value::Array(merged));
            }
            _ => {
                dm.insert(k.clone(), pv.clone());
            }
        }
    }
    for (field, order) in orders {
        let key = merge_key(path, &field);
        if let Some(Value::Array(list)) = dm.get_mut(&field) {
            reorder(list, &order, key);
        }
    }
}

fn key_of<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.get(key)
}

fn merge_list(cur: &[Value], items: &[Value], key: &str, path: &str) -> Vec<Value> {
    if items
        .iter()
        .any(|i| i.get("$patch").and_then(Value::as_str) == Some("replace"))
    {
        return items
            .iter()
            .filter(|i| i.get("$patch").is_none())
            .cloned()
            .collect();
    }
    let mut out = cur.to_vec();
    for it in items {
        let Some(k) = key_of(it, key) else {
            out.push(it.clone());
            continue;
        };
        let pos = out.iter().position(|o| key_of(o, key) == Some(k));
        let delete = it.get("$patch").and_then(Value::as_str) == Some("delete");
        match (pos, delete) {
            (Some(p), true) => {
                out.remove(p);
            }
            (None, true) => {}
            (Some(p), false) => strategic_merge(&mut out[p], it, path),
            (None, false) => {
                let mut fresh = Value::Object(Map::new());
                strategic_merge(&mut fresh, it, path);
                out.push(fresh);
            }
        }
    }
    out
}

/// Orders `list` as `order` says; items not named keep their place after.
fn reorder(list: &mut Vec<Value>, order: &[Value], key: Option<&str>) {
    let ident = |v: &Value| -> Value {
        match key {
            Some(k) => v.get(k).cloned().unwrap_or(Value::Null),
            None => v.clone(),
        }
    };
    let mut rest: Vec<Value> = std::mem::take(list);
    for o in order {
        let want = match key {
            Some(k) => o.get(k).cloned().unwrap_or(Value::Null),
            None => o.clone(),
        };
        if let Some(p) = rest.iter().position(|v| ident(v) == want) {
            list.push(rest.remove(p));
        }
    }
    list.extend(rest);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod() -> Value {
        json!({"metadata": {"name": "p", "labels": {"a": "1", "b": "2"}, "finalizers": ["x"]},
          "spec": {"containers": [
            {"name": "app", "image": "busybox:1", "env": [{"name": "A", "value": "1"}], "ports": [{"containerPort": 80}]},
            {"name": "side", "image": "busybox:1"}]}})
    }

    #[test]
    fn strategic_merges_containers_by_name() {
        let mut d = pod();
        let p = json!({"metadata": {"labels": {"b": null, "c": "3"}, "finalizers": ["y"]},
            "spec": {"containers": [{"name": "side", "image": "busybox:2"},
                                     {"name": "app", "env": [{"name": "B", "value": "2"}]}]}});
        apply(PatchType::Strategic, &mut d, &p).unwrap();
        assert_eq!(d["metadata"]["labels"], json!({"a": "1", "c": "3"}));
        assert_eq!(d["metadata"]["finalizers"], json!(["x", "y"]));
        assert_eq!(d["spec"]["containers"][0]["image"], "busybox:1");
        assert_eq!(
            d["spec"]["containers"][0]["env"].as_array().unwrap().len(),
            2
        );
        assert_eq!(d["spec"]["containers"][1]["image"], "busybox:2");
    }

    #[test]
    fn strategic_directives() {
        let mut d = pod();
        let p = json!({"spec": {"$setElementOrder/containers": [{"name": "side"}, {"name": "app"}],
            "containers": [{"name": "app", "$patch": "delete"}]}});
        apply(PatchType::Strategic, &mut d, &p).unwrap();
        assert_eq!(
            d["spec"]["containers"],
            json!([{"name": "side", "image": "busybox:1"}])
        );
        let mut d = pod();
        let p = json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["x"]}});
        apply(PatchType::Strategic, &mut d, &p).unwrap();
        assert_eq!(d["metadata"]["finalizers"], json!([]));
        let mut d = pod();
        let p = json!({"metadata": {"labels": {"$patch": "replace", "z": "9"}}});
        apply(PatchType::Strategic, &mut d, &p).unwrap();
        assert_eq!(d["metadata"]["labels"], json!({"z": "9"}));
    }

    #[test]
    fn merge_patch_replaces_lists_and_json_patch_ops() {
        let mut d = pod();
        apply(
            PatchType::Merge,
            &mut d,
            &json!({"spec": {"containers": [{"name": "only"}]}}),
        )
        .unwrap();
        assert_eq!(d["spec"]["containers"], json!([{"name": "only"}]));
        let mut d = pod();
        apply(
            PatchType::Json,
            &mut d,
            &json!([{"op": "replace", "path": "/spec/containers/0/image", "value": "busybox:3"}]),
        )
        .unwrap();
        assert_eq!(d["spec"]["containers"][0]["image"], "busybox:3");
        let e = apply(
            PatchType::Json,
            &mut d,
            &json!([{"op": "test", "path": "/metadata/name", "value": "q"}]),
        )
        .unwrap_err();
        assert_eq!(e.code, 422);
    }

    #[test]
    fn content_types() {
        assert_eq!(
            PatchType::from_content_type("application/apply-patch+yaml; charset=utf-8").unwrap(),
            PatchType::Apply
        );
        assert_eq!(
            PatchType::from_content_type("text/plain").unwrap_err().code,
            415
        );
        let v = parse_body(PatchType::Apply, b"metadata:\n  name: x\n").unwrap();
        assert_eq!(v["metadata"]["name"], "x");
    }
}
