//! The store's file over time and under faults: schema versions and the
//! v1 → v2 migration, files that are not (or no longer) a nodelet store,
//! and a disk that fills up and frees again.

use std::path::{Path, PathBuf};

use nodelet_store::{HookKey, HookOutcome, SCHEMA_VERSION, Store, StoreError, Unavailability};
use redb::{Database, ReadableDatabase, TableDefinition};
use serde_json::json;

const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const OBJECTS: TableDefinition<&str, (u64, &[u8])> = TableDefinition::new("objects");
const CONTAINERS: TableDefinition<&str, &[u8]> = TableDefinition::new("containers");
const CHANGES: TableDefinition<u64, &[u8]> = TableDefinition::new("changes");
const JOURNAL_V1: TableDefinition<(&str, &str, u32), &[u8]> = TableDefinition::new("hook_journal");

fn tmp() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.redb");
    (dir, path)
}

/// A file as nodelet wrote it before schema versions existed (v1): the
/// same tables, the journal keyed by (container, hook, attempt).
fn write_v1(path: &Path) {
    let db = Database::create(path).unwrap();
    let txn = db.begin_write().unwrap();
    {
        let mut meta = txn.open_table(META).unwrap();
        meta.insert("resource_version", 1).unwrap();
        let mut objects = txn.open_table(OBJECTS).unwrap();
        let pod = serde_json::to_vec(&json!({"metadata": {"name": "web"}})).unwrap();
        objects
            .insert("Pod/default/web", (1, pod.as_slice()))
            .unwrap();
        txn.open_table(CHANGES).unwrap();
        let mut containers = txn.open_table(CONTAINERS).unwrap();
        let rec = serde_json::to_vec(&json!({
            "id": "c1", "podUid": "u1", "namespace": "default", "pod": "web", "name": "app", "attempt": 2
        }))
        .unwrap();
        containers.insert("c1", rec.as_slice()).unwrap();
        let mut j = txn.open_table(JOURNAL_V1).unwrap();
        let pending = serde_json::to_vec(&json!({
            "key": {"container_id": "c1", "hook": "PostStart", "attempt": 2},
            "intent_at": "2026-01-01T00:00:00Z", "deliveries": 1, "outcome": null, "outcome_at": null
        }))
        .unwrap();
        j.insert(("c1", "PostStart", 2), pending.as_slice())
            .unwrap();
        let done = serde_json::to_vec(&json!({
            "key": {"container_id": "c1", "hook": "PreStop", "attempt": 2},
            "intent_at": "2026-01-01T00:00:01Z", "deliveries": 2,
            "outcome": {"Failed": {"message": "boom"}}, "outcome_at": "2026-01-01T00:00:02Z"
        }))
        .unwrap();
        j.insert(("c1", "PreStop", 2), done.as_slice()).unwrap();
    }
    txn.commit().unwrap();
}

#[test]
fn a_v1_store_is_migrated_to_the_current_schema() {
    let (_d, path) = tmp();
    write_v1(&path);
    let s = Store::open(&path).unwrap();
    // Objects and records are untouched.
    assert!(s.get_object("Pod", "default", "web").unwrap().is_some());
    assert_eq!(s.current_resource_version().unwrap(), 1);
    // The journal is re-keyed, with delivery ids, attempts and pod identity.
    let pending = s.journal_pending().unwrap();
    assert_eq!(pending.len(), 1);
    let e = &pending[0];
    assert_eq!(e.key, HookKey::new("c1", "PostStart"));
    assert_eq!(e.attempt, 1);
    assert_eq!(e.intent.delivery_id, "c1-poststart");
    assert_eq!(
        (
            e.intent.pod_uid.as_str(),
            e.intent.pod_name.as_str(),
            e.intent.container_name.as_str(),
            e.intent.container_attempt
        ),
        ("u1", "web", "app", 2)
    );
    let pre = s
        .journal_get(&HookKey::new("c1", "PreStop"))
        .unwrap()
        .unwrap();
    assert_eq!(pre.attempt, 2);
    assert_eq!(
        pre.outcome,
        Some(HookOutcome::Failed {
            message: "boom".into()
        })
    );
    drop(s);
    // The old table is gone and the version recorded: reopening is a no-op.
    let db = Database::create(&path).unwrap();
    let txn = db.begin_read().unwrap();
    let names: Vec<String> = txn
        .list_tables()
        .unwrap()
        .map(|t| redb::TableHandle::name(&t).to_owned())
        .collect();
    assert!(!names.contains(&"hook_journal".to_owned()), "{names:?}");
    let meta = txn.open_table(META).unwrap();
    assert_eq!(
        meta.get("schema_version").unwrap().unwrap().value(),
        SCHEMA_VERSION
    );
    drop(meta);
    drop(txn);
    drop(db);
    let s = Store::open(&path).unwrap();
    assert_eq!(s.journal_pending().unwrap().len(), 1);
}

#[test]
fn a_new_store_records_its_schema_version() {
    let (_d, path) = tmp();
    drop(Store::open(&path).unwrap());
    let db = Database::create(&path).unwrap();
    let txn = db.begin_read().unwrap();
    let meta = txn.open_table(META).unwrap();
    assert_eq!(
        meta.get("schema_version").unwrap().unwrap().value(),
        SCHEMA_VERSION
    );
}

#[test]
fn a_store_from_a_newer_nodelet_is_refused_untouched() {
    let (_d, path) = tmp();
    drop(Store::open(&path).unwrap());
    {
        let db = Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(META)
            .unwrap()
            .insert("schema_version", 99)
            .unwrap();
        txn.commit().unwrap();
    }
    let err = Store::open(&path).unwrap_err();
    assert!(matches!(err, StoreError::TooNew { found: 99, .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(msg.contains("schema version 99"), "{msg}");
    // Left as it was (redb itself may touch the header on open).
    let db = Database::create(&path).unwrap();
    let txn = db.begin_read().unwrap();
    let meta = txn.open_table(META).unwrap();
    assert_eq!(meta.get("schema_version").unwrap().unwrap().value(), 99);
}

#[test]
fn a_foreign_database_is_refused_not_adopted() {
    let (_d, path) = tmp();
    {
        let db = Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        let users: TableDefinition<&str, &str> = TableDefinition::new("users");
        txn.open_table(users).unwrap().insert("alice", "x").unwrap();
        txn.commit().unwrap();
    }
    let err = Store::open(&path).unwrap_err();
    assert!(matches!(err, StoreError::Foreign { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains(&path.display().to_string()) && msg.contains("\"users\""),
        "{msg}"
    );
    // Nothing of ours was added to it.
    let db = Database::create(&path).unwrap();
    let txn = db.begin_read().unwrap();
    let names: Vec<String> = txn
        .list_tables()
        .unwrap()
        .map(|t| redb::TableHandle::name(&t).to_owned())
        .collect();
    assert_eq!(names, vec!["users".to_owned()]);
    drop(txn);
    drop(db);

    // Same table names, other types: also not ours.
    let (_d2, path2) = tmp();
    {
        let db = Database::create(&path2).unwrap();
        let txn = db.begin_write().unwrap();
        let meta: TableDefinition<&str, &str> = TableDefinition::new("meta");
        txn.open_table(meta).unwrap().insert("k", "v").unwrap();
        txn.commit().unwrap();
    }
    let err = Store::open(&path2).unwrap_err();
    assert!(matches!(err, StoreError::Foreign { .. }), "{err}");
    assert!(err.to_string().contains(&path2.display().to_string()));
}

#[test]
fn a_corrupted_file_is_an_error_naming_it_never_a_reset() {
    let (_d, path) = tmp();
    {
        let s = Store::open(&path).unwrap();
        for i in 0..50 {
            s.put_object("ConfigMap", "ns", &format!("cm-{i}"), &json!({"i": i}))
                .unwrap();
        }
    }
    // Scribble over the file's header (magic number and region layout).
    let mut bytes = std::fs::read(&path).unwrap();
    for b in bytes.iter_mut().take(512) {
        *b ^= 0x5a;
    }
    std::fs::write(&path, &bytes).unwrap();
    let err = Store::open(&path).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    let after = std::fs::read(&path).unwrap();
    assert!(after == bytes, "the corrupted file was rewritten (reset?)");
}

/// A tmpfs of a few MiB holds the store; a filler file takes the rest.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(mib: u32) -> SmallDisk {
        let dir = tempfile::tempdir().unwrap();
        nix::mount::mount(
            Some("tmpfs"),
            dir.path(),
            Some("tmpfs"),
            nix::mount::MsFlags::empty(),
            Some(format!("size={mib}m").as_str()),
        )
        .expect("mounting a tmpfs");
        SmallDisk { dir }
    }
    fn path(&self) -> &Path {
        self.dir.path()
    }
    /// Fills what is left with a filler file.
    fn fill(&self) {
        use std::io::Write;
        let mut f = std::fs::File::create(self.path().join("filler")).unwrap();
        let chunk = vec![0u8; 64 * 1024];
        while f.write_all(&chunk).is_ok() {}
        let _ = f.sync_all();
    }
    fn free(&self) {
        std::fs::remove_file(self.path().join("filler")).unwrap();
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(self.dir.path(), nix::mount::MntFlags::MNT_DETACH);
    }
}

#[test]
fn a_full_disk_refuses_writes_keeps_data_and_recovers_when_space_returns() {
    if !nodelet_testsupport::Needs::root("a_full_disk_refuses_writes", "mounting a small tmpfs")
        .check()
    {
        return;
    }
    let disk = SmallDisk::mount(16);
    let s = Store::open(&disk.path().join("state.redb")).unwrap();
    for i in 0..20 {
        s.put_object("ConfigMap", "ns", &format!("before-{i}"), &json!({"i": i}))
            .unwrap();
    }
    disk.fill();
    // Writes big enough to need new pages fail, with a clear error.
    let big = json!({"pad": "x".repeat(256 * 1024)});
    let mut err = None;
    for i in 0..64 {
        if let Err(e) = s.put_object("ConfigMap", "ns", &format!("big-{i}"), &big) {
            err = Some(e);
            break;
        }
    }
    let err = err.expect("a write failed once the disk was full");
    assert!(err.is_unavailable(), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("state.redb") && msg.contains("out of space"),
        "{msg}"
    );
    assert_eq!(
        s.unavailable().map(|u| u.kind),
        Some(Unavailability::NoSpace)
    );
    // Later writes fail at once, reads still work, nothing recorded is lost.
    assert!(
        s.put_object("ConfigMap", "ns", "small", &json!(1))
            .unwrap_err()
            .is_unavailable()
    );
    assert!(s.list_objects("ConfigMap", Some("ns")).unwrap().len() >= 20);
    // Still full: recovery says so and changes nothing.
    assert!(s.recover().unwrap_err().is_unavailable());
    disk.free();
    s.recover().unwrap();
    assert!(s.unavailable().is_none());
    s.put_object("ConfigMap", "ns", "after", &json!({"ok": true}))
        .unwrap();
    for i in 0..20 {
        assert!(
            s.get_object("ConfigMap", "ns", &format!("before-{i}"))
                .unwrap()
                .is_some(),
            "before-{i} lost"
        );
    }
    drop(s);
    let s = Store::open(&disk.path().join("state.redb")).unwrap();
    assert!(s.get_object("ConfigMap", "ns", "after").unwrap().is_some());
}
