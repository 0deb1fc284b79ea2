//! DNS queries per second and latency against one server (bench/services.sh
//! runs it inside a pod's network namespace against the cluster DNS, and
//! against the host resolver for comparison).
//!
//! Usage: bench_dns SERVER NAME [QUERIES] [CONCURRENCY]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, Query};
use hickory_proto::rr::{Name, RecordType};

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() - 1) as f64 * p).round() as usize]
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a: Vec<String> = std::env::args().collect();
    let server: SocketAddr = format!(
        "{}:53",
        a.get(1)
            .ok_or("usage: bench_dns SERVER NAME [QUERIES] [CONCURRENCY]")?
    )
    .parse()?;
    let name = Name::from_ascii(a.get(2).ok_or("NAME missing")?)?;
    let total: usize = a.get(3).and_then(|s| s.parse().ok()).unwrap_or(5000);
    let conc: usize = a.get(4).and_then(|s| s.parse().ok()).unwrap_or(8);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..conc {
        let name = name.clone();
        tasks.push(tokio::spawn(async move {
            let sock = tokio::net::UdpSocket::bind("0.0.0.0:0").await.ok()?;
            sock.connect(server).await.ok()?;
            let mut lat = Vec::new();
            let mut failed = 0usize;
            let mut buf = vec![0u8; 4096];
            for i in 0..total / conc {
                let mut m = Message::query();
                m.metadata.id = ((w * 10007 + i) % 65536) as u16;
                m.metadata.recursion_desired = true;
                m.add_query(Query::query(name.clone(), RecordType::A));
                let q = m.to_vec().ok()?;
                let t = Instant::now();
                sock.send(&q).await.ok()?;
                match tokio::time::timeout(Duration::from_secs(2), sock.recv(&mut buf)).await {
                    Ok(Ok(_)) => lat.push(t.elapsed().as_secs_f64() * 1000.0),
                    _ => failed += 1,
                }
            }
            Some((lat, failed))
        }));
    }
    let mut lat = Vec::new();
    let mut failed = 0;
    for t in tasks {
        if let Ok(Some((l, f))) = t.await {
            lat.extend(l);
            failed += f;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    if lat.is_empty() {
        println!("{server} {name}: no answers ({failed} timed out)");
        return Ok(());
    }
    println!(
        "{server} {name}: {} answers in {secs:.2} s = {:.0} q/s, p50 {:.3} ms, p99 {:.3} ms, {failed} timed out",
        lat.len(),
        lat.len() as f64 / secs,
        pct(&mut lat.clone(), 0.5),
        pct(&mut lat, 0.99)
    );
    Ok(())
}
