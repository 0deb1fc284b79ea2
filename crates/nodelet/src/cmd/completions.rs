//! `nodelet completions SHELL`: shell completion scripts from the clap grammar.

use std::process::ExitCode;

use clap::CommandFactory;

use crate::cli::{Cli, CompletionsArgs};

pub fn run(args: &CompletionsArgs) -> anyhow::Result<ExitCode> {
    let mut cmd = Cli::command();
    clap_complete::generate(args.shell, &mut cmd, "nodelet", &mut std::io::stdout());
    Ok(ExitCode::SUCCESS)
}
