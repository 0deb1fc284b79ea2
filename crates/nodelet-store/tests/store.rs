//! Behaviour of the store through its public API, on real files.

use std::sync::Arc;

use nodelet_store::{
    CHANGE_LOG_CAPACITY, ChangeType, HookKey, HookOutcome, Intent, JournalChange, JournalEntry,
    Store, StoreError,
};
use serde_json::json;

fn tmp() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.redb");
    (dir, path)
}

#[test]
fn objects_round_trip_list_and_delete() {
    let (_d, path) = tmp();
    let s = Store::open(&path).unwrap();
    assert_eq!(s.current_resource_version().unwrap(), 0);
    let pod = json!({"metadata": {"name": "web", "uid": "u1"}, "spec": {"x": [1, 2]}});
    let rv1 = s.put_object("Pod", "default", "web", &pod).unwrap();
    assert_eq!(rv1, 1);
    assert_eq!(
        s.get_object("Pod", "default", "web").unwrap(),
        Some((pod.clone(), 1))
    );
    let rv2 = s
        .put_object("Pod", "default", "db", &json!({"n": "db"}))
        .unwrap();
    s.put_object("Pod", "default-2", "other", &json!({"n": "other"}))
        .unwrap();
    s.put_object("Pod", "kube", "k", &json!({"n": "k"}))
        .unwrap();
    s.put_object("Service", "default", "web", &json!({"svc": true}))
        .unwrap();
    s.put_object("Node", "", "n1", &json!({"node": 1})).unwrap();

    let in_default = s.list_objects("Pod", Some("default")).unwrap();
    assert_eq!(
        in_default,
        vec![(json!({"n": "db"}), rv2), (pod.clone(), rv1)]
    );
    assert_eq!(s.list_objects("Pod", None).unwrap().len(), 4);
    assert_eq!(s.list_objects("Service", None).unwrap().len(), 1);
    assert_eq!(
        s.list_objects("Node", Some("")).unwrap(),
        vec![(json!({"node": 1}), 6)]
    );
    assert!(s.list_objects("Secret", None).unwrap().is_empty());

    let rv = s.delete_object("Pod", "default", "web").unwrap();
    assert_eq!(rv, Some(7));
    assert_eq!(s.get_object("Pod", "default", "web").unwrap(), None);
    assert_eq!(s.delete_object("Pod", "default", "web").unwrap(), None);
    assert_eq!(
        s.current_resource_version().unwrap(),
        7,
        "a no-op delete writes nothing"
    );
}

#[test]
fn keys_with_separator_are_rejected() {
    let (_d, path) = tmp();
    let s = Store::open(&path).unwrap();
    let err = s.put_object("Pod", "a/b", "x", &json!({})).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::InvalidKey {
                part: "namespace",
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(s.current_resource_version().unwrap(), 0);
}

#[test]
fn resource_version_is_monotonic_across_reopen() {
    let (_d, path) = tmp();
    let mut seen = Vec::new();
    for round in 0..3 {
        let s = Store::open(&path).unwrap();
        for i in 0..4 {
            seen.push(
                s.put_object("ConfigMap", "ns", &format!("c{i}"), &json!(round))
                    .unwrap(),
            );
        }
        if let Some(rv) = s.delete_object("ConfigMap", "ns", "c0").unwrap() {
            seen.push(rv);
        }
        assert_eq!(s.current_resource_version().unwrap(), *seen.last().unwrap());
    }
    assert!(seen.windows(2).all(|w| w[1] == w[0] + 1), "{seen:?}");
    let s = Store::open(&path).unwrap();
    assert_eq!(
        s.get_object("ConfigMap", "ns", "c3").unwrap().unwrap().0,
        json!(2)
    );
}

#[test]
fn containers_round_trip() {
    let (_d, path) = tmp();
    let s = Store::open(&path).unwrap();
    let rec = json!({"pod_uid": "u1", "name": "app", "attempt": 0});
    s.put_container("c1", &rec).unwrap();
    s.put_container("c2", &json!({"name": "side"})).unwrap();
    assert_eq!(s.get_container("c1").unwrap(), Some(rec.clone()));
    let ids: Vec<String> = s
        .list_containers()
        .unwrap()
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(ids, ["c1", "c2"]);
    assert!(s.delete_container("c1").unwrap());
    assert!(!s.delete_container("c1").unwrap());
    assert_eq!(s.get_container("c1").unwrap(), None);
    assert_eq!(
        s.current_resource_version().unwrap(),
        0,
        "container records are not objects"
    );
}

fn intent(id: &str) -> Intent {
    Intent {
        delivery_id: id.into(),
        pod_uid: "u1".into(),
        pod_namespace: "default".into(),
        pod_name: "p".into(),
        container_name: "c".into(),
        container_attempt: 0,
        handler: "Exec".into(),
        kill: None,
    }
}

fn at(s: u64) -> jiff::Timestamp {
    jiff::Timestamp::from_second(1_700_000_000 + s as i64).unwrap()
}

#[test]
fn journal_intent_pending_outcome_survives_reopen() {
    let (_d, path) = tmp();
    let post = HookKey::new("c1", "PostStart");
    let pre = HookKey::new("c1", "PreStop");
    {
        let s = Store::open(&path).unwrap();
        assert!(s.journal_pending().unwrap().is_empty());
        let e = s.journal_intent(&post, &intent("d-post"), at(1)).unwrap();
        assert_eq!((e.attempt, e.intent.delivery_id.as_str()), (1, "d-post"));
        s.journal_intent(&pre, &intent("d-pre"), at(2)).unwrap();
        let keys = |v: Vec<JournalEntry>| v.into_iter().map(|e| e.key).collect::<Vec<_>>();
        assert_eq!(
            keys(s.journal_pending().unwrap()),
            vec![post.clone(), pre.clone()]
        );
        s.journal_outcome(&post, &HookOutcome::Succeeded, at(3))
            .unwrap();
        assert_eq!(keys(s.journal_pending().unwrap()), vec![pre.clone()]);
    }
    // "restart": the interrupted preStop is still pending, and re-delivered
    // as attempt 2 of the same delivery (the id of the first intent stays).
    let s = Store::open(&path).unwrap();
    assert_eq!(s.journal_pending().unwrap().len(), 1);
    let e = s
        .journal_intent(&pre, &intent("another-id"), at(10))
        .unwrap();
    assert_eq!((e.attempt, e.intent.delivery_id.as_str()), (2, "d-pre"));
    assert_eq!((e.first_intent_at, e.intent_at), (at(2), at(10)));
    s.journal_outcome(
        &pre,
        &HookOutcome::Failed {
            message: "boom".into(),
        },
        at(11),
    )
    .unwrap();
    assert!(s.journal_pending().unwrap().is_empty());
    let e = s.journal_get(&pre).unwrap().unwrap();
    assert_eq!(e.attempt, 2);
    assert_eq!(
        e.outcome,
        Some(HookOutcome::Failed {
            message: "boom".into()
        })
    );
    assert_eq!(e.outcome_at, Some(at(11)));
    assert_eq!(s.journal_get(&post).unwrap().unwrap().attempt, 1);
    assert_eq!(s.journal_of("c1").unwrap().len(), 2);
    assert!(
        s.journal_of("c").unwrap().is_empty(),
        "prefix is not a match"
    );

    let orphan = HookKey::new("c9", "PreStop");
    assert!(matches!(
        s.journal_outcome(&orphan, &HookOutcome::Cancelled, at(12)),
        Err(StoreError::NoIntent(_))
    ));
    assert_eq!(s.journal_forget("c1").unwrap(), 2);
    assert_eq!(s.journal_get(&pre).unwrap(), None);
}

#[test]
fn journal_change_and_its_view_commit_together() {
    let (_d, path) = tmp();
    let s = Store::open(&path).unwrap();
    let key = HookKey::new("c1", "PostStart");
    let view: nodelet_store::View = Box::new(|e: &JournalEntry| {
        Some(nodelet_store::ObjectPut {
            kind: "HookDelivery".into(),
            namespace: "default".into(),
            name: format!("p-{}", e.intent.delivery_id),
            value: json!({"attempt": e.attempt, "pending": e.pending()}),
        })
    });
    let change = JournalChange::Intent {
        intent: intent("d1"),
        at: at(1),
    };
    let (entry, rv) = s.journal_record(&key, change, Some(view)).unwrap();
    assert_eq!(entry.attempt, 1);
    let (obj, obj_rv) = s
        .get_object("HookDelivery", "default", "p-d1")
        .unwrap()
        .unwrap();
    assert_eq!(obj, json!({"attempt": 1, "pending": true}));
    assert_eq!(rv, Some(obj_rv));
    // A failing change writes no view either.
    let bad: nodelet_store::View = Box::new(|_| {
        Some(nodelet_store::ObjectPut {
            kind: "HookDelivery".into(),
            namespace: "default".into(),
            name: "never".into(),
            value: json!({}),
        })
    });
    let change = JournalChange::Outcome {
        outcome: HookOutcome::Succeeded,
        at: at(2),
    };
    assert!(
        s.journal_record(&HookKey::new("nope", "PreStop"), change, Some(bad))
            .is_err()
    );
    assert_eq!(
        s.get_object("HookDelivery", "default", "never").unwrap(),
        None
    );
}

#[test]
fn batch_is_atomic() {
    let (_d, path) = tmp();
    let s = Store::open(&path).unwrap();
    let key = HookKey::new("c1", "PreStop");
    let rv = s
        .batch(|b| {
            b.put_object("Pod", "ns", "a", &json!(1))
                .put_object("Pod", "ns", "b", &json!(2))
                .put_container("c1", &json!({}))
                .journal(
                    &key,
                    JournalChange::Intent {
                        intent: intent("d"),
                        at: at(1),
                    },
                );
        })
        .unwrap();
    assert_eq!(rv, 2);
    assert_eq!(s.journal_pending().unwrap().len(), 1);
    // A failing op (outcome without intent) aborts everything queued with it.
    let bad = HookKey::new("nope", "PreStop");
    let err = s
        .batch(|b| {
            b.put_object("Pod", "ns", "c", &json!(3))
                .delete_container("c1")
                .journal(
                    &bad,
                    JournalChange::Outcome {
                        outcome: HookOutcome::Succeeded,
                        at: at(2),
                    },
                );
        })
        .unwrap_err();
    assert!(matches!(err, StoreError::NoIntent(_)), "{err}");
    assert_eq!(s.get_object("Pod", "ns", "c").unwrap(), None);
    assert!(s.get_container("c1").unwrap().is_some());
    assert_eq!(s.current_resource_version().unwrap(), 2);
}

#[test]
fn change_log_resumes_and_reports_gone_when_compacted() {
    let (_d, path) = tmp();
    let s = Store::open(&path).unwrap();
    s.put_object("Pod", "ns", "a", &json!(1)).unwrap();
    s.put_object("Pod", "ns", "a", &json!(2)).unwrap();
    s.delete_object("Pod", "ns", "a").unwrap();
    let ch = s.changes_since(0).unwrap();
    let types: Vec<_> = ch
        .iter()
        .map(|c| (c.resource_version, c.change_type))
        .collect();
    assert_eq!(
        types,
        [
            (1, ChangeType::Added),
            (2, ChangeType::Modified),
            (3, ChangeType::Deleted)
        ]
    );
    assert_eq!(ch[2].deleted_object, Some(json!(2)));
    assert_eq!(
        (
            ch[0].kind.as_str(),
            ch[0].namespace.as_str(),
            ch[0].name.as_str()
        ),
        ("Pod", "ns", "a")
    );
    assert_eq!(s.changes_since(2).unwrap().len(), 1);
    assert!(s.changes_since(3).unwrap().is_empty());
    assert!(s.changes_since(99).unwrap().is_empty());

    // Push 10 past the capacity in one transaction (fast: one fsync).
    let extra = CHANGE_LOG_CAPACITY + 10 - 3;
    s.batch(|b| {
        for i in 0..extra {
            b.put_object("Event", "ns", &format!("e{i}"), &json!(i));
        }
    })
    .unwrap();
    let last = s.current_resource_version().unwrap();
    assert_eq!(last, CHANGE_LOG_CAPACITY + 10);
    let all = s.changes_since(10).unwrap();
    assert_eq!(all.len() as u64, CHANGE_LOG_CAPACITY);
    assert_eq!(all[0].resource_version, 11);
    match s.changes_since(9) {
        Err(StoreError::Gone {
            requested: 9,
            oldest_available: 11,
        }) => {}
        other => panic!("expected Gone, got {other:?}"),
    }
    drop(s);
    let s = Store::open(&path).unwrap();
    assert!(matches!(s.changes_since(0), Err(StoreError::Gone { .. })));
}

#[test]
fn readers_see_consistent_snapshots_during_writes() {
    let (_d, path) = tmp();
    let s = Arc::new(Store::open(&path).unwrap());
    s.batch(|b| {
        b.put_object("Pod", "ns", "a", &json!(0))
            .put_object("Pod", "ns", "b", &json!(0));
    })
    .unwrap();
    let writer = {
        let s = s.clone();
        std::thread::spawn(move || {
            for i in 1..=40 {
                // Both objects always change together.
                s.batch(|b| {
                    b.put_object("Pod", "ns", "a", &json!(i)).put_object(
                        "Pod",
                        "ns",
                        "b",
                        &json!(i),
                    );
                })
                .unwrap();
            }
        })
    };
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let s = s.clone();
            std::thread::spawn(move || {
                let mut reads = 0;
                let mut last = 0;
                while last < 40 {
                    let list = s.list_objects("Pod", Some("ns")).unwrap();
                    assert_eq!(list.len(), 2);
                    assert_eq!(list[0].0, list[1].0, "a torn batch was visible");
                    let v = list[0].0.as_u64().unwrap();
                    assert!(v >= last, "went back in time");
                    last = v;
                    reads += 1;
                }
                reads
            })
        })
        .collect();
    writer.join().unwrap();
    for r in readers {
        assert!(r.join().unwrap() > 0);
    }
}

#[test]
fn a_file_that_is_not_a_store_is_a_clear_error() {
    let (_d, path) = tmp();
    std::fs::write(
        &path,
        b"this is not a redb database, just some text that is long enough to matter\n".repeat(200),
    )
    .unwrap();
    let err = Store::open(&path).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, StoreError::Open { .. }), "{msg}");
    assert!(msg.contains(&path.display().to_string()), "{msg}");
}

#[test]
fn open_dir_creates_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("var/lib/nodelet");
    let s = Store::open_dir(&root).unwrap();
    assert_eq!(s.path(), root.join("state.redb"));
    assert!(root.join("state.redb").exists());
    // It holds Secrets: owner-only even under a permissive umask.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(root.join("state.redb"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "{mode:o}");
}

#[test]
fn store_is_shareable_and_exclusive() {
    fn shareable<T: Send + Sync + 'static>() {}
    shareable::<Store>();
    let (_d, path) = tmp();
    let _first = Store::open(&path).unwrap();
    // A second agent (or a second open) must not write the same file.
    let err = Store::open(&path).unwrap_err();
    assert!(matches!(err, StoreError::Open { .. }), "{err}");
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
}

/// Group commit: concurrent writers are folded into fewer durable
/// transactions, each still gets its own result (one failing write does not
/// fail the others that shared its group), and every resourceVersion is
/// handed out once.
#[test]
fn concurrent_writes_are_group_committed_with_per_caller_results() {
    let (_d, path) = tmp();
    let s = Arc::new(Store::open(&path).unwrap());
    let (threads, per) = (32, 20);
    let before = s.commit_count();
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let s = s.clone();
            std::thread::spawn(move || {
                let mut rvs = Vec::new();
                for i in 0..per {
                    if i == per / 2 && t % 4 == 0 {
                        // No intent recorded: this write alone must fail.
                        let key = HookKey::new(format!("c{t}"), "PreStop");
                        let r = s.journal_outcome(&key, &HookOutcome::Succeeded, at(0));
                        assert!(matches!(r, Err(StoreError::NoIntent(_))), "{r:?}");
                    }
                    rvs.push(
                        s.put_object("ConfigMap", "ns", &format!("cm-{t}-{i}"), &json!({"t": t}))
                            .unwrap(),
                    );
                }
                rvs
            })
        })
        .collect();
    let mut all: Vec<u64> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), threads * per, "every write got its own rv");
    assert_eq!(
        s.list_objects("ConfigMap", Some("ns")).unwrap().len(),
        threads * per
    );
    let commits = s.commit_count() - before;
    assert!(
        commits < (threads * per) as u64,
        "{commits} commits for {} concurrent writes: nothing was grouped",
        threads * per
    );
    // Reopening after drop sees everything (the writer closed the file).
    drop(s);
    let s = Store::open(&path).unwrap();
    assert_eq!(
        s.list_objects("ConfigMap", Some("ns")).unwrap().len(),
        threads * per
    );
}

#[test]
fn write_observers_hear_every_committed_write() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_dir(dir.path()).unwrap();
    let heard = Arc::new(AtomicUsize::new(0));
    let h = heard.clone();
    store.observe_writes(Arc::new(move || {
        h.fetch_add(1, Ordering::SeqCst);
    }));
    store
        .put_object(
            "Pod",
            "ns",
            "a",
            &serde_json::json!({"metadata": {"name": "a"}}),
        )
        .unwrap();
    assert_eq!(heard.load(Ordering::SeqCst), 1, "an object write");
    store
        .batch(|b| {
            b.put_object("Event", "ns", "e", &serde_json::json!({}));
        })
        .unwrap();
    assert_eq!(
        heard.load(Ordering::SeqCst),
        2,
        "a batch (events travel in batches)"
    );
    store.put_container("c1", &serde_json::json!({})).unwrap();
    assert_eq!(heard.load(Ordering::SeqCst), 3, "a container record");
    store.delete_object("Pod", "ns", "a").unwrap();
    assert_eq!(heard.load(Ordering::SeqCst), 4, "a deletion");
    // Reads are not writes.
    store.list_objects("Pod", None).unwrap();
    assert_eq!(heard.load(Ordering::SeqCst), 4);
}
