//! What the engine tells its subscribers (`nodelet run` streaming, the
//! API's watch): pod changes, pod removal, and events as recorded.

use k8s_openapi::api::core::v1::{Event, Pod};

#[derive(Debug, Clone)]
pub enum EngineEvent {
    /// A pod's status or metadata changed; the full new pod.
    PodUpdated(Box<Pod>),
    /// A pod was removed from the node (after termination).
    PodDeleted {
        namespace: String,
        name: String,
        uid: String,
    },
    /// An event was recorded or its count bumped; the stored event.
    Event(Box<Event>),
}

/// Capacity of the broadcast channel; a slow subscriber that falls this far
/// behind gets `Lagged` and should re-list.
pub const CHANNEL_CAPACITY: usize = 1024;
