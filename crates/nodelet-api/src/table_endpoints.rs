//! Table columns and cells of Endpoints and EndpointSlices, as kubectl's
//! server-side printers make them (`endpointColumnDefinitions`,
//! `endpointSliceColumnDefinitions`, `formatEndpoints`,
//! `formatDiscoveryPorts`, `formatDiscoveryEndpoints`).

use serde_json::{Value, json};

const SUBSETS_DESC: &str = "The set of all endpoints is the union of all subsets. Addresses are placed into subsets according to the IPs they share. A single address with multiple ports, some of which are ready and some of which are not (because they come from different containers) will result in the address being displayed in different subsets for the different ports. No address will appear in both Addresses and NotReadyAddresses in the same subset. Sets of addresses and ports that comprise a service.";
const ADDRESS_TYPE_DESC: &str = "addressType specifies the type of address carried by this EndpointSlice. All addresses in this slice must be the same type. This field is immutable after creation. The following address types are currently supported: * IPv4: Represents an IPv4 Address. * IPv6: Represents an IPv6 Address. * FQDN: Represents a Fully Qualified Domain Name. (Deprecated) The EndpointSlice controller only generates, and kube-proxy only processes, slices of addressType \"IPv4\" and \"IPv6\". No semantics are defined for the \"FQDN\" type.";
const PORTS_DESC: &str = "ports specifies the list of network ports exposed by each endpoint in this slice. Each port must have a unique name. Each slice may include a maximum of 100 ports. Services always have at least 1 port. When ports is empty, it indicates that there are no defined ports.";
const ENDPOINTS_DESC: &str = "endpoints is a list of unique endpoints in this slice. Each slice may include a maximum of 1000 endpoints.";

fn col(name: &str, description: &str) -> Value {
    json!({"name": name, "type": "string", "format": "", "description": description, "priority": 0})
}

pub fn endpoints_columns() -> Vec<Value> {
    vec![col("Endpoints", SUBSETS_DESC)]
}

pub fn slice_columns() -> Vec<Value> {
    vec![
        col("AddressType", ADDRESS_TYPE_DESC),
        col("Ports", PORTS_DESC),
        col("Endpoints", ENDPOINTS_DESC),
    ]
}

const MAX: usize = 3;

/// `formatEndpoints`: `ip:port` of ready addresses, at most three.
pub fn format_endpoints(ep: &Value) -> String {
    let Some(subsets) = ep["subsets"].as_array().filter(|s| !s.is_empty()) else {
        return "<none>".into();
    };
    let mut list = Vec::new();
    let mut more = false;
    let mut count = 0;
    for ss in subsets {
        let addrs: Vec<&str> = ss["addresses"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| a["ip"].as_str())
            .collect();
        let ports = ss["ports"].as_array().cloned().unwrap_or_default();
        if ports.is_empty() {
            count += addrs.len();
            for a in &addrs {
                if list.len() == MAX {
                    more = true;
                    break;
                }
                list.push((*a).to_owned());
            }
            continue;
        }
        for p in &ports {
            count += addrs.len();
            for a in &addrs {
                if list.len() == MAX {
                    more = true;
                    break;
                }
                let port = p["port"].as_i64().unwrap_or(0);
                list.push(if a.contains(':') {
                    format!("[{a}]:{port}")
                } else {
                    format!("{a}:{port}")
                });
            }
        }
    }
    let ret = list.join(",");
    if more {
        format!("{ret} + {} more...", count - MAX)
    } else {
        ret
    }
}

fn with_more(list: Vec<String>, more: bool, count: usize) -> String {
    let ret = list.join(",");
    if more {
        format!("{ret} + {} more...", count - MAX)
    } else if ret.is_empty() {
        "<unset>".into()
    } else {
        ret
    }
}

/// `formatDiscoveryPorts`.
pub fn format_slice_ports(slice: &Value) -> String {
    let mut list = Vec::new();
    let mut more = false;
    let mut count = 0;
    for p in slice["ports"].as_array().into_iter().flatten() {
        if list.len() < MAX {
            list.push(match (p["port"].as_i64(), p["name"].as_str()) {
                (Some(n), _) => n.to_string(),
                (None, Some(name)) => name.to_owned(),
                (None, None) => "*".into(),
            });
        } else {
            more = true;
        }
        count += 1;
    }
    with_more(list, more, count)
}

/// `formatDiscoveryEndpoints`.
pub fn format_slice_endpoints(slice: &Value) -> String {
    let mut list = Vec::new();
    let mut more = false;
    let mut count = 0;
    for e in slice["endpoints"].as_array().into_iter().flatten() {
        for a in e["addresses"].as_array().into_iter().flatten() {
            if list.len() < MAX {
                list.push(a.as_str().unwrap_or_default().to_owned());
            } else {
                more = true;
            }
            count += 1;
        }
    }
    with_more(list, more, count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_cell_lists_three_then_counts() {
        let ep = json!({"subsets": [{"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}, {"ip": "10.0.0.3"}, {"ip": "10.0.0.4"}],
            "ports": [{"port": 80}]}]});
        assert_eq!(
            format_endpoints(&ep),
            "10.0.0.1:80,10.0.0.2:80,10.0.0.3:80 + 1 more..."
        );
        assert_eq!(format_endpoints(&json!({})), "<none>");
        let slice = json!({"ports": [{"port": 8080, "name": "http"}], "endpoints": [{"addresses": ["10.0.0.1"]}]});
        assert_eq!(format_slice_ports(&slice), "8080");
        assert_eq!(format_slice_endpoints(&slice), "10.0.0.1");
        assert_eq!(format_slice_endpoints(&json!({})), "<unset>");
    }
}
