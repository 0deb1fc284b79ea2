//! Count bounds on what the store keeps about the past, so its size stays
//! bounded whatever the pod churn: the event TTL alone lets a node that
//! creates and deletes pods quickly accumulate an hour of their events
//! (the 1000-cycle soak grew the store from 0.57 to 11.4 MB).
//!
//! - Events: at most [`Retention::max_events_per_namespace`] per namespace
//!   and [`Retention::max_events`] in all; the ones written longest ago go
//!   first. kube-apiserver bounds events by `--event-ttl` only; this cap is
//!   nodelet's (listed among the README's differences).
//! - HookDelivery records and PodTimelines of pods that are gone: at most
//!   [`Retention::max_gone_pod_records`] of each kind, the oldest first.
//!   Those of existing pods are never dropped (a live pod's hook history
//!   and timeline stay whole).
//!
//! What is dropped is deleted in one transaction; the file's freed pages
//! are reused by later writes and given back by compaction (see
//! [`super::expiry::Sweeper`]).

use std::collections::{HashMap, HashSet};

use jiff::Timestamp;
use nodelet_store::Store;
use serde_json::Value;

/// The count bounds (flags `--max-events`, `--max-events-per-namespace`,
/// `--max-deleted-pod-records`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    pub max_events: usize,
    pub max_events_per_namespace: usize,
    pub max_gone_pod_records: usize,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            max_events: 2000,
            max_events_per_namespace: 1000,
            max_gone_pod_records: 200,
        }
    }
}

/// `(namespace, name)` and when it was last written.
type Entry = (String, String, Option<Timestamp>);

fn entry(v: &Value, when: Option<Timestamp>) -> Option<Entry> {
    Some((
        v.pointer("/metadata/namespace")?.as_str()?.to_owned(),
        v.pointer("/metadata/name")?.as_str()?.to_owned(),
        when,
    ))
}

/// The first timestamp found at one of `paths`.
fn time_at(v: &Value, paths: &[&str]) -> Option<Timestamp> {
    paths
        .iter()
        .find_map(|p| v.pointer(p)?.as_str()?.parse().ok())
}

/// Oldest first (no timestamp counts as oldest), then by name for a stable
/// order.
fn oldest_first(entries: &mut [Entry]) {
    entries.sort_by(|a, b| a.2.cmp(&b.2).then_with(|| (&a.0, &a.1).cmp(&(&b.0, &b.1))));
}

/// The entries beyond `max`, oldest first.
fn beyond(mut entries: Vec<Entry>, max: usize) -> Vec<Entry> {
    if entries.len() <= max {
        return Vec::new();
    }
    oldest_first(&mut entries);
    let n = entries.len() - max;
    entries.truncate(n);
    entries
}

/// The events to drop: per namespace first, then in all.
fn events_over(events: Vec<Entry>, r: &Retention) -> Vec<Entry> {
    let mut by_ns: HashMap<String, Vec<Entry>> = HashMap::new();
    for e in events {
        by_ns.entry(e.0.clone()).or_default().push(e);
    }
    let mut dropped = Vec::new();
    let mut kept = Vec::new();
    for (_, list) in by_ns {
        let over = beyond(list.clone(), r.max_events_per_namespace);
        let gone: HashSet<(String, String)> =
            over.iter().map(|e| (e.0.clone(), e.1.clone())).collect();
        kept.extend(
            list.into_iter()
                .filter(|e| !gone.contains(&(e.0.clone(), e.1.clone()))),
        );
        dropped.extend(over);
    }
    dropped.extend(beyond(kept, r.max_events));
    dropped
}

/// Applies the bounds; returns how many objects were deleted.
pub fn enforce(store: &Store, r: &Retention) -> nodelet_store::Result<usize> {
    enforce_counted(store, r).map(|d| d.events + d.records)
}

/// What one [`enforce_counted`] deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Dropped {
    /// Events over `--max-events` / `--max-events-per-namespace`.
    pub events: usize,
    /// Hook deliveries and timelines over `--max-deleted-pod-records`.
    pub records: usize,
}

/// [`enforce`], saying how many events and how many records went.
pub fn enforce_counted(store: &Store, r: &Retention) -> nodelet_store::Result<Dropped> {
    let events: Vec<Entry> = store
        .list_objects("Event", None)?
        .into_iter()
        .filter_map(|(v, _)| {
            let t = time_at(
                &v,
                &[
                    "/lastTimestamp",
                    "/eventTime",
                    "/metadata/creationTimestamp",
                ],
            );
            entry(&v, t)
        })
        .collect();
    let mut drop: Vec<(&'static str, Entry)> = events_over(events, r)
        .into_iter()
        .map(|e| ("Event", e))
        .collect();
    let events_dropped = drop.len();
    let live: HashSet<String> = store
        .list_objects("Pod", None)?
        .into_iter()
        .filter_map(|(p, _)| p.pointer("/metadata/uid")?.as_str().map(str::to_owned))
        .collect();
    let gone_pod = |v: &Value| {
        !live.contains(
            v.pointer("/spec/podUID")
                .and_then(|u| u.as_str())
                .unwrap_or(""),
        )
    };
    let deliveries: Vec<Entry> = store
        .list_objects(crate::hooks::record::KIND, None)?
        .into_iter()
        .filter(|(v, _)| gone_pod(v))
        .filter_map(|(v, _)| {
            let t = time_at(
                &v,
                &[
                    "/status/completionTime",
                    "/status/startTime",
                    "/metadata/creationTimestamp",
                ],
            );
            entry(&v, t)
        })
        .collect();
    drop.extend(
        beyond(deliveries, r.max_gone_pod_records)
            .into_iter()
            .map(|e| (crate::hooks::record::KIND, e)),
    );
    let timelines: Vec<Entry> = store
        .list_objects(nodelet_timeline::model::KIND, None)?
        .into_iter()
        .filter(|(v, _)| gone_pod(v))
        .filter_map(|(v, _)| {
            let t = v
                .pointer("/marks")
                .and_then(|m| m.as_array()?.last()?.get("time")?.as_str()?.parse().ok());
            entry(&v, t)
        })
        .collect();
    drop.extend(
        beyond(timelines, r.max_gone_pod_records)
            .into_iter()
            .map(|e| (nodelet_timeline::model::KIND, e)),
    );
    if drop.is_empty() {
        return Ok(Dropped::default());
    }
    store.batch(|b| {
        for (kind, (ns, name, _)) in &drop {
            b.delete_object(kind, ns, name);
        }
    })?;
    Ok(Dropped {
        events: events_dropped,
        records: drop.len() - events_dropped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(store: &Store, ns: &str, name: &str, secs: i64) {
        let t = Timestamp::from_second(1_700_000_000 + secs).unwrap();
        store
            .put_object(
                "Event",
                ns,
                name,
                &json!({"metadata": {"name": name, "namespace": ns}, "lastTimestamp": t.to_string()}),
            )
            .unwrap();
    }

    fn names(store: &Store, kind: &str) -> Vec<String> {
        let mut v: Vec<String> = store
            .list_objects(kind, None)
            .unwrap()
            .into_iter()
            .map(|(v, _)| v["metadata"]["name"].as_str().unwrap().to_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn events_capped_per_namespace_then_in_all_oldest_first() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.redb")).unwrap();
        // a: 5 events (a0 oldest), b: 2 newer ones.
        for i in 0..5 {
            event(&store, "a", &format!("a{i}"), i);
        }
        event(&store, "b", "b0", 10);
        event(&store, "b", "b1", 11);
        let r = Retention {
            max_events: 4,
            max_events_per_namespace: 3,
            max_gone_pod_records: 10,
        };
        // a keeps a2..a4 (3 per namespace), then 5 in all > 4: a2 goes.
        assert_eq!(enforce(&store, &r).unwrap(), 3);
        assert_eq!(names(&store, "Event"), ["a3", "a4", "b0", "b1"]);
        // Within the bounds: nothing more.
        assert_eq!(enforce(&store, &r).unwrap(), 0);
    }

    #[test]
    fn records_of_gone_pods_capped_live_pods_kept_whole() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.redb")).unwrap();
        store
            .put_object(
                "Pod",
                "d",
                "live",
                &json!({"metadata": {"name": "live", "namespace": "d", "uid": "u-live"}}),
            )
            .unwrap();
        let kind = crate::hooks::record::KIND;
        let put = |name: &str, uid: &str, secs: i64| {
            let t = Timestamp::from_second(1_700_000_000 + secs).unwrap();
            store
                .put_object(
                    kind,
                    "d",
                    name,
                    &json!({"metadata": {"name": name, "namespace": "d"},
                        "spec": {"podUID": uid}, "status": {"startTime": t.to_string()}}),
                )
                .unwrap();
            store
                .put_object(
                    nodelet_timeline::model::KIND,
                    "d",
                    name,
                    &json!({"metadata": {"name": name, "namespace": "d"},
                        "spec": {"podUID": uid}, "marks": [{"time": t.to_string()}]}),
                )
                .unwrap();
        };
        // The live pod's records are the oldest, yet kept.
        put("live-1", "u-live", 0);
        put("live-2", "u-live", 1);
        for i in 0..4 {
            put(&format!("gone-{i}"), &format!("u{i}"), 10 + i);
        }
        let r = Retention {
            max_events: 10,
            max_events_per_namespace: 10,
            max_gone_pod_records: 2,
        };
        assert_eq!(enforce(&store, &r).unwrap(), 4);
        let want = ["gone-2", "gone-3", "live-1", "live-2"];
        assert_eq!(names(&store, kind), want);
        assert_eq!(names(&store, nodelet_timeline::model::KIND), want);
    }
}
