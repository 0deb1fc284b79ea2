//! Readiness change → data plane updated, at N services (bench/services.sh).
//!
//! The real services controller and the real nftables (a private table),
//! driven by the real engine over the fake runtime (containers are not what
//! is measured here): N services each select one pod whose readiness is a
//! readiness gate; each round flips one pod's gate through the engine and
//! times until the controller reports the nft transaction done. Printed
//! per update path (netlink batches, libnftables in-process, `nft -f -`):
//! p50/p99 of flip → rules in the kernel, and where it goes: flip → the
//! controller has the engine's event (the engine's durable status write
//! and broadcast), event → transaction planned (endpoints recomputed, the
//! delta), planned → kernel (the transaction).
//!
//! Usage: bench_dataplane [SERVICES] [FLIPS]   (root; nftables installed)

use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::PodCondition;
use nodelet_engine::clock::SystemClock;
use nodelet_engine::{Engine, EngineConfig};
use nodelet_runtime::fake::FakeRuntime;
use nodelet_services::ServicesConfig;
use nodelet_services::controller::{Services, Wiring};
use nodelet_spec::Object;
use nodelet_store::Store;

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() - 1) as f64 * p).round() as usize]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow_free::Result {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(100);
    let flips: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(200);
    let dir = tempfile::tempdir()?;
    let store = Arc::new(Store::open_dir(dir.path())?);
    let runtime = Arc::new(FakeRuntime::new());
    let engine = Arc::new(
        Engine::new(
            runtime,
            store.clone(),
            Arc::new(SystemClock),
            EngineConfig::new("bench"),
        )
        .await?,
    );
    let mut objects = Vec::new();
    for i in 0..n {
        let svc = serde_json::json!({"metadata": {"name": format!("s{i}"), "namespace": "default"},
            "spec": {"selector": {"b": i.to_string()}, "clusterIP": format!("10.199.{}.{}", i / 250, i % 250 + 2),
                     "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}});
        let mut svc: k8s_openapi::api::core::v1::Service = serde_json::from_value(svc)?;
        nodelet_spec::defaults::default_service(&mut svc);
        objects.push(Object::Service(Box::new(svc)));
        let pod = serde_json::json!({"metadata": {"name": format!("p{i}"), "namespace": "default", "labels": {"b": i.to_string()}},
            "spec": {"readinessGates": [{"conditionType": "bench/ready"}],
                     "containers": [{"name": "c", "image": "nodelet.local/busybox"}]}});
        let mut pod: k8s_openapi::api::core::v1::Pod = serde_json::from_value(pod)?;
        nodelet_spec::defaults::default_pod(&mut pod);
        objects.push(Object::Pod(Box::new(pod)));
    }
    engine.apply(objects)?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let gate = |status: &str| PodCondition {
        type_: "bench/ready".into(),
        status: status.into(),
        ..Default::default()
    };
    for i in 0..n {
        engine.set_external_conditions("default", &format!("p{i}"), &[gate("True")])?;
    }
    for mode in ["netlink", "libnftables", "nft -f -"] {
        // SAFETY: no other thread reads the environment meanwhile; the
        // variables are read once by Services::start below.
        match mode {
            "libnftables" => unsafe { std::env::set_var("NODELET_NFT_TEXT", "1") },
            "nft -f -" => unsafe { std::env::set_var("NODELET_NFT_CLI", "1") },
            _ => {}
        }
        let mut cfg = ServicesConfig::new("10.199.250.0/24".parse()?, "nlbench0");
        cfg.service_cidr = "10.199.0.0/16".parse()?;
        cfg.nft_table = "nodelet-bench".into();
        let services = Services::start(
            engine.clone(),
            store.clone(),
            cfg,
            Wiring {
                services_changed: Arc::new(tokio::sync::Notify::new()),
                masquerade_all: false,
                serve_dns: false,
            },
        )
        .await?;
        let mut rx = services.subscribe_applied();
        let (mut total, mut inner) = (Vec::new(), Vec::new());
        let (mut engine_part, mut plan_part, mut call) = (Vec::new(), Vec::new(), Vec::new());
        for k in 0..flips {
            let i = k % n;
            let status = if (k / n).is_multiple_of(2) {
                "False"
            } else {
                "True"
            };
            let t0 = Instant::now();
            engine.set_external_conditions("default", &format!("p{i}"), &[gate(status)])?;
            let a = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await??;
            total.push((a.done - t0).as_secs_f64() * 1000.0);
            inner.push((a.done - a.planned).as_secs_f64() * 1000.0);
            engine_part.push((a.seen - t0).as_secs_f64() * 1000.0);
            plan_part.push((a.planned - a.seen).as_secs_f64() * 1000.0);
            call.push(a.call.as_secs_f64() * 1000.0);
        }
        println!(
            "{mode}: {n} services, {flips} readiness flips: flip->kernel p50 {:.2} ms p99 {:.2} ms \
             | flip->event p50 {:.2} p99 {:.2} | event->planned p50 {:.2} p99 {:.2} | transaction p50 {:.2} p99 {:.2} (the call itself p50 {:.2} p99 {:.2})",
            pct(&mut total.clone(), 0.5),
            pct(&mut total, 0.99),
            pct(&mut engine_part.clone(), 0.5),
            pct(&mut engine_part, 0.99),
            pct(&mut plan_part.clone(), 0.5),
            pct(&mut plan_part, 0.99),
            pct(&mut inner.clone(), 0.5),
            pct(&mut inner, 0.99),
            pct(&mut call.clone(), 0.5),
            pct(&mut call, 0.99)
        );
        services.stop_and_remove_rules().await?;
        drop(rx);
    }
    engine.shutdown().await;
    Ok(())
}

mod anyhow_free {
    pub type Result = std::result::Result<(), Box<dyn std::error::Error>>;
}
