#!/usr/bin/env bash
# Builds nodelet's test images as reproducible OCI image-layout tarballs:
#   OUTDIR/busybox.tar  nodelet.local/busybox:latest  (busybox-static + applet links, /etc/passwd, ...)
#   OUTDIR/testbin.tar  nodelet.local/testbin:latest  (busybox layer + /testbin layer)
# Reproducible: SOURCE_DATE_EPOCH (default 0) mtimes, sorted entries, numeric
# owner 0, gzip -n; the same inputs give byte-identical tarballs.
# Env: TESTBIN=<path> uses a prebuilt static testbin instead of building it;
#      CARGO_TARGET_DIR is honoured for the build.
set -euo pipefail

OUTDIR=${1:?usage: build-test-images.sh OUTDIR}
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-0}
export LC_ALL=C TZ=UTC
umask 022

REPO=$(cd "$(dirname "$0")/.." && pwd)
CREATED=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)
PATH_ENV="PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
APPLETS="sh ash httpd cat echo sleep killall ls wget nc hostname env ps true false test [ printf
 seq id whoami date kill ln mkdir rm rmdir cp mv touch chmod chown grep sed awk head tail cut tr sort
 uniq wc tee find xargs stat du df pwd uname free top ping nslookup ip ifconfig netstat timeout dd tar
 gzip md5sum sha256sum mkfifo readlink realpath basename dirname expr yes vi less more which nproc
 mount umount sync usleep pidof"

# --- inputs ---------------------------------------------------------------
if ! dpkg -s busybox-static >/dev/null 2>&1; then
  apt-get install -y busybox-static >&2 || { apt-get update >&2 && apt-get install -y busybox-static >&2; }
fi
# require_static FILE: the images have no libc, so both binaries must be static.
require_static() {
  command -v file >/dev/null || return 0
  file -L "$1" | grep -Eq "statically linked|static-pie linked" || { echo "$1 is not static" >&2; exit 1; }
}
BUSYBOX=/bin/busybox
require_static "$BUSYBOX"

if [ -z "${TESTBIN:-}" ]; then
  ( cd "$REPO" && RUSTFLAGS="-C target-feature=+crt-static" \
      cargo build --release -p nodelet-testbin --target x86_64-unknown-linux-gnu >&2 )
  TESTBIN="${CARGO_TARGET_DIR:-$REPO/target}/x86_64-unknown-linux-gnu/release/testbin"
fi
require_static "$TESTBIN"

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$OUTDIR"

# --- helpers --------------------------------------------------------------
# det_tar DIR OUT: tar of DIR's contents, sorted, fixed mtime/owner, no ./ prefix.
det_tar() {
  ( cd "$1" && find . -mindepth 1 -printf '%P\n' | sort ) |
    tar -C "$1" --no-recursion -T - --format=gnu --mtime="@$SOURCE_DATE_EPOCH" \
        --owner=0 --group=0 --numeric-owner -cf "$2"
}
sha() { sha256sum "$1" | cut -d' ' -f1; }
size() { stat -c %s "$1"; }

# add_blob LAYOUT FILE: stores FILE as a blob, prints its hex digest.
add_blob() {
  local d; d=$(sha "$2")
  cp "$2" "$1/blobs/sha256/$d"
  echo "$d"
}

# add_layer LAYOUT ROOTDIR: prints "<diff_id-hex> <blob-hex> <size>".
add_layer() {
  local t="$WORK/layer.tar"
  det_tar "$2" "$t"
  local diff; diff=$(sha "$t")
  gzip -n -9 -c "$t" > "$t.gz"
  local blob; blob=$(add_blob "$1" "$t.gz")
  echo "$diff $blob $(size "$t.gz")"
  rm -f "$t" "$t.gz"
}

# write_layout LAYOUT REF CONFIG_CONFIG_JSON HISTORY_JSON LAYER...: layer args are "diff blob size".
write_layout() {
  local layout=$1 ref=$2 cfg=$3 hist=$4; shift 4
  local diffs="" layers="" sep=""
  for l in "$@"; do
    set -- $l
    diffs+="$sep\"sha256:$1\""
    layers+="$sep{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"sha256:$2\",\"size\":$3}"
    sep=","
  done
  printf '{"architecture":"amd64","os":"linux","created":"%s","config":%s,"rootfs":{"type":"layers","diff_ids":[%s]},"history":%s}' \
    "$CREATED" "$cfg" "$diffs" "$hist" > "$WORK/config.json"
  local c; c=$(add_blob "$layout" "$WORK/config.json")
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[%s]}' \
    "$c" "$(size "$WORK/config.json")" "$layers" > "$WORK/manifest.json"
  local m; m=$(add_blob "$layout" "$WORK/manifest.json")
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"io.containerd.image.name":"%s","org.opencontainers.image.ref.name":"%s"}}]}' \
    "$m" "$(size "$WORK/manifest.json")" "$ref" "$ref" > "$layout/index.json"
  printf '{"imageLayoutVersion":"1.0.0"}' > "$layout/oci-layout"
}

new_layout() { rm -rf "$1"; mkdir -p "$1/blobs/sha256"; }

# --- busybox layer --------------------------------------------------------
BB="$WORK/bb"
mkdir -p "$BB"/{bin,etc,root,tmp,usr/bin,usr/share,var/www}
cp "$BUSYBOX" "$BB/bin/busybox"
chmod 0755 "$BB/bin/busybox"
"$BUSYBOX" --list > "$WORK/applets"   # a file, not a pipe: grep -q + pipefail would race
for a in $APPLETS; do
  if grep -qxF -- "$a" "$WORK/applets"; then ln -s busybox "$BB/bin/$a"; fi
done
ln -s ../../bin/busybox "$BB/usr/bin/env"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$BB/etc/passwd"
printf 'root:x:0:\nnobody:x:65534:\n' > "$BB/etc/group"
chmod 0644 "$BB/etc/passwd" "$BB/etc/group"
chmod 0700 "$BB/root"
chmod 1777 "$BB/tmp"

# --- nodelet.local/busybox:latest ----------------------------------------
L="$WORK/busybox-layout"
new_layout "$L"
BB_LAYER=$(add_layer "$L" "$BB")
write_layout "$L" "nodelet.local/busybox:latest" \
  "{\"Env\":[\"$PATH_ENV\"],\"Cmd\":[\"sh\"]}" \
  "[{\"created\":\"$CREATED\",\"created_by\":\"build-test-images.sh: busybox-static with applet links\"}]" \
  "$BB_LAYER"
det_tar "$L" "$OUTDIR/busybox.tar"

# --- nodelet.local/testbin:latest ----------------------------------------
TB="$WORK/tb"
mkdir -p "$TB"
cp "$TESTBIN" "$TB/testbin"
chmod 0755 "$TB/testbin"
L="$WORK/testbin-layout"
new_layout "$L"
BB_LAYER=$(add_layer "$L" "$BB")
TB_LAYER=$(add_layer "$L" "$TB")
write_layout "$L" "nodelet.local/testbin:latest" \
  "{\"Env\":[\"$PATH_ENV\"],\"Entrypoint\":[\"/testbin\"],\"Cmd\":[\"pause\"],\"ExposedPorts\":{\"8080/tcp\":{},\"8443/tcp\":{}},\"StopSignal\":\"SIGTERM\"}" \
  "[{\"created\":\"$CREATED\",\"created_by\":\"build-test-images.sh: busybox-static with applet links\"},{\"created\":\"$CREATED\",\"created_by\":\"build-test-images.sh: static testbin\"}]" \
  "$BB_LAYER" "$TB_LAYER"
det_tar "$L" "$OUTDIR/testbin.tar"

echo "built $OUTDIR/busybox.tar (nodelet.local/busybox:latest) and $OUTDIR/testbin.tar (nodelet.local/testbin:latest)"
