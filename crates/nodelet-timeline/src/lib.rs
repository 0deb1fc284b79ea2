//! nodelet-timeline: what happened to a pod's containers, when, and a
//! picture of it.
//!
//! The engine records *marks* (container created, started, postStart begun
//! and ended, Running, killed, stop signal sent, SIGKILL at grace expiry,
//! exited with a code, back-off, probe failures, the pod's deletion) into a
//! [`PodTimeline`] object per pod (`nodelet.dev/v1`, served by the API like
//! events). This crate is pure: the model, a [`layout`] that turns marks
//! into per-container lanes of states, hook bars and point marks, and
//! renderers to SVG and a self-contained HTML page. `nodelet timeline` and
//! the `/ui/` page of `nodelet serve` draw with the same code.
//!
//! The SVG is written by hand (a few element kinds, escaped text): a
//! drawing crate would add a dependency for no fewer lines, and the output
//! carries `data-*` attributes (container, state, times) that tests and the
//! web page rely on.

pub mod layout;
pub mod model;
pub mod render;

pub use layout::{Layout, layout};
pub use model::{ContainerRef, Mark, MarkKind, PodTimeline, TimelineSpec};
pub use render::{html, svg};
