//! Hard eviction thresholds (the kubelet's `--eviction-hard`,
//! `pkg/kubelet/eviction`): below them the node reports MemoryPressure /
//! DiskPressure (and the API server taints it), and allocatable keeps them
//! back from capacity. The defaults are the kubelet's:
//! `memory.available<100Mi,nodefs.available<10%,nodefs.inodesFree<5%,imagefs.available<15%,imagefs.inodesFree<5%`.
//! nodelet keeps images under its root, so nodefs and imagefs are the same
//! file system, as on a kubelet whose images share the node's disk.
//!
//! A flag value overrides the signals it names; the others keep their
//! default. `0%` (or `<0`) disables a signal, as kind does for disks.

use std::fmt;

/// A threshold: a share of capacity or an absolute amount.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Threshold {
    Percent(f64),
    Absolute(u64),
}

impl Threshold {
    /// The amount below which the signal fires, for a resource of `capacity`.
    pub fn amount(self, capacity: u64) -> u64 {
        match self {
            Threshold::Percent(p) => (capacity as f64 * p / 100.0) as u64,
            Threshold::Absolute(n) => n,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Eviction {
    pub memory_available: Threshold,
    pub nodefs_available: Threshold,
    pub nodefs_inodes_free: Threshold,
    pub imagefs_available: Threshold,
    pub imagefs_inodes_free: Threshold,
}

impl Default for Eviction {
    fn default() -> Self {
        Eviction {
            memory_available: Threshold::Absolute(100 * 1024 * 1024),
            nodefs_available: Threshold::Percent(10.0),
            nodefs_inodes_free: Threshold::Percent(5.0),
            imagefs_available: Threshold::Percent(15.0),
            imagefs_inodes_free: Threshold::Percent(5.0),
        }
    }
}

/// A byte quantity: `100Mi`, `1G`, `1024`.
fn bytes(s: &str) -> Option<u64> {
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    let (n, suffix) = s.split_at(digits);
    let n: u64 = n.parse().ok()?;
    let mult: u64 = match suffix {
        "" => 1,
        "k" | "K" => 1000,
        "M" => 1000u64.pow(2),
        "G" => 1000u64.pow(3),
        "T" => 1000u64.pow(4),
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        "Ti" => 1 << 40,
        _ => return None,
    };
    n.checked_mul(mult)
}

fn threshold(s: &str) -> Option<Threshold> {
    match s.strip_suffix('%') {
        Some(p) => p
            .parse::<f64>()
            .ok()
            .filter(|p| (0.0..=100.0).contains(p))
            .map(Threshold::Percent),
        None => bytes(s).map(Threshold::Absolute),
    }
}

impl Eviction {
    /// Parses `signal<value,...` over the defaults.
    pub fn parse(s: &str) -> Result<Eviction, String> {
        let mut e = Eviction::default();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (signal, value) = part
                .split_once('<')
                .or_else(|| part.split_once('='))
                .ok_or_else(|| {
                    format!("{part:?}: expected signal<value, e.g. memory.available<100Mi")
                })?;
            let t = threshold(value.trim())
                .ok_or_else(|| format!("{part:?}: {value:?} is not a quantity or a percentage"))?;
            let slot = match signal.trim() {
                "memory.available" => &mut e.memory_available,
                "nodefs.available" => &mut e.nodefs_available,
                "nodefs.inodesFree" => &mut e.nodefs_inodes_free,
                "imagefs.available" => &mut e.imagefs_available,
                "imagefs.inodesFree" => &mut e.imagefs_inodes_free,
                other => {
                    return Err(format!(
                        "{other:?}: unknown eviction signal (memory.available, nodefs.available, nodefs.inodesFree, imagefs.available, imagefs.inodesFree)"
                    ));
                }
            };
            *slot = t;
        }
        Ok(e)
    }
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Threshold::Percent(p) => write!(f, "{p}%"),
            Threshold::Absolute(n) => write!(f, "{n}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_over_the_kubelets_defaults() {
        let e = Eviction::parse("memory.available<200Mi, nodefs.available<0%").unwrap();
        assert_eq!(e.memory_available, Threshold::Absolute(200 << 20));
        assert_eq!(e.nodefs_available, Threshold::Percent(0.0));
        assert_eq!(e.imagefs_available, Threshold::Percent(15.0));
        assert_eq!(Threshold::Percent(10.0).amount(1000), 100);
        assert!(Eviction::parse("disk<1").is_err());
        assert!(Eviction::parse("memory.available<lots").is_err());
        assert!(Eviction::parse("nodefs.available<120%").is_err());
        assert_eq!(Eviction::parse("").unwrap(), Eviction::default());
    }
}
