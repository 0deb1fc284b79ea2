//! Whether the disk under the store can take writes.
//!
//! A full disk, a read-only remount or an I/O error makes a commit fail;
//! redb then refuses every later write on that handle ("previous I/O
//! error") until the database is closed and reopened, though the data
//! committed before is intact. The store remembers the condition, fails
//! later writes at once with [`crate::StoreError::Unavailable`] (a clear
//! message, no pointless retries on every call), and
//! [`crate::Store::recover`] reopens the file once a probe write in the
//! same directory succeeds again.

use std::sync::Mutex;

use serde::Serialize;

/// Why the store cannot write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Unavailability {
    /// ENOSPC / EDQUOT: out of space or quota.
    NoSpace,
    /// EROFS: the filesystem went read-only.
    ReadOnly,
    /// Any other I/O error from the disk.
    Io,
}

impl Unavailability {
    pub fn describe(self) -> &'static str {
        match self {
            Unavailability::NoSpace => "out of space",
            Unavailability::ReadOnly => "on a read-only filesystem",
            Unavailability::Io => "failing with I/O errors",
        }
    }
}

/// The condition and the OS error that revealed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unavailable {
    pub kind: Unavailability,
    pub detail: String,
}

/// The kind of an I/O error, if it is one that makes the disk unusable.
pub(crate) fn classify_io(e: &std::io::Error) -> Unavailable {
    use std::io::ErrorKind;
    let kind = match e.kind() {
        ErrorKind::StorageFull | ErrorKind::QuotaExceeded => Unavailability::NoSpace,
        ErrorKind::ReadOnlyFilesystem => Unavailability::ReadOnly,
        _ => Unavailability::Io,
    };
    Unavailable {
        kind,
        detail: e.to_string(),
    }
}

/// A redb error that means the disk (not the caller's write) failed.
pub(crate) fn classify(e: &redb::Error) -> Option<Unavailable> {
    match e {
        redb::Error::Io(io) => Some(classify_io(io)),
        redb::Error::PreviousIo => Some(Unavailable {
            kind: Unavailability::Io,
            detail: "a previous I/O error left the database closed for writes".into(),
        }),
        _ => None,
    }
}

/// Shared by the store and its writer thread.
#[derive(Debug, Default)]
pub(crate) struct Health {
    state: Mutex<Option<Unavailable>>,
}

impl Health {
    pub(crate) fn get(&self) -> Option<Unavailable> {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub(crate) fn set(&self, u: Option<Unavailable>) {
        *self.state.lock().unwrap_or_else(|e| e.into_inner()) = u;
    }
}
