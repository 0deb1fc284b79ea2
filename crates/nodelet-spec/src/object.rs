//! The kinds of object nodelet accepts from manifests.

use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret, Service};

/// One typed object from a manifest.
#[derive(Debug, Clone, PartialEq)]
pub enum Object {
    Pod(Box<Pod>),
    Service(Box<Service>),
    ConfigMap(Box<ConfigMap>),
    Secret(Box<Secret>),
}

impl Object {
    pub fn kind(&self) -> &'static str {
        match self {
            Object::Pod(_) => "Pod",
            Object::Service(_) => "Service",
            Object::ConfigMap(_) => "ConfigMap",
            Object::Secret(_) => "Secret",
        }
    }
}

/// An object together with where it came from, for error messages.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// File name (or `<stdin>`, `<api>`) the object was read from.
    pub source: String,
    /// Zero-based document index within the source (items of a `List`
    /// count as their own documents, in order).
    pub index: usize,
    pub object: Object,
}
