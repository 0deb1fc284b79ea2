//! API-server defaulting (`pkg/apis/core/v1/defaults.go`), so that what
//! nodelet runs and shows is what a real cluster would have stored.
//!
//! Runs before validation: e.g. an `httpGet` hook without `path` gets `/`
//! here, so validation's "path required" never fires for loaded manifests,
//! exactly as on a real API server.

use k8s_openapi::api::core::v1::{
    ClientIPConfig, ConfigMap, Container, EnvVar, EphemeralContainer, HTTPGetAction, Lifecycle,
    Pod, PodSpec, Probe, Secret, Service, SessionAffinityConfig, Volume,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::Object;

pub const DEFAULT_NAMESPACE: &str = "default";
pub const DEFAULT_GRACE_SECONDS: i64 = 30;
/// `v1.DefaultClientIPServiceAffinitySeconds` (3 hours).
pub const DEFAULT_AFFINITY_SECONDS: i32 = 10800;
pub const TERMINATION_MESSAGE_PATH: &str = "/dev/termination-log";
/// `0644`, the API's default file mode for projected files.
const DEFAULT_FILE_MODE: i32 = 0o644;

pub fn default_object(obj: &mut Object) {
    match obj {
        Object::Pod(p) => default_pod(p),
        Object::Service(s) => default_service(s),
        Object::ConfigMap(c) => default_config_map(c),
        Object::Secret(s) => default_secret(s),
        Object::ServiceAccount(s) => default_metadata(&mut s.metadata),
    }
}

/// Namespace and uid, as the API server sets them on create.
pub fn default_metadata(meta: &mut ObjectMeta) {
    set_if_empty(&mut meta.namespace, DEFAULT_NAMESPACE);
    if meta.uid.as_deref().unwrap_or("").is_empty() {
        meta.uid = Some(uuid::Uuid::new_v4().to_string());
    }
}

pub fn default_pod(pod: &mut Pod) {
    default_metadata(&mut pod.metadata);
    let spec = pod.spec.get_or_insert_with(Default::default);
    default_pod_spec(spec);
    // SetDefaults_Pod: a limit without a request requests the limit (on
    // pods only, not on pod templates).
    for c in spec
        .containers
        .iter_mut()
        .chain(spec.init_containers.iter_mut().flatten())
    {
        if let Some(r) = c.resources.as_mut()
            && let Some(limits) = r.limits.as_ref()
        {
            let requests = r.requests.get_or_insert_with(Default::default);
            for (k, v) in limits {
                requests.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
    }
}

pub fn default_pod_spec(spec: &mut PodSpec) {
    set_if_empty(&mut spec.restart_policy, "Always");
    spec.termination_grace_period_seconds
        .get_or_insert(DEFAULT_GRACE_SECONDS);
    set_if_empty(&mut spec.dns_policy, "ClusterFirst");
    spec.enable_service_links.get_or_insert(true);
    set_if_empty(&mut spec.scheduler_name, "default-scheduler");
    spec.security_context.get_or_insert_with(Default::default);
    let host_network = spec.host_network == Some(true);
    for c in spec.init_containers.iter_mut().flatten() {
        default_container(c, host_network);
    }
    for c in spec.containers.iter_mut() {
        default_container(c, host_network);
    }
    for c in spec.ephemeral_containers.iter_mut().flatten() {
        default_ephemeral_container(c);
    }
    for v in spec.volumes.iter_mut().flatten() {
        default_volume(v);
    }
}

/// The fields both container types share get the same defaults.
macro_rules! default_container_fields {
    ($c:expr) => {{
        let c = $c;
        if c.image_pull_policy.as_deref().unwrap_or("").is_empty() {
            c.image_pull_policy =
                Some(pull_policy_for(c.image.as_deref().unwrap_or("")).to_string());
        }
        set_if_empty(&mut c.termination_message_path, TERMINATION_MESSAGE_PATH);
        set_if_empty(&mut c.termination_message_policy, "File");
        for p in c.ports.iter_mut().flatten() {
            set_if_empty(&mut p.protocol, "TCP");
        }
        if let Some(lc) = c.lifecycle.as_mut() {
            default_lifecycle(lc);
        }
        for probe in [
            &mut c.liveness_probe,
            &mut c.readiness_probe,
            &mut c.startup_probe,
        ] {
            if let Some(p) = probe.as_mut() {
                default_probe(p);
            }
        }
        for e in c.env.iter_mut().flatten() {
            default_env_var(e);
        }
    }};
}

pub fn default_container(c: &mut Container, host_network: bool) {
    default_container_fields!(&mut *c);
    if host_network {
        // With the host's network the container port *is* the host port.
        for p in c.ports.iter_mut().flatten() {
            if p.host_port.unwrap_or(0) == 0 {
                p.host_port = Some(p.container_port);
            }
        }
    }
}

fn default_ephemeral_container(c: &mut EphemeralContainer) {
    default_container_fields!(c);
}

/// `Always` for `:latest` or untagged images (they move), else
/// `IfNotPresent`; a digest pins the image, so never `Always` for it.
pub fn pull_policy_for(image: &str) -> &'static str {
    if image.contains('@') {
        return "IfNotPresent";
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.split_once(':') {
        None => "Always",
        Some((_, "latest")) => "Always",
        Some(_) => "IfNotPresent",
    }
}

fn default_lifecycle(lc: &mut Lifecycle) {
    for hook in [&mut lc.post_start, &mut lc.pre_stop].into_iter().flatten() {
        if let Some(h) = hook.http_get.as_mut() {
            default_http_get(h);
        }
    }
}

fn default_http_get(h: &mut HTTPGetAction) {
    set_if_empty(&mut h.path, "/");
    set_if_empty(&mut h.scheme, "HTTP");
}

fn default_probe(p: &mut Probe) {
    p.timeout_seconds.get_or_insert(1);
    p.period_seconds.get_or_insert(10);
    p.success_threshold.get_or_insert(1);
    p.failure_threshold.get_or_insert(3);
    if let Some(h) = p.http_get.as_mut() {
        default_http_get(h);
    }
}

fn default_env_var(e: &mut EnvVar) {
    if let Some(f) = e.value_from.as_mut().and_then(|v| v.field_ref.as_mut()) {
        set_if_empty(&mut f.api_version, "v1");
    }
}

fn default_volume(v: &mut Volume) {
    // `SetDefaults_Volume`: a volume without a source is an emptyDir.
    if crate::volume::volume_kind(v) == crate::volume::VolumeKind::None {
        v.empty_dir = Some(Default::default());
    }
    if let Some(h) = v.host_path.as_mut() {
        h.type_.get_or_insert_with(String::new);
    }
    for f in v
        .downward_api
        .iter_mut()
        .flat_map(|d| d.items.iter_mut().flatten())
    {
        if let Some(r) = f.field_ref.as_mut() {
            set_if_empty(&mut r.api_version, "v1");
        }
    }
    for s in v
        .projected
        .iter_mut()
        .flat_map(|p| p.sources.iter_mut().flatten())
    {
        if let Some(t) = s.service_account_token.as_mut() {
            // `SetDefaults_ServiceAccountTokenProjection`: one hour.
            t.expiration_seconds.get_or_insert(3600);
        }
        for f in s
            .downward_api
            .iter_mut()
            .flat_map(|d| d.items.iter_mut().flatten())
        {
            if let Some(r) = f.field_ref.as_mut() {
                set_if_empty(&mut r.api_version, "v1");
            }
        }
    }
    if let Some(s) = v.secret.as_mut() {
        s.default_mode.get_or_insert(DEFAULT_FILE_MODE);
    }
    if let Some(c) = v.config_map.as_mut() {
        c.default_mode.get_or_insert(DEFAULT_FILE_MODE);
    }
    if let Some(d) = v.downward_api.as_mut() {
        d.default_mode.get_or_insert(DEFAULT_FILE_MODE);
    }
    if let Some(p) = v.projected.as_mut() {
        p.default_mode.get_or_insert(DEFAULT_FILE_MODE);
    }
}

pub fn default_service(svc: &mut Service) {
    default_metadata(&mut svc.metadata);
    let spec = svc.spec.get_or_insert_with(Default::default);
    set_if_empty(&mut spec.type_, "ClusterIP");
    set_if_empty(&mut spec.session_affinity, "None");
    if matches!(
        spec.type_.as_deref(),
        Some("ClusterIP" | "NodePort" | "LoadBalancer")
    ) {
        set_if_empty(&mut spec.internal_traffic_policy, "Cluster");
    }
    if spec.session_affinity.as_deref() == Some("ClientIP")
        && spec
            .session_affinity_config
            .as_ref()
            .and_then(|c| c.client_ip.as_ref())
            .and_then(|c| c.timeout_seconds)
            .is_none()
    {
        spec.session_affinity_config = Some(SessionAffinityConfig {
            client_ip: Some(ClientIPConfig {
                timeout_seconds: Some(DEFAULT_AFFINITY_SECONDS),
            }),
        });
    }
    if crate::validate::externally_accessible(spec) {
        set_if_empty(&mut spec.external_traffic_policy, "Cluster");
    }
    if spec.type_.as_deref() == Some("LoadBalancer") {
        spec.allocate_load_balancer_node_ports.get_or_insert(true);
    }
    // The strategy's normalizeClusterIPs: `clusterIP` and `clusterIPs[0]`
    // name the same address; whichever the user set fills the other.
    let ip = spec.cluster_ip.clone().unwrap_or_default();
    let ips_empty = spec.cluster_ips.as_ref().is_none_or(|v| v.is_empty());
    if !ip.is_empty() && ips_empty {
        spec.cluster_ips = Some(vec![ip]);
    } else if ip.is_empty()
        && let Some(first) = spec.cluster_ips.as_ref().and_then(|v| v.first())
    {
        spec.cluster_ip = Some(first.clone());
    }
    for p in spec.ports.iter_mut().flatten() {
        set_if_empty(&mut p.protocol, "TCP");
        let unset = match &p.target_port {
            None => true,
            Some(IntOrString::Int(0)) => true,
            Some(IntOrString::String(s)) => s.is_empty(),
            Some(IntOrString::Int(_)) => false,
        };
        if unset {
            p.target_port = Some(IntOrString::Int(p.port));
        }
    }
}

pub fn default_config_map(cm: &mut ConfigMap) {
    default_metadata(&mut cm.metadata);
}

pub fn default_secret(secret: &mut Secret) {
    default_metadata(&mut secret.metadata);
    set_if_empty(&mut secret.type_, "Opaque");
}

fn set_if_empty(field: &mut Option<String>, value: &str) {
    if field.as_deref().unwrap_or("").is_empty() {
        *field = Some(value.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::pull_policy_for;

    #[test]
    fn pull_policy_follows_the_tag() {
        assert_eq!(pull_policy_for("nginx"), "Always");
        assert_eq!(pull_policy_for("nginx:latest"), "Always");
        assert_eq!(pull_policy_for("nginx:1.27"), "IfNotPresent");
        assert_eq!(pull_policy_for("localhost:5000/nginx"), "Always");
        assert_eq!(pull_policy_for("localhost:5000/nginx:1"), "IfNotPresent");
        assert_eq!(pull_policy_for("nginx@sha256:abc"), "IfNotPresent");
    }
}
