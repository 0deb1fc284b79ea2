#!/usr/bin/env bash
# The main job, on a fresh Debian 12 machine as root: installs what nodelet
# needs, builds it, and runs the seed tutorial's pod
# (examples/lifecycle-events.yaml): postStart writes a message that exec
# reads back; on SIGTERM `nodelet run` deletes the pod gracefully and the
# preStop hook stops the server before the grace period ends.
#
# Env: NODELET_DEMO_ROOT (default /var/lib/nodelet-demo, wiped at start),
#      NODELET_DEMO_RUN_ROOT (default /run/nodelet-demo),
#      NODELET_DEMO_IMAGES (image cache, default <target>/nodelet-test-images).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -t 1 ]; then B=$'\033[1m' N=$'\033[0m'; else B='' N=''; fi
section() { printf '\n%s==> %s%s\n' "$B" "$*" "$N"; }
show() { printf '%s$ %s%s\n' "$B" "$*" "$N"; "$@"; }

section "Installing what nodelet needs (scripts/setup.sh)"
bash scripts/setup.sh

section "Building nodelet and nodelet-monitor (release)"
cargo build --release -p nodelet -p nodelet-monitor
TARGET=${CARGO_TARGET_DIR:-target}
NODELET=$(realpath "$TARGET/release/nodelet")
IMAGES=$(realpath -m "${NODELET_DEMO_IMAGES:-$TARGET/nodelet-test-images}")

section "Building the test images (busybox, testbin) into $IMAGES"
if [ -s "$IMAGES/busybox.tar" ] && [ -s "$IMAGES/testbin.tar" ]; then
  echo "reusing $IMAGES/busybox.tar and $IMAGES/testbin.tar"
else
  bash scripts/build-test-images.sh "$IMAGES"
fi

export NODELET_ROOT=${NODELET_DEMO_ROOT:-/var/lib/nodelet-demo}
export NODELET_RUN_ROOT=${NODELET_DEMO_RUN_ROOT:-/run/nodelet-demo}
LOG=$(mktemp /tmp/nodelet-demo-run.XXXXXX.log)
RUN_PID=

# A demo interrupted earlier may have left its agent and mounts behind.
clean_roots() {
  if [ -f "$NODELET_RUN_ROOT/demo.pid" ]; then
    local pid; pid=$(cat "$NODELET_RUN_ROOT/demo.pid")
    if [ -n "$pid" ] && grep -qs nodelet "/proc/$pid/cmdline"; then
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    fi
  fi
  if [ -d "$NODELET_RUN_ROOT/runc" ]; then
    for c in $(runc --root "$NODELET_RUN_ROOT/runc" list -q 2>/dev/null); do
      runc --root "$NODELET_RUN_ROOT/runc" delete -f "$c" 2>/dev/null || true
    done
  fi
  for r in "$NODELET_ROOT" "$NODELET_RUN_ROOT"; do
    findmnt -rn -o TARGET | grep "^$r/" | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
    rm -rf "$r"
  done
}
on_exit() {
  if [ -n "$RUN_PID" ] && kill -0 "$RUN_PID" 2>/dev/null; then
    echo "demo interrupted: stopping nodelet run (pid $RUN_PID)" >&2
    kill -TERM "$RUN_PID" 2>/dev/null || true
    wait "$RUN_PID" 2>/dev/null || true
  fi
}
trap on_exit EXIT

section "Fresh demo state under $NODELET_ROOT and $NODELET_RUN_ROOT"
clean_roots
show "$NODELET" image load -i "$IMAGES/busybox.tar" -i "$IMAGES/testbin.tar"

section "Validating the tutorial's pod"
show "$NODELET" validate -f examples/lifecycle-events.yaml

section "Starting 'nodelet run -f examples/lifecycle-events.yaml' in the background (output: $LOG)"
"$NODELET" run -f examples/lifecycle-events.yaml >"$LOG" 2>&1 &
RUN_PID=$!
mkdir -p "$NODELET_RUN_ROOT"
echo "$RUN_PID" >"$NODELET_RUN_ROOT/demo.pid"
for _ in $(seq 100); do
  [ -S "$NODELET_RUN_ROOT/nodelet.sock" ] && break
  kill -0 "$RUN_PID" 2>/dev/null || { cat "$LOG"; echo "nodelet run exited early" >&2; exit 1; }
  sleep 0.1
done
show "$NODELET" wait --for=condition=Ready pod/lifecycle-demo --timeout=60s
show "$NODELET" get pod lifecycle-demo -o wide

section "The message the postStart handler wrote, read back through exec"
show "$NODELET" exec lifecycle-demo -- cat /usr/share/message

section "The pod as 'kubectl describe' shows it"
show "$NODELET" describe pod lifecycle-demo

section "Terminating: SIGTERM to 'nodelet run' deletes the pod gracefully (preStop, then the stop signal)"
START=$(date +%s.%N)
show kill -TERM "$RUN_PID"
set +e
wait "$RUN_PID"
RC=$?
set -e
RUN_PID=
END=$(date +%s.%N)
rm -f "$NODELET_RUN_ROOT/demo.pid"
printf 'nodelet run exited with status %s after %.1fs (terminationGracePeriodSeconds: 30)\n' \
  "$RC" "$(awk "BEGIN { print $END - $START }")"

section "Everything 'nodelet run' printed (events and container logs)"
cat "$LOG"

section "What that shows"
ok=1
check() { if grep -q -- "$2" "$LOG"; then echo "  ok: $1"; else echo "  MISSING: $1"; ok=0; fi; }
check "postStart ran before the container counted as Running (Started event)" "Started container lifecycle-demo-container"
check "the Killing event" "Killing .*Stopping container lifecycle-demo-container"
check "preStop stopped httpd (the container's shell saw the server end)" "httpd has stopped (preStop)"
check "the container exited on its own with code 0 (Completed)" "Terminated: Completed (exit code 0)"
check "the pod is gone" "pod/lifecycle-demo deleted"
if grep -q "FailedPreStopHook" "$LOG"; then echo "  unexpected: FailedPreStopHook"; ok=0; fi
if grep -q "SIGTERM received" "$LOG"; then echo "  unexpected: the container needed the SIGTERM"; ok=0; fi
[ "$RC" = 0 ] || { echo "  unexpected exit status $RC"; ok=0; }
if [ "$ok" = 1 ]; then echo "demo OK"; else echo "demo FAILED" >&2; exit 1; fi
