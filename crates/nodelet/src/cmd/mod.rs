//! Subcommand implementations, one file each.

pub(crate) mod apply;
pub(crate) mod attach;
mod completions;
pub(crate) mod delete;
pub(crate) mod describe;
pub(crate) mod events;
pub(crate) mod exec;
pub(crate) mod get;
mod image;
mod image_pull;
mod kubeconfig;
pub(crate) mod logs;
mod node;
pub(crate) mod portforward;
pub mod render;
mod run;
mod serve;
pub(crate) mod timeline;
mod validate;
pub(crate) mod wait;

use std::process::ExitCode;

use crate::cli::{Cli, Command};

pub fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Validate(args) => validate::run(&args),
        Command::Image(cmd) => image::run(cmd),
        Command::Completions(args) => completions::run(&args),
        Command::Run(args) => run::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Kubeconfig(args) => kubeconfig::run(&args),
        Command::Node(args) => node::run(*args),
        Command::Client(cmd) => crate::cli_client::run(cmd),
    }
}
