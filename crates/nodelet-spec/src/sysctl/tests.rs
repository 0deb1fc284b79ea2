//! Cases from upstream's sysctl_test.go, namespace_test.go,
//! safe_sysctls_test.go and allowlist_test.go.

use super::*;

#[test]
fn names_with_slashes_become_dotted_as_upstream() {
    for (i, o) in [
        ("kernel.shm_rmid_forced", "kernel.shm_rmid_forced"),
        ("kernel/shm_rmid_forced", "kernel.shm_rmid_forced"),
        (
            "net.ipv4.conf.eno2/100.rp_filter",
            "net.ipv4.conf.eno2/100.rp_filter",
        ),
        (
            "net/ipv4/conf/eno2.100/rp_filter",
            "net.ipv4.conf.eno2/100.rp_filter",
        ),
        (
            "net/ipv4/ip_local_port_range",
            "net.ipv4.ip_local_port_range",
        ),
        ("kernel/msgmax", "kernel.msgmax"),
        ("kernel/sem", "kernel.sem"),
        ("", ""),
        ("foo", "foo"),
    ] {
        assert_eq!(normalize_name(i), o, "{i}");
    }
}

#[test]
fn namespaces_are_upstreams() {
    use Namespace::*;
    for (s, ns, name, prefixed) in [
        (
            "kernel.shm_rmid_forced",
            Ipc,
            "kernel.shm_rmid_forced",
            false,
        ),
        (
            "kernel/shm_rmid_forced",
            Ipc,
            "kernel.shm_rmid_forced",
            false,
        ),
        ("kernel.sem", Ipc, "kernel.sem", false),
        ("kernel.shm*", Ipc, "kernel.shm", true),
        ("kernel.msg*", Ipc, "kernel.msg", true),
        ("kernel.msgmnb", Ipc, "kernel.msgmnb", false),
        ("fs.mqueue.msg_max", Ipc, "fs.mqueue.msg_max", false),
        ("fs.mqueue.*", Ipc, "fs.mqueue.", true),
        (
            "net.ipv4.ip_local_port_range",
            Net,
            "net.ipv4.ip_local_port_range",
            false,
        ),
        ("net.*", Net, "net.", true),
        ("kernel.hostname", Uts, "kernel.hostname", false),
        ("kernel.domainname", Uts, "kernel.domainname", false),
        (
            "user.max_user_namespaces",
            User,
            "user.max_user_namespaces",
            false,
        ),
        ("kernel.panic", Unknown, "kernel.panic", false),
        ("vm.swappiness", Unknown, "vm.swappiness", false),
        ("network.x", Unknown, "network.x", false),
        ("net", Unknown, "net", false),
        ("foo*", Unknown, "foo", true),
    ] {
        assert_eq!(namespace(s), (ns, name.to_string(), prefixed), "{s}");
    }
    assert_eq!(Namespace::Net.to_string(), "Net");
    assert_eq!(Namespace::Ipc.to_string(), "IPC");
}

#[test]
fn names_and_patterns_are_checked_as_the_api_regexes() {
    for ok in [
        "a",
        "a.b",
        "a/b",
        "kernel.shm_rmid_forced",
        "net.ipv4.conf.eno2/100.rp_filter",
        "a-b_c.d",
        "0.9",
    ] {
        assert!(is_valid_name(ok), "{ok}");
        assert!(is_valid_pattern(ok), "{ok}");
    }
    for bad in [
        "foo-", "bar..", "", ".a", "a.", "A.b", "a.-b", "a b", "a*", "_a",
    ] {
        assert!(!is_valid_name(bad), "{bad}");
    }
    assert!(!is_valid_name(&"a".repeat(254)));
    assert!(is_valid_name(&"a".repeat(253)));
    for ok in ["*", "net.*", "kernel.msg*", "kernel/msg*", "a.b*"] {
        assert!(is_valid_pattern(ok), "{ok}");
    }
    for bad in [
        " kernel.msg*",
        "kernel.msg* ",
        "net.-",
        "net.*.foo",
        "net.*/foo",
        "net.**",
        "-*",
        "",
    ] {
        assert!(!is_valid_pattern(bad), "{bad}");
    }
}

#[test]
fn the_safe_list_follows_the_kernel_version() {
    let base = [
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_unprivileged_port_start",
    ];
    assert_eq!(safe_sysctls(None), base);
    assert_eq!(safe_sysctls(Some((3, 15))), base);
    let mut v316 = base.to_vec();
    v316.push("net.ipv4.ip_local_reserved_ports");
    assert_eq!(safe_sysctls(Some((3, 18))), v316);
    assert_eq!(safe_sysctls(Some((4, 5))).len(), 9);
    assert_eq!(safe_sysctls(Some((4, 6))).len(), 11);
    assert_eq!(safe_sysctls(Some((4, 15))).len(), 14);
    assert_eq!(safe_sysctls(Some((6, 8))).len(), 14);
    assert_eq!(parse_kernel_version("6.8.0-45-generic"), Some((6, 8)));
    assert_eq!(parse_kernel_version("4.15.0\n"), Some((4, 15)));
    assert_eq!(parse_kernel_version("5.4"), Some((5, 4)));
    assert_eq!(parse_kernel_version("x"), None);
}

#[test]
fn allowlist_construction_refuses_bad_or_host_wide_patterns() {
    let safe = safe_sysctls(Some((6, 8)));
    let with = |extra: &[&str]| {
        let mut v: Vec<&str> = safe.clone();
        v.extend_from_slice(extra);
        Allowlist::new(&v)
    };
    assert!(with(&["kernel.msg*", "kernel.sem"]).is_ok());
    assert!(with(&["kernel/msg*", "kernel/sem"]).is_ok());
    for bad in [
        " kernel.msg*",
        "kernel.msg* ",
        "net.-",
        "net.*.foo",
        "net.*/foo",
    ] {
        assert_eq!(
            with(&[bad]),
            Err(AllowlistError::Invalid(bad.into())),
            "{bad}"
        );
    }
    assert_eq!(
        with(&["foo"]).unwrap_err().to_string(),
        "the sysctls \"foo\" are not known to be namespaced"
    );
    assert_eq!(
        with(&["foo*"]),
        Err(AllowlistError::NotNamespaced("foo".into()))
    );
    assert!(
        with(&["net.-"])
            .unwrap_err()
            .to_string()
            .starts_with("sysctl \"net.-\" must have at most 253 characters and match regex ")
    );
}

fn pod(sysctl: &str, host_net: bool, host_ipc: bool, host_users: bool) -> Pod {
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": "p"},
        "spec": {
            "containers": [{"name": "c"}],
            "hostNetwork": host_net, "hostIPC": host_ipc, "hostUsers": host_users,
            "securityContext": {"sysctls": [{"name": sysctl, "value": "1"}]},
        },
    }))
    .unwrap()
}

#[test]
fn admission_allows_safe_and_allowed_sysctls_outside_host_namespaces() {
    let w = Allowlist::for_node(
        Some((6, 8)),
        &["kernel.msg*", "kernel.sem", "net.b.*", "user.*"],
    )
    .unwrap();
    for (s, n, i, u) in [
        ("kernel.shm_rmid_forced", false, false, false),
        ("kernel/shm_rmid_forced", false, false, false),
        ("net.ipv4.ip_local_port_range", false, false, false),
        ("kernel.msgmax", false, false, false),
        ("kernel.sem", false, false, false),
        ("kernel/sem", false, false, false),
        ("user.max_user_namespaces", false, false, false),
    ] {
        assert_eq!(w.admit(&pod(s, n, i, u)), Ok(()), "{s}");
    }
    for (s, n, i, u) in [
        ("kernel.shm_rmid_forced", false, true, false),
        ("net.ipv4.ip_local_port_range", true, false, false),
        ("user.max_user_namespaces", false, false, true),
        ("foo", false, false, false),
        ("net.a.b.c", false, false, false),
        ("net.ipv4.ip_local_port_range.a.b.c", false, false, false),
        ("kernel.msgmax", false, true, false),
        ("kernel.sem", false, true, false),
        ("net.b.c", true, false, false),
    ] {
        assert!(w.admit(&pod(s, n, i, u)).is_err(), "{s}");
    }
    assert_eq!(
        w.admit(&pod("net.ipv4.ip_local_port_range", true, false, false)),
        Err(
            "forbidden sysctl: \"net.ipv4.ip_local_port_range\" not allowed with host Net enabled"
                .into()
        )
    );
    assert_eq!(
        w.admit(&pod("kernel/sem", false, true, false)),
        Err("forbidden sysctl: \"kernel.sem\" not allowed with host IPC enabled".into())
    );
    let plain = Allowlist::for_node::<&str>(Some((6, 8)), &[]).unwrap();
    assert_eq!(
        plain.admit(&pod("kernel.msgmax", false, false, false)),
        Err("forbidden sysctl: \"kernel.msgmax\" not allowlisted".into())
    );
    // No sysctls: nothing to refuse, even on the host's namespaces.
    let none: Pod = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "p"}, "spec": {"containers": [{"name": "c"}], "hostNetwork": true},
    }))
    .unwrap();
    assert_eq!(plain.admit(&none), Ok(()));
}

#[test]
fn the_runtime_gets_dotted_names() {
    let p = pod("kernel/shm_rmid_forced", false, false, false);
    assert_eq!(
        pod_sysctls(&p),
        [("kernel.shm_rmid_forced".to_string(), "1".to_string())].into()
    );
}
