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
    let agent = agent::start_with(opts, None, Some(args.max_pods)).await?;
    let socket = agent::socket_path(&opts.node.run_root);
    let stop = CancellationToken::new();
    let services_changed = Arc::new(tokio::sync::Notify::new());
    let backend = agent.backend().with_max_pods(args.max_pods).with_services(
        crate::services_opts::ranges(&agent.services),
        services_changed.clone(),
    );
    let services =
        crate::services_opts::start(&agent, agent.services.clone(), services_changed).await?;
    let backend = Arc::new(backend);
    // Pods reach the API at the `kubernetes` service's endpoint: the pod
    // bridge's address, on the API's port. Outside clients keep `--listen`.
    let pod_api = std::net::SocketAddr::from((agent.services.gateway, agent.services.api_port));
    let also_listen = match crate::services_opts::freebind_listener(pod_api) {
        Ok(l) => vec![l],
        Err(e) => {
            eprintln!("warning: pods cannot reach the API: listening on {pod_api}: {e}");
            Vec::new()
        }
    };
    // The serving certificate names the `kubernetes` service as
    // kube-apiserver's does, so in-pod clients can verify it.
    nodelet_api::pki::ensure_with(
        &opts.node.root,
        &crate::services_opts::api_server_names(&agent.services),
    )
    .map_err(|e| anyhow::anyhow!("the API's serving certificate: {e}"))?;
    let cfg = ServeConfig {
        root: opts.node.root.clone(),
        listen: Some(args.listen),
        also_listen,
        unix_socket: Some(socket.clone()),
        shutdown: stop.clone(),
        tokens: Some(agent.tokens.clone()),
        pod_security: nodelet_api::admission::PodSecurityConfig::at(opts.pod_security_default),
        limits: nodelet_api::limits::Limits {
            requests_per_second: args.max_requests_per_second,
            max_watches_per_user: args.max_watches_per_user,
            max_sessions_per_user: args.max_sessions_per_user,
            max_sessions: args.max_sessions,
            ..Default::default()
        },
        audit_log: args.audit_log.clone(),
    };
    let mut server = tokio::spawn(nodelet_api::serve(backend, cfg));
    let pods = agent.engine.list_pods().len();
    eprintln!(
        "nodelet serving the Kubernetes API on https://{} (kubeconfig: {}), local socket {}; node {}, {} stored pod(s) being re-adopted",
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
    if args.drain && served.is_none() {
        eprintln!("nodelet draining: deleting every pod");
        agent.engine.adopted().await;
        for p in agent.engine.list_pods() {
            let ns = p.metadata.namespace.clone().unwrap_or_default();
            let name = p.metadata.name.clone().unwrap_or_default();
            let _ = agent.engine.delete_pod(&ns, &name, None);
        }
        for p in agent.engine.list_pods() {
            let ns = p.metadata.namespace.clone().unwrap_or_default();
            let name = p.metadata.name.clone().unwrap_or_default();
            agent.engine.wait_pod_gone(&ns, &name).await;
        }
    }
    stop.cancel();
    if args.drain {
        if let Err(e) = services.stop_and_remove_rules().await {
            eprintln!("warning: removing the Service rules: {e}");
        }
    } else {
        // The rules stay: the containers (and their Services) keep running.
        services.stop().await;
    }
    // Pod workers stop; containers keep running under their monitors.
    agent.engine.shutdown().await;
    if args.drain {
        // Every pod's network is released (shutdown waited for the
        // teardown queue): the node-wide masquerade of the native pod
        // network can go.
        if let Err(e) = agent.runtime.sandboxes().remove_node_rules().await {
            eprintln!("warning: removing the pod masquerade rule: {e}");
        }
    }
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
