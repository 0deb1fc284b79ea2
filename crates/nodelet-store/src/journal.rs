//! The hook delivery journal: Kubernetes promises lifecycle hooks *at least
//! once*. The engine records an intent before delivering a hook and the
//! outcome after; after an agent restart, intents without an outcome
//! ([`crate::Store::journal_pending`]) are the deliveries that may have been
//! interrupted and are delivered again (closing the kubelet's gap where an
//! interrupted postStart is never re-run).
//!
//! One entry per (container, hook): a container gets one postStart and is
//! killed once, so re-sending is another *attempt* of the same delivery,
//! with the same delivery id. Besides `PostStart` and `PreStop` the engine
//! journals `Kill` for kills that are not pod deletions (a probe failure, a
//! failed postStart): the grace and start of the kill, so a restarted agent
//! resumes it with the grace that remains.
//!
//! Schema v2 (see [`crate::schema`]); v1 keyed entries by the container's
//! attempt too and had no delivery id.

use jiff::Timestamp;
use redb::{ReadableTable, WriteTransaction};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Result, StoreError, json_err};
use crate::tables::{JOURNAL, check_id};

/// Which delivery: one container, one hook.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct HookKey {
    pub container_id: String,
    /// `"PostStart"`, `"PreStop"` or `"Kill"`.
    pub hook: String,
}

impl HookKey {
    pub fn new(container_id: impl Into<String>, hook: impl Into<String>) -> Self {
        HookKey {
            container_id: container_id.into(),
            hook: hook.into(),
        }
    }
}

impl std::fmt::Display for HookKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} of container {}", self.hook, self.container_id)
    }
}

/// A kill in progress that is not a pod deletion: what resuming it needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KillIntent {
    /// Grace seconds the kill started with.
    pub grace_secs: i64,
    /// When it started (the Killing event): the grace runs from here.
    pub started_at: Timestamp,
    /// The Killing event's message (`Container c failed liveness probe...`).
    pub message: String,
    /// Why the container is being killed, as the engine names it
    /// (`liveness`, `startup`, `postStartFailed`, `sidecarStop`).
    pub cause: String,
}

/// What the engine knows when it starts (or re-starts) a delivery.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Intent {
    /// Stable across attempts: the first intent's id is kept.
    pub delivery_id: String,
    pub pod_uid: String,
    pub pod_namespace: String,
    pub pod_name: String,
    pub container_name: String,
    /// The container's restart count (its attempt number).
    pub container_attempt: u32,
    /// `Exec`, `HTTPGet`, `Sleep`, `TCPSocket` (empty for `Kill`).
    pub handler: String,
    pub kill: Option<KillIntent>,
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
#[serde(rename_all = "camelCase")]
pub struct JournalEntry {
    pub key: HookKey,
    pub intent: Intent,
    /// Deliveries started so far: 1 = first, more = re-delivered.
    pub attempt: u32,
    pub first_intent_at: Timestamp,
    /// When the latest attempt started.
    pub intent_at: Timestamp,
    /// `None` while the latest attempt is pending.
    pub outcome: Option<HookOutcome>,
    pub outcome_at: Option<Timestamp>,
}

impl JournalEntry {
    pub fn pending(&self) -> bool {
        self.outcome.is_none()
    }
}

/// A journal write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JournalChange {
    /// A delivery (attempt) starts at `at`.
    Intent { intent: Intent, at: Timestamp },
    /// The latest attempt ended at `at`.
    Outcome { outcome: HookOutcome, at: Timestamp },
}

/// An object written in the same transaction as a journal change, rendered
/// from the entry as it is after the change (the HookDelivery view).
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectPut {
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub value: Value,
}

/// Renders the object for an entry; may run more than once.
pub type View = Box<dyn FnMut(&JournalEntry) -> Option<ObjectPut> + Send>;

fn key_tuple(key: &HookKey) -> Result<(&str, &str)> {
    check_id("container id", &key.container_id)?;
    check_id("hook", &key.hook)?;
    Ok((key.container_id.as_str(), key.hook.as_str()))
}

fn read(txn: &WriteTransaction, key: &HookKey) -> Result<Option<JournalEntry>> {
    let table = txn.open_table(JOURNAL)?;
    let got = table.get(key_tuple(key)?)?;
    got.map(|g| decode(g.value())).transpose()
}

pub(crate) fn write(txn: &WriteTransaction, entry: &JournalEntry) -> Result<()> {
    let bytes = serde_json::to_vec(entry).map_err(json_err(entry.key.to_string()))?;
    txn.open_table(JOURNAL)?
        .insert(key_tuple(&entry.key)?, bytes.as_slice())?;
    Ok(())
}

/// Applies `change` to the entry of `key` and returns the entry after it.
pub(crate) fn apply(
    txn: &WriteTransaction,
    key: &HookKey,
    change: &JournalChange,
) -> Result<JournalEntry> {
    let old = read(txn, key)?;
    let entry = match (change, old) {
        (JournalChange::Intent { intent, at }, Some(mut e)) => {
            // Same delivery again: keep its id and first time.
            let id = e.intent.delivery_id.clone();
            e.intent = intent.clone();
            if !id.is_empty() {
                e.intent.delivery_id = id;
            }
            e.attempt += 1;
            e.intent_at = *at;
            e.outcome = None;
            e.outcome_at = None;
            e
        }
        (JournalChange::Intent { intent, at }, None) => JournalEntry {
            key: key.clone(),
            intent: intent.clone(),
            attempt: 1,
            first_intent_at: *at,
            intent_at: *at,
            outcome: None,
            outcome_at: None,
        },
        (JournalChange::Outcome { outcome, at }, Some(mut e)) => {
            e.outcome = Some(outcome.clone());
            e.outcome_at = Some(*at);
            e
        }
        (JournalChange::Outcome { .. }, None) => {
            return Err(StoreError::NoIntent(key.to_string()));
        }
    };
    write(txn, &entry)?;
    Ok(entry)
}

/// Drops every entry of a container (once it is removed for good).
pub(crate) fn forget(txn: &WriteTransaction, container_id: &str) -> Result<usize> {
    let mut table = txn.open_table(JOURNAL)?;
    let mut removed = 0;
    table.retain(|(id, _), _| {
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
    table: &impl ReadableTable<(&'static str, &'static str), &'static [u8]>,
) -> Result<Vec<JournalEntry>> {
    let mut out = Vec::new();
    for row in table.iter()? {
        let (_, v) = row?;
        out.push(decode(v.value())?);
    }
    Ok(out)
}

/// The entries of one container.
pub(crate) fn of_container(
    table: &impl ReadableTable<(&'static str, &'static str), &'static [u8]>,
    container_id: &str,
) -> Result<Vec<JournalEntry>> {
    let mut out = Vec::new();
    for row in table.range((container_id, "")..)? {
        let (k, v) = row?;
        if k.value().0 != container_id {
            break;
        }
        out.push(decode(v.value())?);
    }
    Ok(out)
}
