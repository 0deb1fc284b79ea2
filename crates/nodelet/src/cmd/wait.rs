//! `nodelet wait --for=condition=Ready|delete pod/NAME`: kubectl's wait,
//! driven by a watch so the change is seen the moment it is recorded.

use std::process::ExitCode;
use std::time::Duration;

use serde_json::Value;

use crate::cli_client::WaitArgs;
use crate::client::resource::{Resource, targets};
use crate::client::{Client, with_query};

/// What to wait for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaitFor {
    Delete,
    /// A condition type and the wanted status (`True` unless `=False`...).
    Condition(String, String),
}

impl WaitFor {
    pub fn parse(s: &str) -> Result<Self, String> {
        if s.eq_ignore_ascii_case("delete") {
            return Ok(WaitFor::Delete);
        }
        let Some(cond) = s.strip_prefix("condition=") else {
            return Err(format!(
                "unrecognized condition: {s:?} (use condition=NAME or delete)"
            ));
        };
        let (name, value) = cond.split_once('=').unwrap_or((cond, "true"));
        if name.is_empty() {
            return Err(format!("unrecognized condition: {s:?}"));
        }
        Ok(WaitFor::Condition(name.to_string(), value.to_string()))
    }

    /// Whether the object satisfies a condition wait (case-insensitive, like kubectl).
    fn met(&self, obj: &Value) -> bool {
        let WaitFor::Condition(name, value) = self else {
            return false;
        };
        obj.pointer("/status/conditions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .any(|c| {
                c["type"]
                    .as_str()
                    .is_some_and(|t| t.eq_ignore_ascii_case(name))
                    && c["status"]
                        .as_str()
                        .is_some_and(|s| s.eq_ignore_ascii_case(value))
            })
    }
}

/// Go-style durations: `30s`, `2m`, `1h30m`, `500ms`, `0`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("invalid duration {s:?}");
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .ok_or_else(bad)?;
        let n: f64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let secs = match &rest[..unit_len] {
            "ms" => n / 1000.0,
            "s" => n,
            "m" => n * 60.0,
            "h" => n * 3600.0,
            _ => return Err(bad()),
        };
        total += Duration::from_secs_f64(secs);
        rest = &rest[unit_len..];
    }
    Ok(total)
}

pub async fn run(a: &WaitArgs) -> anyhow::Result<ExitCode> {
    let client = a.conn.client();
    let ns = a.conn.namespace.as_str();
    let what = WaitFor::parse(&a.for_what).map_err(anyhow::Error::msg)?;
    let timeout = parse_duration(&a.timeout).map_err(anyhow::Error::msg)?;
    let (first, rest) = a
        .objects
        .split_first()
        .ok_or_else(|| anyhow::anyhow!("no objects given"))?;
    let targets = targets(first, rest).map_err(anyhow::Error::msg)?;
    for (res, name) in targets {
        let Some(name) = name else {
            anyhow::bail!("give objects as TYPE/NAME, e.g. pod/web");
        };
        match tokio::time::timeout(timeout, wait_one(&client, res, ns, &name, &what)).await {
            Ok(r) => r?,
            Err(_) => anyhow::bail!(
                "timed out waiting for the condition on {}/{name}",
                res.plural
            ),
        }
        println!("{}/{name} condition met", res.singular());
    }
    Ok(ExitCode::SUCCESS)
}

async fn wait_one(
    client: &Client,
    res: Resource,
    ns: &str,
    name: &str,
    what: &WaitFor,
) -> anyhow::Result<()> {
    loop {
        let current = match client.get(&res.item(ns, name)).await {
            Ok(v) => v,
            Err(e) if e.is_not_found() && *what == WaitFor::Delete => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        if what.met(&current) {
            return Ok(());
        }
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
            match ev["type"].as_str() {
                Some("DELETED") if *what == WaitFor::Delete => return Ok(()),
                Some("DELETED") => {
                    anyhow::bail!(
                        "{}/{name} was deleted while waiting for the condition",
                        res.plural
                    )
                }
                Some("ADDED" | "MODIFIED") if what.met(&ev["object"]) => return Ok(()),
                _ => {}
            }
        }
        // The server ended the watch; look again and re-watch.
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_conditions_and_durations() {
        assert_eq!(WaitFor::parse("delete").unwrap(), WaitFor::Delete);
        assert_eq!(
            WaitFor::parse("condition=Ready").unwrap(),
            WaitFor::Condition("Ready".into(), "true".into())
        );
        assert!(WaitFor::parse("jsonpath={.x}").is_err());
        assert_eq!(parse_duration("60s").unwrap(), Duration::from_secs(60));
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert!(parse_duration("10x").is_err());
        let ready =
            serde_json::json!({"status": {"conditions": [{"type": "Ready", "status": "True"}]}});
        assert!(WaitFor::parse("condition=ready").unwrap().met(&ready));
        assert!(!WaitFor::parse("condition=Ready=False").unwrap().met(&ready));
    }
}
