#!/usr/bin/env bash
# Runs Kubernetes' own e2e suite (k8s.io/kubernetes v1.37.2, linked out of tree
# by cluster/e2e) against the local cluster of scripts/cluster.sh, with nodelet
# as its node node-1.
#
#   scripts/conformance.sh [GINKGO_FOCUS_REGEX]
#
# 1. brings the cluster up (scripts/cluster.sh up: idempotent, seconds when up);
# 2. precheck: the API server is ready and node-1 is Ready (else it stops
#    here, saying so: without a nodelet that has node mode there is no node);
# 3. builds (cached) e2e.test and, from the references `e2e.test --list-images`
#    prints, the agnhost, busybox, pause, nginx (stand-in), nonroot and
#    nonewprivs images (scripts/build-e2e-images.sh),
#    and loads them into the node (`nodelet image load --root $NODELET_ROOT`);
# 4. runs the suite: --provider=skeleton, -ginkgo.focus, -ginkgo.skip, a
#    report dir with JUnit (junit_01.xml) and the log;
# 5. prints `N passed, N failed` as its last line (from the JUnit report);
#    exit status 0 only if nothing failed.
#
# Env: GINKGO_SKIP (default skips [Serial], [Disruptive], [Flaky], [Slow],
#      [Feature:...], [Alpha] and the tests that pull from a registry),
#      E2E_REPORT_DIR (default $NODELET_CLUSTER_DIR/e2e-report/<time>),
#      E2E_TIMEOUT (ginkgo's suite timeout, default 2h), E2E_ARGS (extra flags),
#      E2E_PROCS (parallel suite processes through the ginkgo runner, default
#      4; 1 runs e2e.test alone),
#      NODELET_BIN, NODELET_CLUSTER_DIR as for scripts/cluster.sh.
set -uo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
DIR=${NODELET_CLUSTER_DIR:-/var/lib/nodelet-cluster}
NODELET_BIN=${NODELET_BIN:-$REPO/target/release/nodelet}
NODE=node-1

# The tests nodelet is measured against (all [sig-node]; "Downward API" is the
# env-var one of common/node, not the storage volume tests).
DEFAULT_FOCUS='\[sig-node\] (Container Lifecycle Hook|Variable Expansion|Downward API |Pods should contain environment variables for services|PreStop|Container Runtime|Probing container|InitContainer|Restartable Init Container|Pods? Extended|Security Context|Ephemeral Containers)'
FOCUS=${1:-$DEFAULT_FOCUS}
SKIP=${GINKGO_SKIP:-'\[Serial\]|\[Disruptive\]|\[Flaky\]|\[Slow\]|\[Feature:|\[Alpha\]|should be able to pull|should not be able to pull'}
REPORT=${E2E_REPORT_DIR:-$DIR/e2e-report/$(date -u +%Y%m%dT%H%M%SZ)}

say() { echo "conformance: $*" >&2; }
# fail MESSAGE: a run that could not start counts as one failure.
fail() {
  say "ERROR: $*"
  echo "0 passed, 1 failed"
  exit 1
}

# The suite's node does not act on how full the host's disk is: on a machine
# whose disk is shared with builds and caches, the kubelet's default image GC
# (from 85 % full) deletes the images loaded under the suite's names while no
# pod uses them, and DiskPressure (imagefs under 15 % free) taints the node so
# nothing schedules. A pod's own limits (ephemeral-storage, emptyDir
# sizeLimit) are still enforced. Set NODELET_NODE_ARGS to choose otherwise.
export NODELET_NODE_ARGS=${NODELET_NODE_ARGS-"--image-gc-high-threshold 100 --image-gc-low-threshold 99 --eviction-hard nodefs.available<0%,nodefs.inodesFree<0%,imagefs.available<0%,imagefs.inodesFree<0%"}
# The node on the host's own address rather than loopback: the API server's
# node proxy (nodes/proxy, which specs use to read the kubelet's /pods)
# refuses loopback node addresses ("address not allowed").
if [[ -z ${NODELET_KUBELET_LISTEN:-} ]]; then
  host=$(hostname -I 2>/dev/null | awk '{print $1}')
  [[ -n $host && $host != 127.* ]] && export NODELET_KUBELET_LISTEN="$host:${NODELET_KUBELET_PORT:-10250}"
fi
# --- 1. the cluster ---------------------------------------------------------------
env_lines=$("$REPO/scripts/cluster.sh" up) || fail "scripts/cluster.sh up failed (logs in $DIR/logs)"
eval "$env_lines"   # KUBECONFIG, NODELET_ROOT
export KUBECONFIG NODELET_ROOT
K=$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')/kubectl

# --- 2. precheck ----------------------------------------------------------------------
[[ "$("$K" get --raw /readyz 2>&1)" == ok ]] || fail "the API server is not ready (see $DIR/logs/kube-apiserver.log)"
ready=$("$K" get node "$NODE" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)
if [[ "$ready" != True ]]; then
  if ! [[ -x "$NODELET_BIN" ]] || ! "$NODELET_BIN" node --help >/dev/null 2>&1; then
    fail "precheck: no node. The control plane is up, but $NODELET_BIN has no 'nodelet node' mode, so node $NODE does not exist and the e2e suite cannot schedule anything. Build nodelet with node mode (or set NODELET_BIN) and run again."
  fi
  fail "precheck: node $NODE is not Ready (Ready=${ready:-absent}); see $DIR/logs/nodelet.log"
fi
nodes=$("$K" get nodes --no-headers 2>/dev/null | wc -l)
[[ $nodes == 1 ]] || say "warning: $nodes nodes registered; the suite expects all of them Ready"

# --- 3. binaries and images --------------------------------------------------------------
E2E=$("$REPO/scripts/go-build.sh" e2e.test) || fail "building e2e.test failed"
PROCS=${E2E_PROCS:-4}
[[ $PROCS =~ ^[1-9][0-9]*$ ]] || fail "E2E_PROCS=$PROCS: a positive number of parallel suite processes"
if ((PROCS > 1)); then
  GINKGO=$("$REPO/scripts/go-build.sh" ginkgo) || fail "building the ginkgo runner failed"
fi
images=$("$E2E" --list-images 2>/dev/null) || fail "e2e.test --list-images failed"
# Every tag the suite names of each image we build (--list-images names two
# agnhost, busybox and nginx tags); one image carries them all.
refs() { grep -E "^registry.k8s.io/$1:" <<<"$images" | sort -V | tr '\n' ' ' | sed 's/ $//'; }
AGNHOST_REFS=$(refs e2e-test-images/agnhost)
BUSYBOX_REFS=$(refs e2e-test-images/busybox)
PAUSE_REFS=$(refs pause)
NGINX_REFS=$(refs e2e-test-images/nginx)
NONROOT_REFS=$(refs e2e-test-images/nonroot)
NONEWPRIVS_REFS=$(refs e2e-test-images/nonewprivs)
GLIBC_DNS_REFS=$(refs e2e-test-images/glibc-dns-testing)
for v in AGNHOST_REFS BUSYBOX_REFS PAUSE_REFS NGINX_REFS NONROOT_REFS NONEWPRIVS_REFS GLIBC_DNS_REFS; do
  [[ -n ${!v} ]] || fail "--list-images names no image for $v"
done
export AGNHOST_REFS BUSYBOX_REFS PAUSE_REFS NGINX_REFS NONROOT_REFS NONEWPRIVS_REFS GLIBC_DNS_REFS
imgdir=$("$REPO/scripts/build-e2e-images.sh") || fail "building the e2e images failed"
while read -r file ref; do # ref: the image's references, space-separated
  "$NODELET_BIN" image load --root "$NODELET_ROOT" -i "$imgdir/$file" >/dev/null 2>"$DIR/logs/image-load.log" ||
    fail "nodelet image load -i $imgdir/$file ($ref) failed: $(tail -3 "$DIR/logs/image-load.log")"
  say "loaded $ref"
done < "$imgdir/images.txt"

# --- 4. the suite ---------------------------------------------------------------------------
mkdir -p "$REPORT"
say "focus: $FOCUS"
say "skip:  $SKIP"
say "report: $REPORT (junit_01.xml, e2e.log)"
say "parallel processes: $PROCS (E2E_PROCS)"
# Parallel as upstream's conformance runs are (ginkgo --procs; [Serial]
# specs are skipped): most specs wait on probes, grace periods and
# back-off, not on CPU. The framework's ReportAfterSuite writes one JUnit
# report for all processes.
if ((PROCS > 1)); then
  # shellcheck disable=SC2086 # E2E_ARGS is a word list
  "$GINKGO" --procs="$PROCS" --focus="$FOCUS" --skip="$SKIP" --no-color -v \
    --timeout="${E2E_TIMEOUT:-2h}" "$E2E" -- \
    --kubeconfig="$KUBECONFIG" --provider=skeleton --report-dir="$REPORT" ${E2E_ARGS:-} 2>&1 | tee "$REPORT/e2e.log"
else
  # shellcheck disable=SC2086 # E2E_ARGS is a word list
  "$E2E" --kubeconfig="$KUBECONFIG" --provider=skeleton --report-dir="$REPORT" \
    -ginkgo.focus="$FOCUS" -ginkgo.skip="$SKIP" -ginkgo.no-color -ginkgo.v \
    -ginkgo.timeout="${E2E_TIMEOUT:-2h}" ${E2E_ARGS:-} 2>&1 | tee "$REPORT/e2e.log"
fi
rc=${PIPESTATUS[0]}

# --- 5. summary --------------------------------------------------------------------------
[[ -s $REPORT/junit_01.xml ]] || fail "the suite wrote no JUnit report (exit $rc); see $REPORT/e2e.log"
python3 - "$REPORT/junit_01.xml" <<'EOF'
import sys, xml.etree.ElementTree as ET
passed, failed, skipped = [], [], 0
for tc in ET.parse(sys.argv[1]).getroot().iter("testcase"):
    name = tc.get("name", "")
    bad = tc.find("failure") is not None or tc.find("error") is not None
    # Suite nodes ([SynchronizedBeforeSuite], [ReportAfterSuite], ...) are
    # not tests: they count only when they fail (e.g. the node check).
    if name.startswith("[") and "Suite]" in name.split(" ")[0]:
        if bad:
            failed.append(name)
        continue
    if bad:
        failed.append(name)
    elif tc.find("skipped") is not None:
        skipped += 1
    else:
        passed.append(name)
for n in passed:
    print("PASS", n)
for n in failed:
    print("FAIL", n)
print(f"({skipped} specs not selected or skipped)")
print(f"{len(passed)} passed, {len(failed)} failed")
sys.exit(1 if failed else 0)
EOF
