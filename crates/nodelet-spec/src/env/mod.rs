//! The environment a container is started with, and its expanded command.
//!
//! This is the kubelet's `makeEnvironmentVariables` as a pure function of
//! the pod and the objects the node knows about:
//!
//! 1. service link variables are computed (see [`service_links`]);
//! 2. `envFrom` sources are applied in order, later keys overwriting
//!    earlier ones, each key prefixed with the source's `prefix`. Current
//!    kubelets no longer drop keys that are not C identifiers (relaxed env
//!    var names), so neither do we; only keys no process environment can
//!    hold (empty, `=` or NUL inside) are skipped and reported;
//! 3. `env` entries are applied in order. A non-empty `value` is
//!    `$(VAR)`-expanded against everything defined so far, then the service
//!    variables; otherwise `valueFrom` is resolved. A missing optional
//!    ConfigMap/Secret (or key) leaves the variable undefined;
//! 4. service variables are added for every name not defined by 2–3.
//!
//! Output order: the kubelet builds the list from Go maps, so its order is
//! random. We make it deterministic: variables from `envFrom`/`env` in the
//! order their name was *first* defined (redefining keeps the position,
//! takes the new value), then the remaining service variables sorted by
//! name.
//!
//! `command` and `args` are expanded against the final environment by
//! [`expand_command`].

mod downward;
mod expand;
mod quantity;
mod service_links;
mod sources;

use std::collections::{BTreeMap, HashMap, HashSet};

use k8s_openapi::api::core::v1::{ConfigMap, Container, Pod, Secret, Service};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Serialize};
use thiserror::Error;

pub use downward::{field_ref_value, resource_field_value};
pub use expand::expand;
pub use quantity::{Nanos, QuantityError};
pub use service_links::{env_name as service_env_name, service_env, vars_for_service};

use sources::{SourceKind, Sources};

/// Everything outside the container spec that its environment depends on.
#[derive(Debug, Clone, Copy)]
pub struct EnvContext<'a> {
    /// The pod, after defaulting.
    pub pod: &'a Pod,
    /// All services known to the node, of any namespace.
    pub services: &'a [Service],
    /// ConfigMaps known to the node (only the pod's namespace is used).
    pub config_maps: &'a [ConfigMap],
    /// Secrets known to the node (only the pod's namespace is used).
    pub secrets: &'a [Secret],
    /// This node's name; `spec.nodeName` falls back to it when the pod
    /// does not carry one (nodelet pods are not bound by a scheduler).
    pub node_name: &'a str,
    /// Node IPs, primary first (`status.hostIP`, `status.hostIPs`).
    pub host_ips: &'a [String],
    /// Pod IPs (may be empty before the sandbox exists).
    pub pod_ips: &'a [String],
}

impl<'a> EnvContext<'a> {
    /// A context with no services, ConfigMaps, Secrets or IPs.
    pub fn new(pod: &'a Pod, node_name: &'a str) -> Self {
        EnvContext {
            pod,
            services: &[],
            config_maps: &[],
            secrets: &[],
            node_name,
            host_ips: &[],
            pod_ips: &[],
        }
    }
}

/// One resolved environment variable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvVar {
    pub name: String,
    pub value: String,
}

/// The environment plus what was left out of it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EnvReport {
    /// The container's environment, in the documented order.
    pub env: Vec<EnvVar>,
    /// `envFrom` keys (after prefixing) that cannot be passed to a process
    /// (empty, or containing `=` or NUL) and were skipped; the API server's
    /// key validation normally makes this empty.
    pub skipped: Vec<String>,
}

/// Why a container's environment could not be built. Messages are the
/// kubelet's where it has one.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EnvError {
    #[error("configmap \"{name}\" not found")]
    ConfigMapNotFound { name: String },
    #[error("secret \"{name}\" not found")]
    SecretNotFound { name: String },
    #[error("couldn't find key {key} in ConfigMap {namespace}/{name}")]
    ConfigMapKeyNotFound {
        key: String,
        namespace: String,
        name: String,
    },
    #[error("couldn't find key {key} in Secret {namespace}/{name}")]
    SecretKeyNotFound {
        key: String,
        namespace: String,
        name: String,
    },
    #[error("unsupported pod version: {0}")]
    UnsupportedPodVersion(String),
    #[error("field label not supported: {0}")]
    FieldLabelNotSupported(String),
    #[error("field label does not support subscript: {0}")]
    FieldLabelNoSubscript(String),
    #[error("unsupported fieldPath: {0}")]
    UnsupportedFieldPath(String),
    #[error("invalid key subscript in {path}: {reason}")]
    InvalidSubscript { path: String, reason: String },
    #[error("host IP unknown; known addresses: []")]
    HostIpUnknown,
    #[error("unsupported container resource : {0}")]
    UnsupportedResource(String),
    #[error("invalid divisor for {0}")]
    InvalidDivisor(String),
    #[error("container {0} not found")]
    ContainerNotFound(String),
    #[error("invalid quantity {value:?}: {reason}")]
    InvalidQuantity { value: String, reason: String },
    /// `fileKeyRef` reads a file from a volume, which needs I/O this crate
    /// does not do; the caller has to resolve it.
    #[error("env var {0}: fileKeyRef is not supported")]
    FileKeyRefUnsupported(String),
}

/// The namespace of an object, `default` when unset (as the API server
/// and the kubelet's static-pod path default it).
pub(crate) fn namespace_of(meta: &ObjectMeta) -> &str {
    meta.namespace
        .as_deref()
        .filter(|n| !n.is_empty())
        .unwrap_or("default")
}

/// Node allocatable by resource name (`cpu`, `memory`,
/// `ephemeral-storage`), as in a Node's `status.allocatable`.
pub type Allocatable = BTreeMap<String, Quantity>;

/// Builds `container`'s environment; see the module docs for the rules.
///
/// A `resourceFieldRef` to a limit neither the container nor the pod sets
/// reads as 0 here; use [`container_env_report`] with node allocatable to
/// get the kubelet's value.
pub fn container_env(ctx: &EnvContext, container: &Container) -> Result<Vec<EnvVar>, EnvError> {
    container_env_report(ctx, container, None).map(|r| r.env)
}

/// [`container_env`] that also takes node allocatable (what the kubelet
/// substitutes for unset limits in `resourceFieldRef`) and reports skipped
/// `envFrom` keys, so the caller can record an event about them.
///
/// Allocatable is a parameter rather than an [`EnvContext`] field so that
/// contexts built with the original field list keep compiling.
pub fn container_env_report(
    ctx: &EnvContext,
    container: &Container,
    node_allocatable: Option<&Allocatable>,
) -> Result<EnvReport, EnvError> {
    let service_env = service_links::service_env_map(ctx);
    let mut sources = Sources::new(ctx);
    let mut defined = Ordered::default();
    let mut skipped = Vec::new();

    for env_from in container.env_from.iter().flatten() {
        let (kind, name, optional) = if let Some(r) = &env_from.config_map_ref {
            (
                SourceKind::ConfigMap,
                r.name.as_str(),
                r.optional.unwrap_or(false),
            )
        } else if let Some(r) = &env_from.secret_ref {
            (
                SourceKind::Secret,
                r.name.as_str(),
                r.optional.unwrap_or(false),
            )
        } else {
            continue;
        };
        let Some(data) = sources.get(kind, name, optional)? else {
            continue;
        };
        let prefix = env_from.prefix.as_deref().unwrap_or_default();
        for (key, value) in data {
            let key = format!("{prefix}{key}");
            if key.is_empty() || key.contains(['=', '\0']) {
                skipped.push(key);
            } else {
                defined.set(key, value.clone());
            }
        }
    }

    for var in container.env.iter().flatten() {
        let literal = var.value.as_deref().unwrap_or_default();
        let value = if !literal.is_empty() {
            expand(literal, |name| {
                defined.get(name).or_else(|| service_env.get(name)).cloned()
            })
        } else if let Some(from) = &var.value_from {
            match resolve_value_from(
                ctx,
                container,
                node_allocatable,
                &mut sources,
                &var.name,
                from,
            )? {
                Some(value) => value,
                None => continue,
            }
        } else {
            String::new()
        };
        defined.set(var.name.clone(), value);
    }

    let mut env = defined.into_vars();
    let seen: HashSet<&str> = env.iter().map(|v| v.name.as_str()).collect();
    let extra: Vec<EnvVar> = service_env
        .iter()
        .filter(|(name, _)| !seen.contains(name.as_str()))
        .map(|(name, value)| EnvVar {
            name: name.clone(),
            value: value.clone(),
        })
        .collect();
    env.extend(extra);
    Ok(EnvReport { env, skipped })
}

/// One `valueFrom`; `Ok(None)` means "optional and missing: leave unset".
fn resolve_value_from(
    ctx: &EnvContext,
    container: &Container,
    node_allocatable: Option<&Allocatable>,
    sources: &mut Sources,
    var_name: &str,
    from: &k8s_openapi::api::core::v1::EnvVarSource,
) -> Result<Option<String>, EnvError> {
    if let Some(field) = &from.field_ref {
        return field_ref_value(ctx, field).map(Some);
    }
    if let Some(resource) = &from.resource_field_ref {
        return resource_field_value(ctx, container, resource, node_allocatable).map(Some);
    }
    if let Some(r) = &from.config_map_key_ref {
        return sources.key(
            SourceKind::ConfigMap,
            &r.name,
            &r.key,
            r.optional.unwrap_or(false),
        );
    }
    if let Some(r) = &from.secret_key_ref {
        return sources.key(
            SourceKind::Secret,
            &r.name,
            &r.key,
            r.optional.unwrap_or(false),
        );
    }
    if from.file_key_ref.is_some() {
        return Err(EnvError::FileKeyRefUnsupported(var_name.to_owned()));
    }
    // An empty `valueFrom` defines the variable as empty, as upstream.
    Ok(Some(String::new()))
}

/// Expands `command` and `args` against the final environment (upstream
/// `ExpandContainerCommandAndArgs`). Absent or empty lists give `None`, so
/// the image's entrypoint/cmd apply.
pub fn expand_command(
    container: &Container,
    env: &[EnvVar],
) -> (Option<Vec<String>>, Option<Vec<String>>) {
    // Later duplicates win, as when the list is turned into a map upstream.
    let map: HashMap<&str, &str> = env
        .iter()
        .map(|v| (v.name.as_str(), v.value.as_str()))
        .collect();
    let expand_all = |list: &Option<Vec<String>>| {
        list.as_ref().filter(|l| !l.is_empty()).map(|l| {
            l.iter()
                .map(|s| expand(s, |name| map.get(name).map(|v| (*v).to_owned())))
                .collect()
        })
    };
    (expand_all(&container.command), expand_all(&container.args))
}

/// Insertion-ordered map: first definition fixes the position.
#[derive(Default)]
struct Ordered {
    index: HashMap<String, usize>,
    vars: Vec<EnvVar>,
}

impl Ordered {
    fn set(&mut self, name: String, value: String) {
        match self.index.get(&name) {
            Some(&i) => self.vars[i].value = value,
            None => {
                self.index.insert(name.clone(), self.vars.len());
                self.vars.push(EnvVar { name, value });
            }
        }
    }

    fn get(&self, name: &str) -> Option<&String> {
        self.index.get(name).map(|&i| &self.vars[i].value)
    }

    fn into_vars(self) -> Vec<EnvVar> {
        self.vars
    }
}
