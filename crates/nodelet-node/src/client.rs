//! The node's API-server client: a kube-rs `Client` from the node's
//! kubeconfig (client certificate `CN=system:node:<name>`,
//! `O=system:nodes`), obtained first through the TLS bootstrap when only a
//! bootstrap kubeconfig is given (the kubelet's `--bootstrap-kubeconfig`).

use std::path::Path;
use std::sync::Arc;

use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::config::NodeConfig;
use crate::error::{NodeError, Result};

/// Reads a kubeconfig into a client configuration.
pub async fn load(path: &Path) -> Result<kube::Config> {
    let err = |reason: String| NodeError::Kubeconfig {
        path: path.to_owned(),
        reason,
    };
    let kc = Kubeconfig::read_from(path).map_err(|e| err(e.to_string()))?;
    kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .map_err(|e| err(e.to_string()))
}

/// A client with the node's credentials: `cfg.kubeconfig` when it holds a
/// valid certificate, else the TLS bootstrap's result. Its requests are
/// counted in `counts`.
pub async fn connect(
    cfg: &NodeConfig,
    counts: Arc<crate::client_metrics::RequestCounts>,
) -> Result<kube::Client> {
    if let Some(bootstrap) = &cfg.bootstrap_kubeconfig
        && !crate::bootstrap::kubeconfig_usable(&cfg.kubeconfig)
    {
        crate::bootstrap::bootstrap_client_cert(cfg, bootstrap).await?;
    }
    let conf = load(&cfg.kubeconfig).await?;
    Ok(kube::client::ClientBuilder::try_from(conf)?
        .with_layer(&crate::client_metrics::CountLayer(counts))
        .build())
}
