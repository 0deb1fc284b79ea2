//! `testbin serve`: the HTTP (and optional HTTPS, self-signed) listeners, one
//! thread per connection. TLS uses rustls with the ring provider and a
//! certificate generated at start (SANs: localhost, 127.0.0.1, ::1, hostname).

use std::io::{BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::http::{ParseError, Recorder, Response, handle, read_request};

/// Binds `port` on all addresses (dual-stack when IPv6 is available).
fn bind(port: u16) -> Result<TcpListener, String> {
    TcpListener::bind(("::", port))
        .or_else(|_| TcpListener::bind(("0.0.0.0", port)))
        .map_err(|e| format!("bind port {port}: {e}"))
}

/// Serves one request on `stream` and hands the stream back.
fn serve_one<S: Read + Write>(stream: S, rec: &Recorder) -> S {
    let mut br = BufReader::new(stream);
    let resp = match read_request(&mut br) {
        Ok(req) => Some((handle(&req, rec), req.method == "HEAD")),
        Err(ParseError::Bad(why)) => Some((
            Response {
                status: 400,
                content_type: "text/plain",
                location: None,
                body: why.into(),
            },
            false,
        )),
        Err(e @ (ParseError::Closed | ParseError::Io(_))) => {
            // Nothing to answer; note it for debugging a flaky client.
            if !matches!(e, ParseError::Closed) {
                eprintln!("testbin: {e}");
            }
            None
        }
    };
    let mut s = br.into_inner();
    if let Some((r, head_only)) = resp {
        let _ = r.write_to(&mut s, head_only);
    }
    s
}

fn prepare(tcp: &TcpStream) {
    let _ = tcp.set_read_timeout(Some(Duration::from_secs(30)));
    let _ = tcp.set_write_timeout(Some(Duration::from_secs(30)));
}

/// A TLS server config with a fresh self-signed certificate (returned too,
/// so tests can trust it).
pub fn tls_config() -> Result<(Arc<rustls::ServerConfig>, CertificateDer<'static>), String> {
    let mut names = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ];
    if let Ok(h) = nix::unistd::gethostname()
        && let Some(h) = h.to_str()
    {
        names.push(h.to_string());
    }
    let ck = rcgen::generate_simple_self_signed(names).map_err(|e| format!("certificate: {e}"))?;
    let cert: CertificateDer<'static> = ck.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ck.signing_key.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("tls: {e}"))?
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)
        .map_err(|e| format!("tls: {e}"))?;
    Ok((Arc::new(cfg), cert))
}

fn http_loop(l: TcpListener, rec: Arc<Recorder>) {
    for conn in l.incoming() {
        let Ok(tcp) = conn else { continue };
        let rec = rec.clone();
        std::thread::spawn(move || {
            prepare(&tcp);
            let _ = serve_one(tcp, &rec);
        });
    }
}

fn https_loop(l: TcpListener, rec: Arc<Recorder>, cfg: Arc<rustls::ServerConfig>) {
    for conn in l.incoming() {
        let Ok(tcp) = conn else { continue };
        let (rec, cfg) = (rec.clone(), cfg.clone());
        std::thread::spawn(move || {
            prepare(&tcp);
            let Ok(tls) = rustls::ServerConnection::new(cfg) else {
                return;
            };
            let mut s = serve_one(rustls::StreamOwned::new(tls, tcp), &rec);
            s.conn.send_close_notify();
            let _ = s.flush();
        });
    }
}

/// Starts the listeners in background threads; returns once they are bound.
pub fn start(http_port: u16, https_port: Option<u16>) -> Result<Arc<Recorder>, String> {
    let rec = Arc::new(Recorder::default());
    let l = bind(http_port)?;
    println!(
        "serving http on :{}",
        l.local_addr().map(|a| a.port()).unwrap_or(http_port)
    );
    let r = rec.clone();
    std::thread::spawn(move || http_loop(l, r));
    if let Some(p) = https_port {
        let (cfg, _) = tls_config()?;
        let l = bind(p)?;
        println!(
            "serving https on :{}",
            l.local_addr().map(|a| a.port()).unwrap_or(p)
        );
        let r = rec.clone();
        std::thread::spawn(move || https_loop(l, r, cfg));
    }
    Ok(rec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_round_trip_over_tcp() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let rec = Arc::new(Recorder::default());
        let r = rec.clone();
        std::thread::spawn(move || http_loop(l, r));
        let get = |target: &str| {
            let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
            write!(s, "GET {target} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).unwrap();
            out
        };
        assert!(get("/echo?msg=hi").ends_with("\r\n\r\nhi"));
        let rec_json = get("/recorded");
        assert!(rec_json.contains("\"msg\":\"hi\""), "{rec_json}");
    }

    #[test]
    fn https_round_trip_with_generated_cert() {
        let (server_cfg, cert) = tls_config().unwrap();
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let rec = Arc::new(Recorder::default());
        let r = rec.clone();
        std::thread::spawn(move || https_loop(l, r, server_cfg));

        let mut roots = rustls::RootCertStore::empty();
        roots.add(cert).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let client_cfg = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let conn = rustls::ClientConnection::new(Arc::new(client_cfg), name).unwrap();
        let tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        write!(
            tls,
            "GET /echo?msg=over-tls HTTP/1.1\r\nHost: localhost\r\n\r\n"
        )
        .unwrap();
        let mut out = String::new();
        tls.read_to_string(&mut out).unwrap();
        assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
        assert!(out.ends_with("\r\n\r\nover-tls"), "{out}");
        assert!(rec.to_json().contains("\"msg\":\"over-tls\""));
    }
}
