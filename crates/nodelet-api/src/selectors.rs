//! Label and field selectors, as `kubectl get -l` / `--field-selector` send
//! them (`a=b,c!=d,e in (x,y),f notin (z),g,!h`).

use serde_json::Value;

use crate::error::ApiError;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Req {
    Eq(String, String),
    Ne(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

/// A parsed label selector; empty matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSelector(Vec<Req>);

/// Splits on commas that are not inside parentheses.
fn split_top(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut cur = String::new();
    for ch in s.chars() {
        match ch {
            '(' => {
                depth += 1;
                cur.push(ch)
            }
            ')' => {
                depth -= 1;
                cur.push(ch)
            }
            ',' if depth == 0 => out.push(std::mem::take(&mut cur)),
            _ => cur.push(ch),
        }
    }
    out.push(cur);
    out.into_iter()
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

fn parse_set(key: &str, rest: &str, raw: &str) -> Result<Vec<String>, ApiError> {
    let rest = rest.trim();
    let inner = rest
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| bad(raw, &format!("expected a set of values for {key:?}")))?;
    Ok(inner
        .split(',')
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect())
}

fn bad(raw: &str, why: &str) -> ApiError {
    ApiError::bad_request(format!(
        "unable to parse requirement: {why} (selector {raw:?})"
    ))
}

impl LabelSelector {
    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        let mut reqs = Vec::new();
        for part in split_top(raw) {
            if let Some(k) = part.strip_prefix('!') {
                reqs.push(Req::NotExists(k.trim().to_string()));
            } else if let Some((k, v)) = part.split_once("!=") {
                reqs.push(Req::Ne(k.trim().into(), v.trim().into()));
            } else if let Some((k, v)) = part.split_once("==") {
                reqs.push(Req::Eq(k.trim().into(), v.trim().into()));
            } else if let Some((k, v)) = part.split_once('=') {
                reqs.push(Req::Eq(k.trim().into(), v.trim().into()));
            } else if let Some((k, rest)) = part.split_once(" notin ") {
                reqs.push(Req::NotIn(k.trim().into(), parse_set(k, rest, raw)?));
            } else if let Some((k, rest)) = part.split_once(" in ") {
                reqs.push(Req::In(k.trim().into(), parse_set(k, rest, raw)?));
            } else if part.contains(' ') || part.contains('(') {
                return Err(bad(raw, &format!("cannot parse {part:?}")));
            } else {
                reqs.push(Req::Exists(part));
            }
        }
        for r in &reqs {
            let k = match r {
                Req::Eq(k, _)
                | Req::Ne(k, _)
                | Req::In(k, _)
                | Req::NotIn(k, _)
                | Req::Exists(k)
                | Req::NotExists(k) => k,
            };
            if k.is_empty() {
                return Err(bad(raw, "key must not be empty"));
            }
        }
        Ok(LabelSelector(reqs))
    }

    /// Matches against a `key → value` lookup.
    fn matches_with(&self, get: impl Fn(&str) -> Option<String>) -> bool {
        self.0.iter().all(|r| match r {
            Req::Eq(k, v) => get(k).as_deref() == Some(v.as_str()),
            Req::Ne(k, v) => get(k).as_deref() != Some(v.as_str()),
            Req::In(k, vs) => get(k).is_some_and(|x| vs.contains(&x)),
            Req::NotIn(k, vs) => get(k).is_none_or(|x| !vs.contains(&x)),
            Req::Exists(k) => get(k).is_some(),
            Req::NotExists(k) => get(k).is_none(),
        })
    }

    /// Matches an object's `metadata.labels`.
    pub fn matches(&self, obj: &Value) -> bool {
        let labels = &obj["metadata"]["labels"];
        self.matches_with(|k| labels.get(k).and_then(Value::as_str).map(str::to_string))
    }
}

/// A parsed field selector (`=`, `==`, `!=` only, as the API server).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSelector(LabelSelector);

/// Field paths a selector may use, per kind, mapped to JSON pointers.
fn field_pointer(kind: crate::Kind, field: &str) -> Option<&'static str> {
    use crate::Kind;
    let common = match field {
        "metadata.name" => Some("/metadata/name"),
        "metadata.namespace" => Some("/metadata/namespace"),
        _ => None,
    };
    if common.is_some() {
        return common;
    }
    match (kind, field) {
        (Kind::Pod, "status.phase") => Some("/status/phase"),
        (Kind::Pod, "spec.nodeName") => Some("/spec/nodeName"),
        (Kind::Pod, "spec.restartPolicy") => Some("/spec/restartPolicy"),
        (Kind::Pod, "spec.serviceAccountName") => Some("/spec/serviceAccountName"),
        (Kind::Pod, "status.podIP") => Some("/status/podIP"),
        (Kind::HookDelivery, "spec.podName") => Some("/spec/podName"),
        (Kind::HookDelivery, "spec.podUID") => Some("/spec/podUID"),
        (Kind::HookDelivery, "spec.containerName") => Some("/spec/containerName"),
        (Kind::HookDelivery, "spec.hook") => Some("/spec/hook"),
        (Kind::HookDelivery, "status.phase") => Some("/status/phase"),
        (Kind::Event, "involvedObject.kind") => Some("/involvedObject/kind"),
        (Kind::Event, "involvedObject.name") => Some("/involvedObject/name"),
        (Kind::Event, "involvedObject.namespace") => Some("/involvedObject/namespace"),
        (Kind::Event, "involvedObject.uid") => Some("/involvedObject/uid"),
        (Kind::Event, "involvedObject.apiVersion") => Some("/involvedObject/apiVersion"),
        (Kind::Event, "involvedObject.resourceVersion") => Some("/involvedObject/resourceVersion"),
        (Kind::Event, "involvedObject.fieldPath") => Some("/involvedObject/fieldPath"),
        (Kind::Event, "reason") => Some("/reason"),
        (Kind::Event, "reportingComponent") => Some("/reportingComponent"),
        (Kind::Event, "source") => Some("/source/component"),
        (Kind::Event, "type") => Some("/type"),
        (Kind::Secret, "type") => Some("/type"),
        (Kind::Namespace, "status.phase") => Some("/status/phase"),
        _ => None,
    }
}

impl FieldSelector {
    /// Parses and checks every field is supported for `kind` (400 otherwise,
    /// worded like the API server).
    pub fn parse(raw: &str, kind: crate::Kind) -> Result<Self, ApiError> {
        let sel = LabelSelector::parse(raw)?;
        for r in &sel.0 {
            let (f, ok_op) = match r {
                Req::Eq(f, _) | Req::Ne(f, _) => (f, true),
                Req::In(f, _) | Req::NotIn(f, _) | Req::Exists(f) | Req::NotExists(f) => (f, false),
            };
            if !ok_op {
                return Err(ApiError::bad_request(format!(
                    "invalid field selector: {raw:?}: only =, == and != are supported"
                )));
            }
            if field_pointer(kind, f).is_none() {
                return Err(ApiError::bad_request(format!(
                    "field label not supported: {f}"
                )));
            }
        }
        Ok(FieldSelector(sel))
    }

    pub fn matches(&self, kind: crate::Kind, obj: &Value) -> bool {
        self.0.matches_with(|f| {
            let ptr = field_pointer(kind, f)?;
            // Unset fields compare as the empty string, as in the API server.
            Some(match obj.pointer(ptr) {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Null) | None => String::new(),
                Some(v) => v.to_string(),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Kind;
    use serde_json::json;

    fn pod(labels: Value) -> Value {
        json!({"metadata": {"name": "p", "namespace": "default", "labels": labels}, "status": {"phase": "Running"}})
    }

    #[test]
    fn label_operators() {
        let p = pod(json!({"app": "web", "tier": "front"}));
        let m = |s: &str| LabelSelector::parse(s).unwrap().matches(&p);
        assert!(m("app=web"));
        assert!(m("app==web"));
        assert!(!m("app!=web"));
        assert!(m("app in (web, db)"));
        assert!(!m("app notin (web,db)"));
        assert!(m("tier"));
        assert!(!m("!tier"));
        assert!(m("!missing"));
        assert!(m("app=web,tier in (front)"));
        assert!(!m("app=web,tier=back"));
        assert!(m(""));
        assert!(m("missing notin (x)"));
        assert!(!m("missing in (x)"));
    }

    #[test]
    fn bad_label_selector() {
        assert!(LabelSelector::parse("app in web").is_err());
        assert!(LabelSelector::parse("=x").is_err());
    }

    #[test]
    fn field_selectors() {
        let p = pod(json!({}));
        let f = |s: &str| {
            FieldSelector::parse(s, Kind::Pod)
                .unwrap()
                .matches(Kind::Pod, &p)
        };
        assert!(f("metadata.name=p"));
        assert!(f("status.phase!=Pending"));
        assert!(!f("metadata.namespace=kube-system"));
        assert!(f("spec.nodeName="));
        let e = FieldSelector::parse("spec.bogus=1", Kind::Pod).unwrap_err();
        assert_eq!(e.code, 400);
        assert_eq!(e.message, "field label not supported: spec.bogus");
        let ev = json!({"involvedObject": {"kind": "Pod", "name": "x"}, "type": "Warning"});
        let s = FieldSelector::parse("involvedObject.name=x,type=Warning", Kind::Event).unwrap();
        assert!(s.matches(Kind::Event, &ev));
    }
}
