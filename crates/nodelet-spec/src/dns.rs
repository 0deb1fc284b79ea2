//! A pod's `/etc/resolv.conf` and `/etc/hosts`, computed as the kubelet
//! computes them (`pkg/kubelet/network/dns/dns.go` `GetPodDNS`, and
//! `kubelet_pods.go` `managedHostsFileContent` / `nodeHostsFileContent`),
//! written as containerd writes a CRI `DNSConfig` (`search`, `nameserver`
//! lines, `options`).
//!
//! Pure: the host's resolv.conf comes in as text, the cluster DNS settings
//! (`--cluster-dns`, `--cluster-domain`) as values, and what the kubelet
//! would record as events comes back as values.

use k8s_openapi::api::core::v1::Pod;

/// A `hostAliases` entry: the IP and its names.
pub type HostAlias = (String, Vec<String>);

/// The pod's `hostAliases` as plain (ip, names) pairs.
pub fn host_aliases(pod: &Pod) -> Vec<HostAlias> {
    pod.spec
        .iter()
        .flat_map(|s| s.host_aliases.iter().flatten())
        .map(|a| (a.ip.clone(), a.hostnames.clone().unwrap_or_default()))
        .collect()
}

/// `validation.MaxDNSNameservers`.
pub const MAX_NAMESERVERS: usize = 3;
/// `validation.MaxDNSSearchPaths` (the expanded limits, GA since 1.28).
pub const MAX_SEARCH_PATHS: usize = 32;
/// `validation.MaxDNSSearchListChars`.
pub const MAX_SEARCH_LIST_CHARS: usize = 2048;
/// A search path longer than a DNS name is dropped (glibc aborts on them).
const MAX_SEARCH_PATH_LEN: usize = 253;
/// The kubelet's `defaultDNSOptions`.
pub const DEFAULT_OPTIONS: &[&str] = &["ndots:5"];

/// The parsed host resolv.conf (`parseResolvConf`): nameservers
/// accumulate, the last `search` and `options` lines win, a trailing dot
/// of a search domain is dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResolvConf {
    pub nameservers: Vec<String>,
    pub searches: Vec<String>,
    pub options: Vec<String>,
}

impl ResolvConf {
    pub fn parse(text: &str) -> ResolvConf {
        let mut out = ResolvConf::default();
        for line in text.lines() {
            let line = line.trim();
            if line.starts_with('#') {
                continue;
            }
            let fields: Vec<&str> = line.split_whitespace().collect();
            match fields.as_slice() {
                ["nameserver", server, ..] => out.nameservers.push((*server).to_owned()),
                ["search", rest @ ..] => {
                    out.searches = rest
                        .iter()
                        .map(|s| s.strip_suffix('.').unwrap_or(s).to_owned())
                        .collect()
                }
                ["options", rest @ ..] => {
                    out.options = rest.iter().map(|s| (*s).to_owned()).collect()
                }
                _ => {}
            }
        }
        out
    }
}

/// The node's DNS settings (kubelet `--cluster-dns`, `--cluster-domain`,
/// and the parsed `--resolv-conf`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterDns {
    /// Cluster DNS servers; empty when the node has none configured.
    pub servers: Vec<String>,
    /// `cluster.local`; empty disables the cluster search domains.
    pub domain: String,
    pub host: ResolvConf,
}

/// A warning the kubelet records while forming the config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsEvent {
    pub reason: &'static str,
    pub message: String,
}

/// What the pod gets: the CRI `DNSConfig`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodDns {
    pub servers: Vec<String>,
    pub searches: Vec<String>,
    pub options: Vec<String>,
}

/// `GetPodDNS`: the resolver config for `pod` and the warnings to record.
pub fn pod_dns(pod: &Pod, node: &ClusterDns) -> (PodDns, Vec<DnsEvent>) {
    let spec = pod.spec.clone().unwrap_or_default();
    let host_network = spec.host_network == Some(true);
    let mut events = Vec::new();
    let host = &node.host;
    let mut dns = PodDns {
        servers: host.nameservers.clone(),
        searches: host.searches.clone(),
        options: host.options.clone(),
    };
    let cluster = match spec.dns_policy.as_deref().unwrap_or("ClusterFirst") {
        "None" => {
            dns = PodDns::default();
            false
        }
        "ClusterFirstWithHostNet" => true,
        "Default" => false,
        "ClusterFirst" => !host_network,
        _ => true,
    };
    if cluster {
        if node.servers.is_empty() {
            let node_msg = "kubelet does not have ClusterDNS IP configured and cannot create Pod using \"ClusterFirst\" policy. Falling back to \"Default\" policy.";
            events.push(DnsEvent {
                reason: "MissingClusterDNS",
                message: format!("pod: \"{}\". {node_msg}", format_pod(pod)),
            });
        } else {
            dns.servers = node.servers.clone();
            dns.searches = cluster_searches(&host.searches, pod, &node.domain);
            dns.options = DEFAULT_OPTIONS.iter().map(|s| (*s).to_owned()).collect();
        }
    }
    if let Some(config) = &spec.dns_config {
        dns.servers
            .extend(config.nameservers.iter().flatten().cloned());
        dns.servers = omit_duplicates(std::mem::take(&mut dns.servers));
        dns.searches
            .extend(config.searches.iter().flatten().cloned());
        dns.searches = omit_duplicates(std::mem::take(&mut dns.searches));
        dns.options = merge_options(&dns.options, config.options.iter().flatten());
    }
    if dns.servers.len() > MAX_NAMESERVERS {
        dns.servers.truncate(MAX_NAMESERVERS);
        events.push(DnsEvent {
            reason: "DNSConfigForming",
            message: format!(
                "Nameserver limits were exceeded, some nameservers have been omitted, the applied nameserver line is: {}",
                dns.servers.join(" ")
            ),
        });
    }
    let (searches, exceeded) = fit_searches(std::mem::take(&mut dns.searches));
    dns.searches = searches;
    if exceeded {
        events.push(DnsEvent {
            reason: "DNSConfigForming",
            message: format!(
                "Search Line limits were exceeded, some search paths have been omitted, the applied search line is: {}",
                dns.searches.join(" ")
            ),
        });
    }
    (dns, events)
}

/// `format.Pod`: `name_namespace(uid)`.
fn format_pod(pod: &Pod) -> String {
    let m = &pod.metadata;
    format!(
        "{}_{}({})",
        m.name.as_deref().unwrap_or_default(),
        m.namespace.as_deref().unwrap_or("default"),
        m.uid.as_deref().unwrap_or_default()
    )
}

/// `generateSearchesForDNSClusterFirst`.
fn cluster_searches(host: &[String], pod: &Pod, domain: &str) -> Vec<String> {
    if domain.is_empty() {
        return host.to_vec();
    }
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    let mut all = vec![
        format!("{ns}.svc.{domain}"),
        format!("svc.{domain}"),
        domain.to_owned(),
    ];
    all.extend(host.iter().cloned());
    omit_duplicates(all)
}

fn omit_duplicates(v: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    v.into_iter().filter(|s| seen.insert(s.clone())).collect()
}

/// `mergeDNSOptions`: options from `dnsConfig` override same-named ones.
/// The kubelet goes through a map (random order); here existing options
/// keep their place and new ones follow in the order given.
fn merge_options<'a>(
    existing: &[String],
    extra: impl Iterator<Item = &'a k8s_openapi::api::core::v1::PodDNSConfigOption>,
) -> Vec<String> {
    let mut out: Vec<(String, String)> = existing
        .iter()
        .map(|o| match o.split_once(':') {
            Some((n, v)) => (n.to_owned(), v.to_owned()),
            None => (o.clone(), String::new()),
        })
        .collect();
    for o in extra {
        let name = o.name.clone().unwrap_or_default();
        let value = o.value.clone().unwrap_or_default();
        match out.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => out.push((name, value)),
        }
    }
    out.into_iter()
        .map(|(n, v)| if v.is_empty() { n } else { format!("{n}:{v}") })
        .collect()
}

/// `formDNSSearchFitsLimits`: at most 32 paths, none longer than a DNS
/// name, the line at most 2048 characters (cut from the end).
fn fit_searches(mut searches: Vec<String>) -> (Vec<String>, bool) {
    let mut exceeded = false;
    if searches.len() > MAX_SEARCH_PATHS {
        searches.truncate(MAX_SEARCH_PATHS);
        exceeded = true;
    }
    let before = searches.len();
    searches.retain(|s| s.len() <= MAX_SEARCH_PATH_LEN);
    exceeded |= searches.len() != before;
    let mut line_len = searches.join(" ").len();
    if line_len > MAX_SEARCH_LIST_CHARS {
        while let Some(last) = searches.pop() {
            line_len -= last.len() + 1;
            if line_len <= MAX_SEARCH_LIST_CHARS {
                break;
            }
        }
        exceeded = true;
    }
    (searches, exceeded)
}

/// containerd's `parseDNSOptions`: the resolv.conf a `DNSConfig` becomes.
pub fn resolv_conf_content(dns: &PodDns) -> String {
    let mut s = String::new();
    if !dns.searches.is_empty() {
        s.push_str(&format!("search {}\n", dns.searches.join(" ")));
    }
    if !dns.servers.is_empty() {
        s.push_str(&format!(
            "nameserver {}\n",
            dns.servers.join("\nnameserver ")
        ));
    }
    if !dns.options.is_empty() {
        s.push_str(&format!("options {}\n", dns.options.join(" ")));
    }
    s
}

const MANAGED_HOSTS_HEADER: &str = "# Kubernetes-managed hosts file.\n";
const MANAGED_HOSTS_HEADER_HOST_NETWORK: &str = "# Kubernetes-managed hosts file (host network).\n";

/// `managedHostsFileContent`: localhost lines, one line per pod IP with
/// the hostname (and `<hostname>.<domain>` with a subdomain), then the
/// host aliases.
pub fn managed_hosts_file(
    pod_ips: &[String],
    hostname: &str,
    domain: Option<&str>,
    aliases: &[HostAlias],
) -> String {
    let mut s = String::from(MANAGED_HOSTS_HEADER);
    s.push_str("127.0.0.1\tlocalhost\n");
    s.push_str("::1\tlocalhost ip6-localhost ip6-loopback\n");
    s.push_str("fe00::0\tip6-localnet\n");
    s.push_str("fe00::0\tip6-mcastprefix\n");
    s.push_str("fe00::1\tip6-allnodes\n");
    s.push_str("fe00::2\tip6-allrouters\n");
    for ip in pod_ips {
        match domain.filter(|d| !d.is_empty()) {
            Some(d) => s.push_str(&format!("{ip}\t{hostname}.{d}\t{hostname}\n")),
            None => s.push_str(&format!("{ip}\t{hostname}\n")),
        }
    }
    s.push_str(&host_alias_entries(aliases));
    s
}

/// `nodeHostsFileContent`: a hostNetwork pod sees the node's hosts file
/// under the managed header, plus its aliases.
pub fn node_hosts_file(node_hosts: &str, aliases: &[HostAlias]) -> String {
    let mut s = String::from(MANAGED_HOSTS_HEADER_HOST_NETWORK);
    s.push_str(node_hosts);
    s.push_str(&host_alias_entries(aliases));
    s
}

/// `hostsEntriesFromHostAliases`: one line per alias IP.
fn host_alias_entries(aliases: &[HostAlias]) -> String {
    if aliases.is_empty() {
        return String::new();
    }
    let mut s = String::from("\n# Entries added by HostAliases.\n");
    for (ip, names) in aliases {
        s.push_str(&format!("{ip}\t{}\n", names.join("\t")));
    }
    s
}

#[cfg(test)]
mod tests;
