#!/usr/bin/env bash
# Builds the busybox of the e2e images from Debian's own source package, and
# prints the path of the static binary.
#
# Why not Debian's busybox-static binary: Debian reverts upstream busybox's
# commit 9c143ce (debian/patches/revert-9c143ce…, for its installer), so its
# `sh` drops environment entries whose names are not shell identifiers before
# a child sees them. Upstream's busybox (and so the suite's busybox image)
# keeps them, and the suite checks it ("Variable Expansion … allow almost all
# printable ASCII characters as environment variable names" runs `sh -c env`).
# So: Debian's busybox source for the suite apt uses, every Debian patch but
# that revert (and the installer hack that builds on it), Debian's static
# configuration.
#
# The source is found and verified the way apt would: the suite's InRelease,
# checked with gpgv against Debian's archive keyring, names the Sources index
# by SHA-256, which names the source files by SHA-256.
# Cached under $NODELET_CACHE/busybox/<version>-<key>/busybox.
set -euo pipefail

NODELET_CACHE=${NODELET_CACHE:-/var/cache/nodelet}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
SUITE=${BUSYBOX_SUITE:-$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")}
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
log() { echo "build-busybox: $*" >&2; }

need=()
for tool in gcc:gcc make:make patch:patch bzip2:bzip2 xz:xz-utils gpgv:gpgv curl:curl; do
  command -v "${tool%%:*}" >/dev/null || need+=("${tool#*:}")
done
[[ -r $KEYRING ]] || need+=(debian-archive-keyring)
if ((${#need[@]})); then
  apt-get install -y "${need[@]}" >&2 || { apt-get update >&2 && apt-get install -y "${need[@]}" >&2; }
fi

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
fetch() { curl -fsS --retry 3 -o "$2" "$1" || { log "cannot download $1"; exit 1; }; }

# InRelease (signed) → Sources.xz (by SHA-256) → the source files (by SHA-256).
fetch "$MIRROR/dists/$SUITE/InRelease" "$WORK/InRelease"
gpgv --keyring "$KEYRING" --output "$WORK/Release" "$WORK/InRelease" 2>/dev/null ||
  { log "$MIRROR/dists/$SUITE/InRelease: bad signature"; exit 1; }
sources_sha=$(awk '/^SHA256:/{s=1;next} /^[^ ]/{s=0} s && $3=="main/source/Sources.xz"{print $1}' "$WORK/Release")
[[ -n $sources_sha ]] || { log "the $SUITE Release file names no main/source/Sources.xz"; exit 1; }
fetch "$MIRROR/dists/$SUITE/main/source/Sources.xz" "$WORK/Sources.xz"
echo "$sources_sha  $WORK/Sources.xz" | sha256sum -c --quiet - ||
  { log "main/source/Sources.xz does not match the signed Release file"; exit 1; }
# (awk reads to the end: an early exit would kill xz with SIGPIPE under pipefail)
xz -dc "$WORK/Sources.xz" | awk '/^Package: busybox$/ && !seen {p=1; seen=1} p && /^$/ {p=0} p' > "$WORK/stanza"
version=$(awk '/^Version:/{print $2}' "$WORK/stanza")
dir=$(awk '/^Directory:/{print $2}' "$WORK/stanza")
mapfile -t files < <(awk '/^Checksums-Sha256:/{s=1;next} /^[^ ]/{s=0} s{print $1, $3}' "$WORK/stanza")
[[ -n $version && -n $dir && ${#files[@]} -gt 0 ]] || { log "no busybox source in $SUITE"; exit 1; }

KEY=$({ cat "$0"; printf '%s\n' "${files[@]}"; } | sha256sum | cut -c1-12)
OUT=$NODELET_CACHE/busybox/${version//[:~]/_}-$KEY
if [[ -x $OUT/busybox ]]; then echo "$OUT/busybox"; exit 0; fi

log "building busybox $version from Debian's source (without Debian's revert of upstream 9c143ce)"
for f in "${files[@]}"; do
  sha=${f%% *} name=${f#* }
  fetch "$MIRROR/$dir/$name" "$WORK/$name"
  echo "$sha  $WORK/$name" | sha256sum -c --quiet - || { log "$name: SHA-256 mismatch"; exit 1; }
done
orig=$(printf '%s\n' "${files[@]}" | awk '$2 ~ /\.orig\.tar\./{print $2}')
debian=$(printf '%s\n' "${files[@]}" | awk '$2 ~ /\.debian\.tar\./{print $2}')
[[ -n $orig && -n $debian ]] || { log "busybox $version: no orig or debian tarball"; exit 1; }
mkdir "$WORK/src"
tar -xf "$WORK/$orig" -C "$WORK/src" --strip-components=1
tar -xf "$WORK/$debian" -C "$WORK/src"
cd "$WORK/src"
while read -r p; do
  case $p in '' | '#'*) continue ;; revert-9c143ce* | temp-deb-installer-hack*) continue ;; esac
  patch -p1 -s -N <"debian/patches/$p" >&2 || { log "debian patch $p does not apply"; exit 1; }
done <debian/patches/series
cp debian/config/pkg/static .config
# nc as upstream's images have it (alpine's busybox): the full nc with -u,
# -l, -e; the networking specs run `nc -w 1 -u IP PORT`, and Debian's static
# configuration has only the small nc.
for opt in NC_SERVER NC_EXTRA NC_110_COMPAT; do
  sed -i "s/^# CONFIG_$opt is not set$/CONFIG_$opt=y/" .config
done
{ yes '' || true; } | make oldconfig >/dev/null 2>&1   # yes dies of SIGPIPE
make -j"$(nproc)" busybox >"$WORK/build.log" 2>&1 || { tail -30 "$WORK/build.log" >&2; log "make failed"; exit 1; }
# The property this build exists for, checked before it is cached.
env -i 'a-b!=kept' ./busybox sh -c env | grep -qx 'a-b!=kept' ||
  { log "the built busybox sh still drops non-identifier environment names"; exit 1; }
./busybox nc --help 2>&1 | grep -q -- '-u' ||
  { log "the built busybox nc has no -u (UDP)"; exit 1; }
mkdir -p "$OUT.tmp"
install -m 0755 busybox "$OUT.tmp/busybox"
rm -rf "$OUT"
mv "$OUT.tmp" "$OUT"
echo "$OUT/busybox"
