//! Container records: what the engine created (id, pod uid, container name,
//! attempt...), kept so that after an agent restart it can match the
//! runtime's containers to pods. Opaque JSON to the store.

use redb::WriteTransaction;
use serde_json::Value;

use crate::error::{Result, json_err};
use crate::tables::{CONTAINERS, check_id};

pub(crate) fn put(txn: &WriteTransaction, id: &str, record: &Value) -> Result<()> {
    check_id("container id", id)?;
    let bytes = serde_json::to_vec(record).map_err(json_err(format!("container {id}")))?;
    txn.open_table(CONTAINERS)?.insert(id, bytes.as_slice())?;
    Ok(())
}

pub(crate) fn delete(txn: &WriteTransaction, id: &str) -> Result<bool> {
    Ok(txn.open_table(CONTAINERS)?.remove(id)?.is_some())
}

pub(crate) fn decode(id: &str, bytes: &[u8]) -> Result<Value> {
    serde_json::from_slice(bytes).map_err(json_err(format!("container {id}")))
}
