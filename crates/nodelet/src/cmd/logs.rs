//! `nodelet logs POD`: the container log as the API serves it, streamed
//! to stdout as it arrives (`-f` keeps the stream open).

use std::io::Write;
use std::process::ExitCode;

use crate::cli_client::LogsArgs;
use crate::client::container::default_container;
use crate::client::resource::pod_name;
use crate::client::with_query;

pub async fn run(a: &LogsArgs) -> anyhow::Result<ExitCode> {
    let client = a.conn.client();
    let pod = pod_name(&a.pod).map_err(anyhow::Error::msg)?;
    let mut q = Vec::new();
    let container = match &a.container {
        Some(c) => c.clone(),
        None => {
            let v = client
                .get(&format!(
                    "/api/v1/namespaces/{}/pods/{pod}",
                    a.conn.namespace
                ))
                .await?;
            let (c, notice) = default_container(&v)
                .ok_or_else(|| anyhow::anyhow!("pod {pod} has no containers"))?;
            if let Some(n) = notice {
                eprintln!("{n}");
            }
            c
        }
    };
    q.push(("container", container));
    if a.follow {
        q.push(("follow", "true".to_string()));
    }
    if a.previous {
        q.push(("previous", "true".to_string()));
    }
    if a.tail >= 0 {
        q.push(("tailLines", a.tail.to_string()));
    }
    if a.timestamps {
        q.push(("timestamps", "true".to_string()));
    }
    let path = with_query(
        &format!("/api/v1/namespaces/{}/pods/{pod}/log", a.conn.namespace),
        &q,
    );
    let mut stream = client.stream(&path, "*/*").await?;
    while let Some(chunk) = stream.chunk().await? {
        let mut out = std::io::stdout().lock();
        out.write_all(&chunk)?;
        out.flush()?;
    }
    Ok(ExitCode::SUCCESS)
}
