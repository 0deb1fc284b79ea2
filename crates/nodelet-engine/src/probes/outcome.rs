//! What one probe run says, and the Unhealthy / ProbeWarning events the
//! kubelet records for it (`prober.probe`), byte for byte.

/// kubelet's `probe.Result` plus its error: `Error` results are thrown away
/// by the worker (they neither count towards a threshold nor change state).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeOutcome {
    Success,
    /// Success with something worth saying (an HTTP redirect not followed).
    Warning(String),
    /// Failure with the handler's output (exec output, HTTP status...).
    Failure(String),
    /// The probe could not run (bad port, runtime error...).
    Error(String),
}

impl ProbeOutcome {
    /// The success/failure the threshold counter sees; `None` for errors.
    pub fn verdict(&self) -> Option<bool> {
        match self {
            ProbeOutcome::Success | ProbeOutcome::Warning(_) => Some(true),
            ProbeOutcome::Failure(_) => Some(false),
            ProbeOutcome::Error(_) => None,
        }
    }

    /// The Warning event the kubelet records for this outcome, as
    /// (reason, message); none for a plain success.
    pub fn event(&self, title: &str) -> Option<(&'static str, String)> {
        match self {
            ProbeOutcome::Success => None,
            ProbeOutcome::Warning(out) => {
                Some(("ProbeWarning", format!("{title} probe warning: {out}")))
            }
            ProbeOutcome::Failure(out) => {
                Some(("Unhealthy", format!("{title} probe failed: {out}")))
            }
            ProbeOutcome::Error(err) => Some((
                "Unhealthy",
                format!("{title} probe errored and resulted in unknown state: {err}"),
            )),
        }
    }
}

/// Exec and HTTP probes keep at most this much output (`maxReadLength`).
pub const MAX_OUTPUT: usize = 10 * 1024;

/// Output as the kubelet's Go string conversion shows it, capped.
pub fn output_text(bytes: &[u8]) -> String {
    let cut = &bytes[..bytes.len().min(MAX_OUTPUT)];
    String::from_utf8_lossy(cut).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_read_like_the_kubelets() {
        let f = ProbeOutcome::Failure("HTTP probe failed with statuscode: 500".into());
        assert_eq!(
            f.event("Liveness"),
            Some((
                "Unhealthy",
                "Liveness probe failed: HTTP probe failed with statuscode: 500".to_owned()
            ))
        );
        let e = ProbeOutcome::Error("invalid port number: 0".into());
        assert_eq!(
            e.event("Readiness").map(|(_, m)| m),
            Some(
                "Readiness probe errored and resulted in unknown state: invalid port number: 0"
                    .into()
            )
        );
        assert_eq!(e.verdict(), None);
        assert_eq!(ProbeOutcome::Warning("x".into()).verdict(), Some(true));
        assert_eq!(ProbeOutcome::Success.event("Startup"), None);
        assert_eq!(output_text(&vec![b'a'; 20_000]).len(), MAX_OUTPUT);
    }
}
