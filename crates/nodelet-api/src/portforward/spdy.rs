//! A SPDY/3.1 server session, as far as Kubernetes' streaming protocols use
//! it (moby/spdystream, the peer of kubectl and the kubelet): streams opened
//! by the client with SYN_STREAM and answered with SYN_REPLY, DATA with FIN
//! half-closes, RST_STREAM, PING echo, GOAWAY. Header blocks are zlib
//! streams with the SPDY dictionary, one compression context per direction
//! for the whole session. spdystream does no flow control (it ignores
//! SETTINGS and WINDOW_UPDATE), so neither does this.

use std::collections::HashMap;
use std::io;

use bytes::{Bytes, BytesMut};
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use super::dict::dictionary;

pub(crate) const TYPE_SYN_STREAM: u16 = 1;
pub(crate) const TYPE_SYN_REPLY: u16 = 2;
pub(crate) const TYPE_RST_STREAM: u16 = 3;
pub(crate) const TYPE_PING: u16 = 6;
pub(crate) const TYPE_GOAWAY: u16 = 7;
const TYPE_HEADERS: u16 = 8;
pub(crate) const FLAG_FIN: u8 = 0x01;
/// Largest frame accepted (the 24-bit length field's limit).
const MAX_FRAME: usize = (1 << 24) - 1;
/// Chunks written to a stream are cut to this size.
pub const MAX_DATA_CHUNK: usize = 32 * 1024;
/// RST_STREAM status codes.
pub const RST_PROTOCOL_ERROR: u32 = 1;
pub const RST_REFUSED_STREAM: u32 = 3;
/// Streams one session may have open at once (kubectl opens two per
/// forwarded connection); more are refused with `REFUSED_STREAM`, so a
/// client cannot grow the session's memory without bound.
pub const MAX_OPEN_STREAMS: usize = 1024;
pub const RST_CANCEL: u32 = 5;

/// What a stream's owner sends.
#[derive(Debug)]
enum Out {
    Reply { id: u32 },
    Data { id: u32, data: Bytes, fin: bool },
    Rst { id: u32, status: u32 },
    Ping(u32),
    GoAway,
}

/// A stream the client opened.
pub struct Stream {
    pub id: u32,
    /// Header names in lower case, as sent.
    pub headers: Vec<(String, String)>,
    /// Data from the client; `None` once it half-closed or reset.
    pub data: mpsc::Receiver<Bytes>,
    pub out: StreamWriter,
}

impl Stream {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The sending half of a stream.
#[derive(Clone)]
pub struct StreamWriter {
    id: u32,
    tx: mpsc::Sender<Out>,
}

fn closed() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "spdy session closed")
}

impl StreamWriter {
    /// SYN_REPLY: accepts the stream (the client drops data before it).
    pub async fn reply(&self) -> io::Result<()> {
        self.tx
            .send(Out::Reply { id: self.id })
            .await
            .map_err(|_| closed())
    }

    /// [`Self::reply`] without waiting: queued before anything sent after
    /// it (a full queue falls back to a task).
    pub fn reply_now(&self) {
        if let Err(mpsc::error::TrySendError::Full(out)) =
            self.tx.try_send(Out::Reply { id: self.id })
        {
            let tx = self.tx.clone();
            tokio::spawn(async move {
                let _ = tx.send(out).await;
            });
        }
    }

    pub async fn write(&self, data: &[u8]) -> io::Result<()> {
        for chunk in data.chunks(MAX_DATA_CHUNK) {
            self.tx
                .send(Out::Data {
                    id: self.id,
                    data: Bytes::copy_from_slice(chunk),
                    fin: false,
                })
                .await
                .map_err(|_| closed())?;
        }
        Ok(())
    }

    /// Half-closes: an empty DATA frame with FIN.
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

    pub async fn reset(&self, status: u32) -> io::Result<()> {
        self.tx
            .send(Out::Rst {
                id: self.id,
                status,
            })
            .await
            .map_err(|_| closed())
    }
}

/// Serves one session on `io` until the peer goes away; each stream the
/// client opens is handed to `on_stream` (which should reply to it).
pub async fn serve<T, F>(io: T, mut on_stream: F) -> io::Result<()>
where
    T: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    F: FnMut(Stream) + Send,
{
    let (mut rd, wr) = tokio::io::split(io);
    let (tx, rx) = mpsc::channel::<Out>(256);
    let writer = tokio::spawn(write_loop(wr, rx));
    let mut inflate = HeaderInflater::new();
    let mut streams: HashMap<u32, mpsc::Sender<Bytes>> = HashMap::new();
    let result = loop {
        let mut head = [0u8; 8];
        match rd.read_exact(&mut head).await {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break Ok(()),
            Err(e) => break Err(e),
        }
        let flags = head[4];
        let len = usize::from(head[5]) << 16 | usize::from(head[6]) << 8 | usize::from(head[7]);
        if len > MAX_FRAME {
            break Err(io::Error::other("spdy frame too large"));
        }
        let mut payload = vec![0u8; len];
        if let Err(e) = rd.read_exact(&mut payload).await {
            break Err(e);
        }
        if head[0] & 0x80 == 0 {
            // DATA
            let id = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) & 0x7fff_ffff;
            if !payload.is_empty()
                && let Some(s) = streams.get(&id)
                && s.send(Bytes::from(payload)).await.is_err()
            {
                streams.remove(&id);
            }
            if flags & FLAG_FIN != 0 {
                streams.remove(&id);
            }
            continue;
        }
        let version = u16::from_be_bytes([head[0] & 0x7f, head[1]]);
        let ty = u16::from_be_bytes([head[2], head[3]]);
        if version != 3 {
            break Err(io::Error::other(format!(
                "unsupported spdy version {version}"
            )));
        }
        let word = |i: usize| -> u32 {
            payload
                .get(i..i + 4)
                .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
                .unwrap_or(0)
        };
        match ty {
            TYPE_SYN_STREAM => {
                if payload.len() < 10 {
                    break Err(io::Error::other("short SYN_STREAM"));
                }
                let id = word(0) & 0x7fff_ffff;
                let headers = match inflate.block(&payload[10..]) {
                    Ok(h) => h,
                    Err(e) => break Err(e),
                };
                if streams.len() >= MAX_OPEN_STREAMS {
                    tracing::debug!(
                        "spdy: refusing stream {id}: {MAX_OPEN_STREAMS} streams already open"
                    );
                    let _ = tx
                        .send(Out::Rst {
                            id,
                            status: RST_REFUSED_STREAM,
                        })
                        .await;
                    continue;
                }
                let (dtx, drx) = mpsc::channel(64);
                if flags & FLAG_FIN == 0 {
                    streams.insert(id, dtx);
                }
                on_stream(Stream {
                    id,
                    headers,
                    data: drx,
                    out: StreamWriter { id, tx: tx.clone() },
                });
            }
            TYPE_SYN_REPLY | TYPE_HEADERS => {
                // Keep the shared decompression context in step.
                if payload.len() >= 4
                    && let Err(e) = inflate.block(&payload[4..])
                {
                    break Err(e);
                }
            }
            TYPE_RST_STREAM => {
                streams.remove(&(word(0) & 0x7fff_ffff));
            }
            TYPE_PING => {
                let id = word(0);
                // Odd ids are the client's: echo them.
                if id % 2 == 1 {
                    let _ = tx.send(Out::Ping(id)).await;
                }
            }
            TYPE_GOAWAY => break Ok(()),
            _ => {} // SETTINGS, WINDOW_UPDATE, CREDENTIAL: nothing to do
        }
    };
    streams.clear();
    let _ = tx.send(Out::GoAway).await;
    drop(tx);
    let _ = writer.await;
    result
}

async fn write_loop<W: AsyncWrite + Unpin>(mut wr: W, mut rx: mpsc::Receiver<Out>) {
    let mut deflate = HeaderDeflater::new();
    while let Some(out) = rx.recv().await {
        let mut buf = BytesMut::new();
        match out {
            Out::Reply { id } => {
                let block = match deflate.block(&[]) {
                    Ok(b) => b,
                    Err(e) => {
                        tracing::debug!("spdy: compressing headers: {e}");
                        return;
                    }
                };
                control(&mut buf, TYPE_SYN_REPLY, 0, 4 + block.len());
                buf.extend_from_slice(&id.to_be_bytes());
                buf.extend_from_slice(&block);
            }
            Out::Data { id, data, fin } => {
                buf.extend_from_slice(&(id & 0x7fff_ffff).to_be_bytes());
                buf.extend_from_slice(&len_field(if fin { FLAG_FIN } else { 0 }, data.len()));
                buf.extend_from_slice(&data);
            }
            Out::Rst { id, status } => {
                control(&mut buf, TYPE_RST_STREAM, 0, 8);
                buf.extend_from_slice(&id.to_be_bytes());
                buf.extend_from_slice(&status.to_be_bytes());
            }
            Out::Ping(id) => {
                control(&mut buf, TYPE_PING, 0, 4);
                buf.extend_from_slice(&id.to_be_bytes());
            }
            Out::GoAway => {
                control(&mut buf, TYPE_GOAWAY, 0, 8);
                buf.extend_from_slice(&0u32.to_be_bytes());
                buf.extend_from_slice(&0u32.to_be_bytes());
            }
        }
        if wr.write_all(&buf).await.is_err() {
            return;
        }
        // Flush only when nothing else is queued: a burst goes out together.
        if rx.is_empty() && wr.flush().await.is_err() {
            return;
        }
    }
    let _ = wr.shutdown().await;
}

pub(crate) fn len_field(flags: u8, len: usize) -> [u8; 4] {
    [flags, (len >> 16) as u8, (len >> 8) as u8, len as u8]
}

pub(crate) fn control(buf: &mut BytesMut, ty: u16, flags: u8, len: usize) {
    buf.extend_from_slice(&[0x80, 0x03]);
    buf.extend_from_slice(&ty.to_be_bytes());
    buf.extend_from_slice(&len_field(flags, len));
}

/// The receive direction's header decompressor.
pub(crate) struct HeaderInflater {
    z: Decompress,
}

impl HeaderInflater {
    pub(crate) fn new() -> Self {
        HeaderInflater {
            z: Decompress::new(true),
        }
    }

    pub(crate) fn block(&mut self, input: &[u8]) -> io::Result<Vec<(String, String)>> {
        let mut out = Vec::with_capacity(input.len() * 4 + 64);
        let mut pos = 0;
        loop {
            let before_in = self.z.total_in();
            out.reserve(4096);
            match self
                .z
                .decompress_vec(&input[pos..], &mut out, FlushDecompress::Sync)
            {
                Ok(Status::Ok | Status::BufError | Status::StreamEnd) => {}
                Err(e) if e.needs_dictionary().is_some() => {
                    self.z
                        .set_dictionary(dictionary())
                        .map_err(io::Error::other)?;
                }
                Err(e) => return Err(io::Error::other(format!("spdy headers: {e}"))),
            }
            let consumed = (self.z.total_in() - before_in) as usize;
            pos += consumed;
            if pos >= input.len() && out.capacity() > out.len() {
                break;
            }
            if consumed == 0 && out.capacity() > out.len() && pos < input.len() {
                return Err(io::Error::other("spdy headers: no progress"));
            }
            if out.len() > 1 << 20 {
                return Err(io::Error::other("spdy header block too large"));
            }
        }
        parse_block(&out)
    }
}

fn parse_block(b: &[u8]) -> io::Result<Vec<(String, String)>> {
    let bad = || io::Error::other("malformed spdy header block");
    let mut pos = 0;
    let word = |pos: &mut usize| -> io::Result<usize> {
        let s = b.get(*pos..*pos + 4).ok_or_else(bad)?;
        *pos += 4;
        Ok(u32::from_be_bytes([s[0], s[1], s[2], s[3]]) as usize)
    };
    let n = word(&mut pos)?;
    let mut out = Vec::with_capacity(n.min(64));
    for _ in 0..n {
        let l = word(&mut pos)?;
        let name = b.get(pos..pos + l).ok_or_else(bad)?;
        pos += l;
        let l = word(&mut pos)?;
        let value = b.get(pos..pos + l).ok_or_else(bad)?;
        pos += l;
        let name = String::from_utf8_lossy(name).to_lowercase();
        for v in value.split(|c| *c == 0) {
            out.push((name.clone(), String::from_utf8_lossy(v).into_owned()));
        }
    }
    Ok(out)
}

/// The send direction's header compressor.
pub(crate) struct HeaderDeflater {
    z: Compress,
    started: bool,
}

impl HeaderDeflater {
    pub(crate) fn new() -> Self {
        HeaderDeflater {
            z: Compress::new(Compression::default(), true),
            started: false,
        }
    }

    pub(crate) fn block(&mut self, headers: &[(&str, &str)]) -> io::Result<Vec<u8>> {
        if !self.started {
            self.z
                .set_dictionary(dictionary())
                .map_err(io::Error::other)?;
            self.started = true;
        }
        let mut raw = Vec::new();
        raw.extend_from_slice(&(headers.len() as u32).to_be_bytes());
        for (k, v) in headers {
            raw.extend_from_slice(&(k.len() as u32).to_be_bytes());
            raw.extend_from_slice(k.to_lowercase().as_bytes());
            raw.extend_from_slice(&(v.len() as u32).to_be_bytes());
            raw.extend_from_slice(v.as_bytes());
        }
        let mut out = Vec::with_capacity(raw.len() + 64);
        let mut pos = 0;
        loop {
            out.reserve(256);
            let before = self.z.total_in();
            self.z
                .compress_vec(&raw[pos..], &mut out, FlushCompress::Sync)
                .map_err(io::Error::other)?;
            pos += (self.z.total_in() - before) as usize;
            if pos >= raw.len() && out.capacity() > out.len() {
                return Ok(out);
            }
        }
    }
}

#[cfg(test)]
mod tests;
