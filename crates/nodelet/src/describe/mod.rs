//! kubectl's human-readable renderings, as pure functions of objects and
//! an instant: `describe pod`, event tables, pod rows, ages and dates, and
//! the Go tabwriter that aligns them.

pub mod duration;
pub mod events;
pub mod hooks;
pub mod pod;
pub mod podrow;
pub mod service;
pub mod tabwriter;

pub use pod::{Ctx, describe_pod};

#[cfg(test)]
mod tests;
