//! The store's schema version and migrations.
//!
//! The file carries its layout version in the `meta` table
//! (`schema_version`). Opening a store brings an older layout up to date
//! in one transaction per step (all or nothing: a failed migration leaves
//! the file as it was), refuses a newer one, and refuses a file that is
//! not a nodelet store — never silently starting over on someone's data.
//!
//! | version | layout |
//! |---|---|
//! | 1 | no version key; hook journal `hook_journal` keyed (container, hook, container attempt), no delivery id |
//! | 2 | `schema_version` = 2; hook journal `hook_journal_v2` keyed (container, hook) with delivery id, attempt and pod identity |

use std::path::Path;

use jiff::Timestamp;
use redb::{Database, ReadableDatabase, ReadableTable, TableHandle, WriteTransaction};
use serde::Deserialize;

use crate::error::{Result, StoreError};
use crate::journal::{HookKey, HookOutcome, Intent, JournalEntry};
use crate::tables::{
    CHANGES, CONTAINERS, JOURNAL, JOURNAL_V1, KNOWN_TABLES, META, META_SCHEMA, OBJECTS,
};

/// The layout this build writes.
pub const SCHEMA_VERSION: u64 = 2;

/// Checks, creates or migrates the file's tables.
pub(crate) fn prepare(db: &Database, path: &Path) -> Result<()> {
    let foreign = |reason: String| StoreError::Foreign {
        path: path.to_path_buf(),
        reason,
    };
    let (tables, version) = {
        let txn = db.begin_read()?;
        let tables: Vec<String> = txn
            .list_tables()
            .map_err(|e| StoreError::Db(e.into()))?
            .map(|t| t.name().to_owned())
            .collect();
        let version = if tables.iter().any(|t| t == "meta") {
            let meta = txn
                .open_table(META)
                .map_err(|e| foreign(format!("its meta table is not nodelet's: {e}")))?;
            meta.get(META_SCHEMA)?.map(|g| g.value())
        } else {
            None
        };
        (tables, version)
    };
    if let Some(other) = tables.iter().find(|t| !KNOWN_TABLES.contains(&t.as_str())) {
        return Err(foreign(format!("it has a table {other:?}")));
    }
    let version = match version {
        Some(v) => v,
        // Tables but no version: written before versions existed.
        None if !tables.is_empty() => 1,
        None => SCHEMA_VERSION,
    };
    if version > SCHEMA_VERSION {
        return Err(StoreError::TooNew {
            path: path.to_path_buf(),
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    let mut v = version;
    while v < SCHEMA_VERSION {
        let step = || -> Result<()> {
            let txn = db.begin_write()?;
            match v {
                1 => v1_to_v2(&txn)?,
                _ => unreachable!("no migration from schema {v}"),
            }
            txn.open_table(META)?.insert(META_SCHEMA, v + 1)?;
            txn.commit()?;
            Ok(())
        };
        step().map_err(|e| StoreError::Migration {
            path: path.to_path_buf(),
            from: v,
            to: v + 1,
            reason: e.to_string(),
        })?;
        v += 1;
    }
    // Creating every table up front lets readers open them without a
    // "table does not exist" case; a type mismatch means a foreign file.
    let create = || -> Result<()> {
        let txn = db.begin_write()?;
        txn.open_table(META)?.insert(META_SCHEMA, SCHEMA_VERSION)?;
        txn.open_table(OBJECTS)?;
        txn.open_table(CONTAINERS)?;
        txn.open_table(JOURNAL)?;
        txn.open_table(CHANGES)?;
        txn.commit()?;
        Ok(())
    };
    create().map_err(|e| match e {
        StoreError::Db(redb::Error::TableTypeMismatch { table, .. }) => foreign(format!(
            "its table {table:?} has other types than nodelet's"
        )),
        other => other,
    })
}

/// A v1 journal entry.
#[derive(Deserialize)]
struct V1Entry {
    key: V1Key,
    intent_at: Timestamp,
    deliveries: u32,
    outcome: Option<HookOutcome>,
    outcome_at: Option<Timestamp>,
}

#[derive(Deserialize)]
struct V1Key {
    container_id: String,
    hook: String,
    attempt: u32,
}

/// v1 → v2: the journal is re-keyed by (container, hook); each entry gets
/// a delivery id (derived from the container and hook, so stable), its
/// delivery count as the attempt, and the pod identity from the
/// container's record.
fn v1_to_v2(txn: &WriteTransaction) -> Result<()> {
    let mut entries: std::collections::BTreeMap<HookKey, JournalEntry> = Default::default();
    let had_v1 = {
        let exists = txn
            .list_tables()
            .map_err(|e| StoreError::Db(e.into()))?
            .any(|t| t.name() == JOURNAL_V1.name());
        if exists {
            let old = txn.open_table(JOURNAL_V1)?;
            let containers = txn.open_table(CONTAINERS)?;
            for row in old.iter()? {
                let (_, v) = row?;
                let e: V1Entry = serde_json::from_slice(v.value())
                    .map_err(crate::error::json_err("v1 hook journal entry"))?;
                let record: serde_json::Value = match containers.get(e.key.container_id.as_str())? {
                    Some(g) => serde_json::from_slice(g.value()).unwrap_or_default(),
                    None => serde_json::Value::Null,
                };
                let field = |k: &str| record[k].as_str().unwrap_or_default().to_owned();
                let key = HookKey::new(e.key.container_id.clone(), e.key.hook.clone());
                let short: String = e.key.container_id.chars().take(12).collect();
                let entry = JournalEntry {
                    key: key.clone(),
                    intent: Intent {
                        delivery_id: format!("{short}-{}", e.key.hook.to_lowercase()),
                        pod_uid: field("podUid"),
                        pod_namespace: field("namespace"),
                        pod_name: field("pod"),
                        container_name: field("name"),
                        container_attempt: e.key.attempt,
                        handler: String::new(),
                        kill: None,
                    },
                    attempt: e.deliveries.max(1),
                    first_intent_at: e.intent_at,
                    intent_at: e.intent_at,
                    outcome: e.outcome,
                    outcome_at: e.outcome_at,
                };
                // One container has one attempt; keep the latest if not.
                let newer = entries
                    .get(&key)
                    .is_none_or(|old| old.intent.container_attempt <= e.key.attempt);
                if newer {
                    entries.insert(key, entry);
                }
            }
        }
        exists
    };
    for entry in entries.values() {
        crate::journal::write(txn, entry)?;
    }
    if had_v1 {
        txn.delete_table(JOURNAL_V1)
            .map_err(|e| StoreError::Db(e.into()))?;
    }
    Ok(())
}
