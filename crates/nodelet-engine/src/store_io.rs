//! Store writes from async code without stalling the runtime.
//!
//! Store calls block until their write is durable (an fsync, shared with
//! other writes by the store's group commit). Called straight from a task,
//! that blocks one of the runtime's few worker threads: on a 2-core host,
//! two pods writing at once stalled every other pod, and the group commit
//! never saw more than two writes to fold together. [`durable`] moves the
//! waiting thread out of the worker pool (`block_in_place`), so hundreds of
//! pods can wait for the same commit while the others keep running. Same
//! durability as a direct call: it still returns after the write committed.

use tokio::runtime::{Handle, RuntimeFlavor};

/// Runs the blocking store call `f`, letting the runtime hand this worker's
/// other tasks to another thread meanwhile. On a current-thread runtime
/// (the paused-clock tests) there is no other worker: `f` just runs.
pub(crate) fn durable<T>(f: impl FnOnce() -> T) -> T {
    match Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}
