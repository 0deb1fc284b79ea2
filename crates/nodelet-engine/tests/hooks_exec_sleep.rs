//! The hook runner's exec, sleep and invalid-handler paths, against the fake
//! runtime under tokio's paused clock: exact kubelet messages and timing.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, LifecycleHandler};
use nodelet_engine::clock::TokioClock;
use nodelet_engine::hooks::{HookKind, HookResult, HookRunner, HookTarget};
use nodelet_runtime::fake::{ExecScript, FakeRuntime};
use nodelet_runtime::{ContainerConfig, Runtime, SandboxConfig};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

struct H {
    runner: HookRunner,
    fake: FakeRuntime,
    container: Container,
    id: String,
}

async fn setup() -> H {
    let fake = FakeRuntime::new();
    let sandbox = fake
        .create_sandbox(&SandboxConfig {
            pod_uid: "uid-1".into(),
            pod_name: "web".into(),
            pod_namespace: "default".into(),
            hostname: "web".into(),
            host_network: false,
            host_pid: false,
            host_ipc: false,
            port_mappings: vec![],
            dns: None,
            labels: BTreeMap::new(),
            user_namespace: false,
            share_process_namespace: false,
        })
        .await
        .unwrap();
    let id = fake
        .create_container(
            &sandbox,
            &ContainerConfig {
                pod_uid: "uid-1".into(),
                name: "app".into(),
                attempt: 0,
                image: "busybox".into(),
                command: None,
                args: None,
                env: vec![],
                working_dir: None,
                security: Default::default(),
                resources: Default::default(),
                mounts: vec![],
                stdin: false,
                stdin_once: false,
                tty: false,
                labels: BTreeMap::new(),
                termination_message: None,
                pid_namespace_of: None,
            },
        )
        .await
        .unwrap();
    fake.start_container(&id).await.unwrap();
    let clock = Arc::new(TokioClock::new("2026-01-01T00:00:00Z".parse().unwrap()));
    H {
        runner: HookRunner::new(Arc::new(fake.clone()), clock),
        fake,
        container: Container {
            name: "app".into(),
            ..Default::default()
        },
        id,
    }
}

fn handler(v: serde_json::Value) -> LifecycleHandler {
    serde_json::from_value(v).unwrap()
}

impl H {
    fn target(&self) -> HookTarget<'_> {
        HookTarget {
            pod_name: "web",
            pod_namespace: "default",
            pod_uid: "uid-1",
            container: &self.container,
            container_id: &self.id,
            pod_ip: None,
        }
    }
    async fn run(&self, h: serde_json::Value, cancel: &CancellationToken) -> HookResult {
        self.runner
            .run(HookKind::PostStart, &handler(h), &self.target(), cancel)
            .await
    }
}

#[tokio::test(start_paused = true)]
async fn exec_success_is_exit_zero() {
    let h = setup().await;
    h.fake.exec_script(
        &["sh", "-c", "echo hi"],
        ExecScript::ok_after(Duration::from_secs(3)),
    );
    let t0 = Instant::now();
    let r = h
        .run(
            serde_json::json!({"exec": {"command": ["sh", "-c", "echo hi"]}}),
            &CancellationToken::new(),
        )
        .await;
    assert_eq!(r.outcome, Ok(()));
    assert!(r.events.is_empty());
    assert_eq!(
        t0.elapsed(),
        Duration::from_secs(3),
        "no timeout: waits for the exec"
    );
}

#[tokio::test(start_paused = true)]
async fn exec_failure_message_is_kubelets() {
    let h = setup().await;
    h.fake.exec_script(
        &["sh", "-c", "echo out; echo oops >&2; exit 3"],
        ExecScript {
            takes: Some(Duration::ZERO),
            exit_code: 3,
            stdout: "out\n".into(),
            stderr: "oops\n".into(),
        },
    );
    let r = h
        .run(
            serde_json::json!({"exec": {"command": ["sh", "-c", "echo out; echo oops >&2; exit 3"]}}),
            &CancellationToken::new(),
        )
        .await;
    assert_eq!(
        r.outcome.unwrap_err(),
        "Exec lifecycle hook ([sh -c echo out; echo oops >&2; exit 3]) for Container \"app\" in Pod \
         \"web_default(uid-1)\" failed - error: command 'sh -c echo out; echo oops >&2; exit 3' exited \
         with 3: oops\n, message: \"out\\noops\\n\""
    );
}

#[tokio::test(start_paused = true)]
async fn exec_runtime_error_is_wrapped() {
    let mut h = setup().await;
    h.id = "no-such-container".into();
    let r = h
        .run(
            serde_json::json!({"exec": {"command": ["true"]}}),
            &CancellationToken::new(),
        )
        .await;
    assert_eq!(
        r.outcome.unwrap_err(),
        "Exec lifecycle hook ([true]) for Container \"app\" in Pod \"web_default(uid-1)\" failed - error: \
         container no-such-container not found, message: \"\""
    );
}

#[tokio::test(start_paused = true)]
async fn exec_stops_waiting_when_cancelled() {
    let h = setup().await;
    h.fake.exec_script(&["sleep", "inf"], ExecScript::hang());
    let cancel = CancellationToken::new();
    let c2 = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(5)).await;
        c2.cancel();
    });
    let t0 = Instant::now();
    let r = h
        .run(
            serde_json::json!({"exec": {"command": ["sleep", "inf"]}}),
            &cancel,
        )
        .await;
    assert_eq!(t0.elapsed(), Duration::from_secs(5));
    assert_eq!(
        r.outcome.unwrap_err(),
        "Exec lifecycle hook ([sleep inf]) for Container \"app\" in Pod \"web_default(uid-1)\" failed - \
         error: context canceled, message: \"\""
    );
}

#[tokio::test(start_paused = true)]
async fn sleep_completes_after_its_seconds() {
    let h = setup().await;
    let t0 = Instant::now();
    let r = h
        .run(
            serde_json::json!({"sleep": {"seconds": 7}}),
            &CancellationToken::new(),
        )
        .await;
    assert_eq!(r.outcome, Ok(()));
    assert_eq!(t0.elapsed(), Duration::from_secs(7));
}

#[tokio::test(start_paused = true)]
async fn sleep_zero_returns_at_once() {
    let h = setup().await;
    let t0 = Instant::now();
    let r = h
        .run(
            serde_json::json!({"sleep": {"seconds": 0}}),
            &CancellationToken::new(),
        )
        .await;
    assert_eq!(r.outcome, Ok(()));
    assert_eq!(t0.elapsed(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn sleep_cancelled_fails_with_kubelets_message() {
    let h = setup().await;
    let cancel = CancellationToken::new();
    let c2 = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(2)).await;
        c2.cancel();
    });
    let t0 = Instant::now();
    let r = h
        .run(serde_json::json!({"sleep": {"seconds": 50}}), &cancel)
        .await;
    assert_eq!(t0.elapsed(), Duration::from_secs(2));
    assert_eq!(
        r.outcome.unwrap_err(),
        "Sleep lifecycle hook (50) for Container \"app\" in Pod \"web_default(uid-1)\" failed - error: \
         container terminated before sleep hook finished"
    );
}

#[tokio::test(start_paused = true)]
async fn tcp_socket_hook_fails_at_run_time() {
    let h = setup().await;
    let r = h
        .run(
            serde_json::json!({"tcpSocket": {"port": 8080}}),
            &CancellationToken::new(),
        )
        .await;
    assert_eq!(
        r.outcome.unwrap_err(),
        "Cannot run handler: invalid handler: &LifecycleHandler{Exec:nil,HTTPGet:nil,\
         TCPSocket:&TCPSocketAction{Port:{0 8080 },Host:,},Sleep:nil,}"
    );
    let r = h
        .run(serde_json::json!({}), &CancellationToken::new())
        .await;
    assert_eq!(
        r.outcome.unwrap_err(),
        "Cannot run handler: invalid handler: &LifecycleHandler{Exec:nil,HTTPGet:nil,TCPSocket:nil,Sleep:nil,}"
    );
}

#[tokio::test(start_paused = true)]
async fn exec_wins_over_other_handlers_in_kubelets_order() {
    let h = setup().await;
    // An invalid multi-handler spec (validation rejects it) still runs exec.
    let r = h
        .run(
            serde_json::json!({"exec": {"command": ["true"]}, "sleep": {"seconds": 100}}),
            &CancellationToken::new(),
        )
        .await;
    assert_eq!(r.outcome, Ok(()));
    assert!(h.fake.calls().iter().any(|c| matches!(&c.op,
        nodelet_runtime::fake::Op::ExecStart { command, .. } if command == &["true".to_string()])));
}

#[tokio::test]
async fn a_delivery_can_be_spawned() {
    // Pod workers run hooks in spawned tasks (preStop in parallel across
    // containers), so the future must be Send and the runner shareable.
    fn assert_send<T: Send>(t: T) -> T {
        t
    }
    let h = Arc::new(setup().await);
    let h2 = h.clone();
    let task = tokio::spawn(assert_send(async move {
        h2.run(
            serde_json::json!({"sleep": {"seconds": 0}}),
            &CancellationToken::new(),
        )
        .await
    }));
    assert_eq!(task.await.unwrap().outcome, Ok(()));
}
