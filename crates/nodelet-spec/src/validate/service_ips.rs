//! `ValidateServiceClusterIPsRelatedFields`: `clusterIP` and `clusterIPs`
//! in step, valid addresses, at most one per family, families matching
//! `ipFamilies`, a supported `ipFamilyPolicy`.

use std::collections::HashSet;
use std::net::IpAddr;

use k8s_openapi::api::core::v1::ServiceSpec;

use crate::field_error::Raw;
use crate::{FieldError, FieldErrors, FieldPath};

const FAMILIES: &[&str] = &["IPv4", "IPv6"];
const POLICIES: &[&str] = &["PreferDualStack", "RequireDualStack", "SingleStack"];
const INVALID_IP: &str = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)";

/// Go's `%#v` of a `[]string`, as the API server shows `clusterIPs`.
pub fn go_string_slice(v: &[String]) -> String {
    let items: Vec<String> = v.iter().map(|s| format!("{s:?}")).collect();
    format!("[]string{{{}}}", items.join(", "))
}

pub fn validate_cluster_ips(spec: &ServiceSpec) -> FieldErrors {
    let mut errs = FieldErrors::default();
    if spec.type_.as_deref() == Some("ExternalName") {
        return errs;
    }
    let path = FieldPath::new("spec");
    let ips_path = path.child("clusterIPs");
    let cluster_ip = spec.cluster_ip.as_deref().unwrap_or("");
    let ips = spec.cluster_ips.as_deref().unwrap_or(&[]);
    let shown = || Raw(go_string_slice(ips));
    if !cluster_ip.is_empty() {
        match ips.first() {
            None => errs.push(FieldError::required(ips_path.clone(), "")),
            Some(first) if first != cluster_ip => errs.push(FieldError::invalid(
                ips_path.clone(),
                shown(),
                "first value must match `clusterIP`",
            )),
            Some(_) => {}
        }
    } else if !ips.is_empty() {
        errs.push(FieldError::invalid(
            ips_path.clone(),
            shown(),
            "must be empty when `clusterIP` is not specified",
        ));
    }

    let families = spec.ip_families.as_deref().unwrap_or(&[]);
    let mut seen = HashSet::new();
    for (i, f) in families.iter().enumerate() {
        let p = path.child("ipFamilies").index(i);
        if !FAMILIES.contains(&f.as_str()) {
            errs.push(FieldError::not_supported(p.clone(), f.as_str(), FAMILIES));
        }
        if !seen.insert(f.as_str()) {
            errs.push(FieldError::duplicate(p, f.as_str()));
        }
    }
    if let Some(policy) = spec.ip_family_policy.as_deref()
        && !POLICIES.contains(&policy)
    {
        errs.push(FieldError::not_supported(
            path.child("ipFamilyPolicy"),
            policy,
            POLICIES,
        ));
    }

    let mut invalid = false;
    for (i, ip) in ips.iter().enumerate() {
        if i == 0 && ip == "None" {
            if ips.len() > 1 {
                invalid = true;
                errs.push(FieldError::invalid(
                    ips_path.clone(),
                    shown(),
                    "'None' must be the first and only value",
                ));
            }
            continue;
        }
        if ip.parse::<IpAddr>().is_err() {
            invalid = true;
            errs.push(FieldError::invalid(
                ips_path.index(i),
                ip.as_str(),
                INVALID_IP,
            ));
        }
    }
    if ips.len() > 2 {
        errs.push(FieldError::invalid(
            ips_path.clone(),
            shown(),
            "may only hold up to 2 values",
        ));
    }
    if invalid {
        return errs;
    }
    if ips.len() > 1 {
        let v4 = ips.iter().filter(|ip| is_v4(ip)).count();
        if v4 != 1 || ips.len() != 2 {
            errs.push(FieldError::invalid(
                ips_path.clone(),
                shown(),
                "may specify no more than one IP for each IP family",
            ));
        }
    }
    let headless = ips.len() == 1 && ips[0] == "None";
    if !headless {
        for (i, (ip, family)) in ips.iter().zip(families).enumerate() {
            let want_v6 = family == "IPv6";
            if family == "IPv4" && !is_v4(ip) {
                errs.push(FieldError::invalid(
                    ips_path.index(i),
                    ip.as_str(),
                    format!("expected an IPv4 value as indicated by `ipFamilies[{i}]`"),
                ));
            }
            if want_v6 && is_v4(ip) {
                errs.push(FieldError::invalid(
                    ips_path.index(i),
                    ip.as_str(),
                    format!("expected an IPv6 value as indicated by `ipFamilies[{i}]`"),
                ));
            }
        }
    }
    errs
}

fn is_v4(ip: &str) -> bool {
    matches!(ip.parse::<IpAddr>(), Ok(IpAddr::V4(_)))
}
