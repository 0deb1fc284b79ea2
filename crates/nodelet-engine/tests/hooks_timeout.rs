//! nodelet's opt-in hook timeouts (`RunOptions::timeout`, set from the
//! `hooks.nodelet.dev/*-timeout` annotations or `--hook-timeout-default`)
//! against the fake runtime under tokio's paused clock: a hook that runs
//! longer fails exactly at the limit, saying so; without a limit nothing
//! changes (the kubelet's behaviour).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, LifecycleHandler};
use nodelet_engine::clock::TokioClock;
use nodelet_engine::hooks::{HookKind, HookResult, HookRunner, HookTarget, RunOptions};
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
    async fn run(&self, h: serde_json::Value, timeout: Option<Duration>) -> HookResult {
        let opts = RunOptions {
            timeout,
            ..Default::default()
        };
        self.runner
            .run_with(
                HookKind::PostStart,
                &handler(h),
                &self.target(),
                &CancellationToken::new(),
                &opts,
            )
            .await
    }
}

#[tokio::test(start_paused = true)]
async fn a_sleep_hook_longer_than_its_timeout_fails_at_the_limit() {
    let h = setup().await;
    let t0 = Instant::now();
    let r = h
        .run(
            serde_json::json!({"sleep": {"seconds": 3600}}),
            Some(Duration::from_secs(2)),
        )
        .await;
    assert_eq!(t0.elapsed(), Duration::from_secs(2));
    let msg = r.outcome.unwrap_err();
    assert!(msg.contains("timed out after 2s"), "{msg}");
    assert!(r.detail.timed_out);
    assert!(!r.detail.sleep_terminated, "a timeout is not a termination");
}

#[tokio::test(start_paused = true)]
async fn a_hanging_exec_hook_is_stopped_at_its_timeout_with_its_output() {
    let h = setup().await;
    let cmd = ["sh", "-c", "echo started; sleep 3600"];
    h.fake.exec_script(
        &cmd,
        nodelet_runtime::fake::ExecScript {
            takes: None,
            exit_code: 0,
            stdout: "started\n".into(),
            stderr: String::new(),
        },
    );
    let t0 = Instant::now();
    let r = h
        .run(
            serde_json::json!({"exec": {"command": cmd}}),
            Some(Duration::from_millis(1500)),
        )
        .await;
    assert_eq!(t0.elapsed(), Duration::from_millis(1500));
    let msg = r.outcome.unwrap_err();
    assert!(msg.contains("timed out after 1.5s"), "{msg}");
    assert!(r.detail.timed_out);
}

#[tokio::test(start_paused = true)]
async fn without_a_timeout_a_hook_runs_as_long_as_it_takes() {
    let h = setup().await;
    let t0 = Instant::now();
    let r = h
        .run(serde_json::json!({"sleep": {"seconds": 600}}), None)
        .await;
    assert_eq!(r.outcome, Ok(()));
    assert_eq!(t0.elapsed(), Duration::from_secs(600));
    assert!(!r.detail.timed_out);
}

#[tokio::test(start_paused = true)]
async fn a_hook_within_its_timeout_succeeds() {
    let h = setup().await;
    let cmd = ["sh", "-c", "echo ok"];
    h.fake
        .exec_script(&cmd, ExecScript::ok_after(Duration::from_secs(1)));
    let r = h
        .run(
            serde_json::json!({"exec": {"command": cmd}}),
            Some(Duration::from_secs(5)),
        )
        .await;
    assert_eq!(r.outcome, Ok(()));
    assert_eq!(r.detail.exit_code, Some(0));
}
