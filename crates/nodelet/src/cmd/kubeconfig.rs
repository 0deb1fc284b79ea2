//! `nodelet kubeconfig`: prints the admin kubeconfig `nodelet serve` wrote
//! under its root, so `nodelet kubeconfig > ~/.kube/config` just works.

use std::process::ExitCode;

use anyhow::Context;

use crate::cli::KubeconfigArgs;

pub fn run(args: &KubeconfigArgs) -> anyhow::Result<ExitCode> {
    let text = nodelet_api::kubeconfig(&args.root).with_context(|| {
        format!(
            "no kubeconfig under {} (start `nodelet serve --root {}` first)",
            args.root.display(),
            args.root.display()
        )
    })?;
    print!("{text}");
    Ok(ExitCode::SUCCESS)
}
