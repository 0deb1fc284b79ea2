#!/usr/bin/env bash
# The main job: installs what is needed, builds nodelet, and runs the
# lifecycle demo (examples/lifecycle-events.yaml, the seed tutorial's pod).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo build --release -p nodelet --bins
NODELET=target/release/nodelet

echo "== nodelet validate -f examples/lifecycle-events.yaml"
"$NODELET" validate -f examples/lifecycle-events.yaml
