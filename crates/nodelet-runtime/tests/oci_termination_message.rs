//! Termination messages through OciRuntime + runc: the container writes
//! its `terminationMessagePath` (as root, and as a non-root user at a
//! non-default path, the upstream e2e "Container Runtime" cases), and a
//! failed container with `FallbackToLogsOnError` gets its log's tail.

mod common;

use common::*;
use nodelet_runtime::*;

fn with_message(mut c: ContainerConfig, path: &str, fallback: bool) -> ContainerConfig {
    c.termination_message = Some(TerminationMessage {
        path: path.to_owned(),
        fallback_to_logs: fallback,
    });
    c
}

async fn run_to_exit(h: &Harness, sb: &SandboxInfo, c: &ContainerConfig) -> ExitStatus {
    let id = h.rt.create_container(sb, c).await.unwrap();
    h.rt.start_container(&id).await.unwrap();
    h.rt.wait(&id).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_termination_message_is_read_when_the_container_exits() {
    if !require_real("the_termination_message_is_read_when_the_container_exits") {
        return;
    }
    let h = Harness::new(92, "runc").await;
    let sb =
        h.rt.create_sandbox(&h.sandbox_config("tmsg"))
            .await
            .unwrap();

    let c = h.container(
        &sb,
        "root",
        &["sh", "-c", "echo -n DONE > /dev/termination-log"],
    );
    let e = run_to_exit(&h, &sb, &with_message(c, "/dev/termination-log", false)).await;
    assert_eq!((e.exit_code, e.message.as_deref()), (0, Some("DONE")));

    let mut c = h.container(
        &sb,
        "nonroot",
        &["sh", "-c", "echo -n DONE > /dev/termination-custom-log"],
    );
    c.security.run_as_user = Some(1000);
    let e = run_to_exit(
        &h,
        &sb,
        &with_message(c, "/dev/termination-custom-log", false),
    )
    .await;
    assert_eq!(
        (e.exit_code, e.message.as_deref()),
        (0, Some("DONE")),
        "as uid 1000"
    );

    let c = h.container(&sb, "fails", &["sh", "-c", "echo first; echo DONE; exit 2"]);
    let e = run_to_exit(&h, &sb, &with_message(c, "/dev/termination-log", true)).await;
    assert_eq!(
        (e.exit_code, e.message.as_deref()),
        (2, Some("first\nDONE\n"))
    );

    let c = h.container(&sb, "partial", &["sh", "-c", "echo -n DONE; exit 1"]);
    let e = run_to_exit(&h, &sb, &with_message(c, "/dev/termination-log", true)).await;
    assert_eq!(
        (e.exit_code, e.message.as_deref()),
        (1, Some("DONE")),
        "a last line without newline"
    );

    let c = h.container(&sb, "succeeds", &["sh", "-c", "echo DONE"]);
    let e = run_to_exit(&h, &sb, &with_message(c, "/dev/termination-log", true)).await;
    assert_eq!(
        (e.exit_code, e.message),
        (0, None),
        "no fallback when it succeeded"
    );

    let c = h.container(&sb, "none", &["sh", "-c", "echo -n DONE > /tmp/x"]);
    assert_eq!(run_to_exit(&h, &sb, &c).await.message, None);
    h.teardown().await;
}
