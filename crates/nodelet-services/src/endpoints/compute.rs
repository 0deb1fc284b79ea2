//! Which pods back a Service, and the Endpoints / EndpointSlice objects the
//! controllers would write for it: the endpointslice controller's
//! `podToEndpoint` and reconciler, and the endpoints controller's subsets
//! (`pkg/controller/endpointslice`, `pkg/controller/endpoint`). Pure.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    EndpointAddress, EndpointPort, EndpointSubset, Endpoints, ObjectReference, Pod, Service,
    ServicePort,
};
use k8s_openapi::api::discovery::v1::{
    Endpoint, EndpointConditions, EndpointPort as SlicePort, EndpointSlice,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// `kubernetes.io/service-name`.
pub const LABEL_SERVICE_NAME: &str = "kubernetes.io/service-name";
/// `endpointslice.kubernetes.io/managed-by`.
pub const LABEL_MANAGED_BY: &str = "endpointslice.kubernetes.io/managed-by";
pub const CONTROLLER_NAME: &str = "endpointslice-controller.k8s.io";
/// `service.kubernetes.io/headless` (set on a headless service's objects).
pub const LABEL_HEADLESS: &str = "service.kubernetes.io/headless";
/// `endpoints.kubernetes.io/last-change-trigger-time`.
pub const ANNOTATION_TRIGGER_TIME: &str = "endpoints.kubernetes.io/last-change-trigger-time";

fn ns(meta: &ObjectMeta) -> &str {
    meta.namespace
        .as_deref()
        .filter(|n| !n.is_empty())
        .unwrap_or("default")
}

/// Whether the controllers manage endpoints for `svc`: a non-empty
/// selector and not ExternalName.
pub fn has_selector(svc: &Service) -> bool {
    let Some(spec) = &svc.spec else { return false };
    spec.type_.as_deref() != Some("ExternalName")
        && spec.selector.as_ref().is_some_and(|s| !s.is_empty())
}

/// The Service selects the pod (same namespace, every selector label).
pub fn selects(svc: &Service, pod: &Pod) -> bool {
    if ns(&svc.metadata) != ns(&pod.metadata) || !has_selector(svc) {
        return false;
    }
    let labels = pod.metadata.labels.as_ref();
    svc.spec
        .as_ref()
        .and_then(|s| s.selector.as_ref())
        .into_iter()
        .flatten()
        .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
}

/// `podutil.IsPodReady`: the `Ready` condition is True.
pub fn is_pod_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
        .any(|c| c.type_ == "Ready" && c.status == "True")
}

fn pod_ip(pod: &Pod) -> Option<&str> {
    pod.status
        .as_ref()
        .and_then(|s| s.pod_ip.as_deref())
        .filter(|ip| !ip.is_empty())
}

/// `ShouldPodBeInEndpoints`: has an IP, not finished, and (unless
/// `include_terminating`) not being deleted.
pub fn should_be_in_endpoints(pod: &Pod, include_terminating: bool) -> bool {
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    if matches!(phase, Some("Succeeded" | "Failed")) || pod_ip(pod).is_none() {
        return false;
    }
    include_terminating || pod.metadata.deletion_timestamp.is_none()
}

/// `podutil.FindPort`: a number is itself; a name is the container port
/// of that name and protocol.
pub fn find_port(pod: &Pod, sp: &ServicePort) -> Option<i32> {
    let protocol = sp.protocol.as_deref().unwrap_or("TCP");
    match sp
        .target_port
        .as_ref()
        .unwrap_or(&IntOrString::Int(sp.port))
    {
        IntOrString::Int(0) => Some(sp.port),
        IntOrString::Int(n) => Some(*n),
        IntOrString::String(name) => pod
            .spec
            .iter()
            .flat_map(|s| s.containers.iter())
            .flat_map(|c| c.ports.iter().flatten())
            .find(|p| {
                p.name.as_deref() == Some(name.as_str())
                    && p.protocol.as_deref().unwrap_or("TCP") == protocol
            })
            .map(|p| p.container_port),
    }
}

/// `ShouldSetHostname`: the pod's `hostname` is published when its
/// `subdomain` names this service.
fn hostname_for(pod: &Pod, svc: &Service) -> Option<String> {
    let spec = pod.spec.as_ref()?;
    let hostname = spec.hostname.as_deref().filter(|h| !h.is_empty())?;
    (spec.subdomain.as_deref() == svc.metadata.name.as_deref()
        && ns(&pod.metadata) == ns(&svc.metadata))
    .then(|| hostname.to_owned())
}

fn target_ref(pod: &Pod) -> ObjectReference {
    ObjectReference {
        kind: Some("Pod".into()),
        namespace: Some(ns(&pod.metadata).to_owned()),
        name: pod.metadata.name.clone(),
        uid: pod.metadata.uid.clone(),
        ..Default::default()
    }
}

fn headless(svc: &Service) -> bool {
    svc.spec.as_ref().and_then(|s| s.cluster_ip.as_deref()) == Some("None")
}

/// The labels the controllers put on a service's Endpoints and slices:
/// the service's own, plus the headless marker.
fn base_labels(svc: &Service) -> BTreeMap<String, String> {
    let mut labels = svc.metadata.labels.clone().unwrap_or_default();
    if headless(svc) {
        labels.insert(LABEL_HEADLESS.into(), String::new());
    } else {
        labels.remove(LABEL_HEADLESS);
    }
    labels
}

/// The resolved ports of one pod for every service port it has
/// (unresolvable named ports are left out, as the controller does).
fn pod_ports(svc: &Service, pod: &Pod) -> Vec<(ServicePort, i32)> {
    svc.spec
        .iter()
        .flat_map(|s| s.ports.iter().flatten())
        .filter_map(|sp| find_port(pod, sp).map(|p| (sp.clone(), p)))
        .collect()
}

/// The EndpointSlices of `svc` for `pods` (those of its namespace):
/// one per distinct resolved port set, named `names[i]` (kept stable by
/// the caller; `generateName` style `<svc>-<suffix>`).
pub fn endpoint_slices(svc: &Service, pods: &[&Pod], node_name: &str) -> Vec<SliceDraft> {
    let spec = svc.spec.clone().unwrap_or_default();
    let publish = spec.publish_not_ready_addresses == Some(true);
    let mut groups: BTreeMap<Vec<(String, i32, String)>, Vec<Endpoint>> = BTreeMap::new();
    let mut sorted: Vec<&&Pod> = pods.iter().filter(|p| selects(svc, p)).collect();
    sorted.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    for pod in sorted {
        if !should_be_in_endpoints(pod, true) {
            continue;
        }
        let Some(ip) = pod_ip(pod) else { continue };
        if !ip.contains('.') {
            continue; // IPv4 slices only
        }
        let ports = pod_ports(svc, pod);
        let key = ports
            .iter()
            .map(|(sp, p)| {
                (
                    sp.name.clone().unwrap_or_default(),
                    *p,
                    sp.protocol.clone().unwrap_or_else(|| "TCP".into()),
                )
            })
            .collect();
        let serving = is_pod_ready(pod);
        let terminating = pod.metadata.deletion_timestamp.is_some();
        let ready = publish || (serving && !terminating);
        groups.entry(key).or_default().push(Endpoint {
            addresses: vec![ip.to_owned()],
            conditions: Some(EndpointConditions {
                ready: Some(ready),
                serving: Some(serving),
                terminating: Some(terminating),
            }),
            hostname: hostname_for(pod, svc),
            node_name: pod
                .spec
                .as_ref()
                .and_then(|s| s.node_name.clone())
                .or_else(|| Some(node_name.to_owned())),
            target_ref: Some(target_ref(pod)),
            ..Default::default()
        });
    }
    if groups.is_empty() {
        // A service with no endpoints still has one (empty) slice carrying
        // its ports, as the controller keeps a placeholder.
        groups.insert(Vec::new(), Vec::new());
    }
    groups
        .into_iter()
        .map(|(ports, endpoints)| {
            let ports = if endpoints.is_empty() {
                None
            } else {
                Some(
                    ports
                        .into_iter()
                        .map(|(name, port, protocol)| SlicePort {
                            port: Some(port),
                            protocol: Some(protocol),
                            app_protocol: spec
                                .ports
                                .iter()
                                .flatten()
                                .find(|sp| sp.name.as_deref().unwrap_or("") == name)
                                .and_then(|sp| sp.app_protocol.clone()),
                            name: Some(name),
                        })
                        .collect(),
                )
            };
            SliceDraft { endpoints, ports }
        })
        .collect()
}

/// A slice's content before it gets a name and metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct SliceDraft {
    pub endpoints: Vec<Endpoint>,
    pub ports: Option<Vec<SlicePort>>,
}

/// The EndpointSlice object for `draft`.
pub fn slice_object(svc: &Service, draft: &SliceDraft, name: &str) -> EndpointSlice {
    let mut labels = base_labels(svc);
    labels.insert(
        LABEL_SERVICE_NAME.into(),
        svc.metadata.name.clone().unwrap_or_default(),
    );
    labels.insert(LABEL_MANAGED_BY.into(), CONTROLLER_NAME.into());
    EndpointSlice {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            generate_name: Some(format!(
                "{}-",
                svc.metadata.name.as_deref().unwrap_or_default()
            )),
            namespace: Some(ns(&svc.metadata).to_owned()),
            labels: Some(labels),
            owner_references: Some(vec![owner(svc)]),
            ..Default::default()
        },
        address_type: "IPv4".into(),
        endpoints: (!draft.endpoints.is_empty()).then(|| draft.endpoints.clone()),
        ports: draft.ports.clone(),
    }
}

fn owner(svc: &Service) -> OwnerReference {
    OwnerReference {
        api_version: "v1".into(),
        kind: "Service".into(),
        name: svc.metadata.name.clone().unwrap_or_default(),
        uid: svc.metadata.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// The legacy Endpoints object (`endpoints` controller) for the same
/// pods: one subset per port set, ready addresses and notReadyAddresses;
/// terminating pods only with `publishNotReadyAddresses` (the slices keep
/// them with their conditions).
pub fn endpoints_object(svc: &Service, drafts: &[SliceDraft]) -> Endpoints {
    let publish = svc
        .spec
        .as_ref()
        .and_then(|s| s.publish_not_ready_addresses)
        == Some(true);
    let mut subsets = Vec::new();
    for d in drafts {
        let mut ready = Vec::new();
        let mut not_ready = Vec::new();
        for e in &d.endpoints {
            let c = e.conditions.clone().unwrap_or_default();
            if c.terminating == Some(true) && !publish {
                continue;
            }
            let Some(ip) = e.addresses.first() else {
                continue;
            };
            let addr = EndpointAddress {
                ip: ip.clone(),
                hostname: e.hostname.clone(),
                node_name: e.node_name.clone(),
                target_ref: e.target_ref.clone(),
            };
            if c.ready == Some(true) {
                ready.push(addr);
            } else {
                not_ready.push(addr);
            }
        }
        if ready.is_empty() && not_ready.is_empty() {
            continue;
        }
        ready.sort_by(|a, b| a.ip.cmp(&b.ip));
        not_ready.sort_by(|a, b| a.ip.cmp(&b.ip));
        subsets.push(EndpointSubset {
            addresses: (!ready.is_empty()).then_some(ready),
            not_ready_addresses: (!not_ready.is_empty()).then_some(not_ready),
            ports: d.ports.as_ref().filter(|p| !p.is_empty()).map(|ports| {
                ports
                    .iter()
                    .map(|p| EndpointPort {
                        name: p.name.clone().filter(|n| !n.is_empty()),
                        port: p.port.unwrap_or_default(),
                        protocol: p.protocol.clone(),
                        app_protocol: p.app_protocol.clone(),
                    })
                    .collect()
            }),
        });
    }
    Endpoints {
        metadata: ObjectMeta {
            name: svc.metadata.name.clone(),
            namespace: Some(ns(&svc.metadata).to_owned()),
            labels: Some(base_labels(svc)).filter(|l| !l.is_empty()),
            ..Default::default()
        },
        subsets: (!subsets.is_empty()).then_some(subsets),
    }
}
