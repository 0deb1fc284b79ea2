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
        if res.kind != "Pod" {
            anyhow::bail!("describe supports pods only, not {}", res.plural);
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
