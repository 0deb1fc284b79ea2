#!/usr/bin/env bash
# Builds the images the upstream e2e suite's default focus needs, as reproducible OCI
# image-layout tarballs that `nodelet image load -i X.tar` accepts, tagged with
# the exact references the suite asks for (`e2e.test --list-images`):
#
#   agnhost.tar  $AGNHOST_REFS agnhost (k8s.io/kubernetes/test/images/agnhost, static)
#                              at /agnhost (+ /agnhost-2), ENTRYPOINT ["/agnhost"],
#                              CMD ["pause"], on the busybox layer (a shell for
#                              exec'd commands; upstream's base is alpine) with
#                              Debian's bash-static as /bin/bash and curl (with the
#                              libraries it loads) as upstream installs them
#   pause.tar    $PAUSE_REFS   our static pause (cluster/cmd/pause), ENTRYPOINT
#                              ["/pause"], USER 65535:65535 as upstream
#   busybox.tar  $BUSYBOX_REFS busybox from Debian's source package as upstream's behaves
#                              (scripts/build-busybox.sh says why), every applet in /bin
#   nonroot.tar  $NONROOT_REFS the busybox layer, USER 1234 (upstream: debian-base, USER 1234)
#   nonewprivs.tar $NONEWPRIVS_REFS the busybox layer + setuid-root /usr/local/bin/nnp
#                              (k8s.io/kubernetes/test/images/nonewprivs), CMD ["nnp"]
#   glibc-dns-testing.tar $GLIBC_DNS_REFS A STAND-IN: the busybox layer (sh, hostname -f
#                              through /etc/hosts); the Override hostname specs run
#                              `hostname; hostname -f` in it
#   nginx.tar    $NGINX_REFS   A STAND-IN: busybox httpd serving /usr/share/nginx/html on
#                              port 80 (CMD), STOPSIGNAL SIGQUIT; the default focus only
#                              runs it with a preStop exec hook (PreStop) or swaps it in
#                              as a new image (Pods Extended); no real nginx is built
#
# Usage: scripts/build-e2e-images.sh   prints the directory holding the three tars
#        and images.txt ("<file> <reference>..." lines). *_REFS are space-separated
#        lists: the suite names two agnhost and two busybox tags, and one image
#        is tagged with all of them (one index.json entry per reference). Cached under
#        $NODELET_CACHE/images/e2e-<key> (key: the binaries, this script, the
#        references); the same inputs give byte-identical tarballs
#        (SOURCE_DATE_EPOCH=0 mtimes, sorted entries, numeric owner 0, gzip -n).
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
NODELET_CACHE=${NODELET_CACHE:-/var/cache/nodelet}
# Defaults: what `e2e.test --list-images` of k8s.io/kubernetes v1.37.2 prints
# (test/utils/image/manifest.go); scripts/conformance.sh passes what it prints.
AGNHOST_REFS=${AGNHOST_REFS:-registry.k8s.io/e2e-test-images/agnhost:2.66.1 registry.k8s.io/e2e-test-images/agnhost:2.55}
BUSYBOX_REFS=${BUSYBOX_REFS:-registry.k8s.io/e2e-test-images/busybox:1.37.0-2 registry.k8s.io/e2e-test-images/busybox:1.36.1-1}
PAUSE_REFS=${PAUSE_REFS:-registry.k8s.io/pause:3.10.2}
NGINX_REFS=${NGINX_REFS:-registry.k8s.io/e2e-test-images/nginx:1.27.0-2 registry.k8s.io/e2e-test-images/nginx:1.28.0-2}
NONROOT_REFS=${NONROOT_REFS:-registry.k8s.io/e2e-test-images/nonroot:1.5}
NONEWPRIVS_REFS=${NONEWPRIVS_REFS:-registry.k8s.io/e2e-test-images/nonewprivs:1.4}
GLIBC_DNS_REFS=${GLIBC_DNS_REFS:-registry.k8s.io/e2e-test-images/glibc-dns-testing:2.1.1}

export SOURCE_DATE_EPOCH=0 LC_ALL=C TZ=UTC
umask 022
log() { echo "build-e2e-images: $*" >&2; }

# --- inputs ---------------------------------------------------------------------
# bash for agnhost: upstream's image (alpine) has it, and specs run
# `/bin/bash -c` in agnhost containers (Probing container's terminating pod).
for pkg in bash-static; do
  if ! dpkg -s "$pkg" >/dev/null 2>&1; then
    apt-get install -y "$pkg" >&2 || { apt-get update >&2 && apt-get install -y "$pkg" >&2; }
  fi
done
BUSYBOX=$("$REPO/scripts/build-busybox.sh") || { log "building busybox failed"; exit 1; }
BASH_STATIC=/bin/bash-static
# curl for agnhost (upstream installs it; hook and probe specs exec `curl`
# in agnhost containers): Debian's, with the shared libraries it loads.
command -v curl >/dev/null || apt-get install -y curl >&2
CURL=$(command -v curl)
mapfile -t CURL_LIBS < <(ldd "$CURL" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\/.*ld-linux/ {print $1}' | sort -u)
((${#CURL_LIBS[@]} > 0)) || { log "ldd $CURL listed no libraries"; exit 1; }
bins=$("$REPO/scripts/go-build.sh" agnhost pause nonewprivs) || { log "building agnhost/pause/nonewprivs failed"; exit 1; }
AGNHOST=$(grep '/agnhost$' <<<"$bins")
PAUSE=$(grep '/pause$' <<<"$bins")
NNP=$(grep '/nonewprivs$' <<<"$bins")
require_static() {
  command -v file >/dev/null || return 0
  file -L "$1" | grep -Eq "statically linked|static-pie linked" || { log "$1 is not static"; exit 1; }
}
for b in "$BUSYBOX" "$BASH_STATIC" "$AGNHOST" "$PAUSE" "$NNP"; do require_static "$b"; done
PORTER=$(cd "$REPO/cluster" && GOMODCACHE=$NODELET_CACHE/go-mod GOFLAGS=-mod=readonly \
  go list -f '{{.Dir}}' k8s.io/kubernetes/test/images/agnhost)/porter

KEY=$({ cat "$0"; echo "$AGNHOST_REFS|$BUSYBOX_REFS|$PAUSE_REFS|$NGINX_REFS|$NONROOT_REFS|$NONEWPRIVS_REFS|$GLIBC_DNS_REFS"
  sha256sum "$BUSYBOX" "$BASH_STATIC" "$CURL" "${CURL_LIBS[@]}" "$AGNHOST" "$PAUSE" "$NNP" \
  "$PORTER/localhost.crt" "$PORTER/localhost.key" | cut -d' ' -f1; } | sha256sum | cut -c1-16)
OUTDIR=$NODELET_CACHE/images/e2e-$KEY
if [[ -s $OUTDIR/images.txt ]]; then echo "$OUTDIR"; exit 0; fi

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
CREATED=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)
PATH_ENV="PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# --- OCI layout helpers (as scripts/build-test-images.sh) ----------------------------
det_tar() { # det_tar DIR OUT: sorted entries, fixed mtime/owner, no ./ prefix
  (cd "$1" && find . -mindepth 1 -printf '%P\n' | sort) |
    tar -C "$1" --no-recursion -T - --format=gnu --mtime="@$SOURCE_DATE_EPOCH" \
      --owner=0 --group=0 --numeric-owner -cf "$2"
}
sha() { sha256sum "$1" | cut -d' ' -f1; }
size() { stat -c %s "$1"; }
add_blob() { local d; d=$(sha "$2"); cp "$2" "$1/blobs/sha256/$d"; echo "$d"; }
add_layer() { # add_layer LAYOUT ROOTDIR: prints "<diff_id> <blob> <size>"
  local t="$WORK/layer.tar" diff blob
  det_tar "$2" "$t"
  diff=$(sha "$t")
  gzip -n -9 -c "$t" > "$t.gz"
  blob=$(add_blob "$1" "$t.gz")
  echo "$diff $blob $(size "$t.gz")"
  rm -f "$t" "$t.gz"
}
# image OUT "REF..." CONFIG HISTORY_WORD ROOTDIR...: one layer per ROOTDIR,
# one index entry per reference.
image() {
  local out=$1 refs=$2 cfg=$3 what=$4 layout="$WORK/layout" diffs="" layers="" hist="" sep="" c m r entries=""
  shift 4
  rm -rf "$layout"; mkdir -p "$layout/blobs/sha256"
  for root in "$@"; do
    # shellcheck disable=SC2046 # "diff blob size": three words on purpose
    set -- $(add_layer "$layout" "$root")
    diffs+="$sep\"sha256:$1\""
    layers+="$sep{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"sha256:$2\",\"size\":$3}"
    hist+="$sep{\"created\":\"$CREATED\",\"created_by\":\"build-e2e-images.sh: $what $(basename "$root")\"}"
    sep=","
  done
  printf '{"architecture":"amd64","os":"linux","created":"%s","config":%s,"rootfs":{"type":"layers","diff_ids":[%s]},"history":[%s]}' \
    "$CREATED" "$cfg" "$diffs" "$hist" > "$WORK/config.json"
  c=$(add_blob "$layout" "$WORK/config.json")
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[%s]}' \
    "$c" "$(size "$WORK/config.json")" "$layers" > "$WORK/manifest.json"
  m=$(add_blob "$layout" "$WORK/manifest.json")
  sep=""
  for r in $refs; do
    entries+=$(printf '%s{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"io.containerd.image.name":"%s","org.opencontainers.image.ref.name":"%s"}}' \
      "$sep" "$m" "$(size "$WORK/manifest.json")" "$r" "$r")
    sep=","
  done
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[%s]}' "$entries" > "$layout/index.json"
  printf '{"imageLayoutVersion":"1.0.0"}' > "$layout/oci-layout"
  det_tar "$layout" "$out"
}

# --- layers ------------------------------------------------------------------------
BB="$WORK/busybox"   # busybox, every applet in /bin (as the busybox image)
mkdir -p "$BB"/{bin,etc,root,tmp,home,var,usr/bin}
cp "$BUSYBOX" "$BB/bin/busybox"
chmod 0755 "$BB/bin/busybox"
"$BUSYBOX" --list > "$WORK/applets"
while read -r a; do
  [[ $a == busybox || -e "$BB/bin/$a" ]] || ln -s busybox "$BB/bin/$a"
done < "$WORK/applets"
ln -s ../../bin/env "$BB/usr/bin/env"
printf 'root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1:daemon:/usr/sbin:/bin/false\nnobody:x:65534:65534:nobody:/home:/bin/false\n' > "$BB/etc/passwd"
printf 'root:x:0:\ndaemon:x:1:\nnobody:x:65534:\n' > "$BB/etc/group"
chmod 0644 "$BB/etc/passwd" "$BB/etc/group"
chmod 0700 "$BB/root"
chmod 1777 "$BB/tmp"

AG="$WORK/agnhost"   # as upstream's Dockerfile: /agnhost, /agnhost-2, /uploads, porter's certs,
mkdir -p "$AG/etc" "$AG/uploads"   # user-defined-in-image (1000) in group-defined-in-image (50000)
cp "$AGNHOST" "$AG/agnhost"
chmod 0755 "$AG/agnhost"
ln -s agnhost "$AG/agnhost-2"
mkdir -p "$AG/bin"
cp "$BASH_STATIC" "$AG/bin/bash"
chmod 0755 "$AG/bin/bash"
mkdir -p "$AG/usr/bin"
cp "$CURL" "$AG/usr/bin/curl"
chmod 0755 "$AG/usr/bin/curl"
for lib in "${CURL_LIBS[@]}"; do
  mkdir -p "$AG$(dirname "$lib")"
  cp -L "$lib" "$AG$lib"
  chmod 0755 "$AG$lib"
done
cp "$PORTER/localhost.crt" "$PORTER/localhost.key" "$AG/"
chmod 0644 "$AG/localhost.crt" "$AG/localhost.key"
{ cat "$BB/etc/passwd"; echo 'user-defined-in-image:x:1000:1000::/home/user-defined-in-image:/bin/sh'; } > "$AG/etc/passwd"
{ cat "$BB/etc/group"; echo 'user-defined-in-image:x:1000:'; echo 'group-defined-in-image:x:50000:user-defined-in-image'; } > "$AG/etc/group"
chmod 0644 "$AG/etc/passwd" "$AG/etc/group"

PA="$WORK/pause"
mkdir -p "$PA"
cp "$PAUSE" "$PA/pause"
chmod 0755 "$PA/pause"

NN="$WORK/nnp"       # setuid root, so allowPrivilegeEscalation decides the effective uid
mkdir -p "$NN/usr/local/bin"
cp "$NNP" "$NN/usr/local/bin/nnp"
chmod 4755 "$NN/usr/local/bin/nnp"

NG="$WORK/nginx"     # stand-in content where nginx keeps it
mkdir -p "$NG/usr/share/nginx/html"
printf '<!DOCTYPE html>\n<html><head><title>Welcome to nginx!</title></head><body><h1>Welcome to nginx!</h1><p>(busybox httpd standing in for nginx: nodelet e2e harness)</p></body></html>\n' \
  > "$NG/usr/share/nginx/html/index.html"
chmod 0644 "$NG/usr/share/nginx/html/index.html"

# --- images --------------------------------------------------------------------------
mkdir -p "$NODELET_CACHE/images"
TMPOUT=$(mktemp -d "$NODELET_CACHE/images/.e2e-$KEY.XXXXXX")
image "$TMPOUT/busybox.tar" "$BUSYBOX_REFS" "{\"Env\":[\"$PATH_ENV\"],\"Cmd\":[\"sh\"]}" layer "$BB"
image "$TMPOUT/agnhost.tar" "$AGNHOST_REFS" \
  "{\"Env\":[\"$PATH_ENV\"],\"Entrypoint\":[\"/agnhost\"],\"Cmd\":[\"pause\"],\"WorkingDir\":\"/\",\"ExposedPorts\":{\"80/tcp\":{},\"8080/tcp\":{},\"8081/tcp\":{},\"9376/tcp\":{},\"5000/tcp\":{}}}" \
  layer "$BB" "$AG"
image "$TMPOUT/pause.tar" "$PAUSE_REFS" \
  "{\"Env\":[\"$PATH_ENV\"],\"Entrypoint\":[\"/pause\"],\"User\":\"65535:65535\",\"WorkingDir\":\"/\"}" layer "$PA"
image "$TMPOUT/nonroot.tar" "$NONROOT_REFS" "{\"Env\":[\"$PATH_ENV\"],\"Cmd\":[\"sh\"],\"User\":\"1234\"}" layer "$BB"
image "$TMPOUT/nonewprivs.tar" "$NONEWPRIVS_REFS" "{\"Env\":[\"$PATH_ENV\"],\"Cmd\":[\"nnp\"]}" layer "$BB" "$NN"
image "$TMPOUT/glibc-dns-testing.tar" "$GLIBC_DNS_REFS" "{\"Env\":[\"$PATH_ENV\"],\"Cmd\":[\"sh\"]}" layer "$BB"
image "$TMPOUT/nginx.tar" "$NGINX_REFS" \
  "{\"Env\":[\"$PATH_ENV\"],\"Cmd\":[\"httpd\",\"-f\",\"-p\",\"80\",\"-h\",\"/usr/share/nginx/html\"],\"ExposedPorts\":{\"80/tcp\":{}},\"StopSignal\":\"SIGQUIT\"}" \
  layer "$BB" "$NG"
{
  echo "agnhost.tar $AGNHOST_REFS"
  echo "busybox.tar $BUSYBOX_REFS"
  echo "pause.tar $PAUSE_REFS"
  echo "nginx.tar $NGINX_REFS"
  echo "nonroot.tar $NONROOT_REFS"
  echo "nonewprivs.tar $NONEWPRIVS_REFS"
  echo "glibc-dns-testing.tar $GLIBC_DNS_REFS"
} > "$TMPOUT/images.txt"
chmod 755 "$TMPOUT"
rm -rf "$OUTDIR"
mv "$TMPOUT" "$OUTDIR"
log "built $(tr '\n' ' ' < "$OUTDIR/images.txt")in $OUTDIR"
echo "$OUTDIR"
