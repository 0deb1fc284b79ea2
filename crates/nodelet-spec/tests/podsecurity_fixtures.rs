//! Upstream's Pod Security test fixtures (`pod-security-admission/test/
//! fixtures*.go`), ported: for every check, level and policy version, pods
//! derived from the minimal valid pod of that level and version that must
//! pass, and pods that must fail with the check's message, evaluated the
//! way the admission plugin evaluates them. As upstream, a generator
//! registered for v1.N also serves later versions, and baseline generators
//! are reused for the restricted level.

use k8s_openapi::api::core::v1::Pod;
use nodelet_spec::podsecurity::checks::{applicable, newest_minor};
use nodelet_spec::podsecurity::{Level, LevelVersion, Version, evaluate};
use serde_json::{Value, json};

type Gen = fn(&Value) -> Vec<Value>;

struct Fixture {
    check: &'static str,
    level: Level,
    min_minor: u32,
    /// Substring every failure message must contain (the check id when empty).
    expect: &'static str,
    pass: Gen,
    fail: Gen,
}

fn tweak(p: &Value, f: impl FnOnce(&mut Value)) -> Value {
    let mut c = p.clone();
    f(&mut c);
    c
}

/// `ensureSecurityContext`: pod and both containers have one.
fn ensure_sc(p: &Value) -> Value {
    tweak(p, |p| {
        for path in [
            "/spec/securityContext",
            "/spec/containers/0/securityContext",
            "/spec/initContainers/0/securityContext",
        ] {
            if p.pointer(path).is_none_or(Value::is_null) {
                set(p, path, json!({}));
            }
        }
    })
}

fn set(p: &mut Value, path: &str, v: Value) {
    let (parent, key) = path.rsplit_once('/').unwrap();
    let obj = p.pointer_mut(parent).unwrap();
    if v.is_null() {
        if let Some(o) = obj.as_object_mut() {
            o.remove(key);
        }
    } else {
        obj[key] = v;
    }
}

const C0: &str = "/spec/containers/0";
const I0: &str = "/spec/initContainers/0";

fn at(c: &str, rest: &str) -> String {
    format!("{c}{rest}")
}

/// The minimal valid pod of a level at a version (upstream's
/// `minimalValidPods`).
fn minimal_valid(level: Level, minor: u32) -> Value {
    let mut p = json!({"metadata": {"name": "test-pod"}, "spec": {
        "initContainers": [{"name": "initcontainer1", "image": "k8s.gcr.io/pause"}],
        "containers": [{"name": "container1", "image": "k8s.gcr.io/pause"}]}});
    if level == Level::Restricted {
        set(
            &mut p,
            "/spec/securityContext",
            json!({"runAsNonRoot": true}),
        );
        if minor >= 8 {
            for c in [C0, I0] {
                set(
                    &mut p,
                    &at(c, "/securityContext"),
                    json!({"allowPrivilegeEscalation": false}),
                );
            }
        }
        if minor >= 19 {
            set(
                &mut p,
                "/spec/securityContext/seccompProfile",
                json!({"type": "RuntimeDefault"}),
            );
        }
        if minor >= 22 {
            for c in [C0, I0] {
                set(
                    &mut p,
                    &at(c, "/securityContext/capabilities"),
                    json!({"drop": ["ALL"]}),
                );
            }
        }
    }
    p
}

fn both(p: &Value, rest: &str, v: Value) -> Value {
    tweak(p, |p| {
        set(p, &at(C0, rest), v.clone());
        set(p, &at(I0, rest), v);
    })
}

fn fixtures() -> Vec<Fixture> {
    vec![
        Fixture {
            check: "hostNamespaces",
            level: Level::Baseline,
            min_minor: 0,
            expect: "host namespaces",
            pass: |p| vec![p.clone()],
            fail: |p| {
                ["hostNetwork", "hostPID", "hostIPC"]
                    .into_iter()
                    .map(|f| tweak(p, |p| set(p, &format!("/spec/{f}"), json!(true))))
                    .collect()
            },
        },
        Fixture {
            check: "privileged",
            level: Level::Baseline,
            min_minor: 0,
            expect: "privileged",
            pass: |p| {
                let p = ensure_sc(p);
                vec![
                    both(&p, "/securityContext/privileged", Value::Null),
                    both(&p, "/securityContext/privileged", json!(false)),
                ]
            },
            fail: |p| {
                let p = ensure_sc(p);
                vec![
                    tweak(&p, |p| {
                        set(p, &at(C0, "/securityContext/privileged"), json!(true))
                    }),
                    tweak(&p, |p| {
                        set(p, &at(I0, "/securityContext/privileged"), json!(true))
                    }),
                ]
            },
        },
        Fixture {
            check: "capabilities_baseline",
            level: Level::Baseline,
            min_minor: 0,
            expect: "non-default capabilities",
            pass: |p| {
                let p = ensure_sc(p);
                let allowed = json!([
                    "AUDIT_WRITE",
                    "CHOWN",
                    "DAC_OVERRIDE",
                    "FOWNER",
                    "FSETID",
                    "KILL",
                    "MKNOD",
                    "NET_BIND_SERVICE",
                    "SETFCAP",
                    "SETGID",
                    "SETPCAP",
                    "SETUID",
                    "SYS_CHROOT"
                ]);
                vec![tweak(&p, |p| {
                    for c in [C0, I0] {
                        let mut caps = p
                            .pointer(&at(c, "/securityContext/capabilities"))
                            .cloned()
                            .unwrap_or(json!({}));
                        caps["add"] = allowed.clone();
                        set(p, &at(c, "/securityContext/capabilities"), caps);
                    }
                })]
            },
            fail: |p| {
                let p = ensure_sc(p);
                let add = |c: &str, caps: Value| {
                    tweak(&p, |p| {
                        let mut cur = p
                            .pointer(&at(c, "/securityContext/capabilities"))
                            .cloned()
                            .unwrap_or(json!({}));
                        cur["add"] = caps;
                        set(p, &at(c, "/securityContext/capabilities"), cur);
                    })
                };
                vec![
                    add(C0, json!(["NET_RAW"])),
                    add(I0, json!(["NET_RAW"])),
                    add(C0, json!(["SYS_ADMIN"])),
                    add(C0, json!(["chown"])),
                    add(C0, json!(["CAP_CHOWN"])),
                ]
            },
        },
        Fixture {
            check: "hostPathVolumes",
            level: Level::Baseline,
            min_minor: 0,
            expect: "hostPath volumes",
            pass: |p| {
                vec![tweak(p, |p| {
                    set(p, "/spec/volumes", json!([{"name": "v", "emptyDir": {}}]))
                })]
            },
            fail: |p| {
                vec![tweak(p, |p| {
                    set(
                        p,
                        "/spec/volumes",
                        json!([{"name": "v", "hostPath": {"path": "/a"}}]),
                    )
                })]
            },
        },
        Fixture {
            check: "hostPorts",
            level: Level::Baseline,
            min_minor: 0,
            expect: "hostPort",
            pass: |p| {
                vec![
                    both(p, "/ports", json!([{"containerPort": 12345}])),
                    both(
                        p,
                        "/ports",
                        json!([{"containerPort": 12345, "hostPort": 0}]),
                    ),
                ]
            },
            fail: |p| {
                vec![
                    tweak(p, |p| {
                        set(
                            p,
                            &at(C0, "/ports"),
                            json!([{"containerPort": 12345, "hostPort": 12345}]),
                        )
                    }),
                    tweak(p, |p| {
                        set(
                            p,
                            &at(I0, "/ports"),
                            json!([{"containerPort": 12346, "hostPort": 12346}]),
                        )
                    }),
                ]
            },
        },
        Fixture {
            check: "appArmorProfile",
            level: Level::Baseline,
            min_minor: 0,
            expect: "forbidden AppArmor profile",
            pass: |p| {
                let p = ensure_sc(p);
                vec![
                    p.clone(),
                    tweak(&p, |p| {
                        set(
                            p,
                            "/metadata/annotations",
                            json!({
                        "container.apparmor.security.beta.kubernetes.io/container1": "runtime/default",
                        "container.apparmor.security.beta.kubernetes.io/initcontainer1": "localhost/foo"}),
                        )
                    }),
                    tweak(&p, |p| {
                        set(
                            p,
                            "/spec/securityContext/appArmorProfile",
                            json!({"type": "RuntimeDefault"}),
                        );
                        set(
                            p,
                            &at(C0, "/securityContext/appArmorProfile"),
                            json!({"type": "Localhost", "localhostProfile": "x"}),
                        );
                    }),
                ]
            },
            fail: |p| {
                let p = ensure_sc(p);
                vec![
                    tweak(&p, |p| {
                        set(
                            p,
                            "/metadata/annotations",
                            json!({
                        "container.apparmor.security.beta.kubernetes.io/container1": "unconfined"}),
                        )
                    }),
                    tweak(&p, |p| {
                        set(
                            p,
                            "/metadata/annotations",
                            json!({
                        "container.apparmor.security.beta.kubernetes.io/initcontainer1": "unconfined"}),
                        )
                    }),
                    tweak(&p, |p| {
                        set(
                            p,
                            "/spec/securityContext/appArmorProfile",
                            json!({"type": "Unconfined"}),
                        )
                    }),
                    tweak(&p, |p| {
                        set(
                            p,
                            &at(C0, "/securityContext/appArmorProfile"),
                            json!({"type": "Unconfined"}),
                        )
                    }),
                    tweak(&p, |p| {
                        set(
                            p,
                            &at(I0, "/securityContext/appArmorProfile"),
                            json!({"type": "Unconfined"}),
                        )
                    }),
                ]
            },
        },
        Fixture {
            check: "seLinuxOptions",
            level: Level::Baseline,
            min_minor: 0,
            expect: "seLinuxOptions",
            pass: |p| {
                let p = ensure_sc(p);
                vec![
                    tweak(&p, |p| {
                        set(p, "/spec/securityContext/seLinuxOptions", json!({}))
                    }),
                    tweak(&p, |p| {
                        set(
                            p,
                            "/spec/securityContext/seLinuxOptions",
                            json!({"type": "container_t", "level": "s0:c1,c2"}),
                        );
                        set(
                            p,
                            &at(C0, "/securityContext/seLinuxOptions"),
                            json!({"type": "container_init_t"}),
                        );
                        set(
                            p,
                            &at(I0, "/securityContext/seLinuxOptions"),
                            json!({"type": "container_kvm_t"}),
                        );
                    }),
                ]
            },
            fail: |p| {
                let p = ensure_sc(p);
                vec![
                    tweak(&p, |p| {
                        set(
                            p,
                            "/spec/securityContext/seLinuxOptions",
                            json!({"type": "somevalue"}),
                        )
                    }),
                    tweak(&p, |p| {
                        set(
                            p,
                            &at(C0, "/securityContext/seLinuxOptions"),
                            json!({"type": "somevalue"}),
                        )
                    }),
                    tweak(&p, |p| {
                        set(
                            p,
                            &at(I0, "/securityContext/seLinuxOptions"),
                            json!({"type": "somevalue"}),
                        )
                    }),
                    tweak(&p, |p| {
                        set(
                            p,
                            "/spec/securityContext/seLinuxOptions",
                            json!({"user": "somevalue"}),
                        )
                    }),
                    tweak(&p, |p| {
                        set(
                            p,
                            &at(C0, "/securityContext/seLinuxOptions"),
                            json!({"role": "somevalue"}),
                        )
                    }),
                ]
            },
        },
        Fixture {
            check: "seLinuxOptions",
            level: Level::Baseline,
            min_minor: 31,
            expect: "seLinuxOptions",
            pass: |p| {
                let p = ensure_sc(p);
                vec![tweak(&p, |p| {
                    set(
                        p,
                        &at(C0, "/securityContext/seLinuxOptions"),
                        json!({"type": "container_engine_t"}),
                    )
                })]
            },
            fail: |p| {
                let p = ensure_sc(p);
                vec![tweak(&p, |p| {
                    set(
                        p,
                        &at(C0, "/securityContext/seLinuxOptions"),
                        json!({"type": "somevalue"}),
                    )
                })]
            },
        },
        Fixture {
            check: "procMount",
            level: Level::Baseline,
            min_minor: 0,
            expect: "procMount",
            pass: |p| {
                let p = ensure_sc(p);
                vec![tweak(
                    &both(&p, "/securityContext/procMount", json!("Default")),
                    |p| set(p, "/spec/hostUsers", json!(false)),
                )]
            },
            fail: |p| {
                let p = ensure_sc(p);
                vec![
                    tweak(&p, |p| {
                        set(p, &at(C0, "/securityContext/procMount"), json!("Unmasked"));
                        set(p, "/spec/hostUsers", json!(false));
                    }),
                    tweak(&p, |p| {
                        set(p, &at(I0, "/securityContext/procMount"), json!("Unmasked"));
                        set(p, "/spec/hostUsers", json!(false));
                    }),
                ]
            },
        },
        Fixture {
            check: "seccompProfile_baseline",
            level: Level::Baseline,
            min_minor: 0,
            expect: "seccompProfile",
            pass: |p| {
                vec![tweak(p, |p| {
                    set(
                        p,
                        "/metadata/annotations",
                        json!({
                    "seccomp.security.alpha.kubernetes.io/pod": "runtime/default",
                    "container.seccomp.security.alpha.kubernetes.io/container1": "docker/default",
                    "container.seccomp.security.alpha.kubernetes.io/initcontainer1": "localhost/foo"}),
                    )
                })]
            },
            fail: |p| {
                vec![
                    tweak(p, |p| {
                        set(
                            p,
                            "/metadata/annotations",
                            json!({"seccomp.security.alpha.kubernetes.io/pod": "unconfined"}),
                        )
                    }),
                    tweak(p, |p| {
                        set(
                            p,
                            "/metadata/annotations",
                            json!({"container.seccomp.security.alpha.kubernetes.io/container1": "unconfined"}),
                        )
                    }),
                    tweak(p, |p| {
                        set(
                            p,
                            "/metadata/annotations",
                            json!({"container.seccomp.security.alpha.kubernetes.io/initcontainer1": "unconfined"}),
                        )
                    }),
                ]
            },
        },
        Fixture {
            check: "seccompProfile_baseline",
            level: Level::Baseline,
            min_minor: 19,
            expect: "seccompProfile",
            pass: |p| {
                let p = ensure_sc(p);
                vec![
                    tweak(&p, |p| {
                        set(
                            p,
                            "/spec/securityContext/seccompProfile",
                            json!({"type": "RuntimeDefault"}),
                        )
                    }),
                    tweak(&p, |p| {
                        set(
                            p,
                            &at(C0, "/securityContext/seccompProfile"),
                            json!({"type": "Localhost", "localhostProfile": "x"}),
                        )
                    }),
                ]
            },
            fail: |p| {
                let p = ensure_sc(p);
                vec![
                    tweak(&p, |p| {
                        set(
                            p,
                            "/spec/securityContext/seccompProfile",
                            json!({"type": "Unconfined"}),
                        )
                    }),
                    tweak(&p, |p| {
                        set(
                            p,
                            &at(C0, "/securityContext/seccompProfile"),
                            json!({"type": "Unconfined"}),
                        )
                    }),
                    tweak(&p, |p| {
                        set(
                            p,
                            &at(I0, "/securityContext/seccompProfile"),
                            json!({"type": "Unconfined"}),
                        )
                    }),
                ]
            },
        },
        Fixture {
            check: "sysctls",
            level: Level::Baseline,
            min_minor: 0,
            expect: "forbidden sysctl",
            pass: |p| {
                let p = ensure_sc(p);
                vec![
                    tweak(&p, |p| set(p, "/spec/securityContext/sysctls", Value::Null)),
                    tweak(&p, |p| {
                        set(
                            p,
                            "/spec/securityContext/sysctls",
                            json!([
                        {"name": "kernel.shm_rmid_forced", "value": "0"},
                        {"name": "net.ipv4.ip_local_port_range", "value": "1024 65535"},
                        {"name": "net.ipv4.tcp_syncookies", "value": "0"},
                        {"name": "net.ipv4.ping_group_range", "value": "1 0"},
                        {"name": "net.ipv4.ip_unprivileged_port_start", "value": "1024"}]),
                        )
                    }),
                ]
            },
            fail: |p| {
                vec![tweak(&ensure_sc(p), |p| {
                    set(
                        p,
                        "/spec/securityContext/sysctls",
                        json!([{"name": "othersysctl", "value": "other"}]),
                    )
                })]
            },
        },
        Fixture {
            check: "sysctls",
            level: Level::Baseline,
            min_minor: 27,
            expect: "forbidden sysctl",
            pass: |p| {
                vec![tweak(&ensure_sc(p), |p| {
                    set(
                        p,
                        "/spec/securityContext/sysctls",
                        json!([{"name": "net.ipv4.ip_local_reserved_ports", "value": "1024-4999"}]),
                    )
                })]
            },
            fail: |p| {
                vec![tweak(&ensure_sc(p), |p| {
                    set(
                        p,
                        "/spec/securityContext/sysctls",
                        json!([{"name": "othersysctl", "value": "other"}]),
                    )
                })]
            },
        },
        Fixture {
            check: "sysctls",
            level: Level::Baseline,
            min_minor: 29,
            expect: "forbidden sysctl",
            pass: |p| {
                vec![tweak(&ensure_sc(p), |p| {
                    set(
                        p,
                        "/spec/securityContext/sysctls",
                        json!([
                {"name": "net.ipv4.tcp_keepalive_time", "value": "7200"},
                {"name": "net.ipv4.tcp_fin_timeout", "value": "60"},
                {"name": "net.ipv4.tcp_keepalive_intvl", "value": "75"},
                {"name": "net.ipv4.tcp_keepalive_probes", "value": "9"}]),
                    )
                })]
            },
            fail: |p| {
                vec![tweak(&ensure_sc(p), |p| {
                    set(
                        p,
                        "/spec/securityContext/sysctls",
                        json!([{"name": "othersysctl", "value": "other"}]),
                    )
                })]
            },
        },
        Fixture {
            check: "sysctls",
            level: Level::Baseline,
            min_minor: 32,
            expect: "forbidden sysctl",
            pass: |p| {
                vec![tweak(&ensure_sc(p), |p| {
                    set(
                        p,
                        "/spec/securityContext/sysctls",
                        json!([
                {"name": "net.ipv4.tcp_rmem", "value": "4096 87380 16777216"},
                {"name": "net.ipv4.tcp_wmem", "value": "4096 65536 16777216"}]),
                    )
                })]
            },
            fail: |p| {
                vec![tweak(&ensure_sc(p), |p| {
                    set(
                        p,
                        "/spec/securityContext/sysctls",
                        json!([{"name": "othersysctl", "value": "other"}]),
                    )
                })]
            },
        },
        Fixture {
            check: "windowsHostProcess",
            level: Level::Baseline,
            min_minor: 0,
            expect: "hostProcess",
            pass: |p| {
                let p = ensure_sc(p);
                vec![both(
                    &p,
                    "/securityContext/windowsOptions",
                    json!({"hostProcess": false}),
                )]
            },
            fail: |p| {
                let p = ensure_sc(p);
                vec![
                    tweak(&p, |p| {
                        set(
                            p,
                            "/spec/securityContext/windowsOptions",
                            json!({"hostProcess": true}),
                        )
                    }),
                    tweak(&p, |p| {
                        set(
                            p,
                            &at(C0, "/securityContext/windowsOptions"),
                            json!({"hostProcess": true}),
                        )
                    }),
                    tweak(&p, |p| {
                        set(
                            p,
                            &at(I0, "/securityContext/windowsOptions"),
                            json!({"hostProcess": true}),
                        )
                    }),
                ]
            },
        },
        Fixture {
            check: "hostProbesAndHostLifecycle",
            level: Level::Baseline,
            min_minor: 34,
            expect: "probe or lifecycle host",
            pass: |p| {
                vec![
                    tweak(p, |p| {
                        set(
                            p,
                            &at(C0, "/livenessProbe"),
                            json!({"httpGet": {"port": 8080}}),
                        )
                    }),
                    tweak(p, |p| {
                        set(
                            p,
                            &at(C0, "/lifecycle"),
                            json!({"preStop": {"httpGet": {"port": 8080, "host": ""}}}),
                        )
                    }),
                ]
            },
            fail: |p| {
                let probe = |field: &'static str, h: Value| tweak(p, |p| set(p, &at(C0, field), h));
                vec![
                    probe(
                        "/livenessProbe",
                        json!({"httpGet": {"port": 8080, "host": "example.com"}}),
                    ),
                    probe(
                        "/readinessProbe",
                        json!({"tcpSocket": {"port": 8080, "host": "example.com"}}),
                    ),
                    probe(
                        "/startupProbe",
                        json!({"httpGet": {"port": 8080, "host": "10.0.0.1"}}),
                    ),
                    probe(
                        "/lifecycle",
                        json!({"postStart": {"httpGet": {"port": 8080, "host": "example.com"}}}),
                    ),
                    probe(
                        "/lifecycle",
                        json!({"preStop": {"tcpSocket": {"port": 8080, "host": "example.com"}}}),
                    ),
                    tweak(p, |p| {
                        set(
                            p,
                            &at(I0, "/livenessProbe"),
                            json!({"httpGet": {"port": 8080, "host": "example.com"}}),
                        )
                    }),
                ]
            },
        },
        // Restricted.
        Fixture {
            check: "allowPrivilegeEscalation",
            level: Level::Restricted,
            min_minor: 8,
            expect: "allowPrivilegeEscalation != false",
            pass: |p| {
                vec![both(
                    &ensure_sc(p),
                    "/securityContext/allowPrivilegeEscalation",
                    json!(false),
                )]
            },
            fail: |p| {
                let p = ensure_sc(p);
                vec![
                    tweak(&p, |p| {
                        set(
                            p,
                            &at(C0, "/securityContext/allowPrivilegeEscalation"),
                            Value::Null,
                        )
                    }),
                    tweak(&p, |p| {
                        set(
                            p,
                            &at(I0, "/securityContext/allowPrivilegeEscalation"),
                            Value::Null,
                        )
                    }),
                    tweak(&p, |p| {
                        set(
                            p,
                            &at(C0, "/securityContext/allowPrivilegeEscalation"),
                            json!(true),
                        )
                    }),
                    tweak(&p, |p| {
                        set(
                            p,
                            &at(I0, "/securityContext/allowPrivilegeEscalation"),
                            json!(true),
                        )
                    }),
                ]
            },
        },
        Fixture {
            check: "allowPrivilegeEscalation",
            level: Level::Restricted,
            min_minor: 25,
            expect: "allowPrivilegeEscalation != false",
            pass: |p| {
                let p = ensure_sc(p);
                vec![
                    both(
                        &p,
                        "/securityContext/allowPrivilegeEscalation",
                        json!(false),
                    ),
                    // Windows pods are exempt.
                    tweak(
                        &both(&p, "/securityContext/allowPrivilegeEscalation", Value::Null),
                        |p| {
                            set(p, "/spec/os", json!({"name": "windows"}));
                            set(p, "/spec/securityContext/seccompProfile", Value::Null);
                            set(p, &at(C0, "/securityContext/capabilities"), Value::Null);
                            set(p, &at(I0, "/securityContext/capabilities"), Value::Null);
                        },
                    ),
                ]
            },
            fail: |p| {
                let p = ensure_sc(p);
                vec![
                    tweak(&p, |p| {
                        set(
                            p,
                            &at(C0, "/securityContext/allowPrivilegeEscalation"),
                            json!(true),
                        )
                    }),
                    tweak(&p, |p| {
                        set(
                            p,
                            &at(I0, "/securityContext/allowPrivilegeEscalation"),
                            json!(true),
                        );
                        set(p, "/spec/os", json!({"name": "linux"}));
                    }),
                ]
            },
        },
        Fixture {
            check: "capabilities_restricted",
            level: Level::Restricted,
            min_minor: 22,
            expect: "unrestricted capabilities",
            pass: |p| {
                let p = ensure_sc(p);
                vec![
                    both(
                        &p,
                        "/securityContext/capabilities",
                        json!({"drop": ["ALL"]}),
                    ),
                    both(
                        &p,
                        "/securityContext/capabilities",
                        json!({"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}),
                    ),
                ]
            },
            fail: |p| {
                let p = ensure_sc(p);
                vec![
                    tweak(&p, |p| {
                        set(p, &at(C0, "/securityContext/capabilities"), Value::Null)
                    }),
                    tweak(&p, |p| {
                        set(
                            p,
                            &at(I0, "/securityContext/capabilities"),
                            json!({"drop": ["CHOWN"]}),
                        )
                    }),
                    tweak(&p, |p| {
                        set(
                            p,
                            &at(C0, "/securityContext/capabilities"),
                            json!({"drop": ["ALL"], "add": ["CHOWN"]}),
                        )
                    }),
                    tweak(&p, |p| {
                        set(
                            p,
                            &at(I0, "/securityContext/capabilities"),
                            json!({"drop": ["ALL"], "add": ["NET_RAW"]}),
                        )
                    }),
                ]
            },
        },
        Fixture {
            check: "restrictedVolumes",
            level: Level::Restricted,
            min_minor: 0,
            expect: "restricted volume types",
            pass: |p| {
                vec![tweak(p, |p| {
                    set(
                        p,
                        "/spec/volumes",
                        json!([
                {"name": "a", "configMap": {"name": "x"}}, {"name": "b", "emptyDir": {}},
                {"name": "c", "secret": {"secretName": "x"}}, {"name": "d", "downwardAPI": {}},
                {"name": "e", "persistentVolumeClaim": {"claimName": "x"}}, {"name": "f", "projected": {}},
                {"name": "g", "csi": {"driver": "x"}}, {"name": "h", "ephemeral": {}}]),
                    )
                })]
            },
            fail: |p| {
                [
                    json!({"name": "v", "hostPath": {"path": "/a"}}),
                    json!({"name": "v", "nfs": {"server": "s", "path": "/p"}}),
                    json!({"name": "v", "gitRepo": {"repository": "r"}}),
                    json!({"name": "v", "iscsi": {"targetPortal": "t", "iqn": "i", "lun": 0}}),
                    json!({"name": "v"}),
                ]
                .into_iter()
                .map(|v| tweak(p, |p| set(p, "/spec/volumes", json!([v]))))
                .collect()
            },
        },
        Fixture {
            check: "runAsNonRoot",
            level: Level::Restricted,
            min_minor: 0,
            expect: "runAsNonRoot != true",
            pass: |p| {
                let p = ensure_sc(p);
                vec![
                    tweak(&p, |p| {
                        set(p, "/spec/securityContext/runAsNonRoot", json!(true));
                        set(p, &at(C0, "/securityContext/runAsNonRoot"), Value::Null);
                        set(p, &at(I0, "/securityContext/runAsNonRoot"), Value::Null);
                    }),
                    tweak(&p, |p| {
                        set(p, "/spec/securityContext/runAsNonRoot", Value::Null);
                        set(p, &at(C0, "/securityContext/runAsNonRoot"), json!(true));
                        set(p, &at(I0, "/securityContext/runAsNonRoot"), json!(true));
                    }),
                ]
            },
            fail: |p| {
                let p = ensure_sc(p);
                vec![
                    tweak(&p, |p| {
                        set(p, "/spec/securityContext/runAsNonRoot", Value::Null);
                        set(p, &at(C0, "/securityContext/runAsNonRoot"), Value::Null);
                        set(p, &at(I0, "/securityContext/runAsNonRoot"), Value::Null);
                    }),
                    tweak(&p, |p| {
                        set(p, "/spec/securityContext/runAsNonRoot", json!(false))
                    }),
                    tweak(&p, |p| {
                        set(p, &at(C0, "/securityContext/runAsNonRoot"), json!(false))
                    }),
                    tweak(&p, |p| {
                        set(p, &at(I0, "/securityContext/runAsNonRoot"), json!(false))
                    }),
                ]
            },
        },
        Fixture {
            check: "runAsUser",
            level: Level::Restricted,
            min_minor: 23,
            expect: "runAsUser=0",
            pass: |p| {
                let p = ensure_sc(p);
                vec![
                    tweak(&p, |p| {
                        set(p, "/spec/securityContext/runAsUser", json!(1000));
                        set(p, &at(C0, "/securityContext/runAsUser"), Value::Null);
                    }),
                    both(&p, "/securityContext/runAsUser", json!(1000)),
                ]
            },
            fail: |p| {
                let p = ensure_sc(p);
                vec![
                    tweak(&p, |p| set(p, "/spec/securityContext/runAsUser", json!(0))),
                    tweak(&p, |p| {
                        set(p, &at(C0, "/securityContext/runAsUser"), json!(0))
                    }),
                    tweak(&p, |p| {
                        set(p, &at(I0, "/securityContext/runAsUser"), json!(0))
                    }),
                ]
            },
        },
        Fixture {
            check: "seccompProfile_restricted",
            level: Level::Restricted,
            min_minor: 19,
            expect: "seccompProfile",
            pass: |p| {
                let p = ensure_sc(p);
                vec![
                    tweak(&p, |p| {
                        set(
                            p,
                            "/spec/securityContext/seccompProfile",
                            json!({"type": "RuntimeDefault"}),
                        )
                    }),
                    tweak(&p, |p| {
                        set(p, "/spec/securityContext/seccompProfile", Value::Null);
                        set(
                            p,
                            &at(C0, "/securityContext/seccompProfile"),
                            json!({"type": "RuntimeDefault"}),
                        );
                        set(
                            p,
                            &at(I0, "/securityContext/seccompProfile"),
                            json!({"type": "Localhost", "localhostProfile": "x"}),
                        );
                    }),
                ]
            },
            fail: |p| {
                let p = ensure_sc(p);
                vec![
                    tweak(&p, |p| {
                        set(p, "/spec/securityContext/seccompProfile", Value::Null)
                    }),
                    tweak(&p, |p| {
                        set(
                            p,
                            "/spec/securityContext/seccompProfile",
                            json!({"type": "Unconfined"}),
                        )
                    }),
                    tweak(&p, |p| {
                        set(
                            p,
                            &at(C0, "/securityContext/seccompProfile"),
                            json!({"type": "Unconfined"}),
                        )
                    }),
                    tweak(&p, |p| {
                        set(p, "/spec/securityContext/seccompProfile", Value::Null);
                        set(
                            p,
                            &at(C0, "/securityContext/seccompProfile"),
                            json!({"type": "RuntimeDefault"}),
                        );
                    }),
                ]
            },
        },
    ]
}

fn pod(v: &Value) -> Pod {
    serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("fixture is not a pod: {e}: {v}"))
}

fn eval(level: Level, minor: u32, v: &Value) -> nodelet_spec::podsecurity::Aggregate {
    let p = pod(v);
    let lv = LevelVersion {
        level,
        version: Version::V1(minor),
    };
    evaluate(lv, &p.metadata, p.spec.as_ref().unwrap())
}

#[test]
fn every_check_has_fixtures_and_they_pass_and_fail_as_upstream() {
    let fixtures = fixtures();
    let newest = newest_minor();
    assert_eq!(newest, 34, "the newest policy version known");
    let mut cases = 0;
    for level in [Level::Baseline, Level::Restricted] {
        for minor in 0..=newest + 2 {
            let base = minimal_valid(level, minor);
            assert!(
                eval(level, minor, &base).allowed(),
                "minimal {level:?} v1.{minor} pod fails"
            );
            for (id, _) in applicable(level, minor.min(newest)) {
                // The newest generator at or below this version; baseline
                // generators serve restricted too.
                let fx = fixtures
                    .iter()
                    .filter(|f| f.check == id && f.min_minor <= minor && f.level <= level)
                    .max_by_key(|f| f.min_minor)
                    .unwrap_or_else(|| panic!("no fixture for {id} at {level:?} v1.{minor}"));
                for p in (fx.pass)(&base) {
                    let r = eval(level, minor, &p);
                    assert!(
                        r.allowed(),
                        "{id} {level:?} v1.{minor}: pass fixture refused: {}\n{p}",
                        r.forbidden_detail()
                    );
                    cases += 1;
                }
                let fails = (fx.fail)(&base);
                assert!(!fails.is_empty());
                for p in fails {
                    let r = eval(level, minor, &p);
                    assert!(
                        !r.allowed(),
                        "{id} {level:?} v1.{minor}: fail fixture allowed\n{p}"
                    );
                    let msg = r.forbidden_detail();
                    assert!(
                        msg.contains(fx.expect),
                        "{id} {level:?} v1.{minor}: {msg:?} lacks {:?}",
                        fx.expect
                    );
                    // Privileged allows everything.
                    assert!(eval(Level::Privileged, minor, &p).allowed());
                    cases += 1;
                }
            }
        }
    }
    assert!(cases > 1000, "only {cases} cases");
}

/// Upstream's unit-test expectations for the exact texts.
#[test]
fn forbidden_details_match_upstream_texts() {
    let detail = |level: Level, v: Value| {
        let p = pod(&v);
        evaluate(
            LevelVersion {
                level,
                version: Version::Latest,
            },
            &p.metadata,
            p.spec.as_ref().unwrap(),
        )
        .forbidden_detail()
    };
    assert_eq!(
        detail(
            Level::Baseline,
            json!({"spec": {"hostNetwork": true, "hostIPC": true, "containers": [
            {"name": "a", "securityContext": {"privileged": true}},
            {"name": "b", "securityContext": {"privileged": true, "capabilities": {"add": ["NET_ADMIN", "CHOWN", "BPF"]}},
             "ports": [{"containerPort": 80, "hostPort": 8080}, {"containerPort": 81, "hostPort": 80}]}]}})
        ),
        "non-default capabilities (container \"b\" must not include \"BPF\", \"NET_ADMIN\" in securityContext.capabilities.add), \
         host namespaces (hostNetwork=true, hostIPC=true), \
         hostPort (container \"b\" uses hostPorts 80, 8080), \
         privileged (containers \"a\", \"b\" must not set securityContext.privileged=true)"
    );
    assert_eq!(
        detail(
            Level::Restricted,
            json!({"spec": {"containers": [{"name": "c"}],
            "volumes": [{"name": "h", "hostPath": {"path": "/"}}]}})
        ),
        "allowPrivilegeEscalation != false (container \"c\" must set securityContext.allowPrivilegeEscalation=false), \
         unrestricted capabilities (container \"c\" must set securityContext.capabilities.drop=[\"ALL\"]), \
         restricted volume types (volume \"h\" uses restricted volume type \"hostPath\"), \
         runAsNonRoot != true (pod or container \"c\" must set securityContext.runAsNonRoot=true), \
         seccompProfile (pod or container \"c\" must set securityContext.seccompProfile.type to \"RuntimeDefault\" or \"Localhost\")"
    );
    assert_eq!(
        detail(
            Level::Baseline,
            json!({"metadata": {"annotations": {
            "container.apparmor.security.beta.kubernetes.io/": "bogus",
            "container.apparmor.security.beta.kubernetes.io/a": "",
            "container.apparmor.security.beta.kubernetes.io/b": "runtime/default",
            "container.apparmor.security.beta.kubernetes.io/c": "localhost/",
            "container.apparmor.security.beta.kubernetes.io/d": "localhost/foo",
            "container.apparmor.security.beta.kubernetes.io/e": "unconfined",
            "container.apparmor.security.beta.kubernetes.io/f": "unknown"}},
            "spec": {"containers": [{"name": "a"}]}})
        ),
        "forbidden AppArmor profiles (annotations must not set AppArmor profile type to \
         \"container.apparmor.security.beta.kubernetes.io/=\"bogus\"\", \
         \"container.apparmor.security.beta.kubernetes.io/e=\"unconfined\"\", \
         \"container.apparmor.security.beta.kubernetes.io/f=\"unknown\"\")"
    );
    assert_eq!(
        detail(
            Level::Restricted,
            json!({"spec": {
            "securityContext": {"runAsNonRoot": false, "runAsUser": 0, "seccompProfile": {"type": "Unconfined"}},
            "containers": [{"name": "c", "securityContext": {"allowPrivilegeEscalation": false,
                "runAsNonRoot": false, "capabilities": {"drop": ["ALL"], "add": ["SYS_ADMIN"]}}}]}})
        ),
        "unrestricted capabilities (container \"c\" must not include \"SYS_ADMIN\" in securityContext.capabilities.add), \
         runAsNonRoot != true (pod and container \"c\" must not set securityContext.runAsNonRoot=false), \
         runAsUser=0 (pod must not set runAsUser=0), \
         seccompProfile (pod must not set securityContext.seccompProfile.type to \"Unconfined\")"
    );
}
