#!/bin/sh
# Runtime-layer overhead of nodelet vs the bare OCI runtime (needs root,
# runc, busybox-static, containernetworking-plugins, hyperfine).
#   (a) create+start+wait of a `true` container via OciRuntime vs `runc run`
#       of the same bundle (same pod namespaces, same rootfs);
#   (b) exec `true` via OciRuntime vs `runc exec`.
# Both are timed in-process by the bench_run example (one OciRuntime, N
# sequential ops, means after 2 warm-ups). hyperfine adds a reference on a
# minimal standalone bundle: `runc run` vs `runc create && start && delete`
# (the split any CRI runtime needs for created/started states).
# Usage: bench/runtime.sh [N]   (target: ratios <= 1.3x)
set -eu
N="${1:-30}"
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
cargo build -q -p nodelet-monitor
cargo build -q -p nodelet-runtime --example bench_run
echo "== nodelet runtime layer vs runc (in-process, N=$N) =="
"$CARGO_TARGET_DIR/debug/examples/bench_run" "$N"

echo "== hyperfine reference: minimal standalone bundle, runc run vs the create/start/delete split the CRI lifecycle needs =="
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/b/rootfs/bin"
cp /bin/busybox "$tmp/b/rootfs/bin/"
ln -s busybox "$tmp/b/rootfs/bin/true"
(cd "$tmp/b" && runc spec)
sed -i 's/"terminal": true/"terminal": false/; s/"sh"$/"true"/' "$tmp/b/config.json"
hyperfine -N --warmup 3 --runs "$N" \
  "runc --root $tmp/r run --bundle $tmp/b hf-bench-$$" \
  "sh -c 'runc --root $tmp/r create --bundle $tmp/b hf-split-$$ && runc --root $tmp/r start hf-split-$$ && runc --root $tmp/r delete --force hf-split-$$'"
