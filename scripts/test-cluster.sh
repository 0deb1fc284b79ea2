#!/usr/bin/env bash
# Checks scripts/cluster.sh end to end, from nothing: down + wipe, up, then
#   1. /readyz is ok (admin kubeconfig)
#   2. ServiceAccount default and ConfigMap kube-root-ca.crt exist in default
#   3. node-1's client cert: may create Node node-1 (Node authorizer +
#      NodeRestriction), may not create node-2
#   4. a CSR created with the bootstrap token (signer
#      kubernetes.io/kube-apiserver-client-kubelet) is approved and signed,
#      and the issued certificate authenticates as system:node:node-1
#   5. up again is idempotent (nothing restarted)
#   6. down leaves no process and no mount under the cluster dir
# Prints timings (up from nothing, warm up, down) and the control plane's RSS,
# then `N passed, N failed`. Uses its own cluster dir and ports unless told
# otherwise (NODELET_CLUSTER_DIR and the NODELET_*_PORT variables),
# so it does not disturb a cluster that is up.
set -uo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
export NODELET_CLUSTER_DIR=${NODELET_CLUSTER_DIR:-/var/lib/nodelet-cluster-test}
export NODELET_APISERVER_PORT=${NODELET_APISERVER_PORT:-16443}
export NODELET_ETCD_PORT=${NODELET_ETCD_PORT:-12379}
export NODELET_KUBELET_PORT=${NODELET_KUBELET_PORT:-20250}
export NODELET_KCM_PORT=${NODELET_KCM_PORT:-20257}
export NODELET_SCHEDULER_PORT=${NODELET_SCHEDULER_PORT:-20259}
D=$NODELET_CLUSTER_DIR
C="$REPO/scripts/cluster.sh"

pass=0 failed=0
ok() { pass=$((pass + 1)); echo "ok - $1"; }
bad() { failed=$((failed + 1)); echo "not ok - $1"; [[ -n "${2:-}" ]] && sed 's/^/    | /' <<<"$2"; }

"$C" down >/dev/null 2>&1
rm -rf "$D"
t=$SECONDS
out=$("$C" up 2>&1) && ok "up from nothing ($((SECONDS - t)) s)" || { bad "up" "$out"; echo "$pass passed, $failed failed"; exit 1; }
K=$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')/kubectl
export KUBECONFIG=$D/admin.kubeconfig

r=$("$K" get --raw /readyz 2>&1)
[[ $r == ok ]] && ok "/readyz is ok" || bad "/readyz" "$r"
r=$("$K" get serviceaccount default -n default -o name 2>&1)
[[ $r == serviceaccount/default ]] && ok "ServiceAccount default/default exists" || bad "default ServiceAccount" "$r"
r=$("$K" get configmap kube-root-ca.crt -n default -o name 2>&1)
[[ $r == configmap/kube-root-ca.crt ]] && ok "ConfigMap default/kube-root-ca.crt exists" || bad "kube-root-ca.crt" "$r"

T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
node_json() {
  printf '{"apiVersion":"v1","kind":"Node","metadata":{"name":"%s"},"spec":{"taints":[{"key":"nodelet.test/fake","effect":"NoSchedule"}]}}' "$1"
}
had_node=$("$K" get node node-1 -o name 2>/dev/null)
if [[ -z $had_node ]]; then
  r=$(node_json node-1 | "$K" --kubeconfig "$D/node-1.kubeconfig" create -f - 2>&1)
  [[ $r == "node/node-1 created" ]] && ok "node-1's cert may create Node node-1" || bad "create Node node-1 as node-1" "$r"
  "$K" delete node node-1 --wait=false >/dev/null 2>&1
else
  r=$("$K" --kubeconfig "$D/node-1.kubeconfig" auth can-i update nodes/node-1 2>&1)
  [[ $r == yes ]] && ok "node-1 (running) may update Node node-1" || bad "node-1 update node-1" "$r"
fi
r=$(node_json node-2 | "$K" --kubeconfig "$D/node-1.kubeconfig" create -f - 2>&1)
[[ $r == *'node "node-1" is not allowed to modify node "node-2"'* ]] &&
  ok "node-1's cert may not create Node node-2 (NodeRestriction)" || bad "create Node node-2 as node-1 was not refused" "$r"

openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/k.key" 2>/dev/null
openssl req -new -key "$T/k.key" -subj "/O=system:nodes/CN=system:node:node-1" -out "$T/k.csr" 2>/dev/null
cat > "$T/csr.yaml" <<EOF
apiVersion: certificates.k8s.io/v1
kind: CertificateSigningRequest
metadata: {generateName: "test-node-csr-"}
spec:
  signerName: kubernetes.io/kube-apiserver-client-kubelet
  usages: [digital signature, client auth]
  request: $(base64 -w0 "$T/k.csr")
EOF
csr=$("$K" --kubeconfig "$D/node-1-bootstrap.kubeconfig" create -f "$T/csr.yaml" -o name 2>&1)
if [[ $csr == certificatesigningrequest* ]]; then
  for _ in $(seq 60); do
    "$K" get "$csr" -o 'jsonpath={.status.certificate}' 2>/dev/null | base64 -d > "$T/k.crt" 2>/dev/null
    [[ -s $T/k.crt ]] && break
    sleep 0.5
  done
  cond=$("$K" get "$csr" -o 'jsonpath={.status.conditions[*].type}' 2>&1)
  if [[ -s $T/k.crt && $cond == *Approved* ]]; then
    ok "bootstrap-token CSR approved and signed ($(openssl x509 -in "$T/k.crt" -noout -subject 2>&1))"
    who=$("$K" --server "https://127.0.0.1:$NODELET_APISERVER_PORT" --certificate-authority "$D/pki/ca.crt" \
      --client-certificate "$T/k.crt" --client-key "$T/k.key" --kubeconfig /dev/null auth whoami -o 'jsonpath={.status.userInfo.username}' 2>&1)
    [[ $who == system:node:node-1 ]] && ok "the issued certificate authenticates as system:node:node-1" ||
      bad "issued certificate" "$who"
  else
    bad "CSR not approved/signed (conditions: $cond)"
  fi
  "$K" delete "$csr" >/dev/null 2>&1
else
  bad "creating a CSR with the bootstrap token" "$csr"
fi

rss=0
for n in etcd kube-apiserver kube-controller-manager kube-scheduler; do
  pid=$(cat "$D/pids/$n.pid")
  kb=$(ps -o rss= -g "$pid" | awk '{s+=$1} END {print s+0}')
  echo "# rss $n $((kb / 1024)) MiB"
  rss=$((rss + kb))
done
echo "# rss control plane $((rss / 1024)) MiB"

pids_before=$(cat "$D"/pids/*.pid | sort)
t=$SECONDS
out=$("$C" up 2>&1)
rc=$?
pids_after=$(cat "$D"/pids/*.pid | sort)
[[ $rc == 0 && "$pids_before" == "$pids_after" ]] &&
  ok "up again is idempotent ($((SECONDS - t)) s, nothing restarted)" || bad "up again" "$out"

t=$SECONDS
out=$("$C" down 2>&1) && ok "down ($((SECONDS - t)) s): $(tail -1 <<<"$out")" || bad "down" "$out"
left=$(ps -eo pid=,args= | grep -F "$D/" | grep -v grep)
[[ -z $left ]] && ok "no process left" || bad "processes left" "$left"
[[ -z $(awk -v d="$D/" 'index($5, d) == 1' /proc/self/mountinfo) ]] && ok "no mount left" || bad "mounts left"
echo "$pass passed, $failed failed"
[[ $failed == 0 ]]
