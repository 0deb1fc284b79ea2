#!/usr/bin/env bash
# End-to-end (issue 15, hooks you can see and bound): the real kubectl 1.37,
# nodelet's CLI, headless Chromium and a strict Prometheus text parser
# against the real `nodelet serve` (engine, runc, CNI, store) on a
# temporary root. Numbered checks:
#   1 `kubectl get hookdeliveries` lists the seed pod's (examples/
#     lifecycle-events-busybox.yaml) postStart and preStop with results
#   2 a failing postStart: its output in `kubectl describe hookdelivery`;
#     with hooks.nodelet.dev/output: events, in the FailedPostStartHook event
#   3 hooks.nodelet.dev/output: logs: `kubectl logs` shows the hook's lines,
#     prefixed, in order with the app's
#   4 hooks.nodelet.dev/post-start-timeout: 2s on a postStart `sleep 3600`:
#     fails after ~2 s saying it timed out, the container restarts;
#     without the annotation the hook keeps running (the kubelet's way)
#   5 `nodelet timeline pod NAME -o svg` of the deleted seed pod and of a
#     crash-looping pod: parsed, every phase drawn, times in order
#   6 the /ui/ page in headless Chromium (DevTools protocol): refused
#     without the token, lists the pod with it, draws the containers and
#     the hook bars; screenshots in the temp dir
#   7 /metrics with the kubeconfig's credentials: 401 without, strict
#     Prometheus text with them, counters moved by what the test did
# Needs root, runc, busybox-static, the CNI plugins, python3 (pip), curl,
# chromium (scripts/setup.sh installs it).
# Env: CARGO_TARGET_DIR, KEEP=1 keeps the temp dir (and the screenshots).
set -uo pipefail
started=$SECONDS
ws=$(cd "$(dirname "$0")/.." && pwd)
E2E_NAME=hooks-e2e
# shellcheck source=e2e-lib.sh
source "$ws/scripts/e2e-lib.sh"
command -v chromium >/dev/null || die "chromium is missing (scripts/setup.sh installs it)"
e2e_start
py=$ws/scripts/e2e
metrics() { "$K" get --raw /metrics >"$1" 2>&1; }
metrics "$tmp/metrics-0.txt"

# The hook delivery of POD's container, by hook (PostStart|PreStop), as
# `kubectl get -o name` would print it (newest attempt last).
delivery() {
    "$K" get hookdeliveries --field-selector "spec.podName=$1,spec.hook=$2" -o name 2>/dev/null | tail -1
}
# seconds between two RFC 3339 stamps
span() { python3 -c 'import sys; from datetime import datetime as d; f=lambda s: d.fromisoformat(s.replace("Z","+00:00")); print("%.3f" % (f(sys.argv[2]) - f(sys.argv[1])).total_seconds())' "$1" "$2"; }

# --- 1 -------------------------------------------------------------------------
section 1 "kubectl get hookdeliveries: the seed pod's postStart and preStop with results"
expect "apply the seed pod" '^pod/lifecycle-demo created$' "$K" apply -f "$ws/examples/lifecycle-events-busybox.yaml"
expect "seed pod Ready" 'condition met' "$K" wait --for=condition=Ready pod/lifecycle-demo --timeout=60s
eventually 20 "postStart listed as Succeeded" \
    '^NAME +POD +CONTAINER +HOOK +HANDLER +ATTEMPT +' \
    'lifecycle-demo +lifecycle-demo-container +PostStart +Exec +1 +Succeeded +[0-9.]+s ' \
    -- "$K" get hookdeliveries
expect "api-resources lists hookdeliveries" '^hookdeliveries +hd +nodelet\.dev/v1 +true +HookDelivery' \
    "$K" api-resources --api-group=nodelet.dev
expect "delete the seed pod" 'pod "lifecycle-demo" deleted' "$K" delete pod lifecycle-demo --grace-period=10 --timeout=60s
out=$("$K" get hookdeliveries 2>&1)
n=$(grep -Ec ' lifecycle-demo +lifecycle-demo-container ' <<<"$out")
[[ $n == 2 ]] && good "exactly two deliveries for the seed pod" || bad "want 2 deliveries of lifecycle-demo, got $n" "$out"
grep -Eq 'lifecycle-demo +lifecycle-demo-container +PreStop +Exec +1 +Succeeded +[0-9.]+s ' <<<"$out" &&
    good "preStop listed as Succeeded" || bad "no succeeded preStop row" "$out"
expect "label selector by pod" 'PreStop' "$K" get hookdeliveries -l nodelet.dev/pod=lifecycle-demo,nodelet.dev/hook=PreStop

# --- 2 -------------------------------------------------------------------------
section 2 "a failing postStart: output in describe hookdelivery and, with output: events, in the event"
cat >"$tmp/fail.yaml" <<'YAML'
apiVersion: v1
kind: Pod
metadata:
  name: hook-fails
  annotations: {hooks.nodelet.dev/output: events}
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: nodelet.local/busybox
    command: [sleep, "3600"]
    lifecycle:
      postStart:
        exec:
          command: [sh, -c, "echo hook-stdout-line-1; echo hook-stderr-line >&2; echo hook-stdout-line-2; exit 3"]
YAML
"$K" apply -f "$tmp/fail.yaml" >/dev/null
eventually 30 "FailedPostStartHook event carries the output excerpt" \
    'FailedPostStartHook' 'hook-stdout-line-1' 'hook-stderr-line' \
    -- "$K" get events --field-selector involvedObject.name=hook-fails,reason=FailedPostStartHook -o 'jsonpath={.items[*].reason}: {.items[*].message}'
d=$(delivery hook-fails PostStart)
[[ -n "$d" ]] && good "delivery of the failing postStart: $d" || bad "no hook delivery for hook-fails"
out=$("$K" describe "$d" 2>&1)
for re in '^Name: +hook-fails' 'Kind: +HookDelivery' 'Phase: +Failed' 'Exit Code: +3' \
    'hook-stdout-line-1' 'hook-stdout-line-2' 'hook-stderr-line' 'Reason: +Error'; do
    grep -Eq -- "$re" <<<"$out" && good "describe hookdelivery shows /$re/" || bad "no /$re/ in 'kubectl describe $d'" "$out"
done
expect "get hookdeliveries -o wide: Failed, exit 3" 'hook-fails +app +PostStart +Exec +1 +Failed +[0-9.]+s +3 ' \
    "$K" get hookdeliveries -o wide --field-selector spec.podName=hook-fails
"$K" delete pod hook-fails --grace-period=0 --force --wait=false >/dev/null 2>&1

# --- 3 -------------------------------------------------------------------------
section 3 "output: logs: kubectl logs shows the hook's lines, prefixed, in order with the app's"
cat >"$tmp/logs.yaml" <<'YAML'
apiVersion: v1
kind: Pod
metadata:
  name: hook-logs
  annotations: {hooks.nodelet.dev/output: logs}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: nodelet.local/busybox
    command: [sh, -c, "echo app-line-1; sleep 3; echo app-line-2; exec sleep 3600"]
    lifecycle:
      postStart:
        exec:
          command: [sh, -c, "sleep 1; echo hook-line-1; sleep 0.3; echo hook-line-2 >&2; sleep 0.3; echo hook-line-3"]
YAML
"$K" apply -f "$tmp/logs.yaml" >/dev/null
eventually 30 "the app's second line arrived" 'app-line-2' -- "$K" logs hook-logs
out=$("$K" logs hook-logs 2>&1)
want=$'app-line-1\n[hook postStart] hook-line-1\n[hook postStart] hook-line-2\n[hook postStart] hook-line-3\napp-line-2'
got=$(grep -E 'line-[0-9]$' <<<"$out")
[[ "$got" == "$want" ]] && good "hook lines prefixed and in order with the app's" ||
    bad "kubectl logs hook-logs: want the app's and the hook's lines interleaved by time" "$out"
"$K" delete pod hook-logs --grace-period=0 --force --wait=false >/dev/null 2>&1

# --- 4 -------------------------------------------------------------------------
section 4 "post-start-timeout: 2s fails a postStart sleep 3600 after ~2 s and restarts; no annotation, no timeout"
for p in hook-timeout hook-no-timeout; do
    cat >"$tmp/$p.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata:
  name: $p
  annotations: {nodelet.dev/crashloop-backoff-max: 1s$([[ $p == hook-timeout ]] && echo ', hooks.nodelet.dev/post-start-timeout: 2s')}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: nodelet.local/busybox
    command: [sleep, "3600"]
    lifecycle:
      postStart:
        exec:
          command: [sleep, "3600"]
YAML
    "$K" apply -f "$tmp/$p.yaml" >/dev/null
done
eventually 20 "FailedPostStartHook says it timed out after 2s" 'PostStartHook failed: timed out after 2s' \
    -- "$K" get events --field-selector involvedObject.name=hook-timeout,reason=FailedPostStartHook -o 'jsonpath={.items[*].message}'
d=$(delivery hook-timeout PostStart)
st=$("$K" get "$d" -o 'jsonpath={.status.startTime} {.status.completionTime} {.status.phase} {.spec.timeout}' 2>&1)
read -r a b phase tmo <<<"$st"
took=$(span "$a" "$b" 2>/dev/null || echo -1)
awk -v t="$took" 'BEGIN { exit !(t >= 1.9 && t <= 3.5) }' && [[ $phase == TimedOut && $tmo == 2s ]] &&
    good "the delivery took ${took}s (TimedOut, timeout 2s)" || bad "delivery $d: want TimedOut after ~2s" "$st (took $took)"
eventually 30 "the container restarts" '^[1-9]' \
    -- "$K" get pod hook-timeout -o 'jsonpath={.status.containerStatuses[0].restartCount}'
# The pod without the annotation has been in its postStart as long.
out=$("$K" get pod hook-no-timeout -o 'jsonpath={.status.containerStatuses[0].restartCount} {.status.containerStatuses[0].state}' 2>&1)
[[ $out == 0* ]] && good "without the annotation: no restart" || bad "hook-no-timeout restarted" "$out"
expect_not "without the annotation: no FailedPostStartHook" 'FailedPostStartHook' \
    "$K" get events --field-selector involvedObject.name=hook-no-timeout
expect "without the annotation: its delivery is still Running" 'hook-no-timeout +app +PostStart +Exec +1 +Running ' \
    "$K" get hookdeliveries --field-selector spec.podName=hook-no-timeout
"$K" delete pod hook-timeout hook-no-timeout --grace-period=0 --force --wait=false >/dev/null 2>&1

# --- 5 -------------------------------------------------------------------------
section 5 "nodelet timeline -o svg: the deleted seed pod and a crash-looping pod"
tl() { "$N" timeline pod "$1" --run-root "$run" -o svg; }
if tl lifecycle-demo >"$tmp/seed.svg" 2>"$tmp/seed.err"; then
    out=$(python3 "$py/hooks_svg.py" "$tmp/seed.svg" deleted lifecycle-demo-container 2>&1) &&
        good "seed pod's SVG: $(grep -c '^ok' <<<"$out") checks" || bad "seed pod's SVG" "$out"
    echo "$out" | sed 's/^/    /'
else
    bad "nodelet timeline pod lifecycle-demo failed" "$(cat "$tmp/seed.err")"
fi
cat >"$tmp/crash.yaml" <<'YAML'
apiVersion: v1
kind: Pod
metadata:
  name: crash-loop
  annotations: {nodelet.dev/crashloop-backoff-max: 1s}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: nodelet.local/busybox
    command: [sh, -c, "echo crashing; exit 7"]
YAML
"$K" apply -f "$tmp/crash.yaml" >/dev/null
eventually 40 "crash-loop restarted 3 times" '^[3-9]' \
    -- "$K" get pod crash-loop -o 'jsonpath={.status.containerStatuses[0].restartCount}'
if tl crash-loop >"$tmp/crash.svg" 2>"$tmp/crash.err"; then
    out=$(python3 "$py/hooks_svg.py" "$tmp/crash.svg" crashloop app 2>&1) &&
        good "crash-loop's SVG: $(grep -c '^ok' <<<"$out") checks" || bad "crash-loop's SVG" "$out"
    echo "$out" | sed 's/^/    /'
else
    bad "nodelet timeline pod crash-loop failed" "$(cat "$tmp/crash.err")"
fi
expect "-o html is a page with the picture" '<svg .*class="nodelet-timeline"' "$N" timeline pod crash-loop --run-root "$run" -o html
"$K" delete pod crash-loop --grace-period=0 --force --wait=false >/dev/null 2>&1

# --- 6 -------------------------------------------------------------------------
section 6 "/ui/ in headless Chromium: containers and hook bars drawn"
mkdir -p "$tmp/ui"
out=$(timeout 120 python3 "$py/hooks_ui.py" "$(command -v chromium)" "https://$addr" "$root/pki/token" \
    default/lifecycle-demo "$tmp/ui" 2>&1)
rc=$?
while read -r l; do
    case $l in
        ok*) good "${l#ok }" ;;
        "not ok"*) bad "${l#not ok }" ;;
    esac
done <<<"$out"
((rc == 0)) || bad "hooks_ui.py failed ($rc)" "$out"
[[ -n "${KEEP:-}" ]] && echo "# screenshots: $tmp/ui/index.png $tmp/ui/pod.png"

# --- 7 -------------------------------------------------------------------------
section 7 "/metrics: authenticated, strict Prometheus text, counters move"
code=$(curl -sk -o /dev/null -w '%{http_code}' "https://$addr/metrics")
[[ $code == 401 ]] && good "/metrics without credentials: 401" || bad "/metrics without credentials answered $code"
# An HTTPS postStart against a plain HTTP server falls back to HTTP (the
# kubelet's fallback, counted); a preStop sleep longer than the grace the
# delete gives is cut short (counted).
cat >"$tmp/metrics-pod.yaml" <<'YAML'
apiVersion: v1
kind: Pod
metadata: {name: hook-metrics}
spec:
  terminationGracePeriodSeconds: 30
  containers:
  - name: app
    image: nodelet.local/busybox
    command: [sh, -c, "mkdir -p /w && echo ok >/w/index.html && exec httpd -f -p 8080 -h /w"]
    lifecycle:
      postStart:
        httpGet: {scheme: HTTPS, port: 8080, path: /}
      preStop:
        sleep: {seconds: 20}
YAML
expect "apply a pod with an HTTPS postStart and a preStop sleep" 'created' "$K" apply -f "$tmp/metrics-pod.yaml"
expect "it is Ready" 'condition met' "$K" wait --for=condition=Ready pod/hook-metrics --timeout=60s
eventually 20 "the HTTPS postStart fell back to HTTP (event)" 'LifecycleHTTPFallback' \
    -- "$K" get events --field-selector involvedObject.name=hook-metrics
metrics "$tmp/metrics-1.txt"
out=$(python3 "$py/hooks_metrics.py" parse "$tmp/metrics-1.txt" 2>&1) &&
    good "/metrics parses strictly ($(wc -l <<<"$out") series)" || bad "/metrics does not parse" "$out"
for re in '^kubelet_running_pods [1-9]' '^kubelet_running_containers\{container_state="running"\} [1-9]' \
    '^kubelet_pod_stop_signals_count\{signal="SIGTERM"\} [1-9]' '^kubelet_pod_start_duration_seconds_count [1-9]' \
    '^kubelet_pod_termination_grace_period_exceeded_total [0-9]' '^nodelet_image_pull_duration_seconds_count [0-9]' \
    '^# TYPE nodelet_hook_redeliveries counter'; do
    grep -Eq "$re" <<<"$out" || grep -Eq "$re" "$tmp/metrics-1.txt" && good "/$re/" || bad "no /$re/ in /metrics" "$out"
done
expect "delete with a 2 s grace cuts the preStop sleep short" 'deleted' \
    "$K" delete pod hook-metrics --grace-period=2 --timeout=60s
metrics "$tmp/metrics-2.txt"
check_increased() {
    local out l
    out=$(python3 "$py/hooks_metrics.py" increased "$@" 2>&1)
    while read -r l; do
        case $l in
            ok*) good "${l#ok }" ;;
            *) bad "$l" "$out" ;;
        esac
    done <<<"$out"
}
check_increased "$tmp/metrics-0.txt" "$tmp/metrics-1.txt" \
    'kubelet_lifecycle_handler_http_fallbacks_total' \
    'nodelet_hook_delivery_duration_seconds_count{hook="PostStart",handler="HTTPGet",result="Succeeded"}'
check_increased "$tmp/metrics-1.txt" "$tmp/metrics-2.txt" \
    'kubelet_lifecycle_handler_sleep_terminated_total'
check_increased "$tmp/metrics-0.txt" "$tmp/metrics-2.txt" \
    'nodelet_hook_delivery_duration_seconds_count{hook="PostStart",handler="Exec",result="Failed"}' \
    'nodelet_hook_delivery_duration_seconds_count{hook="PostStart",handler="Exec",result="TimedOut"}' \
    'nodelet_hook_delivery_duration_seconds_count{hook="PostStart",handler="Exec",result="Succeeded"}' \
    'nodelet_hook_delivery_duration_seconds_count{hook="PreStop",handler="Exec",result="Succeeded"}' \
    'kubelet_pod_start_duration_seconds_count'

summary 1 2 3 4 5 6 7
