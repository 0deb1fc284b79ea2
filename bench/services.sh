#!/usr/bin/env bash
# Services benchmark (figures, not a test):
#  1. readiness change -> data plane updated, 100 services (real nftables,
#     engine over the fake runtime), libnftables vs `nft -f -`; in this
#     host's network namespace and in a private one (nodelet's table alone);
#  2. DNS queries/s and p99 from inside a pod's network namespace against
#     the cluster DNS (a cluster name), vs the host resolver (the same tool);
#  3. throughput of downloads from the host through a cluster IP vs the
#     pod IP directly (THROUGHPUT_RUNS, 15, interleaved runs each, which
#     path goes first alternating; a run is THROUGHPUT_REPEAT, 5, downloads
#     of a 200 MB file over one connection): the median of the per-run
#     ratios and the ratio of all runs' bytes over their time.
# PARTS=dataplane,dns,throughput (the default) picks the parts to run.
# Release build (BENCH_PROFILE=debug reuses the test build); root; takes
# the shared real-test lock itself (it programs nftables and runs pods).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO"
N=${SERVICES:-100}
PROFILE=${BENCH_PROFILE:-release}
case $PROFILE in
    release) FLAG=--release; BIN=$REPO/target/release ;;
    debug) FLAG=; BIN=$REPO/target/debug ;;
    *) echo "BENCH_PROFILE must be release or debug, not $PROFILE" >&2; exit 2 ;;
esac
cargo build $FLAG -p nodelet -p nodelet-monitor >&2
cargo build $FLAG -p nodelet-services --example bench_dataplane --example bench_dns >&2
if [ -z "${NODELET_BENCH_LOCKED:-}" ]; then
    NODELET_BENCH_LOCKED=1 exec flock /tmp/nodelet-real-tests.lock "$0" "$@"
fi
echo "== profile $PROFILE"
# PARTS=throughput (or dataplane, dns; comma-separated) runs only those.
PARTS=${PARTS:-dataplane,dns,throughput}
part() { case ",$PARTS," in *",$1,"*) return 0 ;; esac; return 1; }
if part dataplane; then
echo "== readiness change -> data plane ($N services), this host's network namespace"
"$BIN/examples/bench_dataplane" "$N" 400
# The same in a private network namespace, where nodelet's table is the
# only ruleset: libnftables refreshes its cache of the whole namespace's
# ruleset on every transaction, so other tables (other agents' or
# iptables-nft's) make each update slower; the two runs side by side say
# how much of the figure is this host's ruleset.
echo "== the same in a private network namespace ($(nft list chains 2>/dev/null | grep -c chain) chains in this host's)"
unshare -n sh -c 'ip link set lo up && exec "$0" "$@"' "$BIN/examples/bench_dataplane" "$N" 400
fi

IMAGES=${NODELET_TEST_IMAGES:-$REPO/target/test-images}
[ -f "$IMAGES/busybox.tar" ] || bash scripts/build-test-images.sh "$IMAGES" >&2
tmp=$(mktemp -d)
export NODELET_ROOT=$tmp/root NODELET_RUN_ROOT=$tmp/run NODELET_CNI_SUBNET=10.253.9.0/24 \
       NODELET_CNI_BRIDGE=nlbench9 NODELET_SERVICE_CIDR=10.130.0.0/16
serve_pid=
cleanup() {
    [ -n "$serve_pid" ] && kill "$serve_pid" 2>/dev/null && wait "$serve_pid" 2>/dev/null
    "$BIN/nodelet" serve --drain --listen 127.0.0.1:0 >/dev/null 2>&1 & p=$!; sleep 3; kill $p; wait $p 2>/dev/null || true
    ip link del nlbench9 2>/dev/null || true
    nft delete table ip nodelet-nlbench9 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
"$BIN/nodelet" image load -i "$IMAGES/busybox.tar" >/dev/null
"$BIN/nodelet" serve --listen 127.0.0.1:0 >"$tmp/serve.log" 2>&1 & serve_pid=$!
for _ in $(seq 100); do [ -f "$tmp/root/kubeconfig" ] && break; sleep 0.2; done
export KUBECONFIG=$tmp/root/kubeconfig
cat > "$tmp/objs.yaml" <<'Y'
apiVersion: v1
kind: Service
metadata: {name: big}
spec:
  selector: {app: big}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Pod
metadata: {name: big, labels: {app: big}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: nodelet.local/busybox
    command: [sh, -c, "mkdir -p /www && dd if=/dev/zero of=/www/big bs=1048576 count=200 2>/dev/null && exec httpd -f -p 8080 -h /www"]
    readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: 1}
Y
for _ in $(seq 50); do kubectl get ns >/dev/null 2>&1 && break; sleep 0.2; done
kubectl apply -f "$tmp/objs.yaml" >/dev/null
kubectl wait --for=condition=Ready pod/big --timeout=120s >/dev/null
cip=$(kubectl get svc big -o jsonpath='{.spec.clusterIP}')
pip=$(kubectl get pod big -o jsonpath='{.status.podIP}')

if part dns; then
echo "== DNS from inside the pod's network namespace"
# The pod's only container's network namespace (its pin is in the agent's
# own mount namespace, not on the host's paths).
cpid=$(runc --root "$tmp/run/runc" list -f json | python3 -c 'import json,sys; print(next(c["pid"] for c in json.load(sys.stdin) if c.get("pid")))')
nsenter --net="/proc/$cpid/ns/net" "$BIN/examples/bench_dns" 10.130.0.10 big.default.svc.cluster.local. 20000 8
host_ns=$(awk '/^nameserver/ {print $2; exit}' /etc/resolv.conf)
host_name=${HOST_DNS_NAME:-$(hostname -f 2>/dev/null || hostname).}
echo "-- host resolver $host_ns ($host_name), same tool:"
"$BIN/examples/bench_dns" "$host_ns" "$host_name" 2000 8 || true
fi

part throughput || exit 0
RUNS=${THROUGHPUT_RUNS:-15}
REPEAT=${THROUGHPUT_REPEAT:-5}
echo "== throughput from the host: cluster IP $cip vs pod IP $pip ($REPEAT x 200 MB over one connection per sample, $RUNS interleaved runs each)"
# One sample: REPEAT downloads of the file by one curl (one connection),
# bytes over seconds summed; a 200 MB download alone lasts ~0.1 s, where
# this VM's noise was ±15 % between runs.
rate() {
    local urls=() i
    for i in $(seq "$REPEAT"); do urls+=(-o /dev/null "$1"); done
    curl -s -w '%{size_download} %{time_total}\n' "${urls[@]}" |
        awk '{b += $1; t += $2} END {printf "%.0f %.6f\n", b, t}'
}
ratios=() vb=0 vt=0 db=0 dt=0
for i in $(seq "$RUNS"); do
    # Alternate which goes first, so neither path always follows the other.
    if ((i % 2)); then
        read -r b1 t1 < <(rate "http://$cip/big")
        read -r b2 t2 < <(rate "http://$pip:8080/big")
    else
        read -r b2 t2 < <(rate "http://$pip:8080/big")
        read -r b1 t1 < <(rate "http://$cip/big")
    fi
    read -r via direct r < <(awk -v b1="$b1" -v t1="$t1" -v b2="$b2" -v t2="$t2" \
        'BEGIN {v = b1 / t1; d = b2 / t2; printf "%.0f %.0f %.3f\n", v / 1048576, d / 1048576, v / d}')
    ratios+=("$r")
    vb=$((vb + b1)) db=$((db + b2))
    vt=$(awk -v a="$vt" -v b="$t1" 'BEGIN {print a + b}') dt=$(awk -v a="$dt" -v b="$t2" 'BEGIN {print a + b}')
    printf 'run %d: cluster IP %s MB/s, pod IP %s MB/s, ratio %s\n' "$i" "$via" "$direct" "$r"
done
printf '%s\n' "${ratios[@]}" | sort -n | awk '{a[NR]=$1} END {print "median ratio (cluster IP / pod IP):", a[int((NR+1)/2)]}'
awk -v vb="$vb" -v vt="$vt" -v db="$db" -v dt="$dt" \
    'BEGIN {printf "all runs together: cluster IP %.0f MB/s, pod IP %.0f MB/s, ratio %.3f\n", vb / vt / 1048576, db / dt / 1048576, (vb / vt) / (db / dt)}'
