//! The command-line grammar (clap derive). Each subcommand's behaviour lives
//! in `cmd/<name>.rs`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "nodelet",
    version,
    about = "A Kubernetes node agent: runs Pod manifests in real Linux containers with the Kubernetes container lifecycle",
    propagate_version = true
)]
pub struct Cli {
    /// More log output on stderr (-v info, -vv debug, -vvv trace); NODELET_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

/// Where nodelet keeps its state and which OCI runtime it drives.
#[derive(Debug, Clone, Args)]
pub struct NodeOpts {
    /// State directory: images, containers, logs, the store.
    #[arg(long, env = "NODELET_ROOT", default_value = "/var/lib/nodelet")]
    pub root: PathBuf,
    /// Runtime state directory (namespace pins, runtime state).
    #[arg(long, env = "NODELET_RUN_ROOT", default_value = "/run/nodelet")]
    pub run_root: PathBuf,
    /// OCI runtime binary: runc, crun, youki or a path.
    #[arg(long, env = "NODELET_RUNTIME", default_value = "runc")]
    pub runtime: String,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Load, default and validate manifests; print what would run, or every error.
    Validate(ValidateArgs),
    /// Manage images in nodelet's local store.
    #[command(subcommand)]
    Image(ImageCommand),
    /// Print a shell completion script.
    Completions(CompletionsArgs),
    #[command(flatten)]
    Client(crate::cli_client::ClientCommand),
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Manifest files (YAML or JSON, multi-document, `kind: List`); `-` reads stdin.
    #[arg(short = 'f', long = "filename", required = true, num_args = 1..)]
    pub files: Vec<PathBuf>,
    /// Name of this node, for `spec.nodeName` / `fieldRef: spec.nodeName`.
    #[arg(long, default_value_t = default_node_name())]
    pub node_name: String,
    /// Print the result as JSON (the defaulted objects and computed environments).
    #[arg(short = 'o', long, value_parser = ["text", "json"], default_value = "text")]
    pub output: String,
}

#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Load images from an OCI image layout (directory or tar) or a `docker save` archive.
    Load {
        #[command(flatten)]
        node: NodeOpts,
        /// Archive or layout directory.
        #[arg(short = 'i', long = "input", required = true, num_args = 1..)]
        inputs: Vec<PathBuf>,
    },
    /// List images.
    Ls {
        #[command(flatten)]
        node: NodeOpts,
    },
    /// Remove images.
    Rm {
        #[command(flatten)]
        node: NodeOpts,
        #[arg(required = true, num_args = 1..)]
        images: Vec<String>,
    },
    /// Show an image's configuration as JSON.
    Inspect {
        #[command(flatten)]
        node: NodeOpts,
        image: String,
    },
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// Shell to generate for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

pub fn default_node_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}
