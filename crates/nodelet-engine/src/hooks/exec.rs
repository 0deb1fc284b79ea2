//! The `exec` handler: runs the hook command inside the container through
//! the runtime, with no timeout (kubelet passes 0), success being exit 0.

use nodelet_runtime::{ExecRequest, Runtime};
use tokio_util::sync::CancellationToken;

use super::message::{CONTEXT_CANCELED, exec_exit_error};

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
) -> Result<(), ExecFailure> {
    let req = ExecRequest {
        command: command.to_vec(),
        env: Vec::new(),
        timeout: None,
    };
    let result = tokio::select! {
        biased;
        () = cancel.cancelled() => {
            // Dropping the exec future stops waiting; the process itself dies
            // with the container (or the runtime's exec cleanup).
            return Err(ExecFailure { error: CONTEXT_CANCELED.to_string(), output: Vec::new() });
        }
        r = runtime.exec(container_id, &req) => r,
    };
    match result {
        Ok(out) => {
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
        Err(e) => Err(ExecFailure {
            error: e.to_string(),
            output: Vec::new(),
        }),
    }
}
