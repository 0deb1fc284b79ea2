//! `nodelet`: the command-line front door of the node agent.
//!
//! Errors are `anyhow` values here, at the binary's edge; every library
//! below returns typed errors. Exit codes: 0 success, 1 the input or the
//! operation failed (message on stderr), 2 usage errors (clap).

mod agent;
mod cli;
mod cli_client;
mod cli_node;
mod client;
mod cmd;
mod describe;
mod fds;
mod manifests;
mod memtrim;
mod services_opts;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // First, while nodelet has one thread: what a caller left open must
    // not reach the monitors and containers (see fds.rs).
    let inherited = fds::cloexec_inherited();
    let cli = cli::Cli::parse();
    init_tracing(cli.verbose);
    if let Err(e) = inherited {
        tracing::warn!("could not mark inherited descriptors close-on-exec: {e}");
    }
    match cmd::dispatch(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("NODELET_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        // A span's close line carries its busy/idle time: with
        // `NODELET_LOG=nodelet_runtime::image=debug` a pull prints where
        // its time went (manifest, each layer's download, unpack, sync,
        // the commit). Nothing else opens spans.
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
        .with_writer(std::io::stderr)
        .init();
}
