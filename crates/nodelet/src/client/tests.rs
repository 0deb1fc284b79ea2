//! The client against a tiny HTTP server on a unix socket in the test.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixListener;

use super::*;

/// Serves one connection with a canned answer; returns the request text.
async fn serve_once(listener: UnixListener, status: &'static str, body: &'static str) -> String {
    let (mut s, _) = listener.accept().await.unwrap();
    let mut buf = vec![0u8; 8192];
    let mut req = Vec::new();
    loop {
        let n = s.read(&mut buf).await.unwrap();
        req.extend_from_slice(&buf[..n]);
        if n == 0 || req.windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
    }
    let resp = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(resp.as_bytes()).await.unwrap();
    String::from_utf8_lossy(&req).to_string()
}

#[tokio::test]
async fn not_found_is_printed_like_kubectl() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("nodelet.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let server = tokio::spawn(serve_once(
        listener,
        "404 Not Found",
        r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"pods \"x\" not found","reason":"NotFound","details":{"name":"x","kind":"pods"},"code":404}"#,
    ));
    let client = Client::new(&sock);
    let err = client
        .get("/api/v1/namespaces/default/pods/x")
        .await
        .unwrap_err();
    assert!(err.is_not_found());
    assert_eq!(
        err.to_string(),
        "Error from server (NotFound): pods \"x\" not found"
    );
    let req = server.await.unwrap();
    assert!(
        req.starts_with("GET /api/v1/namespaces/default/pods/x HTTP/1.1\r\n"),
        "{req}"
    );
}

#[tokio::test]
async fn json_answer_is_decoded() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("nodelet.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let server = tokio::spawn(serve_once(
        listener,
        "200 OK",
        r#"{"kind":"Pod","metadata":{"name":"x"}}"#,
    ));
    let v = Client::new(&sock)
        .get("/api/v1/namespaces/default/pods/x")
        .await
        .unwrap();
    assert_eq!(v["metadata"]["name"], "x");
    server.await.unwrap();
}

#[tokio::test]
async fn absent_socket_says_to_start_the_agent() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("nodelet.sock");
    let err = Client::new(&sock).get("/version").await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "cannot reach the nodelet agent at {}: is \"nodelet serve\" or \"nodelet run\" running?",
            sock.display()
        )
    );
    // A stale socket file with nobody listening reads the same.
    drop(std::os::unix::net::UnixListener::bind(&sock).unwrap());
    let err = Client::new(&sock).get("/version").await.unwrap_err();
    assert!(matches!(err, ClientError::Unreachable(_)), "{err:?}");
}

#[test]
fn query_values_are_encoded() {
    assert_eq!(
        with_query(
            "/p",
            &[
                ("command", "sh -c".into()),
                ("fieldSelector", "a=b,c".into())
            ]
        ),
        "/p?command=sh%20-c&fieldSelector=a%3Db%2Cc"
    );
}

/// A one-shot exec server: checks the subprotocol offer, echoes stdin back
/// on stdout until stdin is closed (v5), then reports exit code 3.
// The callback signature (and its large error type) is tungstenite's.
#[allow(clippy::result_large_err)]
async fn exec_server(listener: UnixListener) -> (String, Vec<u8>) {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};

    let (s, _) = listener.accept().await.unwrap();
    let mut offered = String::new();
    let ws = tokio_tungstenite::accept_hdr_async(s, |req: &Request, mut resp: Response| {
        offered = req.headers()["sec-websocket-protocol"]
            .to_str()
            .unwrap()
            .to_string();
        offered.push(' ');
        offered.push_str(&req.uri().to_string());
        resp.headers_mut().insert(
            "sec-websocket-protocol",
            "v5.channel.k8s.io".parse().unwrap(),
        );
        Ok(resp)
    })
    .await
    .unwrap();
    let (mut sink, mut source) = ws.split();
    let mut stdin = Vec::new();
    let mut resize = Vec::new();
    while let Some(Ok(Message::Binary(b))) = source.next().await {
        match b[0] {
            0 => {
                stdin.extend_from_slice(&b[1..]);
                let mut echo = vec![1u8];
                echo.extend_from_slice(&b[1..]);
                sink.send(Message::Binary(echo.into())).await.unwrap();
            }
            4 => resize.extend_from_slice(&b[1..]),
            255 if b[1] == 0 => break,
            _ => {}
        }
    }
    sink.send(Message::Binary(b"\x02oops".to_vec().into()))
        .await
        .unwrap();
    let status = br#"{"metadata":{},"status":"Failure","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"3"}]}}"#;
    let mut frame = vec![3u8];
    frame.extend_from_slice(status);
    sink.send(Message::Binary(frame.into())).await.unwrap();
    sink.send(Message::Close(None)).await.unwrap();
    (offered, resize)
}

#[tokio::test]
async fn exec_pumps_streams_and_returns_the_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("nodelet.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let server = tokio::spawn(exec_server(listener));
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    tx.send((80, 24)).await.unwrap();
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    let io = exec::ExecIo {
        stdin: Some(&b"hello\n"[..]),
        stdout: &mut stdout,
        stderr: &mut stderr,
        resize: Some(rx),
    };
    let path = with_query(
        "/api/v1/namespaces/default/pods/p/exec",
        &[("command", "cat".into()), ("stdin", "true".into())],
    );
    let status = exec::exec(&Client::new(&sock), &path, io).await.unwrap();
    assert_eq!(status, exec::ExecStatus::ExitCode(3));
    assert_eq!(stdout, b"hello\n");
    assert_eq!(stderr, b"oops");
    let (offered, resize) = server.await.unwrap();
    assert_eq!(
        offered,
        "v5.channel.k8s.io, v4.channel.k8s.io /api/v1/namespaces/default/pods/p/exec?command=cat&stdin=true"
    );
    assert_eq!(resize, br#"{"Width":80,"Height":24}"#);
}
