//! The grpc probe. nodelet has no gRPC client (the `grpc.health.v1`
//! Health/Check call would need an HTTP/2 + protobuf stack the agent does
//! not otherwise carry), so a grpc probe never runs: every period it
//! reports an error, which the kubelet's rules turn into an `Unhealthy`
//! event (`... probe errored and resulted in unknown state: ...`) and no
//! state change — a liveness grpc probe never kills, a readiness grpc probe
//! keeps the container unready. Validation accepts grpc probes (the API
//! does), so this is where the gap shows, loudly.

use super::outcome::ProbeOutcome;

pub const UNSUPPORTED: &str = "grpc probes are not supported by nodelet (no grpc.health.v1 client)";

pub fn probe() -> ProbeOutcome {
    ProbeOutcome::Error(UNSUPPORTED.to_owned())
}
