//! Startup, liveness and readiness probes, run the way the kubelet runs them
//! (`pkg/kubelet/prober`, `pkg/probe/{exec,http,tcp,grpc}`).
//!
//! One task per (container, probe) — [`task`] — started when the container
//! reaches Running (postStart done) and ended by the container's death (or,
//! for liveness/startup, by the pod's deletion: readiness keeps probing
//! during preStop, liveness does not). A startup probe gates the other two.
//! Results land in the container's [`Slot`](crate::worker::state::Slot)
//! ([`state`]), from which status computes `started`, `ready` and the pod's
//! Ready/ContainersReady conditions; a liveness or startup failure kills the
//! container with the probe's own grace override, after which the pod worker
//! restarts it as for any exit.
//!
//! Time comes only from the engine's [`Clock`](crate::clock::Clock), so every
//! timing rule runs under tokio's paused clock in tests.

pub mod exec;
pub mod grpc;
pub mod http;
pub mod outcome;
pub mod run;
pub mod spawn;
pub mod state;
pub mod task;
pub mod tcp;
pub mod threshold;
pub mod timing;

use k8s_openapi::api::core::v1::{Container, Probe};

pub use outcome::ProbeOutcome;
pub use spawn::spawn;
pub use state::{ProbeResults, container_ready, container_started, sidecar_started};

/// Which of a container's three probes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProbeKind {
    Startup,
    Liveness,
    Readiness,
}

impl ProbeKind {
    pub const ALL: [ProbeKind; 3] = [
        ProbeKind::Startup,
        ProbeKind::Liveness,
        ProbeKind::Readiness,
    ];

    /// kubelet's `probeType.String()`, used in event messages.
    pub fn title(self) -> &'static str {
        match self {
            ProbeKind::Startup => "Startup",
            ProbeKind::Liveness => "Liveness",
            ProbeKind::Readiness => "Readiness",
        }
    }

    /// The probe of this kind the container declares, if any.
    pub fn of(self, c: &Container) -> Option<&Probe> {
        match self {
            ProbeKind::Startup => c.startup_probe.as_ref(),
            ProbeKind::Liveness => c.liveness_probe.as_ref(),
            ProbeKind::Readiness => c.readiness_probe.as_ref(),
        }
    }

    /// Whether a failure past the threshold kills the container.
    pub fn kills(self) -> bool {
        matches!(self, ProbeKind::Startup | ProbeKind::Liveness)
    }
}
