#!/usr/bin/env bash
# Fuzz the manifest loader for N seconds (default 30).
# Usage: fuzz/run.sh [seconds]
# Installs cargo-fuzz if missing. cargo-fuzz needs nightly compiler flags;
# RUSTC_BOOTSTRAP=1 enables them on the stable toolchain installed here.
# Exits non-zero if libFuzzer finds a crash (the input is left in
# fuzz/artifacts/load_manifest/).
set -euo pipefail

seconds="${1:-30}"
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz" >&2
    cargo install --locked cargo-fuzz
fi

export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$here/target}"

# Seed the corpus with the test manifests so the fuzzer starts from real
# Kubernetes objects instead of random bytes.
mkdir -p corpus/load_manifest
for f in ../crates/nodelet-spec/tests/corpus/*/*; do
    cp -f "$f" "corpus/load_manifest/seed-$(basename "$f")"
done

cargo fuzz build -O load_manifest
cargo fuzz run -O load_manifest corpus/load_manifest -- \
    -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048
