//! Baseline check on sysctls: only the namespaced, pod-isolated "safe"
//! set, grown by policy version (v1.27, v1.29, v1.32).

use k8s_openapi::api::core::v1::PodSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::{Check, CheckResult, Versioned};
use crate::podsecurity::api::Level;

const SAFE_1_0: &[&str] = &[
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_unprivileged_port_start",
];
const ADDED_1_27: &[&str] = &["net.ipv4.ip_local_reserved_ports"];
const ADDED_1_29: &[&str] = &[
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
];
const ADDED_1_32: &[&str] = &["net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem"];

pub static SYSCTLS: Check = Check {
    id: "sysctls",
    level: Level::Baseline,
    versions: &[
        Versioned {
            min_minor: 0,
            check: |m, s| sysctls(m, s, &[SAFE_1_0]),
            overrides: &[],
        },
        Versioned {
            min_minor: 27,
            check: |m, s| sysctls(m, s, &[SAFE_1_0, ADDED_1_27]),
            overrides: &[],
        },
        Versioned {
            min_minor: 29,
            check: |m, s| sysctls(m, s, &[SAFE_1_0, ADDED_1_27, ADDED_1_29]),
            overrides: &[],
        },
        Versioned {
            min_minor: 32,
            check: |m, s| sysctls(m, s, &[SAFE_1_0, ADDED_1_27, ADDED_1_29, ADDED_1_32]),
            overrides: &[],
        },
    ],
};

fn sysctls(_: &ObjectMeta, spec: &PodSpec, safe: &[&[&str]]) -> CheckResult {
    let bad: Vec<&str> = spec
        .security_context
        .as_ref()
        .and_then(|s| s.sysctls.as_ref())
        .into_iter()
        .flatten()
        .map(|s| s.name.as_str())
        .filter(|n| !safe.iter().any(|set| set.contains(n)))
        .collect();
    if bad.is_empty() {
        return CheckResult::allowed();
    }
    CheckResult::forbidden("forbidden sysctls", bad.join(", "))
}
