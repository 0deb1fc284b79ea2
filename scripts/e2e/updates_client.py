#!/usr/bin/env python3
"""Pod updates through the official Python `kubernetes` client against a
running `nodelet serve` (run by scripts/updates-e2e-real.sh with the
kubeconfig as the only argument).

Ports of the upstream e2e cases (test/e2e/common/node/pods.go:
"Pods should be updated", "should allow activeDeadlineSeconds to be
updated"; test/e2e/common/node/pod_resize.go: the resize cases one node can
run, with the memory values raised so the container's own cgroup has room
for the OCI runtime's init), plus patch types, 409 and 422 as this client
meets them. Prints `ok <what>` per check; exits non-zero on the first
failure with what differed.
"""

import sys
import time

from kubernetes import client, config
from kubernetes.client.rest import ApiException

NS = "default"
IMAGE = "nodelet.local/busybox:latest"
SLEEPER = ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.2; done"]


def ok(what):
    print(f"ok {what}", flush=True)


def fail(what):
    print(f"FAIL {what}", flush=True)
    sys.exit(1)


def check(cond, what, detail=""):
    if not cond:
        fail(f"{what}: {detail}")
    ok(what)


def wait_for(what, fn, timeout=60):
    end = time.time() + timeout
    last = None
    while time.time() < end:
        try:
            last = fn()
            if last:
                return last
        except ApiException as e:
            last = e
        time.sleep(0.5)
    fail(f"{what} within {timeout}s (last: {last})")


def running(v1, name):
    p = v1.read_namespaced_pod(name, NS)
    return p.status.phase == "Running" and all(c.ready for c in p.status.container_statuses or [])


def update_with_retry(v1, name, mutate):
    """e2e podClient.Update: get, mutate, PUT; again on a 409."""
    for _ in range(10):
        pod = v1.read_namespaced_pod(name, NS)
        mutate(pod)
        try:
            return v1.replace_namespaced_pod(name, NS, pod)
        except ApiException as e:
            if e.status != 409:
                raise
    fail(f"update of {name} kept conflicting")


def delete(v1, name):
    try:
        v1.delete_namespaced_pod(name, NS, grace_period_seconds=1)
    except ApiException as e:
        if e.status != 404:
            raise
    wait_for(f"{name} gone", lambda: not any(p.metadata.name == name for p in v1.list_namespaced_pod(NS).items))


def make_pod(name, labels=None, containers=None, **spec):
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name=name, labels=labels),
        spec=client.V1PodSpec(
            containers=containers or [client.V1Container(name="c", image=IMAGE, command=SLEEPER)],
            **spec,
        ),
    )


def pods_should_be_updated(v1):
    name = "pod-update-py"
    value = str(time.time_ns())
    v1.create_namespaced_pod(NS, make_pod(name, {"name": "foo", "time": value}))
    wait_for("running", lambda: running(v1, name))
    pods = v1.list_namespaced_pod(NS, label_selector=f"time={value}").items
    check(len(pods) == 1, "e2e 'Pods should be updated': found by its label", pods)
    value = str(time.time_ns())
    update_with_retry(v1, name, lambda p: p.metadata.labels.update({"time": value}))
    wait_for("running after the update", lambda: running(v1, name))
    pods = v1.list_namespaced_pod(NS, label_selector=f"time={value}").items
    check(len(pods) == 1, "e2e 'Pods should be updated': found by the new label", pods)
    return name


def active_deadline_seconds_updated(v1):
    name = "pod-update-activedeadlineseconds-py"
    v1.create_namespaced_pod(NS, make_pod(name, {"name": "foo", "time": str(time.time_ns())}))
    wait_for("running", lambda: running(v1, name))

    def set_deadline(p):
        p.spec.active_deadline_seconds = 5

    update_with_retry(v1, name, set_deadline)

    def terminated():
        p = v1.read_namespaced_pod(name, NS)
        return p if p.status.phase == "Failed" and p.status.reason == "DeadlineExceeded" else None

    p = wait_for("DeadlineExceeded", terminated, timeout=60)
    check(
        p.status.message == "Pod was active on the node longer than the specified deadline",
        "e2e 'should allow activeDeadlineSeconds to be updated': Failed/DeadlineExceeded",
        p.status.message,
    )
    delete(v1, name)


def patch_types_and_errors(v1, name):
    # Strategic merge (a dict), JSON patch (a list), merge (explicit type).
    v1.patch_namespaced_pod(name, NS, {"metadata": {"labels": {"s": "1"}}})
    v1.patch_namespaced_pod(name, NS, [{"op": "add", "path": "/metadata/labels/j", "value": "2"}])
    v1.patch_namespaced_pod(
        name, NS, {"metadata": {"labels": {"m": "3"}}}, _content_type="application/merge-patch+json"
    )
    labels = v1.read_namespaced_pod(name, NS).metadata.labels
    check(
        (labels.get("s"), labels.get("j"), labels.get("m")) == ("1", "2", "3"),
        "strategic, JSON and merge patches of labels",
        labels,
    )
    stale = v1.read_namespaced_pod(name, NS)
    v1.patch_namespaced_pod(name, NS, {"metadata": {"annotations": {"bump": "1"}}})
    stale.metadata.labels["late"] = "x"
    try:
        v1.replace_namespaced_pod(name, NS, stale)
        fail("a PUT with a stale resourceVersion succeeded")
    except ApiException as e:
        check(e.status == 409 and "the object has been modified" in e.body, "stale resourceVersion: 409 Conflict", e.body)
    # A resourceVersion in a patch is a precondition, as for a PUT, in all
    # four patch types (server-side apply included).
    rv = stale.metadata.resource_version
    preconditioned = [
        ("strategic", {"metadata": {"resourceVersion": rv, "labels": {"late": "x"}}}, {}),
        ("merge", {"metadata": {"resourceVersion": rv, "labels": {"late": "x"}}},
         {"_content_type": "application/merge-patch+json"}),
        ("JSON", [{"op": "replace", "path": "/metadata/resourceVersion", "value": rv},
                  {"op": "add", "path": "/metadata/labels/late", "value": "x"}], {}),
        ("apply", {"apiVersion": "v1", "kind": "Pod",
                   "metadata": {"name": name, "resourceVersion": rv, "labels": {"late": "x"}}},
         {"_content_type": "application/apply-patch+yaml", "field_manager": "e2e"}),
    ]
    for kind, body, kw in preconditioned:
        try:
            v1.patch_namespaced_pod(name, NS, body, **kw)
            fail(f"a {kind} patch with a stale resourceVersion succeeded")
        except ApiException as e:
            check(e.status == 409, f"{kind} patch with a stale resourceVersion: 409 Conflict", e.body)
    check("late" not in (v1.read_namespaced_pod(name, NS).metadata.labels or {}), "no preconditioned patch applied")
    v1.patch_namespaced_pod(
        name, NS, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"ssa": "yes"}}},
        _content_type="application/apply-patch+yaml", field_manager="e2e",
    )
    check(v1.read_namespaced_pod(name, NS).metadata.labels.get("ssa") == "yes", "server-side apply of a label")
    try:
        v1.patch_namespaced_pod(name, NS, {"spec": {"containers": [{"name": "c", "command": ["sh"]}]}})
        fail("a change of command was accepted")
    except ApiException as e:
        check(
            e.status == 422 and "spec: Forbidden: pod updates may not change fields other than" in e.body,
            "forbidden change: 422 with the API server's message",
            e.body,
        )
    check(
        v1.read_namespaced_pod(name, NS).spec.containers[0].command == SLEEPER,
        "nothing changed by the refused update",
    )


# --- pod_resize.go ----------------------------------------------------------

def res(cpu_req=None, cpu_lim=None, mem_req=None, mem_lim=None):
    r = {}
    req = {k: v for k, v in (("cpu", cpu_req), ("memory", mem_req)) if v}
    lim = {k: v for k, v in (("cpu", cpu_lim), ("memory", mem_lim)) if v}
    if req:
        r["requests"] = req
    if lim:
        r["limits"] = lim
    return r


def millis(q):
    return int(q[:-1]) if q.endswith("m") else int(float(q) * 1000)


def mib(q):
    assert q.endswith("Mi"), q
    return int(q[:-2]) << 20


def cgroup_values(v1, pod, container):
    """The container's own cgroup files, read inside it (as the e2e does)."""
    from kubernetes.stream import stream

    script = (
        "if [ -f /sys/fs/cgroup/cgroup.controllers ]; then"
        " echo v2 $(cat /sys/fs/cgroup/memory.max) $(cat /sys/fs/cgroup/cpu.max) $(cat /sys/fs/cgroup/cpu.weight);"
        " else echo v1 $(cat /sys/fs/cgroup/memory/memory.limit_in_bytes)"
        " $(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us) 100000 $(cat /sys/fs/cgroup/cpu/cpu.shares); fi"
    )
    out = stream(
        v1.connect_get_namespaced_pod_exec, pod, NS, container=container,
        command=["sh", "-c", script], stderr=True, stdin=False, stdout=True, tty=False,
    )
    return out.split()


def shares(m):
    return max(2, m * 1024 // 1000)


def weight(s):
    return 1 + ((s - 2) * 9999) // 262142


def verify(v1, name, expected, restarts, what):
    def settled():
        p = v1.read_namespaced_pod(name, NS)
        conds = {c.type for c in p.status.conditions or []}
        if conds & {"PodResizeInProgress", "PodResizePending"}:
            return None
        sts = {s.name: s for s in p.status.container_statuses or []}
        for c in p.spec.containers:
            s = sts.get(c.name)
            want = expected[c.name]
            if s is None or not s.ready or s.resources is None:
                return None
            got = {"requests": s.resources.requests or {}, "limits": s.resources.limits or {}}
            if got["requests"] != want.get("requests", {}) or got["limits"] != want.get("limits", {}):
                return None
        return p

    p = wait_for(f"{what}: resize applied", settled, timeout=60)
    for c in p.spec.containers:
        want = expected[c.name]
        spec = c.resources.to_dict()
        check(
            (spec.get("requests") or {}) == want.get("requests", {}) and (spec.get("limits") or {}) == want.get("limits", {}),
            f"{what}: {c.name} spec resources",
            spec,
        )
    for s in p.status.container_statuses:
        want = expected[s.name]
        check(
            (s.allocated_resources or {}) == want.get("requests", {}),
            f"{what}: {s.name} allocatedResources",
            s.allocated_resources,
        )
        check(s.restart_count == restarts.get(s.name, 0), f"{what}: {s.name} restartCount {s.restart_count}")
        lim = want.get("limits", {})
        req = want.get("requests", {})
        vals = cgroup_values(v1, name, s.name)
        if vals[0] == "v1":
            mem, quota, _period, sh = vals[1:5]
            check(int(mem) == mib(lim["memory"]), f"{what}: {s.name} memory.limit_in_bytes", vals)
            check(int(quota) == millis(lim["cpu"]) * 100, f"{what}: {s.name} cpu.cfs_quota_us", vals)
            check(int(sh) == shares(millis(req["cpu"])), f"{what}: {s.name} cpu.shares", vals)
        else:
            mem, quota, _period, w = vals[1:5]
            check(int(mem) == mib(lim["memory"]), f"{what}: {s.name} memory.max", vals)
            check(int(quota) == millis(lim["cpu"]) * 100, f"{what}: {s.name} cpu.max", vals)
            check(int(w) == weight(shares(millis(req["cpu"]))), f"{what}: {s.name} cpu.weight", vals)


# Values of pod_resize.go raised (20Mi -> 64Mi...) so that runc's init fits
# in the container's cgroup.
CPU, CPU_LIM, CPU_DOWN, CPU_LIM_DOWN, CPU_UP, CPU_LIM_UP = "20m", "30m", "15m", "25m", "25m", "35m"
MEM, MEM_LIM, MEM_DOWN, MEM_LIM_DOWN, MEM_UP, MEM_LIM_UP = "64Mi", "96Mi", "56Mi", "88Mi", "72Mi", "104Mi"


def resize_case(v1, what, containers, patch, expected, restarts=None):
    """containers: [(name, resources, memory policy or None)]."""
    name = "resize-py"
    specs = []
    for cname, r, mem_policy in containers:
        c = client.V1Container(name=cname, image=IMAGE, command=SLEEPER, resources=client.V1ResourceRequirements(**r))
        if mem_policy:
            c.resize_policy = [
                client.V1ContainerResizePolicy(resource_name="cpu", restart_policy="NotRequired"),
                client.V1ContainerResizePolicy(resource_name="memory", restart_policy=mem_policy),
            ]
        specs.append(c)
    v1.create_namespaced_pod(NS, make_pod(name, containers=specs, termination_grace_period_seconds=2))
    wait_for(f"{what}: running", lambda: running(v1, name))
    v1.patch_namespaced_pod_resize(name, NS, {"spec": {"containers": patch}})
    verify(v1, name, expected, restarts or {}, what)
    delete(v1, name)


def resize_cases(v1):
    g = res(CPU, CPU, MEM, MEM)
    resize_case(
        v1, "Guaranteed QoS pod, one container - increase CPU & memory",
        [("c1", g, "NotRequired")],
        [{"name": "c1", "resources": res(CPU_UP, CPU_UP, MEM_UP, MEM_UP)}],
        {"c1": res(CPU_UP, CPU_UP, MEM_UP, MEM_UP)},
    )
    resize_case(
        v1, "Guaranteed QoS pod, one container - decrease CPU & memory",
        [("c1", g, "NotRequired")],
        [{"name": "c1", "resources": res(CPU_DOWN, CPU_DOWN, MEM_DOWN, MEM_DOWN)}],
        {"c1": res(CPU_DOWN, CPU_DOWN, MEM_DOWN, MEM_DOWN)},
    )
    resize_case(
        v1, "Guaranteed QoS pod, one container - increase CPU & decrease memory",
        [("c1", g, None)],
        [{"name": "c1", "resources": res(CPU_UP, CPU_UP, MEM_DOWN, MEM_DOWN)}],
        {"c1": res(CPU_UP, CPU_UP, MEM_DOWN, MEM_DOWN)},
    )
    b = res(CPU, CPU_LIM, MEM, MEM_LIM)
    for what, patch, want in [
        ("decrease memory requests only", res(mem_req=MEM_DOWN), res(CPU, CPU_LIM, MEM_DOWN, MEM_LIM)),
        ("decrease memory limits only", res(mem_lim=MEM_LIM_DOWN), res(CPU, CPU_LIM, MEM, MEM_LIM_DOWN)),
        ("increase memory limits only", res(mem_lim=MEM_LIM_UP), res(CPU, CPU_LIM, MEM, MEM_LIM_UP)),
        ("decrease CPU requests only", res(cpu_req=CPU_DOWN), res(CPU_DOWN, CPU_LIM, MEM, MEM_LIM)),
        ("increase CPU requests and limits", res(CPU_UP, CPU_LIM_UP), res(CPU_UP, CPU_LIM_UP, MEM, MEM_LIM)),
    ]:
        resize_case(
            v1, f"Burstable QoS pod, one container with cpu & memory requests + limits - {what}",
            [("c1", b, None)],
            [{"name": "c1", "resources": patch}],
            {"c1": want},
        )
    resize_case(
        v1, "Burstable QoS pod, one container - increase memory with RestartContainer policy",
        [("c1", b, "RestartContainer")],
        [{"name": "c1", "resources": res(mem_req=MEM_UP, mem_lim=MEM_LIM_UP)}],
        {"c1": res(CPU, CPU_LIM, MEM_UP, MEM_LIM_UP)},
        restarts={"c1": 1},
    )
    resize_case(
        v1, "Guaranteed QoS pod, three containers - increase CPU (c1,c3) & memory (c2), decrease CPU (c2) & memory (c1,c3)",
        [("c1", g, "NotRequired"), ("c2", res("22m", "22m", "66Mi", "66Mi"), "NotRequired"),
         ("c3", res("24m", "24m", "68Mi", "68Mi"), "NotRequired")],
        [{"name": "c1", "resources": res(CPU_UP, CPU_UP, MEM_DOWN, MEM_DOWN)},
         {"name": "c2", "resources": res("17m", "17m", "74Mi", "74Mi")},
         {"name": "c3", "resources": res("29m", "29m", "60Mi", "60Mi")}],
        {"c1": res(CPU_UP, CPU_UP, MEM_DOWN, MEM_DOWN), "c2": res("17m", "17m", "74Mi", "74Mi"),
         "c3": res("29m", "29m", "60Mi", "60Mi")},
    )


def main():
    config.load_kube_config(config_file=sys.argv[1])
    v1 = client.CoreV1Api()
    name = pods_should_be_updated(v1)
    patch_types_and_errors(v1, name)
    delete(v1, name)
    active_deadline_seconds_updated(v1)
    resize_cases(v1)


if __name__ == "__main__":
    main()
