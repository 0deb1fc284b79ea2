#!/usr/bin/env bash
# Builds a real nginx image from Debian's packages (nginx, bash, psmisc on a
# bookworm minbase, with mmdebstrap) as an OCI image-layout tarball, for the
# places where Docker Hub cannot be reached: the demo and the tests push it
# to a local registry that mirrors docker.io (see README, "Air-gapped").
# It is what the seed tutorial needs from `nginx`: `nginx` in the
# foreground as the main process (SIGQUIT stops it, as the official image's
# STOPSIGNAL), `nginx -s quit`, `killall` (psmisc), `/bin/bash`, logs to
# the container's stdout/stderr.
#
# Prints the path of the tarball. Cached: NODELET_IMAGE_CACHE (default
# /var/cache/nodelet/images)/nginx-<key>.tar, where the key is a hash of this
# script and the suite; a second run reuses it. Reproducible: the same
# package versions give a byte-identical tarball (SOURCE_DATE_EPOCH, default
# 0, for every mtime; sorted entries; numeric owners; gzip -n; logs and
# caches that carry build times removed).
# Env: NGINX_IMAGE_SUITE (default bookworm), NGINX_IMAGE_MIRROR (default:
# mmdebstrap's, i.e. the host's apt sources when none given), NGINX_IMAGE_FORCE=1
# rebuilds.
set -euo pipefail

SUITE=${NGINX_IMAGE_SUITE:-bookworm}
CACHE=${NODELET_IMAGE_CACHE:-/var/cache/nodelet/images}
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-0}
export LC_ALL=C TZ=UTC
umask 022

key=$( (cat "$0"; echo "$SUITE ${NGINX_IMAGE_MIRROR:-} $SOURCE_DATE_EPOCH") | sha256sum | cut -c1-16)
OUT=$CACHE/nginx-$key.tar
if [[ -s $OUT && -z ${NGINX_IMAGE_FORCE:-} ]]; then
  echo "$OUT"
  exit 0
fi
for tool in mmdebstrap tar gzip sha256sum; do
  command -v "$tool" >/dev/null || { echo "build-nginx-image: $tool is missing (scripts/setup.sh installs it)" >&2; exit 1; }
done
[[ $(id -u) == 0 ]] || { echo "build-nginx-image: must run as root (mmdebstrap root mode keeps owners)" >&2; exit 1; }

mkdir -p "$CACHE"
WORK=$(mktemp -d "$CACHE/.nginx-build.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
ROOTFS=$WORK/rootfs
CREATED=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)

echo "build-nginx-image: mmdebstrap $SUITE + nginx bash psmisc (a few minutes the first time)" >&2
mirror=()
[[ -n ${NGINX_IMAGE_MIRROR:-} ]] && mirror=("$NGINX_IMAGE_MIRROR")
mmdebstrap --quiet --mode=root --variant=minbase --include=nginx,bash,psmisc \
  --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  --customize-hook='ln -sf /dev/stdout "$1/var/log/nginx/access.log"' \
  --customize-hook='ln -sf /dev/stderr "$1/var/log/nginx/error.log"' \
  --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/* "$1"/var/cache/ldconfig/aux-cache "$1"/var/cache/debconf/*-old "$1"/var/lib/dpkg/*-old' \
  --customize-hook='rm -f "$1"/var/log/dpkg.log "$1"/var/log/alternatives.log "$1"/var/log/bootstrap.log "$1"/var/log/apt/*.log "$1"/etc/machine-id "$1"/var/lib/dbus/machine-id' \
  "$SUITE" "$ROOTFS" "${mirror[@]}" >&2

# The layer: sorted entries, fixed mtimes, numeric owners; no device nodes
# under /dev (the runtime provides /dev; layers with devices are refused).
( cd "$ROOTFS" && find . -mindepth 1 -printf '%P\n' | grep -v '^dev/.' | sort ) |
  tar -C "$ROOTFS" --no-recursion -T - --format=gnu --mtime="@$SOURCE_DATE_EPOCH" \
      --numeric-owner -cf "$WORK/layer.tar"
L=$WORK/layout
mkdir -p "$L/blobs/sha256"
sha() { sha256sum "$1" | cut -d' ' -f1; }
size() { stat -c %s "$1"; }
blob() { local d; d=$(sha "$1"); mv "$1" "$L/blobs/sha256/$d"; echo "$d"; }
diff=$(sha "$WORK/layer.tar")
gzip -n -6 "$WORK/layer.tar"
lsize=$(size "$WORK/layer.tar.gz")
layer=$(blob "$WORK/layer.tar.gz")
printf '{"architecture":"amd64","os":"linux","created":"%s","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["nginx","-g","daemon off;"],"ExposedPorts":{"80/tcp":{}},"StopSignal":"SIGQUIT"},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]},"history":[{"created":"%s","created_by":"build-nginx-image.sh: mmdebstrap %s nginx bash psmisc"}]}' \
  "$CREATED" "$diff" "$CREATED" "$SUITE" >"$WORK/config.json"
csize=$(size "$WORK/config.json")
config=$(blob "$WORK/config.json")
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%s}]}' \
  "$config" "$csize" "$layer" "$lsize" >"$WORK/manifest.json"
msize=$(size "$WORK/manifest.json")
manifest=$(blob "$WORK/manifest.json")
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"latest"}}]}' \
  "$manifest" "$msize" >"$L/index.json"
printf '{"imageLayoutVersion":"1.0.0"}' >"$L/oci-layout"
( cd "$L" && find . -mindepth 1 -printf '%P\n' | sort ) |
  tar -C "$L" --no-recursion -T - --format=gnu --mtime="@$SOURCE_DATE_EPOCH" \
      --owner=0 --group=0 --numeric-owner -cf "$WORK/nginx.tar"
mv "$WORK/nginx.tar" "$OUT"
echo "build-nginx-image: $OUT (manifest sha256:$manifest)" >&2
echo "$OUT"
