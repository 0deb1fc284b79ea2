//! `Engine::set_external_conditions`: the node agent's side of a
//! `pods/status` write by someone else.

use k8s_openapi::api::core::v1::{Pod, PodCondition};

use super::Engine;
use crate::error::{EngineError, Result};
use crate::pod_conditions;
use crate::podkey::PodKey;

impl Engine {
    /// Takes the conditions of a status written through the API. Those of
    /// types the agent computes (`Ready`, …) are dropped — the kubelet would
    /// overwrite them on its next sync, and nodelet computes status on every
    /// change — the others replace the pod's previous external conditions
    /// (a status write carries the whole list). Returns the pod as it is
    /// now; watchers see the change.
    pub fn set_external_conditions(
        &self,
        namespace: &str,
        name: &str,
        conditions: &[PodCondition],
    ) -> Result<Pod> {
        self.check_adopted()?;
        let not_found = || EngineError::NotFound {
            kind: "Pod",
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        };
        let shared = {
            let pods = self.lock();
            match pods.get(&PodKey::new(namespace, name)) {
                Some(h) if h.live() => h.shared.clone(),
                _ => return Err(not_found()),
            }
        };
        shared.lock().external_conditions = pod_conditions::external(conditions);
        shared.publish();
        shared.pod().ok_or_else(not_found)
    }
}
