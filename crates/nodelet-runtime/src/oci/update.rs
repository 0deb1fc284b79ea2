//! In-place resource updates (CRI `UpdateContainerResources`): the new
//! limits go through the OCI runtime's `update` command, which writes the
//! container's cgroup files for whatever hierarchy the host has (v1, hybrid
//! or v2) exactly as it did at create, from the same Kubernetes → cgroup
//! math (`cgroups::limits`).

use serde_json::{Map, Value, json};

use super::OciRuntime;
use super::cgroups;
use crate::error::{Result, RuntimeError};
use crate::types::Resources;

/// The OCI `LinuxResources` object for `r`: only what `r` sets.
pub fn linux_resources(r: &Resources) -> Value {
    let (memory, shares, quota) = cgroups::limits(r);
    let mut out = Map::new();
    if let Some(limit) = memory {
        out.insert("memory".into(), json!({ "limit": limit }));
    }
    let mut cpu = Map::new();
    if r.cpu_request_millis.is_some() || r.cpu_limit_millis.is_some() {
        cpu.insert("shares".into(), json!(shares));
    }
    if let Some(q) = quota {
        cpu.insert("quota".into(), json!(q));
        cpu.insert("period".into(), json!(cgroups::CPU_PERIOD_US));
    }
    if !cpu.is_empty() {
        out.insert("cpu".into(), Value::Object(cpu));
    }
    Value::Object(out)
}

impl OciRuntime {
    pub(crate) async fn update_resources(&self, id: &str, r: &Resources) -> Result<()> {
        self.meta(id)?;
        let file = self.container_dir(id).join("update-resources.json");
        let body = serde_json::to_vec(&linux_resources(r))
            .map_err(|e| RuntimeError::Other(format!("encoding resources: {e}")))?;
        std::fs::write(&file, body).map_err(|e| RuntimeError::io(&file, e))?;
        let result = self.cli.update(id, &file).await;
        let _ = std::fs::remove_file(&file);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_is_set_is_sent() {
        let r = Resources {
            memory_limit_bytes: Some(64 << 20),
            memory_request_bytes: Some(32 << 20),
            cpu_limit_millis: Some(500),
            cpu_request_millis: Some(250),
        };
        assert_eq!(
            linux_resources(&r),
            json!({"memory": {"limit": 64 << 20},
                   "cpu": {"shares": 256, "quota": 50_000, "period": 100_000}})
        );
        let r = Resources {
            cpu_request_millis: Some(100),
            ..Default::default()
        };
        assert_eq!(linux_resources(&r), json!({"cpu": {"shares": 102}}));
        assert_eq!(linux_resources(&Resources::default()), json!({}));
    }
}
