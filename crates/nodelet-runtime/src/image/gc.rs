//! Removing images no container uses: `nodelet image prune` (all of them,
//! as `crictl rmi --prune`) and the kubelet's image garbage collection
//! (`pkg/kubelet/images/image_gc_manager.go`): when the image
//! filesystem's usage reaches `--image-gc-high-threshold` percent (85),
//! unused images are deleted, least recently used first and none younger
//! than the minimum age (2 minutes), until usage is back to
//! `--image-gc-low-threshold` (80).
//!
//! "In use" is the store's own knowledge: the pins of the containers that
//! exist ([`super::pins`]). Everything is decided and removed under the
//! store lock, so a container being created cannot lose its image.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use super::store::{ImageStore, ImageSummary, summary};
use crate::error::{Result, RuntimeError};

/// What `nodelet image prune` did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PruneReport {
    pub removed: Vec<ImageSummary>,
    /// Bytes the image filesystem gained.
    pub freed: u64,
}

/// Capacity and available bytes of the filesystem holding `path`.
pub fn fs_usage(path: &Path) -> Result<(u64, u64)> {
    let st = rustix::fs::statvfs(path).map_err(|e| RuntimeError::io(path, e.into()))?;
    let frsize = st.f_frsize.max(1);
    Ok((st.f_blocks * frsize, st.f_bavail * frsize))
}

impl ImageStore {
    /// Removes every image no container uses, then blobs and layers no
    /// image refers to and abandoned downloads.
    pub fn prune(&self) -> Result<PruneReport> {
        let (_, before) = fs_usage(self.dir())?;
        let lock = self.lock()?;
        let mut state = self.state()?;
        let in_use = self.pins().in_use()?;
        let mut removed = Vec::new();
        state.images.retain(|id, rec| {
            let keep = in_use.contains(id);
            if !keep {
                removed.push(summary(rec));
            }
            keep
        });
        self.write_state(&state, &lock)?;
        self.gc(&state)?;
        self.ingest().prune()?;
        drop(lock);
        let (_, after) = fs_usage(self.dir())?;
        Ok(PruneReport {
            removed,
            freed: after.saturating_sub(before),
        })
    }

    /// Removes image `id` unless a container uses it (checked under the
    /// lock); returns whether it was removed.
    pub fn remove_unused(&self, id: &str) -> Result<bool> {
        let lock = self.lock()?;
        if self.pins().in_use()?.contains(id) {
            return Ok(false);
        }
        let mut state = self.state()?;
        if state.images.remove(id).is_none() {
            return Ok(false);
        }
        self.write_state(&state, &lock)?;
        self.gc(&state)?;
        Ok(true)
    }
}

/// The kubelet's `ImageGCPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GcPolicy {
    /// Usage (percent) at or above which GC runs.
    pub high_threshold: u8,
    /// Usage (percent) GC brings the filesystem back to.
    pub low_threshold: u8,
    /// Images younger than this (since first seen) are never removed.
    pub min_age: Duration,
}

impl Default for GcPolicy {
    fn default() -> Self {
        GcPolicy {
            high_threshold: 85,
            low_threshold: 80,
            min_age: Duration::from_secs(120),
        }
    }
}

impl GcPolicy {
    /// The kubelet's checks: thresholds within 0..=100, low <= high.
    pub fn validate(&self) -> std::result::Result<(), String> {
        if self.high_threshold > 100 {
            return Err(format!(
                "invalid HighThresholdPercent {}, must be in range [0-100]",
                self.high_threshold
            ));
        }
        if self.low_threshold > 100 {
            return Err(format!(
                "invalid LowThresholdPercent {}, must be in range [0-100]",
                self.low_threshold
            ));
        }
        if self.low_threshold > self.high_threshold {
            return Err(format!(
                "LowThresholdPercent {} can not be higher than HighThresholdPercent {}",
                self.low_threshold, self.high_threshold
            ));
        }
        Ok(())
    }

    /// Bytes to free for `capacity`/`available`, or `None` when usage is
    /// below the high threshold (`image_gc_manager.go`'s arithmetic).
    pub fn amount_to_free(&self, capacity: u64, available: u64) -> Option<u64> {
        if capacity == 0 {
            return None;
        }
        let available = available.min(capacity);
        let usage_percent = 100 - (available as u128 * 100 / capacity as u128) as u64;
        if usage_percent < u64::from(self.high_threshold) {
            return None;
        }
        let target_available =
            (capacity as u128 * (100 - u128::from(self.low_threshold)) / 100) as u64;
        Some(target_available.saturating_sub(available))
    }
}

/// What the GC knows of one image between runs.
#[derive(Debug, Clone, Copy)]
struct Seen {
    first_detected: SystemTime,
    last_used: SystemTime,
}

/// One image as the eviction order sees it.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub id: String,
    pub in_use: bool,
    pub first_detected: SystemTime,
    pub last_used: SystemTime,
}

/// Unused images old enough to go, least recently used first (then
/// oldest detected): `imagesInEvictionOrder` + `freeSpace`'s filters.
pub fn eviction_order(candidates: &[Candidate], now: SystemTime, min_age: Duration) -> Vec<String> {
    let mut v: Vec<&Candidate> = candidates
        .iter()
        .filter(|c| !c.in_use && c.last_used < now)
        .filter(|c| now.duration_since(c.first_detected).unwrap_or_default() >= min_age)
        .collect();
    v.sort_by_key(|c| (c.last_used, c.first_detected));
    v.into_iter().map(|c| c.id.clone()).collect()
}

/// What one garbage collection did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcOutcome {
    /// Bytes it had to free (0: usage below the high threshold).
    pub wanted: u64,
    pub freed: u64,
    pub removed: Vec<String>,
}

impl GcOutcome {
    /// The kubelet's `FreeDiskSpaceFailed` message when not enough could
    /// be freed.
    pub fn failure(&self) -> Option<String> {
        (self.freed < self.wanted).then(|| {
            format!(
                "Failed to garbage collect required amount of images. Attempted to free {} bytes, but only found {} bytes eligible to free.",
                self.wanted, self.freed
            )
        })
    }
}

/// The image garbage collector: remembers when images were first seen and
/// last used (in memory, as the kubelet does).
#[derive(Debug)]
pub struct ImageGc {
    policy: GcPolicy,
    seen: HashMap<String, Seen>,
}

impl ImageGc {
    pub fn new(policy: GcPolicy) -> ImageGc {
        ImageGc {
            policy,
            seen: HashMap::new(),
        }
    }

    pub fn policy(&self) -> GcPolicy {
        self.policy
    }

    /// Notes which images exist and which are in use at `now`.
    fn detect(&mut self, store: &ImageStore, now: SystemTime) -> Result<Vec<Candidate>> {
        let in_use = store.pins().in_use()?;
        let images = store.list()?;
        self.seen.retain(|id, _| images.iter().any(|i| &i.id == id));
        let mut out = Vec::new();
        for img in images {
            let used = in_use.contains(&img.id);
            let seen = self.seen.entry(img.id.clone()).or_insert(Seen {
                first_detected: now,
                last_used: SystemTime::UNIX_EPOCH,
            });
            if used {
                seen.last_used = now;
            }
            out.push(Candidate {
                id: img.id,
                in_use: used,
                first_detected: seen.first_detected,
                last_used: seen.last_used,
            });
        }
        Ok(out)
    }

    /// One run: detect, and when usage is at or above the high threshold,
    /// remove unused images until the low threshold is reached.
    pub fn run(&mut self, store: &ImageStore, now: SystemTime) -> Result<GcOutcome> {
        let candidates = self.detect(store, now)?;
        let (capacity, available) = fs_usage(store.dir())?;
        let Some(wanted) = self.policy.amount_to_free(capacity, available) else {
            return Ok(GcOutcome::default());
        };
        let mut outcome = GcOutcome {
            wanted,
            ..GcOutcome::default()
        };
        for id in eviction_order(&candidates, now, self.policy.min_age) {
            if outcome.freed >= wanted {
                break;
            }
            let (_, before) = fs_usage(store.dir())?;
            if store.remove_unused(&id)? {
                let (_, after) = fs_usage(store.dir())?;
                outcome.freed += after.saturating_sub(before);
                outcome.removed.push(id.clone());
                self.seen.remove(&id);
            }
        }
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_like_the_kubelet() {
        let p = GcPolicy::default();
        assert_eq!(p.amount_to_free(1000, 200), None, "80% used");
        assert_eq!(p.amount_to_free(1000, 160), None, "84% used");
        // The kubelet's integer arithmetic: 100 - 151*100/1000 = 85.
        assert_eq!(p.amount_to_free(1000, 151), Some(49));
        assert_eq!(p.amount_to_free(1000, 150), Some(50), "85%: back to 80%");
        assert_eq!(p.amount_to_free(1000, 0), Some(200));
        assert!(p.validate().is_ok());
        let bad = GcPolicy {
            high_threshold: 70,
            low_threshold: 80,
            ..p
        };
        assert!(bad.validate().unwrap_err().contains("can not be higher"));
    }

    #[test]
    fn least_recently_used_first_and_never_too_young() {
        let t = |s: u64| SystemTime::UNIX_EPOCH + Duration::from_secs(s);
        let c = |id: &str, in_use, first, last| Candidate {
            id: id.into(),
            in_use,
            first_detected: t(first),
            last_used: t(last),
        };
        let now = t(1000);
        let order = eviction_order(
            &[
                c("used", true, 0, 1000),
                c("recent", false, 0, 900),
                c("old", false, 0, 100),
                c("never-used", false, 10, 0),
                c("young", false, 950, 0),
            ],
            now,
            Duration::from_secs(120),
        );
        assert_eq!(order, ["never-used", "old", "recent"]);
        let out = GcOutcome {
            wanted: 10,
            freed: 4,
            removed: vec![],
        };
        assert_eq!(
            out.failure().unwrap(),
            "Failed to garbage collect required amount of images. Attempted to free 10 bytes, but only found 4 bytes eligible to free."
        );
    }
}
