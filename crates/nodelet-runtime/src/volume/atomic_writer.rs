//! The kubelet's `AtomicWriter` (`pkg/volume/util/atomic_writer.go`):
//! projected files are written into a fresh hidden timestamped directory,
//! `..data` is a symlink to it swapped in one `rename`, and every
//! user-visible name is a symlink into `..data`:
//!
//! ```text
//! <dir>/key          -> ..data/key
//! <dir>/..data       -> ..2024_05_01_10_00_00.123456789
//! <dir>/..2024_05_01_10_00_00.123456789/key
//! ```
//!
//! A reader that opens `<dir>/key` resolves `..data` once, so it sees the
//! old version or the new one, never a mix and never a half-written file.
//! Names starting with `..` are the writer's own. A payload equal to what
//! is on disk writes nothing.

use std::collections::BTreeSet;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nodelet_spec::volume::Payload;

use super::{VolumeError, VolumeResult};

const DATA_DIR: &str = "..data";
const NEW_DATA_DIR: &str = "..data_tmp";
const MAX_FILE_NAME: usize = 255;
const MAX_PATH: usize = 4096;

/// `validatePath`: relative, no `..` element, no leading `..`, bounded.
pub fn validate_path(p: &str) -> VolumeResult<()> {
    if p.is_empty() {
        return Err(VolumeError(format!(
            "invalid path: must not be empty: {p:?}"
        )));
    }
    if p.starts_with('/') {
        return Err(VolumeError(format!(
            "invalid path: must be relative path: {p}"
        )));
    }
    if p.len() > MAX_PATH {
        return Err(VolumeError(format!(
            "invalid path: must be less than or equal to {MAX_PATH} characters"
        )));
    }
    let items: Vec<&str> = p.split('/').collect();
    for item in &items {
        if *item == ".." {
            return Err(VolumeError(format!(
                "invalid path: must not contain '..': {p}"
            )));
        }
        if item.len() > MAX_FILE_NAME {
            return Err(VolumeError(format!(
                "invalid path: filenames must be less than or equal to {MAX_FILE_NAME} characters"
            )));
        }
    }
    if items[0].starts_with("..") && items[0].len() > 2 {
        return Err(VolumeError(format!(
            "invalid path: must not start with '..': {p}"
        )));
    }
    Ok(())
}

/// Writes `payload` into `target` (which must exist). Returns whether the
/// volume changed.
pub fn write(target: &Path, payload: &Payload, context: &str) -> VolumeResult<bool> {
    let err = |what: &str, e: std::io::Error| VolumeError(format!("{context}: {what}: {e}"));
    for path in payload.keys() {
        validate_path(path)?;
    }
    let data_link = target.join(DATA_DIR);
    let old_ts = match std::fs::read_link(&data_link) {
        Ok(p) => Some(p),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(err("reading ..data", e)),
    };
    let old_ts_path = old_ts.as_ref().map(|t| target.join(t));
    let mut to_remove = BTreeSet::new();
    if let Some(old) = &old_ts_path {
        to_remove = paths_to_remove(payload, old).map_err(|e| err("walking old data", e))?;
        let changed = payload_differs(payload, old).map_err(|e| err("comparing data", e))?;
        if !changed && to_remove.is_empty() {
            return Ok(false);
        }
    }

    let ts_name = new_ts_name();
    let ts_dir = target.join(&ts_name);
    std::fs::create_dir(&ts_dir).map_err(|e| err("creating data directory", e))?;
    // 0755 whatever the umask: group and others must be able to traverse.
    std::fs::set_permissions(&ts_dir, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| err("setting data directory mode", e))?;
    if let Err(e) = write_files(payload, &ts_dir) {
        let _ = std::fs::remove_dir_all(&ts_dir);
        return Err(err("writing payload", e));
    }
    create_visible_links(payload, target).map_err(|e| err("creating visible symlinks", e))?;

    let new_link = target.join(NEW_DATA_DIR);
    let _ = std::fs::remove_file(&new_link);
    if let Err(e) = std::os::unix::fs::symlink(&ts_name, &new_link) {
        let _ = std::fs::remove_dir_all(&ts_dir);
        return Err(err("creating ..data_tmp", e));
    }
    // The one atomic step: readers switch from the old data to the new.
    if let Err(e) = std::fs::rename(&new_link, &data_link) {
        let _ = std::fs::remove_file(&new_link);
        let _ = std::fs::remove_dir_all(&ts_dir);
        return Err(err("renaming ..data_tmp", e));
    }
    let mut last = None;
    for p in &to_remove {
        // Only the top-level symlinks; deeper paths went with the old dir.
        if p.contains('/') {
            continue;
        }
        if let Err(e) = std::fs::remove_file(target.join(p)) {
            last = Some(e);
        }
    }
    if let Some(old) = old_ts_path {
        std::fs::remove_dir_all(&old).map_err(|e| err("removing old data directory", e))?;
    }
    match last {
        Some(e) => Err(err("pruning old visible paths", e)),
        None => Ok(true),
    }
}

/// `..YYYY_MM_DD_HH_MM_SS.<nanos+random>`, unique within the directory.
fn new_ts_name() -> String {
    let now = jiff::Timestamp::now();
    let dt = now.to_zoned(jiff::tz::TimeZone::UTC).datetime();
    let mut rand = [0u8; 4];
    let _ = rustix::rand::getrandom(&mut rand, rustix::rand::GetRandomFlags::empty());
    format!(
        "..{:04}_{:02}_{:02}_{:02}_{:02}_{:02}.{}{}",
        dt.year(),
        dt.month(),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second(),
        dt.subsec_nanosecond(),
        u32::from_le_bytes(rand) % 1000
    )
}

fn write_files(payload: &Payload, dir: &Path) -> std::io::Result<()> {
    for (path, file) in payload {
        let full = dir.join(path);
        if let Some(parent) = full.parent() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o755)
                .create(parent)?;
        }
        let mode = (file.mode as u32) & 0o7777;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&full)?;
        f.write_all(&file.data)?;
        // The umask must not change what the pod asked for.
        f.set_permissions(std::fs::Permissions::from_mode(mode))?;
        if let Some(uid) = file.user {
            std::os::unix::fs::fchown(&f, u32::try_from(uid).ok(), None)?;
        }
    }
    Ok(())
}

fn create_visible_links(payload: &Payload, target: &Path) -> std::io::Result<()> {
    for path in payload.keys() {
        let top = path.split('/').next().unwrap_or(path);
        let visible = target.join(top);
        match std::fs::symlink_metadata(&visible) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::os::unix::fs::symlink(Path::new(DATA_DIR).join(top), &visible)?;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn payload_differs(payload: &Payload, old: &Path) -> std::io::Result<bool> {
    use std::os::unix::fs::MetadataExt;
    for (path, file) in payload {
        let p = old.join(path);
        let md = match std::fs::symlink_metadata(&p) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(true),
            Err(e) => return Err(e),
        };
        // The kubelet compares contents only; a changed mode or owner must
        // reach the files too, so those count as well.
        if md.mode() & 0o7777 != (file.mode as u32) & 0o7777
            || file.user.is_some_and(|u| i64::from(md.uid()) != u)
            || std::fs::read(&p)? != file.data
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Every path of the old version that the new payload does not keep.
fn paths_to_remove(payload: &Payload, old: &Path) -> std::io::Result<BTreeSet<String>> {
    let mut existing = BTreeSet::new();
    walk(old, old, &mut existing)?;
    let mut keep = BTreeSet::new();
    for p in payload.keys() {
        let mut cur = p.as_str();
        loop {
            keep.insert(cur.to_owned());
            match cur.rfind('/') {
                Some(i) => cur = &cur[..i],
                None => break,
            }
        }
    }
    Ok(existing.difference(&keep).cloned().collect())
}

fn walk(base: &Path, dir: &Path, out: &mut BTreeSet<String>) -> std::io::Result<()> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in rd {
        let entry = entry?;
        let path: PathBuf = entry.path();
        if let Ok(rel) = path.strip_prefix(base) {
            out.insert(rel.to_string_lossy().into_owned());
        }
        if entry.file_type()?.is_dir() {
            walk(base, &path, out)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use nodelet_spec::volume::FileProjection;
    use std::os::unix::fs::MetadataExt;

    fn payload(files: &[(&str, &str, i32)]) -> Payload {
        files
            .iter()
            .map(|(p, d, m)| {
                (
                    p.to_string(),
                    FileProjection {
                        data: d.as_bytes().to_vec(),
                        mode: *m,
                        user: None,
                    },
                )
            })
            .collect()
    }

    #[test]
    fn layout_update_and_prune() {
        let dir = tempfile::tempdir().unwrap();
        let t = dir.path();
        assert!(
            write(
                t,
                &payload(&[("a", "1", 0o644), ("sub/b", "2", 0o400)]),
                "t"
            )
            .unwrap()
        );
        assert_eq!(std::fs::read_to_string(t.join("a")).unwrap(), "1");
        assert_eq!(std::fs::read_to_string(t.join("sub/b")).unwrap(), "2");
        assert_eq!(
            std::fs::read_link(t.join("a")).unwrap(),
            Path::new("..data/a")
        );
        assert_eq!(
            std::fs::read_link(t.join("sub")).unwrap(),
            Path::new("..data/sub")
        );
        let ts1 = std::fs::read_link(t.join("..data")).unwrap();
        assert!(ts1.to_string_lossy().starts_with("..2"));
        let md = std::fs::metadata(t.join("sub/b")).unwrap();
        assert_eq!(md.mode() & 0o777, 0o400);
        // Same payload: nothing written.
        assert!(
            !write(
                t,
                &payload(&[("a", "1", 0o644), ("sub/b", "2", 0o400)]),
                "t"
            )
            .unwrap()
        );
        assert_eq!(std::fs::read_link(t.join("..data")).unwrap(), ts1);
        // Update: new data dir, old one and the dropped name gone.
        assert!(write(t, &payload(&[("a", "3", 0o644)]), "t").unwrap());
        let ts2 = std::fs::read_link(t.join("..data")).unwrap();
        assert_ne!(ts1, ts2);
        assert!(!t.join(&ts1).exists());
        assert!(std::fs::symlink_metadata(t.join("sub")).is_err());
        assert_eq!(std::fs::read_to_string(t.join("a")).unwrap(), "3");
        let names: BTreeSet<String> = std::fs::read_dir(t)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 3, "{names:?}");
        // A mode change alone is written.
        assert!(write(t, &payload(&[("a", "3", 0o600)]), "t").unwrap());
    }

    #[test]
    fn reserved_and_escaping_paths_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        for bad in ["..data", "../x", "/abs", "a/../b", ""] {
            assert!(
                write(dir.path(), &payload(&[(bad, "x", 0o644)]), "t").is_err(),
                "{bad}"
            );
        }
    }
}
