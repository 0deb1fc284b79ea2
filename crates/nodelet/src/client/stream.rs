//! A response body read incrementally: raw chunks for logs, lines for
//! watches (one JSON event per line).

use http_body_util::BodyExt;
use hyper::body::{Bytes, Incoming};

use super::ClientError;

pub struct BodyStream {
    body: Incoming,
    buf: Vec<u8>,
}

impl BodyStream {
    pub(crate) fn new(body: Incoming) -> Self {
        BodyStream {
            body,
            buf: Vec::new(),
        }
    }

    /// The next data chunk; `None` at the end of the body.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, ClientError> {
        if !self.buf.is_empty() {
            return Ok(Some(Bytes::from(std::mem::take(&mut self.buf))));
        }
        loop {
            match self.body.frame().await {
                None => return Ok(None),
                Some(Err(e)) => return Err(ClientError::Transport(e.to_string())),
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        return Ok(Some(data));
                    }
                }
            }
        }
    }

    /// The next line without its newline; a last unterminated line counts.
    pub async fn line(&mut self) -> Result<Option<Vec<u8>>, ClientError> {
        loop {
            if let Some(pos) = self.buf.iter().position(|&b| b == b'\n') {
                let mut line: Vec<u8> = self.buf.drain(..=pos).collect();
                line.pop();
                return Ok(Some(line));
            }
            let more = loop {
                match self.body.frame().await {
                    None => break None,
                    Some(Err(e)) => return Err(ClientError::Transport(e.to_string())),
                    Some(Ok(frame)) => {
                        if let Ok(data) = frame.into_data() {
                            break Some(data);
                        }
                    }
                }
            };
            match more {
                Some(data) => self.buf.extend_from_slice(&data),
                None if self.buf.is_empty() => return Ok(None),
                None => return Ok(Some(std::mem::take(&mut self.buf))),
            }
        }
    }

    /// The next watch event as JSON, skipping blank lines.
    pub async fn event(&mut self) -> Result<Option<serde_json::Value>, ClientError> {
        while let Some(line) = self.line().await? {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            return serde_json::from_slice(&line)
                .map(Some)
                .map_err(|e| ClientError::Decode(format!("watch event: {e}")));
        }
        Ok(None)
    }
}
