//! The effective security settings of a container: the container's
//! `securityContext` over the pod's (the kubelet's
//! `securitycontext.DetermineEffectiveSecurityContext` and
//! `apparmor.GetProfile`), and the kubelet's `verifyRunAsNonRoot` check
//! with its exact messages.

use k8s_openapi::api::core::v1::{
    AppArmorProfile, Container, Pod, PodSecurityContext, SeccompProfile, SecurityContext,
};

fn pod_sc(pod: &Pod) -> Option<&PodSecurityContext> {
    pod.spec.as_ref().and_then(|s| s.security_context.as_ref())
}

/// `seccompProfile`: the container's, else the pod's.
pub fn seccomp_profile<'a>(pod: &'a Pod, c: &'a Container) -> Option<&'a SeccompProfile> {
    c.security_context
        .as_ref()
        .and_then(|s| s.seccomp_profile.as_ref())
        .or_else(|| pod_sc(pod).and_then(|s| s.seccomp_profile.as_ref()))
}

/// The deprecated per-container annotation prefix (still honoured).
pub const APPARMOR_ANNOTATION_PREFIX: &str = "container.apparmor.security.beta.kubernetes.io/";

/// `appArmorProfile`: the container's field, the pod's field, else the
/// deprecated annotation (`runtime/default`, `localhost/<name>`,
/// `unconfined`).
pub fn apparmor_profile(pod: &Pod, c: &Container) -> Option<AppArmorProfile> {
    if let Some(p) = c
        .security_context
        .as_ref()
        .and_then(|s| s.app_armor_profile.as_ref())
        .or_else(|| pod_sc(pod).and_then(|s| s.app_armor_profile.as_ref()))
    {
        return Some(p.clone());
    }
    let key = format!("{APPARMOR_ANNOTATION_PREFIX}{}", c.name);
    let v = pod.metadata.annotations.as_ref()?.get(&key)?;
    let (type_, localhost_profile) = match v.as_str() {
        "runtime/default" => ("RuntimeDefault", None),
        "unconfined" => ("Unconfined", None),
        other => match other.strip_prefix("localhost/") {
            Some(name) => ("Localhost", Some(name.to_string())),
            None => return None,
        },
    };
    Some(AppArmorProfile {
        type_: type_.to_string(),
        localhost_profile,
    })
}

/// The merged settings `verifyRunAsNonRoot` and the runtime need.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Effective {
    pub run_as_user: Option<i64>,
    pub run_as_group: Option<i64>,
    pub run_as_non_root: Option<bool>,
}

/// The container's security context merged over the pod's.
pub fn effective(pod: &Pod, c: &Container) -> Effective {
    let p = pod_sc(pod);
    let s: Option<&SecurityContext> = c.security_context.as_ref();
    Effective {
        run_as_user: s
            .and_then(|s| s.run_as_user)
            .or(p.and_then(|p| p.run_as_user)),
        run_as_group: s
            .and_then(|s| s.run_as_group)
            .or(p.and_then(|p| p.run_as_group)),
        run_as_non_root: s
            .and_then(|s| s.run_as_non_root)
            .or(p.and_then(|p| p.run_as_non_root)),
    }
}

/// What the runtime reports about an image's user (CRI `ImageStatus`):
/// a numeric uid, or a name; an empty or missing `USER` is root (uid 0),
/// as the kubelet's `getImageUser` treats it. `user:group` keeps the user.
pub fn image_user(user: Option<&str>) -> (Option<i64>, String) {
    let u = user.unwrap_or("").trim();
    let u = u.split_once(':').map_or(u, |(u, _)| u);
    if u.is_empty() {
        return (Some(0), String::new());
    }
    match u.parse::<i64>() {
        Ok(uid) => (Some(uid), String::new()),
        Err(_) => (None, u.to_string()),
    }
}

/// The kubelet's `format.Pod`: `name_namespace(uid)`.
pub fn format_pod(pod: &Pod) -> String {
    let m = &pod.metadata;
    format!(
        "{}_{}({})",
        m.name.as_deref().unwrap_or(""),
        m.namespace.as_deref().unwrap_or(""),
        m.uid.as_deref().unwrap_or("")
    )
}

/// The kubelet's `verifyRunAsNonRoot`: with `runAsNonRoot: true`, the
/// container must not run as uid 0, and a named image user cannot be
/// verified. The error is what the kubelet reports (CreateContainerConfigError).
pub fn verify_run_as_non_root(
    pod: &Pod,
    c: &Container,
    image_uid: Option<i64>,
    image_username: &str,
) -> Result<(), String> {
    let e = effective(pod, c);
    if e.run_as_non_root != Some(true) {
        return Ok(());
    }
    let who = format!("(pod: {:?}, container: {})", format_pod(pod), c.name);
    if let Some(uid) = e.run_as_user {
        if uid == 0 {
            return Err(format!(
                "container's runAsUser breaks non-root policy {who}"
            ));
        }
        return Ok(());
    }
    match image_uid {
        Some(0) => Err(format!(
            "container has runAsNonRoot and image will run as root {who}"
        )),
        None if !image_username.is_empty() => Err(format!(
            "container has runAsNonRoot and image has non-numeric user ({image_username}), cannot verify user is non-root {who}"
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(v: serde_json::Value) -> Pod {
        serde_json::from_value(v).unwrap()
    }

    fn base(pod_sc: serde_json::Value, c_sc: serde_json::Value) -> (Pod, Container) {
        let p = pod(serde_json::json!({
            "metadata": {"name": "web", "namespace": "default", "uid": "u-1"},
            "spec": {"securityContext": pod_sc, "containers": [{"name": "c", "securityContext": c_sc}]}
        }));
        let c = p.spec.as_ref().unwrap().containers[0].clone();
        (p, c)
    }

    #[test]
    fn run_as_non_root_messages() {
        let (p, c) = base(
            serde_json::json!({"runAsNonRoot": true}),
            serde_json::json!({}),
        );
        assert_eq!(
            verify_run_as_non_root(&p, &c, Some(0), "").unwrap_err(),
            "container has runAsNonRoot and image will run as root (pod: \"web_default(u-1)\", container: c)"
        );
        assert_eq!(
            verify_run_as_non_root(&p, &c, None, "nginx").unwrap_err(),
            "container has runAsNonRoot and image has non-numeric user (nginx), cannot verify user is non-root (pod: \"web_default(u-1)\", container: c)"
        );
        assert!(verify_run_as_non_root(&p, &c, Some(1000), "").is_ok());
        // The container's runAsUser decides.
        let (p, c) = base(
            serde_json::json!({"runAsNonRoot": true}),
            serde_json::json!({"runAsUser": 0}),
        );
        assert_eq!(
            verify_run_as_non_root(&p, &c, Some(1000), "").unwrap_err(),
            "container's runAsUser breaks non-root policy (pod: \"web_default(u-1)\", container: c)"
        );
        let (p, c) = base(
            serde_json::json!({"runAsNonRoot": true}),
            serde_json::json!({"runAsUser": 1000}),
        );
        assert!(verify_run_as_non_root(&p, &c, Some(0), "").is_ok());
        // The container can switch the check off.
        let (p, c) = base(
            serde_json::json!({"runAsNonRoot": true}),
            serde_json::json!({"runAsNonRoot": false}),
        );
        assert!(verify_run_as_non_root(&p, &c, Some(0), "").is_ok());
    }

    #[test]
    fn image_users() {
        assert_eq!(image_user(None), (Some(0), String::new()));
        assert_eq!(image_user(Some("")), (Some(0), String::new()));
        assert_eq!(image_user(Some("1000:1000")), (Some(1000), String::new()));
        assert_eq!(image_user(Some("nginx")), (None, "nginx".into()));
        assert_eq!(image_user(Some("root:wheel")), (None, "root".into()));
    }

    #[test]
    fn profiles_merge_container_over_pod_and_annotations() {
        let (p, c) = base(
            serde_json::json!({"seccompProfile": {"type": "RuntimeDefault"}}),
            serde_json::json!({}),
        );
        assert_eq!(seccomp_profile(&p, &c).unwrap().type_, "RuntimeDefault");
        let (p, c) = base(
            serde_json::json!({"seccompProfile": {"type": "RuntimeDefault"}}),
            serde_json::json!({"seccompProfile": {"type": "Unconfined"}}),
        );
        assert_eq!(seccomp_profile(&p, &c).unwrap().type_, "Unconfined");
        let mut p = pod(serde_json::json!({
            "metadata": {"name": "w", "annotations": {
                "container.apparmor.security.beta.kubernetes.io/c": "localhost/k8s-deny"}},
            "spec": {"containers": [{"name": "c"}]}
        }));
        let c = p.spec.as_ref().unwrap().containers[0].clone();
        let a = apparmor_profile(&p, &c).unwrap();
        assert_eq!(
            (a.type_.as_str(), a.localhost_profile.as_deref()),
            ("Localhost", Some("k8s-deny"))
        );
        p.spec.as_mut().unwrap().security_context = Some(PodSecurityContext {
            app_armor_profile: Some(AppArmorProfile {
                type_: "Unconfined".into(),
                localhost_profile: None,
            }),
            ..Default::default()
        });
        assert_eq!(apparmor_profile(&p, &c).unwrap().type_, "Unconfined");
    }
}
