#!/bin/sh
# Runtime-layer overhead of nodelet vs the bare OCI runtime (needs root,
# runc, busybox-static, containernetworking-plugins, hyperfine).
#   (a) create+start+wait of a `true` container via OciRuntime vs `runc run`
#       of the same bundle (same pod namespaces, same rootfs);
#   (b) exec `true` via OciRuntime vs `runc exec`.
# Both are timed in-process by the bench_run example (one OciRuntime, N
# sequential ops, means and medians after 2 warm-ups, plus the median of
# per-iteration ratios, which cancels most of the load swings of a shared
# host; bare `runc create` / `runc start` of the same bundle per phase).
# hyperfine adds a reference on a minimal standalone bundle: `runc run` vs
# `runc create && start && delete` (the split any CRI runtime needs for
# created/started states).
# nodelet's create+start is the engine's create_and_start_container: one
# `runc run --detach` in the monitor (the split create_container +
# start_container path, a separate `runc start` process, is printed too).
# Measured (2 cores, N=25), quiet host (load < 1), 3 runs: median
# 51.5-53.2 ms vs runc run 43.5-45.3 ms = 1.18-1.19x, paired 1.12-1.31x
# (split path in the same runs 1.32-1.40x, paired 1.36-1.41x).
# At load 3-4 with a full CI running: paired
# create+start+wait / runc run 0.96-1.57x over 6 runs, run median 1.15x
# (split path in the same runs 1.25-1.64x, run median 1.42x; on a quiet
# host the split path measured 1.40-1.43x: 72 vs 50.5 ms).
# Before, split path only: median create+start+wait / runc run 1.12-1.39x
# over 6 runs at load 7-10 (paired 1.03-1.30x; 1.55-1.97x before the
# monitor stopped taking a session of its own, i.e. a new scheduling
# autogroup, and stopped fsyncing the exit file); 1.29-1.49x at load 2-5
# (before 1.43-1.55x), where ~10 ms of fixed cost weighs more against a
# 43-67 ms runc run. exec 0.95-1.1x. Per-phase timelines: perf record -a
# -e sched:sched_process_exec,sched:sched_process_fork,sched:sched_process_exit.
# Usage: bench/runtime.sh [N]   (target: ratios <= 1.3x)
set -eu
N="${1:-30}"
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
# Release builds: the agent and its monitor ship optimised, and debug
# builds add several ms of our own CPU time per operation.
cargo build -q --release -p nodelet-monitor
cargo build -q --release -p nodelet-runtime --example bench_run
echo "== nodelet runtime layer vs runc (in-process, release, N=$N) =="
NODELET_MONITOR="$CARGO_TARGET_DIR/release/nodelet-monitor" \
  "$CARGO_TARGET_DIR/release/examples/bench_run" "$N"

echo "== hyperfine reference: minimal standalone bundle, runc run vs the create/start/delete split the CRI lifecycle needs =="
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/b/rootfs/bin"
cp /bin/busybox "$tmp/b/rootfs/bin/"
ln -s busybox "$tmp/b/rootfs/bin/true"
(cd "$tmp/b" && runc spec)
sed -i 's/"terminal": true/"terminal": false/; s/"sh"$/"true"/' "$tmp/b/config.json"
# crun where the host lets it run (it refuses hybrid cgroups with hugetlb
# on cgroup2): say why when it does not.
set -- "runc --root $tmp/r run --bundle $tmp/b hf-bench-$$"
if command -v crun >/dev/null 2>&1; then
  if err=$(crun --root "$tmp/cr" run --bundle "$tmp/b" hf-crun-probe-$$ 2>&1 >/dev/null); then
    set -- "$@" "crun --root $tmp/cr run --bundle $tmp/b hf-crun-$$"
  else
    echo "crun run: not measured on this host: $err"
    crun --root "$tmp/cr" delete --force hf-crun-probe-$$ >/dev/null 2>&1 || true
  fi
else
  echo "crun run: not measured: crun not installed (Debian package crun)"
fi
hyperfine -N --warmup 3 --runs "$N" "$@" \
  "sh -c 'runc --root $tmp/r create --bundle $tmp/b hf-split-$$ && runc --root $tmp/r start hf-split-$$ && runc --root $tmp/r delete --force hf-split-$$'"

echo "== hyperfine breakdown of the split: runc create alone, runc start alone (the other steps in --prepare, untimed) =="
R="runc --root $tmp/r"
hyperfine -N --warmup 3 --runs "$N" \
  --prepare "sh -c '$R delete --force hf-c-$$ 2>/dev/null || true'" "$R create --bundle $tmp/b hf-c-$$"
hyperfine -N --warmup 3 --runs "$N" \
  --prepare "sh -c '$R delete --force hf-s-$$ 2>/dev/null; $R create --bundle $tmp/b hf-s-$$'" "$R start hf-s-$$"
$R delete --force hf-c-$$ 2>/dev/null || true
$R delete --force hf-s-$$ 2>/dev/null || true
