//! Events expire, as kube-apiserver's `--event-ttl` (default 1 h) makes
//! them: an event not updated for the TTL is deleted from the store.
//! Without this, a long-running node's store grows with every Pulled,
//! Started and Killing forever.
//!
//! The age is taken from the event's last occurrence (`lastTimestamp`,
//! else `eventTime`, else `metadata.creationTimestamp`), as the apiserver's
//! TTL restarts on every write of the event (a bumped count keeps it).

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use nodelet_store::Store;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::clock::Clock;

/// kube-apiserver's default `--event-ttl`.
pub const DEFAULT_EVENT_TTL: Duration = Duration::from_secs(3600);

/// When the event was last written, if it says.
fn last_seen(event: &Value) -> Option<Timestamp> {
    [
        "/lastTimestamp",
        "/eventTime",
        "/metadata/creationTimestamp",
    ]
    .iter()
    .find_map(|p| event.pointer(p)?.as_str()?.parse().ok())
}

/// Deletes every event last written `ttl` or more before `now`, in one
/// store transaction; returns how many went.
pub fn expire(store: &Store, now: Timestamp, ttl: Duration) -> nodelet_store::Result<usize> {
    let ttl = jiff::SignedDuration::try_from(ttl).unwrap_or(jiff::SignedDuration::MAX);
    let Some(cutoff) = now.checked_sub(ttl).ok() else {
        return Ok(0);
    };
    let expired: Vec<(String, String)> = store
        .list_objects("Event", None)?
        .into_iter()
        .filter(|(e, _)| last_seen(e).is_some_and(|t| t <= cutoff))
        .filter_map(|(e, _)| {
            let ns = e.pointer("/metadata/namespace")?.as_str()?.to_owned();
            let name = e.pointer("/metadata/name")?.as_str()?.to_owned();
            Some((ns, name))
        })
        .collect();
    if expired.is_empty() {
        return Ok(0);
    }
    store.batch(|b| {
        for (ns, name) in &expired {
            b.delete_object("Event", ns, name);
        }
    })?;
    Ok(expired.len())
}

/// When a HookDelivery record last changed.
fn delivery_last_seen(v: &Value) -> Option<Timestamp> {
    [
        "/status/completionTime",
        "/status/startTime",
        "/metadata/creationTimestamp",
    ]
    .iter()
    .find_map(|p| v.pointer(p)?.as_str()?.parse().ok())
}

/// When a PodTimeline got its last mark.
fn timeline_last_seen(v: &Value) -> Option<Timestamp> {
    v.pointer("/marks")?
        .as_array()?
        .last()?
        .get("time")?
        .as_str()?
        .parse()
        .ok()
}

/// HookDelivery records expire like events (`--event-ttl` after their last
/// change); PodTimelines too, but only once their pod is gone.
pub fn expire_records(
    store: &Store,
    now: Timestamp,
    ttl: Duration,
) -> nodelet_store::Result<usize> {
    let ttl = jiff::SignedDuration::try_from(ttl).unwrap_or(jiff::SignedDuration::MAX);
    let Some(cutoff) = now.checked_sub(ttl).ok() else {
        return Ok(0);
    };
    let live: std::collections::HashSet<String> = store
        .list_objects("Pod", None)?
        .into_iter()
        .filter_map(|(p, _)| p.pointer("/metadata/uid")?.as_str().map(str::to_owned))
        .collect();
    let mut expired: Vec<(&'static str, String, String)> = Vec::new();
    let name_of = |v: &Value| -> Option<(String, String)> {
        Some((
            v.pointer("/metadata/namespace")?.as_str()?.to_owned(),
            v.pointer("/metadata/name")?.as_str()?.to_owned(),
        ))
    };
    for (v, _) in store.list_objects(crate::hooks::record::KIND, None)? {
        if delivery_last_seen(&v).is_some_and(|t| t <= cutoff)
            && let Some((ns, n)) = name_of(&v)
        {
            expired.push((crate::hooks::record::KIND, ns, n));
        }
    }
    for (v, _) in store.list_objects(nodelet_timeline::model::KIND, None)? {
        let pod_uid = v
            .pointer("/spec/podUID")
            .and_then(|u| u.as_str())
            .unwrap_or("");
        if !live.contains(pod_uid)
            && timeline_last_seen(&v).is_some_and(|t| t <= cutoff)
            && let Some((ns, n)) = name_of(&v)
        {
            expired.push((nodelet_timeline::model::KIND, ns, n));
        }
    }
    if expired.is_empty() {
        return Ok(0);
    }
    store.batch(|b| {
        for (kind, ns, name) in &expired {
            b.delete_object(kind, ns, name);
        }
    })?;
    Ok(expired.len())
}

/// Writes closer together than this share one sweep: a tenth of the TTL,
/// between 1 s and 1 min (an event lives at most that much past its TTL).
pub fn sweep_interval(ttl: Duration) -> Duration {
    (ttl / 10).clamp(Duration::from_secs(1), Duration::from_secs(60))
}

/// A store file below this size is never compacted while the agent runs
/// (compaction holds every reader and writer for its duration).
pub const COMPACT_MIN_BYTES: u64 = 4 << 20;

/// The count bounds are applied at most this long after the write that
/// crossed them: between two sweeps the store grows by what this much pod
/// churn writes.
pub const RETENTION_EVERY: Duration = Duration::from_secs(10);

/// The retention sweeper: what it sweeps and where it counts.
pub struct Sweeper {
    pub store: Arc<Store>,
    pub clock: Arc<dyn Clock>,
    pub ttl: Duration,
    pub retention: super::retention::Retention,
    /// `nodelet_events_dropped_total`.
    pub events_dropped: prometheus_client::metrics::counter::Counter,
    /// `nodelet_retention_sweeps_total`.
    pub sweeps: prometheus_client::metrics::counter::Counter,
}

impl Sweeper {
    /// Sweeps until `stop` is cancelled: expiry by TTL, the count bounds of
    /// [`retention`](super::retention), then a compaction when the file is
    /// mostly free pages (what was deleted is given back to the
    /// filesystem, not only reused).
    ///
    /// Event-driven: a sweep runs once after start (what an earlier run
    /// left), then only when something was written since the last one
    /// (writes are what can cross a count bound) or when the oldest event
    /// or record reaches its TTL. An idle node never wakes for it. Writes
    /// within [`sweep_interval`] (at most [`RETENTION_EVERY`]) of each
    /// other share one sweep, so a burst of pod starts costs one.
    pub async fn run(self, stop: CancellationToken) {
        let every = sweep_interval(self.ttl).min(RETENTION_EVERY);
        let (tx, mut wrote) = tokio::sync::watch::channel(());
        self.store.observe_writes(Arc::new(move || {
            tx.send_replace(());
        }));
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                () = self.clock.sleep(every) => {}
            }
            // Writes from here on are after this sweep began: they get one
            // of their own (the sweep's own deletions cause one more, which
            // finds nothing and writes nothing).
            wrote.borrow_and_update();
            let (s, now, ttl, r) = (
                self.store.clone(),
                self.clock.now(),
                self.ttl,
                self.retention,
            );
            let (dropped_total, sweeps) = (self.events_dropped.clone(), self.sweeps.clone());
            let Ok(due) = tokio::task::spawn_blocking(move || {
                // Counted as soon as the deletions committed.
                dropped_total.inc_by(sweep(&s, now, ttl, &r) as u64);
                sweeps.inc();
                next_expiry(&s, ttl)
            })
            .await
            else {
                continue;
            };
            let until_due = due.map(|t| {
                Duration::try_from(t.duration_since(self.clock.now())).unwrap_or(Duration::ZERO)
            });
            tokio::select! {
                () = stop.cancelled() => return,
                r = wrote.changed() => if r.is_err() { return },
                () = async {
                    match until_due {
                        Some(d) => self.clock.sleep(d).await,
                        None => std::future::pending().await,
                    }
                } => {}
            }
        }
    }
}

/// When the next event or record reaches its TTL, if any is stored:
/// the earliest last write plus the TTL. Timelines of live pods never
/// expire, so they do not count (their pod's deletion is a write).
pub fn next_expiry(store: &Store, ttl: Duration) -> Option<Timestamp> {
    let ttl = jiff::SignedDuration::try_from(ttl).ok()?;
    let list = |kind: &str| store.list_objects(kind, None).unwrap_or_default();
    let live: std::collections::HashSet<String> = list("Pod")
        .into_iter()
        .filter_map(|(p, _)| p.pointer("/metadata/uid")?.as_str().map(str::to_owned))
        .collect();
    let events = list("Event").into_iter().filter_map(|(e, _)| last_seen(&e));
    let records = list(crate::hooks::record::KIND)
        .into_iter()
        .filter_map(|(v, _)| delivery_last_seen(&v));
    let timelines = list(nodelet_timeline::model::KIND)
        .into_iter()
        .filter(|(v, _)| {
            let uid = v.pointer("/spec/podUID").and_then(|u| u.as_str());
            !uid.is_some_and(|u| live.contains(u))
        })
        .filter_map(|(v, _)| timeline_last_seen(&v));
    events
        .chain(records)
        .chain(timelines)
        .min()?
        .checked_add(ttl)
        .ok()
}

/// One sweep (see [`Sweeper::run`]); returns how many events the count bounds
/// dropped (said in the log and `nodelet_events_dropped_total`).
pub fn sweep(
    store: &Store,
    now: Timestamp,
    ttl: Duration,
    retention: &super::retention::Retention,
) -> usize {
    let mut events_dropped = 0;
    match crate::store_io::durable(|| expire(store, now, ttl)) {
        Ok(0) => {}
        Ok(n) => tracing::debug!(expired = n, "expired events deleted"),
        Err(e) => tracing::warn!(error = %e, "could not expire events"),
    }
    match crate::store_io::durable(|| expire_records(store, now, ttl)) {
        Ok(0) => {}
        Ok(n) => tracing::debug!(expired = n, "expired hook deliveries and timelines deleted"),
        Err(e) => tracing::warn!(error = %e, "could not expire hook deliveries and timelines"),
    }
    match crate::store_io::durable(|| super::retention::enforce_counted(store, retention)) {
        Ok(d) => {
            if d.events > 0 {
                // A flood: say what was not kept (kube-apiserver has no
                // count bound, so this is news to whoever reads events).
                tracing::info!(
                    dropped = d.events,
                    max_events = retention.max_events,
                    max_events_per_namespace = retention.max_events_per_namespace,
                    "oldest events dropped over --max-events/--max-events-per-namespace"
                );
            }
            if d.records > 0 {
                tracing::debug!(
                    dropped = d.records,
                    "hook deliveries and timelines of deleted pods over --max-deleted-pod-records dropped"
                );
            }
            events_dropped = d.events;
        }
        Err(e) => tracing::warn!(error = %e, "could not apply the event and record bounds"),
    }
    match store.compact_if_sparse(COMPACT_MIN_BYTES) {
        Ok(true) => tracing::info!(bytes = store.file_size(), "state store compacted"),
        Ok(false) => {}
        Err(e) => tracing::warn!(error = %e, "could not compact the state store"),
    }
    events_dropped
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn expires_by_last_occurrence_only_past_the_ttl() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.redb")).unwrap();
        let ev = |name: &str, last: &str| {
            json!({"metadata": {"name": name, "namespace": "ns",
                "creationTimestamp": "2026-01-01T00:00:00Z"}, "lastTimestamp": last})
        };
        store
            .put_object("Event", "ns", "old", &ev("old", "2026-01-01T00:00:00Z"))
            .unwrap();
        // Created as long ago, but repeated recently: kept.
        store
            .put_object(
                "Event",
                "ns",
                "bumped",
                &ev("bumped", "2026-01-01T00:50:00Z"),
            )
            .unwrap();
        store
            .put_object(
                "ConfigMap",
                "ns",
                "cm",
                &json!({"lastTimestamp": "2000-01-01T00:00:00Z"}),
            )
            .unwrap();
        let now: Timestamp = "2026-01-01T00:59:59Z".parse().unwrap();
        assert_eq!(expire(&store, now, DEFAULT_EVENT_TTL).unwrap(), 0);
        let now: Timestamp = "2026-01-01T01:00:00Z".parse().unwrap();
        assert_eq!(expire(&store, now, DEFAULT_EVENT_TTL).unwrap(), 1);
        let left: Vec<_> = store
            .list_objects("Event", None)
            .unwrap()
            .into_iter()
            .map(|(v, _)| v["metadata"]["name"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(left, ["bumped"]);
        assert_eq!(store.list_objects("ConfigMap", None).unwrap().len(), 1);
        assert_eq!(sweep_interval(DEFAULT_EVENT_TTL), Duration::from_secs(60));
        assert_eq!(
            sweep_interval(Duration::from_secs(2)),
            Duration::from_secs(1)
        );
    }

    fn event(store: &Store, name: &str, last: Timestamp) {
        store
            .put_object(
                "Event",
                "ns",
                name,
                &json!({"metadata": {"name": name, "namespace": "ns"},
                    "lastTimestamp": last.to_string()}),
            )
            .unwrap();
    }

    /// Advances the paused clock in steps, letting the sweep's blocking
    /// thread (a real thread) run, until `done` or the limit.
    async fn until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
        let step = (limit / 100).max(Duration::from_secs(1));
        let mut waited = Duration::ZERO;
        while waited < limit {
            if done() {
                return true;
            }
            tokio::time::sleep(step).await;
            std::thread::sleep(Duration::from_millis(2));
            waited += step;
        }
        done()
    }

    fn sweeper(store: &Arc<Store>, clock: &Arc<dyn Clock>, max_events: usize) -> Sweeper {
        Sweeper {
            store: store.clone(),
            clock: clock.clone(),
            ttl: DEFAULT_EVENT_TTL,
            retention: crate::events::retention::Retention {
                max_events,
                ..Default::default()
            },
            events_dropped: Default::default(),
            sweeps: Default::default(),
        }
    }

    /// A store in a temporary directory and a paused clock at a fixed time.
    fn fixture() -> (tempfile::TempDir, Arc<Store>, Arc<dyn Clock>) {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(&dir.path().join("s.redb")).unwrap());
        let clock: Arc<dyn Clock> = Arc::new(crate::clock::TokioClock::new(
            "2026-01-01T00:00:00Z".parse().unwrap(),
        ));
        (dir, store, clock)
    }

    /// Events e0..e4, last written one second apart from `from`.
    fn five_events(store: &Store, from: Timestamp) {
        for i in 0..5 {
            event(
                store,
                &format!("e{i}"),
                from + jiff::SignedDuration::from_secs(i),
            );
        }
    }

    /// What an earlier run left is swept once after start, with no write
    /// and no event old enough for the TTL: the count bounds apply.
    #[tokio::test(start_paused = true)]
    async fn the_first_sweep_applies_the_count_bounds() {
        let (_dir, store, clock) = fixture();
        let now = clock.now();
        five_events(&store, now);
        let stop = CancellationToken::new();
        let task = tokio::spawn(sweeper(&store, &clock, 2).run(stop.clone()));
        let count = || store.list_objects("Event", None).unwrap().len();
        tokio::time::sleep(Duration::from_secs(9)).await;
        assert_eq!(count(), 5, "no sweep before the interval");
        assert!(until(Duration::from_secs(200), || count() == 2).await);
        stop.cancel();
        task.await.unwrap();
    }

    /// With nothing written and nothing due, the sweeper sleeps: an idle
    /// node does no work for it. A write wakes it (once per interval
    /// however many writes); so does the oldest event reaching its TTL.
    #[tokio::test(start_paused = true)]
    async fn sweeps_follow_writes_and_the_next_expiry_not_a_timer() {
        let (_dir, store, clock) = fixture();
        let s = sweeper(&store, &clock, 2);
        let sweeps = s.sweeps.clone();
        let stop = CancellationToken::new();
        let task = tokio::spawn(s.run(stop.clone()));
        assert!(until(Duration::from_secs(30), || sweeps.get() == 1).await);
        // Idle, empty store: nothing for an hour.
        tokio::time::sleep(Duration::from_secs(3600)).await;
        assert_eq!(sweeps.get(), 1, "an idle node was swept");

        // A burst of writes: one sweep, which applies the bound (and,
        // having deleted, one more that finds nothing).
        let now = clock.now();
        five_events(&store, now);
        let count = || store.list_objects("Event", None).unwrap().len();
        assert!(until(Duration::from_secs(30), || count() == 2).await);
        assert!(until(Duration::from_secs(30), || sweeps.get() == 3).await);
        tokio::time::sleep(Duration::from_secs(600)).await;
        assert_eq!(sweeps.get(), 3, "swept again with nothing written or due");

        // The two left expire at their TTL with no write in between.
        assert!(until(Duration::from_secs(3600), || count() == 0).await);
        assert!(
            clock.now() >= now + jiff::SignedDuration::from_secs(3600 + 3),
            "expired before the TTL"
        );
        stop.cancel();
        task.await.unwrap();
    }
}
