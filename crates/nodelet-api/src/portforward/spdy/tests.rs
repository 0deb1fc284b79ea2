//! A minimal SPDY client (the same codec, other direction) drives the
//! server session through the kubelet's stream pairing, as kubectl does:
//! error stream, wait for its reply, data stream, bytes both ways, FINs.

use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

use super::*;
use crate::portforward::streams::{Forwarder, PodConn};

struct Client {
    io: DuplexStream,
    deflate: HeaderDeflater,
    inflate: HeaderInflater,
}

#[derive(Debug, PartialEq)]
enum Frame {
    Reply(u32),
    Data(u32, Vec<u8>, bool),
    Ping(u32),
    Other(u16),
}

impl Client {
    async fn syn(&mut self, id: u32, headers: &[(&str, &str)]) {
        let block = self.deflate.block(headers).unwrap();
        let mut b = BytesMut::new();
        control(&mut b, TYPE_SYN_STREAM, 0, 10 + block.len());
        b.extend_from_slice(&id.to_be_bytes());
        b.extend_from_slice(&0u32.to_be_bytes());
        b.extend_from_slice(&[0, 0]);
        b.extend_from_slice(&block);
        self.io.write_all(&b).await.unwrap();
    }

    async fn data(&mut self, id: u32, data: &[u8], fin: bool) {
        let mut b = BytesMut::new();
        b.extend_from_slice(&id.to_be_bytes());
        b.extend_from_slice(&len_field(if fin { FLAG_FIN } else { 0 }, data.len()));
        b.extend_from_slice(data);
        self.io.write_all(&b).await.unwrap();
    }

    async fn ping(&mut self, id: u32) {
        let mut b = BytesMut::new();
        control(&mut b, TYPE_PING, 0, 4);
        b.extend_from_slice(&id.to_be_bytes());
        self.io.write_all(&b).await.unwrap();
    }

    async fn frame(&mut self) -> Frame {
        let mut h = [0u8; 8];
        self.io.read_exact(&mut h).await.unwrap();
        let len = usize::from(h[5]) << 16 | usize::from(h[6]) << 8 | usize::from(h[7]);
        let mut p = vec![0u8; len];
        self.io.read_exact(&mut p).await.unwrap();
        let w = |i: usize| u32::from_be_bytes([p[i], p[i + 1], p[i + 2], p[i + 3]]);
        if h[0] & 0x80 == 0 {
            let id = u32::from_be_bytes([h[0], h[1], h[2], h[3]]);
            return Frame::Data(id, p, h[4] & FLAG_FIN != 0);
        }
        match u16::from_be_bytes([h[2], h[3]]) {
            TYPE_SYN_REPLY => {
                assert!(self.inflate.block(&p[4..]).unwrap().is_empty());
                Frame::Reply(w(0))
            }
            TYPE_PING => Frame::Ping(w(0)),
            t => Frame::Other(t),
        }
    }
}

fn start(connect: Arc<dyn crate::portforward::streams::Connect>) -> Client {
    let (client, server) = tokio::io::duplex(1 << 20);
    let fwd = Forwarder::new(connect, "sandbox-1", "");
    tokio::spawn(async move { serve(server, move |s| fwd.stream(s)).await });
    Client {
        io: client,
        deflate: HeaderDeflater::new(),
        inflate: HeaderInflater::new(),
    }
}

fn echo() -> Arc<dyn crate::portforward::streams::Connect> {
    Arc::new(|port: u16| async move {
        if port == 81 {
            return Err("connection refused".to_owned());
        }
        let (a, b) = tokio::io::duplex(1 << 16);
        tokio::spawn(async move {
            let (mut r, mut w) = tokio::io::split(b);
            let _ = tokio::io::copy(&mut r, &mut w).await;
            let _ = w.shutdown().await;
        });
        Ok(Box::new(a) as Box<dyn PodConn>)
    })
}

#[tokio::test]
async fn forwards_a_stream_pair_and_echoes_pings() {
    let mut c = start(echo());
    c.syn(
        1,
        &[("streamtype", "error"), ("port", "80"), ("requestid", "0")],
    )
    .await;
    assert_eq!(c.frame().await, Frame::Reply(1));
    c.data(1, b"", true).await;
    c.syn(
        3,
        &[("streamtype", "data"), ("port", "80"), ("requestid", "0")],
    )
    .await;
    assert_eq!(c.frame().await, Frame::Reply(3));
    c.ping(7).await;
    assert_eq!(c.frame().await, Frame::Ping(7));
    let big: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
    c.data(3, &big, true).await;
    let mut got = Vec::new();
    loop {
        match c.frame().await {
            Frame::Data(3, d, fin) => {
                got.extend(d);
                if fin {
                    break;
                }
            }
            Frame::Data(1, d, fin) => assert!(d.is_empty() && fin, "error: {d:?}"),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(got, big);
}

#[tokio::test]
async fn a_refused_port_is_reported_on_the_error_stream() {
    let mut c = start(echo());
    c.syn(
        1,
        &[("streamtype", "error"), ("port", "81"), ("requestid", "5")],
    )
    .await;
    assert_eq!(c.frame().await, Frame::Reply(1));
    c.syn(
        3,
        &[("streamtype", "data"), ("port", "81"), ("requestid", "5")],
    )
    .await;
    assert_eq!(c.frame().await, Frame::Reply(3));
    let mut error = Vec::new();
    let mut fins = 0;
    while fins < 2 {
        match c.frame().await {
            Frame::Data(1, d, fin) => {
                error.extend(d);
                fins += usize::from(fin);
            }
            Frame::Data(3, _, fin) => fins += usize::from(fin),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(
        String::from_utf8(error).unwrap(),
        "error forwarding port 81 to pod sandbox-1, uid : connection refused"
    );
}

#[tokio::test]
async fn streams_beyond_the_open_limit_are_refused() {
    let (client, server) = tokio::io::duplex(1 << 20);
    let mut held = Vec::new();
    tokio::spawn(async move {
        serve(server, move |s| {
            s.out.reply_now();
            held.push(s);
        })
        .await
    });
    let mut c = Client {
        io: client,
        deflate: HeaderDeflater::new(),
        inflate: HeaderInflater::new(),
    };
    let n = MAX_OPEN_STREAMS as u32 + 3;
    for i in 0..n {
        c.syn(2 * i + 1, &[("streamtype", "data"), ("port", "80")])
            .await;
    }
    let (mut replies, mut refused) = (0, 0);
    for _ in 0..n {
        match c.frame().await {
            Frame::Reply(_) => replies += 1,
            Frame::Other(TYPE_RST_STREAM) => refused += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((replies, refused), (MAX_OPEN_STREAMS, 3));
}
