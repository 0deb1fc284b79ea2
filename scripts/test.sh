#!/usr/bin/env bash
# Runs every test of nodelet: formatting, lints, unit and integration tests
# (real containers: needs root, runc, CNI plugins — installed here), the
# node-mode test against the real Kubernetes control plane (built from Go
# modules), Kubernetes' own e2e suite (its default focus, scripts/
# conformance.sh) against that control plane with nodelet as the node, the
# fuzz targets' build and a short run of each. Set
# NODELET_SKIP_REAL=1 to skip the real-container tests explicitly (they fail
# loudly otherwise when the host cannot run them).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export CARGO_TERM_COLOR=never
# A suite run builds everything once: incremental state (gigabytes under
# target/debug/incremental) would only be reused by a second run of the
# same tree, and CI's disk is shared with the Go build cache and the tests'
# own agents.
export CARGO_INCREMENTAL=0
# Each phase starts with the seconds elapsed so far and the disk left where
# the build writes: CI's time and space budgets can be read from its log.
phase() { echo "== [${SECONDS}s, $(df -h --output=avail . | tail -1 | tr -d ' ') free] $*"; }

# The node-mode test needs the Go control plane (kube-apiserver, etcd, ...),
# the e2e phase the suite (e2e.test, ginkgo) and its images' programs
# (agnhost, pause, busybox). Cold, that is ~25 minutes of CPU: it starts now at idle priority and
# uses what the Rust phases leave (the real-container tests mostly wait),
# cached in /var/cache/nodelet so a warm run finds it in seconds. It gets
# a process group of its own (set -m), so an early exit stops the whole
# build, but stays in this session: with the kernel's autogroup scheduling
# a new session (setsid) would compete as an equal, whatever its nice.
gobuild_log=$(mktemp /tmp/nodelet-go-build.XXXXXX)
gobuild=""
if [[ -z "${NODELET_SKIP_REAL:-}" ]] && command -v go >/dev/null; then
    set -m
    nice -n 19 bash -c 'scripts/go-build.sh control-plane && scripts/go-build.sh all && scripts/build-busybox.sh' >"$gobuild_log" 2>&1 &
    gobuild=$!
    set +m
fi
cluster_up=""
trap '[[ -n $gobuild ]] && kill -- "-$gobuild" 2>/dev/null; rm -f "$gobuild_log"
      [[ -n $cluster_up ]] && NODELET_BIN=target/debug/nodelet bash scripts/cluster.sh down >/dev/null 2>&1' EXIT

phase "cargo fmt --check"
cargo fmt --all -- --check

phase "cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings

phase "cargo test (node mode follows on its own)"
node_test=nodelet_as_the_node_of_a_real_cluster
cargo test --workspace --no-fail-fast -- --skip "$node_test"

phase "node mode: nodelet as the node of a real control plane"
if [[ -n $gobuild ]]; then
    wait "$gobuild" || { cat "$gobuild_log" >&2; echo "building the Go control plane failed" >&2; exit 1; }
    gobuild=""
fi
cargo test -p nodelet --test node_real -- --exact "$node_test"

phase "upstream e2e suite (default focus) against nodelet as the node"
if [[ -z "${NODELET_SKIP_REAL:-}" ]]; then
    # The debug build the tests used (the suite mostly waits on its specs'
    # own timers); 8 processes, as most of the suite's time is sleeps.
    cluster_up=1
    NODELET_BIN=target/debug/nodelet E2E_PROCS=${E2E_PROCS:-8} bash scripts/conformance.sh
    NODELET_BIN=target/debug/nodelet bash scripts/cluster.sh down
    cluster_up=""
else
    echo "skipped (NODELET_SKIP_REAL=1)"
fi

phase "test images: reproducible, accepted by skopeo/umoci, runnable"
bash scripts/test-build-test-images.sh

phase "fuzz: build every target, then a short run of each ($(bash fuzz/run.sh --list | tr '\n' ' '))"
# Six targets at 12 s each: the whole run stays under 2 minutes once built.
# A long run: fuzz/run.sh --all 600.
bash fuzz/run.sh "${NODELET_FUZZ_SECONDS:-12}"
phase "done"
