//! The API server's preparation of an update before validation
//! (`rest.BeforeUpdate` + the pod strategies' `PrepareForUpdate`): what a
//! client sends for server-owned fields is replaced by the stored values,
//! and `metadata.generation` moves on when the spec changed.

use k8s_openapi::api::core::v1::{Container, Pod};

/// `podStrategy.PrepareForUpdate` and `BeforeUpdate`: status, uid,
/// timestamps and the generation come from `old`; the generation is bumped
/// when the spec changed (`updatePodGeneration`).
pub fn prepare_update(new: &mut Pod, old: &Pod) {
    new.status = old.status.clone();
    let (m, o) = (&mut new.metadata, &old.metadata);
    m.generation = o.generation;
    if m.uid.as_deref().unwrap_or("").is_empty() {
        m.uid = o.uid.clone();
    }
    if o.creation_timestamp.is_some() {
        m.creation_timestamp = o.creation_timestamp.clone();
    }
    if o.deletion_timestamp.is_some() {
        m.deletion_timestamp = o.deletion_timestamp.clone();
    }
    if o.deletion_grace_period_seconds.is_some() && m.deletion_grace_period_seconds.is_none() {
        m.deletion_grace_period_seconds = o.deletion_grace_period_seconds;
    }
    bump_generation(new, old);
}

/// `podResizeStrategy.PrepareForUpdate` (`dropNonResizeUpdates`): the
/// stored pod with only the containers' `resources` and `resizePolicy`
/// taken from `new` (matched by name); everything else in `new` is
/// ignored, as the `pods/resize` subresource does.
pub fn prepare_resize(new: &Pod, old: &Pod) -> Pod {
    let mut pod = old.clone();
    pod.metadata.resource_version = new.metadata.resource_version.clone();
    pod.metadata.uid = new.metadata.uid.clone().or(pod.metadata.uid);
    if let (Some(spec), Some(new_spec)) = (pod.spec.as_mut(), new.spec.as_ref()) {
        take_resources(&mut spec.containers, &new_spec.containers);
        if let (Some(init), Some(new_init)) = (
            spec.init_containers.as_mut(),
            new_spec.init_containers.as_ref(),
        ) {
            take_resources(init, new_init);
        }
    }
    bump_generation(&mut pod, old);
    pod
}

fn take_resources(into: &mut [Container], from: &[Container]) {
    for c in into {
        if let Some(n) = from.iter().find(|n| n.name == c.name) {
            c.resources = n.resources.clone();
            c.resize_policy = n.resize_policy.clone();
        }
    }
}

fn bump_generation(new: &mut Pod, old: &Pod) {
    if new.spec != old.spec {
        new.metadata.generation = Some(old.metadata.generation.unwrap_or(0) + 1);
    }
}
