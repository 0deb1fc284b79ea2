//! nodelet-store: what nodelet must not forget across a restart — desired
//! objects (pods, services, configmaps, secrets, events), the containers the
//! engine created, and the hook delivery journal.
//!
//! # Why redb
//! redb is pure Rust (no C toolchain or bundled SQLite to compile, unlike
//! rusqlite), keeps everything in one file, is ACID with copy-on-write
//! B-trees and checksummed pages, and fsyncs on every commit by default
//! (`Durability::Immediate`), so an acknowledged write survives a SIGKILL or
//! power loss and the file reopens cleanly. sled, the other pure-Rust option,
//! is unmaintained. The store knows no Kubernetes types: it keeps JSON values
//! and small structs, so the spec layer can evolve without migrations here.
//!
//! # Guarantees
//! Every public write is applied by one writer thread and committed durably
//! before the call returns; writes that arrive while a commit is syncing
//! share the next transaction (group commit, see [`writer`]), which changes
//! no caller-visible guarantee. [`Store::batch`] groups several writes
//! atomically. Readers
//! see consistent snapshots and never block the writer (MVCC). Calls block on
//! disk I/O: async callers with latency concerns wrap them in
//! `spawn_blocking`.

mod containers;
mod error;
mod journal;
mod objects;
mod observe;
mod tables;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, WriteTransaction};
use serde_json::Value;

pub use error::{Result, StoreError};
pub use journal::{HookKey, HookOutcome, JournalEntry};
pub use objects::{CHANGE_LOG_CAPACITY, Change, ChangeType};
pub use observe::{ObjectRef, Observer};

use tables::{
    CHANGES, CONTAINERS, JOURNAL, META, META_COMPACTED, META_RV, OBJECTS, object_prefix, prefix_end,
};

/// The file name [`Store::open_dir`] uses inside the state directory.
pub const FILE_NAME: &str = "state.redb";

/// The node's durable state. `Send + Sync`: share it in an `Arc`.
pub struct Store {
    db: Arc<Database>,
    path: PathBuf,
    /// Queue of the writer thread; `None` only while dropping.
    writes: Option<writer::Queue>,
    writer: Option<std::thread::JoinHandle<()>>,
    counters: Arc<writer::Counters>,
    observers: observe::Observers,
}

impl Drop for Store {
    /// Stops the writer after the writes queued so far and waits for it, so
    /// the file is closed when the store is gone (a reopen must not find
    /// it held).
    fn drop(&mut self) {
        self.writes.take();
        if let Some(h) = self.writer.take() {
            let _ = h.join();
        }
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Store {
    /// Opens (creating if missing) the store file at `path` and its tables.
    /// A file that is not a redb database, or is held by another process,
    /// gives [`StoreError::Open`] naming the path.
    pub fn open(path: &Path) -> Result<Store> {
        let open_err = |source: redb::Error| StoreError::Open {
            path: path.to_path_buf(),
            source,
        };
        let db = Arc::new(Database::create(path).map_err(|e| open_err(e.into()))?);
        // Creating the tables up front lets readers open them without a
        // "table does not exist" case.
        let create = || -> Result<()> {
            let txn = db.begin_write()?;
            txn.open_table(META)?;
            txn.open_table(OBJECTS)?;
            txn.open_table(CONTAINERS)?;
            txn.open_table(JOURNAL)?;
            txn.open_table(CHANGES)?;
            txn.commit()?;
            Ok(())
        };
        create().map_err(|e| match e {
            StoreError::Db(source) => open_err(source),
            other => other,
        })?;
        let counters = Arc::new(writer::Counters::default());
        let (writes, writer) =
            writer::spawn(db.clone(), counters.clone()).map_err(StoreError::SpawnWriter)?;
        Ok(Store {
            db,
            counters,
            path: path.to_path_buf(),
            writes: Some(writes),
            writer: Some(writer),
            observers: Default::default(),
        })
    }

    /// Opens `<dir>/state.redb`, creating `dir` if needed.
    pub fn open_dir(dir: &Path) -> Result<Store> {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
            path: dir.to_path_buf(),
            source,
        })?;
        Store::open(&dir.join(FILE_NAME))
    }

    /// Durable transactions committed since open: fewer than the writes
    /// when group commit folded concurrent writes together.
    pub fn commit_count(&self) -> u64 {
        self.writer_stats().commits
    }

    /// What the writer did since open.
    pub fn writer_stats(&self) -> WriterStats {
        use std::sync::atomic::Ordering::Relaxed;
        WriterStats {
            writes: self.counters.writes.load(Relaxed),
            commits: self.counters.commits.load(Relaxed),
            busy: std::time::Duration::from_micros(self.counters.busy_micros.load(Relaxed)),
        }
    }

    /// The file this store lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Has the writer run `f` in a write transaction (possibly shared with
    /// other callers' writes) and returns once that transaction committed
    /// durably; nothing of `f` is written if it fails. `f` may run more than
    /// once (a failed group is retried write by write), so it must only
    /// write through `txn`.
    fn write<T: Send + 'static>(
        &self,
        f: impl FnMut(&WriteTransaction) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let (job, done) = writer::TypedJob::queued(f);
        let queue = self.writes.as_ref().ok_or(StoreError::WriterGone)?;
        queue.send(job).map_err(|_| StoreError::WriterGone)?;
        done.recv().map_err(|_| StoreError::WriterGone)?
    }

    // ---- objects ----

    /// Creates or replaces an object; returns its new resourceVersion.
    pub fn put_object(
        &self,
        kind: &str,
        namespace: &str,
        name: &str,
        value: &Value,
    ) -> Result<u64> {
        let (kind, namespace, name) = (kind.to_owned(), namespace.to_owned(), name.to_owned());
        let value = value.clone();
        let refs = (kind.clone(), namespace.clone(), name.clone());
        let rv = self.write(move |txn| objects::put(txn, &kind, &namespace, &name, &value))?;
        self.observers.notify(ObjectRef {
            kind: refs.0,
            namespace: refs.1,
            name: refs.2,
            deleted: false,
        });
        Ok(rv)
    }

    /// Calls `f` after every committed object write or deletion (not for
    /// batches, which carry events and records).
    pub fn observe(&self, f: Observer) {
        self.observers.add(f);
    }

    /// The object and its resourceVersion.
    pub fn get_object(
        &self,
        kind: &str,
        namespace: &str,
        name: &str,
    ) -> Result<Option<(Value, u64)>> {
        let key = tables::object_key(kind, namespace, name)?;
        let txn = self.db.begin_read()?;
        let table = txn.open_table(OBJECTS)?;
        let got = table.get(key.as_str())?;
        got.map(|g| objects::decode(&key, g.value())).transpose()
    }

    /// Every object of `kind` (in `namespace` if given), ordered by
    /// namespace then name.
    pub fn list_objects(&self, kind: &str, namespace: Option<&str>) -> Result<Vec<(Value, u64)>> {
        let prefix = object_prefix(kind, namespace)?;
        let end = prefix_end(&prefix);
        let txn = self.db.begin_read()?;
        let table = txn.open_table(OBJECTS)?;
        let mut out = Vec::new();
        for row in table.range(prefix.as_str()..end.as_str())? {
            let (k, v) = row?;
            out.push(objects::decode(k.value(), v.value())?);
        }
        Ok(out)
    }

    /// Deletes an object; returns the resourceVersion of the deletion, or
    /// `None` if there was no such object (nothing is written then).
    pub fn delete_object(&self, kind: &str, namespace: &str, name: &str) -> Result<Option<u64>> {
        let (kind, namespace, name) = (kind.to_owned(), namespace.to_owned(), name.to_owned());
        let refs = (kind.clone(), namespace.clone(), name.clone());
        let rv = self.write(move |txn| objects::delete(txn, &kind, &namespace, &name))?;
        if rv.is_some() {
            self.observers.notify(ObjectRef {
                kind: refs.0,
                namespace: refs.1,
                name: refs.2,
                deleted: true,
            });
        }
        Ok(rv)
    }

    /// The last resourceVersion handed out (0 for a new store).
    pub fn current_resource_version(&self) -> Result<u64> {
        let txn = self.db.begin_read()?;
        let meta = txn.open_table(META)?;
        Ok(meta.get(META_RV)?.map(|g| g.value()).unwrap_or(0))
    }

    /// Changes after resourceVersion `rv`, oldest first (empty if `rv` is
    /// current or newer). The log keeps the last [`CHANGE_LOG_CAPACITY`]
    /// changes: an older `rv` is [`StoreError::Gone`], which a watch answers
    /// with 410 Gone so the client re-lists.
    pub fn changes_since(&self, rv: u64) -> Result<Vec<Change>> {
        let txn = self.db.begin_read()?;
        let meta = txn.open_table(META)?;
        let compacted = meta.get(META_COMPACTED)?.map(|g| g.value()).unwrap_or(0);
        let changes = txn.open_table(CHANGES)?;
        objects::changes_since(&changes, compacted, rv)
    }

    // ---- containers ----

    /// Creates or replaces the record of container `id`.
    pub fn put_container(&self, id: &str, record: &Value) -> Result<()> {
        let (id, record) = (id.to_owned(), record.clone());
        self.write(move |txn| containers::put(txn, &id, &record))
    }

    pub fn get_container(&self, id: &str) -> Result<Option<Value>> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(CONTAINERS)?;
        let got = table.get(id)?;
        got.map(|g| containers::decode(id, g.value())).transpose()
    }

    /// Every container record as (id, record), ordered by id.
    pub fn list_containers(&self) -> Result<Vec<(String, Value)>> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(CONTAINERS)?;
        let mut out = Vec::with_capacity(usize::try_from(table.len()?).unwrap_or(0));
        for row in table.iter()? {
            let (k, v) = row?;
            out.push((
                k.value().to_string(),
                containers::decode(k.value(), v.value())?,
            ));
        }
        Ok(out)
    }

    /// Removes a container record; false if there was none.
    pub fn delete_container(&self, id: &str) -> Result<bool> {
        let id = id.to_owned();
        self.write(move |txn| containers::delete(txn, &id))
    }

    // ---- hook journal ----

    /// Records that a delivery of `key` is about to start (again).
    pub fn journal_intent(&self, key: &HookKey) -> Result<()> {
        let key = key.clone();
        self.write(move |txn| journal::intent(txn, &key))
    }

    /// Records how the delivery of `key` ended.
    pub fn journal_outcome(&self, key: &HookKey, outcome: &HookOutcome) -> Result<()> {
        let (key, outcome) = (key.clone(), outcome.clone());
        self.write(move |txn| journal::outcome(txn, &key, &outcome))
    }

    /// Deliveries whose intent has no outcome: interrupted by a restart.
    pub fn journal_pending(&self) -> Result<Vec<HookKey>> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(JOURNAL)?;
        Ok(journal::all(&table)?
            .into_iter()
            .filter(|e| e.outcome.is_none())
            .map(|e| e.key)
            .collect())
    }

    pub fn journal_get(&self, key: &HookKey) -> Result<Option<JournalEntry>> {
        tables::check_id("container id", &key.container_id)?;
        let txn = self.db.begin_read()?;
        let table = txn.open_table(JOURNAL)?;
        let got = table.get((key.container_id.as_str(), key.hook.as_str(), key.attempt))?;
        got.map(|g| journal::decode(g.value())).transpose()
    }

    /// Drops every journal entry of a container removed for good; returns
    /// how many were dropped.
    pub fn journal_forget(&self, container_id: &str) -> Result<usize> {
        let id = container_id.to_owned();
        self.write(move |txn| journal::forget(txn, &id))
    }

    // ---- batches ----

    /// Applies the writes `f` queues as one atomic, durable transaction:
    /// all or none. Returns the resourceVersion current after the batch.
    pub fn batch(&self, f: impl FnOnce(&mut Batch)) -> Result<u64> {
        let mut batch = Batch { ops: Vec::new() };
        f(&mut batch);
        self.write(move |txn| {
            for op in &batch.ops {
                op.apply(txn)?;
            }
            let meta = txn.open_table(META)?;
            Ok(meta.get(META_RV)?.map(|g| g.value()).unwrap_or(0))
        })
    }
}

/// Counters of the store's writer thread ([`Store::writer_stats`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriterStats {
    /// Writes applied (each public write or batch is one).
    pub writes: u64,
    /// Durable transactions committed.
    pub commits: u64,
    /// Time the writer spent applying and committing.
    pub busy: std::time::Duration,
}

/// Writes queued for [`Store::batch`]; nothing happens until the batch
/// closure returns.
#[derive(Debug, Default)]
pub struct Batch {
    ops: Vec<Op>,
}

#[derive(Debug)]
enum Op {
    PutObject {
        kind: String,
        namespace: String,
        name: String,
        value: Value,
    },
    DeleteObject {
        kind: String,
        namespace: String,
        name: String,
    },
    PutContainer {
        id: String,
        record: Value,
    },
    DeleteContainer {
        id: String,
    },
    JournalIntent(HookKey),
    JournalOutcome(HookKey, HookOutcome),
}

impl Op {
    fn apply(&self, txn: &WriteTransaction) -> Result<()> {
        match self {
            Op::PutObject {
                kind,
                namespace,
                name,
                value,
            } => objects::put(txn, kind, namespace, name, value).map(drop),
            Op::DeleteObject {
                kind,
                namespace,
                name,
            } => objects::delete(txn, kind, namespace, name).map(drop),
            Op::PutContainer { id, record } => containers::put(txn, id, record),
            Op::DeleteContainer { id } => containers::delete(txn, id).map(drop),
            Op::JournalIntent(key) => journal::intent(txn, key),
            Op::JournalOutcome(key, outcome) => journal::outcome(txn, key, outcome),
        }
    }
}

impl Batch {
    pub fn put_object(
        &mut self,
        kind: &str,
        namespace: &str,
        name: &str,
        value: &Value,
    ) -> &mut Self {
        self.ops.push(Op::PutObject {
            kind: kind.into(),
            namespace: namespace.into(),
            name: name.into(),
            value: value.clone(),
        });
        self
    }
    pub fn delete_object(&mut self, kind: &str, namespace: &str, name: &str) -> &mut Self {
        self.ops.push(Op::DeleteObject {
            kind: kind.into(),
            namespace: namespace.into(),
            name: name.into(),
        });
        self
    }
    pub fn put_container(&mut self, id: &str, record: &Value) -> &mut Self {
        self.ops.push(Op::PutContainer {
            id: id.into(),
            record: record.clone(),
        });
        self
    }
    pub fn delete_container(&mut self, id: &str) -> &mut Self {
        self.ops.push(Op::DeleteContainer { id: id.into() });
        self
    }
    pub fn journal_intent(&mut self, key: &HookKey) -> &mut Self {
        self.ops.push(Op::JournalIntent(key.clone()));
        self
    }
    pub fn journal_outcome(&mut self, key: &HookKey, outcome: &HookOutcome) -> &mut Self {
        self.ops
            .push(Op::JournalOutcome(key.clone(), outcome.clone()));
        self
    }
}
