//! hostPath volumes (`pkg/volume/hostpath`): the path must not contain
//! `..`; with a `type` the kubelet's checks run, with its messages, and the
//! `...OrCreate` types create a directory (0755) or an empty file (0644)
//! when nothing is there.

use std::os::unix::fs::{DirBuilderExt, FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::{VolumeError, VolumeResult};

/// The kubelet's `GetFileType` names.
fn file_type(path: &Path) -> std::io::Result<&'static str> {
    let ft = std::fs::metadata(path)?.file_type();
    Ok(if ft.is_dir() {
        "Directory"
    } else if ft.is_file() {
        "File"
    } else if ft.is_socket() {
        "Socket"
    } else if ft.is_char_device() {
        "CharDevice"
    } else if ft.is_block_device() {
        "BlockDevice"
    } else {
        return Err(std::io::Error::other(
            "only recognise file, directory, socket, block device and character device",
        ));
    })
}

fn exists(path: &Path) -> bool {
    std::fs::metadata(path).is_ok()
}

fn matched(path: &str, want: &str, description: &str) -> VolumeResult<()> {
    let p = Path::new(path);
    if !exists(p) {
        return Err(VolumeError(format!("hostPath {path} doesn't exist")));
    }
    match file_type(p) {
        Err(e) => Err(VolumeError(format!(
            "hostPath type check failed, {path} is not a {description}, unable to determine its type: {e}"
        ))),
        Ok(t) if t != want => Err(VolumeError(format!(
            "hostPath type check failed: {path} is not a {description}, it's a {t}"
        ))),
        Ok(_) => Ok(()),
    }
}

/// Checks `path` against `type_` (empty: no check) and returns it.
pub fn check(path: &str, type_: &str) -> VolumeResult<PathBuf> {
    if path.split('/').any(|c| c == "..") {
        return Err(VolumeError(format!(
            "invalid HostPath `{path}`: must not contain '..'"
        )));
    }
    let p = Path::new(path);
    match type_ {
        "" => {}
        "DirectoryOrCreate" if !exists(p) => {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o755)
                .create(p)
                .map_err(|e| VolumeError::io(format!("mkdir {path}"), e))?;
        }
        "DirectoryOrCreate" | "Directory" => matched(path, "Directory", "directory")?,
        "FileOrCreate" if !exists(p) => {
            std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o644)
                .open(p)
                .map_err(|e| VolumeError::io(format!("open {path}"), e))?;
        }
        "FileOrCreate" | "File" => matched(path, "File", "file")?,
        "Socket" => matched(path, "Socket", "socket file")?,
        "CharDevice" => matched(path, "CharDevice", "character device")?,
        "BlockDevice" => matched(path, "BlockDevice", "block device")?,
        other => return Err(VolumeError(format!("{other} is an invalid volume type"))),
    }
    Ok(p.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn types_and_messages() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().to_str().unwrap().to_owned();
        let file = format!("{dir}/f");
        std::fs::write(&file, "").unwrap();
        assert!(check(&dir, "Directory").is_ok());
        assert!(check(&file, "File").is_ok());
        assert!(check("/dev/null", "CharDevice").is_ok());
        assert_eq!(
            check(&file, "Directory").unwrap_err().to_string(),
            format!("hostPath type check failed: {file} is not a directory, it's a File")
        );
        assert_eq!(
            check(&dir, "Socket").unwrap_err().to_string(),
            format!("hostPath type check failed: {dir} is not a socket file, it's a Directory")
        );
        let missing = format!("{dir}/missing");
        assert_eq!(
            check(&missing, "Directory").unwrap_err().to_string(),
            format!("hostPath {missing} doesn't exist")
        );
        assert!(check(&missing, "").is_ok());
        let made = format!("{dir}/new/deep");
        check(&made, "DirectoryOrCreate").unwrap();
        assert!(Path::new(&made).is_dir());
        let mf = format!("{dir}/created");
        check(&mf, "FileOrCreate").unwrap();
        let mode = std::fs::metadata(&mf).unwrap().mode() & 0o777;
        // 0644 less the umask.
        assert_eq!(mode & !0o644, 0);
        assert!(check("/a/../etc", "").is_err());
    }
}
