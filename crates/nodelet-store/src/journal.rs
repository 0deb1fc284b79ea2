//! The hook delivery journal: Kubernetes promises lifecycle hooks *at least
//! once*. The engine records an intent before delivering a hook and the
//! outcome after; after an agent restart, intents without an outcome
//! ([`crate::Store::journal_pending`]) are the deliveries that may have been
//! interrupted and must be re-delivered (closing the kubelet's gap where an
//! interrupted postStart is never re-run).

use jiff::Timestamp;
use redb::{ReadableTable, WriteTransaction};
use serde::{Deserialize, Serialize};

use crate::error::{Result, StoreError, json_err};
use crate::tables::{JOURNAL, check_id};

/// One hook delivery: which container, which hook, which container attempt.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct HookKey {
    pub container_id: String,
    /// `"PostStart"` or `"PreStop"`.
    pub hook: String,
    pub attempt: u32,
}

impl std::fmt::Display for HookKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} hook of container {} (attempt {})",
            self.hook, self.container_id, self.attempt
        )
    }
}

/// How a delivery ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum HookOutcome {
    Succeeded,
    Failed {
        message: String,
    },
    /// Stopped because the container died or the pod was force-deleted.
    Cancelled,
}

/// What the journal knows about one delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalEntry {
    pub key: HookKey,
    /// When the latest intent was recorded.
    pub intent_at: Timestamp,
    /// How many intents were recorded: more than 1 means re-delivered.
    pub deliveries: u32,
    /// `None` while pending.
    pub outcome: Option<HookOutcome>,
    pub outcome_at: Option<Timestamp>,
}

fn key_tuple(key: &HookKey) -> Result<(&str, &str, u32)> {
    check_id("container id", &key.container_id)?;
    check_id("hook", &key.hook)?;
    Ok((key.container_id.as_str(), key.hook.as_str(), key.attempt))
}

fn read(txn: &WriteTransaction, key: &HookKey) -> Result<Option<JournalEntry>> {
    let table = txn.open_table(JOURNAL)?;
    let got = table.get(key_tuple(key)?)?;
    got.map(|g| decode(g.value())).transpose()
}

fn write(txn: &WriteTransaction, entry: &JournalEntry) -> Result<()> {
    let bytes = serde_json::to_vec(entry).map_err(json_err(entry.key.to_string()))?;
    txn.open_table(JOURNAL)?
        .insert(key_tuple(&entry.key)?, bytes.as_slice())?;
    Ok(())
}

pub(crate) fn intent(txn: &WriteTransaction, key: &HookKey) -> Result<()> {
    let deliveries = read(txn, key)?.map(|e| e.deliveries).unwrap_or(0) + 1;
    write(
        txn,
        &JournalEntry {
            key: key.clone(),
            intent_at: Timestamp::now(),
            deliveries,
            outcome: None,
            outcome_at: None,
        },
    )
}

pub(crate) fn outcome(txn: &WriteTransaction, key: &HookKey, outcome: &HookOutcome) -> Result<()> {
    let Some(mut entry) = read(txn, key)? else {
        return Err(StoreError::NoIntent(key.to_string()));
    };
    entry.outcome = Some(outcome.clone());
    entry.outcome_at = Some(Timestamp::now());
    write(txn, &entry)
}

/// Drops every entry of a container (once it is removed for good).
pub(crate) fn forget(txn: &WriteTransaction, container_id: &str) -> Result<usize> {
    let mut table = txn.open_table(JOURNAL)?;
    let mut removed = 0;
    table.retain(|(id, _, _), _| {
        let keep = id != container_id;
        if !keep {
            removed += 1;
        }
        keep
    })?;
    Ok(removed)
}

pub(crate) fn decode(bytes: &[u8]) -> Result<JournalEntry> {
    serde_json::from_slice(bytes).map_err(json_err("hook journal entry"))
}

/// Every entry, in key order.
pub(crate) fn all(
    table: &impl ReadableTable<(&'static str, &'static str, u32), &'static [u8]>,
) -> Result<Vec<JournalEntry>> {
    let mut out = Vec::new();
    for row in table.iter()? {
        let (_, v) = row?;
        out.push(decode(v.value())?);
    }
    Ok(out)
}
