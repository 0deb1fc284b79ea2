//! The basic container test with crun, where the host lets crun run. On a
//! host crun refuses (hybrid cgroups with controllers on cgroup2), the test
//! prints the HostProblem and is skipped: a host limitation, not a failure.

mod common;

use common::*;
use nodelet_runtime::Runtime;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crun_runs_a_container_where_the_host_allows() {
    if !require_real("crun_runs_a_container_where_the_host_allows") {
        return;
    }
    let problems = runtime_problems("crun");
    if !problems.is_empty() {
        for p in &problems {
            eprintln!("crun_runs_a_container_where_the_host_allows: skipped, host problem: {p}");
        }
        // The runtime must refuse to start with the same clear message.
        let h = tempfile::tempdir().unwrap();
        let mut cfg =
            nodelet_runtime::oci::OciConfig::with_roots(&h.path().join("r"), &h.path().join("run"));
        cfg.runtime = "crun".into();
        let err = match nodelet_runtime::oci::OciRuntime::new(cfg).await {
            Ok(_) => panic!("OciRuntime::new accepted crun despite {problems:?}"),
            Err(e) => e.to_string(),
        };
        assert!(err.contains(&problems[0].message), "{err}");
        return;
    }
    let h = Harness::new(21, "crun").await;
    let sb =
        h.rt.create_sandbox(&h.sandbox_config("crun-pod"))
            .await
            .unwrap();
    let c = h.container(&sb, "main", &["sh", "-c", "hostname; exit 4"]);
    let (id, st) = h.run_to_exit(&sb, &c).await;
    assert_eq!(st.exit_code, 4);
    assert_eq!(cri_log_text(&h.rt.log_path(&id)), "crun-pod\n");
    h.teardown().await;
}
