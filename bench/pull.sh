#!/usr/bin/env bash
# Registry pull speed (issue 9): a multi-layer image (6 gzip layers of
# incompressible data, 8 MiB each, plus the nginx image from Debian's
# packages when it is cached) served by Debian's docker-registry on
# 127.0.0.1 over plain HTTP, pulled into an empty store each round by
#   nodelet image pull   (release; docker.io-style hosts.toml http endpoint)
#   skopeo copy          (to an empty OCI layout: download + verify only)
#   skopeo copy + umoci unpack (the same, then the layers unpacked into a
#                        rootfs: download + verify + decompress + unpack)
#   podman pull          (to an empty --root: download + unpack, as nodelet)
# in the same run, alternating, N rounds; prints medians and ratios
# (target: nodelet <= 1.0x skopeo).
# Like with like: `nodelet image pull` ends with the image runnable — every
# layer decompressed, its diff_id checked and unpacked into the directory
# overlayfs uses — and durable (synced). `skopeo copy` to an OCI layout
# only downloads and hashes the compressed blobs (no decompression, no
# unpack, no sync), so it is a lower bound, not a peer. The fair peers are
# `podman pull` (download + decompress + unpack into containers-storage's
# overlay layers, its own metadata) and `skopeo copy` + `umoci unpack`
# (the same two steps, in sequence). With the bench's incompressible
# multi-layer image the unpack is one large file per layer, so the pull is
# bound by download + hashing and the skopeo ratio is meaningful; with
# nginx (thousands of files) the unpack dominates and only the peers are. The second pod of an image already
# present makes no registry request at all with IfNotPresent (proved by the
# registry access log in crates/nodelet-runtime/tests/registry_pull.rs,
# if_not_present_does_not_fetch_again...); its time here is `nodelet image
# inspect`'s, the store lookup the engine does.
# Usage: bench/pull.sh [N]   (root; docker-registry, skopeo, podman)
# NODELET=path/to/nodelet bench/pull.sh: time that binary instead of a
# fresh release build (to compare two builds).
set -euo pipefail
N=${1:-5}
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
for t in docker-registry skopeo umoci podman python3; do
  command -v "$t" >/dev/null || { echo "bench/pull.sh: $t missing (scripts/setup.sh)" >&2; exit 1; }
done
if [[ -n ${NODELET:-} ]]; then
  echo "bench/pull.sh: using NODELET=$NODELET (not built)" >&2
else
  cargo build -q --release -p nodelet
  NODELET=$CARGO_TARGET_DIR/release/nodelet
fi

tmp=$(mktemp -d /tmp/nodelet-bench-pull.XXXXXX)
reg=""
trap '[[ -n $reg ]] && kill "$reg" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT

# --- the image: an OCI layout with 6 layers -----------------------------------
python3 - "$tmp/layout" <<'PY'
import gzip, hashlib, io, json, os, sys, tarfile
d = sys.argv[1]; b = os.path.join(d, "blobs", "sha256"); os.makedirs(b)
def blob(data):
    h = hashlib.sha256(data).hexdigest(); open(os.path.join(b, h), "wb").write(data); return "sha256:" + h
layers, diffs = [], []
for i in range(6):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as t:
        data = os.urandom(8 << 20); ti = tarfile.TarInfo(f"data{i}"); ti.size = len(data)
        t.addfile(ti, io.BytesIO(data))
    raw = raw.getvalue(); diffs.append("sha256:" + hashlib.sha256(raw).hexdigest())
    gz = gzip.compress(raw, 1, mtime=0)
    layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": blob(gz), "size": len(gz)})
cfg = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
                  "rootfs": {"type": "layers", "diff_ids": diffs}}).encode()
m = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": blob(cfg), "size": len(cfg)},
                "layers": layers}).encode()
json.dump({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
          "digest": blob(m), "size": len(m), "annotations": {"org.opencontainers.image.ref.name": "latest"}}]},
          open(os.path.join(d, "index.json"), "w"))
open(os.path.join(d, "oci-layout"), "w").write('{"imageLayoutVersion":"1.0.0"}')
PY

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
addr=127.0.0.1:$port
printf 'version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: %s\n' \
  "$tmp/data" "$addr" >"$tmp/registry.yml"
docker-registry serve "$tmp/registry.yml" >"$tmp/registry.log" 2>&1 &
reg=$!
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
skopeo copy --quiet --dest-tls-verify=false "oci:$tmp/layout:latest" "docker://$addr/bench/multi:latest"
images=("$addr/bench/multi:latest")
nginx=$(ls /var/cache/nodelet/images/nginx-*.tar 2>/dev/null | head -1 || true)
if [[ -n $nginx ]]; then
  skopeo copy --quiet --dest-tls-verify=false "oci-archive:$nginx" "docker://$addr/library/nginx:latest"
  images+=("$addr/library/nginx:latest")
fi
mkdir -p "$tmp/certs.d/$addr"
printf 'server = "http://%s"\n' "$addr" >"$tmp/certs.d/$addr/hosts.toml"

now() { date +%s.%N; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
for image in "${images[@]}"; do
  : >"$tmp/n"; : >"$tmp/s"; : >"$tmp/p"; : >"$tmp/i"; : >"$tmp/u"
  for _ in $(seq "$N"); do
    rm -rf "$tmp/root" "$tmp/oci" "$tmp/podman" "$tmp/bundle"
    t=$(now); "$NODELET" image pull --root "$tmp/root" --registry-config-dir "$tmp/certs.d" "$image" >/dev/null
    echo "$(now) - $t" | bc >>"$tmp/n"
    t=$(now); "$NODELET" image inspect --root "$tmp/root" "$image" >/dev/null
    echo "$(now) - $t" | bc >>"$tmp/i"
    t=$(now); skopeo copy --quiet --src-tls-verify=false "docker://$image" "oci:$tmp/oci:x"
    s_end=$(now); echo "$s_end - $t" | bc >>"$tmp/s"
    umoci unpack --image "$tmp/oci:x" "$tmp/bundle" >/dev/null
    echo "$(now) - $t" | bc >>"$tmp/u"
    t=$(now); podman --root "$tmp/podman/root" --runroot "$tmp/podman/run" --storage-driver overlay \
      pull --quiet --tls-verify=false "$image" >/dev/null
    echo "$(now) - $t" | bc >>"$tmp/p"
    podman --root "$tmp/podman/root" --runroot "$tmp/podman/run" --storage-driver overlay system reset -f >/dev/null 2>&1 || true
  done
  n=$(median <"$tmp/n"); s=$(median <"$tmp/s"); p=$(median <"$tmp/p"); i=$(median <"$tmp/i")
  u=$(median <"$tmp/u")
  size=$(skopeo inspect --raw --tls-verify=false "docker://$image" | python3 -c 'import json,sys; print(sum(l["size"] for l in json.load(sys.stdin)["layers"]))')
  printf '== %s (%s MB compressed, N=%s, load %s)\n' "$image" "$((size / 1000000))" "$N" "$(cut -d' ' -f1 /proc/loadavg)"
  printf '  nodelet image pull %6.2fs   skopeo copy %6.2fs   skopeo copy + umoci unpack %6.2fs   podman pull %6.2fs\n' \
    "$n" "$s" "$u" "$p"
  printf '  nodelet / skopeo %.2fx (target <= 1.0x)   nodelet / (skopeo + umoci) %.2fx   nodelet / podman %.2fx\n' \
    "$(echo "$n / $s" | bc -l)" "$(echo "$n / $u" | bc -l)" "$(echo "$n / $p" | bc -l)"
  printf '  already present (store lookup, no registry request): %.3fs\n' "$i"
done
