//! `nodelet timeline pod NAME -o svg|html`: fetches the pod's PodTimeline
//! (`podtimelines.nodelet.dev/v1`) from the agent and draws it with
//! nodelet-timeline's renderers (the same code as the `/ui/` page), to
//! stdout.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;

use crate::cli_client::TimelineArgs;

pub async fn run(a: &TimelineArgs) -> anyhow::Result<ExitCode> {
    let client = a.conn.client();
    let ns = a.conn.namespace.as_str();
    let path = format!(
        "/apis/nodelet.dev/v1/namespaces/{}/podtimelines/{}",
        crate::client::encode(ns),
        crate::client::encode(&a.name)
    );
    let v = client.get(&path).await?;
    let tl: nodelet_timeline::PodTimeline = serde_json::from_value(v)
        .with_context(|| format!("decoding the timeline of pod {ns}/{}", a.name))?;
    let l = nodelet_timeline::layout(&tl, jiff::Timestamp::now());
    let out = match a.output.as_str() {
        "html" => nodelet_timeline::html(&tl, &l),
        _ => nodelet_timeline::svg(&l),
    };
    std::io::stdout()
        .write_all(out.as_bytes())
        .context("writing the picture to stdout")?;
    Ok(ExitCode::SUCCESS)
}
