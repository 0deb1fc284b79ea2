//! The pod streams: what `pods/exec`, `pods/attach` and `pods/log` need
//! from the agent (the pod as JSON, the runtime's interactive streams, the
//! CRI log file), split from the object store part of [`crate::Backend`]
//! so that node mode's kubelet server (`/exec`, `/attach`,
//! `/containerLogs` on :10250) serves the same protocol code unchanged.
//!
//! [`EngineStreams`] is the real implementation over the lifecycle engine
//! and the runtime, shared by `nodelet serve` and `nodelet node`. The HTTP
//! handlers that speak the protocols are re-exported here: [`exec_ws`]
//! (WebSocket `v5.channel.k8s.io`/`v4`, exec and attach), [`logs`] and
//! [`port_forward`] (SPDY/3.1, plain or tunnelled in a WebSocket).

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use nodelet_engine::Engine;
use nodelet_runtime::{AttachRequest, InteractiveExec, InteractiveExecRequest, Runtime};
use serde_json::Value;

use crate::error::ApiError;
use crate::portforward::streams::{Connect, PodConn};

pub use crate::exec::{Mode, handle as exec_ws};
pub use crate::logs::{LogOpts, logs};
pub use crate::portforward::route::handle as port_forward;
pub use crate::query::Query;

#[async_trait]
pub trait PodStreams: Send + Sync + 'static {
    /// The pod with its status, as JSON (`NotFound` when it is not here).
    async fn pod(&self, ns: &str, name: &str) -> Result<Value, ApiError>;

    /// Runs a command in a running container (`pods/exec`).
    async fn exec(
        &self,
        ns: &str,
        pod: &str,
        container: &str,
        req: InteractiveExecRequest,
    ) -> Result<InteractiveExec, ApiError>;

    /// Attaches to a container's main process (`pods/attach`). Whether it
    /// is a TTY is the container's (`tty: true`), as with kubelet.
    async fn attach(
        &self,
        ns: &str,
        pod: &str,
        container: &str,
        req: AttachRequest,
    ) -> Result<InteractiveExec, ApiError>;

    /// The CRI-format log file of a container (current or previous attempt).
    async fn log_path(
        &self,
        ns: &str,
        pod: &str,
        container: &str,
        previous: bool,
    ) -> Result<PathBuf, ApiError>;

    /// `pods/portforward`: how to connect to a port of the pod, and the
    /// name error messages give it (the sandbox id, as containerd's).
    async fn port_forward(
        &self,
        ns: &str,
        pod: &str,
    ) -> Result<(Arc<dyn Connect>, String), ApiError> {
        let _ = ns;
        Err(ApiError::bad_request(format!(
            "port forwarding to pod {pod} is not supported by this server"
        )))
    }
}

/// The pods the engine runs, their containers in the runtime.
pub struct EngineStreams {
    engine: Arc<Engine>,
    runtime: Arc<dyn Runtime>,
}

impl EngineStreams {
    pub fn new(engine: Arc<Engine>, runtime: Arc<dyn Runtime>) -> Self {
        EngineStreams { engine, runtime }
    }

    fn pod_value(&self, ns: &str, name: &str) -> Result<Value, ApiError> {
        let pod = self
            .engine
            .get_pod(ns, name)
            .ok_or_else(|| ApiError::not_found("pods", name))?;
        serde_json::to_value(&pod).map_err(|e| ApiError::internal(e.to_string()))
    }

    /// The runtime id of the running container `container` of the pod.
    fn running_id(&self, p: &Value, pod: &str, container: &str) -> Result<String, ApiError> {
        container_status(p, container)
            .filter(|c| c["state"]["running"].is_object())
            .and_then(|c| c["containerID"].as_str())
            .map(|id| runtime_id(id).to_owned())
            .ok_or_else(|| {
                ApiError::bad_request(format!("container {container} is not running in pod {pod}"))
            })
    }
}

/// The runtime id of a container from `nodelet://<id>`.
fn runtime_id(url: &str) -> &str {
    url.split_once("://").map_or(url, |(_, id)| id)
}

fn container_status<'a>(pod: &'a Value, container: &str) -> Option<&'a Value> {
    [
        "containerStatuses",
        "initContainerStatuses",
        "ephemeralContainerStatuses",
    ]
    .iter()
    .flat_map(|l| pod["status"][*l].as_array().into_iter().flatten())
    .find(|c| c["name"].as_str() == Some(container))
}

#[async_trait]
impl PodStreams for EngineStreams {
    async fn pod(&self, ns: &str, name: &str) -> Result<Value, ApiError> {
        self.pod_value(ns, name)
    }

    async fn exec(
        &self,
        ns: &str,
        pod: &str,
        container: &str,
        req: InteractiveExecRequest,
    ) -> Result<InteractiveExec, ApiError> {
        let p = self.pod_value(ns, pod)?;
        let id = self.running_id(&p, pod, container)?;
        self.runtime
            .exec_interactive(&id, &req)
            .await
            .map_err(|e| ApiError::internal(format!("exec in {pod}/{container}: {e}")))
    }

    async fn attach(
        &self,
        ns: &str,
        pod: &str,
        container: &str,
        req: AttachRequest,
    ) -> Result<InteractiveExec, ApiError> {
        let p = self.pod_value(ns, pod)?;
        let id = self.running_id(&p, pod, container)?;
        let spec_stdin = ["containers", "initContainers", "ephemeralContainers"]
            .iter()
            .flat_map(|l| p["spec"][*l].as_array().into_iter().flatten())
            .find(|c| c["name"].as_str() == Some(container))
            .is_some_and(|c| c["stdin"].as_bool() == Some(true));
        if req.stdin && !spec_stdin {
            return Err(ApiError::bad_request(format!(
                "container {container} in pod {pod} does not accept stdin: set stdin: true in its spec to attach with -i"
            )));
        }
        self.runtime
            .attach(&id, &req)
            .await
            .map_err(|e| ApiError::internal(format!("attach to {pod}/{container}: {e}")))
    }

    async fn log_path(
        &self,
        ns: &str,
        pod: &str,
        container: &str,
        previous: bool,
    ) -> Result<PathBuf, ApiError> {
        let p = self.pod_value(ns, pod)?;
        let st = container_status(&p, container);
        let last = st.and_then(|c| c["lastState"]["terminated"]["containerID"].as_str());
        let id = if previous {
            last.ok_or_else(|| {
                ApiError::bad_request(format!(
                    "previous terminated container \"{container}\" in pod \"{pod}\" not found"
                ))
            })?
        } else {
            // A waiting container (back-off) shows its last run, as kubelet does.
            st.and_then(|c| c["containerID"].as_str())
                .or(last)
                .ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "container \"{container}\" in pod \"{pod}\" is waiting to start: ContainerCreating"
                    ))
                })?
        };
        Ok(self.runtime.log_path(runtime_id(id)))
    }

    async fn port_forward(
        &self,
        ns: &str,
        pod: &str,
    ) -> Result<(Arc<dyn Connect>, String), ApiError> {
        self.pod_value(ns, pod)?;
        let sandbox = self.engine.sandbox_id(ns, pod).ok_or_else(|| {
            ApiError::bad_request(format!("pod {pod} has no sandbox yet: it is not running"))
        })?;
        let runtime = self.runtime.clone();
        let id = sandbox.clone();
        let connect = move |port: u16| {
            let runtime = runtime.clone();
            let id = id.clone();
            async move {
                runtime
                    .port_forward(&id, port)
                    .await
                    .map(|s| Box::new(s) as Box<dyn PodConn>)
                    .map_err(|e| e.to_string())
            }
        };
        Ok((Arc::new(connect), sandbox))
    }
}
