//! The seam between the lifecycle engine and real containers.
//!
//! Shaped after the CRI runtime service, trimmed to what nodelet needs: the
//! engine never shells out or touches cgroups itself, so its timing rules
//! can be unit-tested against [`crate::fake`] in milliseconds.

use std::path::PathBuf;

use async_trait::async_trait;

use crate::error::Result;
use crate::types::*;

#[async_trait]
pub trait Runtime: Send + Sync + 'static {
    /// Makes sure `image` is on the node per `policy` (pulling if allowed
    /// and needed) and returns its metadata.
    async fn ensure_image(&self, image: &str, policy: PullPolicy) -> Result<ImageInfo>;

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

    /// Resolves when the container's process has exited, with how it ended.
    /// Event-driven (monitor notification), never polling. Returns at once
    /// for a container that already exited. Cancel-safe.
    async fn wait(&self, id: &str) -> Result<ExitStatus>;

    /// Sends a signal to the container's init process.
    async fn signal(&self, id: &str, signal: Signal) -> Result<()>;

    /// Runs a command inside the container's namespaces and cgroup,
    /// capturing output. Honours `req.timeout` (killing the process).
    async fn exec(&self, id: &str, req: &ExecRequest) -> Result<ExecOutput>;

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

    async fn stats(&self, id: &str) -> Result<ContainerStats>;
}
