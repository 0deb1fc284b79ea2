//! One row per validation rule: manifest → every expected error, in order,
//! as the API server prints them.

use nodelet_spec::defaults::default_object;
use nodelet_spec::load::load_bytes;
use nodelet_spec::validate::validate_object;

const LABEL: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const SUBDOMAIN: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const DNS1035: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";
const CONFIG_KEY: &str = "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')";
const QNAME: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const RANGE: &str = "must be between 1 and 65535, inclusive";

/// A pod named `p` whose `spec` is the given flow mapping body.
fn pod(spec: &str) -> String {
    format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: p}}\nspec: {{{spec}}}\n")
}

/// A pod with one container `c` (image `nginx`) plus the given container fields.
fn ctr(fields: &str) -> String {
    pod(&format!(
        "containers: [{{name: c, image: nginx, {fields}}}]"
    ))
}

fn errors(manifest: &str) -> Vec<String> {
    let mut loaded = match load_bytes("row.yaml", manifest.as_bytes()) {
        Ok(l) => l,
        Err(e) => return vec![format!("LOAD ERROR: {e}")],
    };
    assert_eq!(loaded.len(), 1);
    default_object(&mut loaded[0].object);
    validate_object(&loaded[0].object)
        .iter()
        .map(|e| e.to_string())
        .collect()
}

fn linux_signals() -> String {
    let mut names: Vec<String> = [
        "SIGABRT",
        "SIGALRM",
        "SIGBUS",
        "SIGCHLD",
        "SIGCLD",
        "SIGCONT",
        "SIGFPE",
        "SIGHUP",
        "SIGILL",
        "SIGINT",
        "SIGIO",
        "SIGIOT",
        "SIGKILL",
        "SIGPIPE",
        "SIGPOLL",
        "SIGPROF",
        "SIGPWR",
        "SIGQUIT",
        "SIGSEGV",
        "SIGSTKFLT",
        "SIGSTOP",
        "SIGSYS",
        "SIGTERM",
        "SIGTRAP",
        "SIGTSTP",
        "SIGTTIN",
        "SIGTTOU",
        "SIGURG",
        "SIGUSR1",
        "SIGUSR2",
        "SIGVTALRM",
        "SIGWINCH",
        "SIGXCPU",
        "SIGXFSZ",
        "SIGRTMIN",
        "SIGRTMAX",
    ]
    .map(String::from)
    .to_vec();
    names.extend((1..=15).map(|i| format!("SIGRTMIN+{i}")));
    names.extend((1..=14).map(|i| format!("SIGRTMAX-{i}")));
    names.sort();
    names
        .iter()
        .map(|n| format!("{n:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[test]
fn table() {
    let rows: Vec<(&str, String, Vec<String>)> = vec![
        ("valid pod", ctr("ports: [{containerPort: 80, name: http}]"), vec![]),
        (
            "hostnameOverride: a subdomain, not with hostNetwork or setHostnameAsFQDN",
            pod("containers: [{name: c, image: i}], hostnameOverride: Bad_Host, hostNetwork: true, setHostnameAsFQDN: true, hostname: a.b"),
            vec![
                "spec.hostname: Invalid value: \"a.b\": must not contain dots".into(),
                "spec.hostnameOverride: Forbidden: may not be specified when setHostnameAsFQDN is true".into(),
                "spec.hostnameOverride: Forbidden: may not be specified when hostNetwork is true".into(),
                format!("spec.hostnameOverride: Invalid value: \"Bad_Host\": {SUBDOMAIN}"),
            ],
        ),
        (
            "hostnameOverride may be a dotted subdomain",
            pod("containers: [{name: c, image: i}], hostnameOverride: my.host-1"),
            vec![],
        ),
        (
            "name required",
            "apiVersion: v1\nkind: Pod\nmetadata: {}\nspec: {containers: [{name: c, image: i}]}\n".into(),
            vec!["metadata.name: Required value: name or generateName is required".into()],
        ),
        (
            "name is a DNS subdomain",
            "apiVersion: v1\nkind: Pod\nmetadata: {name: Web_1}\nspec: {containers: [{name: c, image: i}]}\n".into(),
            vec![format!("metadata.name: Invalid value: \"Web_1\": {SUBDOMAIN}")],
        ),
        (
            "namespace is a DNS label",
            "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: a.b}\nspec: {containers: [{name: c, image: i}]}\n".into(),
            vec!["metadata.namespace: Invalid value: \"a.b\": must not contain dots".into()],
        ),
        (
            "label key and value",
            "apiVersion: v1\nkind: Pod\nmetadata: {name: p, labels: {-a: ok, b: -x}}\nspec: {containers: [{name: c, image: i}]}\n".into(),
            vec![
                format!("metadata.labels: Invalid value: \"-a\": {QNAME}"),
                "metadata.labels: Invalid value: \"-x\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')".into(),
            ],
        ),
        (
            "annotation key",
            "apiVersion: v1\nkind: Pod\nmetadata: {name: p, annotations: {/x: v}}\nspec: {containers: [{name: c, image: i}]}\n".into(),
            vec!["metadata.annotations: Invalid value: \"/x\": prefix part must be non-empty".into()],
        ),
        ("containers required", pod("containers: []"), vec!["spec.containers: Required value".into()]),
        (
            "container name is a DNS label",
            pod("containers: [{name: Web, image: i}]"),
            vec![format!("spec.containers[0].name: Invalid value: \"Web\": {LABEL}")],
        ),
        (
            "container name too long",
            pod(&format!("containers: [{{name: {}, image: i}}]", "a".repeat(64))),
            vec![format!(
                "spec.containers[0].name: Invalid value: \"{}\": must be no more than 63 characters",
                "a".repeat(64)
            )],
        ),
        (
            "duplicate container names",
            pod("containers: [{name: c, image: i}, {name: c, image: i}]"),
            vec!["spec.containers[1].name: Duplicate value: \"c\"".into()],
        ),
        (
            "init container name clashes with a container",
            pod("containers: [{name: c, image: i}], initContainers: [{name: c, image: i}]"),
            vec!["spec.initContainers[0].name: Duplicate value: \"c\"".into()],
        ),
        (
            "image required",
            pod("containers: [{name: c}]"),
            vec!["spec.containers[0].image: Required value".into()],
        ),
        (
            "containerPort required and in range",
            ctr("ports: [{containerPort: 0}, {containerPort: 70000}]"),
            vec![
                "spec.containers[0].ports[0].containerPort: Required value".into(),
                format!("spec.containers[0].ports[1].containerPort: Invalid value: 70000: {RANGE}"),
            ],
        ),
        (
            "hostPort in range",
            ctr("ports: [{containerPort: 80, hostPort: 65536}]"),
            vec![format!("spec.containers[0].ports[0].hostPort: Invalid value: 65536: {RANGE}")],
        ),
        (
            "port name is an IANA service name",
            ctr("ports: [{containerPort: 80, name: \"80\"}, {containerPort: 81, name: http_x}, {containerPort: 82, name: averyveryverylongname}]"),
            vec![
                "spec.containers[0].ports[0].name: Invalid value: \"80\": must contain at least one letter (a-z)".into(),
                "spec.containers[0].ports[1].name: Invalid value: \"http_x\": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)".into(),
                "spec.containers[0].ports[2].name: Invalid value: \"averyveryverylongname\": must be no more than 15 characters".into(),
            ],
        ),
        (
            "port name hyphens",
            ctr("ports: [{containerPort: 80, name: -a--b}]"),
            vec![
                "spec.containers[0].ports[0].name: Invalid value: \"-a--b\": must not contain consecutive hyphens".into(),
                "spec.containers[0].ports[0].name: Invalid value: \"-a--b\": must not begin or end with a hyphen".into(),
            ],
        ),
        (
            "duplicate port names",
            ctr("ports: [{containerPort: 80, name: web}, {containerPort: 81, name: web}]"),
            vec!["spec.containers[0].ports[1].name: Duplicate value: \"web\"".into()],
        ),
        (
            "port protocol",
            ctr("ports: [{containerPort: 80, protocol: HTTP}]"),
            vec!["spec.containers[0].ports[0].protocol: Unsupported value: \"HTTP\": supported values: \"SCTP\", \"TCP\", \"UDP\"".into()],
        ),
        (
            "host port conflict",
            pod("containers: [{name: a, image: i, ports: [{containerPort: 80, hostPort: 8080}]}, {name: b, image: i, ports: [{containerPort: 81, hostPort: 8080}]}]"),
            vec!["spec.containers[1].ports[0].hostPort: Duplicate value: \"TCP//8080\"".into()],
        ),
        (
            "env var names",
            ctr("env: [{name: \"A=B\", value: x}, {name: \"\", value: w}, {name: \"my var.1-x\", value: z}]"),
            vec![
                "spec.containers[0].env[0].name: Invalid value: \"A=B\": a valid environment variable name must consist only of printable ASCII characters other than '='".into(),
                "spec.containers[0].env[1].name: Required value".into(),
            ],
        ),
        (
            "valueFrom with value",
            ctr("env: [{name: A, value: x, valueFrom: {fieldRef: {fieldPath: metadata.name}}}]"),
            vec!["spec.containers[0].env[0].valueFrom: Invalid value: \"\": may not be specified when `value` is not empty".into()],
        ),
        (
            "valueFrom without source",
            ctr("env: [{name: A, valueFrom: {}}]"),
            vec!["spec.containers[0].env[0].valueFrom: Invalid value: \"\": must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`".into()],
        ),
        (
            "valueFrom with two sources",
            ctr("env: [{name: A, valueFrom: {fieldRef: {fieldPath: metadata.name}, secretKeyRef: {name: s, key: k}}}]"),
            vec!["spec.containers[0].env[0].valueFrom: Invalid value: \"\": may not have more than one field specified at a time".into()],
        ),
        (
            "fieldRef path not supported for env",
            ctr("env: [{name: A, valueFrom: {fieldRef: {fieldPath: spec.restartPolicy}}}, {name: B, valueFrom: {fieldRef: {fieldPath: spec.bogus}}}]"),
            vec![
                "spec.containers[0].env[0].valueFrom.fieldRef.fieldPath: Unsupported value: \"spec.restartPolicy\": supported values: \"metadata.name\", \"metadata.namespace\", \"metadata.uid\", \"spec.nodeName\", \"spec.serviceAccountName\", \"status.hostIP\", \"status.hostIPs\", \"status.podIP\", \"status.podIPs\"".into(),
                "spec.containers[0].env[1].valueFrom.fieldRef.fieldPath: Invalid value: \"spec.bogus\": error converting fieldPath: field label not supported: spec.bogus".into(),
            ],
        ),
        (
            "fieldRef label subscript",
            ctr("env: [{name: A, valueFrom: {fieldRef: {fieldPath: \"metadata.labels['app']\"}}}, {name: B, valueFrom: {fieldRef: {fieldPath: \"metadata.name['x']\"}}}]"),
            vec!["spec.containers[0].env[1].valueFrom.fieldRef: Invalid value: \"metadata.name\": does not support subscript".into()],
        ),
        (
            "resourceFieldRef resource",
            ctr("env: [{name: A, valueFrom: {resourceFieldRef: {resource: limits.gpu}}}]"),
            vec!["spec.containers[0].env[0].valueFrom.resourceFieldRef.resource: Unsupported value: \"limits.gpu\": supported values: \"limits.cpu\", \"limits.ephemeral-storage\", \"limits.memory\", \"requests.cpu\", \"requests.ephemeral-storage\", \"requests.memory\"".into()],
        ),
        (
            "key selectors",
            ctr("env: [{name: A, valueFrom: {configMapKeyRef: {name: \"\", key: \"\"}}}, {name: B, valueFrom: {secretKeyRef: {name: s, key: \"a/b\"}}}]"),
            vec![
                format!("spec.containers[0].env[0].valueFrom.configMapKeyRef.name: Invalid value: \"\": {SUBDOMAIN}"),
                "spec.containers[0].env[0].valueFrom.configMapKeyRef.key: Required value".into(),
                format!("spec.containers[0].env[1].valueFrom.secretKeyRef.key: Invalid value: \"a/b\": {CONFIG_KEY}"),
            ],
        ),
        (
            "envFrom needs one source and a valid prefix",
            ctr("envFrom: [{prefix: \"A=\"}, {configMapRef: {name: a}, secretRef: {name: b}}]"),
            vec![
                "spec.containers[0].envFrom[0].prefix: Invalid value: \"A=\": a valid environment variable name must consist only of printable ASCII characters other than '='".into(),
                "spec.containers[0].envFrom[0]: Invalid value: \"\": must specify one of: `configMapRef` or `secretRef`".into(),
                "spec.containers[0].envFrom[1]: Invalid value: \"\": may not have more than one field specified at a time".into(),
            ],
        ),
        (
            "volume name and type",
            pod("containers: [{name: c, image: i}], volumes: [{name: Data}, {name: a, emptyDir: {}, hostPath: {path: /x}}]"),
            // A volume without a source is defaulted to an emptyDir
            // (`SetDefaults_Volume`), so only its name is wrong.
            vec![
                format!("spec.volumes[0].name: Invalid value: \"Data\": {LABEL}"),
                "spec.volumes[1].hostPath: Forbidden: may not specify more than 1 volume type".into(),
            ],
        ),
        (
            "volume sources",
            pod("containers: [{name: c, image: i}], volumes: [{name: h, hostPath: {path: /a/../b, type: Dir}}, {name: c, configMap: {defaultMode: 1000, items: [{key: \"\", path: /abs}, {key: k, path: ..x}]}}, {name: s, secret: {}}, {name: d, downwardAPI: {items: [{path: p, fieldRef: {fieldPath: spec.nodeName}}, {path: q}]}}]"),
            vec![
                "spec.volumes[0].hostPath.path: Invalid value: \"/a/../b\": must not contain '..'".into(),
                "spec.volumes[0].hostPath.type: Unsupported value: \"Dir\": supported values: \"\", \"BlockDevice\", \"CharDevice\", \"Directory\", \"DirectoryOrCreate\", \"File\", \"FileOrCreate\", \"Socket\"".into(),
                "spec.volumes[1].configMap.name: Required value".into(),
                "spec.volumes[1].configMap.defaultMode: Invalid value: 1000: must be a number between 0 and 0777 (octal), both inclusive".into(),
                "spec.volumes[1].configMap.items[0].key: Required value".into(),
                "spec.volumes[1].configMap.items[0].path: Invalid value: \"/abs\": must be a relative path".into(),
                "spec.volumes[1].configMap.items[1].path: Invalid value: \"..x\": must not start with '..'".into(),
                "spec.volumes[2].secret.secretName: Required value".into(),
                "spec.volumes[3].downwardAPI.items[0].fieldRef.fieldPath: Unsupported value: \"spec.nodeName\": supported values: \"metadata.annotations\", \"metadata.labels\", \"metadata.name\", \"metadata.namespace\", \"metadata.uid\"".into(),
                "spec.volumes[3].downwardAPI.items[1]: Required value: one of fieldRef and resourceFieldRef is required".into(),
            ],
        ),
        (
            "cluster storage is refused",
            pod("containers: [{name: c, image: i}], volumes: [{name: data, persistentVolumeClaim: {claimName: pvc}}]"),
            vec!["spec.volumes[0].persistentVolumeClaim: Forbidden: persistentVolumeClaim volumes need a cluster (a control plane that binds claims to PersistentVolumes and a storage provisioner); on a single node nodelet supports emptyDir, hostPath, configMap, secret, downwardAPI and projected volumes".into()],
        ),
        (
            "projected sources",
            pod("containers: [{name: c, image: i}], volumes: [{name: p, projected: {sources: [{serviceAccountToken: {path: t, expirationSeconds: 60}}, {configMap: {name: a, items: [{key: k, path: t2}]}, secret: {name: b, items: [{key: k, path: t2}]}}, {clusterTrustBundle: {path: b, signerName: x}}]}}]"),
            vec![
                "spec.volumes[0].projected.sources[0].serviceAccountToken.expirationSeconds: Invalid value: 60: may not specify a duration less than 10 minutes".into(),
                "spec.volumes[0].projected.sources[1].configMap.items[0].path: Invalid value: \"t2\": conflicting duplicate paths".into(),
                "spec.volumes[0].projected.sources[1]: Forbidden: may not specify more than 1 volume type per source".into(),
                "spec.volumes[0].projected.sources[2].clusterTrustBundle: Forbidden: clusterTrustBundle projections need a cluster's ClusterTrustBundle objects; nodelet does not support them".into(),
            ],
        ),
        (
            "volume mount paths and propagation",
            pod("containers: [{name: c, image: i, volumeMounts: [{name: v, mountPath: /a, subPath: ../x}, {name: v, mountPath: /b, subPath: x, subPathExpr: $(Y)}, {name: v, mountPath: /c, mountPropagation: Bidirectional}, {name: v, mountPath: /d, mountPropagation: Shared}, {name: v, mountPath: /e, recursiveReadOnly: Enabled}]}], volumes: [{name: v, emptyDir: {}}]"),
            vec![
                "spec.containers[0].volumeMounts[0].subPath: Invalid value: \"../x\": must not contain '..'".into(),
                "spec.containers[0].volumeMounts[1].subPathExpr: Invalid value: \"$(Y)\": subPathExpr and subPath are mutually exclusive".into(),
                "spec.containers[0].volumeMounts[2].mountPropagation: Forbidden: Bidirectional mount propagation is available only to privileged containers".into(),
                "spec.containers[0].volumeMounts[3].mountPropagation: Unsupported value: \"Shared\": supported values: \"Bidirectional\", \"HostToContainer\", \"None\"".into(),
                "spec.containers[0].volumeMounts[4].recursiveReadOnly: Forbidden: may only be specified when readOnly is true".into(),
            ],
        ),
        (
            "duplicate volumes",
            pod("containers: [{name: c, image: i}], volumes: [{name: a, emptyDir: {}}, {name: a, emptyDir: {}}]"),
            vec!["spec.volumes[1].name: Duplicate value: \"a\"".into()],
        ),
        (
            "volumeMount must reference a volume",
            pod("containers: [{name: c, image: i, volumeMounts: [{name: data, mountPath: /d}]}], volumes: [{name: other, emptyDir: {}}]"),
            vec!["spec.containers[0].volumeMounts[0].name: Not found: \"data\"".into()],
        ),
        (
            "mountPath required and unique",
            pod("containers: [{name: c, image: i, volumeMounts: [{name: v, mountPath: \"\"}, {name: v, mountPath: /d}, {name: v, mountPath: /d}]}], volumes: [{name: v, emptyDir: {}}]"),
            vec![
                "spec.containers[0].volumeMounts[0].mountPath: Required value".into(),
                "spec.containers[0].volumeMounts[2].mountPath: Invalid value: \"/d\": must be unique".into(),
            ],
        ),
        (
            "hook without handler",
            ctr("lifecycle: {postStart: {}}"),
            vec!["spec.containers[0].lifecycle.postStart: Required value: must specify a handler type".into()],
        ),
        (
            "hook with several handlers",
            ctr("lifecycle: {preStop: {exec: {command: [x]}, httpGet: {port: 80}, sleep: {seconds: 1}}}"),
            vec![
                "spec.containers[0].lifecycle.preStop.httpGet: Forbidden: may not specify more than 1 handler type".into(),
                "spec.containers[0].lifecycle.preStop.sleep: Forbidden: may not specify more than 1 handler type".into(),
            ],
        ),
        (
            "exec command required",
            ctr("lifecycle: {postStart: {exec: {command: []}}, preStop: {exec: {}}}"),
            vec![
                "spec.containers[0].lifecycle.postStart.exec.command: Required value".into(),
                "spec.containers[0].lifecycle.preStop.exec.command: Required value".into(),
            ],
        ),
        (
            "httpGet port, scheme and headers",
            ctr("lifecycle: {postStart: {httpGet: {port: 0, scheme: FTP, httpHeaders: [{name: \"X Y\", value: v}]}}}"),
            vec![
                format!("spec.containers[0].lifecycle.postStart.httpGet.port: Invalid value: 0: {RANGE}"),
                "spec.containers[0].lifecycle.postStart.httpGet.scheme: Unsupported value: \"FTP\": supported values: \"HTTP\", \"HTTPS\"".into(),
                "spec.containers[0].lifecycle.postStart.httpGet.httpHeaders: Invalid value: \"X Y\": a valid HTTP header must consist of alphanumeric characters or '-' (e.g. 'X-Header-Name', regex used for validation is '[-A-Za-z0-9]+')".into(),
            ],
        ),
        (
            "httpGet named port",
            ctr("lifecycle: {postStart: {httpGet: {port: Web}}}"),
            vec![
                "spec.containers[0].lifecycle.postStart.httpGet.port: Invalid value: \"Web\": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)".into(),
            ],
        ),
        (
            "tcpSocket port checked",
            ctr("lifecycle: {preStop: {tcpSocket: {port: 99999}}}"),
            vec![format!("spec.containers[0].lifecycle.preStop.tcpSocket.port: Invalid value: 99999: {RANGE}")],
        ),
        (
            "sleep above grace",
            ctr("lifecycle: {preStop: {sleep: {seconds: 31}}}"),
            vec!["spec.containers[0].lifecycle.preStop.sleep: Invalid value: 31: must be non-negative and less than terminationGracePeriodSeconds (30)".into()],
        ),
        ("sleep equal to grace is allowed", ctr("lifecycle: {preStop: {sleep: {seconds: 30}}, postStart: {sleep: {seconds: 0}}}"), vec![]),
        (
            "sleep negative, custom grace",
            pod("terminationGracePeriodSeconds: 5, containers: [{name: c, image: i, lifecycle: {postStart: {sleep: {seconds: -1}}, preStop: {sleep: {seconds: 6}}}}]"),
            vec![
                "spec.containers[0].lifecycle.postStart.sleep: Invalid value: -1: must be non-negative and less than terminationGracePeriodSeconds (5)".into(),
                "spec.containers[0].lifecycle.preStop.sleep: Invalid value: 6: must be non-negative and less than terminationGracePeriodSeconds (5)".into(),
            ],
        ),
        (
            "init container lifecycle needs restartPolicy Always",
            pod("containers: [{name: c, image: i}], initContainers: [{name: init, image: i, lifecycle: {postStart: {exec: {command: [x]}}}, readinessProbe: {exec: {command: [x]}}}]"),
            vec![
                "spec.initContainers[0].lifecycle: Forbidden: may not be set for init containers without restartPolicy=Always".into(),
                "spec.initContainers[0].readinessProbe: Forbidden: may not be set for init containers without restartPolicy=Always".into(),
            ],
        ),
        (
            "sidecar hooks are validated",
            pod("containers: [{name: c, image: i}], initContainers: [{name: side, image: i, restartPolicy: Always, lifecycle: {preStop: {}}}]"),
            vec!["spec.initContainers[0].lifecycle.preStop: Required value: must specify a handler type".into()],
        ),
        (
            "init container restartPolicy values",
            pod("containers: [{name: c, image: i}], initContainers: [{name: init, image: i, restartPolicy: Sometimes}]"),
            vec!["spec.initContainers[0].restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"Never\", \"OnFailure\"".into()],
        ),
        (
            "init container restartPolicy Never and OnFailure with rules",
            pod("containers: [{name: c, image: i}], initContainers: [{name: a, image: i, restartPolicy: Never, restartPolicyRules: [{action: Restart, exitCodes: {operator: In, values: [42]}}]}, {name: b, image: i, restartPolicy: OnFailure}]"),
            vec![],
        ),
        (
            "init container rules need a restartPolicy",
            pod("containers: [{name: c, image: i}], initContainers: [{name: init, image: i, restartPolicyRules: [{action: Restart, exitCodes: {operator: In, values: [42]}}]}]"),
            vec!["spec.initContainers[0].restartPolicy: Required value: must specify restartPolicy when restart rules are used".into()],
        ),
        (
            "sidecar with RestartAllContainers rule",
            pod("containers: [{name: c, image: i}], initContainers: [{name: side, image: i, restartPolicy: Always, restartPolicyRules: [{action: RestartAllContainers, exitCodes: {operator: In, values: [42]}}]}]"),
            vec![],
        ),
        (
            "sidecar rules are validated",
            pod("containers: [{name: c, image: i}], initContainers: [{name: side, image: i, restartPolicy: Always, restartPolicyRules: [{action: Bogus, exitCodes: {operator: In}}]}]"),
            vec!["spec.initContainers[0].restartPolicyRules[0].action: Unsupported value: \"Bogus\": supported values: \"Restart\", \"RestartAllContainers\"".into()],
        ),
        (
            "init container restartPolicy Never still forbids probes",
            pod("containers: [{name: c, image: i}], initContainers: [{name: init, image: i, restartPolicy: Never, readinessProbe: {exec: {command: [x]}}}]"),
            vec!["spec.initContainers[0].readinessProbe: Forbidden: may not be set for init containers without restartPolicy=Always".into()],
        ),
        ("regular container restartPolicy values", ctr("restartPolicy: Always"), vec![]),
        ("regular container restartPolicy Never", ctr("restartPolicy: Never"), vec![]),
        ("regular container restartPolicy OnFailure", ctr("restartPolicy: OnFailure"), vec![]),
        (
            "regular container restartPolicy unsupported",
            ctr("restartPolicy: Sometimes"),
            vec!["spec.containers[0].restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"Never\", \"OnFailure\"".into()],
        ),
        ("regular container rule In", ctr("restartPolicy: Never, restartPolicyRules: [{action: Restart, exitCodes: {operator: In, values: [42]}}]"), vec![]),
        (
            "regular container rules need a restartPolicy",
            ctr("restartPolicyRules: [{action: Restart, exitCodes: {operator: In, values: [42]}}]"),
            vec!["spec.containers[0].restartPolicy: Required value: must specify restartPolicy when restart rules are used".into()],
        ),
        (
            "rule action, operator and exitCodes",
            ctr("restartPolicy: Never, restartPolicyRules: [{action: Restart}, {action: Kill, exitCodes: {operator: Equals, values: [1]}}, {action: RestartAllContainers, exitCodes: {operator: NotIn, values: [0]}}]"),
            vec![
                "spec.containers[0].restartPolicyRules[0].exitCodes: Required value: must be specified".into(),
                "spec.containers[0].restartPolicyRules[1].action: Unsupported value: \"Kill\": supported values: \"Restart\", \"RestartAllContainers\"".into(),
                "spec.containers[0].restartPolicyRules[1].exitCodes.operator: Unsupported value: \"Equals\": supported values: \"In\", \"NotIn\"".into(),
            ],
        ),
        (
            "at most 20 rules",
            ctr(&format!("restartPolicy: Never, restartPolicyRules: [{}]", vec!["{action: Restart, exitCodes: {operator: In, values: [1]}}"; 21].join(", "))),
            vec!["spec.containers[0].restartPolicyRules: Too many: 21: must have at most 20 items".into()],
        ),
        ("20 rules are allowed", ctr(&format!("restartPolicy: Never, restartPolicyRules: [{}]", vec!["{action: Restart, exitCodes: {operator: In, values: [1]}}"; 20].join(", "))), vec![]),
        (
            "at most 255 exit codes",
            ctr(&format!("restartPolicy: Never, restartPolicyRules: [{{action: Restart, exitCodes: {{operator: NotIn, values: [{}]}}}}]", (0..256).map(|i| i.to_string()).collect::<Vec<_>>().join(", "))),
            vec!["spec.containers[0].restartPolicyRules[0].exitCodes.values: Too many: 256: must have at most 255 items".into()],
        ),
        (
            "ephemeral container restartPolicyRules forbidden",
            pod("containers: [{name: c, image: i}], ephemeralContainers: [{name: debug, image: busybox, restartPolicyRules: []}]"),
            vec![
                "spec.ephemeralContainers[0].restartPolicyRules: Forbidden: cannot be set for an Ephemeral Container".into(),
                "spec.ephemeralContainers: Forbidden: cannot be set on create".into(),
            ],
        ),
        (
            "ephemeral container lifecycle forbidden",
            pod("containers: [{name: c, image: i}], ephemeralContainers: [{name: debug, image: busybox, lifecycle: {preStop: {exec: {command: [x]}}}}]"),
            vec![
                "spec.ephemeralContainers[0].lifecycle: Forbidden: cannot be set for an Ephemeral Container".into(),
                "spec.ephemeralContainers: Forbidden: cannot be set on create".into(),
            ],
        ),
        (
            "ephemeral container: unknown target, resources, subPath (upstream's allow-list order)",
            pod("containers: [{name: c, image: i}], volumes: [{name: v, emptyDir: {}}], ephemeralContainers: [{name: debug, image: busybox, targetContainerName: nope, readinessProbe: {exec: {command: [x]}}, resources: {limits: {cpu: 1}}, volumeMounts: [{name: v, mountPath: /v, subPath: s}]}]"),
            vec![
                "spec.ephemeralContainers[0].targetContainerName: Not found: \"nope\"".into(),
                "spec.ephemeralContainers[0].resources: Forbidden: cannot be set for an Ephemeral Container".into(),
                "spec.ephemeralContainers[0].readinessProbe: Forbidden: cannot be set for an Ephemeral Container".into(),
                "spec.ephemeralContainers[0].volumeMounts[0].subPath: Forbidden: cannot be set for an Ephemeral Container".into(),
                "spec.ephemeralContainers: Forbidden: cannot be set on create".into(),
            ],
        ),
        (
            "stopSignal needs spec.os.name",
            ctr("lifecycle: {stopSignal: SIGUSR1}"),
            vec!["spec.containers[0].lifecycle.stopSignal: Forbidden: may not be set for containers with empty `spec.os.name`".into()],
        ),
        (
            "stopSignal must be a Linux signal",
            pod("os: {name: linux}, containers: [{name: c, image: i, lifecycle: {stopSignal: TERM}}]"),
            vec![format!(
                "spec.containers[0].lifecycle.stopSignal: Unsupported value: \"TERM\": supported values: {}",
                linux_signals()
            )],
        ),
        ("stopSignal valid on Linux", pod("os: {name: linux}, containers: [{name: c, image: i, lifecycle: {stopSignal: SIGRTMIN+3}}]"), vec![]),
        (
            "stopSignal on Windows",
            pod("os: {name: windows}, containers: [{name: c, image: i, lifecycle: {stopSignal: SIGINT}}]"),
            vec!["spec.containers[0].lifecycle.stopSignal: Unsupported value: \"SIGINT\": supported values: \"SIGKILL\", \"SIGTERM\"".into()],
        ),
        (
            "probe needs a handler and sane numbers",
            ctr("livenessProbe: {periodSeconds: -1, successThreshold: 2}, readinessProbe: {tcpSocket: {port: 80}, terminationGracePeriodSeconds: 5}, startupProbe: {grpc: {port: 0}, terminationGracePeriodSeconds: 0}"),
            vec![
                "spec.containers[0].livenessProbe: Required value: must specify a handler type".into(),
                "spec.containers[0].livenessProbe.periodSeconds: Invalid value: -1: must be greater than or equal to 0".into(),
                "spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1".into(),
                "spec.containers[0].readinessProbe.terminationGracePeriodSeconds: Invalid value: 5: must not be set for readinessProbes".into(),
                format!("spec.containers[0].startupProbe.grpc.port: Invalid value: 0: {RANGE}"),
                "spec.containers[0].startupProbe.terminationGracePeriodSeconds: Invalid value: 0: must be greater than 0".into(),
            ],
        ),
        (
            "imagePullPolicy values",
            ctr("imagePullPolicy: Sometimes"),
            vec!["spec.containers[0].imagePullPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"IfNotPresent\", \"Never\"".into()],
        ),
        (
            "terminationMessagePolicy values",
            ctr("terminationMessagePolicy: Always"),
            vec!["spec.containers[0].terminationMessagePolicy: Unsupported value: \"Always\": supported values: \"File\", \"FallbackToLogsOnError\"".into()],
        ),
        (
            "restartPolicy values",
            pod("restartPolicy: Sometimes, containers: [{name: c, image: i}]"),
            vec!["spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\"".into()],
        ),
        (
            "dnsPolicy values",
            pod("dnsPolicy: Google, containers: [{name: c, image: i}]"),
            vec!["spec.dnsPolicy: Unsupported value: \"Google\": supported values: \"ClusterFirst\", \"ClusterFirstWithHostNet\", \"Default\", \"None\"".into()],
        ),
        (
            "negative grace period",
            pod("terminationGracePeriodSeconds: -1, containers: [{name: c, image: i}]"),
            vec!["spec.terminationGracePeriodSeconds: Invalid value: -1: must be greater than or equal to 0".into()],
        ),
        (
            "activeDeadlineSeconds positive",
            pod("activeDeadlineSeconds: 0, containers: [{name: c, image: i}]"),
            vec!["spec.activeDeadlineSeconds: Invalid value: 0: must be between 1 and 2147483647, inclusive".into()],
        ),
        (
            "service name, ports and clusterIP",
            "apiVersion: v1\nkind: Service\nmetadata: {name: 1svc}\nspec: {clusterIP: 10.0.0.300, type: Magic, sessionAffinity: Sticky, ports: [{port: 0, protocol: HTTP}, {name: a, port: 81, targetPort: Bad_Name}, {name: a, port: 82}]}\n".into(),
            vec![
                format!("metadata.name: Invalid value: \"1svc\": {DNS1035}"),
                "spec.ports[0].name: Required value".into(),
                format!("spec.ports[0].port: Invalid value: 0: {RANGE}"),
                "spec.ports[0].protocol: Unsupported value: \"HTTP\": supported values: \"SCTP\", \"TCP\", \"UDP\"".into(),
                // targetPort defaults to port, so a bad port is reported twice, as upstream does.
                format!("spec.ports[0].targetPort: Invalid value: 0: {RANGE}"),
                "spec.ports[1].targetPort: Invalid value: \"Bad_Name\": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)".into(),
                "spec.ports[2].name: Duplicate value: \"a\"".into(),
                "spec.sessionAffinity: Unsupported value: \"Sticky\": supported values: \"ClientIP\", \"None\"".into(),
                "spec.clusterIPs[0]: Invalid value: \"10.0.0.300\": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)".into(),
                "spec.type: Unsupported value: \"Magic\": supported values: \"ClusterIP\", \"ExternalName\", \"LoadBalancer\", \"NodePort\"".into(),
            ],
        ),
        (
            "service ports required",
            "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {}\n".into(),
            vec!["spec.ports: Required value".into()],
        ),
        (
            "service: nodePort on ClusterIP, duplicate ports, affinity timeout",
            "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {sessionAffinity: ClientIP, sessionAffinityConfig: {clientIP: {timeoutSeconds: 90000}}, ports: [{name: a, port: 80, nodePort: 30001}, {name: b, port: 80}]}\n".into(),
            vec![
                "spec.sessionAffinityConfig.clientIP.timeoutSeconds: Invalid value: 90000: must be greater than 0 and less than 86400".into(),
                "spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'".into(),
                "spec.ports[1]: Duplicate value: core.ServicePort{Name:\"\", Protocol:\"TCP\", AppProtocol:(*string)(nil), Port:80, TargetPort:intstr.IntOrString{Type:0, IntVal:0, StrVal:\"\"}, NodePort:0}".into(),
            ],
        ),
        (
            "service: headless NodePort, ExternalName without a name",
            "apiVersion: v1\nkind: List\nitems: [{apiVersion: v1, kind: Service, metadata: {name: s}, spec: {type: NodePort, clusterIP: None, ports: [{port: 80}]}}]\n".into(),
            vec!["spec.clusterIPs[0]: Invalid value: \"None\": may not be set to 'None' for NodePort services".into()],
        ),
        (
            "service: ExternalName",
            "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {type: ExternalName, externalName: \"Bad_Host.\", clusterIP: 10.96.0.5}\n".into(),
            vec![
                "spec.clusterIPs: Forbidden: may not be set for ExternalName services".into(),
                format!("spec.externalName: Invalid value: \"Bad_Host\": {SUBDOMAIN}"),
            ],
        ),
        (
            "service: clusterIPs must match clusterIP",
            "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {clusterIP: 10.96.0.5, clusterIPs: [10.96.0.6], ports: [{port: 80}]}\n".into(),
            vec!["spec.clusterIPs: Invalid value: []string{\"10.96.0.6\"}: first value must match `clusterIP`".into()],
        ),
        ("service: ExternalName needs no ports", "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {type: ExternalName, externalName: example.com.}\n".into(), vec![]),
        ("headless service without ports", "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {clusterIP: None}\n".into(), vec![]),
        (
            "configmap keys",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm}\ndata: {\"a/b\": x, \"..\": w, ok: z}\n".into(),
            vec![
                "data[..]: Invalid value: \"..\": must not be '..'".into(),
                format!("data[a/b]: Invalid value: \"a/b\": {CONFIG_KEY}"),
            ],
        ),
        (
            "secret keys",
            "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData: {\"x y\": z}\n".into(),
            vec![format!("stringData[x y]: Invalid value: \"x y\": {CONFIG_KEY}")],
        ),
    ];
    assert!(rows.len() >= 40, "{} rows", rows.len());
    let mut failures = Vec::new();
    for (name, manifest, expected) in &rows {
        let got = errors(manifest);
        if &got != expected {
            failures.push(format!(
                "row {name:?}\n  expected: {expected:#?}\n  got:      {got:#?}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n")
    );
}

#[test]
fn all_errors_of_a_pod_are_reported_together() {
    let manifest = "apiVersion: v1\nkind: Pod\nmetadata: {name: Bad_Name}\nspec:\n  restartPolicy: Sometimes\n  containers:\n  - {name: c, lifecycle: {postStart: {}}}\n  - {name: c, image: i, ports: [{containerPort: 0}]}\n";
    let mut loaded = load_bytes("p.yaml", manifest.as_bytes()).unwrap();
    default_object(&mut loaded[0].object);
    let errs = validate_object(&loaded[0].object);
    assert_eq!(
        errs.to_string(),
        format!(
            "[metadata.name: Invalid value: \"Bad_Name\": {SUBDOMAIN}, spec.containers[0].image: Required value, spec.containers[0].lifecycle.postStart: Required value: must specify a handler type, spec.containers[1].ports[0].containerPort: Required value, spec.containers[1].name: Duplicate value: \"c\", spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\"]"
        )
    );
}

#[test]
fn tcp_socket_hooks_warn() {
    let manifest = ctr("lifecycle: {preStop: {tcpSocket: {port: 80}}}");
    let mut loaded = load_bytes("p.yaml", manifest.as_bytes()).unwrap();
    default_object(&mut loaded[0].object);
    assert!(validate_object(&loaded[0].object).is_empty());
    let nodelet_spec::Object::Pod(pod) = &loaded[0].object else {
        panic!("not a pod")
    };
    assert_eq!(
        nodelet_spec::validate::pod_warnings(pod),
        vec!["spec.containers[0].lifecycle.preStop.tcpSocket: deprecated and not supported"]
    );
}
