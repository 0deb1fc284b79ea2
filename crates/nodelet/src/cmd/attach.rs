//! `nodelet attach [-i] [-t] POD`: kubectl's attach, over the same WebSocket
//! channel protocol as `nodelet exec` (client/exec.rs does the pumping). As
//! kubectl does, the container's own settings win: a TTY is used when the
//! container has one, and `-i` needs `stdin: true` in its spec.

use std::os::fd::AsFd;
use std::process::ExitCode;

use nix::sys::termios;
use serde_json::Value;
use tokio::sync::mpsc;

use crate::cli_client::AttachArgs;
use crate::client::container::default_container;
use crate::client::exec::{ExecIo, ExecStatus, exec};
use crate::client::resource::pod_name;
use crate::client::with_query;
use crate::cmd::exec::{RawMode, forward_window_size};

pub async fn run(a: &AttachArgs) -> anyhow::Result<ExitCode> {
    let client = a.conn.client();
    let pod = pod_name(&a.pod).map_err(anyhow::Error::msg)?;
    let v = client
        .get(&format!(
            "/api/v1/namespaces/{}/pods/{pod}",
            a.conn.namespace
        ))
        .await?;
    let phase = v["status"]["phase"].as_str().unwrap_or("");
    if phase == "Succeeded" || phase == "Failed" {
        anyhow::bail!("cannot attach a container in a completed pod; current phase is {phase}");
    }
    let container = match &a.container {
        Some(c) => c.clone(),
        None => {
            let (c, notice) = default_container(&v)
                .ok_or_else(|| anyhow::anyhow!("pod {pod} has no containers"))?;
            if let Some(n) = notice
                && !a.quiet
            {
                eprintln!("{n}");
            }
            c
        }
    };
    let spec = ["containers", "initContainers", "ephemeralContainers"]
        .iter()
        .flat_map(|l| v["spec"][*l].as_array().into_iter().flatten())
        .find(|c| c["name"].as_str() == Some(container.as_str()))
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("container {container} not found in pod {pod}"))?;
    let flag = |c: &Value, k: &str| c[k].as_bool() == Some(true);
    // The terminal is the container's: it was allocated (or not) at start.
    let tty = flag(&spec, "tty");
    if a.tty && !tty && !a.quiet {
        eprintln!("Unable to use a TTY - container {container} did not allocate one");
    }
    let mut stdin = a.stdin;
    if stdin && !flag(&spec, "stdin") {
        if !a.quiet {
            eprintln!(
                "Unable to use stdin - container {container} was not created with stdin: true"
            );
        }
        stdin = false;
    }
    let local_tty = termios::tcgetattr(std::io::stdin().as_fd()).is_ok();
    let raw = tty && a.tty && stdin && local_tty;
    let q: Vec<(&str, String)> = vec![
        ("container", container.clone()),
        ("stdin", stdin.to_string()),
        ("stdout", "true".into()),
        ("stderr", (!tty).to_string()),
        ("tty", tty.to_string()),
    ];
    let path = with_query(
        &format!("/api/v1/namespaces/{}/pods/{pod}/attach", a.conn.namespace),
        &q,
    );
    let (resize, _winch) = if raw {
        let (tx, rx) = mpsc::channel(4);
        (Some(rx), Some(tokio::spawn(forward_window_size(tx))))
    } else {
        (None, None)
    };
    if raw && !a.quiet {
        eprintln!("If you don't see a command prompt, try pressing enter.");
    }
    let guard = if raw { Some(RawMode::enter()?) } else { None };
    let io = ExecIo {
        stdin: stdin.then(tokio::io::stdin),
        stdout: tokio::io::stdout(),
        stderr: tokio::io::stderr(),
        resize,
    };
    let status = exec(&client, &path, io).await;
    drop(guard);
    match status? {
        ExecStatus::Success => Ok(ExitCode::SUCCESS),
        ExecStatus::ExitCode(code) => Ok(ExitCode::from(u8::try_from(code & 0xff).unwrap_or(1))),
        ExecStatus::Failure(msg) => anyhow::bail!("{msg}"),
    }
}
