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
use crate::client::{Client, ClientError, JSON};
use futures::StreamExt;

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
    let mut items = Vec::with_capacity(manifests.len());
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
        items.push(Item {
            res,
            ns,
            name,
            obj,
            applied,
        });
    }
    let mut out = InOrder::new(items.len());
    for phase in phases(&items) {
        // Objects of one phase do not depend on each other: they go in
        // together, as many at once as `IN_FLIGHT`; the next phase starts
        // when this one is answered (a pod's namespace, service account or
        // config exists before the pod is created, as with kubectl's
        // one-by-one apply).
        let mut answers = futures::stream::iter(phase.into_iter().map(|i| {
            let client = &client;
            let item = &items[i];
            async move { (i, apply_one(client, item).await) }
        }))
        .buffer_unordered(IN_FLIGHT);
        while let Some((i, answer)) = answers.next().await {
            let line = match answer? {
                Ok(verdict) => Ok(format!(
                    "{}/{} {verdict}",
                    items[i].res.singular(),
                    items[i].name
                )),
                Err(e) => {
                    failed = true;
                    Err(e.to_string())
                }
            };
            for line in out.done(i, line) {
                match line {
                    Ok(l) => println!("{l}"),
                    Err(e) => eprintln!("{e}"),
                }
            }
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Requests in flight at once. Enough that a file of pods is handed over
/// before the first of them start competing with the rest for the CPU
/// (on 2 cores, 16 at a time left the later requests waiting behind the
/// pods the first ones started: 0.6 s for 50 pods, against 50 ms for 50
/// ConfigMaps); bounded so a huge file does not open thousands of
/// connections.
const IN_FLIGHT: usize = 64;

/// One object to apply, as it will be sent.
struct Item {
    res: Resource,
    ns: String,
    name: String,
    obj: Value,
    /// The last-applied annotation's value for this apply.
    applied: String,
}

/// Indices of `items` grouped by the order kinds must exist in: namespaces
/// first, then the Secrets and ConfigMaps pods refer to, then everything
/// else (Helm's install order, shortened to the kinds served). Each group
/// keeps file order.
fn phases(items: &[Item]) -> Vec<Vec<usize>> {
    let rank = |kind: &str| match kind {
        "Namespace" => 0,
        "Secret" | "ConfigMap" => 1,
        _ => 2,
    };
    let mut out = vec![Vec::new(); 3];
    for (i, item) in items.iter().enumerate() {
        out[rank(item.res.kind)].push(i);
    }
    out.retain(|p| !p.is_empty());
    out
}

/// Releases each object's line in file order as soon as it and every
/// object before it are answered (answers arrive in any order), so the
/// output reads as kubectl's one-by-one apply.
struct InOrder {
    lines: Vec<Option<Result<String, String>>>,
    next: usize,
}

impl InOrder {
    fn new(n: usize) -> Self {
        InOrder {
            lines: vec![None; n],
            next: 0,
        }
    }

    /// Records object `i`'s line; returns the lines now due, in order.
    fn done(&mut self, i: usize, line: Result<String, String>) -> Vec<Result<String, String>> {
        if let Some(slot) = self.lines.get_mut(i) {
            *slot = Some(line);
        }
        let mut due = Vec::new();
        while let Some(Some(line)) = self.lines.get_mut(self.next).map(Option::take) {
            due.push(line);
            self.next += 1;
        }
        due
    }
}

/// Creates or strategic-merges one object. The outer error is the
/// transport's (the whole apply stops); the inner one is the API's answer
/// for this object (reported, the others go on).
///
/// kubectl GETs first and then creates or patches. The result is the same
/// if the create is tried first and the patch only when the object exists
/// (409 AlreadyExists), and a first apply (the common, large one) then
/// costs one request per object instead of two.
async fn apply_one(
    client: &Client,
    item: &Item,
) -> anyhow::Result<Result<&'static str, ClientError>> {
    let created = client
        .json(
            hyper::Method::POST,
            &item.res.collection(Some(&item.ns)),
            JSON,
            Some((JSON, &item.obj)),
        )
        .await;
    let answer = match created {
        Ok(_) => Ok("created"),
        Err(e) if e.is_already_exists() => configure(client, item).await,
        Err(e) => Err(e),
    };
    match answer {
        Ok(v) => Ok(Ok(v)),
        Err(e @ ClientError::Api(_)) => Ok(Err(e)),
        Err(e) => Err(e.into()),
    }
}

/// The object exists: nothing to send if it was last applied from the same
/// manifest (kubectl's "unchanged"), else a strategic-merge patch.
async fn configure(client: &Client, item: &Item) -> Result<&'static str, ClientError> {
    let url = item.res.item(&item.ns, &item.name);
    let old = client.get(&url).await?;
    if old["metadata"]["annotations"][LAST_APPLIED].as_str() == Some(item.applied.as_str()) {
        return Ok("unchanged");
    }
    let new = client
        .json(
            hyper::Method::PATCH,
            &url,
            JSON,
            Some(("application/strategic-merge-patch+json", &item.obj)),
        )
        .await?;
    Ok(if rv(&new) == rv(&old) {
        "unchanged"
    } else {
        "configured"
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

#[cfg(test)]
mod tests {
    use super::*;

    fn item(kind: &str, name: &str) -> Item {
        Item {
            res: Resource::from_kind(kind).expect("served kind"),
            ns: "default".into(),
            name: name.into(),
            obj: json!({}),
            applied: String::new(),
        }
    }

    #[test]
    fn namespaces_then_configs_then_the_rest_each_in_file_order() {
        let items = [
            item("Pod", "a"),
            item("ConfigMap", "c"),
            item("Namespace", "n"),
            item("Service", "s"),
            item("Secret", "t"),
            item("Namespace", "m"),
        ];
        assert_eq!(phases(&items), vec![vec![2, 5], vec![1, 4], vec![0, 3]]);
        assert_eq!(phases(&items[..1]), vec![vec![0]]);
    }

    #[test]
    fn lines_come_out_in_file_order_whatever_order_answers_arrive_in() {
        let mut out = InOrder::new(3);
        assert!(out.done(2, Ok("c".into())).is_empty());
        assert!(out.done(1, Err("b failed".into())).is_empty());
        assert_eq!(
            out.done(0, Ok("a".into())),
            vec![Ok("a".into()), Err("b failed".into()), Ok("c".into())]
        );
    }
}
