//! Objects (pods, services, configmaps, events...) with resourceVersions and
//! the change log a watch resumes from.
//!
//! Every object write bumps the store-wide counter and appends one
//! [`Change`] in the same transaction, so the counter, the object and the log
//! can never disagree after a crash. The log keeps the last
//! [`CHANGE_LOG_CAPACITY`] changes; asking for older ones is
//! [`StoreError::Gone`], which a Kubernetes-style watch answers with 410 Gone.

use redb::{ReadableTable, WriteTransaction};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Result, StoreError, json_err};
use crate::tables::{CHANGES, META, META_COMPACTED, META_RV, OBJECTS, object_key};

/// How many changes the log keeps.
pub const CHANGE_LOG_CAPACITY: u64 = 10_000;

/// What happened to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChangeType {
    Added,
    Modified,
    Deleted,
}

/// One entry of the change log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub resource_version: u64,
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub change_type: ChangeType,
    /// The object as it was when deleted (a watch cannot read it any more);
    /// `None` for Added/Modified, whose current state is read from the store.
    pub deleted_object: Option<Value>,
}

/// Hands out the next resourceVersion inside `txn`.
pub(crate) fn next_rv(txn: &WriteTransaction) -> Result<u64> {
    let mut meta = txn.open_table(META)?;
    let rv = meta.get(META_RV)?.map(|g| g.value()).unwrap_or(0) + 1;
    meta.insert(META_RV, rv)?;
    Ok(rv)
}

fn log_change(txn: &WriteTransaction, change: &Change) -> Result<()> {
    let bytes = serde_json::to_vec(change).map_err(json_err("change"))?;
    let mut changes = txn.open_table(CHANGES)?;
    changes.insert(change.resource_version, bytes.as_slice())?;
    // rvs are contiguous per object write, so "keep the last N" is a range.
    if change.resource_version > CHANGE_LOG_CAPACITY {
        let drop_through = change.resource_version - CHANGE_LOG_CAPACITY;
        changes.retain_in(..=drop_through, |_, _| false)?;
        let mut meta = txn.open_table(META)?;
        meta.insert(META_COMPACTED, drop_through)?;
    }
    Ok(())
}

pub(crate) fn put(
    txn: &WriteTransaction,
    kind: &str,
    namespace: &str,
    name: &str,
    value: &Value,
) -> Result<u64> {
    let key = object_key(kind, namespace, name)?;
    let bytes = serde_json::to_vec(value).map_err(json_err(&key))?;
    let rv = next_rv(txn)?;
    let existed = {
        let mut objects = txn.open_table(OBJECTS)?;
        let old = objects.insert(key.as_str(), (rv, bytes.as_slice()))?;
        old.is_some()
    };
    log_change(
        txn,
        &Change {
            resource_version: rv,
            kind: kind.to_string(),
            namespace: namespace.to_string(),
            name: name.to_string(),
            change_type: if existed {
                ChangeType::Modified
            } else {
                ChangeType::Added
            },
            deleted_object: None,
        },
    )?;
    Ok(rv)
}

pub(crate) fn delete(
    txn: &WriteTransaction,
    kind: &str,
    namespace: &str,
    name: &str,
) -> Result<Option<u64>> {
    let key = object_key(kind, namespace, name)?;
    let old: Option<Value> = {
        let mut objects = txn.open_table(OBJECTS)?;
        let removed = objects.remove(key.as_str())?;
        match removed {
            None => None,
            Some(g) => Some(serde_json::from_slice(g.value().1).map_err(json_err(&key))?),
        }
    };
    let Some(old) = old else { return Ok(None) };
    let rv = next_rv(txn)?;
    log_change(
        txn,
        &Change {
            resource_version: rv,
            kind: kind.to_string(),
            namespace: namespace.to_string(),
            name: name.to_string(),
            change_type: ChangeType::Deleted,
            deleted_object: Some(old),
        },
    )?;
    Ok(Some(rv))
}

/// Decodes one stored object.
pub(crate) fn decode(key: &str, stored: (u64, &[u8])) -> Result<(Value, u64)> {
    let value = serde_json::from_slice(stored.1).map_err(json_err(key))?;
    Ok((value, stored.0))
}

/// Changes with a resourceVersion greater than `rv`, oldest first.
pub(crate) fn changes_since(
    changes: &impl ReadableTable<u64, &'static [u8]>,
    compacted_through: u64,
    rv: u64,
) -> Result<Vec<Change>> {
    if rv < compacted_through {
        return Err(StoreError::Gone {
            requested: rv,
            oldest_available: compacted_through + 1,
        });
    }
    let mut out = Vec::new();
    for entry in changes.range(rv.saturating_add(1)..)? {
        let (k, v) = entry?;
        let change: Change =
            serde_json::from_slice(v.value()).map_err(json_err(format!("change {}", k.value())))?;
        out.push(change);
    }
    Ok(out)
}
