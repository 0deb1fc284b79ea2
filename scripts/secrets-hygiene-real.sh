#!/usr/bin/env bash
# End-to-end (issue 16, item 4: secrets hygiene on the real path): the real
# kubectl 1.37 against the real `nodelet serve` (engine, runc, CNI, store),
# NODELET_LOG=debug and --audit-log. A pod uses one Secret as env
# (secretKeyRef) and as a secret volume, and another as its
# imagePullSecret for an image on a registry that requires basic auth; its
# readiness probe and its preStop hook fail, so events exist.
# Then every output is searched for the three secret values (plain, and
# base64 where a value could appear encoded): describe, get -o yaml, get
# events, logs, the agent's debug output, the audit log, the store and
# every readable file of the state dir (except the secret volume's tmpfs).
# Numbered checks:
#   1 the pull needs the credential and succeeds with it
#   2 env and volume carry the values into the container
#   3 the failing probe and hook produce events (Unhealthy, FailedPreStopHook)
#   4 kubectl describe / get -o yaml / get events / logs hold no secret
#   5 the agent's debug output, audit log, store and state files hold none
#   6 state dir 0700, store and state files 0600, kubeconfig and audit log 0600
# Run by crates/nodelet/tests/secrets_hygiene_real.rs, which starts the
# registry (Debian's docker-registry with htpasswd and a test CA), pushes
# busybox to it and passes (env) SH_REGISTRY (host:port), SH_CERTS_D (the
# hosts.toml dir trusting it) and SH_SECRETS (a 0600 file: user, env value,
# file value, pull password, one per line; read here, never exported, so
# neither the agent nor the containers inherit them).
# Needs root, runc, busybox-static, the CNI plugins, python3 (pip), curl.
set -uo pipefail
started=$SECONDS
ws=$(cd "$(dirname "$0")/.." && pwd)
E2E_NAME=secrets-e2e
E2E_SUBNET=10.251 E2E_BRIDGE=nlsh
: "${SH_REGISTRY:?set by secrets_hygiene_real.rs}" "${SH_CERTS_D:?}" "${SH_SECRETS:?}"
{ read -r USER_NAME; read -r ENV_VALUE; read -r FILE_VALUE; read -r PULL_PASSWORD; } <"$SH_SECRETS"
[[ -n "$PULL_PASSWORD" ]] || { echo "$E2E_NAME: $SH_SECRETS is incomplete" >&2; exit 2; }
export NODELET_LOG=debug NODELET_REGISTRY_CONFIG_DIR=$SH_CERTS_D
e2e_prepare() {
    export NODELET_AUDIT_LOG=$tmp/audit.log
}
# shellcheck source=e2e-lib.sh
source "$ws/scripts/e2e-lib.sh"
e2e_start

b64() { printf '%s' "$1" | base64 -w0; }
sha() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }
IMAGE=$SH_REGISTRY/secret/busybox:1
out=$tmp/outputs
mkdir -p "$out"
# save <name> <command...>: keeps what the command printed for the search.
save() { local n=$1; shift; "$@" >"$out/$n" 2>&1; }

# create, not apply: apply would keep the stringData in the
# last-applied-configuration annotation, in plain text, as upstream does.
"$K" create -f - >/dev/null <<YAML
apiVersion: v1
kind: Secret
metadata: {name: app}
stringData: {token: "$ENV_VALUE", file: "$FILE_VALUE"}
---
apiVersion: v1
kind: Secret
metadata: {name: pull}
type: kubernetes.io/dockerconfigjson
stringData:
  .dockerconfigjson: '{"auths":{"$SH_REGISTRY":{"username":"$USER_NAME","password":"$PULL_PASSWORD","auth":"$(b64 "$USER_NAME:$PULL_PASSWORD")"}}}'
YAML

# --- 1 ---------------------------------------------------------------------------
section 1 "the image needs the pull secret and is pulled with it"
cat >"$tmp/anon.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata: {name: anon}
spec:
  containers: [{name: c, image: "$IMAGE", command: [sleep, "3600"]}]
YAML
"$K" apply -f "$tmp/anon.yaml" >/dev/null
eventually 60 "without the secret: ErrImagePull, 401" 'ErrImagePull|ImagePullBackOff' -- "$K" get pod anon
expect "the event says the registry refused (401)" '401 Unauthorized' \
    "$K" get events --field-selector involvedObject.name=anon
"$K" delete pod anon --grace-period=0 --force >/dev/null 2>&1

cat >"$tmp/pod.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  imagePullSecrets: [{name: pull}]
  terminationGracePeriodSeconds: 2
  containers:
  - name: c
    image: "$IMAGE"
    imagePullPolicy: Always
    # Prints hashes of what it received, never the values.
    command: [sh, -c, 'echo "env \$(printf %s "\$TOKEN" | sha256sum)"; echo "file \$(sha256sum </etc/s/file)"; trap "exit 0" TERM; while :; do sleep 0.2; done']
    env:
    - name: TOKEN
      valueFrom: {secretKeyRef: {name: app, key: token}}
    volumeMounts: [{name: s, mountPath: /etc/s}]
    lifecycle:
      preStop:
        exec: {command: [sh, -c, 'test "\$TOKEN" = wrong']}
    readinessProbe:
      exec: {command: [sh, -c, 'test -z "\$TOKEN"']}
      periodSeconds: 1
  volumes:
  - name: s
    secret: {secretName: app}
YAML
"$K" apply -f "$tmp/pod.yaml" >/dev/null
eventually 90 "with the secret: pulled" 'Successfully pulled image' -- \
    "$K" get events --field-selector involvedObject.name=p

# --- 2 ---------------------------------------------------------------------------
section 2 "env and volume carry the values into the container"
eventually 60 "the container printed the hashes of its env and file" \
    "^env $(sha "$ENV_VALUE") " "^file $(sha "$FILE_VALUE") " -- "$K" logs p

# --- 3 ---------------------------------------------------------------------------
section 3 "the failing probe and hook produce events"
eventually 60 "the readiness probe fails: Unhealthy" 'Unhealthy' -- \
    "$K" get events --field-selector involvedObject.name=p

# --- 4 ---------------------------------------------------------------------------
section 4 "kubectl outputs hold no secret value"
vol=$(find "$root" -type d -name 'kubernetes.io~secret' 2>/dev/null | head -1)
save describe-pod "$K" describe pod p
save get-pod-yaml "$K" get pod p -o yaml
save get-pods-wide "$K" get pods -o wide
save get-events "$K" get events
save get-events-yaml "$K" get events -o yaml
save logs "$K" logs p
save describe-secret "$K" describe secret app pull
# searched <label> <file...>: fails the check for every value found.
searched() {
    local what=$1 v f hits=""; shift
    for v in "$ENV_VALUE" "$FILE_VALUE" "$PULL_PASSWORD" \
        ${B64:+"$(b64 "$ENV_VALUE")" "$(b64 "$FILE_VALUE")" "$(b64 "$USER_NAME:$PULL_PASSWORD")"}; do
        f=$(grep -rlaF -- "$v" "$@" 2>/dev/null)
        [[ -n "$f" ]] && hits+="a secret value is in: $f"$'\n'
    done
    if [[ -n "$hits" ]]; then bad "$what" "$hits"; else good "$what: no secret value"; fi
}
for f in "$out"/*; do B64=1 searched "$(basename "$f")" "$f"; done

# --- 5 ---------------------------------------------------------------------------
section 5 "the agent's output, audit log, store and state files hold no secret value"
# While the pod runs: every readable file of the state dirs but the
# secret volume (tmpfs, not crossed by -xdev) and the container's OCI
# config.json, which holds its environment for runc (as containerd's
# bundle does) and must be 0600.
files=()
while IFS= read -r -d '' f; do
    [[ -n "$vol" && $f == "$vol"/* ]] && continue
    if [[ $f == */bundle/config.json ]]; then
        [[ $(stat -c %a "$f") == 600 ]] && good "$f is 0600" || bad "$f is $(stat -c %a "$f")"
        continue
    fi
    [[ $f == "$root/state.redb" ]] && continue
    files+=("$f")
done < <(find "$root" "$run" -xdev -type f -print0 2>/dev/null)
# nodelet's own files: no group or other bits. Not counted: image and
# volume content, the CNI plugins' IPAM files, what the container itself
# sees (its writable layer, and the hostname, hosts, resolv.conf and
# termination-log files mounted into it: readable, or for the
# termination log writable, by any user in the container, as the
# kubelet makes them), the namespace pins (mount points of nsfs) and the
# pid file runc writes, with its own mode, for a timed exec (a probe's or
# hook's) while it runs (a process id, under the 0700 root; seen once
# in CI as a file that was gone by the time `ls` looked).
loose_files() {
    find "$root" "$run" -xdev -type f -perm /077 -not -path "$root/images/*" -not -path "$root/pods/*" \
        -not -path "$root/volumes/*" -not -path "$root/cni/networks/*" -not -path "$root/containers/*/upper/*" \
        -not -regex "$root/containers/[^/]*/\.?exec-[0-9a-f]*\.pid" \
        -not -path "$run/ns/*" \( -not -path "$root/containers/*" -o -not -regex '.*/\(hostname\|hosts\|resolv.conf\|termination-log\)' \) \
        2>/dev/null
}
loose=$(loose_files)
[[ -z "$loose" ]] && good "while running: no state file readable by group or others" ||
    bad "while running: state files with group/other bits" "$(ls -l $loose)"
((${#files[@]} > 10)) && good "${#files[@]} state files while the pod runs" || bad "only ${#files[@]} state files found"
[[ -n "$vol" ]] && good "the secret volume is excluded ($vol)" || bad "no secret volume found under $root"
B64=1 searched "state files while running (but the store)" "${files[@]}"
# The store holds the Secret objects: base64 there, as etcd, never plain.
searched "the store while running (plain values)" "$root/state.redb"
# The preStop hook fails on deletion: FailedPreStopHook.
"$K" delete pod p --wait=true >/dev/null 2>&1
eventually 30 "the failing preStop hook: FailedPreStopHook" 'FailedPreStopHook' -- \
    "$K" get events --field-selector involvedObject.name=p
save get-events-after-delete "$K" get events -o yaml
B64=1 searched "events after the deletion" "$out/get-events-after-delete"
"$K" delete secret app pull >/dev/null 2>&1
stop_server
searched "the store (state.redb: Secrets hold base64 only)" "$root/state.redb"
# The store's pages may still hold the deleted Secrets' base64 data, as
# etcd's do: plain values only there.
files=()
while IFS= read -r -d '' f; do files+=("$f"); done < <(find "$root" "$run" -xdev -type f -not -path "$root/state.redb" -print0 2>/dev/null)
B64=1 searched "state files after deletion" "${files[@]}"
grep -q 'DEBUG' "$tmp/server.log" && good "the agent logged at debug" || bad "no DEBUG line in the agent's output"
B64=1 searched "the agent's stdout/stderr at debug" "$tmp/server.log"
[[ -s "$tmp/audit.log" ]] && good "the audit log has entries" || bad "the audit log is empty"
B64=1 searched "the audit log" "$tmp/audit.log"

# --- 6 ---------------------------------------------------------------------------
section 6 "modes: state dir 0700; store, state files, kubeconfig, audit log 0600"
mode() { stat -c %a "$1"; }
[[ $(mode "$root") == 700 ]] && good "$root is 0700" || bad "$root is $(mode "$root")"
for f in "$root/state.redb" "$root/kubeconfig" "$tmp/audit.log"; do
    [[ $(mode "$f") == 600 ]] && good "$(basename "$f") is 0600" || bad "$f is $(mode "$f")"
done
loose=$(loose_files)
[[ -z "$loose" ]] && good "no state file readable by group or others" || bad "state files with group/other bits" "$(ls -l $loose)"

summary 1 2 3 4 5 6
