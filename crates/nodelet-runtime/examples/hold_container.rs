//! A stand-in agent for the kill -9 test (`tests/oci_agent_kill.rs`): opens
//! an `OciRuntime` on existing roots, creates and starts one container in an
//! existing sandbox, prints its id and then waits on it, so the test can
//! SIGKILL a real process that holds the runtime mid-wait.
//!
//! Usage: hold_container ROOT RUN_ROOT MONITOR CNI_CONF_DIR CNI_CACHE_DIR
//!        SUBNET BRIDGE NETWORK SANDBOX_ID exit42|oom

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use nodelet_runtime::oci::{OciConfig, OciRuntime};
use nodelet_runtime::sandbox::CniOptions;
use nodelet_runtime::*;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a: Vec<String> = std::env::args().skip(1).collect();
    if a.len() != 10 {
        eprintln!(
            "usage: hold_container ROOT RUN_ROOT MONITOR CNI_CONF_DIR CNI_CACHE_DIR SUBNET BRIDGE NETWORK SANDBOX_ID exit42|oom"
        );
        std::process::exit(2);
    }
    let (root, run_root) = (PathBuf::from(&a[0]), PathBuf::from(&a[1]));
    let mut cfg = OciConfig::with_roots(&root, &run_root);
    cfg.monitor = PathBuf::from(&a[2]);
    cfg.cni = CniOptions {
        conf_dir: PathBuf::from(&a[3]),
        bin_dirs: vec![PathBuf::from("/usr/lib/cni")],
        subnet: a[5].clone(),
        bridge: a[6].clone(),
        network_name: a[7].clone(),
        cache_dir: PathBuf::from(&a[4]),
        ..CniOptions::default()
    };
    let rt = OciRuntime::new(cfg).await?;
    let sb = rt.sandboxes().get(&a[8]).await?;
    // Both end while no agent is alive: the test kills us within 2 s.
    let (script, memory) = match a[9].as_str() {
        "exit42" => ("sleep 2; echo done; exit 42", None),
        "oom" => ("sleep 2; head -c 67108864 /dev/zero | tail", Some(32 << 20)),
        m => return Err(format!("unknown mode {m:?}").into()),
    };
    let c = ContainerConfig {
        pod_uid: sb.pod_uid.clone(),
        name: a[9].clone(),
        attempt: 0,
        image: "nodelet.local/busybox:latest".to_string(),
        command: Some(vec!["sh".into(), "-c".into(), script.into()]),
        args: None,
        env: vec![],
        working_dir: None,
        security: SecurityConfig::default(),
        resources: Resources {
            memory_limit_bytes: memory,
            ..Default::default()
        },
        mounts: vec![],
        stdin: false,
        stdin_once: false,
        tty: false,
        labels: BTreeMap::new(),
        termination_message: None,
        pid_namespace_of: None,
    };
    let id = rt.create_container(&sb, &c).await?;
    rt.start_container(&id).await?;
    let mut out = std::io::stdout();
    writeln!(out, "{id}")?;
    out.flush()?;
    let st = rt.wait(&id).await?;
    eprintln!("hold_container: not killed in time, container exited: {st:?}");
    Ok(())
}
