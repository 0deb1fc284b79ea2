//! `nodelet describe pod NAME`: the pod and the events about it, rendered
//! like `kubectl describe pod`.

use std::process::ExitCode;

use anyhow::Context;
use k8s_openapi::api::core::v1::{Event, Pod};
use serde_json::Value;

use crate::cli_client::DescribeArgs;
use crate::client::resource::targets;
use crate::client::with_query;
use crate::describe::{Ctx, describe_pod};

pub async fn run(a: &DescribeArgs) -> anyhow::Result<ExitCode> {
    let names: Vec<String> = a.name.iter().cloned().collect();
    let targets = targets(&a.resource, &names).map_err(anyhow::Error::msg)?;
    let client = a.conn.client();
    let ns = a.conn.namespace.as_str();
    let mut first = true;
    for (res, name) in targets {
        if res.kind == "Service" {
            first = describe_services(&client, ns, name, first).await?;
            continue;
        }
        if res.kind != "Pod" {
            anyhow::bail!("describe supports pods and services, not {}", res.plural);
        }
        let pods: Vec<Value> = match name {
            Some(n) => vec![client.get(&res.item(ns, &n)).await?],
            None => client.get(&res.collection(Some(ns))).await?["items"]
                .as_array()
                .cloned()
                .unwrap_or_default(),
        };
        for v in pods {
            let pod: Pod = serde_json::from_value(v).context("decoding the pod")?;
            let events = pod_events(&client, &pod).await?;
            if !first {
                println!();
                println!();
            }
            first = false;
            let ctx = Ctx::local_now();
            print!("{}", describe_pod(&pod, &events, &ctx));
            let hooks = pod_hooks(&client, &pod).await?;
            let mut w = crate::describe::tabwriter::TabWriter::describe();
            crate::describe::hooks::write_hooks_block(&mut w, &hooks, ctx.now);
            print!("{}", w.take());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `describe service`: each service with its EndpointSlices and events.
async fn describe_services(
    client: &crate::client::Client,
    ns: &str,
    name: Option<String>,
    mut first: bool,
) -> anyhow::Result<bool> {
    let res = crate::client::resource::Resource::parse("services")
        .ok_or_else(|| anyhow::anyhow!("services are not served"))?;
    let items: Vec<Value> = match name {
        Some(n) => vec![client.get(&res.item(ns, &n)).await?],
        None => client.get(&res.collection(Some(ns))).await?["items"]
            .as_array()
            .cloned()
            .unwrap_or_default(),
    };
    for v in items {
        let svc: k8s_openapi::api::core::v1::Service =
            serde_json::from_value(v).context("decoding the service")?;
        let name = svc.metadata.name.clone().unwrap_or_default();
        let slices_path = with_query(
            &format!("/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices"),
            &[(
                "labelSelector",
                format!("kubernetes.io/service-name={name}"),
            )],
        );
        let slices: Vec<k8s_openapi::api::discovery::v1::EndpointSlice> =
            client.get(&slices_path).await?["items"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|s| serde_json::from_value(s.clone()).ok())
                .collect();
        let sel = format!(
            "involvedObject.name={name},involvedObject.namespace={ns},involvedObject.kind=Service"
        );
        let ev_path = with_query(
            &format!("/api/v1/namespaces/{ns}/events"),
            &[("fieldSelector", sel)],
        );
        let events: Vec<Event> = client.get(&ev_path).await?["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| serde_json::from_value(e.clone()).ok())
            .collect();
        if !first {
            println!();
            println!();
        }
        first = false;
        print!(
            "{}",
            crate::describe::service::describe_service(&svc, &slices, &events, &Ctx::local_now())
        );
    }
    Ok(first)
}

/// The pod's HookDelivery records (`hookdeliveries.nodelet.dev/v1`), by
/// its uid so a deleted namesake's records are not shown.
pub async fn pod_hooks(client: &crate::client::Client, pod: &Pod) -> anyhow::Result<Vec<Value>> {
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    let mut sel = format!(
        "spec.podName={}",
        pod.metadata.name.as_deref().unwrap_or("")
    );
    if let Some(uid) = pod.metadata.uid.as_deref().filter(|u| !u.is_empty()) {
        sel.push_str(&format!(",spec.podUID={uid}"));
    }
    let path = with_query(
        &format!("/apis/nodelet.dev/v1/namespaces/{ns}/hookdeliveries"),
        &[("fieldSelector", sel)],
    );
    let list = client.get(&path).await?;
    Ok(list["items"].as_array().cloned().unwrap_or_default())
}

/// The events whose involved object is this pod (by name, namespace, uid).
pub async fn pod_events(client: &crate::client::Client, pod: &Pod) -> anyhow::Result<Vec<Event>> {
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    let mut sel = format!(
        "involvedObject.name={},involvedObject.namespace={ns},involvedObject.kind=Pod",
        pod.metadata.name.as_deref().unwrap_or("")
    );
    if let Some(uid) = pod.metadata.uid.as_deref().filter(|u| !u.is_empty()) {
        sel.push_str(&format!(",involvedObject.uid={uid}"));
    }
    let path = with_query(
        &format!("/api/v1/namespaces/{ns}/events"),
        &[("fieldSelector", sel)],
    );
    let list = client.get(&path).await?;
    let items = list["items"].as_array().cloned().unwrap_or_default();
    items
        .into_iter()
        .map(|v| serde_json::from_value(v).context("decoding an event"))
        .collect()
}
