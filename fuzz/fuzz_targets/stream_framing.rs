//! Fuzz target: the byte streams of exec/attach/port-forward. The first
//! byte picks the protocol: a SPDY/3.1 session as `kubectl port-forward`
//! (and client-go's WebSocket tunnel, which carries the same bytes)
//! speaks it, served until the bytes run out; or a sequence of
//! WebSocket messages of exec/attach's channel protocol (each a 2-byte
//! length then the message). Any bytes must end the session cleanly or
//! with an error, never panic or hang.

#![no_main]

use libfuzzer_sys::fuzz_target;
use nodelet_api::fuzzing::{Input, exec_input};
use nodelet_api::portforward::spdy;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn spdy_session(bytes: &[u8]) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let (client, server) = tokio::io::duplex(64 * 1024);
        let (mut crd, mut cwr) = tokio::io::split(client);
        let input = bytes.to_vec();
        tokio::spawn(async move {
            let _ = cwr.write_all(&input).await;
            let _ = cwr.shutdown().await;
        });
        // The client reads whatever the server answers (replies, pings).
        tokio::spawn(async move {
            let mut buf = vec![0u8; 16 * 1024];
            while let Ok(n) = crd.read(&mut buf).await {
                if n == 0 {
                    break;
                }
            }
        });
        let _ = spdy::serve(server, |mut s| {
            // As the port-forward handler: look at the headers, answer,
            // and consume the stream's data.
            let _ = (
                s.header("streamtype"),
                s.header("port"),
                s.header("requestid"),
            );
            s.out.reply_now();
            tokio::spawn(async move {
                while let Some(d) = s.data.recv().await {
                    if s.out.write(&d).await.is_err() {
                        break;
                    }
                }
                let _ = s.out.close().await;
            });
        })
        .await;
    });
}

fn exec_messages(mut bytes: &[u8], v5: bool) {
    while let [a, b, rest @ ..] = bytes {
        let n = usize::from(u16::from_be_bytes([*a, *b])).min(rest.len());
        let (msg, more) = rest.split_at(n);
        match exec_input(msg, v5) {
            Input::Stdin(p) => assert!(p.len() < msg.len()),
            Input::Resize(..) | Input::CloseStdin | Input::Ignored => {}
        }
        bytes = more;
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    match sel % 3 {
        0 => spdy_session(rest),
        1 => exec_messages(rest, true),
        _ => exec_messages(rest, false),
    }
});
