//! Untyped document to typed `Object`.
//!
//! Checks `apiVersion`/`kind`, expands lists, deserializes into the
//! k8s-openapi type with the path of any bad value, then looks for unknown
//! fields by diffing against the round trip.

use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret, Service, ServiceAccount};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::error::DocumentProblem;
use super::parse::type_name;
use super::quantity::numbers_to_quantities;
use super::unknown::unknown_fields;
use crate::object::Object;

/// What one document holds.
pub enum Parsed {
    One(Object),
    /// The items of a `List`/`PodList`/..., still untyped.
    List(Vec<Value>),
}

/// `Pod "x"` for messages, when the document says.
pub fn describe(doc: &Value) -> Option<String> {
    let kind = doc.get("kind")?.as_str()?;
    match doc
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
    {
        Some(name) => Some(format!("{kind} {name:?}")),
        None => Some(kind.to_string()),
    }
}

/// Turns one document into an object or a list of items.
pub fn parse_document(doc: &Value) -> Result<Parsed, Vec<DocumentProblem>> {
    if !doc.is_object() {
        return Err(vec![DocumentProblem::NotAnObject(type_name(doc))]);
    }
    let api_version = string_field(doc, "apiVersion")?;
    let kind = string_field(doc, "kind")?;
    let known = matches!(
        kind,
        "Pod" | "Service" | "ConfigMap" | "Secret" | "ServiceAccount"
    ) || is_list_kind(kind);
    if !known {
        return Err(vec![DocumentProblem::UnknownKind {
            api_version: api_version.to_string(),
            kind: kind.to_string(),
        }]);
    }
    if api_version != "v1" {
        return Err(vec![DocumentProblem::WrongApiVersion {
            api_version: api_version.to_string(),
            kind: kind.to_string(),
        }]);
    }
    let object = match kind {
        "Pod" => Object::Pod(Box::new(typed::<Pod>(doc)?)),
        "Service" => Object::Service(Box::new(typed::<Service>(doc)?)),
        "ConfigMap" => Object::ConfigMap(Box::new(typed::<ConfigMap>(doc)?)),
        "Secret" => Object::Secret(Box::new(typed::<Secret>(doc)?)),
        "ServiceAccount" => Object::ServiceAccount(Box::new(typed::<ServiceAccount>(doc)?)),
        _ => return list_items(doc).map(Parsed::List),
    };
    Ok(Parsed::One(object))
}

fn is_list_kind(kind: &str) -> bool {
    matches!(
        kind,
        "List" | "PodList" | "ServiceList" | "ConfigMapList" | "SecretList" | "ServiceAccountList"
    )
}

fn string_field<'a>(doc: &'a Value, field: &'static str) -> Result<&'a str, Vec<DocumentProblem>> {
    match doc.get(field) {
        None | Some(Value::Null) => Err(vec![DocumentProblem::MissingField(field)]),
        Some(Value::String(s)) if s.is_empty() => Err(vec![DocumentProblem::MissingField(field)]),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(vec![DocumentProblem::NotAString { field }]),
    }
}

fn list_items(doc: &Value) -> Result<Vec<Value>, Vec<DocumentProblem>> {
    let mut problems = Vec::new();
    if let Some(obj) = doc.as_object() {
        for key in obj.keys() {
            if !matches!(key.as_str(), "apiVersion" | "kind" | "metadata" | "items") {
                problems.push(DocumentProblem::UnknownField(key.clone()));
            }
        }
    }
    let items = match doc.get("items") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items.iter().map(|i| with_item_kind(i, doc)).collect(),
        Some(other) => {
            problems.push(DocumentProblem::InvalidValue {
                path: "items".to_string(),
                message: format!("expected a sequence, found {}", type_name(other)),
            });
            Vec::new()
        }
    };
    if problems.is_empty() {
        Ok(items)
    } else {
        Err(problems)
    }
}

/// Deserializes with a path on error, then rejects unknown fields.
fn typed<T: DeserializeOwned + Serialize>(doc: &Value) -> Result<T, Vec<DocumentProblem>> {
    let mut normalized = doc.clone();
    numbers_to_quantities(&mut normalized);
    let doc = &normalized;
    let value: T = serde_path_to_error::deserialize(doc).map_err(|e| {
        vec![DocumentProblem::InvalidValue {
            path: e.path().to_string(),
            message: e.inner().to_string(),
        }]
    })?;
    let back = serde_json::to_value(&value).map_err(|e| {
        vec![DocumentProblem::InvalidValue {
            path: ".".to_string(),
            message: e.to_string(),
        }]
    })?;
    let unknown = unknown_fields(doc, &back);
    if unknown.is_empty() {
        Ok(value)
    } else {
        Err(unknown
            .into_iter()
            .map(DocumentProblem::UnknownField)
            .collect())
    }
}

/// Items of `PodList` etc. as served by the API omit `kind`/`apiVersion`;
/// fill them in from the list kind so they parse like standalone documents.
fn with_item_kind(item: &Value, list: &Value) -> Value {
    let mut item = item.clone();
    let item_kind = list
        .get("kind")
        .and_then(Value::as_str)
        .and_then(|k| k.strip_suffix("List"))
        .filter(|k| !k.is_empty());
    if let (Some(kind), Some(obj)) = (item_kind, item.as_object_mut()) {
        obj.entry("kind").or_insert_with(|| Value::from(kind));
        obj.entry("apiVersion").or_insert_with(|| Value::from("v1"));
    }
    item
}
