//! Runs `tests/kubectl-e2e.sh` (the real kubectl 1.37 from PyPI) against
//! the `serve_mem` example, which cargo builds along with the tests. This
//! checks the HTTP layer with the real client; the agent-level e2e runs the
//! same script against `nodelet serve` via NODELET_SERVE_CMD.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use nodelet_testsupport::run_bounded;

#[test]
fn kubectl_against_the_api() {
    if std::env::var_os("NODELET_SKIP_REAL").is_some() {
        eprintln!(
            "skipped: NODELET_SKIP_REAL is set (this test needs kubectl 1.37 from PyPI, curl and script)"
        );
        return;
    }
    for tool in ["python3", "curl", "script"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            found,
            "{tool} is required for the kubectl e2e test (set NODELET_SKIP_REAL=1 to skip)"
        );
    }
    // target/<profile>/deps/<this test> → target/<profile>/examples/serve_mem
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(|d| d.parent()).unwrap();
    let serve_mem: PathBuf = profile_dir.join("examples").join("serve_mem");
    assert!(
        serve_mem.exists(),
        "{} missing: run `cargo test -p nodelet-api` (it builds the example)",
        serve_mem.display()
    );
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/kubectl-e2e.sh");
    let mut cmd = Command::new("bash");
    cmd.arg(&script)
        .env(
            "NODELET_SERVE_CMD",
            format!("{} {{root}} {{addr}}", serve_mem.display()),
        )
        .env("NODELET_E2E_MEM", "1");
    let status = run_bounded(&script.display().to_string(), cmd, Duration::from_secs(600));
    assert!(status.success(), "{} failed", script.display());
}
