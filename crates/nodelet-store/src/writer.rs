//! Group commit: one writer thread owns every write transaction and folds
//! the writes that queued up while the previous commit was syncing into one
//! durable transaction.
//!
//! # Why
//! redb has a single writer and each durable commit costs an fsync (~4 ms
//! here, much more on a busy disk). With one transaction per write, 200
//! pods being deleted at once (each writing events, hook journal entries,
//! status, container records) queue behind each other for seconds. Batching
//! turns N fsyncs into one per group.
//!
//! # Crash semantics are unchanged
//! A caller still returns only after the transaction holding its write has
//! committed durably (`Durability::Immediate`), so an acknowledged write
//! survives a crash exactly as before; a write that was not acknowledged
//! may or may not be there, as before. Writes are applied in arrival order,
//! so resourceVersions stay ordered as callers observe them.
//!
//! # A failing disk
//! A commit that fails because the disk did (full, read-only, I/O error)
//! fails the whole group with [`StoreError::Unavailable`] (retrying each
//! write alone would only hit the same disk again) and marks the store
//! unavailable: later writes fail at once until
//! [`crate::Store::recover`] reopens the file.
//!
//! # Failures stay per caller
//! If any write of a group fails (a bad key, a hook outcome without an
//! intent) or the group's commit fails, the group's transaction is aborted
//! and each write is retried alone in its own transaction, so one caller's
//! error never becomes another's and every caller gets its own result.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender, SyncSender, sync_channel};

use redb::{Database, WriteTransaction};

use crate::Inner;
use crate::error::{Result, StoreError};

/// At most this many writes share one transaction (bounds the time a
/// group holds the writer and the size of one commit).
const MAX_GROUP: usize = 512;

/// Where callers queue their writes.
pub(crate) type Queue = Sender<Box<dyn Job>>;

/// One queued write: applied (possibly twice, after a group abort) inside
/// a transaction, then told how its transaction ended.
pub(crate) trait Job: Send {
    /// Applies the write in `txn`, keeping its result until [`Job::finish`].
    fn apply(&mut self, txn: &WriteTransaction) -> Result<()>;
    /// Hands the kept result (or `err`) to the waiting caller.
    fn finish(self: Box<Self>, err: Option<StoreError>);
}

/// A job whose closure returns `T`, answered on a one-slot channel.
pub(crate) struct TypedJob<T, F> {
    f: F,
    out: Option<T>,
    reply: SyncSender<Result<T>>,
}

impl<T, F> TypedJob<T, F>
where
    T: Send + 'static,
    F: FnMut(&WriteTransaction) -> Result<T> + Send + 'static,
{
    pub(crate) fn queued(f: F) -> (Box<dyn Job>, Receiver<Result<T>>) {
        let (reply, rx) = sync_channel(1);
        (
            Box::new(TypedJob {
                f,
                out: None,
                reply,
            }),
            rx,
        )
    }
}

impl<T, F> Job for TypedJob<T, F>
where
    T: Send + 'static,
    F: FnMut(&WriteTransaction) -> Result<T> + Send + 'static,
{
    fn apply(&mut self, txn: &WriteTransaction) -> Result<()> {
        self.out = Some((self.f)(txn)?);
        Ok(())
    }

    fn finish(self: Box<Self>, err: Option<StoreError>) {
        let result = match (err, self.out) {
            (Some(e), _) => Err(e),
            (None, Some(v)) => Ok(v),
            (None, None) => Err(StoreError::WriterGone),
        };
        // The caller may have given up waiting (it panicked): nothing to do.
        let _ = self.reply.send(result);
    }
}

/// Spawns the writer thread; it runs until every sender is dropped.
/// Counters of the writer, to see the grouping at work and whether the
/// single writer is a bottleneck.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) commits: AtomicU64,
    pub(crate) writes: AtomicU64,
    pub(crate) busy_micros: AtomicU64,
}

pub(crate) fn spawn(
    inner: Arc<Inner>,
    counters: Arc<Counters>,
) -> std::io::Result<(Queue, std::thread::JoinHandle<()>)> {
    let (tx, rx) = std::sync::mpsc::channel::<Box<dyn Job>>();
    let handle = std::thread::Builder::new()
        .name("nodelet-store-writer".into())
        .spawn(move || run(&inner, &rx, &counters))?;
    Ok((tx, handle))
}

fn run(inner: &Inner, rx: &Receiver<Box<dyn Job>>, counters: &Counters) {
    while let Ok(first) = rx.recv() {
        let t = std::time::Instant::now();
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        counters
            .writes
            .fetch_add(group.len() as u64, Ordering::Relaxed);
        if let Some(u) = inner.health.get() {
            fail_all(inner, group, &u);
        } else {
            let g = inner.db.read().unwrap_or_else(|e| e.into_inner());
            match g.as_ref() {
                Some(db) => commit_group(inner, db, group, &counters.commits),
                None => fail_all(
                    inner,
                    group,
                    &crate::Unavailable {
                        kind: crate::Unavailability::Io,
                        detail: "the database is being reopened".into(),
                    },
                ),
            }
        }
        let busy = u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX);
        counters.busy_micros.fetch_add(busy, Ordering::Relaxed);
    }
}

fn fail_all(inner: &Inner, group: Vec<Box<dyn Job>>, u: &crate::Unavailable) {
    for job in group {
        job.finish(Some(inner.unavailable(u.clone())));
    }
}

/// The disk condition behind a failed commit, if the disk failed.
fn disk_failure(e: &StoreError) -> Option<crate::Unavailable> {
    match e {
        StoreError::Db(e) => crate::health::classify(e),
        _ => None,
    }
}

/// Commits `group` as one transaction, or each job alone if that fails.
fn commit_group(inner: &Inner, db: &Database, mut group: Vec<Box<dyn Job>>, commits: &AtomicU64) {
    let try_commit = |jobs: &mut [Box<dyn Job>]| {
        let r = try_commit(db, jobs);
        if r.is_ok() {
            commits.fetch_add(1, Ordering::Relaxed);
        }
        r
    };
    let remember = |e: &StoreError| {
        let u = disk_failure(e)?;
        inner.health.set(Some(u.clone()));
        Some(u)
    };
    match try_commit(&mut group) {
        Ok(()) => group.into_iter().for_each(|j| j.finish(None)),
        Err(e) => {
            if let Some(u) = remember(&e) {
                return fail_all(inner, group, &u);
            }
            if group.len() == 1 {
                if let Some(job) = group.pop() {
                    job.finish(Some(e));
                }
                return;
            }
            let mut jobs = group.into_iter();
            while let Some(mut job) = jobs.next() {
                match try_commit(std::slice::from_mut(&mut job)) {
                    Ok(()) => job.finish(None),
                    Err(e) => match remember(&e) {
                        Some(u) => {
                            job.finish(Some(inner.unavailable(u.clone())));
                            return fail_all(inner, jobs.collect(), &u);
                        }
                        None => job.finish(Some(e)),
                    },
                }
            }
        }
    }
}

/// Applies `jobs` in order in one transaction and commits it durably; on
/// any error the transaction aborts (dropped uncommitted).
fn try_commit(db: &Database, jobs: &mut [Box<dyn Job>]) -> Result<()> {
    let txn = db.begin_write()?;
    for job in jobs.iter_mut() {
        job.apply(&txn)?;
    }
    txn.commit()?;
    Ok(())
}
