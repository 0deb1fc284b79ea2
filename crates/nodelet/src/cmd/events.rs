//! `nodelet events`: kubectl's `events` — a namespace's (or one object's)
//! events, oldest first, `-w` for new ones as they are recorded.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::Event;

use crate::cli_client::EventsArgs;
use crate::client::resource::Resource;
use crate::client::with_query;
use crate::describe::events::{events_header, events_row, sort_events};
use crate::describe::tabwriter::TabWriter;

pub async fn run(a: &EventsArgs) -> anyhow::Result<ExitCode> {
    let client = a.conn.client();
    let ns = a.conn.namespace.as_str();
    let mut q = Vec::new();
    if let Some(obj) = &a.for_object {
        let (t, name) = obj
            .split_once('/')
            .ok_or_else(|| anyhow::anyhow!("--for must be TYPE/NAME, e.g. pod/web"))?;
        let res =
            Resource::parse(t).ok_or_else(|| anyhow::anyhow!("unknown resource type {t:?}"))?;
        q.push((
            "fieldSelector",
            format!(
                "involvedObject.kind={},involvedObject.name={name}",
                res.kind
            ),
        ));
    }
    let collection = if a.all_namespaces {
        "/api/v1/events".to_string()
    } else {
        format!("/api/v1/namespaces/{ns}/events")
    };
    let list = client.get(&with_query(&collection, &q)).await?;
    let mut events: Vec<Event> = list["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|v| serde_json::from_value(v).context("decoding an event"))
        .collect::<anyhow::Result<_>>()?;
    sort_events(&mut events);
    let now = Timestamp::now();
    let mut w = TabWriter::table();
    if events.is_empty() && !a.watch {
        if a.all_namespaces {
            eprintln!("No events found.");
        } else {
            eprintln!("No events found in {ns} namespace.");
        }
        return Ok(ExitCode::SUCCESS);
    }
    w.write(&events_header(a.all_namespaces));
    for e in &events {
        w.write(&events_row(e, a.all_namespaces, now));
    }
    print_now(&mut w)?;
    if !a.watch {
        return Ok(ExitCode::SUCCESS);
    }
    let rv = list["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or("0")
        .to_string();
    q.push(("watch", "1".into()));
    q.push(("resourceVersion", rv));
    let mut stream = client
        .stream(&with_query(&collection, &q), "application/json")
        .await?;
    while let Some(ev) = stream.event().await? {
        if !matches!(ev["type"].as_str(), Some("ADDED" | "MODIFIED")) {
            continue;
        }
        let e: Event = serde_json::from_value(ev["object"].clone()).context("decoding an event")?;
        w.write(&events_row(&e, a.all_namespaces, Timestamp::now()));
        print_now(&mut w)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn print_now(w: &mut TabWriter) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(w.take().as_bytes())?;
    out.flush()?;
    Ok(())
}
