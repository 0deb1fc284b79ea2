//! The `exec` handler: runs the hook command inside the container through
//! the runtime, with no timeout (kubelet passes 0), success being exit 0.
//! With a nodelet timeout (opt-in) the runtime kills the command and what it
//! started when the limit passes.

use std::sync::{Arc, Mutex};

use nodelet_runtime::{ExecRequest, LogStream, OutputSink, Runtime, RuntimeError};
use tokio_util::sync::CancellationToken;

use super::capture::Capture;
use super::message::{CONTEXT_CANCELED, exec_exit_error, timed_out};
use super::{HookDetail, RunOptions};

/// How an exec hook failed: the error (`%v` part) and the combined output
/// (`message: %q` part).
pub(super) struct ExecFailure {
    pub error: String,
    pub output: Vec<u8>,
}

pub(super) async fn run(
    runtime: &dyn Runtime,
    container_id: &str,
    command: &[String],
    cancel: &CancellationToken,
    opts: &RunOptions,
    detail: &mut HookDetail,
) -> Result<(), ExecFailure> {
    let mut env = Vec::new();
    if let Some(tag) = &opts.tag {
        env.push((
            nodelet_spec::annotations::DELIVERY_ID_ENV.to_owned(),
            tag.id.clone(),
        ));
        env.push((
            nodelet_spec::annotations::ATTEMPT_ENV.to_owned(),
            tag.attempt.to_string(),
        ));
    }
    let req = ExecRequest {
        command: command.to_vec(),
        env,
        timeout: opts.timeout,
    };
    // Output is captured as it streams, so a timed-out or cancelled hook
    // still shows what it printed.
    let seen = Arc::new(Mutex::new((Capture::default(), Capture::default())));
    let tee = seen.clone();
    let forward = opts.sink.clone();
    let sink: OutputSink = Arc::new(move |stream, bytes: &[u8]| {
        {
            let mut s = tee.lock().unwrap_or_else(|e| e.into_inner());
            match stream {
                LogStream::Stdout => s.0.push(bytes),
                LogStream::Stderr => s.1.push(bytes),
            }
        }
        if let Some(f) = &forward {
            f(stream, bytes);
        }
    });
    let result = tokio::select! {
        biased;
        () = cancel.cancelled() => {
            // Dropping the exec future stops waiting; the process itself dies
            // with the container (or the runtime's exec cleanup).
            Err(RuntimeError::Other(CONTEXT_CANCELED.to_string()))
        }
        r = runtime.exec_streaming(container_id, &req, sink) => r,
    };
    {
        let s = seen.lock().unwrap_or_else(|e| e.into_inner());
        detail.stdout = s.0.clone();
        detail.stderr = s.1.clone();
    }
    match result {
        Ok(out) => {
            detail.exit_code = Some(out.exit_code);
            // kubelet's RunInContainer: stdout then stderr, not interleaved.
            let mut output = out.stdout;
            output.extend_from_slice(&out.stderr);
            if out.exit_code == 0 {
                Ok(())
            } else {
                Err(ExecFailure {
                    error: exec_exit_error(command, out.exit_code, &out.stderr),
                    output,
                })
            }
        }
        Err(RuntimeError::ExecTimeout(limit)) => {
            detail.timed_out = true;
            let mut output = detail.stdout.short(usize::MAX);
            output.extend_from_slice(&detail.stderr.short(usize::MAX));
            Err(ExecFailure {
                error: timed_out(limit),
                output,
            })
        }
        Err(RuntimeError::Other(e)) if e == CONTEXT_CANCELED => Err(ExecFailure {
            error: e,
            output: Vec::new(),
        }),
        Err(e) => Err(ExecFailure {
            error: e.to_string(),
            output: Vec::new(),
        }),
    }
}
