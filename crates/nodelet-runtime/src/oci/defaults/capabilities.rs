//! Capability sets of a container, as containerd's CRI plugin computes them
//! (`oci.DefaultCapabilities`, `WithCapabilities`, `WithAddedCapabilities`,
//! `WithDroppedCapabilities`): Docker's 14 default capabilities, adds and
//! drops from `securityContext.capabilities`, "ALL" on either side, and
//! every capability the agent holds for privileged containers.

use std::collections::HashSet;

use oci_spec::runtime::{Capability, LinuxCapabilities};

use crate::error::{Result, RuntimeError};

/// containerd's default capability set (Docker's), in its order. As a
/// kernel mask it is `0xa80425fb`, what `CapEff` shows in a default
/// container running as root.
pub const DEFAULT_CAPS: &[&str] = &[
    "CHOWN",
    "DAC_OVERRIDE",
    "FSETID",
    "FOWNER",
    "MKNOD",
    "NET_RAW",
    "SETGID",
    "SETUID",
    "SETFCAP",
    "SETPCAP",
    "NET_BIND_SERVICE",
    "SYS_CHROOT",
    "KILL",
    "AUDIT_WRITE",
];

/// Every capability Linux defines, indexed by capability number (for
/// privileged containers and "ALL").
pub const ALL_CAPS: &[&str] = &[
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
];

/// Capability names of a kernel capability mask (bit n = capability n).
pub fn caps_from_mask(mask: u64) -> Vec<String> {
    ALL_CAPS
        .iter()
        .enumerate()
        .filter(|(i, _)| mask & (1u64 << i) != 0)
        .map(|(_, c)| c.to_string())
        .collect()
}

/// The kernel mask of capability names (unknown names are ignored): what
/// `/proc/<pid>/status` prints as `CapEff` for a process holding them.
pub fn mask_of<S: AsRef<str>>(names: &[S]) -> u64 {
    names
        .iter()
        .filter_map(|n| ALL_CAPS.iter().position(|c| *c == n.as_ref()))
        .fold(0, |m, i| m | (1u64 << i))
}

/// The agent's own bounding set as names (all known capabilities if
/// `/proc/self/status` cannot be read).
pub fn current_capabilities() -> Vec<String> {
    let mask = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapBnd:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .unwrap_or(u64::MAX);
    caps_from_mask(mask)
}

/// The capability set after `add` and `drop` (both may say "ALL"); as
/// containerd orders it, drops apply to the default set first and adds come
/// after, so "drop ALL, add X" keeps X.
///
/// `all` is what "all capabilities" means here: like containerd, the
/// capabilities the agent itself holds (see [`caps_from_mask`]), since a
/// container can never get more than its creator's bounding set.
pub fn effective_capabilities(
    privileged: bool,
    add: &[String],
    drop: &[String],
    all: &[String],
) -> Vec<String> {
    if privileged {
        return all.to_vec();
    }
    let norm = |s: &String| {
        let u = s.trim().to_ascii_uppercase();
        u.strip_prefix("CAP_").map(str::to_string).unwrap_or(u)
    };
    let add: Vec<String> = add.iter().map(norm).collect();
    let drop: Vec<String> = drop.iter().map(norm).collect();
    if add.iter().any(|c| c == "ALL") {
        return all.to_vec();
    }
    let mut caps: Vec<String> = if drop.iter().any(|c| c == "ALL") {
        Vec::new()
    } else {
        DEFAULT_CAPS
            .iter()
            .map(|s| s.to_string())
            .filter(|c| !drop.contains(c))
            .collect()
    };
    for a in add {
        if !caps.contains(&a) {
            caps.push(a);
        }
    }
    caps
}

pub(crate) fn to_caps(names: &[String]) -> Result<HashSet<Capability>> {
    names
        .iter()
        .map(|n| {
            n.parse::<Capability>()
                .map_err(|_| RuntimeError::Other(format!("unknown capability {n:?}")))
        })
        .collect()
}

/// The process capabilities of the OCI spec: bounding, effective and
/// permitted all hold `names`; inheritable and ambient stay empty (as
/// containerd since CVE-2022-24769).
pub fn linux_capabilities(names: &[String]) -> Result<LinuxCapabilities> {
    let caps = to_caps(names)?;
    let mut lc = LinuxCapabilities::default();
    lc.set_bounding(Some(caps.clone()));
    lc.set_effective(Some(caps.clone()));
    lc.set_permitted(Some(caps));
    lc.set_inheritable(None);
    lc.set_ambient(None);
    Ok(lc)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Vec<String> {
        ALL_CAPS.iter().map(|s| s.to_string()).collect()
    }

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn default_set_is_dockers_mask() {
        assert_eq!(mask_of(DEFAULT_CAPS), 0xa80425fb);
        assert_eq!(caps_from_mask(0xa80425fb).len(), DEFAULT_CAPS.len());
        for (i, c) in ALL_CAPS.iter().enumerate() {
            assert_eq!(mask_of(&[c]), 1u64 << i, "{c}");
        }
    }

    #[test]
    fn capability_add_drop() {
        let c = effective_capabilities(
            false,
            &s(&["NET_ADMIN"]),
            &s(&["CAP_KILL", "chown"]),
            &all(),
        );
        assert!(c.contains(&"NET_ADMIN".to_string()));
        assert!(!c.contains(&"KILL".to_string()) && !c.contains(&"CHOWN".to_string()));
        assert_eq!(c.len(), DEFAULT_CAPS.len() - 1);
        assert_eq!(
            effective_capabilities(false, &s(&["NET_BIND_SERVICE"]), &s(&["ALL"]), &all()),
            s(&["NET_BIND_SERVICE"])
        );
        assert_eq!(
            effective_capabilities(false, &s(&["ALL"]), &[], &all()).len(),
            ALL_CAPS.len()
        );
        // Privileged means the creator's set, not more.
        let mine = caps_from_mask(0x000001fffeffffff);
        assert!(!mine.contains(&"SYS_RESOURCE".to_string()));
        assert_eq!(mine.len(), ALL_CAPS.len() - 1);
        assert_eq!(effective_capabilities(true, &[], &[], &mine), mine);
        assert!(to_caps(&s(&["BOGUS"])).is_err());
        assert!(to_caps(&s(ALL_CAPS)).is_ok());
    }
}
