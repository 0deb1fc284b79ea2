//! The CNI protocol (spec 1.0.0), runtime side: run plugin binaries.
//!
//! A plugin is an executable named after the config's `type`, found in the
//! CNI bin dirs. Parameters travel in `CNI_*` environment variables, the
//! network config as JSON on stdin; the result (or a structured error) comes
//! back as JSON on stdout. A conflist chains plugins: on ADD each plugin gets
//! the previous one's result as `prevResult`; DEL runs the chain in reverse
//! with the cached ADD result, and CHECK runs it in order with that result.
//! No crate implements this maturely, and it is small, so it lives here.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Map, Value};
use tokio::io::AsyncWriteExt;

use super::config::NetworkConfigList;
use crate::error::{Result, RuntimeError};

/// The CNI operations nodelet performs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CniCommand {
    Add,
    Del,
    Check,
}

impl CniCommand {
    pub fn as_str(self) -> &'static str {
        match self {
            CniCommand::Add => "ADD",
            CniCommand::Del => "DEL",
            CniCommand::Check => "CHECK",
        }
    }
}

/// Per-attachment parameters (the `CNI_*` variables besides the command).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CniArgs {
    pub container_id: String,
    /// Path of the network namespace (a pinned nsfs file).
    pub netns: PathBuf,
    pub ifname: String,
    /// `CNI_ARGS` pairs (`K8S_POD_NAME=...`).
    pub args: Vec<(String, String)>,
}

/// Where plugins live and how long one may take.
#[derive(Debug, Clone)]
pub struct CniInvoker {
    bin_dirs: Vec<PathBuf>,
    timeout: Duration,
}

/// Plugin runs longer than this are killed: a stuck plugin must not hang a
/// pod worker forever (CRI runtimes use a similar bound).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

impl CniInvoker {
    pub fn new(bin_dirs: Vec<PathBuf>) -> Self {
        CniInvoker {
            bin_dirs,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Path of the plugin binary for `plugin_type`, or a host problem that
    /// names the Debian package providing the standard plugins.
    pub fn find_plugin(&self, plugin_type: &str) -> Result<PathBuf> {
        if plugin_type.is_empty() || plugin_type.contains('/') {
            return Err(RuntimeError::Network(format!(
                "invalid CNI plugin type {plugin_type:?}"
            )));
        }
        for dir in &self.bin_dirs {
            let candidate = dir.join(plugin_type);
            if is_executable(&candidate) {
                return Ok(candidate);
            }
        }
        Err(RuntimeError::Host(format!(
            "CNI plugin {plugin_type:?} not found in {}: install the Debian package containernetworking-plugins (or put the plugin in one of these directories)",
            self.bin_dirs
                .iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )))
    }

    /// Runs one plugin. Returns its parsed stdout (`None` when empty, as
    /// DEL and CHECK normally answer).
    pub async fn exec_plugin(
        &self,
        command: CniCommand,
        args: &CniArgs,
        config: &Value,
    ) -> Result<Option<Value>> {
        let plugin_type = config
            .get("type")
            .and_then(Value::as_str)
            .ok_or_else(|| RuntimeError::Network("CNI plugin config has no \"type\"".into()))?;
        let binary = self.find_plugin(plugin_type)?;
        let stdin_bytes = serde_json::to_vec(config)
            .map_err(|e| RuntimeError::Other(format!("serialising CNI config: {e}")))?;

        let mut cmd = tokio::process::Command::new(&binary);
        // Plugins inherit our environment (they exec iptables, so need a
        // PATH) minus any CNI_* variables of our own caller.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("CNI_") {
                cmd.env_remove(key);
            }
        }
        cmd.env("CNI_COMMAND", command.as_str())
            .env("CNI_CONTAINERID", &args.container_id)
            .env("CNI_NETNS", &args.netns)
            .env("CNI_IFNAME", &args.ifname)
            .env("CNI_ARGS", format_cni_args(&args.args))
            .env("CNI_PATH", join_paths(&self.bin_dirs))
            .env("PATH", path_with_sbin())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group: Ctrl-C in the agent's terminal must not
            // kill a plugin half-way through an ADD or DEL (the agent decides
            // what to tear down, and in which order).
            .process_group(0)
            .kill_on_drop(true);
        let mut child = cmd.spawn().map_err(|e| RuntimeError::io(&binary, e))?;
        if let Some(mut stdin) = child.stdin.take() {
            // A plugin may exit without reading stdin (EPIPE): its exit
            // status and output then tell what went wrong, so ignore here.
            let _ = stdin.write_all(&stdin_bytes).await;
        }
        let output = match tokio::time::timeout(self.timeout, child.wait_with_output()).await {
            Ok(out) => out.map_err(|e| RuntimeError::io(&binary, e))?,
            Err(_) => {
                return Err(RuntimeError::Network(format!(
                    "CNI plugin {plugin_type} {} timed out after {:?}",
                    command.as_str(),
                    self.timeout
                )));
            }
        };
        let stdout = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() {
            return Err(plugin_error(
                plugin_type,
                command,
                &stdout,
                &output.stderr,
                output.status,
            ));
        }
        if stdout.trim().is_empty() {
            return Ok(None);
        }
        let value: Value = serde_json::from_str(stdout.trim()).map_err(|e| {
            RuntimeError::Network(format!(
                "CNI plugin {plugin_type} {} printed invalid JSON ({e}): {}",
                command.as_str(),
                stdout.trim()
            ))
        })?;
        Ok(Some(value))
    }

    /// ADD through the whole chain; returns the final result.
    pub async fn add_list(
        &self,
        list: &NetworkConfigList,
        args: &CniArgs,
        runtime_config: &Value,
    ) -> Result<Value> {
        let mut prev: Option<Value> = None;
        for plugin in &list.plugins {
            let conf = plugin_config(list, plugin, runtime_config, prev.as_ref());
            let out = self.exec_plugin(CniCommand::Add, args, &conf).await?;
            // A plugin that prints nothing on ADD passes the previous result
            // through (spec: "must output a result"; be lenient).
            if let Some(result) = out {
                prev = Some(result);
            }
        }
        prev.ok_or_else(|| RuntimeError::Network("CNI ADD produced no result".into()))
    }

    /// DEL through the chain in reverse with the cached ADD result.
    /// Tolerant: every plugin is asked even if an earlier one failed, so one
    /// broken plugin does not leak what the others hold; the first error is
    /// returned afterwards so the caller keeps its record and retries.
    pub async fn del_list(
        &self,
        list: &NetworkConfigList,
        args: &CniArgs,
        runtime_config: &Value,
        prev_result: Option<&Value>,
    ) -> Result<()> {
        let mut first_err = None;
        for plugin in list.plugins.iter().rev() {
            let conf = plugin_config(list, plugin, runtime_config, prev_result);
            if let Err(e) = self.exec_plugin(CniCommand::Del, args, &conf).await {
                tracing::warn!(container_id = %args.container_id, error = %e, "CNI DEL failed");
                first_err.get_or_insert(e);
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// CHECK through the chain with the cached ADD result.
    pub async fn check_list(
        &self,
        list: &NetworkConfigList,
        args: &CniArgs,
        runtime_config: &Value,
        prev_result: &Value,
    ) -> Result<()> {
        for plugin in &list.plugins {
            let conf = plugin_config(list, plugin, runtime_config, Some(prev_result));
            self.exec_plugin(CniCommand::Check, args, &conf).await?;
        }
        Ok(())
    }
}

/// The config one plugin of a list receives: its own object plus the list's
/// `name`/`cniVersion`, `runtimeConfig` for the capabilities it declares,
/// and `prevResult`.
pub fn plugin_config(
    list: &NetworkConfigList,
    plugin: &Value,
    runtime_config: &Value,
    prev_result: Option<&Value>,
) -> Value {
    let mut conf = match plugin {
        Value::Object(m) => m.clone(),
        _ => Map::new(),
    };
    conf.insert("name".into(), Value::String(list.name.clone()));
    conf.insert("cniVersion".into(), Value::String(list.cni_version.clone()));
    let mut rc = Map::new();
    if let Some(caps) = plugin.get("capabilities").and_then(Value::as_object) {
        for (cap, enabled) in caps {
            if enabled.as_bool() == Some(true)
                && let Some(v) = runtime_config.get(cap)
            {
                rc.insert(cap.clone(), v.clone());
            }
        }
    }
    if !rc.is_empty() {
        conf.insert("runtimeConfig".into(), Value::Object(rc));
    }
    if let Some(prev) = prev_result {
        conf.insert("prevResult".into(), prev.clone());
    }
    Value::Object(conf)
}

fn plugin_error(
    plugin_type: &str,
    command: CniCommand,
    stdout: &str,
    stderr: &[u8],
    status: std::process::ExitStatus,
) -> RuntimeError {
    let stderr = String::from_utf8_lossy(stderr);
    // Spec error format: {"cniVersion", "code", "msg", "details"}.
    if let Ok(v) = serde_json::from_str::<Value>(stdout.trim())
        && let Some(msg) = v.get("msg").and_then(Value::as_str)
    {
        let code = v.get("code").and_then(Value::as_u64).unwrap_or(0);
        let details = v
            .get("details")
            .and_then(Value::as_str)
            .filter(|d| !d.is_empty())
            .map(|d| format!(" ({d})"))
            .unwrap_or_default();
        return RuntimeError::Network(format!(
            "CNI plugin {plugin_type} {} failed (code {code}): {msg}{details}",
            command.as_str()
        ));
    }
    let text = [stdout.trim(), stderr.trim()]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    RuntimeError::Network(format!(
        "CNI plugin {plugin_type} {} failed ({status}): {text}",
        command.as_str()
    ))
}

fn format_cni_args(args: &[(String, String)]) -> String {
    args.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(";")
}

fn join_paths(dirs: &[PathBuf]) -> OsString {
    let mut out = OsString::new();
    for (i, d) in dirs.iter().enumerate() {
        if i > 0 {
            out.push(":");
        }
        out.push(d);
    }
    out
}

/// Our PATH plus the sbin directories, where iptables lives on Debian; an
/// agent started from a user shell may lack them.
fn path_with_sbin() -> OsString {
    let current = std::env::var_os("PATH").unwrap_or_default();
    let mut parts: Vec<PathBuf> = std::env::split_paths(&current).collect();
    for extra in [
        "/usr/local/sbin",
        "/usr/local/bin",
        "/usr/sbin",
        "/usr/bin",
        "/sbin",
        "/bin",
    ] {
        let p = PathBuf::from(extra);
        if !parts.contains(&p) {
            parts.push(p);
        }
    }
    std::env::join_paths(parts).unwrap_or(current)
}

/// Finds `name` in the PATH plugins will get (for host checks).
pub fn find_in_plugin_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&path_with_sbin())
        .map(|d| d.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn list() -> NetworkConfigList {
        NetworkConfigList::from_value(json!({
            "cniVersion": "1.0.0",
            "name": "n",
            "plugins": [
                {"type": "bridge"},
                {"type": "portmap", "capabilities": {"portMappings": true, "bandwidth": false}}
            ]
        }))
        .unwrap()
    }

    #[test]
    fn plugin_config_injects_name_version_capabilities_and_prev_result() {
        let l = list();
        let rc = json!({"portMappings": [{"hostPort": 1}], "bandwidth": {"x": 1}});
        let prev = json!({"cniVersion": "1.0.0", "ips": []});
        let bridge = plugin_config(&l, &l.plugins[0], &rc, None);
        assert_eq!(bridge["name"], "n");
        assert_eq!(bridge["cniVersion"], "1.0.0");
        assert!(bridge.get("runtimeConfig").is_none());
        assert!(bridge.get("prevResult").is_none());
        let pm = plugin_config(&l, &l.plugins[1], &rc, Some(&prev));
        assert_eq!(
            pm["runtimeConfig"],
            json!({"portMappings": [{"hostPort": 1}]})
        );
        assert_eq!(pm["prevResult"], prev);
    }

    #[test]
    fn cni_args_format() {
        let a = vec![
            ("A".to_string(), "1".to_string()),
            ("B".to_string(), "x".to_string()),
        ];
        assert_eq!(format_cni_args(&a), "A=1;B=x");
    }

    #[test]
    fn missing_plugin_names_the_package() {
        let inv = CniInvoker::new(vec![PathBuf::from("/nonexistent-cni")]);
        let err = inv.find_plugin("bridge").unwrap_err().to_string();
        assert!(err.contains("containernetworking-plugins"), "{err}");
        assert!(err.contains("/nonexistent-cni"), "{err}");
    }

    #[tokio::test]
    async fn structured_plugin_error_is_reported() {
        // A fake plugin speaking the error protocol, via the designed seam of
        // bin dirs.
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("failing");
        std::fs::write(
            &script,
            "#!/bin/sh\ncat >/dev/null\necho '{\"cniVersion\":\"1.0.0\",\"code\":7,\"msg\":\"bad config\",\"details\":\"'$CNI_COMMAND' '$CNI_IFNAME'\"}'\nexit 1\n",
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let inv = CniInvoker::new(vec![dir.path().to_path_buf()]);
        let args = CniArgs {
            container_id: "c".into(),
            netns: PathBuf::from("/x"),
            ifname: "eth9".into(),
            args: vec![],
        };
        let err = inv
            .exec_plugin(CniCommand::Add, &args, &json!({"type": "failing"}))
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("code 7"), "{err}");
        assert!(err.contains("bad config"), "{err}");
        assert!(err.contains("ADD eth9"), "{err}");
    }
}
