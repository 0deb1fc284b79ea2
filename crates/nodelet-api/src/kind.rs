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
    ServiceAccount,
    Namespace,
    Event,
    Node,
    /// Kept by nodelet's services controller (read-only through the API).
    Endpoints,
    /// `discovery.k8s.io/v1`, kept by nodelet's services controller.
    EndpointSlice,
    /// `hookdeliveries.nodelet.dev/v1`: one lifecycle hook delivery, as
    /// the engine records it with its journal (read-only).
    HookDelivery,
    /// `podtimelines.nodelet.dev/v1`: a pod's lifecycle marks (what
    /// `nodelet timeline` draws; read-only).
    PodTimeline,
    /// `rbac.authorization.k8s.io/v1`: namespaced rules.
    Role,
    /// `rbac.authorization.k8s.io/v1`: cluster-wide rules.
    ClusterRole,
    /// `rbac.authorization.k8s.io/v1`: grants a Role or ClusterRole in a namespace.
    RoleBinding,
    /// `rbac.authorization.k8s.io/v1`: grants a ClusterRole everywhere.
    ClusterRoleBinding,
}

/// The RBAC API group.
pub const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

impl Kind {
    pub const ALL: [Kind; 16] = [
        Kind::Pod,
        Kind::Service,
        Kind::ConfigMap,
        Kind::Secret,
        Kind::ServiceAccount,
        Kind::Namespace,
        Kind::Event,
        Kind::Node,
        Kind::Endpoints,
        Kind::EndpointSlice,
        Kind::HookDelivery,
        Kind::PodTimeline,
        Kind::Role,
        Kind::ClusterRole,
        Kind::RoleBinding,
        Kind::ClusterRoleBinding,
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
            Kind::Endpoints => "Endpoints",
            Kind::EndpointSlice => "EndpointSlice",
            Kind::HookDelivery => "HookDelivery",
            Kind::PodTimeline => "PodTimeline",
            Kind::Role => "Role",
            Kind::ClusterRole => "ClusterRole",
            Kind::RoleBinding => "RoleBinding",
            Kind::ClusterRoleBinding => "ClusterRoleBinding",
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
            Kind::Endpoints => "endpoints",
            Kind::EndpointSlice => "endpointslices",
            Kind::HookDelivery => "hookdeliveries",
            Kind::PodTimeline => "podtimelines",
            Kind::Role => "roles",
            Kind::ClusterRole => "clusterroles",
            Kind::RoleBinding => "rolebindings",
            Kind::ClusterRoleBinding => "clusterrolebindings",
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
            Kind::Endpoints => "endpoints",
            Kind::EndpointSlice => "endpointslice",
            Kind::HookDelivery => "hookdelivery",
            Kind::PodTimeline => "podtimeline",
            Kind::Role => "role",
            Kind::ClusterRole => "clusterrole",
            Kind::RoleBinding => "rolebinding",
            Kind::ClusterRoleBinding => "clusterrolebinding",
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
            Kind::Endpoints => &["ep"],
            Kind::EndpointSlice => &[],
            Kind::HookDelivery => &["hd"],
            Kind::PodTimeline => &["ptl"],
            Kind::Role | Kind::ClusterRole | Kind::RoleBinding | Kind::ClusterRoleBinding => &[],
        }
    }

    pub fn namespaced(self) -> bool {
        !matches!(
            self,
            Kind::Namespace | Kind::Node | Kind::ClusterRole | Kind::ClusterRoleBinding
        )
    }

    /// A kind of the core group (`/api/v1`) by its plural.
    pub fn from_plural(p: &str) -> Option<Kind> {
        Kind::from_group_plural("", p)
    }

    /// The kind of `group` (`""` for core) whose plural is `p`.
    pub fn from_group_plural(group: &str, p: &str) -> Option<Kind> {
        Kind::ALL
            .into_iter()
            .find(|k| k.plural() == p && k.group() == group)
    }

    /// The API group (`""` for core).
    pub fn group(self) -> &'static str {
        match self {
            Kind::EndpointSlice => "discovery.k8s.io",
            Kind::HookDelivery | Kind::PodTimeline => NODELET_GROUP,
            Kind::Role | Kind::ClusterRole | Kind::RoleBinding | Kind::ClusterRoleBinding => {
                RBAC_GROUP
            }
            _ => "",
        }
    }

    /// `v1` or `<group>/v1`.
    pub fn api_version(self) -> &'static str {
        match self {
            Kind::EndpointSlice => "discovery.k8s.io/v1",
            Kind::HookDelivery | Kind::PodTimeline => "nodelet.dev/v1",
            Kind::Role | Kind::ClusterRole | Kind::RoleBinding | Kind::ClusterRoleBinding => {
                "rbac.authorization.k8s.io/v1"
            }
            _ => "v1",
        }
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
            Kind::Role | Kind::ClusterRole | Kind::RoleBinding | Kind::ClusterRoleBinding => &[
                "create", "delete", "get", "list", "patch", "update", "watch",
            ],
            Kind::Namespace => &["get", "list", "watch"],
            Kind::Event => &["get", "list", "watch"],
            Kind::Node => &["get", "list", "watch"],
            Kind::Endpoints | Kind::EndpointSlice => &["get", "list", "watch"],
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
