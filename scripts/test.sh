#!/usr/bin/env bash
# Runs every test of nodelet: formatting, lints, unit and integration tests
# (real containers: needs root, runc, CNI plugins — installed here), the
# fuzz target's build and a short fuzz run. Set NODELET_SKIP_REAL=1 to skip
# the real-container tests explicitly (they fail loudly otherwise when the
# host cannot run them).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export CARGO_TERM_COLOR=never
# Each phase starts with the seconds elapsed so far: CI's time budget can
# be read from its log.
phase() { echo "== [${SECONDS}s] $*"; }

phase "cargo fmt --check"
cargo fmt --all -- --check

phase "cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings

phase "cargo test"
cargo test --workspace --no-fail-fast

phase "test images: reproducible, accepted by skopeo/umoci, runnable"
bash scripts/test-build-test-images.sh

phase "fuzz: build and a short run of the manifest loader"
bash fuzz/run.sh "${NODELET_FUZZ_SECONDS:-20}"
phase "done"
