//! The fake runtime itself behaves as the engine tests assume: signals,
//! scripted exits, exec results and exec dying with its container.

use std::time::Duration;

use nodelet_runtime::fake::{
    ExecScript, FakeRuntime, Match, OnStop, Op, Run, Script, container_config, sandbox_config,
};
use nodelet_runtime::{ExecRequest, PullPolicy, Runtime, SandboxInfo, Signal};
use tokio::time::Instant;

async fn sandbox(rt: &FakeRuntime) -> SandboxInfo {
    rt.create_sandbox(&sandbox_config()).await.unwrap()
}

#[tokio::test(start_paused = true)]
async fn ignoring_sigterm_needs_sigkill() {
    let rt = FakeRuntime::new();
    rt.script(
        Match::Name("c".into()),
        Script {
            run: Run::Forever,
            on_stop: OnStop::Ignore,
        },
    );
    let sb = sandbox(&rt).await;
    let id = rt
        .create_container(&sb, &container_config("c"))
        .await
        .unwrap();
    rt.start_container(&id).await.unwrap();
    rt.signal(&id, Signal::SIGTERM).await.unwrap();
    let waited = tokio::time::timeout(Duration::from_secs(60), rt.wait(&id)).await;
    assert!(
        waited.is_err(),
        "a container ignoring SIGTERM must keep running"
    );
    rt.signal(&id, Signal::SIGKILL).await.unwrap();
    let exit = rt.wait(&id).await.unwrap();
    assert_eq!((exit.exit_code, exit.signal), (137, Some(Signal::SIGKILL)));
    assert!(rt.remove_container(&id).await.is_ok());
}

#[tokio::test(start_paused = true)]
async fn scripted_exit_and_clean_stop() {
    let rt = FakeRuntime::new();
    rt.script(
        Match::Name("a".into()),
        Script {
            run: Run::ExitAfter(Duration::from_secs(3), 4),
            on_stop: OnStop::Die,
        },
    );
    rt.script(
        Match::Name("b".into()),
        Script {
            run: Run::Forever,
            on_stop: OnStop::ExitAfter(Duration::from_secs(2), 0),
        },
    );
    let sb = sandbox(&rt).await;
    let a = rt
        .create_container(&sb, &container_config("a"))
        .await
        .unwrap();
    let b = rt
        .create_container(&sb, &container_config("b"))
        .await
        .unwrap();
    let t0 = Instant::now();
    rt.start_container(&a).await.unwrap();
    rt.start_container(&b).await.unwrap();
    assert_eq!(rt.wait(&a).await.unwrap().exit_code, 4);
    assert_eq!(t0.elapsed(), Duration::from_secs(3));
    rt.signal(&b, Signal::SIGTERM).await.unwrap();
    let exit = rt.wait(&b).await.unwrap();
    assert_eq!((exit.exit_code, exit.signal), (0, None));
    assert_eq!(t0.elapsed(), Duration::from_secs(5));
}

#[tokio::test(start_paused = true)]
async fn exec_results_and_hanging_exec_dies_with_the_container() {
    let rt = FakeRuntime::new();
    rt.exec_script(&["fail"], ExecScript::fail(2, "nope"));
    rt.exec_script(&["hang"], ExecScript::hang());
    rt.script(
        Match::Name("c".into()),
        Script {
            run: Run::OomAfter(Duration::from_secs(10)),
            on_stop: OnStop::Die,
        },
    );
    let sb = sandbox(&rt).await;
    let id = rt
        .create_container(&sb, &container_config("c"))
        .await
        .unwrap();
    rt.start_container(&id).await.unwrap();
    let req = |c: &str| ExecRequest {
        command: vec![c.into()],
        env: Vec::new(),
        timeout: None,
    };
    let out = rt.exec(&id, &req("fail")).await.unwrap();
    assert_eq!((out.exit_code, out.stderr.as_slice()), (2, &b"nope"[..]));
    let out = rt.exec(&id, &req("hang")).await.unwrap();
    assert_eq!(
        out.exit_code, 137,
        "the exec'd process dies with the container"
    );
    let exit = rt.wait(&id).await.unwrap();
    assert!(exit.oom_killed);
    assert_eq!(exit.reason(), "OOMKilled");
    assert!(
        rt.exec(&id, &req("fail")).await.is_err(),
        "no exec into an exited container"
    );
    let ops: Vec<Op> = rt.calls().into_iter().map(|c| c.op).collect();
    assert!(matches!(
        ops.last(),
        Some(Op::Exited { .. }) | Some(Op::ExecEnd { .. })
    ));
    let info = rt
        .ensure_image(&nodelet_runtime::ImageRequest::new(
            "img",
            PullPolicy::Always,
        ))
        .await
        .unwrap();
    assert!(info.pulled);
}
