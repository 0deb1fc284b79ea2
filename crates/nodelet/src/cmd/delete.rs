//! `nodelet delete`: kubectl's delete — graceful by default (the pod's
//! grace period, or `--grace-period`), `--force` for immediate removal,
//! and by default waits until the objects are really gone.

use std::process::ExitCode;

use serde_json::{Value, json};

use crate::cli_client::DeleteArgs;
use crate::client::resource::{Resource, targets};
use crate::client::{Client, ClientError, with_query};

pub async fn run(a: &DeleteArgs) -> anyhow::Result<ExitCode> {
    let client = a.conn.client();
    let ns = a.conn.namespace.as_str();
    let targets = targets(&a.resource, &a.names).map_err(anyhow::Error::msg)?;
    if targets.iter().any(|(_, n)| n.is_none()) {
        anyhow::bail!("resource(s) were provided, but no name was specified");
    }
    // kubectl: --force alone means 0; 0 without --force means 1.
    let mut grace = a.grace_period;
    if a.force && grace < 0 {
        grace = 0;
    }
    if grace == 0 && !a.force {
        grace = 1;
    }
    if a.force {
        eprintln!(
            "Warning: Immediate deletion does not wait for confirmation that the running resource has been terminated. The resource may continue to run on the cluster indefinitely."
        );
    }
    let mut opts =
        json!({"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"});
    if grace >= 0 {
        opts["gracePeriodSeconds"] = json!(grace);
    }
    let mut failed = false;
    let mut deleted = Vec::new();
    for (res, name) in targets {
        let Some(name) = name else { continue };
        let path = res.item(ns, &name);
        match client
            .json(
                hyper::Method::DELETE,
                &path,
                "application/json",
                Some(("application/json", &opts)),
            )
            .await
        {
            Ok(v) => {
                let how = if a.force { "force deleted" } else { "deleted" };
                println!("{} \"{name}\" {how} from {ns} namespace", res.singular());
                deleted.push((res, name, v));
            }
            Err(e @ ClientError::Api(_)) => {
                eprintln!("{e}");
                failed = true;
            }
            Err(e) => return Err(e.into()),
        }
    }
    if a.wait {
        for (res, name, v) in deleted {
            wait_gone(&client, res, ns, &name, &v).await?;
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Returns once `name` no longer exists. `last` is the object as the
/// delete answered (a `Status` when it was removed at once).
pub async fn wait_gone(
    client: &Client,
    res: Resource,
    ns: &str,
    name: &str,
    last: &Value,
) -> anyhow::Result<()> {
    if last["kind"].as_str() == Some("Status") {
        return Ok(());
    }
    // Watch from the current version so the removal cannot be missed.
    let current = match client.get(&res.item(ns, name)).await {
        Ok(v) => v,
        Err(e) if e.is_not_found() => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let rv = current["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or("0")
        .to_string();
    let path = with_query(
        &res.collection(Some(ns)),
        &[
            ("watch", "1".into()),
            ("fieldSelector", format!("metadata.name={name}")),
            ("resourceVersion", rv),
        ],
    );
    let mut stream = client.stream(&path, "application/json").await?;
    while let Some(ev) = stream.event().await? {
        if ev["type"].as_str() == Some("DELETED") {
            return Ok(());
        }
    }
    // The watch ended (server timeout): check directly.
    match client.get(&res.item(ns, name)).await {
        Err(e) if e.is_not_found() => Ok(()),
        Err(e) => Err(e.into()),
        Ok(_) => Box::pin(wait_gone(client, res, ns, name, &current)).await,
    }
}
