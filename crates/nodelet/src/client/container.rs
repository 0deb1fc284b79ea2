//! kubectl's choice of container when `-c` is not given: the pod's
//! `kubectl.kubernetes.io/default-container` annotation, else the first
//! container, saying so when the pod has others.

use serde_json::Value;

const DEFAULT_ANNOTATION: &str = "kubectl.kubernetes.io/default-container";

/// The container to use and, when it was picked among several, kubectl's
/// notice for stderr.
pub fn default_container(pod: &Value) -> Option<(String, Option<String>)> {
    let names = |list: &str| -> Vec<String> {
        pod["spec"][list]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["name"].as_str().map(str::to_string))
            .collect()
    };
    let main = names("containers");
    let init = names("initContainers");
    let ephemeral = names("ephemeralContainers");
    if let Some(d) = pod["metadata"]["annotations"][DEFAULT_ANNOTATION].as_str()
        && main.iter().chain(&init).chain(&ephemeral).any(|n| n == d)
    {
        return Some((d.to_string(), None));
    }
    let first = main.first()?.clone();
    if main.len() + init.len() + ephemeral.len() == 1 {
        return Some((first, None));
    }
    let all: Vec<String> = main
        .iter()
        .cloned()
        .chain(init.iter().map(|n| format!("{n} (init)")))
        .chain(ephemeral.iter().map(|n| format!("{n} (ephem)")))
        .collect();
    let notice = format!("Defaulted container {first:?} out of: {}", all.join(", "));
    Some((first, Some(notice)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn picks_like_kubectl() {
        let one = json!({"spec": {"containers": [{"name": "a"}]}});
        assert_eq!(default_container(&one), Some(("a".into(), None)));
        let many = json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}], "initContainers": [{"name": "i"}]}});
        assert_eq!(
            default_container(&many),
            Some((
                "a".into(),
                Some("Defaulted container \"a\" out of: a, b, i (init)".into())
            ))
        );
        let annotated = json!({"metadata": {"annotations": {DEFAULT_ANNOTATION: "b"}},
            "spec": {"containers": [{"name": "a"}, {"name": "b"}]}});
        assert_eq!(default_container(&annotated), Some(("b".into(), None)));
    }
}
