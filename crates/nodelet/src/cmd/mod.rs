//! Subcommand implementations, one file each.

pub(crate) mod apply;
mod completions;
pub(crate) mod delete;
pub(crate) mod describe;
pub(crate) mod events;
pub(crate) mod exec;
pub(crate) mod get;
pub(crate) mod logs;
pub(crate) mod wait;
mod image;
pub mod render;
mod validate;

use std::process::ExitCode;

use crate::cli::{Cli, Command};

pub fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Validate(args) => validate::run(&args),
        Command::Image(cmd) => image::run(cmd),
        Command::Completions(args) => completions::run(&args),
        Command::Client(cmd) => crate::cli_client::run(cmd),
    }
}
