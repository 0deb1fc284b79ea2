//! The services controller rebuilds the DNS index (every pod and service)
//! only when a pod change can alter it: a pod update that leaves its
//! address, readiness, phase, deletion and labels as they were (a new
//! condition, a restart count, a re-adopted pod published again) leaves
//! the index as it was, while an address that comes or goes still reaches
//! it. With hundreds of pods, a rebuild per pod update made a burst of
//! updates quadratic (an agent restart re-publishes every pod).
//!
//! The real controller and nftables (a private table), the real engine
//! over the fake runtime. Needs root and nftables (`NODELET_SKIP_REAL=1`
//! skips); run under the shared real-test lock.

use std::sync::Arc;
use std::time::Duration;

use hickory_proto::rr::RecordType;
use k8s_openapi::api::core::v1::PodCondition;
use nodelet_engine::clock::SystemClock;
use nodelet_engine::{Engine, EngineConfig};
use nodelet_runtime::fake::FakeRuntime;
use nodelet_services::ServicesConfig;
use nodelet_services::controller::{Services, Wiring};
use nodelet_services::dns::records::{DnsIndex, Lookup};
use nodelet_spec::Object;
use nodelet_store::Store;
use nodelet_testsupport::Needs;

/// A pod whose readiness waits for the `example.com/gate` condition.
fn pod_object(name: &str) -> Object {
    let pod = serde_json::json!({"metadata": {"name": name, "namespace": "default", "labels": {"app": "a"}},
        "spec": {"readinessGates": [{"conditionType": "example.com/gate"}],
                 "containers": [{"name": "c", "image": "nodelet.local/busybox"}]}});
    let mut pod: k8s_openapi::api::core::v1::Pod = serde_json::from_value(pod).unwrap();
    nodelet_spec::defaults::default_pod(&mut pod);
    Object::Pod(Box::new(pod))
}

/// The pod's A record `<dashed-ip>.default.pod.cluster.local`.
fn pod_record(index: &DnsIndex, ip: &str) -> Lookup {
    let name = format!("{}.default.pod.cluster.local", ip.replace('.', "-"));
    index.lookup(&name, RecordType::A)
}

async fn until(what: &str, mut ok: impl FnMut() -> bool) {
    for _ in 0..500 {
        if ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("not within 5 s: {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pod_updates_that_change_nothing_of_dns_leave_the_index_alone() {
    if !Needs::root(
        "pod_updates_that_change_nothing_of_dns_leave_the_index_alone",
        "programming nftables needs it",
    )
    .tool("nft", "nftables")
    .check()
    {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open_dir(dir.path()).unwrap());
    let engine = Arc::new(
        Engine::new(
            Arc::new(FakeRuntime::new()),
            store.clone(),
            Arc::new(SystemClock),
            EngineConfig::new("node1"),
        )
        .await
        .unwrap(),
    );
    let table = format!("nodelet-dnstest-{}", std::process::id());
    let _table_gone_on_panic = TableGuard(table.clone());
    let mut cfg = ServicesConfig::new("10.88.0.0/24".parse().unwrap(), "nldnstest0");
    cfg.service_cidr = "10.198.0.0/16".parse().unwrap();
    cfg.nft_table = table.clone();
    let services = Services::start(
        engine.clone(),
        store,
        cfg,
        Wiring {
            services_changed: Arc::new(tokio::sync::Notify::new()),
            masquerade_all: false,
            serve_dns: false,
        },
    )
    .await
    .unwrap();

    engine.apply(vec![pod_object("p")]).unwrap();
    let ip = std::cell::RefCell::new(String::new());
    until("p has an IP and a DNS record", || {
        let Some(got) = engine
            .get_pod("default", "p")
            .and_then(|p| p.status?.pod_ip)
        else {
            return false;
        };
        *ip.borrow_mut() = got.clone();
        matches!(pod_record(&services.dns_index(), &got), Lookup::Answer(_))
    })
    .await;
    let ip = ip.into_inner();
    let condition = |ty: &str, status: &str| {
        engine.get_pod("default", "p").is_some_and(|p| {
            p.status
                .and_then(|s| s.conditions)
                .is_some_and(|c| c.iter().any(|c| c.type_ == ty && c.status == status))
        })
    };
    until("p is Running, not Ready (its gate)", || {
        condition("ContainersReady", "True") && condition("Ready", "False")
    })
    .await;
    // The index as the controller leaves it once p is settled.
    let mut before = services.dns_index();
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let now = services.dns_index();
        if Arc::ptr_eq(&before, &now) {
            break;
        }
        before = now;
    }

    // Conditions written through pods/status (as a controller would).
    let set = |ty: &str| {
        let c = PodCondition {
            type_: ty.into(),
            status: "True".into(),
            ..Default::default()
        };
        engine
            .set_external_conditions("default", "p", &[c])
            .unwrap();
    };
    // A condition of someone else's: the pod's status changes (and is
    // broadcast), nothing DNS serves does.
    set("example.com/other");
    until("the condition is published", || {
        condition("example.com/other", "True")
    })
    .await;
    // Time for the controller to take the update (it does within
    // milliseconds; a rebuild would replace the index).
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        Arc::ptr_eq(&before, &services.dns_index()),
        "an update that changes nothing of DNS rebuilt the index"
    );

    // Ready now, with no service selecting it: endpoints and DNS as before.
    set("example.com/gate");
    until("p is Ready", || condition("Ready", "True")).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        Arc::ptr_eq(&before, &services.dns_index()),
        "a readiness change no service sees rebuilt the index"
    );

    // A new pod's address does reach the index, and a deleted pod's goes.
    engine.apply(vec![pod_object("q")]).unwrap();
    until("q has a DNS record", || {
        engine
            .get_pod("default", "q")
            .and_then(|p| p.status?.pod_ip)
            .is_some_and(|q| matches!(pod_record(&services.dns_index(), &q), Lookup::Answer(_)))
    })
    .await;
    engine.delete_pod("default", "p", Some(0)).unwrap();
    until("p's record is gone", || {
        !matches!(pod_record(&services.dns_index(), &ip), Lookup::Answer(_))
    })
    .await;

    services.stop_and_remove_rules().await.unwrap();
    engine.shutdown().await;
}

/// Deletes the test's nft table when the test ends, also when an assertion
/// fails half-way (the passing path removes it itself first): six such
/// tables of failed runs were found on a developer machine.
struct TableGuard(String);

impl Drop for TableGuard {
    fn drop(&mut self) {
        let _ = std::process::Command::new("nft")
            .args(["delete", "table", "ip", &self.0])
            .stderr(std::process::Stdio::null())
            .status();
    }
}
