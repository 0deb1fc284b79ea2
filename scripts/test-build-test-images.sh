#!/usr/bin/env bash
# Checks scripts/build-test-images.sh: two runs give byte-identical tarballs,
# skopeo and umoci accept the layouts, and (as root with runc, unless
# NODELET_SKIP_REAL=1) the unpacked images actually run.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

for tool in skopeo umoci python3; do
  command -v "$tool" >/dev/null || fail "$tool is required"
done

"$HERE/build-test-images.sh" "$T/a" >/dev/null
"$HERE/build-test-images.sh" "$T/b" >/dev/null
for img in busybox testbin; do
  cmp "$T/a/$img.tar" "$T/b/$img.tar" || fail "$img.tar differs between two builds"
done
echo "ok: reproducible ($(sha256sum "$T/a/busybox.tar" "$T/a/testbin.tar" | cut -c1-16 | tr '\n' ' '))"

check_layout() { # TAR REF LAYERS
  local tar=$1 ref=$2 layers=$3 dir="$T/layout-$(basename "$1" .tar)"
  skopeo inspect "oci-archive:$tar" > "$T/inspect.json" || fail "skopeo inspect $tar"
  python3 - "$T/inspect.json" "$layers" <<'PY' || fail "skopeo view of $tar"
import json, sys
d = json.load(open(sys.argv[1]))
assert len(d["Layers"]) == int(sys.argv[2]), d["Layers"]
assert d["Created"].startswith("1970-01-01"), d["Created"]
PY
  skopeo inspect --config "oci-archive:$tar" > "$T/config.json" || fail "skopeo inspect --config $tar"
  mkdir -p "$dir" && tar -C "$dir" -xf "$tar"
  umoci ls --layout "$dir" | grep -qxF "$ref" || fail "$ref not listed by umoci"
  # diff_ids must be the digests of the uncompressed layers.
  python3 - "$dir" <<'PY' || fail "diff_ids of $tar"
import gzip, hashlib, json, sys
d = sys.argv[1]
blob = lambda dg: open(f"{d}/blobs/sha256/{dg.split(':')[1]}", "rb").read()
idx = json.load(open(f"{d}/index.json"))
m = json.loads(blob(idx["manifests"][0]["digest"]))
cfg = json.loads(blob(m["config"]["digest"]))
for layer, diff in zip(m["layers"], cfg["rootfs"]["diff_ids"], strict=True):
    raw = blob(layer["digest"])
    assert "sha256:" + hashlib.sha256(raw).hexdigest() == layer["digest"]
    assert len(raw) == layer["size"]
    assert "sha256:" + hashlib.sha256(gzip.decompress(raw)).hexdigest() == diff, diff
PY
}
check_layout "$T/a/busybox.tar" nodelet.local/busybox:latest 1
check_layout "$T/a/testbin.tar" nodelet.local/testbin:latest 2
python3 - "$T/config.json" <<'PY' || fail "testbin image config"
import json, sys
c = json.load(open(sys.argv[1]))["config"]
assert c["Entrypoint"] == ["/testbin"] and c["Cmd"] == ["pause"], c
assert set(c["ExposedPorts"]) == {"8080/tcp", "8443/tcp"} and c["StopSignal"] == "SIGTERM", c
PY
echo "ok: skopeo and umoci accept both layouts, diff_ids match"

if [ "${NODELET_SKIP_REAL:-}" = 1 ]; then
  echo "skipped: running the images (NODELET_SKIP_REAL=1)"; exit 0
fi
[ "$(id -u)" = 0 ] || fail "running the images needs root (set NODELET_SKIP_REAL=1 to skip)"
command -v runc >/dev/null || fail "running the images needs runc (set NODELET_SKIP_REAL=1 to skip)"
run_image() { # NAME REF EXPECTED ARGS...
  local name=$1 ref=$2 want=$3; shift 3
  local bundle="$T/bundle-$name"
  umoci unpack --image "$T/layout-$name:$ref" "$bundle" >/dev/null 2>&1 || fail "umoci unpack $ref"
  python3 - "$bundle/config.json" "$@" <<'PY'
import json, sys
p = sys.argv[1]; c = json.load(open(p))
c["process"]["terminal"] = False; c["process"]["args"] = sys.argv[2:]
json.dump(c, open(p, "w"))
PY
  local got
  got=$(runc --root "$T/runc" run --bundle "$bundle" "nodelet-imgtest-$$-$name" < /dev/null) || fail "running $ref"
  [ "$got" = "$want" ] || fail "$ref printed '$got', want '$want'"
}
run_image busybox nodelet.local/busybox:latest "ok root" \
  sh -c 'test -d /usr/share && test -d /var/www && test -w /tmp && echo ok $(whoami)'
run_image testbin nodelet.local/testbin:latest "line 1
line 2" /testbin stdout-lines 2
echo "ok: both images run under runc"
