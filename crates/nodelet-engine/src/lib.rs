//! nodelet-engine: the container lifecycle as Kubernetes defines it.
