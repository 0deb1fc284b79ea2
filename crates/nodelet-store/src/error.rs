//! Errors of the store, as values the caller can match on.
//!
//! redb reports failures through several error types (opening, transactions,
//! tables, storage, commit); they are folded into one [`StoreError::Db`] so
//! callers handle "the database failed" once, while the cases a caller must
//! act on differently (a file that is not a store, a watch resuming from a
//! compacted resourceVersion, a bad key) get their own variants.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The file could not be opened as a store: missing permissions, another
    /// process holding it, or not a redb file / corrupted beyond repair.
    #[error("cannot open store {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: redb::Error,
    },
    /// Creating the directory that holds the store failed.
    #[error("cannot create store directory {path}: {source}")]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Restricting the store file to its owner (0600) failed.
    #[error("cannot make store file {path} owner-only (0600): {source}")]
    Permissions {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A read or write transaction failed.
    #[error("store: {0}")]
    Db(#[from] redb::Error),
    /// A stored value is not the JSON we wrote, or a value cannot be encoded.
    #[error("store: bad JSON for {what}: {source}")]
    Json {
        what: String,
        #[source]
        source: serde_json::Error,
    },
    /// A key part is empty or contains the separator `/`.
    #[error("store: invalid {part} {value:?}: {reason}")]
    InvalidKey {
        part: &'static str,
        value: String,
        reason: &'static str,
    },
    /// The change log no longer holds changes after `requested`: a watch
    /// must answer 410 Gone and the client re-list.
    #[error(
        "resourceVersion {requested} is too old: changes before {oldest_available} are compacted"
    )]
    Gone {
        requested: u64,
        oldest_available: u64,
    },
    /// The writer thread could not be started (open) or is gone (it only
    /// stops when the store is dropped, or if it panicked).
    #[error("store: cannot start the writer thread: {0}")]
    SpawnWriter(#[source] std::io::Error),
    #[error("store: the writer thread is gone")]
    WriterGone,
    /// An outcome was recorded for a hook delivery whose intent was never
    /// recorded: a bug in the caller, not something to paper over.
    #[error("store: hook outcome for {0} without a recorded intent")]
    NoIntent(String),
    /// The disk under the store cannot take writes (full, read-only, I/O
    /// errors). Writes fail until [`crate::Store::recover`] succeeds;
    /// everything committed before is intact.
    #[error("the state store {path} is {}: {detail}", kind.describe())]
    Unavailable {
        path: PathBuf,
        kind: crate::Unavailability,
        detail: String,
    },
    /// The file is a database, but not a nodelet store (other tables), or
    /// its tables have other types. Never reset: the user decides.
    #[error("{path} is not a nodelet state store ({reason}); move it away or pick another --root")]
    Foreign { path: PathBuf, reason: String },
    /// Written by a newer nodelet: this one does not know its layout.
    #[error(
        "the state store {path} has schema version {found}, newer than this nodelet understands ({supported}); run a newer nodelet or move it away"
    )]
    TooNew {
        path: PathBuf,
        found: u64,
        supported: u64,
    },
    /// Upgrading an older schema failed; the file is unchanged.
    #[error("migrating the state store {path} from schema {from} to {to}: {reason}")]
    Migration {
        path: PathBuf,
        from: u64,
        to: u64,
        reason: String,
    },
}

impl StoreError {
    /// Whether the disk failed (not the caller's write).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable { .. })
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

// redb's per-operation error types all fold into `redb::Error`.
macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self {
                StoreError::Db(e.into())
            }
        }
    )*};
}
from_redb!(
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

pub(crate) fn json_err(what: impl Into<String>) -> impl FnOnce(serde_json::Error) -> StoreError {
    let what = what.into();
    move |source| StoreError::Json { what, source }
}
