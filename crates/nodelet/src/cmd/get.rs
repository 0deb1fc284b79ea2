//! `nodelet get`: kubectl's `get` — server-side Tables printed with
//! kubectl's column rules (wide columns, NAMESPACE with -A), JSON/YAML/name
//! output, and `-w` rows as objects change.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::Pod;
use serde::Serialize;
use serde_json::{Value, json};

use crate::cli_client::GetArgs;
use crate::client::resource::{Resource, targets};
use crate::client::{Client, ClientError, TABLE_ACCEPT, with_query};
use crate::describe::duration::since;
use crate::describe::podrow::{POD_HEADERS, POD_WIDE_HEADERS, pod_row};
use crate::describe::tabwriter::TabWriter;

pub async fn run(a: &GetArgs) -> anyhow::Result<ExitCode> {
    let client = a.conn.client();
    let ns = a.conn.namespace.as_str();
    let targets = targets(&a.resource, &a.names).map_err(anyhow::Error::msg)?;
    let output = a.output.as_deref();
    // One table per type; with several types, names read `pod/x` (kubectl).
    let kinds: std::collections::BTreeSet<&str> = targets.iter().map(|(r, _)| r.kind).collect();
    let prefix = kinds.len() > 1;
    let mut printers: Vec<(&str, TablePrinter)> = Vec::new();
    let mut objects = Vec::new();
    let mut errors = Vec::new();
    let mut list_rv = None;
    for (res, name) in &targets {
        let path = match name {
            Some(n) => res.item(ns, n),
            None => {
                let mut q = Vec::new();
                if let Some(l) = &a.selector {
                    q.push(("labelSelector", l.clone()));
                }
                with_query(&res.collection((!a.all_namespaces).then_some(ns)), &q)
            }
        };
        let accept = if matches!(output, None | Some("wide")) {
            TABLE_ACCEPT
        } else {
            "application/json"
        };
        let v = match client.json(hyper::Method::GET, &path, accept, None).await {
            Ok(v) => v,
            Err(e @ ClientError::Api(_)) if name.is_some() => {
                // kubectl reports missing objects after printing the found ones.
                errors.push(e.to_string());
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        if name.is_none() {
            list_rv = v
                .pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
                .map(str::to_string);
        }
        match output {
            None | Some("wide") => {
                let i = match printers.iter().position(|(k, _)| *k == res.kind) {
                    Some(i) => i,
                    None => {
                        let mut p = TablePrinter::new(output == Some("wide"), a.all_namespaces);
                        if prefix {
                            p.name_prefix = Some(res.singular());
                        }
                        printers.push((res.kind, p));
                        printers.len() - 1
                    }
                };
                printers[i].1.add(*res, &v)?
            }
            _ => {
                if v.get("items").is_some() {
                    let kind = res.kind;
                    for mut item in v["items"].as_array().cloned().unwrap_or_default() {
                        // List items come without their type; kubectl shows it.
                        if let Some(o) = item.as_object_mut() {
                            o.entry("apiVersion").or_insert(json!("v1"));
                            o.entry("kind").or_insert(json!(kind));
                        }
                        objects.push(item);
                    }
                } else {
                    objects.push(v);
                }
            }
        }
    }
    let failed = !errors.is_empty();
    let single = targets.len() == 1 && targets[0].1.is_some();
    let mut out = std::io::stdout().lock();
    match output {
        None | Some("wide") => {
            let tables: Vec<String> = printers
                .iter_mut()
                .map(|(_, p)| p.finish())
                .filter(|t| !t.is_empty())
                .collect();
            let text = tables.join("\n");
            if text.is_empty() && !failed && !single {
                if a.all_namespaces {
                    eprintln!("No resources found");
                } else {
                    eprintln!("No resources found in {ns} namespace.");
                }
            }
            out.write_all(text.as_bytes())?;
        }
        Some(fmt) => {
            let doc = if single && objects.len() == 1 {
                objects.pop().unwrap_or(Value::Null)
            } else if fmt == "name" {
                Value::Array(objects)
            } else {
                json!({"apiVersion": "v1", "items": objects, "kind": "List", "metadata": {"resourceVersion": ""}})
            };
            out.write_all(render(fmt, &doc)?.as_bytes())?;
        }
    }
    out.flush()?;
    drop(out);
    for e in &errors {
        eprintln!("{e}");
    }
    if a.watch {
        let (res, name) = &targets[0];
        let printer = match printers.into_iter().next() {
            Some((_, p)) => p,
            None => TablePrinter::new(output == Some("wide"), a.all_namespaces),
        };
        watch(&client, *res, name.as_deref(), ns, a, list_rv, printer).await?;
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Drops `metadata.managedFields` of an object or of a list's items, as
/// kubectl does unless `--show-managed-fields`.
fn strip_managed_fields(v: &mut Value) {
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("managedFields");
    }
    if let Some(items) = v.get_mut("items").and_then(Value::as_array_mut) {
        items.iter_mut().for_each(strip_managed_fields);
    }
}

/// Prints one object or list as json / yaml / name.
pub fn render(fmt: &str, v: &Value) -> anyhow::Result<String> {
    let mut v = v.clone();
    strip_managed_fields(&mut v);
    let v = &v;
    Ok(match fmt {
        "json" => {
            let mut buf = Vec::new();
            let f = serde_json::ser::PrettyFormatter::with_indent(b"    ");
            let mut ser = serde_json::Serializer::with_formatter(&mut buf, f);
            v.serialize(&mut ser)?;
            buf.push(b'\n');
            // Go's encoder escapes HTML-significant characters; these only
            // occur inside strings, so the text stays the same JSON.
            String::from_utf8(buf)?
                .replace('&', "\\u0026")
                .replace('<', "\\u003c")
                .replace('>', "\\u003e")
                .replace('\u{2028}', "\\u2028")
                .replace('\u{2029}', "\\u2029")
        }
        "yaml" => {
            // Long single-line strings stay on one line, as kubectl prints them.
            let mut opts = serde_saphyr::SerializerOptions::default();
            opts.folded_wrap_chars = usize::MAX;
            serde_saphyr::to_string_with_options(v, opts).context("rendering YAML")?
        }
        _ => {
            let items = match v {
                Value::Array(a) => a.clone(),
                other => vec![other.clone()],
            };
            let mut s = String::new();
            for o in items {
                let kind = o["kind"].as_str().unwrap_or("");
                let singular = Resource::from_kind(kind)
                    .map(|r| r.singular())
                    .unwrap_or_else(|| kind.to_lowercase());
                s.push_str(&format!(
                    "{singular}/{}\n",
                    o["metadata"]["name"].as_str().unwrap_or("")
                ));
            }
            s
        }
    })
}

/// Accumulates Table rows (or computed rows for plain lists) and prints
/// them aligned, headers once.
pub struct TablePrinter {
    wide: bool,
    all_ns: bool,
    w: TabWriter,
    header_done: bool,
    /// Which columns of the server's table are shown.
    shown: Vec<bool>,
    /// `pod` to print names as `pod/x` (several types in one command).
    pub name_prefix: Option<String>,
}

impl TablePrinter {
    pub fn new(wide: bool, all_ns: bool) -> Self {
        TablePrinter {
            wide,
            all_ns,
            w: TabWriter::table(),
            header_done: false,
            shown: Vec::new(),
            name_prefix: None,
        }
    }

    /// Adds a Table response, or a plain object/list (computed columns).
    pub fn add(&mut self, res: Resource, v: &Value) -> anyhow::Result<()> {
        if v["kind"].as_str() == Some("Table") {
            self.add_table(v);
            return Ok(());
        }
        let items = match v.get("items") {
            Some(items) => items.as_array().cloned().unwrap_or_default(),
            None => vec![v.clone()],
        };
        let now = Timestamp::now();
        let headers: Vec<String> = if res.kind == "Pod" {
            let mut h: Vec<String> = POD_HEADERS.iter().map(|s| s.to_string()).collect();
            if self.wide {
                h.extend(POD_WIDE_HEADERS.iter().map(|s| s.to_string()));
            }
            h
        } else {
            vec!["NAME".into(), "AGE".into()]
        };
        if !items.is_empty() {
            self.header(&headers);
        }
        for item in items {
            let cells = if res.kind == "Pod" {
                let pod: Pod = serde_json::from_value(item.clone()).context("decoding a pod")?;
                pod_row(&pod, self.wide, now)
            } else {
                let created = item["metadata"]["creationTimestamp"]
                    .as_str()
                    .and_then(|s| s.parse().ok());
                vec![
                    item["metadata"]["name"].as_str().unwrap_or("").to_string(),
                    since(created, now),
                ]
            };
            self.row(&item, cells);
        }
        Ok(())
    }

    fn add_table(&mut self, t: &Value) {
        let cols = t["columnDefinitions"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if !cols.is_empty() {
            self.shown = cols
                .iter()
                .map(|c| self.wide || c["priority"].as_i64().unwrap_or(0) == 0)
                .collect();
            let headers: Vec<String> = cols
                .iter()
                .zip(&self.shown)
                .filter(|(_, s)| **s)
                .map(|(c, _)| c["name"].as_str().unwrap_or("").to_uppercase())
                .collect();
            if !t["rows"].as_array().is_none_or(|r| r.is_empty()) {
                self.header(&headers);
            }
        }
        for row in t["rows"].as_array().into_iter().flatten() {
            let cells: Vec<String> = row["cells"]
                .as_array()
                .into_iter()
                .flatten()
                .enumerate()
                .filter(|(i, _)| self.shown.get(*i).copied().unwrap_or(true))
                .map(|(_, c)| cell(c))
                .collect();
            self.row(&row["object"], cells);
        }
    }

    fn header(&mut self, headers: &[String]) {
        if self.header_done {
            return;
        }
        self.header_done = true;
        let ns = if self.all_ns { "NAMESPACE\t" } else { "" };
        self.w.write(&format!("{ns}{}\n", headers.join("\t")));
    }

    fn row(&mut self, object: &Value, mut cells: Vec<String>) {
        if let (Some(p), Some(first)) = (&self.name_prefix, cells.first_mut()) {
            *first = format!("{p}/{first}");
        }
        let ns = if self.all_ns {
            format!(
                "{}\t",
                object["metadata"]["namespace"].as_str().unwrap_or("")
            )
        } else {
            String::new()
        };
        self.w.write(&format!("{ns}{}\n", cells.join("\t")));
    }

    /// Everything so far, aligned (widths are kept for later rows).
    pub fn finish(&mut self) -> String {
        self.w.take()
    }
}

fn cell(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "<none>".into(),
        other => other.to_string(),
    }
}

async fn watch(
    client: &Client,
    res: Resource,
    name: Option<&str>,
    ns: &str,
    a: &GetArgs,
    rv: Option<String>,
    mut printer: TablePrinter,
) -> anyhow::Result<()> {
    let mut q = vec![("watch", "1".to_string())];
    if let Some(n) = name {
        q.push(("fieldSelector", format!("metadata.name={n}")));
    }
    if let Some(l) = &a.selector {
        q.push(("labelSelector", l.clone()));
    }
    match rv {
        Some(rv) => q.push(("resourceVersion", rv)),
        // A single object was shown: watch from now on through its list.
        None => q.push(("resourceVersion", "0".into())),
    }
    let path = with_query(&res.collection((!a.all_namespaces).then_some(ns)), &q);
    let table = matches!(a.output.as_deref(), None | Some("wide"));
    let mut stream = client
        .stream(
            &path,
            if table {
                TABLE_ACCEPT
            } else {
                "application/json"
            },
        )
        .await?;
    let mut first = name.is_some();
    while let Some(ev) = stream.event().await? {
        let ty = ev["type"].as_str().unwrap_or("");
        if ty == "BOOKMARK" {
            continue;
        }
        if ty == "ERROR" {
            anyhow::bail!(
                "watch ended: {}",
                ev["object"]["message"].as_str().unwrap_or("error")
            );
        }
        // The single object was printed already; its replay is skipped.
        if first && ty == "ADDED" {
            first = false;
            continue;
        }
        first = false;
        let text = match a.output.as_deref() {
            None | Some("wide") => {
                printer.add(res, &ev["object"])?;
                printer.finish()
            }
            Some(fmt) => render(fmt, &ev["object"])?,
        };
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_bytes())?;
        out.flush()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_table_printed_like_kubectl() {
        let t = json!({"kind": "Table", "columnDefinitions": [
                {"name": "Name", "priority": 0}, {"name": "Ready", "priority": 0},
                {"name": "Status", "priority": 0}, {"name": "Restarts", "priority": 0},
                {"name": "Age", "priority": 0}, {"name": "IP", "priority": 1},
                {"name": "Nominated Node", "priority": 1}],
            "rows": [{"cells": ["lifecycle-demo", "1/1", "Running", "0", "5s", "10.88.0.2", null],
                      "object": {"metadata": {"name": "lifecycle-demo", "namespace": "default"}}}]});
        let pods = Resource::parse("pods").unwrap();
        let mut p = TablePrinter::new(false, false);
        p.add(pods, &t).unwrap();
        assert_eq!(
            p.finish(),
            "NAME             READY   STATUS    RESTARTS   AGE\nlifecycle-demo   1/1     Running   0          5s\n"
        );
        let mut p = TablePrinter::new(true, true);
        p.add(pods, &t).unwrap();
        assert_eq!(
            p.finish(),
            "NAMESPACE   NAME             READY   STATUS    RESTARTS   AGE   IP          NOMINATED NODE\n\
             default     lifecycle-demo   1/1     Running   0          5s    10.88.0.2   <none>\n"
        );
        // An empty list prints nothing (the caller says "No resources found").
        let mut p = TablePrinter::new(false, false);
        p.add(
            pods,
            &json!({"kind": "Table", "columnDefinitions": t["columnDefinitions"], "rows": []}),
        )
        .unwrap();
        assert_eq!(p.finish(), "");
    }

    #[test]
    fn json_and_name_output() {
        let pod = json!({"kind": "Pod", "apiVersion": "v1",
            "metadata": {"name": "a", "managedFields": [{"manager": "x"}]},
            "spec": {"containers": [{"name": "c", "command": ["sh", "-c", "a && b > c"]}]}});
        let out = render("json", &pod).unwrap();
        assert!(!out.contains("managedFields"), "{out}");
        assert!(out.contains("\"a \\u0026\\u0026 b \\u003e c\""), "{out}");
        assert!(out.starts_with("{\n    \"apiVersion\": \"v1\",\n"), "{out}");
        assert_eq!(render("name", &pod).unwrap(), "pod/a\n");
    }
}
