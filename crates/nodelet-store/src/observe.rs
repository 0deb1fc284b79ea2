//! Change observers: code above the store (the engine's lookup seam) is
//! told, right after an object write committed, which object changed, so
//! it can react to changes instead of polling the change log; and code
//! that only needs to know *that* something was written (API watches, the
//! retention sweep) is told after every committed write of any kind.

use std::sync::{Arc, Mutex};

/// Which object a committed write touched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRef {
    pub kind: String,
    pub namespace: String,
    pub name: String,
    /// The write removed it.
    pub deleted: bool,
}

pub type Observer = Arc<dyn Fn(&ObjectRef) + Send + Sync>;

#[derive(Default)]
pub(crate) struct Observers(Mutex<Vec<Observer>>);

impl Observers {
    pub(crate) fn add(&self, f: Observer) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(f);
    }

    pub(crate) fn notify(&self, r: ObjectRef) {
        // Observers are cheap (they send on a channel); calling them under
        // the lock keeps the list simple.
        for f in self.0.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            f(&r);
        }
    }
}

/// Called after every committed write (objects, batches, containers,
/// journal), in the writing thread; it must be cheap (e.g. bump a
/// `tokio::sync::watch`).
pub type WriteObserver = Arc<dyn Fn() + Send + Sync>;

#[derive(Default)]
pub(crate) struct WriteObservers(Mutex<Vec<WriteObserver>>);

impl WriteObservers {
    pub(crate) fn add(&self, f: WriteObserver) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(f);
    }

    pub(crate) fn notify(&self) {
        for f in self.0.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            f();
        }
    }
}
