//! The resource kinds this API serves, with the names discovery and URLs use.

/// A served kind. `Node` is this machine only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Pod,
    Service,
    ConfigMap,
    Secret,
    ServiceAccount,
    Namespace,
    Event,
    Node,
}

impl Kind {
    pub const ALL: [Kind; 8] = [
        Kind::Pod,
        Kind::Service,
        Kind::ConfigMap,
        Kind::Secret,
        Kind::ServiceAccount,
        Kind::Namespace,
        Kind::Event,
        Kind::Node,
    ];

    /// `Pod`
    pub fn name(self) -> &'static str {
        match self {
            Kind::Pod => "Pod",
            Kind::Service => "Service",
            Kind::ConfigMap => "ConfigMap",
            Kind::Secret => "Secret",
            Kind::ServiceAccount => "ServiceAccount",
            Kind::Namespace => "Namespace",
            Kind::Event => "Event",
            Kind::Node => "Node",
        }
    }

    /// `pods`
    pub fn plural(self) -> &'static str {
        match self {
            Kind::Pod => "pods",
            Kind::Service => "services",
            Kind::ConfigMap => "configmaps",
            Kind::Secret => "secrets",
            Kind::ServiceAccount => "serviceaccounts",
            Kind::Namespace => "namespaces",
            Kind::Event => "events",
            Kind::Node => "nodes",
        }
    }

    pub fn singular(self) -> &'static str {
        match self {
            Kind::Pod => "pod",
            Kind::Service => "service",
            Kind::ConfigMap => "configmap",
            Kind::Secret => "secret",
            Kind::ServiceAccount => "serviceaccount",
            Kind::Namespace => "namespace",
            Kind::Event => "event",
            Kind::Node => "node",
        }
    }

    pub fn short_names(self) -> &'static [&'static str] {
        match self {
            Kind::Pod => &["po"],
            Kind::Service => &["svc"],
            Kind::ConfigMap => &["cm"],
            Kind::Secret => &[],
            Kind::ServiceAccount => &["sa"],
            Kind::Namespace => &["ns"],
            Kind::Event => &["ev"],
            Kind::Node => &["no"],
        }
    }

    pub fn namespaced(self) -> bool {
        !matches!(self, Kind::Namespace | Kind::Node)
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
            Kind::Pod | Kind::Service | Kind::ConfigMap | Kind::Secret | Kind::ServiceAccount => &[
                "create", "delete", "get", "list", "patch", "update", "watch",
            ],
            Kind::Namespace => &["get", "list", "watch"],
            Kind::Event => &["get", "list", "watch"],
            Kind::Node => &["get", "list", "watch"],
        }
    }

    pub fn categories(self) -> &'static [&'static str] {
        match self {
            Kind::Pod | Kind::Service => &["all"],
            _ => &[],
        }
    }
}
