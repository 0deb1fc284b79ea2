//! `pods/exec` and `pods/attach` over WebSocket with the Kubernetes channel
//! protocol (`v5.channel.k8s.io`, `v4.channel.k8s.io`): every binary frame
//! starts with a channel byte: 0 stdin, 1 stdout, 2 stderr, 3 error (a
//! `Status` JSON with the exit code), 4 resize (`{"Width":..,"Height":..}`),
//! and in v5 255 = close the stream named by the next byte. The older
//! versions (`v3.channel.k8s.io`, `v2.`, `channel.k8s.io`) are served too,
//! as the kubelet serves them: there the error channel carries only a
//! failure's message, as text, and nothing on success.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::{IntoResponse, Response};
use futures::{SinkExt, StreamExt};
use nodelet_runtime::{AttachRequest, InteractiveExec, InteractiveExecRequest};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::error::ApiError;
use crate::logs::pick_container;
use crate::query::Query;
use crate::streams::PodStreams;

pub const PROTOCOLS: [&str; 5] = [
    "v5.channel.k8s.io",
    "v4.channel.k8s.io",
    "v3.channel.k8s.io",
    "v2.channel.k8s.io",
    "channel.k8s.io",
];

/// What the negotiated subprotocol changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// v5: v4 plus the close-stream channel.
    V5,
    /// v4: the error channel carries a `Status` JSON, success included.
    V4,
    /// v1–v3: the error channel carries a failure's message only.
    Legacy,
}

impl Version {
    /// The version of a negotiated subprotocol; none negotiated is v4's
    /// behaviour (what every current client asks for).
    pub fn of(protocol: Option<&str>) -> Version {
        match protocol {
            Some("v5.channel.k8s.io") => Version::V5,
            Some("v3.channel.k8s.io" | "v2.channel.k8s.io" | "channel.k8s.io") => Version::Legacy,
            _ => Version::V4,
        }
    }

    /// The error channel's payload for `status`, if any is sent.
    pub fn status_payload(self, status: &Value) -> Option<Vec<u8>> {
        match self {
            Version::V5 | Version::V4 => Some(status.to_string().into_bytes()),
            Version::Legacy if status["status"] == "Success" => None,
            Version::Legacy => Some(
                status["message"]
                    .as_str()
                    .unwrap_or("error executing command")
                    .as_bytes()
                    .to_vec(),
            ),
        }
    }
}

const STDIN: u8 = 0;
const STDOUT: u8 = 1;
const STDERR: u8 = 2;
const ERROR: u8 = 3;
const RESIZE: u8 = 4;
const CLOSE: u8 = 255;

/// How long to wait for the client's close frame after ours.
const CLOSE_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// exec or attach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Exec,
    Attach,
}

/// The error-channel Status for an exit code.
pub fn exit_status(code: i32, command: &[String]) -> Value {
    if code == 0 {
        return json!({"metadata": {}, "status": "Success"});
    }
    json!({
        "metadata": {},
        "status": "Failure",
        "message": format!("command terminated with non-zero exit code: error executing command {command:?}, exit code {code}"),
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]},
    })
}

fn failure(message: &str) -> Value {
    json!({"metadata": {}, "status": "Failure", "message": message, "reason": "InternalError", "code": 500})
}

/// Resize message as kubectl sends it.
#[derive(serde::Deserialize)]
struct Size {
    #[serde(rename = "Width")]
    width: u16,
    #[serde(rename = "Height")]
    height: u16,
}

/// What one client message of the channel protocol asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Input<'a> {
    /// Bytes for the process's stdin.
    Stdin(&'a [u8]),
    /// A terminal size (width, height).
    Resize(u16, u16),
    /// v5: the client closed its stdin.
    CloseStdin,
    /// Empty, malformed, a channel the client may not write, or a close
    /// of another stream: nothing to do (as the kubelet, not an error).
    Ignored,
}

/// Decodes one client message (channel byte, then payload). Untrusted
/// input: any bytes must give one of the [`Input`]s.
pub fn decode_input(data: &[u8], v5: bool) -> Input<'_> {
    let Some((&ch, payload)) = data.split_first() else {
        return Input::Ignored;
    };
    match ch {
        STDIN => Input::Stdin(payload),
        RESIZE => match serde_json::from_slice::<Size>(payload) {
            Ok(s) => Input::Resize(s.width, s.height),
            Err(_) => Input::Ignored,
        },
        CLOSE if v5 && payload.first() == Some(&STDIN) => Input::CloseStdin,
        _ => Input::Ignored,
    }
}

pub async fn handle(
    backend: Arc<dyn PodStreams>,
    mode: Mode,
    ns: String,
    pod_name: String,
    q: Query,
    ws: Option<WebSocketUpgrade>,
    slot: Option<crate::limits::SessionSlot>,
) -> Result<Response, ApiError> {
    let Some(ws) = ws else {
        return Err(ApiError::bad_request(
            "Upgrade request required: use a WebSocket client (subprotocol v5.channel.k8s.io)",
        ));
    };
    let pod = backend.pod(&ns, &pod_name).await?;
    let container = pick_container(&pod, q.get("container").filter(|c| !c.is_empty()))?;
    let command = q.all("command");
    if mode == Mode::Exec && command.is_empty() {
        return Err(ApiError::bad_request("you must specify at least 1 command"));
    }
    let req = InteractiveExecRequest {
        command: command.clone(),
        tty: q.flag("tty"),
        stdin: q.flag("stdin"),
        initial_size: None,
    };
    let attach_req = AttachRequest {
        stdin: q.flag("stdin"),
        stdout: q.flag("stdout"),
        stderr: q.flag("stderr"),
    };
    let ws = ws.protocols(PROTOCOLS);
    Ok(ws
        .on_upgrade(move |socket| async move {
            // The session counts against --max-sessions while it lasts.
            let _slot = slot;
            let version = Version::of(socket.protocol().and_then(|p| p.to_str().ok()));
            let started = match mode {
                Mode::Exec => backend.exec(&ns, &pod_name, &container, req).await,
                Mode::Attach => backend.attach(&ns, &pod_name, &container, attach_req).await,
            };
            bridge(socket, started, command, version, mode).await;
        })
        .into_response())
}

fn normal_close() -> Message {
    Message::Close(Some(axum::extract::ws::CloseFrame {
        code: axum::extract::ws::close_code::NORMAL,
        reason: "".into(),
    }))
}

fn frame(channel: u8, data: &[u8]) -> Message {
    let mut v = Vec::with_capacity(data.len() + 1);
    v.push(channel);
    v.extend_from_slice(data);
    Message::Binary(Bytes::from(v))
}

async fn bridge(
    socket: WebSocket,
    started: Result<InteractiveExec, ApiError>,
    command: Vec<String>,
    version: Version,
    mode: Mode,
) {
    let v5 = version == Version::V5;
    let (mut sink, mut source) = socket.split();
    let proc_ = match started {
        Ok(p) => p,
        Err(e) => {
            if let Some(p) = version.status_payload(&failure(&e.message)) {
                let _ = sink.send(frame(ERROR, &p)).await;
            }
            let _ = sink.send(normal_close()).await;
            // Read until the client's close: dropping the connection with
            // its stdin still unread makes the kernel send a reset, and
            // kubectl reports that instead of the status.
            let _ = tokio::time::timeout(CLOSE_WAIT, async {
                while let Some(Ok(m)) = source.next().await {
                    if matches!(m, Message::Close(_)) {
                        break;
                    }
                }
            })
            .await;
            return;
        }
    };
    let InteractiveExec {
        stdin,
        stdout,
        stderr,
        resize,
        exit,
    } = proc_;
    let (out_tx, mut out_rx) = tokio::sync::mpsc::channel::<Message>(32);

    // Output pumps: one per stream, each ends at EOF.
    let mut pumps = Vec::new();
    for (ch, reader) in [(STDOUT, stdout), (STDERR, stderr)] {
        let Some(mut r) = reader else { continue };
        let tx = out_tx.clone();
        pumps.push(tokio::spawn(async move {
            let mut buf = vec![0u8; 32 * 1024];
            loop {
                match r.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if tx.send(frame(ch, &buf[..n])).await.is_err() {
                            break;
                        }
                    }
                }
            }
        }));
    }
    // The writer owns the sink so frames from all pumps go out in order.
    let writer = tokio::spawn(async move {
        while let Some(m) = out_rx.recv().await {
            if sink.send(m).await.is_err() {
                break;
            }
        }
        // kubectl treats a close without a status code as a failed stream.
        let _ = sink.send(normal_close()).await;
    });

    // Input: stdin, resize, close signals.
    let mut reader = tokio::spawn(async move {
        let mut stdin = stdin;
        while let Some(Ok(msg)) = source.next().await {
            let data = match msg {
                Message::Binary(b) => b.to_vec(),
                Message::Text(t) => t.as_bytes().to_vec(),
                Message::Close(_) => break,
                _ => continue,
            };
            match decode_input(&data, v5) {
                Input::Stdin(payload) => {
                    if let Some(w) = stdin.as_mut()
                        && (w.write_all(payload).await.is_err() || w.flush().await.is_err())
                    {
                        stdin = None;
                    }
                }
                Input::Resize(width, height) => {
                    if let Some(r) = &resize {
                        let _ = r.send((width, height)).await;
                    }
                }
                Input::CloseStdin => {
                    if let Some(mut w) = stdin.take() {
                        // Dropping the writer closes the process's stdin.
                        let _ = w.shutdown().await;
                    }
                }
                Input::Ignored => {}
            }
        }
    });

    let code = tokio::select! {
        code = exit => code.unwrap_or(-1),
        // The client went away: an attach detaches (dropping the streams
        // is how the runtime learns it); an exec'd process runs on.
        _ = &mut reader, if mode == Mode::Attach => {
            for p in pumps {
                p.abort();
            }
            writer.abort();
            return;
        }
    };
    for p in pumps {
        let _ = p.await;
    }
    let status = match mode {
        _ if code < 0 => failure(match mode {
            Mode::Exec => "the process ended without an exit code",
            Mode::Attach => "the attach connection to the container ended unexpectedly",
        }),
        Mode::Exec => exit_status(code, &command),
        // As kubelet: attach reports how the stream ended, not the exit code.
        Mode::Attach => json!({"metadata": {}, "status": "Success"}),
    };
    if let Some(p) = version.status_payload(&status) {
        let _ = out_tx.send(frame(ERROR, &p)).await;
    }
    drop(out_tx);
    let _ = writer.await;
    // As above: let the client's close arrive before dropping the socket.
    let _ = tokio::time::timeout(CLOSE_WAIT, &mut reader).await;
    reader.abort();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_messages_decode_by_channel() {
        assert_eq!(decode_input(b"\0ls\n", true), Input::Stdin(b"ls\n"));
        assert_eq!(
            decode_input(b"\x04{\"Width\":80,\"Height\":24}", false),
            Input::Resize(80, 24)
        );
        assert_eq!(decode_input(b"\x04{\"Width\":-1}", true), Input::Ignored);
        assert_eq!(decode_input(&[CLOSE, STDIN], true), Input::CloseStdin);
        assert_eq!(decode_input(&[CLOSE, STDIN], false), Input::Ignored);
        assert_eq!(decode_input(&[CLOSE], true), Input::Ignored);
        assert_eq!(decode_input(&[], true), Input::Ignored);
        assert_eq!(decode_input(&[STDOUT, b'x'], true), Input::Ignored);
    }

    #[test]
    fn older_protocols_send_only_a_failures_message() {
        let ok = exit_status(0, &[]);
        let bad = exit_status(3, &["false".into()]);
        assert_eq!(Version::of(Some("channel.k8s.io")), Version::Legacy);
        assert_eq!(Version::of(Some("v3.channel.k8s.io")), Version::Legacy);
        assert_eq!(Version::of(Some("v5.channel.k8s.io")), Version::V5);
        assert_eq!(Version::of(None), Version::V4);
        assert_eq!(Version::Legacy.status_payload(&ok), None);
        assert_eq!(
            Version::Legacy.status_payload(&bad).unwrap(),
            b"command terminated with non-zero exit code: error executing command [\"false\"], exit code 3"
        );
        let v4 = Version::V4.status_payload(&ok).unwrap();
        assert_eq!(
            serde_json::from_slice::<Value>(&v4).unwrap()["status"],
            "Success"
        );
    }

    #[test]
    fn nonzero_exit_status_is_what_kubectl_parses() {
        let s = exit_status(3, &["sh".into(), "-c".into(), "exit 3".into()]);
        assert_eq!(s["reason"], "NonZeroExitCode");
        assert_eq!(s["details"]["causes"][0]["reason"], "ExitCode");
        assert_eq!(s["details"]["causes"][0]["message"], "3");
        assert_eq!(exit_status(0, &[])["status"], "Success");
    }
}
