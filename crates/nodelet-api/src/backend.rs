//! The seam between the HTTP layer and whatever keeps the objects (the
//! lifecycle engine in `nodelet serve`, an in-memory fake in tests).
//!
//! Objects cross the seam as JSON with `apiVersion`, `kind` and
//! `metadata.resourceVersion`/`uid`/`creationTimestamp` filled in by the
//! backend; everything HTTP (selectors, tables, patches, watch framing,
//! defaulting and validation) stays on this side.

use async_trait::async_trait;
use futures::stream::BoxStream;
use k8s_openapi::api::core::v1::Node;
use serde_json::Value;

use crate::error::ApiError;
use crate::kind::Kind;
use crate::streams::PodStreams;

/// What happened to an object, as a watch reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchEventType {
    Added,
    Modified,
    Deleted,
}

impl WatchEventType {
    pub fn as_str(self) -> &'static str {
        match self {
            WatchEventType::Added => "ADDED",
            WatchEventType::Modified => "MODIFIED",
            WatchEventType::Deleted => "DELETED",
        }
    }
}

/// One change of one object, at resourceVersion `rv`.
#[derive(Debug, Clone, PartialEq)]
pub struct WatchEvent {
    pub event_type: WatchEventType,
    pub kind: Kind,
    /// The object after the change (before it, for `Deleted`).
    pub object: Value,
    pub rv: u64,
}

/// The operations the API needs. Objects passed to `create`/`replace` are
/// already defaulted and validated by the API layer. The pod streams (exec,
/// attach, logs) are the [`PodStreams`] part, which node mode's kubelet
/// server serves too.
#[async_trait]
pub trait Backend: PodStreams {
    /// Stores a new object; `AlreadyExists` (409) when the name is taken.
    async fn create(&self, obj: nodelet_spec::Object) -> Result<Value, ApiError>;

    /// Replaces an existing object. `expected_rv`: fail with `Conflict` (409)
    /// unless the stored object is still at that resourceVersion.
    async fn replace(
        &self,
        obj: nodelet_spec::Object,
        expected_rv: Option<u64>,
    ) -> Result<Value, ApiError>;

    /// Writes a pod's status (`pods/status`); `status` is the whole new
    /// status, `expected_rv` as for `replace`. Returns the pod as it is
    /// afterwards. The node agent owns status: it keeps only the conditions
    /// it does not compute (readiness gates and the like) and recomputes the
    /// rest, as the kubelet overwrites them on its next sync.
    async fn update_status(
        &self,
        ns: &str,
        name: &str,
        status: Value,
        expected_rv: Option<u64>,
    ) -> Result<Value, ApiError>;

    /// Stores an object of a kind the API validates and keeps as plain JSON
    /// (the RBAC kinds): `create` fails with `AlreadyExists` when the name
    /// is taken, otherwise the object must exist (`NotFound`) and, with
    /// `expected_rv`, still be at that resourceVersion (`Conflict`).
    /// Returns the stored object with its resourceVersion.
    async fn put_plain(
        &self,
        kind: Kind,
        ns: &str,
        name: &str,
        obj: Value,
        create: bool,
        expected_rv: Option<u64>,
    ) -> Result<Value, ApiError>;

    /// One object (with status) and its resourceVersion.
    async fn get(&self, kind: Kind, ns: &str, name: &str) -> Result<(Value, u64), ApiError>;

    /// All objects of a kind (`ns: None` = all namespaces) and the list's
    /// resourceVersion (the store's current one).
    async fn list(&self, kind: Kind, ns: Option<&str>) -> Result<(Vec<Value>, u64), ApiError>;

    /// Changes after `since_rv` (exclusive), all kinds. `Gone` (410) when
    /// the backend no longer has history back to `since_rv`.
    async fn watch(&self, since_rv: u64) -> Result<BoxStream<'static, WatchEvent>, ApiError>;

    /// Deletes an object. For pods this starts graceful termination
    /// (`grace` seconds, `None` = the pod's own) and returns the pod with
    /// `deletionTimestamp` set; other kinds are removed at once and the
    /// removed object is returned.
    async fn delete(
        &self,
        kind: Kind,
        ns: &str,
        name: &str,
        grace: Option<i64>,
    ) -> Result<Value, ApiError>;

    /// The agent's metrics as Prometheus (OpenMetrics) text, for
    /// `/metrics`.
    fn metrics(&self) -> String;

    /// The node object for this machine (see [`crate::node::this_node`]).
    fn node(&self) -> Node;

    /// Resolves once the objects are all under management (after an agent
    /// restart, once every stored pod is re-adopted). Reads are served
    /// before; changes, exec, attach, logs and port forwarding wait for it
    /// (see [`crate::adopting`]).
    async fn adopted(&self) {}
}
