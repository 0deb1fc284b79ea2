//! Serves the API over the in-memory test backend, for trying kubectl
//! against the HTTP layer alone (pods do not really run; exec runs on the
//! host). Not `nodelet serve`: that one serves the real engine.
//!
//! Usage: serve_mem <root-dir> [listen-addr, default 127.0.0.1:6443]

#[path = "../tests/support/mem.rs"]
mod mem;

use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let root = std::path::PathBuf::from(args.next().ok_or("usage: serve_mem <root-dir> [addr]")?);
    let addr = args
        .next()
        .unwrap_or_else(|| "127.0.0.1:6443".into())
        .parse()?;
    std::fs::create_dir_all(root.join("logs"))?;
    let backend = Arc::new(mem::Mem(mem::MemBackend::new(root.join("logs"))));
    let mut cfg = nodelet_api::ServeConfig::new(root.clone());
    cfg.listen = Some(addr);
    let stop = cfg.shutdown.clone();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        stop.cancel();
    });
    eprintln!(
        "serving on https://{addr}, kubeconfig {}",
        root.join("kubeconfig").display()
    );
    nodelet_api::serve(backend, cfg).await?;
    Ok(())
}
