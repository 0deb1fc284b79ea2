//! Errors of the runtime layer.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("container {0} not found")]
    ContainerNotFound(String),
    #[error("sandbox {0} not found")]
    SandboxNotFound(String),
    #[error("image {0:?} not found on this node")]
    ImageNotFound(String),
    #[error("invalid image {image:?}: {reason}")]
    InvalidImage { image: String, reason: String },
    /// `imagePullPolicy: Never` and the image is not on the node.
    #[error("container image {0:?} is not present with pull policy of Never")]
    ImageNeverPull(String),
    /// A registry pull failed; the message is the whole story (what was
    /// asked of which registry, and its answer).
    #[error("{0}")]
    ImagePull(String),
    /// A problem with the host that an operator must fix (missing runtime
    /// binary, crun refusing hybrid cgroups, no overlayfs...).
    #[error("host problem: {0}")]
    Host(String),
    /// The OCI runtime binary failed; `stderr` is its own message.
    #[error("{runtime} {op} failed: {stderr}")]
    OciRuntime {
        runtime: String,
        op: String,
        stderr: String,
    },
    #[error("network setup failed: {0}")]
    Network(String),
    #[error("exec timed out after {0:?}")]
    ExecTimeout(std::time::Duration),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Other(String),
}

impl RuntimeError {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        RuntimeError::Io {
            path: path.into(),
            source,
        }
    }
}

pub type Result<T, E = RuntimeError> = std::result::Result<T, E>;
