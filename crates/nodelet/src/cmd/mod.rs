//! Subcommand implementations, one file each.

mod completions;
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
    }
}
