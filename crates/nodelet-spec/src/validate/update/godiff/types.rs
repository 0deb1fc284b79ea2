//! The Go types `cmp.Diff` walks when the API server prints a forbidden pod
//! update: the *internal* `core.PodSpec` (pkg/apis/core/types.go), whose
//! field order and shape differ from the v1 JSON (host namespaces live in
//! `SecurityContext`, probes embed `ProbeHandler`, volumes `VolumeSource`).
//! Only the order, Go names and kinds matter here. Types not listed are
//! printed from their JSON with capitalised names (still cmp's layout).

/// A Go type, as far as printing needs it.
#[derive(Debug, Clone, Copy)]
pub enum T {
    Str,
    Int,
    Bool,
    Ptr(&'static T),
    Slice(&'static T),
    /// `map[string]string` and friends: (Go type name, value type).
    Map(&'static str, &'static T),
    /// `core.ResourceList`: keys are `core.ResourceName` (a Stringer).
    ResourceList,
    Quantity,
    IntOrString,
    Struct(&'static str),
    /// Not described: inferred from the JSON value.
    Unknown,
}

/// One field of a struct: its JSON name, Go name and type. An embedded
/// struct has no JSON name of its own (its fields sit in the parent object).
#[derive(Debug, Clone, Copy)]
pub struct Field {
    pub json: &'static str,
    pub go: &'static str,
    pub t: T,
    pub embedded: bool,
}

const fn f(json: &'static str, go: &'static str, t: T) -> Field {
    Field {
        json,
        go,
        t,
        embedded: false,
    }
}

const fn emb(go: &'static str, ty: &'static str) -> Field {
    Field {
        json: "",
        go,
        t: T::Struct(ty),
        embedded: true,
    }
}

const STR: T = T::Str;
const INT: T = T::Int;
const BOOL: T = T::Bool;
const STRS: T = T::Slice(&STR);
const PSTR: T = T::Ptr(&STR);
const PINT: T = T::Ptr(&INT);
const PBOOL: T = T::Ptr(&BOOL);
const SMAP: T = T::Map("map[string]string", &STR);

macro_rules! ptr {
    ($name:literal) => {
        T::Ptr(&T::Struct($name))
    };
}
macro_rules! slice {
    ($name:literal) => {
        T::Slice(&T::Struct($name))
    };
}

const POD_SPEC: &[Field] = &[
    f("volumes", "Volumes", slice!("Volume")),
    f("initContainers", "InitContainers", slice!("Container")),
    f("containers", "Containers", slice!("Container")),
    f(
        "ephemeralContainers",
        "EphemeralContainers",
        slice!("EphemeralContainer"),
    ),
    f("restartPolicy", "RestartPolicy", STR),
    f(
        "terminationGracePeriodSeconds",
        "TerminationGracePeriodSeconds",
        PINT,
    ),
    f("activeDeadlineSeconds", "ActiveDeadlineSeconds", PINT),
    f("dnsPolicy", "DNSPolicy", STR),
    f("nodeSelector", "NodeSelector", SMAP),
    f("serviceAccountName", "ServiceAccountName", STR),
    f(
        "automountServiceAccountToken",
        "AutomountServiceAccountToken",
        PBOOL,
    ),
    f("nodeName", "NodeName", STR),
    f(
        "securityContext",
        "SecurityContext",
        ptr!("PodSecurityContext"),
    ),
    f(
        "imagePullSecrets",
        "ImagePullSecrets",
        slice!("LocalObjectReference"),
    ),
    f("hostname", "Hostname", STR),
    f("subdomain", "Subdomain", STR),
    f("setHostnameAsFQDN", "SetHostnameAsFQDN", PBOOL),
    f("affinity", "Affinity", T::Ptr(&T::Unknown)),
    f("schedulerName", "SchedulerName", STR),
    f("tolerations", "Tolerations", slice!("Toleration")),
    f("hostAliases", "HostAliases", slice!("HostAlias")),
    f("priorityClassName", "PriorityClassName", STR),
    f("priority", "Priority", PINT),
    f("preemptionPolicy", "PreemptionPolicy", PSTR),
    f("dnsConfig", "DNSConfig", T::Ptr(&T::Unknown)),
    f(
        "readinessGates",
        "ReadinessGates",
        slice!("PodReadinessGate"),
    ),
    f("runtimeClassName", "RuntimeClassName", PSTR),
    f("overhead", "Overhead", T::ResourceList),
    f("enableServiceLinks", "EnableServiceLinks", PBOOL),
    f(
        "topologySpreadConstraints",
        "TopologySpreadConstraints",
        T::Slice(&T::Unknown),
    ),
    f("os", "OS", ptr!("PodOS")),
    f(
        "schedulingGates",
        "SchedulingGates",
        slice!("PodSchedulingGate"),
    ),
    f("resourceClaims", "ResourceClaims", T::Slice(&T::Unknown)),
    f("resources", "Resources", ptr!("ResourceRequirements")),
    f("hostnameOverride", "HostnameOverride", PSTR),
];

const CONTAINER: &[Field] = &[
    f("name", "Name", STR),
    f("image", "Image", STR),
    f("command", "Command", STRS),
    f("args", "Args", STRS),
    f("workingDir", "WorkingDir", STR),
    f("ports", "Ports", slice!("ContainerPort")),
    f("envFrom", "EnvFrom", slice!("EnvFromSource")),
    f("env", "Env", slice!("EnvVar")),
    f("resources", "Resources", T::Struct("ResourceRequirements")),
    f(
        "resizePolicy",
        "ResizePolicy",
        slice!("ContainerResizePolicy"),
    ),
    f("restartPolicy", "RestartPolicy", PSTR),
    f(
        "restartPolicyRules",
        "RestartPolicyRules",
        T::Slice(&T::Unknown),
    ),
    f("volumeMounts", "VolumeMounts", slice!("VolumeMount")),
    f("volumeDevices", "VolumeDevices", T::Slice(&T::Unknown)),
    f("livenessProbe", "LivenessProbe", ptr!("Probe")),
    f("readinessProbe", "ReadinessProbe", ptr!("Probe")),
    f("startupProbe", "StartupProbe", ptr!("Probe")),
    f("lifecycle", "Lifecycle", ptr!("Lifecycle")),
    f("terminationMessagePath", "TerminationMessagePath", STR),
    f("terminationMessagePolicy", "TerminationMessagePolicy", STR),
    f("imagePullPolicy", "ImagePullPolicy", STR),
    f(
        "securityContext",
        "SecurityContext",
        ptr!("SecurityContext"),
    ),
    f("stdin", "Stdin", BOOL),
    f("stdinOnce", "StdinOnce", BOOL),
    f("tty", "TTY", BOOL),
];

const CONTAINER_PORT: &[Field] = &[
    f("name", "Name", STR),
    f("hostPort", "HostPort", INT),
    f("containerPort", "ContainerPort", INT),
    f("protocol", "Protocol", STR),
    f("hostIP", "HostIP", STR),
];

const ENV_VAR: &[Field] = &[
    f("name", "Name", STR),
    f("value", "Value", STR),
    f("valueFrom", "ValueFrom", ptr!("EnvVarSource")),
];

const ENV_VAR_SOURCE: &[Field] = &[
    f("fieldRef", "FieldRef", ptr!("ObjectFieldSelector")),
    f(
        "resourceFieldRef",
        "ResourceFieldRef",
        ptr!("ResourceFieldSelector"),
    ),
    f(
        "configMapKeyRef",
        "ConfigMapKeyRef",
        ptr!("ConfigMapKeySelector"),
    ),
    f("secretKeyRef", "SecretKeyRef", ptr!("SecretKeySelector")),
    f("fileKeyRef", "FileKeyRef", T::Ptr(&T::Unknown)),
];

const OBJECT_FIELD_SELECTOR: &[Field] = &[
    f("apiVersion", "APIVersion", STR),
    f("fieldPath", "FieldPath", STR),
];

const RESOURCE_FIELD_SELECTOR: &[Field] = &[
    f("containerName", "ContainerName", STR),
    f("resource", "Resource", STR),
    f("divisor", "Divisor", T::Quantity),
];

const KEY_SELECTOR: &[Field] = &[
    emb("LocalObjectReference", "LocalObjectReference"),
    f("key", "Key", STR),
    f("optional", "Optional", PBOOL),
];

const LOCAL_OBJECT_REFERENCE: &[Field] = &[f("name", "Name", STR)];

const ENV_FROM_SOURCE: &[Field] = &[
    f("prefix", "Prefix", STR),
    f("configMapRef", "ConfigMapRef", ptr!("ConfigMapEnvSource")),
    f("secretRef", "SecretRef", ptr!("SecretEnvSource")),
];

const ENV_SOURCE: &[Field] = &[
    emb("LocalObjectReference", "LocalObjectReference"),
    f("optional", "Optional", PBOOL),
];

const RESOURCE_REQUIREMENTS: &[Field] = &[
    f("limits", "Limits", T::ResourceList),
    f("requests", "Requests", T::ResourceList),
    f("claims", "Claims", T::Slice(&T::Unknown)),
];

const RESIZE_POLICY: &[Field] = &[
    f("resourceName", "ResourceName", STR),
    f("restartPolicy", "RestartPolicy", STR),
];

const VOLUME_MOUNT: &[Field] = &[
    f("name", "Name", STR),
    f("readOnly", "ReadOnly", BOOL),
    f("recursiveReadOnly", "RecursiveReadOnly", PSTR),
    f("mountPath", "MountPath", STR),
    f("subPath", "SubPath", STR),
    f("mountPropagation", "MountPropagation", PSTR),
    f("subPathExpr", "SubPathExpr", STR),
];

const PROBE: &[Field] = &[
    emb("ProbeHandler", "ProbeHandler"),
    f("initialDelaySeconds", "InitialDelaySeconds", INT),
    f("timeoutSeconds", "TimeoutSeconds", INT),
    f("periodSeconds", "PeriodSeconds", INT),
    f("successThreshold", "SuccessThreshold", INT),
    f("failureThreshold", "FailureThreshold", INT),
    f(
        "terminationGracePeriodSeconds",
        "TerminationGracePeriodSeconds",
        PINT,
    ),
];

const PROBE_HANDLER: &[Field] = &[
    f("exec", "Exec", ptr!("ExecAction")),
    f("httpGet", "HTTPGet", ptr!("HTTPGetAction")),
    f("tcpSocket", "TCPSocket", ptr!("TCPSocketAction")),
    f("grpc", "GRPC", ptr!("GRPCAction")),
];

const LIFECYCLE: &[Field] = &[
    f("postStart", "PostStart", ptr!("LifecycleHandler")),
    f("preStop", "PreStop", ptr!("LifecycleHandler")),
    f("stopSignal", "StopSignal", PSTR),
];

const LIFECYCLE_HANDLER: &[Field] = &[
    f("exec", "Exec", ptr!("ExecAction")),
    f("httpGet", "HTTPGet", ptr!("HTTPGetAction")),
    f("tcpSocket", "TCPSocket", ptr!("TCPSocketAction")),
    f("sleep", "Sleep", ptr!("SleepAction")),
];

const EXEC_ACTION: &[Field] = &[f("command", "Command", STRS)];

const HTTP_GET_ACTION: &[Field] = &[
    f("path", "Path", STR),
    f("port", "Port", T::IntOrString),
    f("host", "Host", STR),
    f("scheme", "Scheme", STR),
    f("httpHeaders", "HTTPHeaders", slice!("HTTPHeader")),
];

const HTTP_HEADER: &[Field] = &[f("name", "Name", STR), f("value", "Value", STR)];

const TCP_SOCKET_ACTION: &[Field] = &[f("port", "Port", T::IntOrString), f("host", "Host", STR)];

const GRPC_ACTION: &[Field] = &[f("port", "Port", INT), f("service", "Service", PSTR)];

const SLEEP_ACTION: &[Field] = &[f("seconds", "Seconds", INT)];

const SECURITY_CONTEXT: &[Field] = &[
    f("capabilities", "Capabilities", ptr!("Capabilities")),
    f("privileged", "Privileged", PBOOL),
    f("seLinuxOptions", "SELinuxOptions", T::Ptr(&T::Unknown)),
    f("windowsOptions", "WindowsOptions", T::Ptr(&T::Unknown)),
    f("runAsUser", "RunAsUser", PINT),
    f("runAsGroup", "RunAsGroup", PINT),
    f("runAsNonRoot", "RunAsNonRoot", PBOOL),
    f("readOnlyRootFilesystem", "ReadOnlyRootFilesystem", PBOOL),
    f(
        "allowPrivilegeEscalation",
        "AllowPrivilegeEscalation",
        PBOOL,
    ),
    f("procMount", "ProcMount", PSTR),
    f("seccompProfile", "SeccompProfile", T::Ptr(&T::Unknown)),
    f("appArmorProfile", "AppArmorProfile", T::Ptr(&T::Unknown)),
];

const CAPABILITIES: &[Field] = &[f("add", "Add", STRS), f("drop", "Drop", STRS)];

/// Internal `core.PodSecurityContext`: the host namespace switches of the
/// v1 PodSpec live here.
const POD_SECURITY_CONTEXT: &[Field] = &[
    f("hostNetwork", "HostNetwork", BOOL),
    f("hostPID", "HostPID", BOOL),
    f("hostIPC", "HostIPC", BOOL),
    f("shareProcessNamespace", "ShareProcessNamespace", PBOOL),
    f("hostUsers", "HostUsers", PBOOL),
    f("seLinuxOptions", "SELinuxOptions", T::Ptr(&T::Unknown)),
    f("windowsOptions", "WindowsOptions", T::Ptr(&T::Unknown)),
    f("runAsUser", "RunAsUser", PINT),
    f("runAsGroup", "RunAsGroup", PINT),
    f("runAsNonRoot", "RunAsNonRoot", PBOOL),
    f("supplementalGroups", "SupplementalGroups", T::Slice(&INT)),
    f("supplementalGroupsPolicy", "SupplementalGroupsPolicy", PSTR),
    f("fsGroup", "FSGroup", PINT),
    f("fsGroupChangePolicy", "FSGroupChangePolicy", PSTR),
    f("sysctls", "Sysctls", T::Slice(&T::Unknown)),
    f("seccompProfile", "SeccompProfile", T::Ptr(&T::Unknown)),
    f("appArmorProfile", "AppArmorProfile", T::Ptr(&T::Unknown)),
    f("seLinuxChangePolicy", "SELinuxChangePolicy", PSTR),
];

const TOLERATION: &[Field] = &[
    f("key", "Key", STR),
    f("operator", "Operator", STR),
    f("value", "Value", STR),
    f("effect", "Effect", STR),
    f("tolerationSeconds", "TolerationSeconds", PINT),
];

const HOST_ALIAS: &[Field] = &[f("ip", "IP", STR), f("hostnames", "Hostnames", STRS)];

const READINESS_GATE: &[Field] = &[f("conditionType", "ConditionType", STR)];

const SCHEDULING_GATE: &[Field] = &[f("name", "Name", STR)];

const POD_OS: &[Field] = &[f("name", "Name", STR)];

const VOLUME: &[Field] = &[f("name", "Name", STR), emb("VolumeSource", "VolumeSource")];

const VOLUME_SOURCE: &[Field] = &[
    f("hostPath", "HostPath", ptr!("HostPathVolumeSource")),
    f("emptyDir", "EmptyDir", ptr!("EmptyDirVolumeSource")),
    f(
        "gcePersistentDisk",
        "GCEPersistentDisk",
        T::Ptr(&T::Unknown),
    ),
    f(
        "awsElasticBlockStore",
        "AWSElasticBlockStore",
        T::Ptr(&T::Unknown),
    ),
    f("gitRepo", "GitRepo", T::Ptr(&T::Unknown)),
    f("secret", "Secret", T::Ptr(&T::Unknown)),
    f("nfs", "NFS", T::Ptr(&T::Unknown)),
    f("iscsi", "ISCSI", T::Ptr(&T::Unknown)),
    f("glusterfs", "Glusterfs", T::Ptr(&T::Unknown)),
    f(
        "persistentVolumeClaim",
        "PersistentVolumeClaim",
        T::Ptr(&T::Unknown),
    ),
    f("rbd", "RBD", T::Ptr(&T::Unknown)),
    f("quobyte", "Quobyte", T::Ptr(&T::Unknown)),
    f("flexVolume", "FlexVolume", T::Ptr(&T::Unknown)),
    f("cinder", "Cinder", T::Ptr(&T::Unknown)),
    f("cephfs", "CephFS", T::Ptr(&T::Unknown)),
    f("flocker", "Flocker", T::Ptr(&T::Unknown)),
    f("downwardAPI", "DownwardAPI", T::Ptr(&T::Unknown)),
    f("fc", "FC", T::Ptr(&T::Unknown)),
    f("azureFile", "AzureFile", T::Ptr(&T::Unknown)),
    f("configMap", "ConfigMap", T::Ptr(&T::Unknown)),
    f("vsphereVolume", "VsphereVolume", T::Ptr(&T::Unknown)),
    f("azureDisk", "AzureDisk", T::Ptr(&T::Unknown)),
    f(
        "photonPersistentDisk",
        "PhotonPersistentDisk",
        T::Ptr(&T::Unknown),
    ),
    f("projected", "Projected", T::Ptr(&T::Unknown)),
    f("portworxVolume", "PortworxVolume", T::Ptr(&T::Unknown)),
    f("scaleIO", "ScaleIO", T::Ptr(&T::Unknown)),
    f("storageos", "StorageOS", T::Ptr(&T::Unknown)),
    f("csi", "CSI", T::Ptr(&T::Unknown)),
    f("ephemeral", "Ephemeral", T::Ptr(&T::Unknown)),
    f("image", "Image", T::Ptr(&T::Unknown)),
];

const HOST_PATH: &[Field] = &[f("path", "Path", STR), f("type", "Type", PSTR)];

const EMPTY_DIR: &[Field] = &[
    f("medium", "Medium", STR),
    f("sizeLimit", "SizeLimit", T::Ptr(&T::Quantity)),
];

/// The fields of a described internal type, `None` for the others.
pub fn fields(ty: &str) -> Option<&'static [Field]> {
    Some(match ty {
        "PodSpec" => POD_SPEC,
        "Container" | "EphemeralContainer" => CONTAINER,
        "ContainerPort" => CONTAINER_PORT,
        "EnvVar" => ENV_VAR,
        "EnvVarSource" => ENV_VAR_SOURCE,
        "ObjectFieldSelector" => OBJECT_FIELD_SELECTOR,
        "ResourceFieldSelector" => RESOURCE_FIELD_SELECTOR,
        "ConfigMapKeySelector" | "SecretKeySelector" => KEY_SELECTOR,
        "LocalObjectReference" => LOCAL_OBJECT_REFERENCE,
        "EnvFromSource" => ENV_FROM_SOURCE,
        "ConfigMapEnvSource" | "SecretEnvSource" => ENV_SOURCE,
        "ResourceRequirements" => RESOURCE_REQUIREMENTS,
        "ContainerResizePolicy" => RESIZE_POLICY,
        "VolumeMount" => VOLUME_MOUNT,
        "Probe" => PROBE,
        "ProbeHandler" => PROBE_HANDLER,
        "Lifecycle" => LIFECYCLE,
        "LifecycleHandler" => LIFECYCLE_HANDLER,
        "ExecAction" => EXEC_ACTION,
        "HTTPGetAction" => HTTP_GET_ACTION,
        "HTTPHeader" => HTTP_HEADER,
        "TCPSocketAction" => TCP_SOCKET_ACTION,
        "GRPCAction" => GRPC_ACTION,
        "SleepAction" => SLEEP_ACTION,
        "SecurityContext" => SECURITY_CONTEXT,
        "Capabilities" => CAPABILITIES,
        "PodSecurityContext" => POD_SECURITY_CONTEXT,
        "Toleration" => TOLERATION,
        "HostAlias" => HOST_ALIAS,
        "PodReadinessGate" => READINESS_GATE,
        "PodSchedulingGate" => SCHEDULING_GATE,
        "PodOS" => POD_OS,
        "Volume" => VOLUME,
        "VolumeSource" => VOLUME_SOURCE,
        "HostPathVolumeSource" => HOST_PATH,
        "EmptyDirVolumeSource" => EMPTY_DIR,
        _ => return None,
    })
}

/// A field name the internal types do not describe, in Go spelling.
pub fn go_name(json: &str) -> String {
    let mut c = json.chars();
    match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}
