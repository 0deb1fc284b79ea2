//! Just enough of the Kubernetes protobuf encoding to read what kubectl's
//! typed clients send (`kubectl create configmap|secret|service` post
//! `application/vnd.kubernetes.protobuf`): the `k8s\0` envelope and the
//! ConfigMap, Secret and Service messages, turned into their JSON form.
//! Responses stay JSON, which those clients accept.

use serde_json::{Map, Value, json};

use crate::error::ApiError;
use crate::kind::Kind;

pub(crate) const MAGIC: &[u8] = b"k8s\0";

pub fn is_protobuf(body: &[u8]) -> bool {
    body.starts_with(MAGIC)
}

pub(crate) fn bad(what: &str) -> ApiError {
    ApiError::bad_request(format!("invalid protobuf body: {what}"))
}

/// One field: number and value.
pub(crate) enum Field<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
}

fn varint(buf: &[u8], pos: &mut usize) -> Result<u64, ApiError> {
    let mut out = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *buf.get(*pos).ok_or_else(|| bad("truncated varint"))?;
        *pos += 1;
        out |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(out);
        }
    }
    Err(bad("varint too long"))
}

pub(crate) fn fields(buf: &[u8]) -> Result<Vec<(u64, Field<'_>)>, ApiError> {
    let mut pos = 0;
    let mut out = Vec::new();
    while pos < buf.len() {
        let key = varint(buf, &mut pos)?;
        let (num, wire) = (key >> 3, key & 7);
        match wire {
            0 => out.push((num, Field::Varint(varint(buf, &mut pos)?))),
            2 => {
                let len = usize::try_from(varint(buf, &mut pos)?).map_err(|_| bad("length"))?;
                let end = pos
                    .checked_add(len)
                    .filter(|e| *e <= buf.len())
                    .ok_or_else(|| bad("truncated field"))?;
                out.push((num, Field::Bytes(&buf[pos..end])));
                pos = end;
            }
            1 => pos += 8,
            5 => pos += 4,
            _ => return Err(bad("unsupported wire type")),
        }
    }
    Ok(out)
}

pub(crate) fn string(b: &[u8]) -> Result<String, ApiError> {
    String::from_utf8(b.to_vec()).map_err(|_| bad("string is not UTF-8"))
}

fn base64(b: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// A `map<string, string|bytes>` entry.
fn map_entry(b: &[u8], bytes_value: bool) -> Result<(String, Value), ApiError> {
    let mut k = String::new();
    let mut v = json!("");
    for (n, f) in fields(b)? {
        if let Field::Bytes(x) = f {
            match n {
                1 => k = string(x)?,
                2 => {
                    v = if bytes_value {
                        json!(base64(x))
                    } else {
                        json!(string(x)?)
                    }
                }
                _ => {}
            }
        }
    }
    Ok((k, v))
}

fn insert_map(
    obj: &mut Map<String, Value>,
    key: &str,
    b: &[u8],
    bytes_value: bool,
) -> Result<(), ApiError> {
    let (k, v) = map_entry(b, bytes_value)?;
    let m = obj.entry(key.to_string()).or_insert_with(|| json!({}));
    if let Some(m) = m.as_object_mut() {
        m.insert(k, v);
    }
    Ok(())
}

pub(crate) fn push(obj: &mut Map<String, Value>, key: &str, v: Value) {
    let a = obj.entry(key.to_string()).or_insert_with(|| json!([]));
    if let Some(a) = a.as_array_mut() {
        a.push(v);
    }
}

pub(crate) fn object_meta(b: &[u8]) -> Result<Value, ApiError> {
    let mut m = Map::new();
    for (n, f) in fields(b)? {
        let Field::Bytes(x) = f else { continue };
        match n {
            1 => {
                m.insert("name".into(), json!(string(x)?));
            }
            2 => {
                m.insert("generateName".into(), json!(string(x)?));
            }
            3 => {
                m.insert("namespace".into(), json!(string(x)?));
            }
            6 => {
                m.insert("resourceVersion".into(), json!(string(x)?));
            }
            11 => insert_map(&mut m, "labels", x, false)?,
            12 => insert_map(&mut m, "annotations", x, false)?,
            14 => push(&mut m, "finalizers", json!(string(x)?)),
            _ => {}
        }
    }
    Ok(Value::Object(m))
}

fn int_or_string(b: &[u8]) -> Result<Value, ApiError> {
    let (mut ty, mut i, mut s) = (0u64, 0u64, String::new());
    for (n, f) in fields(b)? {
        match (n, f) {
            (1, Field::Varint(v)) => ty = v,
            (2, Field::Varint(v)) => i = v,
            (3, Field::Bytes(x)) => s = string(x)?,
            _ => {}
        }
    }
    Ok(if ty == 1 { json!(s) } else { json!(i as i32) })
}

fn service_port(b: &[u8]) -> Result<Value, ApiError> {
    let mut m = Map::new();
    for (n, f) in fields(b)? {
        match (n, f) {
            (1, Field::Bytes(x)) => {
                m.insert("name".into(), json!(string(x)?));
            }
            (2, Field::Bytes(x)) => {
                m.insert("protocol".into(), json!(string(x)?));
            }
            (3, Field::Varint(v)) => {
                m.insert("port".into(), json!(v as i32));
            }
            (4, Field::Bytes(x)) => {
                m.insert("targetPort".into(), int_or_string(x)?);
            }
            (5, Field::Varint(v)) => {
                m.insert("nodePort".into(), json!(v as i32));
            }
            (6, Field::Bytes(x)) => {
                m.insert("appProtocol".into(), json!(string(x)?));
            }
            _ => {}
        }
    }
    Ok(Value::Object(m))
}

fn service_spec(b: &[u8]) -> Result<Value, ApiError> {
    let mut m = Map::new();
    for (n, f) in fields(b)? {
        match (n, f) {
            (1, Field::Bytes(x)) => push(&mut m, "ports", service_port(x)?),
            (2, Field::Bytes(x)) => insert_map(&mut m, "selector", x, false)?,
            (3, Field::Bytes(x)) => {
                m.insert("clusterIP".into(), json!(string(x)?));
            }
            (4, Field::Bytes(x)) => {
                m.insert("type".into(), json!(string(x)?));
            }
            (5, Field::Bytes(x)) => push(&mut m, "externalIPs", json!(string(x)?)),
            (7, Field::Bytes(x)) => {
                m.insert("sessionAffinity".into(), json!(string(x)?));
            }
            (11, Field::Bytes(x)) => {
                m.insert("externalName".into(), json!(string(x)?));
            }
            (12, Field::Bytes(x)) => {
                m.insert("externalTrafficPolicy".into(), json!(string(x)?));
            }
            (20, Field::Bytes(x)) => push(&mut m, "clusterIPs", json!(string(x)?)),
            (19, Field::Bytes(x)) => push(&mut m, "ipFamilies", json!(string(x)?)),
            (21, Field::Bytes(x)) => {
                m.insert("ipFamilyPolicy".into(), json!(string(x)?));
            }
            (24, Field::Bytes(x)) => {
                m.insert("internalTrafficPolicy".into(), json!(string(x)?));
            }
            _ => {}
        }
    }
    Ok(Value::Object(m))
}

/// Decodes a protobuf request body of `kind` into the object's JSON.
/// An authentication.k8s.io/v1 `TokenRequest` (what `kubectl create
/// token` sends) as JSON: spec audiences (1), boundObjectRef (3: kind 1,
/// apiVersion 2, name 3, uid 4), expirationSeconds (4).
pub fn token_request_to_json(body: &[u8]) -> Result<Value, ApiError> {
    let raw = envelope(body)?;
    let mut spec = Map::new();
    for (n, f) in fields(raw)? {
        if let (2, Field::Bytes(s)) = (n, f) {
            for (n, f) in fields(s)? {
                match (n, f) {
                    (1, Field::Bytes(a)) => push(&mut spec, "audiences", json!(string(a)?)),
                    (4, Field::Varint(v)) => {
                        spec.insert("expirationSeconds".into(), json!(v as i64));
                    }
                    (3, Field::Bytes(r)) => {
                        let mut b = Map::new();
                        for (n, f) in fields(r)? {
                            let key = match n {
                                1 => "kind",
                                2 => "apiVersion",
                                3 => "name",
                                4 => "uid",
                                _ => continue,
                            };
                            if let Field::Bytes(x) = f {
                                b.insert(key.into(), json!(string(x)?));
                            }
                        }
                        spec.insert("boundObjectRef".into(), Value::Object(b));
                    }
                    _ => {}
                }
            }
        }
    }
    Ok(json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec}))
}

/// The object inside a request body's `k8s\0` envelope (`Unknown.raw`,
/// field 2).
pub(crate) fn envelope(body: &[u8]) -> Result<&[u8], ApiError> {
    let inner = body
        .strip_prefix(MAGIC)
        .ok_or_else(|| bad("missing k8s envelope"))?;
    let mut raw: &[u8] = &[];
    for (n, f) in fields(inner)? {
        if let (2, Field::Bytes(x)) = (n, f) {
            raw = x;
        }
    }
    Ok(raw)
}

pub fn to_json(kind: Kind, body: &[u8]) -> Result<Value, ApiError> {
    let raw = envelope(body)?;
    let mut obj = Map::new();
    obj.insert("apiVersion".into(), json!("v1"));
    obj.insert("kind".into(), json!(kind.name()));
    for (n, f) in fields(raw)? {
        match (kind, n, f) {
            (_, 1, Field::Bytes(x)) => {
                obj.insert("metadata".into(), object_meta(x)?);
            }
            (Kind::ConfigMap, 2, Field::Bytes(x)) => insert_map(&mut obj, "data", x, false)?,
            (Kind::ConfigMap, 3, Field::Bytes(x)) => insert_map(&mut obj, "binaryData", x, true)?,
            (Kind::ConfigMap, 4, Field::Varint(v)) | (Kind::Secret, 5, Field::Varint(v)) => {
                obj.insert("immutable".into(), json!(v != 0));
            }
            (Kind::Secret, 2, Field::Bytes(x)) => insert_map(&mut obj, "data", x, true)?,
            (Kind::Secret, 3, Field::Bytes(x)) => {
                obj.insert("type".into(), json!(string(x)?));
            }
            (Kind::Secret, 4, Field::Bytes(x)) => insert_map(&mut obj, "stringData", x, false)?,
            (Kind::Service, 2, Field::Bytes(x)) => {
                obj.insert("spec".into(), service_spec(x)?);
            }
            (Kind::ServiceAccount, 4, Field::Varint(v)) => {
                obj.insert("automountServiceAccountToken".into(), json!(v != 0));
            }
            (Kind::ConfigMap | Kind::Secret | Kind::Service | Kind::ServiceAccount, _, _) => {}
            _ => {
                return Err(ApiError::unsupported_media(format!(
                    "protobuf is not supported for {}; send application/json",
                    kind.plural()
                )));
            }
        }
    }
    Ok(Value::Object(obj))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ld(num: u64, data: &[u8]) -> Vec<u8> {
        let mut v = vec![((num << 3) | 2) as u8, data.len() as u8];
        v.extend_from_slice(data);
        v
    }

    #[test]
    fn decodes_a_configmap_as_kubectl_sends_it() {
        let meta = ld(1, b"cfg");
        let entry = [ld(1, b"a"), ld(2, b"1")].concat();
        let cm = [ld(1, &meta), ld(2, &entry)].concat();
        let type_meta = [ld(1, b"v1"), ld(2, b"ConfigMap")].concat();
        let unknown = [ld(1, &type_meta), ld(2, &cm)].concat();
        let body = [MAGIC.to_vec(), unknown].concat();
        assert!(is_protobuf(&body));
        let v = to_json(Kind::ConfigMap, &body).unwrap();
        assert_eq!(
            v,
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}, "data": {"a": "1"}})
        );
        assert_eq!(
            to_json(Kind::ConfigMap, b"k8s\0\x12\xff").unwrap_err().code,
            400
        );
    }
}
