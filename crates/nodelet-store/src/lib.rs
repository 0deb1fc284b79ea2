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
//!
//! # The file over time
//! The file carries a schema version; older layouts are migrated on open,
//! newer ones and files that are not nodelet stores are refused with an
//! error naming the file, never reset ([`schema`]). A disk that fills up
//! or goes read-only makes writes fail with [`StoreError::Unavailable`]
//! while reads and everything committed stay; [`Store::recover`] reopens
//! the file once the directory takes writes again ([`health`]).

mod containers;
mod error;
mod health;
mod journal;
mod objects;
mod observe;
mod schema;
mod tables;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock, RwLockReadGuard};

use redb::{
    Database, ReadTransaction, ReadableDatabase, ReadableTable, ReadableTableMetadata,
    WriteTransaction,
};
use serde_json::Value;

pub use error::{Result, StoreError};
pub use health::{Unavailability, Unavailable};
pub use journal::{
    HookKey, HookOutcome, Intent, JournalChange, JournalEntry, KillIntent, ObjectPut, View,
};
pub use objects::{CHANGE_LOG_CAPACITY, Change, ChangeType};
pub use observe::{ObjectRef, Observer, WriteObserver};
pub use schema::SCHEMA_VERSION;

use tables::{
    CHANGES, CONTAINERS, JOURNAL, META, META_COMPACTED, META_RV, OBJECTS, object_prefix, prefix_end,
};

/// The file name [`Store::open_dir`] uses inside the state directory.
pub const FILE_NAME: &str = "state.redb";

/// What the store and its writer thread share.
pub(crate) struct Inner {
    /// `None` only while a reopen after a disk failure has not succeeded.
    pub(crate) db: RwLock<Option<Database>>,
    pub(crate) path: PathBuf,
    pub(crate) health: health::Health,
}

impl Inner {
    pub(crate) fn unavailable(&self, u: Unavailable) -> StoreError {
        StoreError::Unavailable {
            path: self.path.clone(),
            kind: u.kind,
            detail: u.detail,
        }
    }

    fn db(&self) -> RwLockReadGuard<'_, Option<Database>> {
        self.db.read().unwrap_or_else(|e| e.into_inner())
    }
}

/// The node's durable state. `Send + Sync`: share it in an `Arc`.
pub struct Store {
    inner: Arc<Inner>,
    /// Queue of the writer thread; `None` only while dropping.
    writes: Option<writer::Queue>,
    writer: Option<std::thread::JoinHandle<()>>,
    counters: Arc<writer::Counters>,
    observers: observe::Observers,
    write_observers: observe::WriteObservers,
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
        f.debug_struct("Store")
            .field("path", &self.inner.path)
            .finish()
    }
}

impl Store {
    /// Opens (creating if missing) the store file at `path`, checking its
    /// schema and migrating an older one (see [`schema`]). Every failure
    /// names the file: one that is not a redb database or is corrupted
    /// ([`StoreError::Open`]), held by another process, not a nodelet store
    /// ([`StoreError::Foreign`]) or from a newer nodelet
    /// ([`StoreError::TooNew`]). Nothing is ever reset.
    pub fn open(path: &Path) -> Result<Store> {
        let open_err = |source: redb::Error| StoreError::Open {
            path: path.to_path_buf(),
            source,
        };
        let db = Database::create(path).map_err(|e| open_err(e.into()))?;
        // The store holds Secrets: owner-only, whatever the umask was.
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(
                |source| StoreError::Permissions {
                    path: path.to_path_buf(),
                    source,
                },
            )?;
        }
        schema::prepare(&db, path).map_err(|e| match e {
            StoreError::Db(source) => open_err(source),
            other => other,
        })?;
        let inner = Arc::new(Inner {
            db: RwLock::new(Some(db)),
            path: path.to_path_buf(),
            health: health::Health::default(),
        });
        let counters = Arc::new(writer::Counters::default());
        let (writes, writer) =
            writer::spawn(inner.clone(), counters.clone()).map_err(StoreError::SpawnWriter)?;
        Ok(Store {
            inner,
            counters,
            writes: Some(writes),
            writer: Some(writer),
            observers: Default::default(),
            write_observers: Default::default(),
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
        &self.inner.path
    }

    /// Size of the file in bytes.
    pub fn file_size(&self) -> u64 {
        std::fs::metadata(&self.inner.path)
            .map(|m| m.len())
            .unwrap_or(0)
    }

    /// Why writes fail now, if they do (see [`Store::recover`]).
    pub fn unavailable(&self) -> Option<Unavailable> {
        self.inner.health.get()
    }

    /// After a disk failure: when a probe write in the store's directory
    /// succeeds again, reopens the file and checks a real commit. Returns
    /// `Ok(())` when the store takes writes (at once if it never stopped),
    /// else the reason it still cannot.
    pub fn recover(&self) -> Result<()> {
        let Some(_) = self.inner.health.get() else {
            return Ok(());
        };
        health_probe(&self.inner.path)
            .map_err(|e| self.inner.unavailable(health::classify_io(&e)))?;
        {
            let mut g = self.inner.db.write().unwrap_or_else(|e| e.into_inner());
            // The old handle must be closed (its file lock released) first.
            *g = None;
            let db = Database::create(&self.inner.path).map_err(|e| {
                let e: redb::Error = e.into();
                match health::classify(&e) {
                    Some(u) => self.inner.unavailable(u),
                    None => StoreError::Open {
                        path: self.inner.path.clone(),
                        source: e,
                    },
                }
            })?;
            *g = Some(db);
        }
        self.inner.health.set(None);
        // A real durable commit proves it; a failure marks it again.
        self.write(|txn| {
            let mut meta = txn.open_table(META)?;
            let n = meta.get("recoveries")?.map(|g| g.value()).unwrap_or(0);
            meta.insert("recoveries", n + 1)?;
            Ok(())
        })
    }

    /// Rewrites the file without its free pages (redb's compaction) when
    /// more than half of it is free and it is larger than `min_bytes`.
    /// Takes the store exclusively for the time it runs (readers and
    /// writers wait). Returns whether it compacted.
    pub fn compact_if_sparse(&self, min_bytes: u64) -> Result<bool> {
        if self.file_size() < min_bytes {
            return Ok(false);
        }
        let mut g = self.inner.db.write().unwrap_or_else(|e| e.into_inner());
        let Some(db) = g.as_mut() else {
            return Ok(false);
        };
        let stats = {
            let txn = db.begin_write()?;
            let s = txn.stats()?;
            txn.abort()?;
            s
        };
        let used = stats.stored_bytes() + stats.metadata_bytes();
        if used.saturating_mul(2) >= self.file_size() {
            return Ok(false);
        }
        db.compact().map_err(|e| StoreError::Db(e.into()))
    }

    /// Runs `f` on a read transaction (consistent snapshot).
    fn read<T>(&self, f: impl FnOnce(&ReadTransaction) -> Result<T>) -> Result<T> {
        let g = self.inner.db();
        let db = g.as_ref().ok_or_else(|| {
            self.inner
                .unavailable(self.inner.health.get().unwrap_or(Unavailable {
                    kind: Unavailability::Io,
                    detail: "the database is being reopened".into(),
                }))
        })?;
        let txn = db.begin_read()?;
        f(&txn)
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
        let out = done.recv().map_err(|_| StoreError::WriterGone)??;
        // Committed and visible to readers: whoever waits for a change may
        // read it now.
        self.write_observers.notify();
        Ok(out)
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

    /// Calls `f` after every committed write of any kind, once it is
    /// visible to readers: watches and sweeps wait on this instead of
    /// re-reading on a timer.
    pub fn observe_writes(&self, f: WriteObserver) {
        self.write_observers.add(f);
    }

    /// The object and its resourceVersion.
    pub fn get_object(
        &self,
        kind: &str,
        namespace: &str,
        name: &str,
    ) -> Result<Option<(Value, u64)>> {
        let key = tables::object_key(kind, namespace, name)?;
        self.read(|txn| {
            let table = txn.open_table(OBJECTS)?;
            let got = table.get(key.as_str())?;
            got.map(|g| objects::decode(&key, g.value())).transpose()
        })
    }

    /// Every object of `kind` (in `namespace` if given), ordered by
    /// namespace then name.
    pub fn list_objects(&self, kind: &str, namespace: Option<&str>) -> Result<Vec<(Value, u64)>> {
        let prefix = object_prefix(kind, namespace)?;
        let end = prefix_end(&prefix);
        self.read(|txn| {
            let table = txn.open_table(OBJECTS)?;
            let mut out = Vec::new();
            for row in table.range(prefix.as_str()..end.as_str())? {
                let (k, v) = row?;
                out.push(objects::decode(k.value(), v.value())?);
            }
            Ok(out)
        })
    }

    /// How many objects of `kind` are stored (any namespace).
    pub fn count_objects(&self, kind: &str) -> Result<usize> {
        let prefix = object_prefix(kind, None)?;
        let end = prefix_end(&prefix);
        self.read(|txn| {
            let table = txn.open_table(OBJECTS)?;
            let mut n = 0;
            for row in table.range(prefix.as_str()..end.as_str())? {
                row?;
                n += 1;
            }
            Ok(n)
        })
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
        self.read(|txn| {
            let meta = txn.open_table(META)?;
            Ok(meta.get(META_RV)?.map(|g| g.value()).unwrap_or(0))
        })
    }

    /// Changes after resourceVersion `rv`, oldest first (empty if `rv` is
    /// current or newer). The log keeps the last [`CHANGE_LOG_CAPACITY`]
    /// changes: an older `rv` is [`StoreError::Gone`], which a watch answers
    /// with 410 Gone so the client re-lists.
    pub fn changes_since(&self, rv: u64) -> Result<Vec<Change>> {
        self.read(|txn| {
            let meta = txn.open_table(META)?;
            let compacted = meta.get(META_COMPACTED)?.map(|g| g.value()).unwrap_or(0);
            let changes = txn.open_table(CHANGES)?;
            objects::changes_since(&changes, compacted, rv)
        })
    }

    // ---- containers ----

    /// Creates or replaces the record of container `id`.
    pub fn put_container(&self, id: &str, record: &Value) -> Result<()> {
        let (id, record) = (id.to_owned(), record.clone());
        self.write(move |txn| containers::put(txn, &id, &record))
    }

    pub fn get_container(&self, id: &str) -> Result<Option<Value>> {
        self.read(|txn| {
            let table = txn.open_table(CONTAINERS)?;
            let got = table.get(id)?;
            got.map(|g| containers::decode(id, g.value())).transpose()
        })
    }

    /// Every container record as (id, record), ordered by id.
    pub fn list_containers(&self) -> Result<Vec<(String, Value)>> {
        self.read(|txn| {
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
        })
    }

    /// Removes a container record; false if there was none.
    pub fn delete_container(&self, id: &str) -> Result<bool> {
        let id = id.to_owned();
        self.write(move |txn| containers::delete(txn, &id))
    }

    // ---- hook journal ----

    /// Applies one journal change and, in the same transaction, writes the
    /// object `view` renders from the resulting entry (the HookDelivery
    /// record). Returns the entry and the object's resourceVersion.
    pub fn journal_record(
        &self,
        key: &HookKey,
        change: JournalChange,
        view: Option<View>,
    ) -> Result<(JournalEntry, Option<u64>)> {
        let key = key.clone();
        let mut view = view;
        self.write(move |txn| {
            let entry = journal::apply(txn, &key, &change)?;
            let rv = match view.as_mut().and_then(|v| v(&entry)) {
                Some(o) => Some(objects::put(txn, &o.kind, &o.namespace, &o.name, &o.value)?),
                None => None,
            };
            Ok((entry, rv))
        })
    }

    /// Records that a delivery of `key` starts (again) at `at`.
    pub fn journal_intent(
        &self,
        key: &HookKey,
        intent: &Intent,
        at: jiff::Timestamp,
    ) -> Result<JournalEntry> {
        let change = JournalChange::Intent {
            intent: intent.clone(),
            at,
        };
        Ok(self.journal_record(key, change, None)?.0)
    }

    /// Records how the latest delivery of `key` ended.
    pub fn journal_outcome(
        &self,
        key: &HookKey,
        outcome: &HookOutcome,
        at: jiff::Timestamp,
    ) -> Result<JournalEntry> {
        let change = JournalChange::Outcome {
            outcome: outcome.clone(),
            at,
        };
        Ok(self.journal_record(key, change, None)?.0)
    }

    /// Deliveries whose latest attempt has no outcome: interrupted.
    pub fn journal_pending(&self) -> Result<Vec<JournalEntry>> {
        Ok(self
            .journal_all()?
            .into_iter()
            .filter(JournalEntry::pending)
            .collect())
    }

    /// Every journal entry, in key order.
    pub fn journal_all(&self) -> Result<Vec<JournalEntry>> {
        self.read(|txn| journal::all(&txn.open_table(JOURNAL)?))
    }

    /// The entries of one container.
    pub fn journal_of(&self, container_id: &str) -> Result<Vec<JournalEntry>> {
        self.read(|txn| journal::of_container(&txn.open_table(JOURNAL)?, container_id))
    }

    pub fn journal_get(&self, key: &HookKey) -> Result<Option<JournalEntry>> {
        tables::check_id("container id", &key.container_id)?;
        self.read(|txn| {
            let table = txn.open_table(JOURNAL)?;
            let got = table.get((key.container_id.as_str(), key.hook.as_str()))?;
            got.map(|g| journal::decode(g.value())).transpose()
        })
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

/// Writes, syncs and removes a small file next to the store: whether the
/// directory takes writes again.
fn health_probe(store: &Path) -> std::io::Result<()> {
    use std::io::Write;
    let dir = store.parent().unwrap_or(Path::new("."));
    let probe = dir.join(".nodelet-store-probe");
    let r = (|| {
        let mut f = std::fs::File::create(&probe)?;
        // A commit needs room for a few pages; prove there is some.
        f.write_all(&vec![0u8; 256 * 1024])?;
        f.sync_all()
    })();
    let _ = std::fs::remove_file(&probe);
    r
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
    Journal(HookKey, JournalChange),
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
            Op::Journal(key, change) => journal::apply(txn, key, change).map(drop),
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
    pub fn journal(&mut self, key: &HookKey, change: JournalChange) -> &mut Self {
        self.ops.push(Op::Journal(key.clone(), change));
        self
    }
}
