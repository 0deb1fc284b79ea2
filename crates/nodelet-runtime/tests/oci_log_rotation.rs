//! Log rotation configured on `OciConfig` reaches the container's monitor:
//! size-bounded files, `max_files` kept (the current one included, as
//! kubelet's containerLogMaxFiles), the newest lines in the current file
//! and no line lost or reordered across the kept files.

mod common;

use common::*;
use nodelet_runtime::oci::OciRuntime;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_settings_reach_the_monitor() {
    if !require_real("rotation_settings_reach_the_monitor") {
        return;
    }
    let h = Harness::new(54, "runc").await;
    let mut cfg = h.cfg.clone();
    cfg.log_max_size = 4096;
    cfg.log_max_files = 3;
    let rt = OciRuntime::new(cfg).await.unwrap();
    use nodelet_runtime::Runtime;
    let sb = rt.create_sandbox(&h.sandbox_config("logs")).await.unwrap();
    let c = h.container(&sb, "chatty", &["seq", "1", "5000"]);
    let id = rt.create_container(&sb, &c).await.unwrap();
    rt.start_container(&id).await.unwrap();
    assert_eq!(rt.wait(&id).await.unwrap().exit_code, 0);

    let log = rt.log_path(&id);
    let numbered = |n: u32| {
        let mut p = log.clone().into_os_string();
        p.push(format!(".{n}"));
        std::path::PathBuf::from(p)
    };
    assert!(numbered(1).exists() && numbered(2).exists());
    assert!(!numbered(3).exists(), "more than log_max_files kept");
    for p in [log.clone(), numbered(1), numbered(2)] {
        let len = std::fs::metadata(&p).unwrap().len();
        // One record may cross the limit before the rotation it triggers.
        assert!(len <= 4096 + 64, "{} is {len} bytes", p.display());
    }
    // Oldest first: consecutive numbers ending with the last line.
    let mut text = String::new();
    for p in [numbered(2), numbered(1), log.clone()] {
        text.push_str(&cri_log_text(&p));
    }
    let nums: Vec<u32> = text.lines().map(|l| l.parse().unwrap()).collect();
    assert_eq!(*nums.last().unwrap(), 5000);
    assert!(nums.windows(2).all(|w| w[1] == w[0] + 1), "gap or reorder");
    assert!(nums[0] > 1, "nothing was rotated away");
    rt.remove_container(&id).await.unwrap();
    rt.remove_sandbox(&sb.id).await.unwrap();
    h.teardown().await;
}
