//! The client side of a port-forward session (what kubectl does, for
//! `nodelet port-forward`): open the error and data streams of each
//! forwarded connection with SYN_STREAM, wait for SYN_REPLY, copy bytes.

use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};

use super::spdy::{
    FLAG_FIN, HeaderDeflater, HeaderInflater, TYPE_GOAWAY, TYPE_PING, TYPE_RST_STREAM,
    TYPE_SYN_REPLY, TYPE_SYN_STREAM, control, len_field,
};

enum Out {
    Syn {
        id: u32,
        headers: Vec<(String, String)>,
    },
    Data {
        id: u32,
        data: Bytes,
        fin: bool,
    },
    Ping(u32),
}

struct Slot {
    replied: Option<oneshot::Sender<()>>,
    data: Option<mpsc::Sender<Bytes>>,
}

/// A client session on a byte stream.
#[derive(Clone)]
pub struct ClientSession {
    tx: mpsc::Sender<Out>,
    streams: Arc<Mutex<HashMap<u32, Slot>>>,
    next: Arc<AtomicU32>,
}

/// One stream opened by the client.
pub struct ClientStream {
    pub id: u32,
    pub data: mpsc::Receiver<Bytes>,
    tx: mpsc::Sender<Out>,
}

fn closed() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "port-forward session closed")
}

/// The sending half of a [`ClientStream`].
pub struct ClientWriter {
    id: u32,
    tx: mpsc::Sender<Out>,
}

impl ClientStream {
    /// The sending half and the received data.
    pub fn split(self) -> (ClientWriter, mpsc::Receiver<Bytes>) {
        (
            ClientWriter {
                id: self.id,
                tx: self.tx,
            },
            self.data,
        )
    }
}

impl ClientWriter {
    pub async fn write(&self, data: &[u8]) -> io::Result<()> {
        for c in data.chunks(super::spdy::MAX_DATA_CHUNK) {
            self.tx
                .send(Out::Data {
                    id: self.id,
                    data: Bytes::copy_from_slice(c),
                    fin: false,
                })
                .await
                .map_err(|_| closed())?;
        }
        Ok(())
    }

    /// Half-close.
    pub async fn close(&self) -> io::Result<()> {
        self.tx
            .send(Out::Data {
                id: self.id,
                data: Bytes::new(),
                fin: true,
            })
            .await
            .map_err(|_| closed())
    }
}

impl ClientSession {
    pub fn start<T: AsyncRead + AsyncWrite + Send + Unpin + 'static>(io: T) -> ClientSession {
        let (rd, wr) = tokio::io::split(io);
        let (tx, rx) = mpsc::channel(256);
        let streams: Arc<Mutex<HashMap<u32, Slot>>> = Arc::default();
        tokio::spawn(write_loop(wr, rx));
        tokio::spawn(read_loop(rd, streams.clone(), tx.clone()));
        ClientSession {
            tx,
            streams,
            next: Arc::new(AtomicU32::new(1)),
        }
    }

    /// Opens a stream and waits for the server to accept it.
    pub async fn open(&self, headers: &[(&str, &str)]) -> io::Result<ClientStream> {
        let id = self.next.fetch_add(2, Ordering::Relaxed);
        let (rtx, rrx) = oneshot::channel();
        let (dtx, drx) = mpsc::channel(64);
        self.streams
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(
                id,
                Slot {
                    replied: Some(rtx),
                    data: Some(dtx),
                },
            );
        let headers = headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        self.tx
            .send(Out::Syn { id, headers })
            .await
            .map_err(|_| closed())?;
        tokio::time::timeout(std::time::Duration::from_secs(30), rrx)
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no reply to the stream"))?
            .map_err(|_| closed())?;
        Ok(ClientStream {
            id,
            data: drx,
            tx: self.tx.clone(),
        })
    }
}

async fn write_loop<W: AsyncWrite + Unpin>(mut wr: W, mut rx: mpsc::Receiver<Out>) {
    let mut deflate = HeaderDeflater::new();
    while let Some(out) = rx.recv().await {
        let mut b = BytesMut::new();
        match out {
            Out::Syn { id, headers } => {
                let pairs: Vec<(&str, &str)> = headers
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                let Ok(block) = deflate.block(&pairs) else {
                    return;
                };
                control(&mut b, TYPE_SYN_STREAM, 0, 10 + block.len());
                b.extend_from_slice(&id.to_be_bytes());
                b.extend_from_slice(&0u32.to_be_bytes());
                b.extend_from_slice(&[0, 0]);
                b.extend_from_slice(&block);
            }
            Out::Data { id, data, fin } => {
                b.extend_from_slice(&id.to_be_bytes());
                b.extend_from_slice(&len_field(if fin { FLAG_FIN } else { 0 }, data.len()));
                b.extend_from_slice(&data);
            }
            Out::Ping(id) => {
                control(&mut b, TYPE_PING, 0, 4);
                b.extend_from_slice(&id.to_be_bytes());
            }
        }
        if wr.write_all(&b).await.is_err() {
            return;
        }
        if rx.is_empty() && wr.flush().await.is_err() {
            return;
        }
    }
}

async fn read_loop<R: AsyncRead + Unpin>(
    mut rd: R,
    streams: Arc<Mutex<HashMap<u32, Slot>>>,
    tx: mpsc::Sender<Out>,
) {
    let mut inflate = HeaderInflater::new();
    loop {
        let mut h = [0u8; 8];
        if rd.read_exact(&mut h).await.is_err() {
            break;
        }
        let len = usize::from(h[5]) << 16 | usize::from(h[6]) << 8 | usize::from(h[7]);
        let mut p = vec![0u8; len];
        if rd.read_exact(&mut p).await.is_err() {
            break;
        }
        let word = |i: usize| {
            p.get(i..i + 4)
                .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
                .unwrap_or(0)
        };
        if h[0] & 0x80 == 0 {
            let id = u32::from_be_bytes([h[0], h[1], h[2], h[3]]) & 0x7fff_ffff;
            let sender = streams
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&id)
                .and_then(|s| s.data.clone());
            if let Some(s) = sender
                && !p.is_empty()
            {
                let _ = s.send(Bytes::from(p)).await;
            }
            if h[4] & FLAG_FIN != 0
                && let Some(slot) = streams
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .get_mut(&id)
            {
                slot.data = None;
            }
            continue;
        }
        match u16::from_be_bytes([h[2], h[3]]) {
            TYPE_SYN_REPLY => {
                if p.len() >= 4 && inflate.block(&p[4..]).is_err() {
                    break;
                }
                let id = word(0) & 0x7fff_ffff;
                if let Some(slot) = streams
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .get_mut(&id)
                    && let Some(r) = slot.replied.take()
                {
                    let _ = r.send(());
                }
            }
            TYPE_RST_STREAM => {
                streams
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&(word(0) & 0x7fff_ffff));
            }
            TYPE_PING => {
                let id = word(0);
                if id % 2 == 0 {
                    let _ = tx.send(Out::Ping(id)).await;
                }
            }
            TYPE_GOAWAY => break,
            _ => {}
        }
    }
    streams.lock().unwrap_or_else(|e| e.into_inner()).clear();
}
