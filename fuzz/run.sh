#!/usr/bin/env bash
# Fuzz nodelet's untrusted-input parsers with cargo fuzz (libFuzzer).
# Usage:
#   fuzz/run.sh [SECONDS] [TARGET...]   each TARGET for SECONDS (default 30;
#                                       no TARGET: every target)
#   fuzz/run.sh --all [SECONDS]         every target (e.g. --all 600 for a
#                                       long run outside CI)
#   fuzz/run.sh --list                  the target names
# All targets are built once, then run one after the other, each starting
# from its seed corpus (fuzz/seeds/<target>/, kept in the repo) plus what
# earlier runs found (fuzz/corpus/<target>/, not kept).
# Installs cargo-fuzz if missing. cargo-fuzz needs nightly compiler flags;
# RUSTC_BOOTSTRAP=1 enables them on the stable toolchain installed here.
# Exits non-zero if libFuzzer finds a crash (the input is left in
# fuzz/artifacts/<target>/; reproduce with
# `cargo fuzz run -O <target> fuzz/artifacts/<target>/<file>`).
set -euo pipefail

TARGETS=(load_manifest unpack_layer cri_log api_body stream_framing registry_manifest)

if [[ "${1:-}" == "--list" ]]; then
    printf '%s\n' "${TARGETS[@]}"
    exit 0
fi
if [[ "${1:-}" == "--all" ]]; then
    shift
    seconds="${1:-600}"
    selected=("${TARGETS[@]}")
else
    seconds="${1:-30}"
    shift || true
    selected=("$@")
    [[ ${#selected[@]} -gt 0 ]] || selected=("${TARGETS[@]}")
fi
for t in "${selected[@]}"; do
    if [[ ! " ${TARGETS[*]} " == *" $t "* ]]; then
        echo "fuzz/run.sh: unknown target $t (known: ${TARGETS[*]})" >&2
        exit 2
    fi
done

here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz" >&2
    cargo install --locked cargo-fuzz
fi

export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$here/target}"

# The manifest loader also starts from the spec crate's test manifests.
mkdir -p corpus/load_manifest
for f in ../crates/nodelet-spec/tests/corpus/*/*; do
    cp -f "$f" "corpus/load_manifest/seed-$(basename "$f")"
done

# One build of every target (cargo fuzz build builds all bins at once).
cargo fuzz build -O

for t in "${selected[@]}"; do
    mkdir -p "corpus/$t"
    seeds=()
    [[ -d "seeds/$t" ]] && seeds=("seeds/$t")
    echo "fuzz: $t for ${seconds}s" >&2
    # The first corpus directory receives new inputs; the seeds are read only.
    log="$CARGO_TARGET_DIR/fuzz-$t.log"
    if ! cargo fuzz run -O "$t" "corpus/$t" "${seeds[@]}" -- \
        -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 >"$log" 2>&1; then
        tail -n 60 "$log" >&2
        echo "fuzz: $t found a crash (input in fuzz/artifacts/$t/)" >&2
        exit 1
    fi
    grep -E '^stat::(number_of_executed_units|peak_rss_mb)' "$log" | tr '\n' ' ' >&2
    echo >&2
done
