//! Port forwarding into a real pod sandbox: a listener on the pod's
//! loopback only (unreachable from the host) is reached through
//! `sandbox::portforward::connect`, bytes flow both ways, and a closed
//! port fails with containerd's message. Needs root and the CNI plugins.

mod sandbox_support;

use std::io::{Read, Write};
use std::net::TcpListener;

use nodelet_runtime::sandbox::portforward;
use sandbox_support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Binds 127.0.0.1:`port` inside the namespace pinned at `net` and answers
/// one connection with "pong:" + what it read.
fn serve_in_netns(net: std::path::PathBuf, port: u16) -> std::thread::JoinHandle<()> {
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let h = std::thread::spawn(move || {
        let f = std::fs::File::open(&net).unwrap();
        nix::sched::setns(&f, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
        let l = TcpListener::bind(("127.0.0.1", port)).unwrap();
        ready_tx.send(()).unwrap();
        let (mut c, _) = l.accept().unwrap();
        let mut buf = [0u8; 4];
        c.read_exact(&mut buf).unwrap();
        c.write_all(b"pong:").unwrap();
        c.write_all(&buf).unwrap();
    });
    ready_rx.recv().unwrap();
    h
}

#[tokio::test]
async fn connects_to_the_pods_loopback() {
    if !require_real("connects_to_the_pods_loopback") {
        return;
    }
    let net = TestNet::new(8);
    let sb = net.manager.create(&pod("pf", vec![])).await.unwrap();
    let pin = sb.namespaces.net.clone().unwrap();
    let server = serve_in_netns(pin.clone(), 8080);
    // The host's own loopback has nothing there (or something else).
    let mut s = portforward::connect(Some(&pin), &sb.id, 8080)
        .await
        .unwrap();
    s.write_all(b"ping").await.unwrap();
    let mut got = Vec::new();
    s.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"pong:ping");
    server.join().unwrap();

    let err = portforward::connect(Some(&pin), &sb.id, 8081)
        .await
        .expect_err("nothing listens on 8081");
    let msg = err.to_string();
    assert!(
        msg.contains(&format!(
            "failed to connect to localhost:8081 inside namespace \"{}\", IPv4: dial tcp4 127.0.0.1:8081: connect: connection refused",
            sb.id
        )),
        "{msg}"
    );
    net.manager.remove(&sb.id).await.unwrap();
}
