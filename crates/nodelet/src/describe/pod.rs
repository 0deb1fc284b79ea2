//! `kubectl describe pod`, field by field in kubectl's order and wording,
//! from a Pod and its events at a given instant (pure, so tests can pin
//! the clock and the time zone).

use std::collections::BTreeMap;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use k8s_openapi::api::core::v1::{
    Container, ContainerState, ContainerStatus, EnvVar, Event, Pod, Toleration, Volume,
};

use super::duration::{rfc1123z, since};
use super::events::{sort_events, write_events_block};
use super::tabwriter::TabWriter;

/// The instant and zone dates are shown in (kubectl uses the local zone).
#[derive(Debug, Clone)]
pub struct Ctx {
    pub now: Timestamp,
    pub tz: TimeZone,
}

impl Ctx {
    pub fn local_now() -> Self {
        Ctx {
            now: Timestamp::now(),
            tz: TimeZone::system(),
        }
    }

    fn date(&self, t: Option<Timestamp>) -> String {
        // Go formats the zero time for a missing one.
        rfc1123z(t.unwrap_or_else(go_zero), &self.tz)
    }
}

/// Go's zero `time.Time` (0001-01-01T00:00:00Z).
fn go_zero() -> Timestamp {
    Timestamp::from_second(-62135596800).unwrap_or(Timestamp::UNIX_EPOCH)
}

pub fn describe_pod(pod: &Pod, events: &[Event], ctx: &Ctx) -> String {
    let mut w = TabWriter::describe();
    let meta = &pod.metadata;
    let spec = pod.spec.clone().unwrap_or_default();
    let status = pod.status.clone().unwrap_or_default();
    let o = |s: &Option<String>| s.clone().unwrap_or_default();

    w.write(&format!("Name:\t{}\n", o(&meta.name)));
    w.write(&format!("Namespace:\t{}\n", o(&meta.namespace)));
    if let Some(p) = spec.priority {
        w.write(&format!("Priority:\t{p}\n"));
    }
    if let Some(pc) = spec.priority_class_name.as_ref().filter(|s| !s.is_empty()) {
        w.write(&format!("Priority Class Name:\t{pc}\n"));
    }
    if let Some(rc) = spec.runtime_class_name.as_ref().filter(|s| !s.is_empty()) {
        w.write(&format!("Runtime Class Name:\t{rc}\n"));
    }
    if let Some(sa) = spec.service_account_name.as_ref().filter(|s| !s.is_empty()) {
        w.write(&format!("Service Account:\t{sa}\n"));
    }
    match spec.node_name.as_deref().filter(|s| !s.is_empty()) {
        None => w.write("Node:\t<none>\n"),
        Some(n) => w.write(&format!("Node:\t{n}/{}\n", o(&status.host_ip))),
    }
    if let Some(t) = &status.start_time {
        w.write(&format!("Start Time:\t{}\n", ctx.date(Some(t.0))));
    }
    write_map(&mut w, "Labels", meta.labels.as_ref(), "=");
    let mut annotations = meta.annotations.clone().unwrap_or_default();
    // kubectl hides the client-side apply bookkeeping.
    annotations.remove("kubectl.kubernetes.io/last-applied-configuration");
    write_map(&mut w, "Annotations", Some(&annotations), ": ");
    let phase = o(&status.phase);
    let terminal = phase == "Failed" || phase == "Succeeded";
    match &meta.deletion_timestamp {
        Some(t) if !terminal => {
            w.write(&format!(
                "Status:\tTerminating (lasts {})\n",
                since(Some(t.0), ctx.now)
            ));
            w.write(&format!(
                "Termination Grace Period:\t{}s\n",
                meta.deletion_grace_period_seconds.unwrap_or(0)
            ));
        }
        _ => w.write(&format!("Status:\t{phase}\n")),
    }
    if let Some(r) = status.reason.as_ref().filter(|s| !s.is_empty()) {
        w.write(&format!("Reason:\t{r}\n"));
    }
    if let Some(m) = status.message.as_ref().filter(|s| !s.is_empty()) {
        w.write(&format!("Message:\t{m}\n"));
    }
    w.write(&format!("IP:\t{}\n", o(&status.pod_ip)));
    match status.pod_ips.as_deref() {
        None | Some([]) => w.write("IPs:\t<none>\n"),
        Some(ips) => {
            w.write("IPs:\n");
            for ip in ips {
                w.write(&format!("  IP:\t{}\n", ip.ip));
            }
        }
    }
    if let Some(owner) = meta
        .owner_references
        .as_ref()
        .and_then(|rs| rs.iter().find(|r| r.controller == Some(true)))
    {
        w.write(&format!("Controlled By:\t{}/{}\n", owner.kind, owner.name));
    }
    if let Some(n) = status
        .nominated_node_name
        .as_ref()
        .filter(|s| !s.is_empty())
    {
        w.write(&format!("NominatedNodeName:\t{n}\n"));
    }
    let init = spec.init_containers.clone().unwrap_or_default();
    if !init.is_empty() {
        write_containers(
            &mut w,
            "Init Containers",
            &init,
            status.init_container_statuses.as_deref().unwrap_or(&[]),
            pod,
            ctx,
        );
    }
    write_containers(
        &mut w,
        "Containers",
        &spec.containers,
        status.container_statuses.as_deref().unwrap_or(&[]),
        pod,
        ctx,
    );
    if let Some(gates) = spec.readiness_gates.as_ref().filter(|g| !g.is_empty()) {
        w.write("Readiness Gates:\n  Type\tStatus\n");
        for g in gates {
            let st = status
                .conditions
                .iter()
                .flatten()
                .find(|c| c.type_ == g.condition_type)
                .map(|c| c.status.clone())
                .unwrap_or_else(|| "<none>".into());
            w.write(&format!("  {} \t{st} \n", g.condition_type));
        }
    }
    if let Some(conds) = status.conditions.as_ref().filter(|c| !c.is_empty()) {
        w.write("Conditions:\n  Type\tStatus\n");
        for c in conds {
            w.write(&format!("  {} \t{} \n", c.type_, c.status));
        }
    }
    write_volumes(&mut w, spec.volumes.as_deref().unwrap_or(&[]));
    let qos = status
        .qos_class
        .clone()
        .filter(|q| !q.is_empty())
        .unwrap_or_else(|| qos_class(&spec.containers, &init));
    w.write(&format!("QoS Class:\t{qos}\n"));
    write_map(&mut w, "Node-Selectors", spec.node_selector.as_ref(), "=");
    write_tolerations(&mut w, spec.tolerations.as_deref().unwrap_or(&[]));
    let mut events = events.to_vec();
    sort_events(&mut events);
    write_events_block(&mut w, &events, ctx.now);
    w.take()
}

/// `Labels:  a=b` with further entries under the first value; `<none>` if empty.
pub(crate) fn write_map(
    w: &mut TabWriter,
    title: &str,
    map: Option<&BTreeMap<String, String>>,
    sep: &str,
) {
    w.write(&format!("{title}:\t"));
    let Some(map) = map.filter(|m| !m.is_empty()) else {
        w.write("<none>\n");
        return;
    };
    for (i, (k, v)) in map.iter().enumerate() {
        if i != 0 {
            w.write("\t");
        }
        if sep == "=" {
            w.write(&format!("{k}={v}\n"));
        } else {
            write_annotation(w, k, v);
        }
    }
}

/// An annotation whose `key: value` would pass 140 characters, or that
/// spans lines, is shown below its key, each line cut at 138 characters
/// plus `...`, as kubectl does.
fn write_annotation(w: &mut TabWriter, k: &str, v: &str) {
    const MAX: usize = 140;
    let v = v.trim();
    if v.len() + k.len() + 2 > MAX || v.contains('\n') {
        w.write(&format!("{k}:\n"));
        for line in v.split('\n') {
            let short = if line.chars().count() > MAX - 2 {
                format!("{}...", line.chars().take(MAX - 2).collect::<String>())
            } else {
                line.to_string()
            };
            w.write(&format!("\t  {short}\n"));
        }
    } else {
        w.write(&format!("{k}: {v}\n"));
    }
}

fn write_containers(
    w: &mut TabWriter,
    label: &str,
    containers: &[Container],
    statuses: &[ContainerStatus],
    pod: &Pod,
    ctx: &Ctx,
) {
    let none = if containers.is_empty() { " <none>" } else { "" };
    w.write(&format!("{label}:{none}\n"));
    for c in containers {
        let st = statuses.iter().find(|s| s.name == c.name);
        w.write(&format!("  {}:\n", c.name));
        if let Some(s) = st {
            w.write(&format!(
                "    Container ID:\t{}\n",
                s.container_id.as_deref().unwrap_or("")
            ));
        }
        w.write(&format!(
            "    Image:\t{}\n",
            c.image.as_deref().unwrap_or("")
        ));
        if let Some(s) = st {
            w.write(&format!("    Image ID:\t{}\n", s.image_id));
        }
        let ports = c.ports.as_deref().unwrap_or(&[]);
        let proto = |p: &k8s_openapi::api::core::v1::ContainerPort| {
            p.protocol.clone().unwrap_or_else(|| "TCP".into())
        };
        // kubectl 1.37 names the port after it: `80/TCP (http)`.
        let named = |p: &k8s_openapi::api::core::v1::ContainerPort, n: i32| match p
            .name
            .as_deref()
            .filter(|s| !s.is_empty())
        {
            Some(name) => format!("{n}/{} ({name})", proto(p)),
            None => format!("{n}/{}", proto(p)),
        };
        let port_list: Vec<String> = ports.iter().map(|p| named(p, p.container_port)).collect();
        let host_list: Vec<String> = ports
            .iter()
            .map(|p| named(p, p.host_port.unwrap_or(0)))
            .collect();
        for (one, many, list) in [
            ("Port", "Ports", port_list),
            ("Host Port", "Host Ports", host_list),
        ] {
            match list.len() {
                0 => w.write(&format!("    {one}:\t<none>\n")),
                1 => w.write(&format!("    {one}:\t{}\n", list[0])),
                _ => w.write(&format!("    {many}:\t{}\n", list.join(", "))),
            }
        }
        for (title, items) in [("Command", &c.command), ("Args", &c.args)] {
            if let Some(items) = items.as_ref().filter(|v| !v.is_empty()) {
                w.write(&format!("    {title}:\n"));
                for item in items {
                    for line in item.split('\n') {
                        w.write(&format!("      {line}\n"));
                    }
                }
            }
        }
        if let Some(s) = st {
            write_state(w, "State", s.state.as_ref(), ctx);
            if let Some(last) = s.last_state.as_ref().filter(|l| l.terminated.is_some()) {
                write_state(w, "Last State", Some(last), ctx);
            }
            w.write(&format!(
                "    Ready:\t{}\n",
                if s.ready { "True" } else { "False" }
            ));
            w.write(&format!("    Restart Count:\t{}\n", s.restart_count));
        }
        if let Some(r) = &c.resources {
            for (title, map) in [("Limits", &r.limits), ("Requests", &r.requests)] {
                if let Some(map) = map.as_ref().filter(|m| !m.is_empty()) {
                    w.write(&format!("    {title}:\n"));
                    for (k, q) in map {
                        w.write(&format!("      {k}:\t{}\n", q.0));
                    }
                }
            }
        }
        for (title, probe) in [
            ("Liveness", &c.liveness_probe),
            ("Readiness", &c.readiness_probe),
            ("Startup", &c.startup_probe),
        ] {
            if let Some(p) = probe {
                w.write(&format!("    {title}:\t{}\n", describe_probe(p)));
            }
        }
        write_env(w, c, pod);
        let mut mounts = c.volume_mounts.clone().unwrap_or_default();
        if mounts.is_empty() {
            w.write("    Mounts:\t<none>\n");
        } else {
            w.write("    Mounts:\n");
            mounts.sort_by(|a, b| a.mount_path.cmp(&b.mount_path));
            for m in mounts {
                let mut flags = vec![if m.read_only == Some(true) {
                    "ro".to_string()
                } else {
                    "rw".to_string()
                }];
                if let Some(sp) = m.sub_path.as_ref().filter(|s| !s.is_empty()) {
                    flags.push(format!("path={sp:?}"));
                }
                w.write(&format!(
                    "      {} from {} ({})\n",
                    m.mount_path,
                    m.name,
                    flags.join(",")
                ));
            }
        }
    }
}

fn write_state(w: &mut TabWriter, title: &str, state: Option<&ContainerState>, ctx: &Ctx) {
    let state = state.cloned().unwrap_or_default();
    if let Some(r) = &state.running {
        w.write(&format!("    {title}:\tRunning\n"));
        w.write(&format!(
            "      Started:\t{}\n",
            ctx.date(r.started_at.as_ref().map(|t| t.0))
        ));
    } else if let Some(wt) = &state.waiting {
        w.write(&format!("    {title}:\tWaiting\n"));
        if let Some(r) = wt.reason.as_ref().filter(|s| !s.is_empty()) {
            w.write(&format!("      Reason:\t{r}\n"));
        }
    } else if let Some(t) = &state.terminated {
        w.write(&format!("    {title}:\tTerminated\n"));
        if let Some(r) = t.reason.as_ref().filter(|s| !s.is_empty()) {
            w.write(&format!("      Reason:\t{r}\n"));
        }
        if let Some(m) = t.message.as_ref().filter(|s| !s.is_empty()) {
            w.write(&format!("      Message:\t{m}\n"));
        }
        w.write(&format!("      Exit Code:\t{}\n", t.exit_code));
        if let Some(sig) = t.signal.filter(|s| *s > 0) {
            w.write(&format!("      Signal:\t{sig}\n"));
        }
        w.write(&format!(
            "      Started:\t{}\n",
            ctx.date(t.started_at.as_ref().map(|x| x.0))
        ));
        w.write(&format!(
            "      Finished:\t{}\n",
            ctx.date(t.finished_at.as_ref().map(|x| x.0))
        ));
    } else {
        w.write(&format!("    {title}:\tWaiting\n"));
    }
}

fn describe_probe(p: &k8s_openapi::api::core::v1::Probe) -> String {
    let attrs = format!(
        "delay={}s timeout={}s period={}s #success={} #failure={}",
        p.initial_delay_seconds.unwrap_or(0),
        p.timeout_seconds.unwrap_or(1),
        p.period_seconds.unwrap_or(10),
        p.success_threshold.unwrap_or(1),
        p.failure_threshold.unwrap_or(3)
    );
    if let Some(e) = &p.exec {
        return format!(
            "exec [{}] {attrs}",
            e.command.clone().unwrap_or_default().join(" ")
        );
    }
    if let Some(h) = &p.http_get {
        let port = int_or_string(&h.port);
        return format!(
            "http-get {}://{}:{port}{} {attrs}",
            h.scheme.as_deref().unwrap_or("HTTP").to_lowercase(),
            h.host.as_deref().unwrap_or(""),
            h.path.as_deref().unwrap_or("")
        );
    }
    if let Some(t) = &p.tcp_socket {
        return format!(
            "tcp-socket {}:{} {attrs}",
            t.host.as_deref().unwrap_or(""),
            int_or_string(&t.port)
        );
    }
    if let Some(g) = &p.grpc {
        return format!(
            "grpc <pod>:{} {} {attrs}",
            g.port,
            g.service.as_deref().unwrap_or("")
        );
    }
    format!("unknown {attrs}")
}

fn int_or_string(v: &k8s_openapi::apimachinery::pkg::util::intstr::IntOrString) -> String {
    match v {
        k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(i) => i.to_string(),
        k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String(s) => s.clone(),
    }
}

fn write_env(w: &mut TabWriter, c: &Container, pod: &Pod) {
    let env = c.env.as_deref().unwrap_or(&[]);
    if env.is_empty() {
        w.write("    Environment:\t<none>\n");
        return;
    }
    w.write("    Environment:\n");
    for e in env {
        let Some(from) = &e.value_from else {
            for (i, line) in e.value.as_deref().unwrap_or("").split('\n').enumerate() {
                if i == 0 {
                    w.write(&format!("      {}:\t{line}\n", e.name));
                } else {
                    w.write(&format!("      \t{line}\n"));
                }
            }
            continue;
        };
        if let Some(f) = &from.field_ref {
            w.write(&format!(
                "      {}:\t{} ({}:{})\n",
                e.name,
                field_value(pod, &f.field_path),
                f.api_version.as_deref().unwrap_or("v1"),
                f.field_path
            ));
        } else if let Some(r) = &from.resource_field_ref {
            w.write(&format!(
                "      {}:\t{} ({})\n",
                e.name,
                resource_value(c, e),
                r.resource
            ));
        } else if let Some(s) = &from.secret_key_ref {
            w.write(&format!(
                "      {}:\t<set to the key '{}' in secret '{}'>\tOptional: {}\n",
                e.name,
                s.key,
                s.name,
                s.optional.unwrap_or(false)
            ));
        } else if let Some(m) = &from.config_map_key_ref {
            w.write(&format!(
                "      {}:\t<set to the key '{}' of config map '{}'>\tOptional: {}\n",
                e.name,
                m.key,
                m.name,
                m.optional.unwrap_or(false)
            ));
        }
    }
}

/// The downward-API value of a field path, for the Environment section.
fn field_value(pod: &Pod, path: &str) -> String {
    let m = &pod.metadata;
    let spec = pod.spec.as_ref();
    let status = pod.status.as_ref();
    let s = |v: Option<&String>| v.cloned().unwrap_or_default();
    let keyed = |prefix: &str, map: Option<&BTreeMap<String, String>>| {
        path.strip_prefix(prefix)
            .and_then(|r| r.strip_suffix("']"))
            .and_then(|k| map.and_then(|m| m.get(k)).cloned())
            .unwrap_or_default()
    };
    match path {
        "metadata.name" => s(m.name.as_ref()),
        "metadata.namespace" => s(m.namespace.as_ref()),
        "metadata.uid" => s(m.uid.as_ref()),
        "spec.nodeName" => s(spec.and_then(|x| x.node_name.as_ref())),
        "spec.serviceAccountName" => s(spec.and_then(|x| x.service_account_name.as_ref())),
        "status.podIP" => s(status.and_then(|x| x.pod_ip.as_ref())),
        "status.hostIP" => s(status.and_then(|x| x.host_ip.as_ref())),
        p if p.starts_with("metadata.labels['") => keyed("metadata.labels['", m.labels.as_ref()),
        p if p.starts_with("metadata.annotations['") => {
            keyed("metadata.annotations['", m.annotations.as_ref())
        }
        _ => String::new(),
    }
}

/// The value a `resourceFieldRef` gives the container, as kubelet computes
/// it: the quantity divided by the divisor (default 1), rounded up.
fn resource_value(c: &Container, e: &EnvVar) -> String {
    let Some(r) = e
        .value_from
        .as_ref()
        .and_then(|f| f.resource_field_ref.as_ref())
    else {
        return String::new();
    };
    let (section, name) = r.resource.split_once('.').unwrap_or(("", ""));
    let res = c.resources.as_ref();
    let map = match section {
        "limits" => res.and_then(|x| x.limits.as_ref()),
        "requests" => res.and_then(|x| x.requests.as_ref()),
        _ => None,
    };
    let Some(q) = map.and_then(|m| m.get(name)) else {
        return if section == "limits" && (name == "cpu" || name == "memory") {
            "node allocatable".into()
        } else {
            "0".into()
        };
    };
    let divisor = r
        .divisor
        .as_ref()
        .and_then(|d| quantity(&d.0))
        .filter(|d| *d > 0.0)
        .unwrap_or(1.0);
    match quantity(&q.0) {
        Some(v) => format!("{}", (v / divisor).ceil() as i64),
        None => q.0.clone(),
    }
}

/// A Kubernetes quantity (`500m`, `64Mi`, `1.5G`, `1e3`) as a number.
fn quantity(s: &str) -> Option<f64> {
    const SUFFIXES: [(&str, f64); 13] = [
        ("Ki", 1024.0),
        ("Mi", 1048576.0),
        ("Gi", 1073741824.0),
        ("Ti", 1099511627776.0),
        ("Pi", 1125899906842624.0),
        ("Ei", 1152921504606846976.0),
        ("n", 1e-9),
        ("u", 1e-6),
        ("m", 1e-3),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
    ];
    let s = s.trim();
    for (suffix, mult) in SUFFIXES {
        if let Some(n) = s.strip_suffix(suffix) {
            return n.parse::<f64>().ok().map(|n| n * mult);
        }
    }
    for (suffix, mult) in [("P", 1e15), ("E", 1e18)] {
        if let Some(n) = s.strip_suffix(suffix) {
            return n.parse::<f64>().ok().map(|n| n * mult);
        }
    }
    s.parse::<f64>().ok()
}

/// A Go `*bool` printed with `%v` (kubectl's projected source lines).
fn go_optional(b: Option<bool>) -> String {
    b.map_or_else(|| "<nil>".to_owned(), |b| b.to_string())
}

fn write_volumes(w: &mut TabWriter, volumes: &[Volume]) {
    if volumes.is_empty() {
        w.write("Volumes:\t<none>\n");
        return;
    }
    w.write("Volumes:\n");
    for v in volumes {
        w.write(&format!("  {}:\n", v.name));
        if let Some(h) = &v.host_path {
            w.write(&format!(
                "    Type:\tHostPath (bare host directory volume)\n    Path:\t{}\n    HostPathType:\t{}\n",
                h.path,
                h.type_.as_deref().unwrap_or("<none>")
            ));
        } else if let Some(e) = &v.empty_dir {
            let limit = e
                .size_limit
                .as_ref()
                .map(|q| q.0.clone())
                .filter(|q| !q.is_empty() && q != "0")
                .unwrap_or_else(|| "<unset>".into());
            w.write(&format!(
                "    Type:\tEmptyDir (a temporary directory that shares a pod's lifetime)\n    Medium:\t{}\n    SizeLimit:\t{limit}\n",
                e.medium.as_deref().unwrap_or("")
            ));
        } else if let Some(s) = &v.secret {
            w.write(&format!(
                "    Type:\tSecret (a volume populated by a Secret)\n    SecretName:\t{}\n    Optional:\t{}\n",
                s.secret_name.as_deref().unwrap_or(""),
                s.optional.unwrap_or(false)
            ));
        } else if let Some(c) = &v.config_map {
            w.write(&format!(
                "    Type:\tConfigMap (a volume populated by a ConfigMap)\n    Name:\t{}\n    Optional:\t{}\n",
                c.name,
                c.optional.unwrap_or(false)
            ));
        } else if let Some(p) = &v.projected {
            w.write("    Type:\tProjected (a volume that contains injected data from multiple sources)\n");
            for src in p.sources.iter().flatten() {
                // kubectl prints these `Optional` fields with `%v` of a
                // `*bool`: `<nil>` when unset.
                if let Some(s) = &src.secret {
                    w.write(&format!(
                        "    SecretName:\t{}\n    SecretOptionalName:\t{}\n",
                        s.name,
                        go_optional(s.optional)
                    ));
                } else if src.downward_api.is_some() {
                    w.write("    DownwardAPI:\ttrue\n");
                } else if let Some(c) = &src.config_map {
                    w.write(&format!(
                        "    ConfigMapName:\t{}\n    ConfigMapOptional:\t{}\n",
                        c.name,
                        go_optional(c.optional)
                    ));
                } else if let Some(t) = &src.service_account_token {
                    w.write(&format!(
                        "    TokenExpirationSeconds:\t{}\n",
                        t.expiration_seconds.unwrap_or(3607)
                    ));
                }
            }
        } else if let Some(d) = &v.downward_api {
            w.write("    Type:\tDownwardAPI (a volume populated by information about the pod)\n    Items:\n");
            for item in d.items.iter().flatten() {
                if let Some(f) = &item.field_ref {
                    w.write(&format!("      {} -> {}\n", f.field_path, item.path));
                }
                if let Some(r) = &item.resource_field_ref {
                    w.write(&format!("      {} -> {}\n", r.resource, item.path));
                }
            }
        } else if let Some(c) = &v.persistent_volume_claim {
            w.write(&format!(
                "    Type:\tPersistentVolumeClaim (a reference to a PersistentVolumeClaim in the same namespace)\n    ClaimName:\t{}\n    ReadOnly:\t{}\n",
                c.claim_name,
                c.read_only.unwrap_or(false)
            ));
        } else {
            w.write("  <unknown>\n");
        }
    }
}

/// The QoS class when the status does not carry one: BestEffort without
/// any request or limit, Guaranteed when every container limits CPU and
/// memory with equal requests, Burstable otherwise.
fn qos_class(containers: &[Container], init: &[Container]) -> String {
    let all: Vec<&Container> = containers.iter().chain(init).collect();
    let mut any = false;
    let mut guaranteed = true;
    for c in &all {
        let r = c.resources.clone().unwrap_or_default();
        let limits = r.limits.unwrap_or_default();
        let requests = r.requests.unwrap_or_default();
        let relevant =
            |m: &BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>| {
                m.iter()
                    .filter(|(k, q)| (k.as_str() == "cpu" || k.as_str() == "memory") && q.0 != "0")
                    .count()
                    > 0
            };
        if relevant(&limits) || relevant(&requests) {
            any = true;
        }
        for res in ["cpu", "memory"] {
            match (limits.get(res), requests.get(res)) {
                (Some(l), Some(q)) if l.0 == q.0 => {}
                (Some(_), None) => {}
                _ => guaranteed = false,
            }
        }
    }
    if !any {
        "BestEffort".into()
    } else if guaranteed {
        "Guaranteed".into()
    } else {
        "Burstable".into()
    }
}

fn write_tolerations(w: &mut TabWriter, tolerations: &[Toleration]) {
    w.write("Tolerations:\t");
    if tolerations.is_empty() {
        w.write("<none>\n");
        return;
    }
    for (i, t) in tolerations.iter().enumerate() {
        if i != 0 {
            w.write("\t");
        }
        let key = t.key.clone().unwrap_or_default();
        let value = t.value.clone().unwrap_or_default();
        let effect = t.effect.clone().unwrap_or_default();
        let mut s = key.clone();
        if !value.is_empty() {
            s.push_str(&format!("={value}"));
        }
        if !effect.is_empty() {
            s.push_str(&format!(":{effect}"));
        }
        if t.operator.as_deref() == Some("Exists") && value.is_empty() {
            s.push_str(if key.is_empty() && effect.is_empty() {
                "op=Exists"
            } else {
                " op=Exists"
            });
        }
        if let Some(secs) = t.toleration_seconds {
            s.push_str(&format!(" for {secs}s"));
        }
        w.write(&format!("{s}\n"));
    }
}
