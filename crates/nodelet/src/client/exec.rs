//! `pods/exec` over WebSocket with the Kubernetes channel protocol: every
//! binary frame starts with a channel byte (0 stdin, 1 stdout, 2 stderr,
//! 3 the final `Status`, 4 terminal size); in v5, `[255, 0]` closes stdin.

use futures::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{self, Message};

use super::{ApiStatus, Client, ClientError};

const STDIN: u8 = 0;
const STDOUT: u8 = 1;
const STDERR: u8 = 2;
const ERROR: u8 = 3;
const RESIZE: u8 = 4;
const CLOSE: u8 = 255;

pub const PROTOCOLS: &str = "v5.channel.k8s.io, v4.channel.k8s.io";

/// How the remote command ended, from the error channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecStatus {
    Success,
    /// The command ran and exited non-zero.
    ExitCode(i32),
    /// The command could not run (message from the server).
    Failure(String),
}

impl ExecStatus {
    /// Reads the error-channel `Status` as kubectl does: `NonZeroExitCode`
    /// carries the code in the `ExitCode` cause.
    pub fn from_status(v: &Value) -> Self {
        if v["status"].as_str() == Some("Success") {
            return ExecStatus::Success;
        }
        if v["reason"].as_str() == Some("NonZeroExitCode") {
            let code = v
                .pointer("/details/causes")
                .and_then(Value::as_array)
                .and_then(|cs| {
                    cs.iter()
                        .find(|c| c["reason"].as_str() == Some("ExitCode"))
                        .and_then(|c| c["message"].as_str())
                        .and_then(|m| m.parse().ok())
                });
            if let Some(code) = code {
                return ExecStatus::ExitCode(code);
            }
        }
        ExecStatus::Failure(v["message"].as_str().unwrap_or("exec failed").to_string())
    }
}

/// The local ends of an exec session.
pub struct ExecIo<I, O, E> {
    pub stdin: Option<I>,
    pub stdout: O,
    pub stderr: E,
    /// Terminal sizes (width, height) to forward; the first one is sent at once.
    pub resize: Option<mpsc::Receiver<(u16, u16)>>,
}

/// Runs the exec at `path` (with its query) and pumps the streams until
/// the server closes; returns the command's outcome.
pub async fn exec<I, O, E>(
    client: &Client,
    path: &str,
    io: ExecIo<I, O, E>,
) -> Result<ExecStatus, ClientError>
where
    I: AsyncRead + Unpin + Send + 'static,
    O: AsyncWrite + Unpin,
    E: AsyncWrite + Unpin,
{
    let stream = client.dial().await?;
    let mut req = format!("ws://localhost{path}")
        .into_client_request()
        .map_err(|e| ClientError::Transport(e.to_string()))?;
    req.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static(PROTOCOLS),
    );
    let (ws, resp) = match tokio_tungstenite::client_async(req, stream).await {
        Ok(x) => x,
        Err(tungstenite::Error::Http(resp)) => {
            let code = resp.status().as_u16();
            let body = resp.body().clone().unwrap_or_default();
            return Err(ClientError::Api(ApiStatus::from_body(code, &body)));
        }
        Err(e) => return Err(ClientError::Transport(e.to_string())),
    };
    let v5 = resp
        .headers()
        .get("sec-websocket-protocol")
        .and_then(|v| v.to_str().ok())
        == Some("v5.channel.k8s.io");
    let (mut sink, mut source) = ws.split();

    let ExecIo {
        stdin,
        mut stdout,
        mut stderr,
        resize,
    } = io;
    // One task owns the sink: stdin data, resizes and the stdin close go out in order.
    let input = tokio::spawn(async move {
        let mut stdin = stdin;
        let mut resize = resize;
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            tokio::select! {
                // A new size goes out before more input, so output is drawn for it.
                biased;
                size = async { match resize.as_mut() { Some(r) => r.recv().await, None => std::future::pending().await } } => {
                    match size {
                        Some((w, h)) => {
                            let mut f = vec![RESIZE];
                            f.extend_from_slice(format!("{{\"Width\":{w},\"Height\":{h}}}").as_bytes());
                            if sink.send(Message::Binary(f.into())).await.is_err() { return; }
                        }
                        None => resize = None,
                    }
                }
                n = async { match stdin.as_mut() { Some(s) => s.read(&mut buf).await, None => std::future::pending().await } } => {
                    match n {
                        Ok(0) | Err(_) => {
                            stdin = None;
                            // Only v5 can say "stdin ended"; v4 leaves it open.
                            if v5 && sink.send(Message::Binary(vec![CLOSE, STDIN].into())).await.is_err() {
                                return;
                            }
                        }
                        Ok(n) => {
                            let mut f = Vec::with_capacity(n + 1);
                            f.push(STDIN);
                            f.extend_from_slice(&buf[..n]);
                            if sink.send(Message::Binary(f.into())).await.is_err() { return; }
                        }
                    }
                }
            }
        }
    });

    let mut status = None;
    let result = async {
        while let Some(msg) = source.next().await {
            let msg = match msg {
                Ok(m) => m,
                Err(tungstenite::Error::ConnectionClosed) => break,
                Err(e) => return Err(ClientError::Transport(e.to_string())),
            };
            let data = match msg {
                Message::Binary(b) => b.to_vec(),
                Message::Text(t) => t.as_bytes().to_vec(),
                Message::Close(_) => break,
                _ => continue,
            };
            let Some((&ch, payload)) = data.split_first() else {
                continue;
            };
            let w = match ch {
                STDOUT => stdout.write_all(payload).await.and(stdout.flush().await),
                STDERR => stderr.write_all(payload).await.and(stderr.flush().await),
                ERROR => {
                    let v: Value = serde_json::from_slice(payload)
                        .map_err(|e| ClientError::Decode(format!("exec status: {e}")))?;
                    status = Some(ExecStatus::from_status(&v));
                    Ok(())
                }
                _ => Ok(()),
            };
            w.map_err(|e| ClientError::Transport(format!("writing output: {e}")))?;
        }
        Ok(())
    }
    .await;
    input.abort();
    result?;
    // A stream that ends without a status is what kubectl reports as success
    // for v4 servers that close cleanly after a zero exit.
    Ok(status.unwrap_or(ExecStatus::Success))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn status_channel_codes() {
        assert_eq!(
            ExecStatus::from_status(&json!({"status": "Success"})),
            ExecStatus::Success
        );
        let nz = json!({"status": "Failure", "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": "3"}]}});
        assert_eq!(ExecStatus::from_status(&nz), ExecStatus::ExitCode(3));
        let f =
            json!({"status": "Failure", "reason": "InternalError", "message": "no such container"});
        assert_eq!(
            ExecStatus::from_status(&f),
            ExecStatus::Failure("no such container".into())
        );
    }
}
