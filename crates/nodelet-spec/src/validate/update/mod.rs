//! What an update of an existing pod may change, as the API server decides
//! it (`ValidatePodUpdate`, `ValidatePodResize` and the pod strategies'
//! `PrepareForUpdate` in pkg/registry/core/pod/strategy.go). Pure: the API
//! layer (standalone) calls it before handing the new pod to the engine;
//! in node mode the real API server has already done it.
//!
//! - [`prepare_update`] / [`prepare_resize`]: the server-side fields an
//!   update cannot change (status, uid, timestamps, generation bump), and
//!   for `pods/resize` everything but container resources dropped;
//!   [`prepare_ephemeral`] / [`validate_pod_ephemeral_update`] for
//!   `pods/ephemeralcontainers` (debug containers added, never changed).
//! - [`validate_pod_update`] / [`validate_pod_resize`]: every error, in the
//!   API server's order and words, including the `cmp.Diff` of a forbidden
//!   spec change ([`godiff`]).

mod ephemeral;
mod godiff;
mod meta;
mod prepare;
mod resize;
mod spec;

pub use ephemeral::{prepare_ephemeral, validate_pod_ephemeral_update};
pub use godiff::pod_spec_diff;
pub use prepare::{prepare_resize, prepare_update};
pub use resize::validate_pod_resize;
pub use spec::{UPDATABLE_POD_SPEC_FIELDS, validate_pod_update};
