//! `nodelet image load|pull|ls|rm|inspect|prune`: the local image store
//! under `<root>/images`, shared (under a file lock) with a running agent.
//! `prune` needs no agent: the store knows which images the node's
//! containers use (their pins), see `nodelet_runtime::image::pins`.

use std::process::ExitCode;

use anyhow::Context;
use comfy_table::{Table, presets::NOTHING};
use nodelet_runtime::image::ImageStore;

use crate::cli::{ImageCommand, NodeOpts};

pub fn run(cmd: ImageCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        ImageCommand::Load { node, inputs } => {
            let store = open(&node)?;
            for input in inputs {
                let loaded = store
                    .load(&input)
                    .with_context(|| format!("loading {}", input.display()))?;
                for img in loaded {
                    for r in &img.references {
                        println!("Loaded image: {r} ({})", short_id(&img.id));
                    }
                    if img.references.is_empty() {
                        println!("Loaded image ID: {}", img.id);
                    }
                }
            }
        }
        ImageCommand::Ls { node } => {
            let store = open(&node)?;
            let mut table = Table::new();
            table.load_preset(NOTHING);
            table.set_header(["IMAGE", "TAG", "DIGEST", "IMAGE ID", "SIZE"]);
            for img in store.list()? {
                let id = short_id(&img.id);
                let size = human_size(img.size);
                for (name, tag, digest) in ls_rows(&img.references, &img.repo_digests) {
                    table.add_row([name.as_str(), tag.as_str(), digest.as_str(), id, &size]);
                }
            }
            println!("{table}");
        }
        ImageCommand::Pull { node, image } => {
            super::image_pull::run(&node, &image)?;
        }
        ImageCommand::Prune { node } => {
            let store = open(&node)?;
            let report = store.prune()?;
            for img in &report.removed {
                if img.references.is_empty() {
                    println!("Deleted: {}", img.id);
                }
                for r in &img.references {
                    println!("Deleted: {r}");
                }
            }
            println!("Total reclaimed space: {}", human_size(report.freed));
        }
        ImageCommand::Rm { node, images } => {
            let store = open(&node)?;
            let mut failed = false;
            for image in images {
                match store.remove(&image) {
                    Ok(()) => println!("Deleted: {image}"),
                    Err(e) => {
                        eprintln!("error: {image}: {e}");
                        failed = true;
                    }
                }
            }
            if failed {
                return Ok(ExitCode::FAILURE);
            }
        }
        ImageCommand::Inspect { node, image } => {
            let store = open(&node)?;
            let details = store.inspect(&image)?;
            println!("{}", serde_json::to_string_pretty(&details)?);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn open(node: &NodeOpts) -> anyhow::Result<ImageStore> {
    let dir = node.root.join("images");
    ImageStore::open(&dir).with_context(|| format!("opening the image store at {}", dir.display()))
}

/// `crictl images --digests` rows: (image, tag, digest) for every tag
/// reference, and for repositories known only by digest; `<none>` where
/// there is nothing to show.
fn ls_rows(references: &[String], repo_digests: &[String]) -> Vec<(String, String, String)> {
    let digest_of = |name: &str| {
        repo_digests
            .iter()
            .find_map(|rd| {
                rd.split_once('@')
                    .filter(|(n, _)| *n == name)
                    .map(|(_, d)| d)
            })
            .map(|d| short_id(d).to_string())
            .unwrap_or_else(|| "<none>".to_string())
    };
    let mut rows = Vec::new();
    let mut named = std::collections::BTreeSet::new();
    for r in references {
        let (name, tag) = match nodelet_runtime::image::parse_reference(r) {
            Ok(p) => (p.name(), p.tag.unwrap_or_else(|| "<none>".into())),
            Err(_) => (r.clone(), "<none>".into()),
        };
        rows.push((name.clone(), tag, digest_of(&name)));
        named.insert(name);
    }
    for rd in repo_digests {
        if let Some((name, d)) = rd.split_once('@')
            && named.insert(name.to_string())
        {
            rows.push((name.to_string(), "<none>".into(), short_id(d).to_string()));
        }
    }
    if rows.is_empty() {
        rows.push(("<none>".into(), "<none>".into(), "<none>".into()));
    }
    rows
}

/// `sha256:0123456789abcdef...` → `0123456789ab`, like `crictl images`.
fn short_id(id: &str) -> &str {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    hex.get(..12).unwrap_or(hex)
}

fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1000.0 && unit < UNITS.len() - 1 {
        v /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes}B")
    } else {
        format!("{v:.3}{}", UNITS[unit])
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
            + ""
    }
}

#[cfg(test)]
mod tests {
    use super::ls_rows;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn rows_show_tags_digests_and_digest_only_images() {
        let d = format!("sha256:{}", "ab".repeat(32));
        let rows = ls_rows(
            &s(&["docker.io/library/nginx:latest"]),
            &[format!("docker.io/library/nginx@{d}")],
        );
        assert_eq!(
            rows,
            [(
                "docker.io/library/nginx".to_string(),
                "latest".to_string(),
                "abababababab".to_string()
            )]
        );
        let rows = ls_rows(&[], &[format!("127.0.0.1:5000/a@{d}")]);
        assert_eq!(rows[0].0, "127.0.0.1:5000/a");
        assert_eq!(rows[0].1, "<none>");
        assert_eq!(ls_rows(&[], &[])[0].0, "<none>");
    }
}
