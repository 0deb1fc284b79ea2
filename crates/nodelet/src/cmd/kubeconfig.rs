//! `nodelet kubeconfig`: prints the admin kubeconfig `nodelet serve` wrote
//! under its root, so `nodelet kubeconfig > ~/.kube/config` just works;
//! with `--user NAME [--group G]...`, a kubeconfig with a new client
//! certificate for that user (CN=user, O=groups), signed by the API's CA.

use std::process::ExitCode;

use anyhow::Context;

use crate::cli::KubeconfigArgs;

pub fn run(args: &KubeconfigArgs) -> anyhow::Result<ExitCode> {
    if let Some(user) = &args.user {
        let text = nodelet_api::kubeconfig::user_kubeconfig(&args.root, user, &args.groups)
            .with_context(|| {
                format!(
                    "issuing a client certificate for {user:?} under {} (start `nodelet serve --root {}` first)",
                    args.root.display(),
                    args.root.display()
                )
            })?;
        print!("{text}");
        return Ok(ExitCode::SUCCESS);
    }
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
