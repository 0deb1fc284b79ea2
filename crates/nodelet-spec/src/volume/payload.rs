//! A volume's files before they are written: relative path → content and
//! mode (the kubelet's `volumeutil.FileProjection`).

use std::collections::BTreeMap;

/// One file of a projected volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileProjection {
    pub data: Vec<u8>,
    /// Permission bits (`0644`), as `defaultMode` / `items[].mode` say.
    pub mode: i32,
    /// Owner uid (`items[].user` / `defaultUser`); `None` keeps the
    /// writer's (root).
    pub user: Option<i64>,
}

/// A source's `defaultMode` and `defaultUser`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileDefaults {
    pub mode: i32,
    pub user: Option<i64>,
}

impl FileDefaults {
    pub fn mode(mode: i32) -> Self {
        FileDefaults { mode, user: None }
    }
}

/// Relative path (cleaned, never absolute, never `..`) → file.
pub type Payload = BTreeMap<String, FileProjection>;

/// Why a payload could not be made. The text is the kubelet's, as it ends
/// up in a `FailedMount` event: `MountVolume.SetUp failed for volume "v" :
/// <this>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PayloadError(pub String);

impl PayloadError {
    /// `utilerrors.NewAggregate`: one error prints alone, several as
    /// `[a, b]`.
    pub fn aggregate(errs: Vec<String>) -> Option<PayloadError> {
        match errs.len() {
            0 => None,
            1 => errs.into_iter().next().map(PayloadError),
            _ => Some(PayloadError(format!("[{}]", errs.join(", ")))),
        }
    }
}

/// `path.Clean` of a relative payload path (validation already refused
/// absolute paths and `..`): `a//b/./c/` → `a/b/c`.
pub(crate) fn clean(path: &str) -> String {
    path.split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect::<Vec<_>>()
        .join("/")
}
