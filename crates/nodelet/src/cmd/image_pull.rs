//! `nodelet image pull REF`: a registry pull from the command line, with
//! one progress bar per layer on a terminal (indicatif) and one plain line
//! per step otherwise (logs, CI). Uses the same puller as the agent, so
//! the store, the verification and the resume behaviour are the agent's.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Arc;

use anyhow::Context;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use nodelet_runtime::image::ImageStore;
use nodelet_runtime::image::registry::{PullLimits, Puller, RegistryConfig};
use nodelet_runtime::{PullCredentials, PullEvent};
use tokio::sync::mpsc;

use crate::cli::NodeOpts;

/// `sha256:0123456789abcdef...` → `0123456789ab`.
fn short(d: &str) -> &str {
    let hex = d.strip_prefix("sha256:").unwrap_or(d);
    hex.get(..12).unwrap_or(hex)
}

/// How progress is shown.
enum View {
    Bars {
        multi: MultiProgress,
        bars: HashMap<String, ProgressBar>,
    },
    Lines {
        done: std::collections::HashSet<String>,
    },
}

impl View {
    fn new(tty: bool) -> View {
        if tty {
            View::Bars {
                multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
                bars: HashMap::new(),
            }
        } else {
            View::Lines {
                done: Default::default(),
            }
        }
    }

    fn show(&mut self, ev: PullEvent) {
        match (self, ev) {
            (View::Bars { multi, bars }, PullEvent::Resolved { layers }) => {
                let style = ProgressStyle::with_template(
                    "{prefix}: {bar:30} {binary_bytes:>10}/{binary_total_bytes:<10} {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar());
                for (digest, size) in layers {
                    let bar = multi.add(ProgressBar::new(size));
                    bar.set_style(style.clone());
                    bar.set_prefix(short(&digest).to_string());
                    bars.insert(digest, bar);
                }
            }
            (
                View::Bars { bars, .. },
                PullEvent::Layer {
                    digest,
                    done,
                    total,
                    cached,
                },
            ) => {
                if let Some(bar) = bars.get(&digest) {
                    bar.set_position(done);
                    if done >= total {
                        bar.finish_with_message(if cached { "already exists" } else { "done" });
                    }
                }
            }
            (View::Lines { .. }, PullEvent::Resolved { layers }) => {
                println!("{} layers", layers.len());
            }
            (
                View::Lines { done: seen },
                PullEvent::Layer {
                    digest,
                    done,
                    total,
                    cached,
                },
            ) => {
                if done >= total && seen.insert(digest.clone()) {
                    let what = if cached { "already exists" } else { "fetched" };
                    println!("{}: {what} ({} bytes)", short(&digest), total);
                }
            }
            (_, PullEvent::Started) => {}
        }
    }

    fn clear(&self) {
        if let View::Bars { multi, .. } = self {
            let _ = multi.clear();
        }
    }
}

pub fn run(node: &NodeOpts, image: &str) -> anyhow::Result<()> {
    let dir = node.root.join("images");
    let store = Arc::new(
        ImageStore::open(&dir)
            .with_context(|| format!("opening the image store at {}", dir.display()))?,
    );
    let puller = Arc::new(
        Puller::new(
            store,
            RegistryConfig::new(&node.registry_config_dir),
            node.root.clone(),
        )
        .with_limits(PullLimits {
            max_concurrent_downloads: node.max_concurrent_downloads,
            ..PullLimits::default()
        }),
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let tty = std::io::stderr().is_terminal();
    rt.block_on(async move {
        println!("Pulling {image}");
        let (tx, mut rx) = mpsc::unbounded_channel();
        let pull = {
            let puller = puller.clone();
            let image = image.to_string();
            tokio::spawn(async move {
                puller
                    .pull(&image, &PullCredentials::default(), Some(tx))
                    .await
            })
        };
        let mut view = View::new(tty);
        while let Some(ev) = rx.recv().await {
            view.show(ev);
        }
        let result = pull.await.context("pull task")?;
        view.clear();
        let pulled = result?;
        println!(
            "Pulled {} in {:.3}s\nImage ID: {}\nDigest: {}\nSize: {} bytes",
            pulled.reference,
            pulled.duration.as_secs_f64(),
            pulled.id,
            pulled.repo_digest,
            pulled.size
        );
        Ok(())
    })
}
