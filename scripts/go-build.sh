#!/usr/bin/env bash
# Builds the Go test harness's binaries (Go is for the harness only; nodelet is
# Rust), cached in fixed places so a warm run is a few hash computations:
#
#   kube-apiserver kube-controller-manager kube-scheduler   (cluster/go.mod: k8s.io/kubernetes v1.37.2)
#   agnhost                                                 (k8s.io/kubernetes/test/images/agnhost)
#   nonewprivs                                              (k8s.io/kubernetes/test/images/nonewprivs: nnp)
#   e2e.test                                                (cluster/e2e: upstream e2e suite, go test -c)
#   ginkgo                                                  (github.com/onsi/ginkgo/v2/ginkgo: runs e2e.test in parallel)
#   etcd                                                    (cluster/etcd/go.mod: go.etcd.io/etcd/server/v3)
#   pause                                                   (cluster/cmd/pause: our pause image's program)
#
# Usage: scripts/go-build.sh [TARGET...]      build (or find cached) and print one path per target
#        scripts/go-build.sh --print-replaces prints the replace block for cluster/go.mod
# TARGET: a binary name above, `control-plane` (etcd + the three kube-*), or `all` (default).
#
# Caches (override the root with NODELET_CACHE, default /var/cache/nodelet):
#   $NODELET_CACHE/go-mod                Go module cache (GOMODCACHE)
#   $NODELET_CACHE/go-build              Go build cache (GOCACHE)
#   $NODELET_CACHE/bin/<group>-<key>/    binaries; <key> hashes go version, the module's go.mod and
#                                        go.sum, the build flags and (e2e) our test sources
# Build time of each binary is written next to it as <name>.build-seconds.
# Builds are static (CGO_ENABLED=0), flags as upstream's hack/lib/golang.sh:
# -trimpath, -tags selinux,notest, -ldflags "-s -w" + version stamps.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
K8S_VERSION=v1.37.2
NODELET_CACHE=${NODELET_CACHE:-/var/cache/nodelet}
# Bump to invalidate every cached binary when this script's build recipe changes.
RECIPE=1

export GOMODCACHE=$NODELET_CACHE/go-mod GOCACHE=$NODELET_CACHE/go-build
export CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS="-mod=readonly -buildvcs=false"
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-0}

log() { echo "go-build: $*" >&2; }

command -v go >/dev/null || { log "go not found (Go 1.26+ is needed for the test harness)"; exit 1; }

if [ "${1:-}" = --print-replaces ]; then
  mod=$(cd "$REPO/cluster" && go mod download -json "k8s.io/kubernetes@$K8S_VERSION" |
    sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  staging=v0.${K8S_VERSION#v1.}
  echo "replace ("
  grep "=> ./staging" "$mod" | awk -v v="$staging" '{printf "\t%s => %s %s\n", $1, $1, v}'
  echo ")"
  exit 0
fi

GOVERSION=$(go env GOVERSION)
BUILD_DATE=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)
minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
VERSION_LDFLAGS=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  VERSION_LDFLAGS+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  VERSION_LDFLAGS+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$BUILD_DATE"
done
LDFLAGS="-s -w$VERSION_LDFLAGS"
TAGS=selinux,notest

key_of() { # key_of FILE...: short hash of the recipe, Go version and the given files
  { echo "$RECIPE $GOVERSION $LDFLAGS $TAGS"; cat "$@"; } | sha256sum | cut -c1-16
}

K8S_DIR=$NODELET_CACHE/bin/k8s-$(key_of "$REPO/cluster/go.mod" "$REPO/cluster/go.sum")
E2E_DIR=$NODELET_CACHE/bin/e2e-$(key_of "$REPO/cluster/go.mod" "$REPO/cluster/go.sum" "$REPO"/cluster/e2e/*.go)
PAUSE_DIR=$NODELET_CACHE/bin/pause-$(key_of "$REPO/cluster/go.mod" "$REPO"/cluster/cmd/pause/*.go)
ETCD_DIR=$NODELET_CACHE/bin/etcd-$(key_of "$REPO/cluster/etcd/go.mod" "$REPO/cluster/etcd/go.sum")

# build NAME OUTDIR MODDIR CMD ARGS...: runs `CMD OUTFILE ARGS...` in MODDIR to build OUTDIR/NAME,
# unless it is there.
build() {
  local name=$1 out=$2 moddir=$3; shift 3
  if [ -x "$out/$name" ]; then echo "$out/$name"; return; fi
  lock
  if [ -x "$out/$name" ]; then echo "$out/$name"; return; fi
  mkdir -p "$out"
  log "building $name (cold: minutes; cache $NODELET_CACHE)"
  local start=$SECONDS tmp="$out/.$name.tmp.$$"
  (cd "$moddir" && "$1" "$tmp" "${@:2}") >&2 || { rm -f "$tmp"; log "building $name failed"; exit 1; }
  mv -f "$tmp" "$out/$name"
  echo $((SECONDS - start)) > "$out/$name.build-seconds"
  log "built $name in $((SECONDS - start)) s"
  echo "$out/$name"
}

gobuild() { go build -o "$1" -trimpath -tags "$TAGS" -ldflags "$LDFLAGS" "${@:2}"; }
gotestc() { go test -c -o "$1" -trimpath -tags "$TAGS" -ldflags "$LDFLAGS" "${@:2}"; }
etcdbuild() { go build -o "$1" -trimpath -ldflags "-s -w" "${@:2}"; }

build_target() {
  case $1 in
    kube-apiserver | kube-controller-manager | kube-scheduler)
      build "$1" "$K8S_DIR" "$REPO/cluster" gobuild "k8s.io/kubernetes/cmd/$1" ;;
    agnhost | nonewprivs)
      build "$1" "$K8S_DIR" "$REPO/cluster" gobuild "k8s.io/kubernetes/test/images/$1" ;;
    ginkgo)
      build ginkgo "$K8S_DIR" "$REPO/cluster" gobuild github.com/onsi/ginkgo/v2/ginkgo ;;
    pause)
      build pause "$PAUSE_DIR" "$REPO/cluster" gobuild ./cmd/pause ;;
    e2e.test)
      build e2e.test "$E2E_DIR" "$REPO/cluster" gotestc ./e2e ;;
    etcd)
      build etcd "$ETCD_DIR" "$REPO/cluster/etcd" etcdbuild go.etcd.io/etcd/server/v3 ;;
    control-plane)
      for t in etcd kube-apiserver kube-controller-manager kube-scheduler; do build_target "$t"; done ;;
    all)
      for t in control-plane agnhost nonewprivs pause e2e.test ginkgo; do build_target "$t"; done ;;
    *) log "unknown target $1 (kube-apiserver kube-controller-manager kube-scheduler etcd agnhost nonewprivs pause e2e.test ginkgo control-plane all)"; exit 2 ;;
  esac
}

# One build at a time: a caller that has to build waits for the lock, then
# looks again (another caller may have built it meanwhile).
LOCKED=0
lock() {
  [ $LOCKED = 1 ] && return
  mkdir -p "$NODELET_CACHE"
  exec 9>"$NODELET_CACHE/go-build.lock"
  flock 9
  LOCKED=1
}

# One compound command, so editing this file while it runs is harmless.
{
  [ $# -gt 0 ] || set -- all
  for t in "$@"; do build_target "$t"; done
  exit 0
}
