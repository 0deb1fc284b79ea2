//! Real pod networks made by the native path (`--pod-network native`):
//! addresses, pod-to-pod, pod-to-host, masqueraded egress, hairpin,
//! teardown, CHECK, hostPorts through the chained portmap plugin, and
//! sandboxes handed between the native and the CNI path in both
//! directions (same leases, nothing left behind). Needs root and
//! containernetworking-plugins (for the CNI side and portmap).

mod sandbox_support;

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use nodelet_runtime::PortMapping;
use nodelet_runtime::sandbox::native::masq::plugin_chain;
use nodelet_runtime::sandbox::{CniOptions, PodNetwork, SandboxManager};
use sandbox_support::*;

fn in_subnet(ip: IpAddr, n: u8) -> bool {
    matches!(ip, IpAddr::V4(v4) if v4.octets()[..3] == [10, 251, n])
}

fn gateway(n: u8) -> String {
    format!("10.251.{n}.1")
}

fn in_pod(net_pin: &Path, args: &[&str]) -> String {
    let ns = format!("--net={}", net_pin.display());
    let mut all = vec!["nsenter", ns.as_str()];
    all.extend_from_slice(args);
    sh(&all)
}

/// The host end of the pod's veth (the link on the bridge).
fn host_veths(bridge: &str) -> Vec<String> {
    sh(&["ip", "-o", "link", "show", "master", bridge])
        .lines()
        .filter_map(|l| l.split(':').nth(1))
        .map(|n| n.trim().split('@').next().unwrap_or("").to_string())
        .filter(|n| !n.is_empty())
        .collect()
}

#[tokio::test]
async fn native_pods_get_addresses_reach_each_other_and_the_host() {
    if !require_real("native_pods_get_addresses_reach_each_other_and_the_host") {
        return;
    }
    let n = 11;
    let net = TestNet::native(n);
    assert_eq!(net.manager.pod_network(), PodNetwork::Native);
    let a = net.manager.create(&pod("alpha", vec![])).await.unwrap();
    let b = net.manager.create(&pod("beta", vec![])).await.unwrap();
    assert_ne!(a.ips, b.ips);
    for info in [&a, &b] {
        assert_eq!(info.ips.len(), 1, "{:?}", info.ips);
        assert!(
            in_subnet(info.ips[0], n),
            "{} not in 10.251.{n}.0/24",
            info.ips[0]
        );
        let pin = info.namespaces.net.clone().unwrap();
        let addrs = in_pod(&pin, &["ip", "-o", "addr"]);
        assert!(addrs.contains(&format!("{}/24", info.ips[0])), "{addrs}");
        assert!(addrs.contains("127.0.0.1"), "lo not up: {addrs}");
        let routes = in_pod(&pin, &["ip", "route"]);
        assert!(
            routes.contains(&format!("default via {} dev eth0", gateway(n))),
            "{routes}"
        );
        let sysctl = in_pod(&pin, &["cat", "/proc/sys/net/ipv4/conf/eth0/arp_notify"]);
        assert_eq!(sysctl.trim(), "1");
    }
    // The bridge: up, the gateway address, both host veths on it with
    // hairpin mode.
    let bridge = &net.options.bridge;
    let br = sh(&["ip", "-o", "addr", "show", "dev", bridge]);
    assert!(br.contains(&format!("{}/24", gateway(n))), "{br}");
    let veths = host_veths(bridge);
    assert_eq!(veths.len(), 2, "{veths:?}");
    for v in &veths {
        assert!(v.starts_with("veth") && v.len() == 12, "{v}");
        let hairpin =
            std::fs::read_to_string(format!("/sys/class/net/{v}/brport/hairpin_mode")).unwrap();
        assert_eq!(hairpin.trim(), "1", "{v}");
    }

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
        ping_from(Some(&a_net), &gateway(n)),
        "alpha cannot ping the host"
    );
    assert!(
        ping_from(None, &a.ips[0].to_string()),
        "host cannot ping alpha"
    );
    net.manager.check(&a.id).await.unwrap();

    // CHECK notices a pod that lost its address.
    in_pod(&b_net, &["ip", "addr", "flush", "dev", "eth0"]);
    let e = net.manager.check(&b.id).await.unwrap_err();
    assert!(e.to_string().contains("lost its address"), "{e}");

    net.manager.remove(&a.id).await.unwrap();
    net.manager.remove(&a.id).await.unwrap();
    assert!(!a_net.exists(), "pin left behind");
    assert_eq!(host_veths(bridge).len(), 1);
    assert_eq!(net.lease_files(), 1);
    net.manager.remove(&b.id).await.unwrap();
    assert_eq!(net.bridge_veths(), 0);
    assert_eq!(net.lease_files(), 0);
    assert_eq!(pin_dirs(&net.run_dir()), 0);
}

/// A namespace outside the pod network, routed from the host through a
/// veth of its own: it has no route back to the pod subnet, so it can
/// only answer a pod whose traffic was masqueraded to the host's address.
struct Outside {
    name: String,
    host_if: String,
}

impl Outside {
    fn new(n: u8) -> Outside {
        let name = format!("nlt-out{n}");
        let host_if = format!("nlto{n}");
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        let _ = Command::new("ip").args(["link", "del", &host_if]).output();
        sh(&["ip", "netns", "add", &name]);
        sh(&[
            "ip", "link", "add", &host_if, "type", "veth", "peer", "name", "eth0", "netns", &name,
        ]);
        sh(&[
            "ip",
            "addr",
            "add",
            &format!("10.250.{n}.1/30"),
            "dev",
            &host_if,
        ]);
        sh(&["ip", "link", "set", &host_if, "up"]);
        for args in [
            vec![
                "ip",
                "addr",
                "add",
                &format!("10.250.{n}.2/30") as &str,
                "dev",
                "eth0",
            ],
            vec!["ip", "link", "set", "eth0", "up"],
            vec!["ip", "link", "set", "lo", "up"],
        ] {
            let mut all = vec!["ip", "netns", "exec", &name as &str];
            all.extend(args);
            sh(&all);
        }
        Outside { name, host_if }
    }
}

impl Drop for Outside {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.host_if])
            .output();
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

#[tokio::test]
async fn native_bridge_routes_send_the_service_range_onto_the_bridge() {
    if !require_real("native_bridge_routes_send_the_service_range_onto_the_bridge") {
        return;
    }
    // As `--service-route` asks: the host reaches the range over the
    // bridge, from the bridge's address; a route lost with the bridge
    // comes back with the next pod.
    let n = 22;
    let range = "10.135.0.0/16";
    let bridge = format!("nlt{n}");
    let base = TestNet::native(n);
    let manager = SandboxManager::new(
        &base.dir.path().join("sandboxes"),
        &base.run_dir(),
        CniOptions {
            bridge_routes: vec![range.to_string()],
            ..base.options.clone()
        },
    )
    .unwrap();
    let route = || sh(&["ip", "-o", "route", "get", "10.135.7.9"]);
    let a = manager.create(&pod("routed", vec![])).await.unwrap();
    let got = route();
    assert!(
        got.contains(&format!("dev {bridge} ")) && got.contains(&format!("src {}", gateway(n))),
        "10.135.7.9 is not routed onto {bridge} from {}: {got}",
        gateway(n)
    );
    // Replaced, not duplicated, by a second pod.
    let b = manager.create(&pod("routed-too", vec![])).await.unwrap();
    let table = sh(&["ip", "-o", "route", "show", range]);
    assert_eq!(table.lines().count(), 1, "{table}");
    manager.remove(&a.id).await.unwrap();
    manager.remove(&b.id).await.unwrap();
    // Uninstalling removes it (the bridge stays).
    manager.remove_node_rules().await.unwrap();
    assert!(
        !route().contains(&format!("dev {bridge} ")),
        "route left after uninstall"
    );
    let c = manager.create(&pod("back", vec![])).await.unwrap();
    assert!(route().contains(&format!("dev {bridge} ")), "not re-made");
    manager.remove(&c.id).await.unwrap();
    let _ = Command::new("ip").args(["link", "del", &bridge]).output();
    assert!(
        !route().contains(&format!("dev {bridge} ")),
        "route left with the bridge gone"
    );
    let d = manager.create(&pod("again", vec![])).await.unwrap();
    assert!(
        route().contains(&format!("dev {bridge} ")),
        "not re-made with the bridge"
    );
    manager.remove(&d.id).await.unwrap();
    let _ = Command::new("ip").args(["link", "del", &bridge]).output();
    let _ = Command::new("nft")
        .args(["delete", "table", "ip", &base.masq_table()])
        .output();
}

#[tokio::test]
async fn native_egress_is_masqueraded_by_one_node_rule() {
    if !require_real("native_egress_is_masqueraded_by_one_node_rule") {
        return;
    }
    let n = 12;
    let net = TestNet::native(n);
    let outside = Outside::new(n);
    let far = format!("10.250.{n}.2");
    let a = net.manager.create(&pod("out1", vec![])).await.unwrap();
    let b = net.manager.create(&pod("out2", vec![])).await.unwrap();
    let table = net.masq_table();
    let rules = sh(&["nft", "list", "table", "ip", &table]);
    assert!(
        rules.contains(&format!(
            "ip saddr 10.251.{n}.0/24 ip daddr != 10.251.{n}.0/24"
        )),
        "{rules}"
    );
    assert_eq!(
        rules.matches("masquerade").count(),
        1,
        "one rule per node: {rules}"
    );
    // No per-pod iptables rule (what the bridge plugin's ipMasq adds).
    let ipt = iptables_save();
    for info in [&a, &b] {
        assert!(
            !ipt.contains(&info.id),
            "per-pod rule of {}: {ipt}",
            info.id
        );
    }
    let a_net = a.namespaces.net.clone().unwrap();
    assert!(ping_from(Some(&a_net), &far), "pod egress not masqueraded");

    // Without the node's rule the far side cannot answer: the reply had
    // the pod's own address.
    net.manager.remove_node_rules().await.unwrap();
    assert!(!succeeds(&["nft", "list", "table", "ip", &table]));
    assert!(
        !ping_from(Some(&a_net), &far),
        "egress works without the masquerade"
    );
    // A new agent installs it again with its first pod.
    let again = net.manager_with(PodNetwork::Native);
    let c = again.create(&pod("out3", vec![])).await.unwrap();
    assert!(ping_from(Some(&a_net), &far), "masquerade not reinstalled");
    for id in [&a.id, &b.id, &c.id] {
        again.remove(id).await.unwrap();
    }
    assert_eq!(net.lease_files(), 0);
    drop(outside);
}

#[tokio::test]
async fn host_port_goes_through_the_chained_portmap_plugin() {
    if !require_real("host_port_goes_through_the_chained_portmap_plugin") {
        return;
    }
    let native = host_port(TestNet::native(13), 13, 18_613).await;
    // The same pod through the plugins, for the hairpin comparison.
    let plugins = host_port(TestNet::new(20), 20, 18_620).await;
    eprintln!("hairpin through the own hostPort: native {native}, CNI plugins {plugins}");
    assert_eq!(
        native, plugins,
        "a pod reaching itself through its hostPort (hairpin) differs from the bridge plugin's"
    );
}

/// A pod with a hostPort: reached from the host through portmap's DNAT,
/// its rules gone with it. Returns whether the pod reached itself through
/// its own hostPort on the gateway (hairpin: with br_netfilter the DNAT'd
/// frame leaves by the bridge port it came in by).
async fn host_port(net: TestNet, n: u8, host_port: u16) -> bool {
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
    let mut httpd = Command::new("nsenter")
        .arg(format!("--net={}", net_pin.display()))
        .args(["busybox", "httpd", "-f", "-p", "8080", "-h"])
        .arg(&www)
        .spawn()
        .unwrap();
    let host_ip = info.host_ip.expect("node has a primary IP");
    let addr = SocketAddr::new(host_ip, host_port);
    let body = http_get_with_retry(addr);
    let url = format!("http://{}:{host_port}/index.html", gateway(n));
    let ns = format!("--net={}", net_pin.display());
    let hairpin = Command::new("nsenter")
        .args([
            ns.as_str(),
            "busybox",
            "wget",
            "-q",
            "-O",
            "-",
            "-T",
            "3",
            &url,
        ])
        .output()
        .unwrap();
    let _ = httpd.kill();
    let _ = httpd.wait();
    let body = body.unwrap_or_else(|e| panic!("GET http://{addr}/ through hostPort failed: {e}"));
    assert!(body.contains("hello from the pod"), "{body}");
    assert!(iptables_save().contains(&info.id), "portmap rules not made");
    net.manager.remove(&info.id).await.unwrap();
    let rules = iptables_save();
    assert!(!rules.contains(&info.id), "portmap rules left: {rules}");
    assert_eq!(net.bridge_veths(), 0);
    assert_eq!(net.lease_files(), 0);
    String::from_utf8_lossy(&hairpin.stdout).contains("hello from the pod")
}

#[tokio::test]
async fn native_pods_without_host_ports_run_no_plugin() {
    if !require_real("native_pods_without_host_ports_run_no_plugin") {
        return;
    }
    // No plugin binaries at all: a pod without hostPorts still gets its
    // network; one with a hostPort fails naming the missing portmap.
    let n = 16;
    let dir = tempfile::tempdir().unwrap();
    let _mounts = MountGuard(dir.path().to_path_buf());
    let options = CniOptions {
        conf_dir: dir.path().join("conf"),
        bin_dirs: vec![dir.path().join("no-plugins")],
        subnet: format!("10.251.{n}.0/24"),
        bridge: format!("nlt{n}"),
        network_name: format!("nlt-{n}"),
        cache_dir: dir.path().join("cache"),
        pod_network: PodNetwork::Auto,
        bridge_routes: Vec::new(),
    };
    let manager =
        SandboxManager::new(&dir.path().join("sb"), &dir.path().join("ns"), options).unwrap();
    assert_eq!(manager.pod_network(), PodNetwork::Native);
    assert!(
        manager
            .host_problems()
            .iter()
            .all(|p| !p.contains("CNI plugin"))
    );
    let info = manager.create(&pod("bare", vec![])).await.unwrap();
    assert!(in_subnet(info.ips[0], n));
    let e = manager
        .create(&pod(
            "ported",
            vec![PortMapping {
                container_port: 80,
                host_port: 18_616,
                protocol: "TCP".into(),
                host_ip: None,
            }],
        ))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("\"portmap\" not found"), "{e}");
    // Its cleanup could not run portmap's DEL either: the record is kept
    // for a retry, its veth and lease are already gone.
    let listed = manager.list().await.unwrap();
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert_eq!(host_veths(&format!("nlt{n}")).len(), 1);
    // With portmap back, removing both works and leaves nothing.
    let bin = dir.path().join("no-plugins");
    std::fs::create_dir(&bin).unwrap();
    std::os::unix::fs::symlink("/usr/lib/cni/portmap", bin.join("portmap")).unwrap();
    for sandbox in listed {
        manager.remove(&sandbox.id).await.unwrap();
    }
    assert_eq!(manager.list().await.unwrap().len(), 0);
    assert!(host_veths(&format!("nlt{n}")).is_empty());
    let leases = dir.path().join("cache/networks").join(format!("nlt-{n}"));
    let left: Vec<_> = std::fs::read_dir(&leases)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("10."))
        .collect();
    assert!(left.is_empty(), "leases left: {left:?}");
    let _ = Command::new("ip")
        .args(["link", "del", &format!("nlt{n}")])
        .output();
    let _ = Command::new("nft")
        .args(["delete", "table", "ip", &format!("nodelet-pods-nlt-{n}")])
        .output();
}

#[tokio::test]
async fn a_cni_sandbox_is_torn_down_natively() {
    if !require_real("a_cni_sandbox_is_torn_down_natively") {
        return;
    }
    let n = 14;
    let net = TestNet::new(n);
    assert_eq!(net.manager.pod_network(), PodNetwork::Cni);
    let old = net.manager.create(&pod("old", vec![])).await.unwrap();
    let (chain, _) = plugin_chain(&net.options.network_name, &old.id);
    assert!(
        iptables_save().contains(&chain),
        "the bridge plugin made no {chain}"
    );

    // The agent restarts with the native path: the leases are shared, so
    // its new pod gets another address.
    let native = net.manager_with(PodNetwork::Native);
    let new = native.create(&pod("new", vec![])).await.unwrap();
    assert_ne!(old.ips, new.ips);
    assert!(
        ping_from(new.namespaces.net.as_deref(), &old.ips[0].to_string()),
        "pods of both paths share the bridge"
    );
    native.remove(&old.id).await.unwrap();
    let rules = iptables_save();
    assert!(!rules.contains(&chain), "the plugin's chain left: {rules}");
    assert!(
        !rules.contains(&old.id),
        "rules of the CNI pod left: {rules}"
    );
    assert_eq!(host_veths(&net.options.bridge).len(), 1);
    assert_eq!(net.lease_files(), 1);
    native.remove(&new.id).await.unwrap();
    assert_eq!(net.bridge_veths(), 0);
    assert_eq!(net.lease_files(), 0);
}

#[tokio::test]
async fn a_native_sandbox_is_torn_down_through_cni() {
    if !require_real("a_native_sandbox_is_torn_down_through_cni") {
        return;
    }
    let n = 15;
    let net = TestNet::native(n);
    let made = net.manager.create(&pod("made", vec![])).await.unwrap();
    let cni = net.manager_with(PodNetwork::Cni);
    assert_eq!(cni.pod_network(), PodNetwork::Cni);
    let other = cni.create(&pod("other", vec![])).await.unwrap();
    assert_ne!(made.ips, other.ips);
    cni.check(&made.id).await.unwrap();
    cni.remove(&made.id).await.unwrap();
    assert_eq!(host_veths(&net.options.bridge).len(), 1);
    assert_eq!(net.lease_files(), 1);
    let (chain, _) = plugin_chain(&net.options.network_name, &made.id);
    assert!(!iptables_save().contains(&chain), "DEL left a chain behind");
    cni.remove(&other.id).await.unwrap();
    assert_eq!(net.bridge_veths(), 0);
    assert_eq!(net.lease_files(), 0);
}

/// `cargo test -p nodelet-runtime --test sandbox_native -- --ignored
/// --nocapture`: median of 20 network set-ups (ADD, then DEL) of a
/// pinned namespace on both paths, the network alone; and of 20 whole
/// sandbox creates and removes (pins, fsync'd records and the network).
#[tokio::test]
#[ignore]
async fn bench_network_setup() {
    use nodelet_runtime::sandbox::cni::config::load_or_create;
    use nodelet_runtime::sandbox::cni::{CniArgs, CniCommand, CniInvoker};
    use nodelet_runtime::sandbox::namespaces::{NamespaceSet, pin, unpin};
    use nodelet_runtime::sandbox::native::NativeNetwork;
    use nodelet_runtime::sandbox::pin_space::PinSpace;

    if !require_real("bench_network_setup") {
        return;
    }
    let only_net = NamespaceSet {
        net: true,
        ipc: false,
        uts: false,
    };
    for (n, mode) in [(17u8, PodNetwork::Cni), (18u8, PodNetwork::Native)] {
        let net = TestNet::with(n, mode);
        let space = PinSpace::open(&net.run_dir()).unwrap();
        // Untimed: the bridge (and the masquerade) are made once.
        let warm = net.manager.create(&pod("warm", vec![])).await.unwrap();

        let list = load_or_create(&net.options).unwrap();
        let native = NativeNetwork::choose(PodNetwork::Native, &net.options, &list)
            .unwrap()
            .unwrap();
        let invoker = CniInvoker::new(net.options.bin_dirs.clone());
        let (mut adds, mut dels) = (Vec::new(), Vec::new());
        for i in 0..20 {
            let dir = space.dir(&format!("bench{i}"));
            pin(&space, &format!("bench{i}"), only_net, "").unwrap();
            let netns = dir.join("net");
            let id = format!("{i:0>64}");
            let args = CniArgs {
                container_id: id.clone(),
                netns: netns.clone(),
                ifname: "eth0".into(),
                args: vec![],
            };
            let rc = serde_json::json!({"portMappings": []});
            let t = Instant::now();
            let result = if mode == PodNetwork::Native {
                native.add(&id, &netns, "eth0").unwrap()
            } else {
                let lo = serde_json::json!({"cniVersion": "1.0.0", "name": "cni-loopback", "type": "loopback"});
                let lo_args = CniArgs {
                    ifname: "lo".into(),
                    ..args.clone()
                };
                invoker
                    .exec_plugin(CniCommand::Add, &lo_args, &lo)
                    .await
                    .unwrap();
                invoker.add_list(&list, &args, &rc).await.unwrap()
            };
            adds.push(t.elapsed());
            let t = Instant::now();
            if mode == PodNetwork::Native {
                native
                    .del(&id, Some(&netns), "eth0", Some(&result), false)
                    .unwrap();
            } else {
                invoker
                    .del_list(&list, &args, &rc, Some(&result))
                    .await
                    .unwrap();
            }
            dels.push(t.elapsed());
            unpin(&dir).unwrap();
        }
        println!(
            "{}: network ADD median {:?} (min {:?}, max {:?}), DEL median {:?}",
            mode.as_str(),
            median(&mut adds),
            adds[0],
            adds[adds.len() - 1],
            median(&mut dels)
        );

        let (mut creates, mut removes) = (Vec::new(), Vec::new());
        for i in 0..20 {
            let t = Instant::now();
            let info = net
                .manager
                .create(&pod(&format!("b{i}"), vec![]))
                .await
                .unwrap();
            creates.push(t.elapsed());
            let t = Instant::now();
            net.manager.remove(&info.id).await.unwrap();
            removes.push(t.elapsed());
        }
        net.manager.remove(&warm.id).await.unwrap();
        println!(
            "{}: sandbox create median {:?}, remove median {:?}",
            mode.as_str(),
            median(&mut creates),
            median(&mut removes)
        );
        assert_eq!(net.lease_files(), 0);
        assert_eq!(net.bridge_veths(), 0);
    }
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}
