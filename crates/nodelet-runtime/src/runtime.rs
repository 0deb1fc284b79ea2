//! The seam between the lifecycle engine and real containers.
//!
//! Shaped after the CRI runtime service, trimmed to what nodelet needs: the
//! engine never shells out or touches cgroups itself, so its timing rules
//! can be unit-tested against [`crate::fake`] in milliseconds.

use std::path::PathBuf;

use async_trait::async_trait;

use crate::error::{Result, RuntimeError};
use crate::types::*;

/// Why [`Runtime::create_and_start_container`] failed, split as the
/// kubelet reports it: no container (`CreateContainerError`) or a created
/// one that did not start (`RunContainerError`, which still counts as
/// created and must be removed later).
#[derive(Debug, thiserror::Error)]
pub enum CreateStartError {
    /// Nothing is left of the container.
    #[error("{0}")]
    Create(RuntimeError),
    /// `id` exists, as a failed `start_container` leaves it.
    #[error("{error}")]
    Start { id: String, error: RuntimeError },
}

#[async_trait]
pub trait Runtime: Send + Sync + 'static {
    /// Makes sure `req.image` is on the node per `req.policy`, pulling it
    /// (with `req.credentials`) when allowed and needed, and returns its
    /// metadata. `Never` and absent: [`RuntimeError::ImageNeverPull`].
    /// A pull reports [`PullEvent::Started`] on `req.progress` before it
    /// begins (the kubelet's `Pulling` event); concurrent requests for the
    /// same image and credentials share one pull.
    async fn ensure_image(&self, req: &ImageRequest) -> Result<ImageInfo>;

    /// Creates the pod's shared namespaces and network.
    async fn create_sandbox(&self, config: &SandboxConfig) -> Result<SandboxInfo>;

    /// Tears the sandbox down: network, namespaces, cgroup. Its containers
    /// must have been removed. Idempotent.
    async fn remove_sandbox(&self, sandbox_id: &str) -> Result<()>;

    /// Creates (does not start) a container in a sandbox; returns its id.
    async fn create_container(
        &self,
        sandbox: &SandboxInfo,
        config: &ContainerConfig,
    ) -> Result<String>;

    /// Starts the container's entrypoint.
    async fn start_container(&self, id: &str) -> Result<StartedContainer>;

    /// [`Self::create_container`] then [`Self::start_container`], which is
    /// what the engine always does: runtimes that can do both in one step
    /// (OCI `run --detach`: one runtime process less) override it.
    /// Afterwards the container is exactly as after the two calls.
    async fn create_and_start_container(
        &self,
        sandbox: &SandboxInfo,
        config: &ContainerConfig,
    ) -> Result<(String, StartedContainer), CreateStartError> {
        let id = self
            .create_container(sandbox, config)
            .await
            .map_err(CreateStartError::Create)?;
        match self.start_container(&id).await {
            Ok(started) => Ok((id, started)),
            Err(error) => Err(CreateStartError::Start { id, error }),
        }
    }

    /// Resolves when the container's process has exited, with how it ended.
    /// Event-driven (monitor notification), never polling. Returns at once
    /// for a container that already exited. Cancel-safe.
    async fn wait(&self, id: &str) -> Result<ExitStatus>;

    /// Sends a signal to the container's init process.
    async fn signal(&self, id: &str, signal: Signal) -> Result<()>;

    /// Runs a command inside the container's namespaces and cgroup,
    /// capturing output. Honours `req.timeout` by killing the process and
    /// every process it started.
    async fn exec(&self, id: &str, req: &ExecRequest) -> Result<ExecOutput>;

    /// [`Self::exec`], also handing output to `sink` as it is produced (the
    /// full output is still returned). Runtimes that cannot stream hand it
    /// over when the command ends, which is what this default does.
    async fn exec_streaming(
        &self,
        id: &str,
        req: &ExecRequest,
        sink: OutputSink,
    ) -> Result<ExecOutput> {
        let out = self.exec(id, req).await?;
        if !out.stdout.is_empty() {
            sink(LogStream::Stdout, &out.stdout);
        }
        if !out.stderr.is_empty() {
            sink(LogStream::Stderr, &out.stderr);
        }
        Ok(out)
    }

    /// Appends lines to the container's log (what `kubectl logs` shows),
    /// in order with its own output: lifecycle hook output, when a pod
    /// asks for it. `text` is one or more `\n`-separated lines.
    async fn append_log(&self, id: &str, stream: LogStream, text: &[u8]) -> Result<()>;

    /// Runs a command inside the container with streams, optionally on a TTY.
    async fn exec_interactive(
        &self,
        id: &str,
        req: &InteractiveExecRequest,
    ) -> Result<InteractiveExec>;

    /// Attaches to the container's main process (`kubectl attach`): its
    /// live output from now on, its stdin when it was created with
    /// `stdin: true`, and resizes when it has a TTY (then stderr is `None`:
    /// a terminal has one output). `exit` resolves with the process's exit
    /// code when it ends, or -1 when the attach ended first. Dropping every
    /// part of the result detaches; with `stdin_once` that closes the
    /// process's stdin.
    async fn attach(&self, id: &str, req: &AttachRequest) -> Result<InteractiveExec>;

    /// Removes a stopped container and its rootfs, keeping nothing behind
    /// but its log file (removed with the sandbox).
    async fn remove_container(&self, id: &str) -> Result<()>;

    /// Current state of one container.
    async fn container_state(&self, id: &str) -> Result<ContainerState>;

    /// Every container the runtime knows of, for recovery after an agent
    /// restart.
    async fn list_containers(&self) -> Result<Vec<ContainerRecord>>;

    /// Every sandbox the runtime knows of.
    async fn list_sandboxes(&self) -> Result<Vec<SandboxInfo>>;

    /// Where the container's CRI-format log is written.
    fn log_path(&self, id: &str) -> PathBuf;

    /// A TCP connection to `localhost:port` inside the sandbox's network
    /// namespace (CRI `PortForward`): what `kubectl port-forward` reaches.
    async fn port_forward(&self, sandbox_id: &str, port: u16) -> Result<PortStream>;

    async fn stats(&self, id: &str) -> Result<ContainerStats>;

    /// Bytes the container has written to the node's local storage: its
    /// writable layer and its log files — what the kubelet's eviction
    /// manager counts against an `ephemeral-storage` limit. A walk of the
    /// files (like `du`), so callers measure periodically, not per event.
    async fn disk_usage(&self, id: &str) -> Result<u64>;

    /// Changes the CPU and memory limits of a running container in place
    /// (CRI `UpdateContainerResources`, what an in-place resize with
    /// `resizePolicy: NotRequired` needs). Fields that are `None` are left
    /// as they are.
    async fn update_container_resources(&self, id: &str, resources: &Resources) -> Result<()>;

    /// The node side of pod volumes (directories, tmpfs, hostPath checks,
    /// safe subPaths), which the runtime owns like the kubelet's volume
    /// host: containers mount what it prepares.
    fn volumes(&self) -> std::sync::Arc<dyn crate::volume::VolumeHost>;

    /// The agent is stopping and will make no more sandboxes: release what
    /// only new ones would need (the pin space, when no sandbox is left).
    /// Containers and sandboxes stay for the next agent.
    async fn shutdown(&self) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::{FakeRuntime, Op, container_config, sandbox_config};

    #[tokio::test]
    async fn default_create_and_start_is_create_then_start() {
        let rt = FakeRuntime::new();
        let sb = rt.create_sandbox(&sandbox_config()).await.unwrap();
        let (id, started) = rt
            .create_and_start_container(&sb, &container_config("c"))
            .await
            .unwrap();
        let ops: Vec<Op> = rt
            .calls()
            .into_iter()
            .map(|c| c.op)
            .filter(|op| matches!(op, Op::Create { .. } | Op::Start { .. }))
            .collect();
        assert_eq!(
            ops,
            vec![
                Op::Create {
                    name: "c".into(),
                    attempt: 0,
                    id: id.clone()
                },
                Op::Start {
                    name: "c".into(),
                    id: id.clone()
                },
            ]
        );
        match rt.container_state(&id).await.unwrap() {
            ContainerState::Running { pid, started_at } => {
                assert_eq!((pid, started_at), (started.pid, started.started_at));
            }
            other => panic!("not running: {other:?}"),
        }
    }

    #[tokio::test]
    async fn default_create_failure_is_a_create_error() {
        let rt = FakeRuntime::new();
        let mut sb = rt.create_sandbox(&sandbox_config()).await.unwrap();
        sb.id = "gone".into();
        match rt
            .create_and_start_container(&sb, &container_config("c"))
            .await
        {
            Err(CreateStartError::Create(RuntimeError::SandboxNotFound(id))) => {
                assert_eq!(id, "gone");
            }
            other => panic!("expected a create error, got {other:?}"),
        }
        assert!(rt.containers().is_empty());
    }
}
