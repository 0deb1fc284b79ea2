//! The OpenAPI v2 document as protobuf (gnostic's `openapi.v2.Document`,
//! `application/com.github.proto-openapi.spec.v2@v1.0+protobuf`).
//!
//! kubectl asks for nothing else when it validates on the client side, which
//! it does for a `kind: List` manifest (its server-side field-validation
//! check always declares `v1/List` unsupported and falls back to the
//! schema): without this document `kubectl apply -f list.yaml` fails unless
//! run with `--validate=false`.
//!
//! Only what that client reads is encoded: `swagger`, `info` and the
//! `definitions` (types, properties, items, maps, refs, required fields,
//! descriptions and the `x-kubernetes-*` extensions). Paths are left out:
//! kubectl takes paths from OpenAPI v3.

use std::sync::OnceLock;

use serde_json::{Map, Value};

/// The media type kubectl asks for.
pub const ACCEPT: &str = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf";
/// What the API server answers with: Go's MIME parser refuses the `@`.
pub const CONTENT_TYPE: &str = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";

/// Protobuf wire format writer: just the two wire types this document uses.
#[derive(Default)]
struct Pb(Vec<u8>);

impl Pb {
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }
    fn bytes(&mut self, field: u32, b: &[u8]) {
        self.varint(u64::from(field) << 3 | 2);
        self.varint(b.len() as u64);
        self.0.extend_from_slice(b);
    }
    fn string(&mut self, field: u32, s: &str) {
        self.bytes(field, s.as_bytes());
    }
    fn boolean(&mut self, field: u32, b: bool) {
        self.varint(u64::from(field) << 3);
        self.varint(u64::from(b));
    }
    fn message(&mut self, field: u32, m: Pb) {
        self.bytes(field, &m.0);
    }
}

/// `openapi.v2.Any`: a value as YAML text (JSON is valid YAML).
fn any(v: &Value) -> Pb {
    let mut m = Pb::default();
    m.string(2, &v.to_string());
    m
}

/// `NamedAny { name = 1; Any value = 2 }`
fn named_any(name: &str, v: &Value) -> Pb {
    let mut m = Pb::default();
    m.string(1, name);
    m.message(2, any(v));
    m
}

/// `openapi.v2.Schema` from its JSON form.
fn schema(s: &Map<String, Value>) -> Pb {
    let mut m = Pb::default();
    // schemars writes `allOf: [{$ref}]` to attach a description to a
    // reference; gnostic has `_ref` next to `description` for that.
    let single_ref = match s.get("allOf").and_then(Value::as_array).map(Vec::as_slice) {
        Some([Value::Object(o)]) if o.len() == 1 => o.get("$ref").and_then(Value::as_str),
        _ => None,
    };
    if let Some(r) = s.get("$ref").and_then(Value::as_str).or(single_ref) {
        m.string(1, r);
    }
    for (field, key) in [(2, "format"), (3, "title"), (4, "description")] {
        if let Some(v) = s.get(key).and_then(Value::as_str) {
            m.string(field, v);
        }
    }
    if let Some(d) = s.get("default") {
        m.message(5, any(d));
    }
    for r in s
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(r) = r.as_str() {
            m.string(19, r);
        }
    }
    for e in s
        .get("enum")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        m.message(20, any(e));
    }
    match s.get("additionalProperties") {
        Some(Value::Object(o)) => {
            let mut item = Pb::default();
            item.message(1, schema(o));
            m.message(21, item);
        }
        Some(Value::Bool(b)) => {
            let mut item = Pb::default();
            item.boolean(2, *b);
            m.message(21, item);
        }
        _ => {}
    }
    let types: Vec<&str> = match s.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    // A nullable marker is not a type kubectl knows.
    let types: Vec<&str> = types.into_iter().filter(|t| *t != "null").collect();
    if !types.is_empty() {
        let mut item = Pb::default();
        for t in types {
            item.string(1, t);
        }
        m.message(22, item);
    }
    let items: Vec<&Map<String, Value>> = match s.get("items") {
        Some(Value::Object(o)) => vec![o],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_object).collect(),
        _ => Vec::new(),
    };
    if !items.is_empty() {
        let mut item = Pb::default();
        for i in items {
            item.message(1, schema(i));
        }
        m.message(23, item);
    }
    if single_ref.is_none() {
        for a in s
            .get("allOf")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(a) = a.as_object() {
                m.message(24, schema(a));
            }
        }
    }
    if let Some(props) = s.get("properties").and_then(Value::as_object) {
        m.message(25, named_schemas(props));
    }
    if s.get("readOnly").and_then(Value::as_bool) == Some(true) {
        m.boolean(27, true);
    }
    for (k, v) in s {
        if k.starts_with("x-") {
            m.message(31, named_any(k, v));
        }
    }
    m
}

/// `Properties`/`Definitions`: `repeated NamedSchema additional_properties = 1`.
fn named_schemas(map: &Map<String, Value>) -> Pb {
    let mut m = Pb::default();
    for (name, s) in map {
        let Some(s) = s.as_object() else { continue };
        let mut named = Pb::default();
        named.string(1, name);
        named.message(2, schema(s));
        m.message(1, named);
    }
    m
}

/// Encodes a Swagger 2.0 JSON document (`swagger`, `info`, `definitions`).
pub fn encode(doc: &Value) -> Vec<u8> {
    let mut m = Pb::default();
    m.string(1, doc["swagger"].as_str().unwrap_or("2.0"));
    let mut info = Pb::default();
    info.string(1, doc["info"]["title"].as_str().unwrap_or(""));
    info.string(2, doc["info"]["version"].as_str().unwrap_or(""));
    m.message(2, info);
    if let Some(defs) = doc["definitions"].as_object() {
        m.message(9, named_schemas(defs));
    }
    m.0
}

/// `/openapi/v2` as protobuf, built once from the JSON document.
pub fn v2() -> &'static [u8] {
    static B: OnceLock<Vec<u8>> = OnceLock::new();
    B.get_or_init(|| match serde_json::from_str(crate::openapi::v2()) {
        Ok(doc) => encode(&doc),
        // The JSON document is our own output; it always parses.
        Err(_) => Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Reads (field, payload) pairs of length-delimited fields.
    fn fields(mut b: &[u8]) -> Vec<(u64, Vec<u8>)> {
        fn varint(b: &mut &[u8]) -> u64 {
            let mut v = 0u64;
            let mut shift = 0;
            loop {
                let x = b[0];
                *b = &b[1..];
                v |= u64::from(x & 0x7f) << shift;
                shift += 7;
                if x < 0x80 {
                    return v;
                }
            }
        }
        let mut out = Vec::new();
        while !b.is_empty() {
            let key = varint(&mut b);
            if key & 7 == 2 {
                let n = varint(&mut b) as usize;
                out.push((key >> 3, b[..n].to_vec()));
                b = &b[n..];
            } else {
                let v = varint(&mut b);
                out.push((key >> 3, vec![v as u8]));
            }
        }
        out
    }

    #[test]
    fn encodes_definitions_with_refs_types_and_extensions() {
        let doc = json!({"swagger": "2.0", "info": {"title": "Kubernetes", "version": "v1.37.0"},
            "definitions": {"P": {"type": "object",
                "x-kubernetes-group-version-kind": [{"group": "", "version": "v1", "kind": "Pod"}],
                "properties": {"spec": {"allOf": [{"$ref": "#/definitions/S"}], "description": "d"},
                               "n": {"type": ["integer", "null"]}}}}});
        let top = fields(&encode(&doc));
        assert_eq!(top[0], (1, b"2.0".to_vec()));
        let defs = &top.iter().find(|(f, _)| *f == 9).unwrap().1;
        let named = fields(&fields(defs)[0].1);
        assert_eq!(named[0], (1, b"P".to_vec()));
        let p = fields(&named[1].1);
        let ty = &p.iter().find(|(f, _)| *f == 22).unwrap().1;
        assert_eq!(fields(ty), vec![(1, b"object".to_vec())]);
        let ext = fields(&p.iter().find(|(f, _)| *f == 31).unwrap().1);
        assert_eq!(ext[0], (1, b"x-kubernetes-group-version-kind".to_vec()));
        let yaml = fields(&ext[1].1);
        let v: Value = serde_json::from_slice(&yaml[0].1).unwrap();
        assert_eq!(v[0]["kind"], "Pod");
        let props = fields(&p.iter().find(|(f, _)| *f == 25).unwrap().1);
        let by_name = |n: &str| {
            props
                .iter()
                .map(|(_, b)| fields(b))
                .find(|f| f[0].1 == n.as_bytes())
                .map(|f| fields(&f[1].1))
                .unwrap()
        };
        let spec = by_name("spec");
        assert_eq!(spec[0], (1, b"#/definitions/S".to_vec()));
        assert!(spec.iter().all(|(f, _)| *f != 24), "allOf folded into _ref");
        let n = by_name("n");
        let ty = &n.iter().find(|(f, _)| *f == 22).unwrap().1;
        assert_eq!(fields(ty), vec![(1, b"integer".to_vec())], "null dropped");
    }

    #[test]
    fn served_document_has_the_pod_definition() {
        let top = fields(v2());
        let defs = &top.iter().find(|(f, _)| *f == 9).unwrap().1;
        assert!(
            fields(defs)
                .iter()
                .any(|(_, b)| fields(b)[0].1 == b"io.k8s.api.core.v1.Pod")
        );
    }
}
