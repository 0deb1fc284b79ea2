//! A downwardAPI volume's files (`downwardapi.CollectData`): pod metadata
//! (`metadata.name`, `namespace`, `uid`, `labels`, `annotations`, one
//! label or annotation) and container resources (`resourceFieldRef` with
//! its `divisor`), reusing the environment's downward API evaluation.

use k8s_openapi::api::core::v1::{DownwardAPIVolumeFile, Pod};

use super::payload::{FileDefaults, FileProjection, Payload, PayloadError, clean};
use crate::env::{Allocatable, EnvContext, EnvError, field_ref_value, resource_field_value};

/// The files of a downwardAPI volume (or projection) for `pod`. Every item
/// that can be evaluated is kept; the errors of the others come back
/// aggregated, as the kubelet reports them. `node_allocatable` defaults
/// unset limits as for the environment (`defaultPodLimitsForDownwardAPI`
/// serves both).
pub fn downward_api_payload(
    items: &[DownwardAPIVolumeFile],
    pod: &Pod,
    node_name: &str,
    node_allocatable: Option<&Allocatable>,
    defaults: FileDefaults,
) -> Result<Payload, PayloadError> {
    let ctx = EnvContext::new(pod, node_name);
    let mut out = Payload::new();
    let mut errs = Vec::new();
    for item in items {
        let mode = item.mode.unwrap_or(defaults.mode);
        let user = item.user.or(defaults.user);
        let value = if let Some(f) = &item.field_ref {
            field_ref_value(&ctx, f).map_err(|e| e.to_string())
        } else if let Some(r) = &item.resource_field_ref {
            let name = r.container_name.as_deref().unwrap_or("");
            match find_container(pod, name) {
                Some(c) => {
                    resource_field_value(&ctx, c, r, node_allocatable).map_err(|e| match e {
                        EnvError::ContainerNotFound(_) => not_found(pod, name),
                        e => e.to_string(),
                    })
                }
                None => Err(not_found(pod, name)),
            }
        } else {
            Ok(String::new())
        };
        match value {
            Ok(v) => {
                out.insert(
                    clean(&item.path),
                    FileProjection {
                        data: v.into_bytes(),
                        mode,
                        user,
                    },
                );
            }
            Err(e) => errs.push(e),
        }
    }
    match PayloadError::aggregate(errs) {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

fn find_container<'p>(
    pod: &'p Pod,
    name: &str,
) -> Option<&'p k8s_openapi::api::core::v1::Container> {
    let spec = pod.spec.as_ref()?;
    spec.containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .find(|c| c.name == name)
}

fn not_found(pod: &Pod, name: &str) -> String {
    format!(
        "failed to find container {name} in pod {}/{}",
        pod.metadata.namespace.as_deref().unwrap_or("default"),
        pod.metadata.name.as_deref().unwrap_or("")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{
        Container, ObjectFieldSelector, PodSpec, ResourceFieldSelector, ResourceRequirements,
    };
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

    fn pod() -> Pod {
        let mut p = Pod::default();
        p.metadata.name = Some("labelsupdate".into());
        p.metadata.namespace = Some("ns".into());
        p.metadata.uid = Some("u-1".into());
        p.metadata.labels = Some(
            [("key1", "value1"), ("key2", "value2")]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        p.metadata.annotations = Some(
            [("builder", "bar\"quoted\n")]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        p.spec = Some(PodSpec {
            containers: vec![Container {
                name: "c".into(),
                resources: Some(ResourceRequirements {
                    limits: Some(
                        [("memory".to_string(), Quantity("64Mi".into()))]
                            .into_iter()
                            .collect(),
                    ),
                    requests: Some(
                        [("cpu".to_string(), Quantity("250m".into()))]
                            .into_iter()
                            .collect(),
                    ),
                    ..Default::default()
                }),
                ..Default::default()
            }],
            ..Default::default()
        });
        p
    }

    fn field(path: &str, fp: &str) -> DownwardAPIVolumeFile {
        DownwardAPIVolumeFile {
            path: path.into(),
            field_ref: Some(ObjectFieldSelector {
                api_version: Some("v1".into()),
                field_path: fp.into(),
            }),
            ..Default::default()
        }
    }

    fn res(path: &str, r: &str, divisor: Option<&str>) -> DownwardAPIVolumeFile {
        DownwardAPIVolumeFile {
            path: path.into(),
            resource_field_ref: Some(ResourceFieldSelector {
                container_name: Some("c".into()),
                resource: r.into(),
                divisor: divisor.map(|d| Quantity(d.into())),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn metadata_files_as_the_kubelet_formats_them() {
        let items = vec![
            field("labels", "metadata.labels"),
            field("annotations", "metadata.annotations"),
            field("podname", "metadata.name"),
            field("ns", "metadata.namespace"),
            field("uid", "metadata.uid"),
            field("one", "metadata.labels['key2']"),
        ];
        let p =
            downward_api_payload(&items, &pod(), "node", None, FileDefaults::mode(0o644)).unwrap();
        let s = |k: &str| String::from_utf8(p[k].data.clone()).unwrap();
        assert_eq!(s("labels"), "key1=\"value1\"\nkey2=\"value2\"");
        assert_eq!(s("annotations"), "builder=\"bar\\\"quoted\\n\"");
        assert_eq!(s("podname"), "labelsupdate");
        assert_eq!(s("ns"), "ns");
        assert_eq!(s("uid"), "u-1");
        assert_eq!(s("one"), "value2");
    }

    #[test]
    fn resources_with_divisor() {
        let items = vec![
            res("mem", "limits.memory", Some("1Mi")),
            res("cpu", "requests.cpu", Some("1m")),
            res("cpu1", "requests.cpu", None),
        ];
        let p =
            downward_api_payload(&items, &pod(), "node", None, FileDefaults::mode(0o644)).unwrap();
        assert_eq!(p["mem"].data, b"64");
        assert_eq!(p["cpu"].data, b"250");
        assert_eq!(p["cpu1"].data, b"1");
    }

    /// The Projected downwardAPI "node allocatable as default limit" specs:
    /// a limit the container does not set is the node's allocatable.
    #[test]
    fn unset_limits_read_the_nodes_allocatable() {
        let items = vec![
            res("cpu", "limits.cpu", Some("1m")),
            res("mem", "limits.memory", None),
        ];
        let mut pod = pod();
        pod.spec.as_mut().unwrap().containers[0].resources = None;
        let alloc: crate::env::Allocatable = [
            ("cpu".to_string(), Quantity("2".into())),
            ("memory".to_string(), Quantity("1Gi".into())),
        ]
        .into_iter()
        .collect();
        let p = downward_api_payload(
            &items,
            &pod,
            "node",
            Some(&alloc),
            FileDefaults::mode(0o644),
        )
        .unwrap();
        assert_eq!(p["cpu"].data, b"2000");
        assert_eq!(p["mem"].data, b"1073741824");
        let p =
            downward_api_payload(&items, &pod, "node", None, FileDefaults::mode(0o644)).unwrap();
        assert_eq!(p["mem"].data, b"0", "without allocatable, as upstream: 0");
    }

    #[test]
    fn unknown_container_is_an_error() {
        let mut item = res("mem", "limits.memory", None);
        item.resource_field_ref.as_mut().unwrap().container_name = Some("zz".into());
        let e = downward_api_payload(&[item], &pod(), "node", None, FileDefaults::mode(0o644))
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "failed to find container zz in pod ns/labelsupdate"
        );
    }
}
