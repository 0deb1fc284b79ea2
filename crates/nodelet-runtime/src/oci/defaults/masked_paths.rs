//! The `/proc` and `/sys` paths containerd hides from a container
//! (`maskedPaths`: an empty read-only bind or tmpfs over them) or makes
//! read-only (`readonlyPaths`), as its `populateDefaultUnixSpec` sets them
//! for every CRI container. `procMount: Unmasked` (kubelet sends empty lists)
//! and privileged containers get neither.

use oci_spec::runtime::Linux;

/// containerd's `MaskedPaths`: kernel memory, key material, timers and
/// firmware that say too much about the host (or let it be attacked).
pub const MASKED_PATHS: &[&str] = &[
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
    "/proc/scsi",
];

/// containerd's `ReadonlyPaths`: kernel tunables a container may read but
/// not change.
pub const READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// Sets the masked and read-only paths: the defaults, or none for a
/// privileged container or `procMount: Unmasked`.
pub fn apply(linux: &mut Linux, privileged: bool, unmasked: bool) {
    if privileged || unmasked {
        linux.set_masked_paths(None);
        linux.set_readonly_paths(None);
    } else {
        let v = |t: &[&str]| Some(t.iter().map(|s| s.to_string()).collect());
        linux.set_masked_paths(v(MASKED_PATHS));
        linux.set_readonly_paths(v(READONLY_PATHS));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_privileged_and_unmasked() {
        let mut l = Linux::default();
        apply(&mut l, false, false);
        let m = l.masked_paths().clone().unwrap();
        assert!(m.contains(&"/proc/kcore".to_string()));
        assert!(m.contains(&"/sys/devices/virtual/powercap".to_string()));
        assert_eq!(l.readonly_paths().clone().unwrap().len(), 5);
        apply(&mut l, true, false);
        assert!(l.masked_paths().is_none() && l.readonly_paths().is_none());
        apply(&mut l, false, false);
        apply(&mut l, false, true);
        assert!(l.masked_paths().is_none() && l.readonly_paths().is_none());
    }
}
