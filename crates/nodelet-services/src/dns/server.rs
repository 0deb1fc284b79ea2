//! The cluster DNS server: hickory-server's UDP and TCP front ends with a
//! handler that answers from the [`DnsIndex`] and relays everything else to
//! the host's resolvers (CoreDNS's `kubernetes` + `forward` plugins).
//!
//! The index is swapped whole on every change (a few hundred names), so a
//! query never sees half an update and never waits for the controller.

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, Metadata, OpCode, ResponseCode};
use hickory_proto::rr::{Record, RecordType};
use hickory_server::net::runtime::Time;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponseBuilder;

use super::records::{DnsIndex, Lookup};

/// How long an upstream gets before the next one is tried.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(2);

/// The index queries read; replaced whole by the controller.
#[derive(Clone, Default)]
pub struct SharedIndex(Arc<RwLock<Arc<DnsIndex>>>);

impl SharedIndex {
    pub fn get(&self) -> Arc<DnsIndex> {
        self.0.read().map(|g| g.clone()).unwrap_or_default()
    }

    pub fn set(&self, ix: DnsIndex) {
        if let Ok(mut g) = self.0.write() {
            *g = Arc::new(ix);
        }
    }
}

pub struct Handler {
    pub index: SharedIndex,
    pub upstream: Vec<SocketAddr>,
}

enum Outcome {
    Records {
        code: ResponseCode,
        authoritative: bool,
        answers: Vec<Record>,
        authorities: Vec<Record>,
        additionals: Vec<Record>,
        recursion_available: bool,
    },
    Fail(ResponseCode),
}

#[async_trait::async_trait]
impl RequestHandler for Handler {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        mut response_handle: R,
    ) -> ResponseInfo {
        let outcome = self.answer(request).await;
        let builder = MessageResponseBuilder::from_message_request(request);
        let mut meta = Metadata::response_from_request(&request.metadata);
        let result = match outcome {
            Outcome::Fail(code) => {
                let resp = builder.error_msg(&request.metadata, code);
                response_handle.send_response(resp).await
            }
            Outcome::Records {
                code,
                authoritative,
                answers,
                authorities,
                additionals,
                recursion_available,
            } => {
                meta.response_code = code;
                meta.authoritative = authoritative;
                meta.recursion_available = recursion_available;
                let resp = builder.build(
                    meta,
                    answers.iter(),
                    authorities.iter(),
                    std::iter::empty(),
                    additionals.iter(),
                );
                response_handle.send_response(resp).await
            }
        };
        match result {
            Ok(info) => info,
            Err(e) => {
                tracing::debug!("dns: sending a response: {e}");
                let mut m =
                    Metadata::new(request.metadata.id, MessageType::Response, OpCode::Query);
                m.response_code = ResponseCode::ServFail;
                ResponseInfo::from(hickory_proto::op::Header {
                    metadata: m,
                    counts: Default::default(),
                })
            }
        }
    }
}

impl Handler {
    async fn answer(&self, request: &Request) -> Outcome {
        if request.metadata.op_code != OpCode::Query {
            return Outcome::Fail(ResponseCode::NotImp);
        }
        let Ok(info) = request.request_info() else {
            return Outcome::Fail(ResponseCode::FormErr);
        };
        let name = info.query.name().to_string();
        let qtype = info.query.query_type();
        let ix = self.index.get();
        let local = |code, answers, authorities| Outcome::Records {
            code,
            authoritative: true,
            answers,
            authorities,
            additionals: Vec::new(),
            recursion_available: true,
        };
        match ix.lookup(&name, qtype) {
            Lookup::Answer(rs) => local(ResponseCode::NoError, rs, Vec::new()),
            Lookup::NoData => local(ResponseCode::NoError, Vec::new(), vec![ix.soa()]),
            Lookup::NxDomain => local(ResponseCode::NXDomain, Vec::new(), vec![ix.soa()]),
            Lookup::Chase(cname, target) => {
                let mut answers = vec![*cname];
                let q = query_bytes(request.metadata.id, &target, qtype);
                if let Some(resp) = self.forward(&q).await {
                    answers.extend(resp.answers);
                }
                local(ResponseCode::NoError, answers, Vec::new())
            }
            Lookup::Forward => match self.forward(request.as_slice()).await {
                Some(resp) => Outcome::Records {
                    code: resp.metadata.response_code,
                    authoritative: false,
                    answers: resp.answers,
                    authorities: resp.authorities,
                    additionals: resp
                        .additionals
                        .into_iter()
                        .filter(|r| r.record_type() != RecordType::OPT)
                        .collect(),
                    recursion_available: resp.metadata.recursion_available,
                },
                None => Outcome::Fail(ResponseCode::ServFail),
            },
        }
    }

    /// Relays a query to the host's resolvers, each in turn: UDP, and TCP
    /// when the answer was truncated.
    async fn forward(&self, query: &[u8]) -> Option<Message> {
        for up in &self.upstream {
            match tokio::time::timeout(UPSTREAM_TIMEOUT, forward_one(*up, query)).await {
                Ok(Ok(m)) => return Some(m),
                Ok(Err(e)) => tracing::debug!("dns: upstream {up}: {e}"),
                Err(_) => tracing::debug!("dns: upstream {up} timed out"),
            }
        }
        None
    }
}

fn query_bytes(id: u16, name: &str, qtype: RecordType) -> Vec<u8> {
    let mut m = Message::query();
    m.metadata.id = id;
    m.metadata.recursion_desired = true;
    if let Ok(n) = hickory_proto::rr::Name::from_ascii(format!("{}.", name.trim_end_matches('.'))) {
        m.add_query(hickory_proto::op::Query::query(n, qtype));
    }
    m.to_vec().unwrap_or_default()
}

async fn forward_one(up: SocketAddr, query: &[u8]) -> std::io::Result<Message> {
    let bind: SocketAddr = if up.is_ipv4() {
        "0.0.0.0:0".parse().expect("literal")
    } else {
        "[::]:0".parse().expect("literal")
    };
    let sock = tokio::net::UdpSocket::bind(bind).await?;
    sock.connect(up).await?;
    sock.send(query).await?;
    let mut buf = vec![0u8; 65535];
    let n = sock.recv(&mut buf).await?;
    let m = Message::from_vec(&buf[..n]).map_err(std::io::Error::other)?;
    if !m.metadata.truncation {
        return Ok(m);
    }
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(up).await?;
    let len = u16::try_from(query.len()).map_err(std::io::Error::other)?;
    tcp.write_all(&len.to_be_bytes()).await?;
    tcp.write_all(query).await?;
    let mut lb = [0u8; 2];
    tcp.read_exact(&mut lb).await?;
    let mut body = vec![0u8; usize::from(u16::from_be_bytes(lb))];
    tcp.read_exact(&mut body).await?;
    Message::from_vec(&body).map_err(std::io::Error::other)
}

/// Binds UDP and TCP on `addr` with `IP_FREEBIND` (the bridge's address
/// may not exist yet: it appears with the first pod) and serves until
/// `stop` is cancelled.
pub fn spawn(
    addr: SocketAddr,
    handler: Handler,
    stop: tokio_util::sync::CancellationToken,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    use socket2::{Domain, Protocol, Socket, Type};
    let domain = Domain::for_address(addr);
    let udp = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
    udp.set_freebind_v4(true)?;
    udp.set_reuse_address(true)?;
    udp.set_nonblocking(true)?;
    udp.bind(&addr.into())?;
    let tcp = Socket::new(domain, Type::STREAM, Some(Protocol::TCP))?;
    tcp.set_freebind_v4(true)?;
    tcp.set_reuse_address(true)?;
    tcp.set_nonblocking(true)?;
    tcp.bind(&addr.into())?;
    tcp.listen(1024)?;
    let udp = tokio::net::UdpSocket::from_std(udp.into())?;
    let tcp = tokio::net::TcpListener::from_std(tcp.into())?;
    let mut server = hickory_server::Server::new(handler);
    server.register_socket(udp);
    server.register_listener(tcp, Duration::from_secs(5), 64 * 1024);
    Ok(tokio::spawn(async move {
        stop.cancelled().await;
        if let Err(e) = server.shutdown_gracefully().await {
            tracing::debug!("dns: shutting down: {e}");
        }
    }))
}
