//! Node mode's errors: what went wrong talking to the API server, reading
//! the node's credentials or serving the kubelet port.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("reading the kubeconfig {path}: {reason}")]
    Kubeconfig { path: PathBuf, reason: String },
    #[error("TLS bootstrap: {0}")]
    Bootstrap(String),
    #[error("the API server: {0}")]
    Api(#[from] kube::Error),
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the kubelet server's TLS: {0}")]
    Tls(String),
    #[error("{0}")]
    Other(String),
}

impl NodeError {
    pub fn io(what: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        NodeError::Io {
            what,
            path: path.into(),
            source,
        }
    }
}

pub type Result<T, E = NodeError> = std::result::Result<T, E>;

/// The HTTP status of an API error response, if it was one.
pub fn api_code(e: &kube::Error) -> Option<u16> {
    match e {
        kube::Error::Api(s) => Some(s.code),
        _ => None,
    }
}

pub fn is_not_found(e: &kube::Error) -> bool {
    api_code(e) == Some(404)
}

pub fn is_conflict(e: &kube::Error) -> bool {
    api_code(e) == Some(409)
}
