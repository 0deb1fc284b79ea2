//! Matching one policy rule against a request, and whether a set of rules
//! covers another (escalation prevention): the RBAC authorizer's rule
//! semantics (`*` wildcards, `*/subresource`, resourceNames, non-resource
//! URL prefixes ending in `*`).

use k8s_openapi::api::rbac::v1::PolicyRule;

use super::attributes::Attributes;

const ALL: &str = "*";

fn has(set: &[String], v: &str) -> bool {
    set.iter().any(|s| s == ALL || s == v)
}

fn verb_matches(rule: &PolicyRule, verb: &str) -> bool {
    has(&rule.verbs, verb)
}

fn group_matches(rule: &PolicyRule, group: &str) -> bool {
    rule.api_groups.as_deref().is_some_and(|g| has(g, group))
}

/// `*`, the exact `resource/sub`, or `*/sub` for a subresource.
fn resource_matches(rule: &PolicyRule, combined: &str, sub: &str) -> bool {
    rule.resources.as_deref().is_some_and(|rs| {
        rs.iter().any(|r| {
            r == ALL
                || r == combined
                || (!sub.is_empty() && r.strip_prefix("*/").is_some_and(|s| s == sub))
        })
    })
}

fn name_matches(rule: &PolicyRule, name: &str) -> bool {
    match rule.resource_names.as_deref() {
        None | Some([]) => true,
        Some(names) => !name.is_empty() && names.iter().any(|n| n == name),
    }
}

/// `*`, the exact path, or a prefix ending in `*`.
fn url_matches(patterns: &[String], path: &str) -> bool {
    patterns.iter().any(|p| {
        p == ALL
            || p == path
            || p.strip_suffix('*')
                .is_some_and(|prefix| path.starts_with(prefix))
    })
}

/// Whether `rule` allows the request `a`.
pub fn allows(rule: &PolicyRule, a: &Attributes) -> bool {
    if !verb_matches(rule, &a.verb) {
        return false;
    }
    if a.resource_request {
        group_matches(rule, &a.api_group)
            && resource_matches(rule, &a.resource_with_sub(), &a.subresource)
            && name_matches(rule, &a.name)
    } else {
        rule.non_resource_urls
            .as_deref()
            .is_some_and(|u| url_matches(u, &a.path))
    }
}

/// One verb on one resource (and name) of one group, or one verb on one
/// URL: what a rule is broken into to check coverage.
fn atoms(rule: &PolicyRule) -> Vec<PolicyRule> {
    let one = |v: &str| vec![v.to_string()];
    let mut out = Vec::new();
    for verb in &rule.verbs {
        for url in rule.non_resource_urls.iter().flatten() {
            out.push(PolicyRule {
                verbs: one(verb),
                non_resource_urls: Some(one(url)),
                ..PolicyRule::default()
            });
        }
        for group in rule.api_groups.iter().flatten() {
            for res in rule.resources.iter().flatten() {
                let names: Vec<Option<&String>> = match rule.resource_names.as_deref() {
                    None | Some([]) => vec![None],
                    Some(n) => n.iter().map(Some).collect(),
                };
                for name in names {
                    out.push(PolicyRule {
                        verbs: one(verb),
                        api_groups: Some(one(group)),
                        resources: Some(one(res)),
                        resource_names: name.map(|n| one(n)),
                        ..PolicyRule::default()
                    });
                }
            }
        }
    }
    out
}

/// Whether `owner` grants everything the single-valued `atom` does (a `*`
/// in the atom needs a `*` in the owner).
fn covers_atom(owner: &PolicyRule, atom: &PolicyRule) -> bool {
    let first = |v: &Option<Vec<String>>| v.as_ref().and_then(|v| v.first().cloned());
    if !has(&owner.verbs, &atom.verbs[0]) {
        return false;
    }
    if let Some(url) = first(&atom.non_resource_urls) {
        return owner.non_resource_urls.as_deref().is_some_and(|u| {
            u.iter().any(|p| {
                p == ALL
                    || *p == url
                    || p.strip_suffix('*')
                        .is_some_and(|prefix| url.starts_with(prefix))
            })
        });
    }
    let (Some(group), Some(res)) = (first(&atom.api_groups), first(&atom.resources)) else {
        return false;
    };
    if !owner.api_groups.as_deref().is_some_and(|g| has(g, &group)) {
        return false;
    }
    let res_ok = owner.resources.as_deref().is_some_and(|rs| {
        has(rs, &res)
            || res
                .split_once('/')
                .is_some_and(|(_, sub)| rs.iter().any(|r| *r == format!("*/{sub}")))
    });
    if !res_ok {
        return false;
    }
    match owner.resource_names.as_deref() {
        None | Some([]) => true,
        Some(names) => first(&atom.resource_names).is_some_and(|n| names.contains(&n)),
    }
}

/// The parts of `wanted` that no rule of `owner` grants (empty: covered).
pub fn uncovered(owner: &[PolicyRule], wanted: &[PolicyRule]) -> Vec<PolicyRule> {
    wanted
        .iter()
        .flat_map(atoms)
        .filter(|atom| !owner.iter().any(|o| covers_atom(o, atom)))
        .collect()
}

/// A rule as the API server prints it in escalation errors
/// (`{APIGroups:[""], Resources:["pods"], Verbs:["create"]}`).
pub fn compact(rule: &PolicyRule) -> String {
    let list = |v: &[String]| {
        v.iter()
            .map(|s| format!("{s:?}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut parts = Vec::new();
    if let Some(g) = &rule.api_groups {
        parts.push(format!("APIGroups:[{}]", list(g)));
    }
    if let Some(r) = &rule.resources {
        parts.push(format!("Resources:[{}]", list(r)));
    }
    if let Some(n) = rule.resource_names.as_deref().filter(|n| !n.is_empty()) {
        parts.push(format!("ResourceNames:[{}]", list(n)));
    }
    if let Some(u) = &rule.non_resource_urls {
        parts.push(format!("NonResourceURLs:[{}]", list(u)));
    }
    parts.push(format!("Verbs:[{}]", list(&rule.verbs)));
    format!("{{{}}}", parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::Query;
    use axum::http::Method;

    fn rule(verbs: &[&str], groups: &[&str], res: &[&str], names: &[&str]) -> PolicyRule {
        let v = |x: &[&str]| x.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        PolicyRule {
            verbs: v(verbs),
            api_groups: Some(v(groups)),
            resources: Some(v(res)),
            resource_names: (!names.is_empty()).then(|| v(names)),
            non_resource_urls: None,
        }
    }

    fn req(m: Method, p: &str) -> Attributes {
        Attributes::of(&m, p, &Query::default())
    }

    #[test]
    fn wildcards_subresources_and_names() {
        let get_log = req(Method::GET, "/api/v1/namespaces/d/pods/p/log");
        assert!(!allows(&rule(&["get"], &[""], &["pods"], &[]), &get_log));
        assert!(allows(&rule(&["get"], &[""], &["pods/log"], &[]), &get_log));
        assert!(allows(&rule(&["get"], &[""], &["*/log"], &[]), &get_log));
        assert!(allows(&rule(&["*"], &["*"], &["*"], &[]), &get_log));
        assert!(allows(
            &rule(&["get"], &[""], &["pods/log"], &["p"]),
            &get_log
        ));
        assert!(!allows(
            &rule(&["get"], &[""], &["pods/log"], &["q"]),
            &get_log
        ));
        let list = req(Method::GET, "/api/v1/namespaces/d/pods");
        assert!(!allows(&rule(&["list"], &[""], &["pods"], &["p"]), &list));
        assert!(!allows(&rule(&["get"], &["apps"], &["pods"], &[]), &list));
        let url = req(Method::GET, "/healthz/ping");
        let mut r = rule(&["get"], &[], &[], &[]);
        r.non_resource_urls = Some(vec!["/healthz/*".into()]);
        assert!(allows(&r, &url));
        r.non_resource_urls = Some(vec!["/healthz".into()]);
        assert!(!allows(&r, &url));
    }

    #[test]
    fn coverage_needs_every_part_granted() {
        let owner = vec![
            rule(&["get", "list"], &[""], &["pods", "*/log"], &[]),
            rule(&["update"], &[""], &["configmaps"], &["c"]),
        ];
        assert!(uncovered(&owner, &[rule(&["get"], &[""], &["pods", "pods/log"], &[])]).is_empty());
        assert!(uncovered(&owner, &[rule(&["update"], &[""], &["configmaps"], &["c"])]).is_empty());
        let missing = uncovered(&owner, &[rule(&["get", "create"], &[""], &["pods"], &[])]);
        assert_eq!(missing.len(), 1);
        assert_eq!(
            compact(&missing[0]),
            r#"{APIGroups:[""], Resources:["pods"], Verbs:["create"]}"#
        );
        // A wildcard is only covered by a wildcard.
        assert_eq!(
            uncovered(&owner, &[rule(&["*"], &[""], &["pods"], &[])]).len(),
            1
        );
        assert_eq!(
            uncovered(&owner, &[rule(&["update"], &[""], &["configmaps"], &[])]).len(),
            1
        );
    }
}
