//! nodelet-api: the Kubernetes REST subset kubectl needs.
