//! Table layout of `state.redb` and how keys are encoded.
//!
//! Objects are keyed by the string `kind/namespace/name` (namespace empty for
//! cluster-scoped kinds), so listing one kind, or one kind in one namespace,
//! is a single ordered range scan over a prefix. None of the parts may
//! contain `/`, which Kubernetes names and kinds never do.

use redb::TableDefinition;

use crate::error::{Result, StoreError};

/// Store-wide counters: [`META_RV`], [`META_COMPACTED`], [`META_SCHEMA`].
pub(crate) const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// The schema version of the file (absent in v1 files).
pub(crate) const META_SCHEMA: &str = "schema_version";
/// The last resourceVersion handed out.
pub(crate) const META_RV: &str = "resource_version";
/// The highest resourceVersion dropped from the change log (0: none).
pub(crate) const META_COMPACTED: &str = "changes_compacted_through";

/// `kind/namespace/name` → (resourceVersion, JSON bytes of the object).
pub(crate) const OBJECTS: TableDefinition<&str, (u64, &[u8])> = TableDefinition::new("objects");
/// container id → JSON bytes of the engine's record.
pub(crate) const CONTAINERS: TableDefinition<&str, &[u8]> = TableDefinition::new("containers");
/// (container id, hook) → JSON bytes of a `JournalEntry` (schema v2).
pub(crate) const JOURNAL: TableDefinition<(&str, &str), &[u8]> =
    TableDefinition::new("hook_journal_v2");
/// Schema v1's journal: (container id, hook, container attempt) → JSON.
/// Only read by the v1 → v2 migration, which deletes it.
pub(crate) const JOURNAL_V1: TableDefinition<(&str, &str, u32), &[u8]> =
    TableDefinition::new("hook_journal");

/// Every table name a nodelet store may hold (any schema version): a file
/// with other tables is not ours.
pub(crate) const KNOWN_TABLES: [&str; 6] = [
    "meta",
    "objects",
    "containers",
    "hook_journal",
    "hook_journal_v2",
    "changes",
];
/// resourceVersion → JSON bytes of a `Change`.
pub(crate) const CHANGES: TableDefinition<u64, &[u8]> = TableDefinition::new("changes");

const SEP: char = '/';

fn check_part(part: &'static str, value: &str, allow_empty: bool) -> Result<()> {
    if !allow_empty && value.is_empty() {
        return Err(StoreError::InvalidKey {
            part,
            value: value.to_string(),
            reason: "must not be empty",
        });
    }
    if value.contains(SEP) {
        return Err(StoreError::InvalidKey {
            part,
            value: value.to_string(),
            reason: "must not contain '/'",
        });
    }
    Ok(())
}

/// The key of one object.
pub(crate) fn object_key(kind: &str, namespace: &str, name: &str) -> Result<String> {
    check_part("kind", kind, false)?;
    check_part("namespace", namespace, true)?;
    check_part("name", name, false)?;
    Ok(format!("{kind}{SEP}{namespace}{SEP}{name}"))
}

/// The key prefix of a kind, or of a kind in one namespace.
pub(crate) fn object_prefix(kind: &str, namespace: Option<&str>) -> Result<String> {
    check_part("kind", kind, false)?;
    match namespace {
        Some(ns) => {
            check_part("namespace", ns, true)?;
            Ok(format!("{kind}{SEP}{ns}{SEP}"))
        }
        None => Ok(format!("{kind}{SEP}")),
    }
}

/// The first key after every key starting with `prefix` (which ends in `/`):
/// `/` + 1 is `0`, so `[prefix, end)` is exactly the prefix's keys.
pub(crate) fn prefix_end(prefix: &str) -> String {
    let mut end = prefix[..prefix.len() - SEP.len_utf8()].to_string();
    end.push('0');
    end
}

/// Checks a container id or hook name used as a journal/container key part.
pub(crate) fn check_id(part: &'static str, value: &str) -> Result<()> {
    if value.is_empty() {
        return Err(StoreError::InvalidKey {
            part,
            value: String::new(),
            reason: "must not be empty",
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_prefix_ranges() {
        assert_eq!(
            object_key("Pod", "default", "web").unwrap(),
            "Pod/default/web"
        );
        assert_eq!(object_key("Node", "", "n1").unwrap(), "Node//n1");
        let p = object_prefix("Pod", Some("default")).unwrap();
        assert_eq!(p, "Pod/default/");
        assert_eq!(prefix_end(&p), "Pod/default0");
        let end = prefix_end(&p);
        assert!("Pod/default/zzz" < end.as_str());
        // Neighbouring namespaces sort outside [prefix, end).
        for other in ["Pod/default-2/a", "Pod/default./a", "Pod/default0/a"] {
            assert!(other < p.as_str() || other >= end.as_str(), "{other}");
        }
        assert!(matches!(
            object_key("Pod", "a/b", "x"),
            Err(StoreError::InvalidKey {
                part: "namespace",
                ..
            })
        ));
        assert!(matches!(
            object_key("", "a", "x"),
            Err(StoreError::InvalidKey { part: "kind", .. })
        ));
    }
}
