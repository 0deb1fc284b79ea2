//! The kinds of object nodelet accepts from manifests.

use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret, Service, ServiceAccount};

/// One typed object from a manifest.
#[derive(Debug, Clone, PartialEq)]
pub enum Object {
    Pod(Box<Pod>),
    Service(Box<Service>),
    ConfigMap(Box<ConfigMap>),
    Secret(Box<Secret>),
    ServiceAccount(Box<ServiceAccount>),
}

impl Object {
    pub fn kind(&self) -> &'static str {
        match self {
            Object::Pod(_) => "Pod",
            Object::Service(_) => "Service",
            Object::ConfigMap(_) => "ConfigMap",
            Object::Secret(_) => "Secret",
            Object::ServiceAccount(_) => "ServiceAccount",
        }
    }

    pub fn metadata(&self) -> &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
        match self {
            Object::Pod(o) => &o.metadata,
            Object::Service(o) => &o.metadata,
            Object::ConfigMap(o) => &o.metadata,
            Object::Secret(o) => &o.metadata,
            Object::ServiceAccount(o) => &o.metadata,
        }
    }

    pub fn metadata_mut(
        &mut self,
    ) -> &mut k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
        match self {
            Object::Pod(o) => &mut o.metadata,
            Object::Service(o) => &mut o.metadata,
            Object::ConfigMap(o) => &mut o.metadata,
            Object::Secret(o) => &mut o.metadata,
            Object::ServiceAccount(o) => &mut o.metadata,
        }
    }

    /// The object as JSON (without `apiVersion`/`kind`).
    pub fn to_value(&self) -> Result<serde_json::Value, serde_json::Error> {
        match self {
            Object::Pod(o) => serde_json::to_value(o),
            Object::Service(o) => serde_json::to_value(o),
            Object::ConfigMap(o) => serde_json::to_value(o),
            Object::Secret(o) => serde_json::to_value(o),
            Object::ServiceAccount(o) => serde_json::to_value(o),
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
