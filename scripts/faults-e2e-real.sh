#!/usr/bin/env bash
# End-to-end fault injection (issue 14): the real `nodelet serve` (engine,
# runc, CNI, store) stopped by SIGKILL at each of its crash points
# (crates/nodelet-engine/src/failpoints.rs, armed with NODELET_CRASH_AT in
# the debug build), then restarted unarmed. Every pod has an exec postStart
# and preStop writing `<hook> <delivery id> <attempt>` to a hostPath file,
# so what ran is counted on the host. After each restart:
#   - every container exactly once: the runtime's records and runc's list
#     agree, one container per pod, name and attempt, attempts 0..restarts,
#     none of a pod the API does not list (scripts/e2e/faults_check.py)
#   - every started hook delivered at least once, same delivery id across
#     attempts, attempts shown by `kubectl get hookdeliveries`; a hook
#     whose outcome was journalled is not run again
#   - a pod being deleted runs its preStop and is killed at the grace
#     counted from its deletion (± 1 s; the kubelet restarts the full grace)
#   - exit codes and restart counts right
# Sections: 1..10 one per crash point, 11 the seed's case (a postStart
# appending a line, the agent killed from outside while it runs),
# 12 everything deleted leaves no container behind, 13 the store's disk
# (a small tmpfs) filled to the brim and freed, 14 the store's filesystem
# (a small ext4) forced read-only by an ext4 error, then repaired.
# Needs root, runc, busybox-static, the CNI plugins, python3 (pip), curl,
# e2fsprogs and a kernel with ext4's sysfs trigger_fs_error.
# Env: CARGO_TARGET_DIR, KEEP=1 keeps the temp dir.
set -uo pipefail
started=$SECONDS
ws=$(cd "$(dirname "$0")/.." && pwd)
# Its pods mount hostPath (to count hook runs on the host), which the
# baseline Pod Security level (the agent's default) refuses: the agent it
# starts enforces `privileged`.
export NODELET_POD_SECURITY_DEFAULT=privileged
E2E_NAME=faults-e2e
E2E_SUBNET=10.251
E2E_BRIDGE=nlf
# shellcheck source=e2e-lib.sh
source "$ws/scripts/e2e-lib.sh"
e2e_start
py=$ws/scripts/e2e
hosts=$tmp/h
mkdir -p "$hosts"

# pod NAME [key=value...]: a pod whose hooks write to $hosts/NAME/log.
#   grace=N (terminationGracePeriodSeconds, 2), term=exit|ignore (the app
#   on SIGTERM), app=CMD (instead of the loop), post=CMD / pre=CMD (run
#   before the hook's line is written), live=CMD (an exec liveness probe),
#   restart=Always|Never.
pod() {
    local name=$1 grace=2 term=exit app="" post="" pre="" live="" restart=Always kv
    shift
    for kv in "$@"; do local "$kv"; done
    local trap_cmd="trap 'exit 0' TERM"
    [[ $term == ignore ]] && trap_cmd="trap '' TERM"
    [[ -n $app ]] || app="$trap_cmd; while :; do sleep 0.2; done"
    mkdir -p "$hosts/$name"
    python3 - "$name" "$grace" "$app" "$post" "$pre" "$live" "$restart" "$hosts/$name" <<'PY'
import json, sys
name, grace, app, post, pre, live, restart, host = sys.argv[1:]
def hook(kind, before):
    line = f'echo "{kind} $NODELET_HOOK_DELIVERY_ID $NODELET_HOOK_ATTEMPT" >> /host/log'
    return {"exec": {"command": ["sh", "-c", (before + "; " if before else "") + line]}}
c = {
    "name": "app", "image": "nodelet.local/busybox",
    "command": ["sh", "-c", app],
    "volumeMounts": [{"name": "host", "mountPath": "/host"}],
    "lifecycle": {"postStart": hook("poststart", post), "preStop": hook("prestop", pre)},
}
if live:
    c["livenessProbe"] = {"exec": {"command": ["sh", "-c", live]},
                          "periodSeconds": 1, "failureThreshold": 1}
print(json.dumps({
    "apiVersion": "v1", "kind": "Pod",
    "metadata": {"name": name, "annotations": {
        "hooks.nodelet.dev/delivery-id": "true",
        "nodelet.dev/crashloop-backoff-max": "2s"}},
    "spec": {"terminationGracePeriodSeconds": int(grace), "restartPolicy": restart,
             "containers": [c],
             "volumes": [{"name": "host", "hostPath": {"path": host, "type": "DirectoryOrCreate"}}]},
}))
PY
}
apply_pod() { pod "$@" >"$tmp/$1.json" && "$K" apply -f "$tmp/$1.json" >/dev/null; }
# lines NAME HOOK: how many lines the pod's HOOK (poststart|prestop) wrote.
lines() {
    local n
    n=$(grep -c "^$2 " "$hosts/$1/log" 2>/dev/null)
    echo "${n:-0}"
}

# start_armed POINT: the agent with POINT armed; crashed POINT waits until
# it died there by SIGKILL.
start_armed() {
    log_mark=$(wc -l <"$tmp/server.log")
    NODELET_CRASH_AT=$1 start_server
}
crashed() {
    local point=$1 secs=${2:-30} rc
    local end=$((SECONDS + secs))
    while kill -0 "$server" 2>/dev/null && ((SECONDS < end)); do sleep 0.1; done
    if kill -0 "$server" 2>/dev/null; then
        bad "the agent did not reach $point within ${secs}s" "$(tail -n +"$((log_mark + 1))" "$tmp/server.log" | tail -15)"
        kill9_server
        return 1
    fi
    wait "$server"
    rc=$?
    server=""
    if ((rc == 137)) && tail -n +"$((log_mark + 1))" "$tmp/server.log" | grep -q "crash point $point reached: SIGKILL"; then
        good "the agent died by SIGKILL at $point"
    else
        bad "the agent exited $rc, not by SIGKILL at $point" "$(tail -n +"$((log_mark + 1))" "$tmp/server.log" | tail -15)"
    fi
}
# restart: the agent again, unarmed.
restart() { start_server; good "restarted unarmed"; }

# containers: every container exactly once, none orphaned (retried a few
# times: a restart being made shows briefly).
containers() {
    local out i
    for i in 1 2 3 4 5 6; do
        out=$("$K" get pods -o json 2>&1 | python3 "$py/faults_check.py" containers "$root" "$run" 2>&1) && break
        sleep 0.5
    done
    if grep -q '^ok ' <<<"$out"; then good "$(grep '^ok ' <<<"$out" | sed 's/^ok //')"; else bad "containers not each once" "$out"; fi
    grep '^# ' <<<"$out" | sed 's/^/    /'
}
# hooks NAME HOOK MIN MAX: the pod's HOOK wrote MIN..MAX lines, all with
# one delivery id.
hooks() {
    local name=$1 hook=$2 min=$3 max=$4 n ids
    n=$(lines "$name" "$hook")
    if ((n >= min && n <= max)); then
        good "$name: $hook ran $n time(s) (want $min..$max)"
    else
        bad "$name: $hook ran $n time(s), want $min..$max" "$(cat "$hosts/$name/log" 2>&1)"
    fi
    ids=$(grep "^$hook " "$hosts/$name/log" 2>/dev/null | awk '{print $2}' | sort -u | wc -l)
    ((n == 0 || ids == 1)) && good "$name: one delivery id across its $hook runs" ||
        bad "$name: $ids delivery ids for one $hook" "$(cat "$hosts/$name/log")"
}
# delivery NAME HOOK ATTEMPT: the HookDelivery record's attempt and result.
lower() { tr '[:upper:]' '[:lower:]' <<<"$1"; }
delivery_state() {
    "$K" get hookdelivery "$1.app.$(lower "$2").0" -o json |
        python3 -c 'import json, sys; s = json.load(sys.stdin)["status"]; print(s["attempt"], s.get("result"), len(s["attempts"]))'
}
delivery() {
    local name=$1 hook=$2 attempt=$3 out id
    eventually 20 "$name: $hook delivery Succeeded at attempt $attempt, $attempt attempt(s) listed" \
        "^$attempt Succeeded $attempt\$" -- delivery_state "$name" "$hook"
    out=$("$K" get hookdeliveries -l "nodelet.dev/pod=$name,nodelet.dev/hook=$hook" 2>&1)
    grep -Eq "^$name\.app\.[a-z]+\.0 +$name +app +$hook +Exec +$attempt +Succeeded " <<<"$out" &&
        good "$name: kubectl get hookdeliveries shows attempt $attempt" || bad "$name: no $hook row with attempt $attempt" "$out"
    # The id the hook saw is the record's.
    id=$("$K" get hookdelivery "$name.app.$(lower "$hook").0" -o jsonpath='{.spec.deliveryID}' 2>&1)
    if grep -q "^$(lower "$hook") $id " "$hosts/$name/log" 2>/dev/null; then
        good "$name: the hook saw the record's delivery id"
    else
        bad "$name: delivery id $id not in the hook's lines" "$(cat "$hosts/$name/log" 2>&1)"
    fi
}
running() {
    eventually 40 "$1 Running, restartCount ${2:-0}" "^true ${2:-0}\$" \
        -- "$K" get pod "$1" -o 'jsonpath={.status.containerStatuses[0].ready} {.status.containerStatuses[0].restartCount}'
}
gone() { eventually "${2:-40}" "$1 gone" 'NotFound' -- "$K" get pod "$1"; }
# grace NAME SECONDS EXIT: the container was killed SECONDS after the
# deletion (± 1 s) and exited with EXIT.
grace() {
    local out
    "$K" get podtimeline "$1" -o json >"$tmp/$1.timeline.json" 2>&1
    out=$(python3 "$py/faults_check.py" grace "$tmp/$1.timeline.json" app "$2" 2>&1)
    if grep -q '^ok ' <<<"$out"; then good "$1: ${out#ok }"; else bad "$1: grace not respected" "$out"; fi
    if grep -q "exit code $3\$" <<<"$out"; then good "$1: exit code $3"; else bad "$1: want exit code $3" "$out"; fi
}
# clean: every pod deleted and gone before the next point is armed (an
# armed agent must reach its point in its own scenario only).
clean() {
    "$K" delete pods --all --grace-period=1 --wait=false >/dev/null 2>&1
    local end=$((SECONDS + 30))
    while ((SECONDS < end)); do
        [[ -z $("$K" get pods -o name 2>/dev/null) ]] && return 0
        sleep 0.3
    done
    bad "pods still there after 30 s" "$("$K" get pods 2>&1)"
}
# to_armed POINT: from the running unarmed agent to one with POINT armed
# (a kill -9: its pods are adopted).
to_armed() { kill9_server; start_armed "$1"; }

# --- 1 -------------------------------------------------------------------------
section 1 "after-image-before-create: the container made once after restart"
to_armed after-image-before-create
apply_pod p1
crashed after-image-before-create
restart
running p1
containers
hooks p1 poststart 1 1
delivery p1 PostStart 1

# --- 2 -------------------------------------------------------------------------
section 2 "after-create-before-journal: the started container adopted, not duplicated"
to_armed after-create-before-journal
apply_pod p2
crashed after-create-before-journal
restart
running p2
containers
hooks p2 poststart 1 1
delivery p2 PostStart 1

# --- 3 -------------------------------------------------------------------------
section 3 "hook-after-intent: the postStart delivered again (attempt 2)"
to_armed hook-after-intent
apply_pod p3
crashed hook-after-intent
restart
running p3
containers
hooks p3 poststart 1 1
grep -q '^poststart [^ ]* 2$' "$hosts/p3/log" && good "p3: the hook ran as attempt 2" || bad "p3: no attempt 2 line" "$(cat "$hosts/p3/log")"
delivery p3 PostStart 2

# --- 4 -------------------------------------------------------------------------
section 4 "hook-before-outcome: ran, outcome lost: delivered again, at least once"
to_armed hook-before-outcome
apply_pod p4
crashed hook-before-outcome
restart
running p4
containers
hooks p4 poststart 2 2
expect "p4: attempts 1 and 2 with one id" '^1 2$' sh -c "awk '/^poststart/ {print \$3}' '$hosts/p4/log' | sort | xargs"
delivery p4 PostStart 2

# --- 5 -------------------------------------------------------------------------
section 5 "after-poststart-before-running: outcome journalled, not run again"
to_armed after-poststart-before-running
apply_pod p5
crashed after-poststart-before-running
restart
running p5
containers
hooks p5 poststart 1 1
delivery p5 PostStart 1
clean

# --- 6 -------------------------------------------------------------------------
section 6 "kill-before-prestop: preStop delivered after restart, killed at deletion + grace"
apply_pod p6 grace=8 term=ignore pre="sleep 1"
running p6
to_armed kill-before-prestop
"$K" delete pod p6 --wait=false >/dev/null
crashed kill-before-prestop
restart
gone p6 30
hooks p6 prestop 1 1
delivery p6 PreStop 1
grace p6 8 137
containers

# --- 7 -------------------------------------------------------------------------
section 7 "kill-after-stop-signal: preStop not run again, killed at deletion + grace"
apply_pod p7 grace=6 term=ignore
running p7
to_armed kill-after-stop-signal
"$K" delete pod p7 --wait=false >/dev/null
crashed kill-after-stop-signal
restart
gone p7 30
hooks p7 prestop 1 1
delivery p7 PreStop 1
grace p7 6 137
containers

# --- 8 -------------------------------------------------------------------------
section 8 "backoff-entered (2nd): restarts and back-off continue, exit code 7"
to_armed backoff-entered@2
apply_pod p8 app="sleep 1; exit 7"
crashed backoff-entered 40
restart
eventually 40 "p8: restartCount went on past 2, last exit 7" '^([3-9]|[1-9][0-9]) 7$' \
    -- "$K" get pod p8 -o 'jsonpath={.status.containerStatuses[0].restartCount} {.status.containerStatuses[0].lastState.terminated.exitCode}'
containers
n=$(lines p8 poststart)
((n >= 3)) && good "p8: a postStart per container ($n)" || bad "p8: $n postStart lines for 3+ containers"
clean

# --- 9 -------------------------------------------------------------------------
section 9 "teardown-between-containers: deletion finishes after restart, preStop once"
apply_pod p9 grace=4
running p9
to_armed teardown-between-containers
"$K" delete pod p9 --wait=false >/dev/null
crashed teardown-between-containers
restart
gone p9 30
hooks p9 prestop 1 1
delivery p9 PreStop 1
grace p9 0 0
containers

# --- 10 ------------------------------------------------------------------------
section 10 "probe-kill-started: the liveness kill happens after restart, once"
# The probe fails its first two runs: the first reaches the point, the
# second (after restart) kills; the new container's probe passes.
to_armed probe-kill-started
apply_pod p10 app="trap 'exit 143' TERM; while :; do sleep 0.2; done" \
    live='n=$(cat /host/probes 2>/dev/null || echo 0); echo $((n + 1)) >/host/probes; [ "$n" -ge 2 ]'
crashed probe-kill-started 40
restart
running p10 1
expect "p10: last exit 143 (SIGTERM honoured)" '^143$' \
    "$K" get pod p10 -o 'jsonpath={.status.containerStatuses[0].lastState.terminated.exitCode}'
containers
hooks p10 prestop 1 1
expect "p10: one Killing event for the liveness failure" '^1$' sh -c \
    "'$K' get events --field-selector involvedObject.name=p10,reason=Killing -o name | wc -l"
clean

# --- 11 ------------------------------------------------------------------------
section 11 "the seed's case: agent kill -9 while a postStart appends a line → the line, Running"
apply_pod seed post="sleep 3"
eventually 20 "seed: its postStart is being delivered" '^Running$' \
    -- "$K" get hookdelivery seed.app.poststart.0 -o 'jsonpath={.status.phase}'
kill9_server
good "agent killed with SIGKILL (from outside) during the postStart"
restart
running seed
hooks seed poststart 1 2
delivery seed PostStart 2
containers

# --- 12 ------------------------------------------------------------------------
section 12 "everything deleted: every preStop ran, no container, record or runc state left"
"$K" delete pods --all --grace-period=1 >/dev/null 2>&1
gone seed 30
expect "seed: its preStop ran" '^[1-9]' sh -c "grep -c '^prestop ' '$hosts/seed/log'"
containers
eventually 20 "no container record left" '^0$' -- sh -c "ls -A '$root/containers' | wc -l"
eventually 20 "runc lists nothing" '^0$' -- sh -c "runc --root '$run/runc' list -q | wc -l"

# --- 13 ------------------------------------------------------------------------
section 13 "the state store's disk full: 507 naming it, event and log, running pods kept, recovery"
# A new agent whose --root (the store's directory) is a 48 MiB tmpfs.
stop_server
small=$tmp/small
mkdir -p "$small"
mount -t tmpfs -o size=48m tmpfs "$small" || die "cannot mount a tmpfs at $small"
root=$small/root
export KUBECONFIG=$root/kubeconfig
"$N" image load --root "$root" --run-root "$run" -i "$images/busybox.tar" >"$tmp/load2.log" 2>&1 ||
    { cat "$tmp/load2.log" >&2; die "nodelet image load on the tmpfs failed"; }
log_mark=$(wc -l <"$tmp/server.log")
start_server
apply_pod keeper
running keeper
"$K" create configmap before --from-literal=k=v >/dev/null
dd if=/dev/zero of="$small/filler" bs=1M 2>/dev/null
good "the tmpfs filled to the brim ($(df --output=avail -B1 "$small" | tail -1) bytes left)"
# Writes that need new pages fail: ConfigMaps of 700 KiB until one does.
head -c 524288 /dev/urandom | base64 >"$tmp/big.txt"
out=""
for i in $(seq 40); do
    out=$("$K" create configmap "big-$i" --from-file=big="$tmp/big.txt" -v=6 2>&1) || break
    out=""
done
grep -Eq 'verb="POST" url="[^"]+/configmaps[?"].* status="507 Insufficient Storage"' <<<"$out" &&
    grep -q "$root/state.redb is out of space" <<<"$out" &&
    good "a write refused: 507, $(grep -o 'the state store [^"]*out of space' <<<"$out" | head -1)" ||
    bad "no 507 naming the store when the disk filled" "$out"
pod refused >"$tmp/refused.json"
expect "a new pod refused with 507 and the reason" 'InsufficientStorage.*out of space.*new pods are refused' \
    "$K" apply -f "$tmp/refused.json"
expect_not "the refused pod is not there" '^refused ' "$K" get pods --no-headers
expect "the agent logged it" 'out of space.*new pods are refused until it takes writes again, running pods keep running' \
    sh -c "tail -n +$((log_mark + 1)) '$tmp/server.log'"
expect "keeper still Running, its container still running" '^Running running$' \
    sh -c "echo \$('$K' get pod keeper -o jsonpath='{.status.phase}') \$(runc --root '$run/runc' list -f json | python3 -c 'import json,sys; print(*[c[\"status\"] for c in json.load(sys.stdin) or []])')"
rm -f "$small/filler"
good "space freed"
eventually 20 "the agent says the store takes writes again" 'takes writes again; accepting new pods' \
    -- sh -c "tail -n +$((log_mark + 1)) '$tmp/server.log'"
eventually 20 "NodeStorageUnavailable and NodeStorageRecovered events listed" 'NodeStorageUnavailable' 'NodeStorageRecovered' \
    -- "$K" get events -o 'custom-columns=R:.reason'
expect "the pod refused before is accepted now" 'created' "$K" apply -f "$tmp/refused.json"
running refused
expect "nothing recorded before was lost" '^configmap/before$' "$K" get configmap before -o name
running keeper
clean
stop_server

# --- 14 ------------------------------------------------------------------------
section 14 "the state store's filesystem read-only: 507 naming it, event and log, running pods kept, recovery"
# The store file on its own small ext4 (no journal, errors=remount-ro),
# linked from a new --root: an ext4 error forces that filesystem read-only
# under the open database, as a failing disk does (a `remount,ro` cannot:
# it refuses while a file is open for writing). Writable again = the
# filesystem checked and mounted afresh at the same place, as an operator
# repairs it; the old mount goes when the agent reopens the store.
for tool in mkfs.ext4 e2fsck losetup; do
    command -v "$tool" >/dev/null || die "$tool is missing (e2fsprogs, util-linux)"
done
rofs=$tmp/rofs
img=$tmp/rofs.img
mkdir -p "$rofs"
truncate -s 64M "$img" && mkfs.ext4 -q -F -O ^has_journal "$img" || die "mkfs.ext4 $img failed"
mount -o loop,errors=remount-ro "$img" "$rofs" || die "cannot mount $img at $rofs"
rodev=$(basename "$(findmnt -no SOURCE "$rofs")")
[[ -w /sys/fs/ext4/$rodev/trigger_fs_error ]] || die "no /sys/fs/ext4/$rodev/trigger_fs_error (ext4 sysfs)"
root=$tmp/root-ro
mkdir -p "$root"
ln -s "$rofs/state.redb" "$root/state.redb"
export KUBECONFIG=$root/kubeconfig
"$N" image load --root "$root" --run-root "$run" -i "$images/busybox.tar" >"$tmp/load3.log" 2>&1 ||
    { cat "$tmp/load3.log" >&2; die "nodelet image load with the store on $rofs failed"; }
log_mark=$(wc -l <"$tmp/server.log")
start_server
apply_pod keeper
running keeper
"$K" create configmap before --from-literal=k=v >/dev/null
echo "nodelet faults-e2e" >"/sys/fs/ext4/$rodev/trigger_fs_error"
# (Newer kernels mark it `emergency_ro` and leave `rw` in the options.)
out=$(touch "$rofs/probe" 2>&1)
grep -q 'Read-only file system' <<<"$out" &&
    good "the store's filesystem forced read-only ($(findmnt -no OPTIONS "$rofs"))" ||
    bad "the ext4 error did not make $rofs read-only" "$out $(findmnt -no OPTIONS "$rofs")"
eventually 5 "a write refused: 507 naming the store and why" \
    'verb="POST" url="[^"]+/configmaps[?"].* status="507 Insufficient Storage"' \
    "$root/state.redb is on a read-only filesystem" \
    -- "$K" create configmap after --from-literal=k=v -v=6
pod refused >"$tmp/refused.json"
expect "a new pod refused with 507 and the reason" 'InsufficientStorage.*read-only filesystem.*new pods are refused' \
    "$K" apply -f "$tmp/refused.json"
expect_not "the refused pod is not there" '^refused ' "$K" get pods --no-headers
expect "the agent logged it" 'read-only filesystem.*new pods are refused until it takes writes again, running pods keep running' \
    sh -c "tail -n +$((log_mark + 1)) '$tmp/server.log'"
expect "keeper still Running, its container still running" '^Running running$' \
    sh -c "echo \$('$K' get pod keeper -o jsonpath='{.status.phase}') \$(runc --root '$run/runc' list -f json | python3 -c 'import json,sys; print(*[c[\"status\"] for c in json.load(sys.stdin) or []])')"
# The repair: the broken mount detached (the agent's open file keeps it
# until the store is reopened), the image checked, mounted afresh on a new
# loop device (the old one still holds the read-only superblock).
umount -l "$rofs" || bad "umount -l $rofs"
e2fsck -fy "$img" >"$tmp/e2fsck.log" 2>&1
(($? <= 1)) || bad "e2fsck $img" "$(cat "$tmp/e2fsck.log")"
rodev2=$(losetup -f --show "$img") || die "no free loop device for $img"
mount -o errors=remount-ro "$rodev2" "$rofs" || die "cannot mount $rodev2 at $rofs"
losetup -d "$rodev2"
good "the filesystem checked and mounted read-write again"
eventually 20 "the agent says the store takes writes again" 'takes writes again; accepting new pods' \
    -- sh -c "tail -n +$((log_mark + 1)) '$tmp/server.log'"
eventually 20 "NodeStorageUnavailable and NodeStorageRecovered events listed" 'NodeStorageUnavailable' 'NodeStorageRecovered' \
    -- "$K" get events -o 'custom-columns=R:.reason'
expect "the pod refused before is accepted now" 'created' "$K" apply -f "$tmp/refused.json"
running refused
expect "nothing recorded before was lost" '^configmap/before$' "$K" get configmap before -o name
running keeper
clean
stop_server
umount "$rofs" 2>/dev/null || umount -l "$rofs"

summary 1 2 3 4 5 6 7 8 9 10 11 12 13 14
