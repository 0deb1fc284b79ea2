#!/bin/sh
# Lifecycle engine benchmark on real containers (needs root, runc,
# busybox-static, containernetworking-plugins, podman). In one run, prints:
#   manifest → all containers Running (postStart `exec true`), 1 and 50 pods,
#     nodelet's engine vs `runc run -d` + `runc exec true` of the same bundles
#     vs `podman kube play` of the same manifest (podman ignores hooks);
#   container exit → Terminated in the published status (target < 20 ms);
#   delete of a SIGTERM-handling pod → gone, vs `podman kube down`;
#   50 and MAX_PODS pods with `preStop sleep 3` deleted at once (target ≤ 4 s),
#     with where the time went (Killing, Terminated, gone per pod), when the
#     background teardown released every container/sandbox, and the store's
#     writes vs durable commits (group commit).
# Usage: bench/lifecycle.sh [MAX_PODS] [--mass-only]   (default 200; the flag
#   runs only the mass deletion)
set -eu
MAX="${1:-200}"
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
mkdir -p "$CARGO_TARGET_DIR"
IMAGES="$CARGO_TARGET_DIR/test-images"
# Same lock as the real-container tests' harness, so they build it once.
flock "$CARGO_TARGET_DIR/test-images.lock" sh -c "
  [ -f '$IMAGES/busybox.tar' ] && [ -f '$IMAGES/testbin.tar' ] ||
    scripts/build-test-images.sh '$IMAGES' >&2"
# Release, as the agent ships (debug adds our own CPU time per operation).
cargo build -q --release -p nodelet-monitor
cargo build -q --release -p nodelet-engine --example bench_lifecycle

# podman: the same image, and limits this host allows (the hard RLIMIT_NOFILE
# is fixed here and podman's defaults exceed it; its runc is the same binary).
conf=$(mktemp)
trap 'rm -f "$conf"' EXIT
printf '[containers]\ndefault_ulimits = ["nofile=%s:%s", "nproc=1000:1000"]\n[engine]\nruntime = "runc"\n' \
  "$(ulimit -Hn)" "$(ulimit -Hn)" > "$conf"
export CONTAINERS_CONF="$conf"
podman load -q -i "$IMAGES/testbin.tar" >/dev/null
echo "podman $(podman version --format '{{.Client.Version}}'), runc $(runc --version | head -1 | cut -d' ' -f3), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"

NODELET_TEST_IMAGES="$IMAGES" NODELET_MONITOR="$CARGO_TARGET_DIR/release/nodelet-monitor" \
  "$CARGO_TARGET_DIR/release/examples/bench_lifecycle" "$MAX" ${2:+"$2"}
