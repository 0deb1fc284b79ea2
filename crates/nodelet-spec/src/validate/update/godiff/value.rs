//! A v1 JSON value seen as the Go value the API server compares: every
//! field of a struct present (zero values included, as Go has them), in the
//! internal type's order, with Go names, nil distinguished from empty.

use serde_json::{Map, Value};

use super::types::{self, T};

/// A Go value with its type name (`core.Container`, `[]string`, `*int64`).
#[derive(Debug, Clone, PartialEq)]
pub struct N {
    pub ty: String,
    pub v: V,
}

#[derive(Debug, Clone, PartialEq)]
pub enum V {
    /// A nil pointer, slice or map.
    Nil,
    Str(String),
    Num(String),
    Bool(bool),
    Ptr(Box<N>),
    Struct(Vec<(String, N)>),
    List(Vec<N>),
    /// Entries sorted by key; keys already printed (`"a"`, `s"cpu"`).
    Map(Vec<(String, N)>),
    /// `resource.Quantity`: its string and format.
    Quantity(String, &'static str),
}

impl N {
    fn new(ty: impl Into<String>, v: V) -> N {
        N { ty: ty.into(), v }
    }

    /// Go's zero value (what cmp elides in identical structs).
    pub fn is_zero(&self) -> bool {
        match &self.v {
            V::Nil => true,
            V::Str(s) => s.is_empty(),
            V::Num(n) => n == "0",
            V::Bool(b) => !b,
            V::Struct(fields) => fields.iter().all(|(_, f)| f.is_zero()),
            V::Ptr(_) | V::List(_) | V::Map(_) | V::Quantity(..) => false,
        }
    }
}

/// The Go type name of a described type.
pub fn type_name(t: &T) -> String {
    match t {
        T::Str => "string".into(),
        T::Int => "int64".into(),
        T::Bool => "bool".into(),
        T::Ptr(inner) => format!("*{}", type_name(inner)),
        T::Slice(inner) => format!("[]{}", type_name(inner)),
        T::Map(name, _) => (*name).into(),
        T::ResourceList => "core.ResourceList".into(),
        T::Quantity => "resource.Quantity".into(),
        T::IntOrString => "intstr.IntOrString".into(),
        T::Struct(name) => format!("core.{name}"),
        T::Unknown => "any".into(),
    }
}

/// The internal `core.PodSpec` of a v1 pod spec (JSON).
pub fn pod_spec(spec: &Value) -> N {
    let mut spec = spec.as_object().cloned().unwrap_or_default();
    // Conversion moves the host namespace switches into the (always
    // present) security context and drops the deprecated serviceAccount.
    let mut sc = match spec.remove("securityContext") {
        Some(Value::Object(o)) => o,
        _ => Map::new(),
    };
    for key in [
        "hostNetwork",
        "hostPID",
        "hostIPC",
        "shareProcessNamespace",
        "hostUsers",
    ] {
        if let Some(v) = spec.remove(key) {
            sc.insert(key.to_owned(), v);
        }
    }
    spec.insert("securityContext".into(), Value::Object(sc));
    let deprecated = spec.remove("serviceAccount");
    if spec
        .get("serviceAccountName")
        .and_then(Value::as_str)
        .unwrap_or("")
        .is_empty()
        && let Some(sa) = deprecated
    {
        spec.insert("serviceAccountName".into(), sa);
    }
    strukt("PodSpec", &spec)
}

fn convert(json: Option<&Value>, t: &T, hint: &str) -> N {
    let json = json.filter(|v| !v.is_null());
    match t {
        T::Str => N::new(
            "string",
            V::Str(json.and_then(Value::as_str).unwrap_or("").to_owned()),
        ),
        T::Int => N::new(
            "int64",
            V::Num(json.map_or_else(|| "0".to_owned(), Value::to_string)),
        ),
        T::Bool => N::new(
            "bool",
            V::Bool(json.and_then(Value::as_bool).unwrap_or(false)),
        ),
        T::Ptr(inner) => match json {
            None => N::new(type_name(t), V::Nil),
            Some(v) => {
                let elem = convert(Some(v), inner, hint);
                N::new(format!("*{}", elem.ty), V::Ptr(Box::new(elem)))
            }
        },
        T::Slice(inner) => match json {
            Some(Value::Array(items)) => {
                let elems: Vec<N> = items
                    .iter()
                    .map(|i| convert(Some(i), inner, hint))
                    .collect();
                let ty = match (inner, elems.first()) {
                    (T::Unknown, Some(e)) => format!("[]{}", e.ty),
                    _ => type_name(t),
                };
                N::new(ty, V::List(elems))
            }
            _ => N::new(type_name(t), V::Nil),
        },
        T::Map(_, inner) => match json {
            Some(Value::Object(o)) => N::new(
                type_name(t),
                V::Map(
                    o.iter()
                        .map(|(k, v)| (quote(k), convert(Some(v), inner, k)))
                        .collect(),
                ),
            ),
            _ => N::new(type_name(t), V::Nil),
        },
        T::ResourceList => match json {
            Some(Value::Object(o)) => N::new(
                type_name(t),
                V::Map(
                    o.iter()
                        .map(|(k, v)| (format!("s{}", quote(k)), quantity(v)))
                        .collect(),
                ),
            ),
            _ => N::new(type_name(t), V::Nil),
        },
        T::Quantity => match json {
            Some(v) => quantity(v),
            None => N::new(type_name(t), V::Struct(Vec::new())),
        },
        T::IntOrString => {
            let (ty, i, s) = match json {
                Some(Value::String(s)) => ("1", "0".to_owned(), s.clone()),
                Some(v) => ("0", v.to_string(), String::new()),
                None => ("0", "0".to_owned(), String::new()),
            };
            N::new(
                type_name(t),
                V::Struct(vec![
                    ("Type".into(), N::new("intstr.Type", V::Num(ty.into()))),
                    ("IntVal".into(), N::new("int32", V::Num(i))),
                    ("StrVal".into(), N::new("string", V::Str(s))),
                ]),
            )
        }
        T::Struct(name) => {
            let empty = Map::new();
            strukt(name, json.and_then(Value::as_object).unwrap_or(&empty))
        }
        T::Unknown => infer(json, hint),
    }
}

fn quantity(v: &Value) -> N {
    let s = match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let format = if s.ends_with('i') {
        "BinarySI"
    } else if s.contains(['e', 'E']) {
        "DecimalExponent"
    } else {
        "DecimalSI"
    };
    N::new("resource.Quantity", V::Quantity(s, format))
}

/// A described struct from a JSON object: its fields in Go order, then
/// any JSON fields the table does not know (so no change goes unprinted).
fn strukt(name: &str, obj: &Map<String, Value>) -> N {
    let Some(fields) = types::fields(name) else {
        return infer_struct(name, obj);
    };
    let mut out = Vec::with_capacity(fields.len());
    let mut known: Vec<&str> = Vec::new();
    collect_known(fields, &mut known);
    for f in fields {
        let n = if f.embedded {
            match f.t {
                T::Struct(inner) => strukt(inner, obj),
                _ => continue,
            }
        } else {
            convert(obj.get(f.json), &f.t, f.json)
        };
        out.push((f.go.to_owned(), n));
    }
    for (k, v) in obj {
        if !known.contains(&k.as_str()) {
            out.push((types::go_name(k), infer(Some(v), k)));
        }
    }
    N::new(format!("core.{name}"), V::Struct(out))
}

fn collect_known(fields: &[types::Field], out: &mut Vec<&'static str>) {
    for f in fields {
        if f.embedded {
            if let T::Struct(inner) = f.t
                && let Some(inner) = types::fields(inner)
            {
                collect_known(inner, out);
            }
        } else {
            out.push(f.json);
        }
    }
}

/// A value of an undescribed type, typed from its JSON.
fn infer(json: Option<&Value>, hint: &str) -> N {
    match json {
        None | Some(Value::Null) => N::new("any", V::Nil),
        Some(Value::String(s)) => N::new("string", V::Str(s.clone())),
        Some(Value::Number(n)) => N::new("int64", V::Num(n.to_string())),
        Some(Value::Bool(b)) => N::new("bool", V::Bool(*b)),
        Some(Value::Array(items)) => {
            let elems: Vec<N> = items.iter().map(|i| infer(Some(i), hint)).collect();
            let ty = elems
                .first()
                .map_or_else(|| "[]any".to_owned(), |e| format!("[]{}", e.ty));
            N::new(ty, V::List(elems))
        }
        Some(Value::Object(o)) => infer_struct(&types::go_name(hint), o),
    }
}

fn infer_struct(name: &str, obj: &Map<String, Value>) -> N {
    N::new(
        format!("core.{name}"),
        V::Struct(
            obj.iter()
                .map(|(k, v)| (types::go_name(k), infer(Some(v), k)))
                .collect(),
        ),
    )
}

/// Go's `%q` for a string.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
