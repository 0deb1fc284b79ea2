//! The CNI network configuration list nodelet uses, and where it comes from.
//!
//! On first start nodelet writes a default conflist (bridge, host-local IPAM,
//! portmap) into its own config directory, so a fresh node has pod
//! networking without an operator writing JSON. An operator may replace the
//! file; we then use theirs as is. The loopback plugin is not part of the
//! list: like CRI runtimes we invoke it separately for `lo` in every pod.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::error::{Result, RuntimeError};
use crate::sandbox::native::PodNetwork;

/// The CNI version nodelet speaks and writes into its configs.
pub const CNI_VERSION: &str = "1.0.0";

/// File name of the generated default conflist inside the config directory.
pub const DEFAULT_CONFLIST_NAME: &str = "10-nodelet.conflist";

/// How nodelet finds and configures CNI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CniOptions {
    /// Where conflists live (default `/etc/nodelet/cni`).
    pub conf_dir: PathBuf,
    /// Where plugin binaries are searched, in order.
    pub bin_dirs: Vec<PathBuf>,
    /// Pod subnet of the generated config (`10.244.0.0/24` by default: not
    /// podman's 10.88/16 nor docker's 172.17/16).
    pub subnet: String,
    /// Linux bridge of the generated config.
    pub bridge: String,
    /// Network name (`name` of the conflist; host-local leases and iptables
    /// comments are keyed by it).
    pub network_name: String,
    /// nodelet's CNI state: host-local IPAM leases go to
    /// `<cache_dir>/networks/<network_name>` (instead of the plugin default
    /// /var/lib/cni/networks), so tests and several agents stay apart.
    pub cache_dir: PathBuf,
    /// Whether pods of the default config are attached natively or through
    /// the plugins (`--pod-network`, see `sandbox::native`).
    pub pod_network: PodNetwork,
    /// IPv4 ranges routed from the host onto the bridge, with its address
    /// as the source (the service range, `--service-route`): the host then
    /// reaches cluster IPs over the device their endpoints are behind.
    /// Native pod network only; CNI plugins make their own routes.
    pub bridge_routes: Vec<String>,
}

impl Default for CniOptions {
    fn default() -> Self {
        CniOptions {
            conf_dir: PathBuf::from("/etc/nodelet/cni"),
            bin_dirs: vec![PathBuf::from("/usr/lib/cni"), PathBuf::from("/opt/cni/bin")],
            subnet: "10.244.0.0/24".to_string(),
            bridge: "nodelet0".to_string(),
            network_name: "nodelet".to_string(),
            cache_dir: PathBuf::from("/var/lib/nodelet/cni"),
            pod_network: PodNetwork::Auto,
            bridge_routes: Vec::new(),
        }
    }
}

impl CniOptions {
    /// host-local's lease directory root (it adds `/<network name>`).
    pub fn ipam_data_dir(&self) -> PathBuf {
        self.cache_dir.join("networks")
    }
}

/// A parsed conflist: its name, version and the plugin configs in order.
#[derive(Debug, Clone, PartialEq)]
pub struct NetworkConfigList {
    pub name: String,
    pub cni_version: String,
    pub plugins: Vec<Value>,
    /// The whole document as read (kept in sandbox state so DEL runs with
    /// exactly the config ADD ran with).
    pub raw: Value,
}

impl NetworkConfigList {
    pub fn from_value(raw: Value) -> Result<Self> {
        let bad = |why: &str| RuntimeError::Network(format!("invalid CNI conflist: {why}"));
        let name = raw
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("missing \"name\""))?
            .to_string();
        let cni_version = raw
            .get("cniVersion")
            .and_then(Value::as_str)
            .unwrap_or(CNI_VERSION)
            .to_string();
        let plugins = raw
            .get("plugins")
            .and_then(Value::as_array)
            .ok_or_else(|| bad("missing \"plugins\" array"))?
            .clone();
        if plugins.is_empty() {
            return Err(bad("\"plugins\" is empty"));
        }
        for p in &plugins {
            if p.get("type").and_then(Value::as_str).is_none() {
                return Err(bad("a plugin has no \"type\""));
            }
        }
        Ok(NetworkConfigList {
            name,
            cni_version,
            plugins,
            raw,
        })
    }

    /// Plugin types in order (`bridge`, `portmap`...).
    pub fn plugin_types(&self) -> Vec<&str> {
        self.plugins
            .iter()
            .filter_map(|p| p.get("type").and_then(Value::as_str))
            .collect()
    }

    /// Whether some plugin will call iptables (bridge with ipMasq, portmap,
    /// firewall), so the host needs the binary.
    pub fn needs_iptables(&self) -> bool {
        self.plugins
            .iter()
            .any(|p| match p.get("type").and_then(Value::as_str) {
                Some("portmap") | Some("firewall") => true,
                Some("bridge") => p.get("ipMasq").and_then(Value::as_bool) == Some(true),
                _ => false,
            })
    }

    /// Whether a bridge plugin routes pod traffic off the bridge (needs
    /// IP forwarding on the host).
    pub fn needs_forwarding(&self) -> bool {
        self.plugins.iter().any(|p| {
            p.get("type").and_then(Value::as_str) == Some("bridge")
                && (p.get("isGateway").and_then(Value::as_bool) == Some(true)
                    || p.get("ipMasq").and_then(Value::as_bool) == Some(true))
        })
    }
}

/// Checks `a.b.c.d/n` (or an IPv6 CIDR) so a typo fails at start-up rather
/// than inside host-local at the first pod.
pub fn validate_subnet(subnet: &str) -> Result<()> {
    let bad = || {
        RuntimeError::Network(format!(
            "invalid pod subnet {subnet:?}: want CIDR like 10.244.0.0/24"
        ))
    };
    let (addr, len) = subnet.split_once('/').ok_or_else(bad)?;
    let addr: IpAddr = addr.parse().map_err(|_| bad())?;
    let len: u8 = len.parse().map_err(|_| bad())?;
    let max = if addr.is_ipv4() { 30 } else { 126 };
    if len > max || len < 8 {
        return Err(bad());
    }
    Ok(())
}

/// The default conflist for `opts`.
pub fn default_conflist(opts: &CniOptions) -> Result<Value> {
    validate_subnet(&opts.subnet)?;
    let default_dst = if opts.subnet.contains(':') {
        "::/0"
    } else {
        "0.0.0.0/0"
    };
    Ok(json!({
        "cniVersion": CNI_VERSION,
        "name": opts.network_name,
        "plugins": [
            {
                "type": "bridge",
                "bridge": opts.bridge,
                "isGateway": true,
                "ipMasq": true,
                "hairpinMode": true,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{ "subnet": opts.subnet }]],
                    "routes": [{ "dst": default_dst }],
                    "dataDir": opts.ipam_data_dir(),
                }
            },
            {
                "type": "portmap",
                "capabilities": { "portMappings": true },
                "snat": true
            }
        ]
    }))
}

/// Loads the conflist named `opts.network_name` from `opts.conf_dir`
/// (else the first `*.conflist` in name order, as libcni picks), writing the
/// default one first when the directory holds none.
pub fn load_or_create(opts: &CniOptions) -> Result<NetworkConfigList> {
    let dir = &opts.conf_dir;
    std::fs::create_dir_all(dir).map_err(|e| RuntimeError::io(dir, e))?;
    let mut files = conflist_files(dir)?;
    if files.is_empty() {
        let path = dir.join(DEFAULT_CONFLIST_NAME);
        let text = serde_json::to_vec_pretty(&default_conflist(opts)?)
            .map_err(|e| RuntimeError::Other(format!("serialising conflist: {e}")))?;
        crate::sandbox::state::write_atomic(&path, &text)?;
        tracing::info!(path = %path.display(), subnet = %opts.subnet, bridge = %opts.bridge, "wrote default CNI config");
        files.push(path);
    }
    let mut parsed = Vec::new();
    for f in &files {
        let text = std::fs::read(f).map_err(|e| RuntimeError::io(f, e))?;
        let value: Value = serde_json::from_slice(&text)
            .map_err(|e| RuntimeError::Network(format!("{}: not valid JSON: {e}", f.display())))?;
        let list = NetworkConfigList::from_value(value)
            .map_err(|e| RuntimeError::Network(format!("{}: {e}", f.display())))?;
        parsed.push(list);
    }
    let chosen = match parsed.iter().position(|l| l.name == opts.network_name) {
        Some(i) => parsed.swap_remove(i),
        None => parsed.swap_remove(0),
    };
    Ok(chosen)
}

fn conflist_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| RuntimeError::io(dir, e))? {
        let entry = entry.map_err(|e| RuntimeError::io(dir, e))?;
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) == Some("conflist") {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_has_bridge_ipam_and_portmap() {
        let opts = CniOptions {
            cache_dir: PathBuf::from("/x/cni"),
            ..CniOptions::default()
        };
        let list = NetworkConfigList::from_value(default_conflist(&opts).unwrap()).unwrap();
        assert_eq!(list.plugin_types(), vec!["bridge", "portmap"]);
        assert_eq!(list.plugins[0]["ipam"]["dataDir"], "/x/cni/networks");
        assert_eq!(
            list.plugins[0]["ipam"]["ranges"][0][0]["subnet"],
            "10.244.0.0/24"
        );
        assert_eq!(list.plugins[0]["ipam"]["routes"][0]["dst"], "0.0.0.0/0");
        assert!(list.needs_iptables());
        assert!(list.needs_forwarding());
    }

    #[test]
    fn subnet_validation() {
        assert!(validate_subnet("10.244.0.0/24").is_ok());
        assert!(validate_subnet("fd00::/64").is_ok());
        assert!(validate_subnet("10.244.0.0").is_err());
        assert!(validate_subnet("10.244.0.0/31").is_err());
        assert!(validate_subnet("banana/24").is_err());
    }

    #[test]
    fn writes_default_once_and_keeps_operator_file() {
        let dir = tempfile::tempdir().unwrap();
        let opts = CniOptions {
            conf_dir: dir.path().join("conf"),
            cache_dir: dir.path().join("cache"),
            ..CniOptions::default()
        };
        let first = load_or_create(&opts).unwrap();
        assert_eq!(first.name, "nodelet");
        let path = opts.conf_dir.join(DEFAULT_CONFLIST_NAME);
        let mut edited = first.raw.clone();
        edited["plugins"][0]["bridge"] = json!("custom0");
        std::fs::write(&path, serde_json::to_vec(&edited).unwrap()).unwrap();
        let second = load_or_create(&opts).unwrap();
        assert_eq!(second.plugins[0]["bridge"], "custom0");
    }
}
