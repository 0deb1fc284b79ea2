#!/usr/bin/env bash
# Checks the Go test harness (cluster/, cluster/etcd/, the harness scripts):
#   1. gofmt -l finds nothing to reformat
#   2. go vet ./... is clean
#   3. cluster/go.mod maps every staging module of k8s.io/kubernetes to v0.37.2
#   4. go.mod/go.sum are tidy (go mod tidy -diff)
#   5. every binary builds (scripts/go-build.sh all: cached, seconds when warm;
#      cold ~ see docs/conformance.md) and e2e.test --list-images works
#   6. the harness scripts parse (bash -n)
# Prints `N passed, N failed` last; exit 1 if any check failed.
set -uo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
NODELET_CACHE=${NODELET_CACHE:-/var/cache/nodelet}
export GOMODCACHE=$NODELET_CACHE/go-mod GOCACHE=$NODELET_CACHE/go-build
export CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS="-mod=readonly -buildvcs=false"

pass=0 failed=0
check() { # check NAME CMD...: runs CMD, output shown only on failure
  local name=$1 out; shift
  if out=$("$@" 2>&1); then
    pass=$((pass + 1)); echo "ok - $name"
  else
    failed=$((failed + 1)); echo "not ok - $name"; sed 's/^/    | /' <<<"$out"
  fi
}

gofmt_clean() { local l; l=$(gofmt -l "$REPO/cluster"); [[ -z $l ]] || { echo "needs gofmt: $l"; return 1; }; }
# -trimpath and the tags as go-build.sh: vet reuses the builds' compiled packages
# (cold, vet still analyses every dependency for facts: ~4 min on 2 cores).
vet() { cd "$REPO/cluster" && go vet -trimpath -tags selinux,notest ./...; }
replaces_complete() {
  diff <("$REPO/scripts/go-build.sh" --print-replaces | grep '=>' | sort) \
    <(sed -n '/^replace (/,/^)/p' "$REPO/cluster/go.mod" | grep '=>' | sort)
}
tidy() {
  (cd "$REPO/cluster" && GOFLAGS=-mod=mod go mod tidy -diff) &&
    (cd "$REPO/cluster/etcd" && GOFLAGS=-mod=mod go mod tidy -diff)
}
builds() { "$REPO/scripts/go-build.sh" all >/dev/null; }
list_images() {
  local e2e out
  e2e=$("$REPO/scripts/go-build.sh" e2e.test) && out=$("$e2e" --list-images) &&
    grep -q '^registry.k8s.io/e2e-test-images/agnhost:' <<<"$out" || { echo "$out"; return 1; }
}
scripts_parse() {
  local f
  for f in go-build.sh cluster.sh build-e2e-images.sh conformance.sh test-go-harness.sh test-cluster.sh test-conformance-harness.sh; do
    bash -n "$REPO/scripts/$f" || return 1
  done
  if command -v shellcheck >/dev/null; then
    shellcheck -S warning "$REPO"/scripts/{go-build,cluster,build-e2e-images,conformance,test-go-harness,test-cluster,test-conformance-harness}.sh
  fi
}

check "gofmt" gofmt_clean
check "go vet" vet
check "cluster/go.mod replaces every staging module" replaces_complete
check "go.mod/go.sum tidy" tidy
check "binaries build (scripts/go-build.sh all)" builds
check "e2e.test --list-images" list_images
check "harness scripts parse" scripts_parse
echo "$pass passed, $failed failed"
[[ $failed == 0 ]]
