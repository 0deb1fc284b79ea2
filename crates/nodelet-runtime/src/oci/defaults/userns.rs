//! The spec entries of a container in a pod user namespace: join the
//! pod's pinned user namespace and state its id mappings (runc derives
//! the host ids of the container's root from them, e.g. to own `/dev/pts`).

use oci_spec::runtime::{Linux, LinuxIdMappingBuilder, LinuxNamespace, LinuxNamespaceType};

use crate::types::SandboxInfo;

/// Adds the user namespace of `sandbox`, if it has one.
pub fn apply(linux: &mut Linux, sandbox: &SandboxInfo) {
    let (Some(path), Some(m)) = (&sandbox.namespaces.user, sandbox.id_mapping) else {
        return;
    };
    let mut ns = linux.namespaces().clone().unwrap_or_default();
    let mut user = LinuxNamespace::default();
    user.set_typ(LinuxNamespaceType::User);
    user.set_path(Some(path.clone()));
    ns.push(user);
    linux.set_namespaces(Some(ns));
    // Every field is set: the builder cannot fail.
    let map = LinuxIdMappingBuilder::default()
        .container_id(0u32)
        .host_id(m.host_id)
        .size(m.size)
        .build()
        .ok();
    linux.set_uid_mappings(map.map(|m| vec![m]));
    linux.set_gid_mappings(map.map(|m| vec![m]));
}
