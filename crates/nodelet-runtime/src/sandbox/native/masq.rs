//! Masquerade of pod egress (the bridge plugin's `ipMasq`), per node.
//!
//! The bridge plugin adds, for every pod, a chain `CNI-<hash>` and a
//! POSTROUTING rule `-s <pod ip>` jumping to it (`-d <subnet> ACCEPT`,
//! `! -d 224.0.0.0/4 MASQUERADE`): three iptables runs under the xtables
//! lock per pod start and as many per stop. The native path installs the
//! same decision once for the whole subnet, in an nftables table of its
//! own (`ip nodelet-pods-<network>`), replaced atomically each time an
//! agent starts, touching no other table: traffic from the pod subnet to
//! anything but the subnet and multicast leaves with the node's address.
//! It is removed by `nodelet serve --drain` (uninstalling), not by a plain
//! stop: running pods keep their egress while the agent restarts.
//!
//! The bridge plugin's per-pod chains of sandboxes it made are removed
//! here too (see [`remove_plugin_chain`]) when such a sandbox is torn down
//! by the native path, so switching paths leaks no rule.

use std::io::Write;
use std::process::{Command, Stdio};

use sha2::{Digest, Sha512};

use super::ipam::Range;
use crate::error::{Result, RuntimeError};
use crate::sandbox::cni::invoke::find_in_plugin_path;

/// nodelet's masquerade table for network `network` (characters nft does
/// not take in a name become `_`).
pub fn table_name(network: &str) -> String {
    let safe: String = network
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("nodelet-pods-{safe}")
}

/// The table as one nft transaction that replaces any previous one (the
/// `add` makes the `delete` never fail).
pub fn ruleset(table: &str, range: &Range) -> String {
    let subnet = range.cidr();
    format!(
        "add table ip {table}\n\
         delete table ip {table}\n\
         table ip {table} {{\n\
         \x20 chain postrouting {{\n\
         \x20   type nat hook postrouting priority srcnat; policy accept;\n\
         \x20   ip saddr {subnet} ip daddr != {subnet} ip daddr != 224.0.0.0/4 masquerade\n\
         \x20 }}\n\
         }}\n"
    )
}

/// Installs (or refreshes) the masquerade of `range`.
pub fn install(table: &str, range: &Range) -> Result<()> {
    nft(&ruleset(table, range))
}

/// Removes the table; absent is fine.
pub fn remove(table: &str) -> Result<()> {
    nft(&format!("add table ip {table}\ndelete table ip {table}\n"))
}

/// Whether `nft` can be run (a host problem otherwise).
pub fn nft_available() -> bool {
    find_in_plugin_path("nft").is_some()
}

fn nft(script: &str) -> Result<()> {
    let binary = find_in_plugin_path("nft").ok_or_else(|| {
        RuntimeError::Host(
            "nft not found: the native pod network masquerades pod egress with it; install the Debian package nftables".into(),
        )
    })?;
    let mut child = Command::new(&binary)
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| RuntimeError::io(&binary, e))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A failed write shows as nft's own error below.
        let _ = stdin.write_all(script.as_bytes());
    }
    let out = child
        .wait_with_output()
        .map_err(|e| RuntimeError::io(&binary, e))?;
    if !out.status.success() {
        return Err(RuntimeError::Network(format!(
            "nft failed installing the pod masquerade: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

/// The bridge plugin's per-pod masquerade chain (`utils.FormatChainName`:
/// `CNI-` and the first 24 hex digits of sha512(network name + container
/// id)) and its rule comment (`utils.FormatComment`).
pub fn plugin_chain(network: &str, container_id: &str) -> (String, String) {
    let digest = Sha512::digest(format!("{network}{container_id}").as_bytes());
    let chain = format!("CNI-{}", &hex::encode(digest)[..24]);
    let comment = format!("name: {network:?} id: {container_id:?}");
    (chain, comment)
}

/// Removes what the bridge plugin's `ipMasq` made for one pod (what its
/// DEL would): the POSTROUTING jump, then the chain. Each step may find
/// nothing (already removed), which is fine.
pub fn remove_plugin_chain(network: &str, container_id: &str, pod_ip: &str) -> Result<()> {
    let Some(iptables) = find_in_plugin_path("iptables") else {
        // No iptables: the plugin could not have made the chain either.
        return Ok(());
    };
    let (chain, comment) = plugin_chain(network, container_id);
    let run = |args: &[&str]| {
        Command::new(&iptables)
            .args(["-w", "-t", "nat"])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map_err(|e| RuntimeError::io(&iptables, e))
    };
    for source in [pod_ip.to_string(), format!("{pod_ip}/32")] {
        // Ignored: the rule may be gone (or written the other way).
        let _ = run(&[
            "-D",
            "POSTROUTING",
            "-s",
            &source,
            "-j",
            &chain,
            "-m",
            "comment",
            "--comment",
            &comment,
        ])?;
    }
    // -F then -X: both fail only if the chain does not exist.
    let _ = run(&["-F", &chain])?;
    let _ = run(&["-X", &chain])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugin_chain_names_match_the_bridge_plugin() {
        // Seen on this host: bridge plugin 1.1.1, network "nltest", id "abc".
        let (chain, comment) = plugin_chain("nltest", "abc");
        assert_eq!(chain, "CNI-3dd43c2f49db9f2de5fd392b");
        assert_eq!(comment, r#"name: "nltest" id: "abc""#);
    }

    #[test]
    fn ruleset_masquerades_the_subnet_only() {
        let r = Range::from_cidr("10.244.0.0/24").unwrap();
        let t = table_name("nodelet");
        assert_eq!(t, "nodelet-pods-nodelet");
        let s = ruleset(&t, &r);
        assert!(
            s.starts_with(
                "add table ip nodelet-pods-nodelet\ndelete table ip nodelet-pods-nodelet\n"
            ),
            "{s}"
        );
        assert!(s.contains("ip saddr 10.244.0.0/24 ip daddr != 10.244.0.0/24 ip daddr != 224.0.0.0/4 masquerade"), "{s}");
        assert_eq!(table_name("a b/c"), "nodelet-pods-a_b_c");
    }
}
