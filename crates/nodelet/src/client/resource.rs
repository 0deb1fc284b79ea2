//! Resource names as kubectl accepts them (`po`, `pod`, `pods`, `pod/x`)
//! and the URL paths of the core group.

/// A core/v1 resource the agent serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resource {
    pub plural: &'static str,
    pub kind: &'static str,
    pub namespaced: bool,
    /// API group; `""` for core.
    pub group: &'static str,
}

const ALL: [(&[&str], Resource); 9] = [
    (
        &["pods", "pod", "po"],
        Resource {
            plural: "pods",
            kind: "Pod",
            namespaced: true,
            group: "",
        },
    ),
    (
        &["events", "event", "ev"],
        Resource {
            plural: "events",
            kind: "Event",
            namespaced: true,
            group: "",
        },
    ),
    (
        &["services", "service", "svc"],
        Resource {
            plural: "services",
            kind: "Service",
            namespaced: true,
            group: "",
        },
    ),
    (
        &["configmaps", "configmap", "cm"],
        Resource {
            plural: "configmaps",
            kind: "ConfigMap",
            namespaced: true,
            group: "",
        },
    ),
    (
        &["secrets", "secret"],
        Resource {
            plural: "secrets",
            kind: "Secret",
            namespaced: true,
            group: "",
        },
    ),
    (
        &["namespaces", "namespace", "ns"],
        Resource {
            plural: "namespaces",
            kind: "Namespace",
            namespaced: false,
            group: "",
        },
    ),
    (
        &["nodes", "node", "no"],
        Resource {
            plural: "nodes",
            kind: "Node",
            namespaced: false,
            group: "",
        },
    ),
    (
        &["endpoints", "ep"],
        Resource {
            plural: "endpoints",
            kind: "Endpoints",
            namespaced: true,
            group: "",
        },
    ),
    (
        &[
            "endpointslices",
            "endpointslice",
            "endpointslices.discovery.k8s.io",
        ],
        Resource {
            plural: "endpointslices",
            kind: "EndpointSlice",
            namespaced: true,
            group: "discovery.k8s.io",
        },
    ),
];

impl Resource {
    pub fn parse(s: &str) -> Option<Resource> {
        let s = s.to_ascii_lowercase();
        ALL.iter()
            .find(|(names, _)| names.contains(&s.as_str()))
            .map(|(_, r)| *r)
    }

    pub fn from_kind(kind: &str) -> Option<Resource> {
        ALL.iter().map(|(_, r)| *r).find(|r| r.kind == kind)
    }

    /// `pod` in `pod/x` and `pod "x" deleted`.
    pub fn singular(&self) -> String {
        self.kind.to_ascii_lowercase()
    }

    /// The collection: `/api/v1/namespaces/ns/pods`, or across namespaces
    /// (`ns` = `None`) `/api/v1/pods`.
    pub fn collection(&self, ns: Option<&str>) -> String {
        let prefix = match self.group {
            "" => "/api/v1".to_owned(),
            g => format!("/apis/{g}/v1"),
        };
        match ns {
            Some(ns) if self.namespaced => format!("{prefix}/namespaces/{ns}/{}", self.plural),
            _ => format!("{prefix}/{}", self.plural),
        }
    }

    pub fn item(&self, ns: &str, name: &str) -> String {
        format!("{}/{name}", self.collection(Some(ns)))
    }
}

/// Splits kubectl's `TYPE NAME...` or `TYPE/NAME...` arguments into
/// (resource, name) pairs; names without a type use `resource`.
pub fn targets(
    resource: &str,
    names: &[String],
) -> Result<Vec<(Resource, Option<String>)>, String> {
    let unknown = |t: &str| format!("the server doesn't have a resource type \"{t}\"");
    if let Some((t, n)) = resource.split_once('/') {
        let r = Resource::parse(t).ok_or_else(|| unknown(t))?;
        let mut out = vec![(r, Some(n.to_string()))];
        for extra in names {
            let (t, n) = extra.split_once('/').ok_or_else(|| {
                "there is no need to specify a resource type as a separate argument when passing arguments in resource/name form".to_string()
            })?;
            out.push((
                Resource::parse(t).ok_or_else(|| unknown(t))?,
                Some(n.to_string()),
            ));
        }
        return Ok(out);
    }
    if resource.contains(',') {
        // `pods,svc`: every object of each type.
        if !names.is_empty() {
            return Err("names cannot be given with several resource types; use TYPE/NAME".into());
        }
        return resource
            .split(',')
            .filter(|t| !t.is_empty())
            .map(|t| {
                Resource::parse(t)
                    .map(|r| (r, None))
                    .ok_or_else(|| unknown(t))
            })
            .collect();
    }
    let r = Resource::parse(resource).ok_or_else(|| unknown(resource))?;
    if names.is_empty() {
        return Ok(vec![(r, None)]);
    }
    Ok(names.iter().map(|n| (r, Some(n.clone()))).collect())
}

/// `pod/x` or `x` (a pod) → the pod's name.
pub fn pod_name(arg: &str) -> Result<String, String> {
    match arg.split_once('/') {
        None => Ok(arg.to_string()),
        Some((t, n)) if Resource::parse(t).map(|r| r.kind) == Some("Pod") => Ok(n.to_string()),
        Some((t, _)) => Err(format!("cannot use {t:?}: only pods are supported here")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_paths() {
        let r = Resource::parse("po").unwrap();
        assert_eq!(r.item("default", "x"), "/api/v1/namespaces/default/pods/x");
        assert_eq!(r.collection(None), "/api/v1/pods");
        let t = targets("pod/a", &["svc/b".into()]).unwrap();
        assert_eq!(t[1].0.plural, "services");
        assert_eq!(t[1].1.as_deref(), Some("b"));
        assert!(targets("widgets", &[]).is_err());
        let t = targets("pods,cm", &[]).unwrap();
        assert_eq!((t[0].0.kind, t[1].0.kind), ("Pod", "ConfigMap"));
        assert!(targets("pods,cm", &["x".into()]).is_err());
        assert_eq!(pod_name("pod/x").unwrap(), "x");
        assert!(pod_name("svc/x").is_err());
    }
}
