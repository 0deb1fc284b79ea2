//! The resource kinds this API serves, with the names discovery and URLs use.

/// nodelet's API group.
pub const NODELET_GROUP: &str = "nodelet.dev";

/// A served kind. `Node` is this machine only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Pod,
    Service,
    ConfigMap,
    Secret,
    Namespace,
    Event,
    Node,
    /// `hookdeliveries.nodelet.dev/v1`: one lifecycle hook delivery, as
    /// the engine records it with its journal (read-only).
    HookDelivery,
    /// `podtimelines.nodelet.dev/v1`: a pod's lifecycle marks (what
    /// `nodelet timeline` draws; read-only).
    PodTimeline,
}

impl Kind {
    pub const ALL: [Kind; 9] = [
        Kind::Pod,
        Kind::Service,
        Kind::ConfigMap,
        Kind::Secret,
        Kind::Namespace,
        Kind::Event,
        Kind::Node,
        Kind::HookDelivery,
        Kind::PodTimeline,
    ];

    /// `Pod`
    pub fn name(self) -> &'static str {
        match self {
            Kind::Pod => "Pod",
            Kind::Service => "Service",
            Kind::ConfigMap => "ConfigMap",
            Kind::Secret => "Secret",
            Kind::Namespace => "Namespace",
            Kind::Event => "Event",
            Kind::Node => "Node",
            Kind::HookDelivery => "HookDelivery",
            Kind::PodTimeline => "PodTimeline",
        }
    }

    /// `pods`
    pub fn plural(self) -> &'static str {
        match self {
            Kind::Pod => "pods",
            Kind::Service => "services",
            Kind::ConfigMap => "configmaps",
            Kind::Secret => "secrets",
            Kind::Namespace => "namespaces",
            Kind::Event => "events",
            Kind::Node => "nodes",
            Kind::HookDelivery => "hookdeliveries",
            Kind::PodTimeline => "podtimelines",
        }
    }

    pub fn singular(self) -> &'static str {
        match self {
            Kind::Pod => "pod",
            Kind::Service => "service",
            Kind::ConfigMap => "configmap",
            Kind::Secret => "secret",
            Kind::Namespace => "namespace",
            Kind::Event => "event",
            Kind::Node => "node",
            Kind::HookDelivery => "hookdelivery",
            Kind::PodTimeline => "podtimeline",
        }
    }

    pub fn short_names(self) -> &'static [&'static str] {
        match self {
            Kind::Pod => &["po"],
            Kind::Service => &["svc"],
            Kind::ConfigMap => &["cm"],
            Kind::Secret => &[],
            Kind::Namespace => &["ns"],
            Kind::Event => &["ev"],
            Kind::Node => &["no"],
            Kind::HookDelivery => &["hd"],
            Kind::PodTimeline => &["ptl"],
        }
    }

    pub fn namespaced(self) -> bool {
        !matches!(self, Kind::Namespace | Kind::Node)
    }

    /// The API group (`""` = core). nodelet's own kinds are in
    /// `nodelet.dev`.
    pub fn group(self) -> &'static str {
        match self {
            Kind::HookDelivery => NODELET_GROUP,
            Kind::PodTimeline => NODELET_GROUP,
            _ => "",
        }
    }

    /// `v1`, `nodelet.dev/v1`.
    pub fn api_version(self) -> &'static str {
        match self {
            Kind::HookDelivery => "nodelet.dev/v1",
            Kind::PodTimeline => "nodelet.dev/v1",
            _ => "v1",
        }
    }

    pub fn from_plural(p: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.plural() == p)
    }

    pub fn from_name(n: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == n)
    }

    /// Verbs advertised in discovery (what the handlers implement).
    pub fn verbs(self) -> &'static [&'static str] {
        match self {
            Kind::Pod | Kind::Service | Kind::ConfigMap | Kind::Secret => &[
                "create", "delete", "get", "list", "patch", "update", "watch",
            ],
            Kind::Namespace => &["get", "list", "watch"],
            Kind::Event => &["get", "list", "watch"],
            Kind::Node => &["get", "list", "watch"],
            Kind::HookDelivery => &["get", "list", "watch"],
            Kind::PodTimeline => &["get", "list", "watch"],
        }
    }

    pub fn categories(self) -> &'static [&'static str] {
        match self {
            Kind::Pod | Kind::Service => &["all"],
            _ => &[],
        }
    }
}
