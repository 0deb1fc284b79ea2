//! The protobuf messages kubectl's typed clients send for RBAC and access
//! reviews (`kubectl create role|rolebinding|clusterrole|clusterrolebinding`,
//! `kubectl auth can-i`), turned into their JSON form. Field numbers are
//! those of k8s.io/api's rbac/v1 and authorization/v1 generated.proto.

use serde_json::{Map, Value, json};

use crate::error::ApiError;
use crate::kind::Kind;
use crate::protobuf::{Field, envelope, fields, object_meta, push, string};

/// String fields of a message by number, as `(number, json key)`.
fn strings(b: &[u8], names: &[(u64, &str)], lists: &[(u64, &str)]) -> Result<Value, ApiError> {
    let mut m = Map::new();
    for (n, f) in fields(b)? {
        let Field::Bytes(x) = f else { continue };
        if let Some((_, k)) = names.iter().find(|(num, _)| *num == n) {
            m.insert((*k).to_string(), json!(string(x)?));
        } else if let Some((_, k)) = lists.iter().find(|(num, _)| *num == n) {
            push(&mut m, k, json!(string(x)?));
        }
    }
    Ok(Value::Object(m))
}

fn policy_rule(b: &[u8]) -> Result<Value, ApiError> {
    strings(
        b,
        &[],
        &[
            (1, "verbs"),
            (2, "apiGroups"),
            (3, "resources"),
            (4, "resourceNames"),
            (5, "nonResourceURLs"),
        ],
    )
}

/// A Role, ClusterRole, RoleBinding or ClusterRoleBinding.
pub fn rbac_to_json(kind: Kind, body: &[u8]) -> Result<Value, ApiError> {
    let mut obj = Map::new();
    obj.insert("apiVersion".into(), json!(kind.api_version()));
    obj.insert("kind".into(), json!(kind.name()));
    let binding = matches!(kind, Kind::RoleBinding | Kind::ClusterRoleBinding);
    for (n, f) in fields(envelope(body)?)? {
        let Field::Bytes(x) = f else { continue };
        match (n, binding) {
            (1, _) => {
                obj.insert("metadata".into(), object_meta(x)?);
            }
            (2, false) => push(&mut obj, "rules", policy_rule(x)?),
            (2, true) => push(
                &mut obj,
                "subjects",
                strings(
                    x,
                    &[(1, "kind"), (2, "apiGroup"), (3, "name"), (4, "namespace")],
                    &[],
                )?,
            ),
            (3, true) => {
                obj.insert(
                    "roleRef".into(),
                    strings(x, &[(1, "apiGroup"), (2, "kind"), (3, "name")], &[])?,
                );
            }
            (3, false) => {
                return Err(ApiError::unsupported_media(
                    "aggregated ClusterRoles are not supported",
                ));
            }
            _ => {}
        }
    }
    Ok(Value::Object(obj))
}

/// A SelfSubjectAccessReview or SelfSubjectRulesReview's spec (field 2).
pub fn review_spec_to_json(body: &[u8], rules_review: bool) -> Result<Value, ApiError> {
    let mut spec = json!({});
    for (n, f) in fields(envelope(body)?)? {
        let (2, Field::Bytes(x)) = (n, f) else {
            continue;
        };
        if rules_review {
            spec = strings(x, &[(1, "namespace")], &[])?;
            continue;
        }
        for (n, f) in fields(x)? {
            let Field::Bytes(a) = f else { continue };
            match n {
                1 => {
                    spec["resourceAttributes"] = strings(
                        a,
                        &[
                            (1, "namespace"),
                            (2, "verb"),
                            (3, "group"),
                            (4, "version"),
                            (5, "resource"),
                            (6, "subresource"),
                            (7, "name"),
                        ],
                        &[],
                    )?
                }
                2 => spec["nonResourceAttributes"] = strings(a, &[(1, "path"), (2, "verb")], &[])?,
                _ => {}
            }
        }
    }
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ld(num: u64, data: &[u8]) -> Vec<u8> {
        let mut v = vec![((num << 3) | 2) as u8, data.len() as u8];
        v.extend_from_slice(data);
        v
    }

    fn envelope(obj: &[u8]) -> Vec<u8> {
        [crate::protobuf::MAGIC.to_vec(), ld(2, obj)].concat()
    }

    #[test]
    fn decodes_a_role_and_a_binding() {
        let rule = [ld(1, b"get"), ld(2, b""), ld(3, b"pods")].concat();
        let role = [ld(1, &ld(1, b"r")), ld(2, &rule)].concat();
        let v = rbac_to_json(Kind::Role, &envelope(&role)).unwrap();
        assert_eq!(
            v["rules"],
            json!([{"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}])
        );
        let subject = [ld(1, b"User"), ld(3, b"alice")].concat();
        let role_ref = [
            ld(1, b"rbac.authorization.k8s.io"),
            ld(2, b"Role"),
            ld(3, b"r"),
        ]
        .concat();
        let rb = [ld(1, &ld(1, b"b")), ld(2, &subject), ld(3, &role_ref)].concat();
        let v = rbac_to_json(Kind::RoleBinding, &envelope(&rb)).unwrap();
        assert_eq!(v["subjects"][0]["name"], "alice");
        assert_eq!(v["roleRef"]["kind"], "Role");
        assert_eq!(v["metadata"]["name"], "b");
    }

    #[test]
    fn decodes_an_access_review_spec() {
        let attrs = [ld(1, b"default"), ld(2, b"create"), ld(5, b"pods")].concat();
        let body = envelope(&ld(2, &ld(1, &attrs)));
        let spec = review_spec_to_json(&body, false).unwrap();
        assert_eq!(
            spec["resourceAttributes"],
            json!({"namespace": "default", "verb": "create", "resource": "pods"})
        );
        let body = envelope(&ld(2, &ld(1, b"ns1")));
        assert_eq!(
            review_spec_to_json(&body, true).unwrap()["namespace"],
            "ns1"
        );
    }
}
