//! Real pod sandboxes: pinned namespaces, hostname, CNI bridge networking,
//! pod-to-pod and host-to-pod reachability, hostPort, host namespaces,
//! recovery by a new manager. Needs root and containernetworking-plugins.

mod sandbox_support;

use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::Duration;

use nodelet_runtime::sandbox::namespaces::is_pinned;
use nodelet_runtime::sandbox::{CniOptions, PodNetwork, SandboxManager};
use nodelet_runtime::{PortMapping, RuntimeError};
use sandbox_support::*;

fn in_subnet(ip: IpAddr, n: u8) -> bool {
    matches!(ip, IpAddr::V4(v4) if v4.octets()[..3] == [10, 251, n])
}

#[tokio::test]
async fn pods_get_namespaces_hostname_ip_and_reach_each_other() {
    if !require_real("pods_get_namespaces_hostname_ip_and_reach_each_other") {
        return;
    }
    let net = TestNet::new(1);
    let a = net.manager.create(&pod("alpha", vec![])).await.unwrap();
    let b = net.manager.create(&pod("beta", vec![])).await.unwrap();

    for (info, name) in [(&a, "alpha"), (&b, "beta")] {
        let net_pin = info.namespaces.net.clone().unwrap();
        let uts_pin = info.namespaces.uts.clone().unwrap();
        let ipc_pin = info.namespaces.ipc.clone().unwrap();
        for pin in [&net_pin, &uts_pin, &ipc_pin] {
            assert!(is_pinned(pin), "{} is not a namespace pin", pin.display());
        }
        assert_eq!(info.cgroup_parent, format!("nodelet/poduid-{name}"));
        let hostname = sh(&[
            "nsenter",
            &format!("--uts={}", uts_pin.display()),
            "hostname",
        ]);
        assert_eq!(hostname.trim(), name);
        assert_eq!(info.ips.len(), 1, "{:?}", info.ips);
        assert!(
            in_subnet(info.ips[0], 1),
            "{} not in 10.251.1.0/24",
            info.ips[0]
        );
        let addrs = sh(&[
            "nsenter",
            &format!("--net={}", net_pin.display()),
            "ip",
            "-o",
            "addr",
        ]);
        assert!(addrs.contains(&format!("{}/24", info.ips[0])), "{addrs}");
        assert!(
            addrs.contains("lo") && addrs.contains("127.0.0.1"),
            "lo not up: {addrs}"
        );
        assert!(info.host_ip.is_some());
    }
    assert_ne!(a.ips[0], b.ips[0]);
    // Different pods, different namespaces.
    let ino = |p: &PathBuf| {
        std::fs::metadata(p)
            .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
            .unwrap()
    };
    assert_ne!(
        ino(a.namespaces.net.as_ref().unwrap()),
        ino(b.namespaces.net.as_ref().unwrap())
    );

    let a_net = a.namespaces.net.clone().unwrap();
    let b_net = b.namespaces.net.clone().unwrap();
    assert!(
        ping_from(Some(&a_net), &b.ips[0].to_string()),
        "alpha cannot ping beta"
    );
    assert!(
        ping_from(Some(&b_net), &a.ips[0].to_string()),
        "beta cannot ping alpha"
    );
    assert!(
        ping_from(None, &a.ips[0].to_string()),
        "host cannot ping alpha"
    );

    let listed: Vec<String> = net
        .manager
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(listed.len(), 2);
    assert!(listed.contains(&a.id) && listed.contains(&b.id));
    assert_eq!(net.manager.get(&a.id).await.unwrap(), a);
    net.manager.check(&a.id).await.unwrap();

    net.manager.remove(&a.id).await.unwrap();
    net.manager.remove(&a.id).await.unwrap(); // idempotent
    assert!(!a_net.exists(), "pin left behind");
    assert!(matches!(
        net.manager.get(&a.id).await,
        Err(RuntimeError::SandboxNotFound(_))
    ));
    assert!(
        !ping_from(Some(&b_net), &a.ips[0].to_string()),
        "removed pod still answers"
    );
    net.manager.remove(&b.id).await.unwrap();
    assert!(net.manager.list().await.unwrap().is_empty());
    assert_eq!(net.bridge_veths(), 0);
    assert_eq!(net.lease_files(), 0);
    assert_eq!(pin_dirs(&net.run_dir()), 0);
    // Unknown ids are fine to remove.
    net.manager.remove(&"0".repeat(64)).await.unwrap();
    net.manager.remove("not-an-id").await.unwrap();
}

#[tokio::test]
async fn host_port_reaches_the_pod_listener() {
    if !require_real("host_port_reaches_the_pod_listener") {
        return;
    }
    let net = TestNet::new(2);
    let host_port = 18_452;
    let info = net
        .manager
        .create(&pod(
            "web",
            vec![PortMapping {
                container_port: 8080,
                host_port,
                protocol: "TCP".into(),
                host_ip: None,
            }],
        ))
        .await
        .unwrap();
    let www = net.dir.path().join("www");
    std::fs::create_dir(&www).unwrap();
    std::fs::write(www.join("index.html"), "hello from the pod\n").unwrap();
    let net_pin = info.namespaces.net.clone().unwrap();
    let mut httpd = std::process::Command::new("nsenter")
        .arg(format!("--net={}", net_pin.display()))
        .args(["busybox", "httpd", "-f", "-p", "8080", "-h"])
        .arg(&www)
        .spawn()
        .unwrap();

    // portmap DNATs traffic to the node's own address (not 127.0.0.1,
    // which would need route_localnet).
    let host_ip = info.host_ip.expect("node has a primary IP");
    let addr = SocketAddr::new(host_ip, host_port);
    let body = http_get_with_retry(addr);
    let _ = httpd.kill();
    let _ = httpd.wait();
    let body = body.unwrap_or_else(|e| panic!("GET http://{addr}/ through hostPort failed: {e}"));
    assert!(body.contains("hello from the pod"), "{body}");

    let rules = iptables_save();
    assert!(
        rules.contains(&info.id),
        "portmap/ipMasq rules not tagged with the sandbox id"
    );
    net.manager.remove(&info.id).await.unwrap();
    let rules = iptables_save();
    assert!(
        !rules.contains(&info.id),
        "iptables rules of the sandbox left: {rules}"
    );
    assert!(TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_err());
}

#[tokio::test]
async fn host_network_and_host_ipc_use_the_host_namespaces() {
    if !require_real("host_network_and_host_ipc_use_the_host_namespaces") {
        return;
    }
    let net = TestNet::new(3);
    let mut cfg = pod("hostnet", vec![]);
    cfg.host_network = true;
    cfg.host_ipc = true;
    let info = net.manager.create(&cfg).await.unwrap();
    assert_eq!(info.namespaces, Default::default());
    assert!(
        !info.ips.is_empty(),
        "hostNetwork pod must report the node IP"
    );
    assert_eq!(Some(info.ips[0]), info.host_ip);
    assert_eq!(net.bridge_veths(), 0);
    net.manager.remove(&info.id).await.unwrap();

    // hostNetwork alone still gets its own IPC namespace.
    cfg.host_ipc = false;
    let info = net.manager.create(&cfg).await.unwrap();
    assert!(info.namespaces.net.is_none() && info.namespaces.uts.is_none());
    let ipc = info.namespaces.ipc.clone().unwrap();
    assert!(is_pinned(&ipc));
    net.manager.remove(&info.id).await.unwrap();
    assert!(!ipc.exists());
}

#[tokio::test]
async fn a_new_manager_recovers_and_removes_recorded_sandboxes() {
    if !require_real("a_new_manager_recovers_and_removes_recorded_sandboxes") {
        return;
    }
    let net = TestNet::new(4);
    let info = net.manager.create(&pod("survivor", vec![])).await.unwrap();
    let again = SandboxManager::new(
        &net.dir.path().join("sandboxes"),
        &net.run_dir(),
        net.options.clone(),
    )
    .unwrap();
    // The same sandbox, its pins reached through the new manager's own
    // descriptor of the pin space.
    let listed = again.list().await.unwrap();
    assert_eq!(listed.len(), 1);
    let ns_id = |p: &std::path::Path| {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(p).unwrap();
        (m.dev(), m.ino())
    };
    let (old, new) = (&info.namespaces, &listed[0].namespaces);
    for (a, b) in [
        (&old.net, &new.net),
        (&old.ipc, &new.ipc),
        (&old.uts, &new.uts),
    ] {
        assert_eq!(ns_id(a.as_deref().unwrap()), ns_id(b.as_deref().unwrap()));
    }
    let normalised = nodelet_runtime::SandboxInfo {
        namespaces: info.namespaces.clone(),
        ..listed[0].clone()
    };
    assert_eq!(normalised, info);
    again.check(&info.id).await.unwrap();
    again.remove(&info.id).await.unwrap();
    assert_eq!(net.lease_files(), 0);
    assert_eq!(net.bridge_veths(), 0);
    assert!(net.manager.list().await.unwrap().is_empty());
}

#[tokio::test]
async fn missing_plugins_are_reported_with_the_package_name() {
    // Needs no root: the check fails before anything is made.
    let dir = tempfile::tempdir().unwrap();
    let _mounts = MountGuard(dir.path().to_path_buf());
    let options = CniOptions {
        conf_dir: dir.path().join("conf"),
        bin_dirs: vec![dir.path().join("no-plugins")],
        cache_dir: dir.path().join("cache"),
        pod_network: PodNetwork::Cni,
        ..CniOptions::default()
    };
    let manager =
        SandboxManager::new(&dir.path().join("sb"), &dir.path().join("ns"), options).unwrap();
    let problems = manager.host_problems().join("\n");
    assert!(
        problems.contains("\"bridge\"") && problems.contains("containernetworking-plugins"),
        "{problems}"
    );
    let err = manager.create(&pod("p", vec![])).await.unwrap_err();
    assert!(matches!(err, RuntimeError::Host(_)), "{err}");
    assert!(
        err.to_string().contains("containernetworking-plugins"),
        "{err}"
    );
    assert!(manager.list().await.unwrap().is_empty());
    assert_eq!(pin_dirs(&dir.path().join("ns")), 0);
}

#[tokio::test]
async fn concurrent_creates_get_distinct_addresses() {
    if !require_real("concurrent_creates_get_distinct_addresses") {
        return;
    }
    let net = TestNet::new(6);
    let cfgs: Vec<_> = (0..6).map(|i| pod(&format!("par{i}"), vec![])).collect();
    let infos = futures::future::join_all(cfgs.iter().map(|c| net.manager.create(c))).await;
    let infos: Vec<_> = infos.into_iter().map(Result::unwrap).collect();
    let mut ips: Vec<IpAddr> = infos.iter().map(|i| i.ips[0]).collect();
    ips.sort();
    ips.dedup();
    assert_eq!(ips.len(), 6, "addresses handed out twice: {infos:?}");
    assert_eq!(net.bridge_veths(), 6);
    let removals = futures::future::join_all(infos.iter().map(|i| net.manager.remove(&i.id))).await;
    for r in removals {
        r.unwrap();
    }
    assert_eq!(net.bridge_veths(), 0);
    assert_eq!(net.lease_files(), 0);
}

/// A crash can leave a record in the `creating` phase with pins that are
/// mounted, or only created as files, and no ADD result; `remove` must
/// still clean everything: pins in the pin space, recorded through an
/// earlier agent's descriptor, and pins an agent before the space made in
/// the host's mount namespace.
#[tokio::test]
async fn remove_cleans_up_an_interrupted_create() {
    use nodelet_runtime::sandbox::namespaces::{NamespaceSet, is_pinned, pin};
    use nodelet_runtime::sandbox::pin_space::PinSpace;
    use nodelet_runtime::sandbox::state::{CniAttachment, SandboxPhase, SandboxRecord, StateStore};
    use nodelet_runtime::{SandboxInfo, SandboxNamespaces};

    #[derive(Clone, Copy, Debug)]
    enum Left {
        SpacePins,
        SpaceFiles,
        HostPins,
    }
    if !require_real("remove_cleans_up_an_interrupted_create") {
        return;
    }
    let net = TestNet::new(7);
    let store = StateStore::open(&net.dir.path().join("sandboxes")).unwrap();
    let space = PinSpace::open(&net.run_dir()).unwrap();
    for (i, left) in [
        (1u8, Left::SpacePins),
        (2, Left::SpaceFiles),
        (3, Left::HostPins),
    ] {
        let id = format!("{i:0>64}");
        let mut namespaces = SandboxNamespaces::default();
        let (recorded, pin_dir) = match left {
            Left::SpacePins => {
                let all = NamespaceSet {
                    net: true,
                    ipc: true,
                    uts: true,
                };
                pin(&space, &id, all, "crashed").unwrap();
                // As an agent that has since exited recorded it.
                let old = std::path::PathBuf::from(format!("/proc/999999999/fd/3/{id}"));
                namespaces.net = Some(old.join("net"));
                (old, space.dir(&id))
            }
            Left::SpaceFiles => {
                let dir = space.dir(&id);
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(dir.join("net"), b"").unwrap();
                (dir.clone(), dir)
            }
            Left::HostPins => {
                let dir = net.run_dir().join(&id);
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(dir.join("net"), b"").unwrap();
                let out = std::process::Command::new("unshare")
                    .arg(format!("--net={}", dir.join("net").display()))
                    .arg("true")
                    .output()
                    .expect("util-linux unshare (to make an old agent's host pin)");
                assert!(out.status.success(), "{out:?}");
                assert!(is_pinned(&dir.join("net")));
                (dir.clone(), dir)
            }
        };
        let cfg = pod("crashed", vec![]);
        let record = SandboxRecord {
            phase: SandboxPhase::Creating,
            info: SandboxInfo {
                id: id.clone(),
                pod_uid: cfg.pod_uid.clone(),
                ips: vec![],
                host_ip: None,
                namespaces,
                cgroup_parent: String::new(),
                id_mapping: None,
            },
            config: cfg,
            pin_dir: recorded,
            cni: Some(CniAttachment {
                conflist: net.manager.network().raw.clone(),
                ifname: "eth0".into(),
                runtime_config: serde_json::json!({"portMappings": []}),
                args: vec![],
                result: None,
                native: false,
            }),
            created_at: jiff::Timestamp::now(),
        };
        store.save(&record).unwrap();
        let listed = net.manager.list().await.unwrap();
        assert_eq!(listed.len(), 1);
        if let Left::SpacePins = left {
            let rebased = listed[0].namespaces.net.clone().unwrap();
            assert!(is_pinned(&rebased), "{left:?}: {}", rebased.display());
        }
        net.manager.remove(&id).await.unwrap();
        assert!(
            !pin_dir.exists(),
            "{left:?}: pins of interrupted sandbox {i} left"
        );
        assert!(net.manager.list().await.unwrap().is_empty());
    }
}
