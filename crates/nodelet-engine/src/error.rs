//! Errors the engine returns to its callers (CLI, API).

use nodelet_runtime::RuntimeError;
use nodelet_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// A pod of that name exists with a different spec (pods are immutable
    /// here; delete it first).
    #[error("{kind} \"{name}\" already exists in namespace \"{namespace}\" with a different spec")]
    AlreadyExists {
        kind: &'static str,
        namespace: String,
        name: String,
    },
    #[error("{kind} \"{name}\" not found in namespace \"{namespace}\"")]
    NotFound {
        kind: &'static str,
        namespace: String,
        name: String,
    },
    /// An update based on an outdated resourceVersion, or naming another
    /// pod (uid) than the one of that name.
    #[error(
        "Operation cannot be fulfilled on {kind} \"{name}\" in namespace \"{namespace}\": the object has been modified"
    )]
    Conflict {
        kind: &'static str,
        namespace: String,
        name: String,
    },
    /// A stored or given object could not be (de)serialised.
    #[error("invalid {what}: {reason}")]
    Invalid { what: String, reason: String },
    #[error("the engine is shut down")]
    ShutDown,
    /// The agent restarted and is still re-adopting its pods: pod changes
    /// wait until it is done (a moment; retry).
    #[error("the agent is re-adopting its pods after a restart; retry in a moment")]
    Adopting,
    /// The state store cannot take writes: new work is refused (running
    /// pods keep running) until it recovers.
    #[error("{0}; new pods are refused until it takes writes again")]
    StorageUnavailable(String),
}

pub type Result<T, E = EngineError> = std::result::Result<T, E>;
