//! The `PodTimeline` object (`nodelet.dev/v1`): one per pod, named after
//! it, holding the marks the engine recorded, oldest first.

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Serialize};

pub const API_VERSION: &str = "nodelet.dev/v1";
pub const KIND: &str = "PodTimeline";

/// Marks kept per pod; older ones are dropped first (a crash loop of days
/// keeps its last few hundred restarts).
pub const MAX_MARKS: usize = 600;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodTimeline {
    pub api_version: String,
    pub kind: String,
    pub metadata: ObjectMeta,
    pub spec: TimelineSpec,
    #[serde(default)]
    pub marks: Vec<Mark>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TimelineSpec {
    #[serde(rename = "podUID")]
    pub pod_uid: String,
    /// The pod's containers in spec order (init and sidecars first).
    pub containers: Vec<ContainerRef>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerRef {
    pub name: String,
    /// `init`, `sidecar` or `regular`.
    pub kind: String,
}

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MarkKind {
    /// The pod was admitted.
    PodCreated,
    /// Deletion requested (with `graceSeconds`).
    PodDeleted,
    /// The pod left the API (its containers stopped).
    PodGone,
    /// The agent restarted and took the pod over again.
    AgentRestarted,
    /// A container was created (`containerID`, `attempt` = restart count).
    Created,
    /// Its entrypoint started.
    Started,
    /// A hook delivery began (`hook`, `handler`, `attempt`, `deliveryID`).
    HookStarted,
    /// A hook delivery ended (`result`, `message`).
    HookFinished,
    /// postStart done: the container counts as Running.
    Running,
    /// A liveness/startup/readiness probe failed (`probe`, `message`).
    ProbeFailed,
    /// The kill began (`reason`, `graceSeconds`).
    Killing,
    /// The stop signal was sent (`signal`, `graceSeconds` left).
    StopSignal,
    /// The grace period ran out: SIGKILL.
    Killed,
    /// The process ended (`exitCode`, `reason`, `signal`).
    Exited,
    /// The next restart waits until `until` (CrashLoopBackOff).
    BackOff,
}

impl MarkKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MarkKind::PodCreated => "PodCreated",
            MarkKind::PodDeleted => "PodDeleted",
            MarkKind::PodGone => "PodGone",
            MarkKind::AgentRestarted => "AgentRestarted",
            MarkKind::Created => "Created",
            MarkKind::Started => "Started",
            MarkKind::HookStarted => "HookStarted",
            MarkKind::HookFinished => "HookFinished",
            MarkKind::Running => "Running",
            MarkKind::ProbeFailed => "ProbeFailed",
            MarkKind::Killing => "Killing",
            MarkKind::StopSignal => "StopSignal",
            MarkKind::Killed => "Killed",
            MarkKind::Exited => "Exited",
            MarkKind::BackOff => "BackOff",
        }
    }
}

/// One mark; which optional fields are set depends on the kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Mark {
    pub time: Timestamp,
    pub kind: MarkKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    #[serde(
        default,
        rename = "containerID",
        skip_serializing_if = "Option::is_none"
    )]
    pub container_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hook: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handler: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
    #[serde(
        default,
        rename = "deliveryID",
        skip_serializing_if = "Option::is_none"
    )]
    pub delivery_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grace_seconds: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe: Option<String>,
}

impl Mark {
    /// A mark of `kind` at `time` with nothing else set.
    pub fn new(kind: MarkKind, time: Timestamp) -> Self {
        Mark {
            time,
            kind,
            container: None,
            container_id: None,
            hook: None,
            handler: None,
            result: None,
            attempt: None,
            delivery_id: None,
            exit_code: None,
            signal: None,
            reason: None,
            message: None,
            grace_seconds: None,
            until: None,
            probe: None,
        }
    }

    pub fn container(mut self, name: &str, id: Option<&str>) -> Self {
        self.container = Some(name.to_owned());
        self.container_id = id.map(str::to_owned);
        self
    }
}

impl PodTimeline {
    pub fn new(namespace: &str, name: &str, spec: TimelineSpec) -> Self {
        PodTimeline {
            api_version: API_VERSION.to_owned(),
            kind: KIND.to_owned(),
            metadata: ObjectMeta {
                name: Some(name.to_owned()),
                namespace: Some(namespace.to_owned()),
                ..Default::default()
            },
            spec,
            marks: Vec::new(),
        }
    }

    /// Appends a mark, keeping at most [`MAX_MARKS`] (the oldest go; the
    /// pod's creation mark stays as the time origin).
    pub fn push(&mut self, mark: Mark) {
        self.marks.push(mark);
        if self.marks.len() > MAX_MARKS {
            let keep_first = self.marks[0].kind == MarkKind::PodCreated;
            let drop_at = usize::from(keep_first);
            self.marks.remove(drop_at);
        }
    }
}
