//! AppArmor: whether the host enforces it, and the profile a container's
//! process runs under. `Localhost` names a profile already loaded on the
//! host (the kubelet and containerd pass the name through; runc fails if it
//! is not loaded). `RuntimeDefault` would be containerd's generated
//! `cri-containerd.apparmor.d` profile, which nodelet does not generate:
//! on an AppArmor host it is refused with a clear error rather than run
//! unconfined. On hosts without AppArmor a confined profile fails the
//! container's creation with a clear error (the kubelet refuses such pods
//! at admission).

use std::path::Path;

use crate::error::{Result, RuntimeError};
use crate::types::AppArmorProfile;

/// Whether the kernel enforces AppArmor (the kubelet's and runc's check:
/// the module parameter says `Y`).
pub fn host_enabled() -> bool {
    enabled_at(Path::new("/sys/module/apparmor/parameters/enabled"))
}

fn enabled_at(param: &Path) -> bool {
    std::fs::read_to_string(param).is_ok_and(|s| s.trim_start().starts_with('Y'))
}

/// The profile name for `process.apparmorProfile`, or `None` to leave the
/// process unconfined (Unconfined, unset, privileged, or no AppArmor).
pub fn process_profile(
    profile: Option<&AppArmorProfile>,
    privileged: bool,
    host_enabled: bool,
) -> Result<Option<String>> {
    let Some(profile) = profile else {
        return Ok(None);
    };
    if privileged {
        return Ok(None);
    }
    match profile {
        AppArmorProfile::Unconfined => Ok(None),
        _ if !host_enabled => Err(RuntimeError::Other(
            "apparmor is not supported: the kernel does not enforce AppArmor on this node"
                .to_string(),
        )),
        AppArmorProfile::Localhost(name) => Ok(Some(name.clone())),
        AppArmorProfile::RuntimeDefault => Err(RuntimeError::Other(
            "AppArmor profile RuntimeDefault is not available: nodelet does not generate a default AppArmor profile; load one on the host and use type Localhost".to_string(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detection_and_profiles() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("enabled");
        assert!(!enabled_at(&p));
        std::fs::write(&p, "Y\n").unwrap();
        assert!(enabled_at(&p));
        std::fs::write(&p, "N\n").unwrap();
        assert!(!enabled_at(&p));

        let local = AppArmorProfile::Localhost("k8s-deny-write".into());
        assert_eq!(process_profile(None, false, true).unwrap(), None);
        assert_eq!(
            process_profile(Some(&local), false, true)
                .unwrap()
                .as_deref(),
            Some("k8s-deny-write")
        );
        assert_eq!(process_profile(Some(&local), true, true).unwrap(), None);
        assert!(process_profile(Some(&local), false, false).is_err());
        assert_eq!(
            process_profile(Some(&AppArmorProfile::Unconfined), false, false).unwrap(),
            None
        );
        assert!(process_profile(Some(&AppArmorProfile::RuntimeDefault), false, true).is_err());
    }
}
