//! Test harness: an Engine over the fake runtime, a temp store and tokio's
//! paused clock, plus helpers to read the fake's call timeline in seconds.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{ContainerStatus, Event, Pod};
use nodelet_engine::clock::TokioClock;
use nodelet_engine::{Engine, EngineConfig, EventFilter};
use nodelet_runtime::fake::{Call, FakeRuntime, Op};
use nodelet_spec::Object;
use nodelet_store::Store;
use tokio::time::Instant;

pub struct H {
    pub engine: Engine,
    pub fake: FakeRuntime,
    pub store: Arc<Store>,
    pub t0: Instant,
    _dir: tempfile::TempDir,
}

pub const ORIGIN: &str = "2026-01-01T00:00:00Z";

pub async fn setup() -> H {
    setup_with(FakeRuntime::with_wall_origin(ORIGIN.parse().unwrap())).await
}

pub async fn setup_with(fake: FakeRuntime) -> H {
    setup_config(fake, EngineConfig::new("node1")).await
}

/// [`setup_with`] with an engine config of the test's own.
pub async fn setup_config(fake: FakeRuntime, config: EngineConfig) -> H {
    let dir = if std::path::Path::new("/dev/shm").is_dir() {
        tempfile::tempdir_in("/dev/shm").unwrap()
    } else {
        tempfile::tempdir().unwrap()
    };
    let store = Arc::new(Store::open(&dir.path().join("state.redb")).unwrap());
    let clock = Arc::new(TokioClock::new(ORIGIN.parse().unwrap()));
    let engine = Engine::new(Arc::new(fake.clone()), store.clone(), clock, config)
        .await
        .unwrap();
    H {
        engine,
        fake,
        store,
        t0: Instant::now(),
        _dir: dir,
    }
}

/// A defaulted pod from JSON.
pub fn pod(v: serde_json::Value) -> Object {
    let mut p: Pod = serde_json::from_value(v).unwrap();
    nodelet_spec::defaults::default_pod(&mut p);
    Object::Pod(Box::new(p))
}

/// A container JSON with an image and optional extras merged in.
pub fn ctr(name: &str, extra: serde_json::Value) -> serde_json::Value {
    let mut c = serde_json::json!({"name": name, "image": format!("img-{name}")});
    if let (Some(c), Some(e)) = (c.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            c.insert(k.clone(), v.clone());
        }
    }
    c
}

pub fn exec_hook(cmd: &[&str]) -> serde_json::Value {
    serde_json::json!({"exec": {"command": cmd}})
}

impl H {
    pub fn apply(&self, p: serde_json::Value) {
        self.engine.apply(vec![pod(p)]).unwrap();
    }

    pub fn secs(&self, at: Instant) -> f64 {
        at.duration_since(self.t0).as_secs_f64()
    }

    pub fn now(&self) -> f64 {
        self.secs(Instant::now())
    }

    /// Seconds of every call matching `f`.
    pub fn times(&self, f: impl Fn(&Op) -> bool) -> Vec<f64> {
        self.fake
            .calls()
            .iter()
            .filter(|c| f(&c.op))
            .map(|c| self.secs(c.at))
            .collect()
    }

    pub fn first(&self, f: impl Fn(&Op) -> bool) -> f64 {
        *self
            .times(f)
            .first()
            .unwrap_or_else(|| panic!("no such call in {:#?}", self.fake.calls()))
    }

    /// Index in the timeline of the first call matching `f`.
    pub fn index(&self, f: impl Fn(&Op) -> bool) -> usize {
        let calls: Vec<Call> = self.fake.calls();
        calls
            .iter()
            .position(|c| f(&c.op))
            .unwrap_or_else(|| panic!("no such call in {calls:#?}"))
    }

    /// Advances (paused) time in 100 ms steps until `f` holds; panics after
    /// `limit` seconds.
    pub async fn until(&self, limit: u64, f: impl Fn(&H) -> bool) {
        let end = Instant::now() + Duration::from_secs(limit);
        while !f(self) {
            assert!(
                Instant::now() < end,
                "condition not met within {limit}s; calls: {:#?}",
                self.fake.calls()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn get(&self, name: &str) -> Option<Pod> {
        self.engine.get_pod("default", name)
    }

    pub fn phase(&self, name: &str) -> String {
        self.get(name)
            .and_then(|p| p.status)
            .and_then(|s| s.phase)
            .unwrap_or_default()
    }

    pub fn cstatus(&self, pod: &str, c: &str) -> ContainerStatus {
        let p = self.get(pod).expect("pod exists");
        let st = p.status.expect("status");
        st.container_statuses
            .into_iter()
            .flatten()
            .chain(st.init_container_statuses.into_iter().flatten())
            .find(|s| s.name == c)
            .expect("container status")
    }

    pub fn waiting_reason(&self, pod: &str, c: &str) -> Option<String> {
        self.cstatus(pod, c).state?.waiting?.reason
    }

    pub fn events(&self) -> Vec<Event> {
        self.engine.list_events(&EventFilter::default()).unwrap()
    }

    /// (type, reason, message) of every event, in order.
    pub fn event_triples(&self) -> Vec<(String, String, String)> {
        self.events()
            .into_iter()
            .map(|e| {
                (
                    e.type_.unwrap_or_default(),
                    e.reason.unwrap_or_default(),
                    e.message.unwrap_or_default(),
                )
            })
            .collect()
    }

    pub fn has_event(&self, reason: &str, message: &str) -> bool {
        self.event_triples()
            .iter()
            .any(|(_, r, m)| r == reason && m == message)
    }

    pub async fn delete(&self, name: &str, grace: Option<i64>) {
        self.engine.delete_pod("default", name, grace).unwrap();
    }

    /// Waits for the pod's removal; a pod that never goes fails the test
    /// (an hour of paused-clock time passes in no real time).
    pub async fn gone(&self, name: &str) {
        let gone = self.engine.wait_pod_gone("default", name);
        if tokio::time::timeout(Duration::from_secs(3600), gone)
            .await
            .is_err()
        {
            panic!("pod {name} was not gone within an hour (paused clock)");
        }
    }
}

pub fn is_start(name: &'static str) -> impl Fn(&Op) -> bool {
    move |op| matches!(op, Op::Start { name: n, .. } if n == name)
}
pub fn is_create(name: &'static str) -> impl Fn(&Op) -> bool {
    move |op| matches!(op, Op::Create { name: n, .. } if n == name)
}
pub fn is_exec(name: &'static str, cmd0: &'static str) -> impl Fn(&Op) -> bool {
    move |op| matches!(op, Op::ExecStart { name: n, command } if n == name && command.first().map(String::as_str) == Some(cmd0))
}
pub fn is_exec_end(name: &'static str, cmd0: &'static str) -> impl Fn(&Op) -> bool {
    move |op| matches!(op, Op::ExecEnd { name: n, command, .. } if n == name && command.first().map(String::as_str) == Some(cmd0))
}
pub fn is_signal(name: &'static str, sig: i32) -> impl Fn(&Op) -> bool {
    move |op| matches!(op, Op::Signal { name: n, signal, .. } if n == name && signal.0 == sig)
}
pub fn is_exited(name: &'static str) -> impl Fn(&Op) -> bool {
    move |op| matches!(op, Op::Exited { name: n, .. } if n == name)
}
