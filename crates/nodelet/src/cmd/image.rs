//! `nodelet image load|ls|rm|inspect`: the local image store under
//! `<root>/images`, shared (under a file lock) with a running agent.

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
            table.set_header(["IMAGE", "IMAGE ID", "SIZE"]);
            for img in store.list()? {
                let id = short_id(&img.id);
                let size = human_size(img.size);
                if img.references.is_empty() {
                    table.add_row(["<none>", id, &size]);
                }
                for r in &img.references {
                    table.add_row([r.as_str(), id, &size]);
                }
            }
            println!("{table}");
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
