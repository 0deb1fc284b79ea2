//! `nodelet serve`: the agent as a daemon behind the Kubernetes API
//! (HTTPS for kubectl, a unix socket for nodelet's own client commands).
//! Stopping it leaves the containers running: they belong to their
//! monitors, and the next `serve` on the same root adopts them again.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use nodelet_api::ServeConfig;
use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;

use crate::agent;
use crate::cli::ServeArgs;

pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    rt.block_on(serve(args))
}

async fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let mut sigterm = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut sigint = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    let opts = &args.agent;
    let agent = agent::start(opts).await?;
    let socket = agent::socket_path(&opts.node.run_root);
    let stop = CancellationToken::new();
    let backend = Arc::new(agent.backend());
    let cfg = ServeConfig {
        root: opts.node.root.clone(),
        listen: Some(args.listen),
        unix_socket: Some(socket.clone()),
        shutdown: stop.clone(),
        tokens: Some(agent.tokens.clone()),
    };
    let mut server = tokio::spawn(nodelet_api::serve(backend, cfg));
    let pods = agent.engine.list_pods().len();
    eprintln!(
        "nodelet serving the Kubernetes API on https://{} (kubeconfig: {}), local socket {}; node {}, {} pod(s) adopted",
        args.listen,
        opts.node.root.join("kubeconfig").display(),
        socket.display(),
        opts.node_name,
        pods
    );
    let served = tokio::select! {
        _ = sigterm.recv() => None,
        _ = sigint.recv() => None,
        r = &mut server => Some(r),
    };
    stop.cancel();
    // Pod workers stop; containers keep running under their monitors.
    agent.engine.shutdown().await;
    agent.runtime.release_volumes_if_idle();
    let _ = std::fs::remove_file(&socket);
    match served {
        None => {
            eprintln!(
                "nodelet stopped; containers keep running and are adopted by the next `nodelet serve`"
            );
            Ok(ExitCode::SUCCESS)
        }
        Some(Ok(Ok(()))) => Ok(ExitCode::SUCCESS),
        Some(Ok(Err(e))) => Err(anyhow::anyhow!("serving the API: {e}")),
        Some(Err(e)) => Err(anyhow::anyhow!("API server task: {e}")),
    }
}
