//! `nodelet apply -f`: kubectl's client-side apply — create what does not
//! exist, strategic-merge the manifest into what does, and say
//! `pod/x created|configured|unchanged` per object.

use std::io::Read;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use nodelet_spec::{Object, load};
use serde_json::{Value, json};

use crate::cli_client::ApplyArgs;
use crate::client::resource::Resource;
use crate::client::{ClientError, JSON};

const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

pub async fn run(a: &ApplyArgs) -> anyhow::Result<ExitCode> {
    let mut manifests = Vec::new();
    let mut failed = false;
    for path in &a.files {
        let loaded = if path == Path::new("-") {
            let mut buf = Vec::new();
            std::io::stdin()
                .read_to_end(&mut buf)
                .context("reading manifests from stdin")?;
            load::load_bytes("<stdin>", &buf)
        } else {
            load::load_file(path)
        };
        match loaded {
            Ok(ms) => manifests.extend(ms),
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
        let mut obj = object_json(&m.object)?;
        let res = Resource::from_kind(m.object.kind())
            .ok_or_else(|| anyhow::anyhow!("kind {} is not served", m.object.kind()))?;
        let name = obj["metadata"]["name"].as_str().unwrap_or("").to_string();
        let ns = obj["metadata"]["namespace"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| a.conn.namespace.clone());
        obj["metadata"]["namespace"] = json!(ns);
        // Record what was applied, as kubectl does, for later three-way merges.
        let applied = format!("{}\n", obj);
        obj["metadata"]["annotations"][LAST_APPLIED] = json!(applied);
        let item = res.item(&ns, &name);
        let existing = match client.get(&item).await {
            Ok(v) => Some(v),
            Err(e) if e.is_not_found() => None,
            Err(e) => return Err(e.into()),
        };
        let verdict = match existing {
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

fn rv(v: &Value) -> Option<&str> {
    v["metadata"]["resourceVersion"].as_str()
}

fn object_json(o: &Object) -> anyhow::Result<Value> {
    let v = match o {
        Object::Pod(p) => serde_json::to_value(p),
        Object::Service(s) => serde_json::to_value(s),
        Object::ConfigMap(c) => serde_json::to_value(c),
        Object::Secret(s) => serde_json::to_value(s),
    };
    v.context("encoding the object")
}
