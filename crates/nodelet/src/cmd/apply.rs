//! `nodelet apply -f`: kubectl's client-side apply — create what does not
//! exist, strategic-merge the manifest into what does, and say
//! `pod/x created|configured|unchanged` per object.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use nodelet_spec::{Object, load};

use serde_json::{Value, json};

use crate::cli_client::ApplyArgs;
use crate::client::resource::Resource;
use crate::client::{ClientError, JSON};

const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

pub async fn run(a: &ApplyArgs) -> anyhow::Result<ExitCode> {
    // Typed objects for the local strict check; the raw documents are what
    // is sent and recorded, as kubectl sends the file's own JSON.
    let mut manifests = Vec::new();
    let mut raw = Vec::new();
    let mut failed = false;
    for path in expand_dirs(&a.files)? {
        let path = &path;
        // One byte past the limit is read, never more: a 100 MB file is
        // refused by `load_bytes` naming the limit without being read whole.
        let limit = load::MAX_MANIFEST_BYTES + 1;
        let (name, bytes) = if path == Path::new("-") {
            let mut buf = Vec::new();
            std::io::stdin()
                .take(limit)
                .read_to_end(&mut buf)
                .context("reading manifests from stdin")?;
            ("<stdin>".to_string(), buf)
        } else {
            let mut bytes = Vec::new();
            std::fs::File::open(path)
                .and_then(|f| f.take(limit).read_to_end(&mut bytes))
                .with_context(|| format!("reading {}", path.display()))?;
            (path.display().to_string(), bytes)
        };
        match load::load_bytes(&name, &bytes) {
            Ok(ms) => {
                manifests.extend(ms);
                raw.extend(raw_documents(&bytes));
            }
            Err(e) => {
                eprintln!("error: {e}");
                failed = true;
            }
        }
    }
    if failed {
        return Ok(ExitCode::FAILURE);
    }
    let client = a.conn.client();
    for m in manifests {
        let res = Resource::from_kind(m.object.kind())
            .ok_or_else(|| anyhow::anyhow!("kind {} is not served", m.object.kind()))?;
        let typed = object_json(&m.object)?;
        let name = typed["metadata"]["name"].as_str().unwrap_or("").to_string();
        let mut obj = raw
            .iter()
            .find(|d| {
                d["kind"] == typed["kind"] && d["metadata"]["name"] == typed["metadata"]["name"]
            })
            .cloned()
            .unwrap_or(typed);
        let ns = obj["metadata"]["namespace"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| a.conn.namespace.clone());
        obj["metadata"]["namespace"] = json!(ns);
        // Record what was applied exactly as kubectl does (its own JSON with
        // an empty annotation map, keys sorted), so kubectl's later
        // three-way merges see no difference.
        if let Some(ann) = obj["metadata"]["annotations"].as_object_mut() {
            ann.remove(LAST_APPLIED);
        } else {
            obj["metadata"]["annotations"] = json!({});
        }
        let applied = format!("{obj}\n");
        obj["metadata"]["annotations"][LAST_APPLIED] = json!(applied);
        let item = res.item(&ns, &name);
        let existing = match client.get(&item).await {
            Ok(v) => Some(v),
            Err(e) if e.is_not_found() => None,
            Err(e) => return Err(e.into()),
        };
        let verdict = match existing {
            // Same manifest as last time: nothing to send (kubectl's "unchanged").
            Some(old)
                if old["metadata"]["annotations"][LAST_APPLIED].as_str()
                    == Some(applied.as_str()) =>
            {
                "unchanged"
            }
            None => {
                let r = client
                    .json(
                        hyper::Method::POST,
                        &res.collection(Some(&ns)),
                        JSON,
                        Some((JSON, &obj)),
                    )
                    .await;
                match r {
                    Ok(_) => "created",
                    Err(e @ ClientError::Api(_)) => {
                        eprintln!("{e}");
                        failed = true;
                        continue;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            Some(old) => {
                let r = client
                    .json(
                        hyper::Method::PATCH,
                        &item,
                        JSON,
                        Some(("application/strategic-merge-patch+json", &obj)),
                    )
                    .await;
                match r {
                    Ok(new) if rv(&new) == rv(&old) => "unchanged",
                    Ok(_) => "configured",
                    Err(e @ ClientError::Api(_)) => {
                        eprintln!("{e}");
                        failed = true;
                        continue;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        };
        println!("{}/{name} {verdict}", res.singular());
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Files as given, directories replaced by their `.yaml`, `.yml` and
/// `.json` files in name order (as `kubectl apply -f DIR`).
fn expand_dirs(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        if p != Path::new("-") && p.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(p)
                .with_context(|| format!("reading {}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| {
                    f.is_file()
                        && f.extension()
                            .and_then(|x| x.to_str())
                            .is_some_and(|x| matches!(x, "yaml" | "yml" | "json"))
                })
                .collect();
            files.sort();
            out.extend(files);
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

/// The documents of a YAML/JSON file as JSON, `List` items flattened.
fn raw_documents(bytes: &[u8]) -> Vec<Value> {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Vec::new();
    };
    let docs: Vec<Value> = serde_json::from_str::<Value>(text)
        .map(|v| vec![v])
        .or_else(|_| serde_saphyr::from_multiple::<Value>(text))
        .unwrap_or_default();
    let mut out = Vec::new();
    for d in docs {
        match d.get("items").and_then(Value::as_array) {
            Some(items) if d["kind"].as_str().is_some_and(|k| k.ends_with("List")) => {
                out.extend(items.iter().cloned())
            }
            _ if d.is_object() => out.push(d),
            _ => {}
        }
    }
    out
}

fn rv(v: &Value) -> Option<&str> {
    v["metadata"]["resourceVersion"].as_str()
}

fn object_json(o: &Object) -> anyhow::Result<Value> {
    o.to_value().context("encoding the object")
}
