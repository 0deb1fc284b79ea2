"""The driver of bench/user.sh (see its header for what is measured): runs
against the `nodelet serve` the script started, prints the figures and the
ratios against issue 17's targets, writes user.json and user.svg."""

import argparse
import glob
import http.client
import json
import os
import subprocess
import sys
import time
from datetime import datetime

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import manifests  # noqa: E402
import plot  # noqa: E402
import procstat  # noqa: E402
from common import median, ms, now, pct, r3, run_ok, tls_context  # noqa: E402
from floor import Floor  # noqa: E402
import report  # noqa: E402
from watch import Watcher  # noqa: E402

CLIENTS = ("nodelet", "kubectl")


def busy_ticks():
    """(busy, total) jiffies of all CPUs, from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    return sum(v) - idle, sum(v)


class Bench:
    def __init__(self, a):
        self.a = a
        self.mdir = os.path.join(a.tmp, "manifests")
        self.pdir = os.path.join(a.tmp, "podman")
        os.makedirs(self.mdir, exist_ok=True)
        os.makedirs(self.pdir, exist_ok=True)
        self.ctx = tls_context(a.kubectl, a.tmp)
        self.host, port = a.addr.rsplit(":", 1)
        self.port = int(port)
        self.watch = Watcher(a.addr, self.ctx)
        self.nenv = dict(os.environ, NODELET_RUN_ROOT=a.run)
        self.state_dirs = [os.path.join(a.root, "containers"), os.path.join(a.root, "sandboxes"),
                           os.path.join(a.run, "runc")]
        self.baseline = self._state()
        self.out = {"quick": a.quick, "cores": os.cpu_count(), "nodelet": a.nodelet,
                    "loadavg_start": open("/proc/loadavg").read().split()[:3],
                    "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    "rounds": [], "podman": [], "resources": {}}

    # --- helpers ---------------------------------------------------------------
    def _state(self):
        s = set()
        for d in self.state_dirs:
            if os.path.isdir(d):
                s.update(os.path.join(d, e) for e in os.listdir(d))
        return s

    def settle(self, timeout=300):
        """Until every deleted pod's containers and sandbox are released
        (the agent does that in the background after the pod is gone), so
        one round's teardown does not overlap the next one's start."""
        deadline = now() + timeout
        while self._state() - self.baseline:
            if now() > deadline:
                left = sorted(self._state() - self.baseline)
                raise SystemExit(f"bench/user.sh: not released {timeout} s after deletion: {left[:3]}")
            time.sleep(0.02)

    def conn(self):
        c = http.client.HTTPSConnection(self.host, self.port, context=self.ctx)
        c.connect()
        return c

    def request(self, c, method, path, body=None):
        c.request(method, path, json.dumps(body) if body is not None else None,
                  {"Content-Type": "application/json"})
        r = c.getresponse()
        data = r.read()
        if r.status >= 300:
            raise SystemExit(f"bench/user.sh: {method} {path} answered {r.status}: {data[:300]!r}")
        return json.loads(data)

    def snapshot(self, label):
        s = procstat.snapshot(self.a.server_pid, self.a.tmp)
        self.out["resources"][label] = s
        return s

    def settle(self, quiet=12, limit=90):
        """Seconds until the agent used no CPU for `quiet` seconds in a row
        (at most `limit`): the work a burst leaves behind (teardown after
        the last pod is gone, status and event writes, and the store's
        retention sweep, which runs once up to 10 s after the last write
        of a burst) is not idleness, so the idle window starts after it,
        and how long it took is reported beside it."""
        t0, last, still = now(), procstat.cpu_s(self.a.server_pid), 0
        while still < quiet and now() - t0 < limit:
            time.sleep(1)
            c = procstat.cpu_s(self.a.server_pid)
            still = still + 1 if c == last else 0
            last = c
        return now() - t0 - still

    def idle_cpu(self, label, secs=10):
        """Agent (and monitors') CPU over `secs` seconds of doing nothing,
        once the agent has settled."""
        settled = self.settle()
        mons = procstat.monitors(self.a.tmp)
        a0, m0 = procstat.cpu_s(self.a.server_pid), sum(procstat.cpu_s(p) for p in mons)
        time.sleep(secs)
        a1, m1 = procstat.cpu_s(self.a.server_pid), sum(procstat.cpu_s(p) for p in mons)
        r = {"seconds": secs, "pods": len(mons), "agent_cpu_s": round(a1 - a0, 3),
             "monitors_cpu_s": round(m1 - m0, 3), "settled_after_s": round(settled, 1)}
        self.out["resources"][label] = r
        print(f"  agent CPU over {secs} s idle with {len(mons)} pods: {r['agent_cpu_s']:.2f} s "
              f"(monitors {r['monitors_cpu_s']:.2f} s; /proc ticks of {1 / procstat.TICK:.2f} s), "
              f"after the agent went quiet {settled:.1f} s into the wait")
        return r

    # --- N pods in one file ------------------------------------------------------
    def round(self, client, variant, n, k, on_ready=None):
        tag = {"plain": "p", "poststart": "h", "readiness": "r"}[variant]
        path, names = manifests.write(self.mdir, f"ub-{tag}{n}-{client[0]}{k}", n, variant)
        cmd = ([self.a.nodelet, "apply", "-f", path] if client == "nodelet"
               else [self.a.kubectl, "apply", "-f", path])
        pid = self.a.server_pid
        cpu0, kids0, busy0 = procstat.cpu_s(pid), procstat.cpu_s(pid, True), busy_ticks()
        t0 = now()
        run_ok(cmd, env=self.nenv)
        t_apply = now() - t0
        ready = self.watch.wait_all(names, "ready", 900)
        cpu1, kids1, busy1 = procstat.cpu_s(pid), procstat.cpu_s(pid, True), busy_ticks()
        added = self.watch.times(names, "added")
        t_ready = max(ready.values()) - t0
        per_pod = [ready[x] - added[x] for x in names]
        phases = self.phases(names, t0, ready)
        if on_ready:
            on_ready()
        cmd = ([self.a.nodelet, "delete", "pod", *names] if client == "nodelet"
               else [self.a.kubectl, "delete", "-f", path])
        t1 = now()
        run_ok(cmd, env=self.nenv)
        t_delete = now() - t1
        gone = self.watch.wait_all(names, "deleted", 900)
        t_gone = max(gone.values()) - t1
        self.settle()
        busy = (busy1[0] - busy0[0]) / max(1, busy1[1] - busy0[1])
        res = {"client": client, "variant": variant, "n": n, "round": k,
               "apply_s": r3(t_apply), "first_added_s": r3(min(added.values()) - t0),
               "last_added_s": r3(max(added.values()) - t0), "all_ready_s": r3(t_ready),
               "per_pod_ready_ms": {"p50": ms(pct(per_pod, 50)), "p99": ms(pct(per_pod, 99)),
                                    "max": ms(max(per_pod))},
               "delete_s": r3(t_delete), "all_gone_s": r3(t_gone),
               "agent_cpu_s": round(cpu1 - cpu0, 2),
               "agent_children_cpu_s": round(kids1 - kids0, 2), "host_busy": round(busy, 2), "phases_ms": phases}
        self.out["rounds"].append(res)
        print(f"  {variant:9s} {n:4d} {client:7s} #{k}: apply returned {t_apply:6.3f} s, "
              f"ADDED {res['first_added_s']:.3f}–{res['last_added_s']:.3f} s, all Ready {t_ready:6.3f} s "
              f"(per pod ADDED→Ready p50 {res['per_pod_ready_ms']['p50']} / p99 "
              f"{res['per_pod_ready_ms']['p99']} ms), delete returned {t_delete:.3f} s, "
              f"all gone {t_gone:.3f} s; agent CPU {res['agent_cpu_s']} s (+ children it waited for {res['agent_children_cpu_s']} s), host busy {busy:.0%}",
              flush=True)
        if n > 1:
            print("      per pod, p50/max ms: " + ", ".join(
                f"{k} {v['p50']}/{v['max']}" for k, v in phases.items()), flush=True)
        return res

    def phases(self, names, t0, ready):
        """Where each pod's time went, from the agent's PodTimeline marks
        (wall clock) and this process's watch (monotonic, converted): apply
        start → admitted (PodCreated), → container created (sandbox, CNI,
        rootfs, bundle), → started (runc run via the monitor), → Running
        (postStart done), → Ready seen in the watch (status, probe, the
        watch's delivery). p50 and max over the pods, in ms."""
        off = time.time() - now()  # wall = monotonic + off
        try:
            c = self.conn()
            items = self.request(c, "GET", "/apis/nodelet.dev/v1/namespaces/default/podtimelines")["items"]
            c.close()
        except (SystemExit, OSError, KeyError) as e:  # a breakdown, not a figure: the run goes on
            print(f"      (no timelines: {e})")
            return {}
        want = set(names)
        steps = {k: [] for k in ("apply→admitted", "→created", "→started", "→running", "→ready_seen")}
        for tl in items:
            name = tl["metadata"]["name"]
            if name not in want:
                continue
            first = {}
            for m in tl.get("marks") or []:
                first.setdefault(m["kind"], datetime.fromisoformat(m["time"]).timestamp())
            seq = [("apply→admitted", t0 + off), ("→created", first.get("PodCreated")),
                   ("→started", first.get("Created")), ("→running", first.get("Started")),
                   ("→ready_seen", first.get("Running"))]
            ends = [first.get("PodCreated"), first.get("Created"), first.get("Started"),
                    first.get("Running"), ready[name] + off]
            for (k, start), end in zip(seq, ends):
                if start is not None and end is not None:
                    steps[k].append(end - start)
        return {k: {"p50": ms(pct(v, 50)), "max": ms(max(v))} for k, v in steps.items() if v}

    def podman(self, variant, n):
        tag = {"plain": "p", "poststart": "h", "readiness": "r"}[variant]
        path, _ = manifests.write(self.pdir, f"ub-{tag}{n}-pm", n, variant)
        t0 = now()
        r = subprocess.run(["podman", "kube", "play", path], stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        t_play = now() - t0
        t1 = now()
        d = subprocess.run(["podman", "kube", "down", path], stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        t_down = now() - t1
        res = {"variant": variant, "n": n, "play_s": r3(t_play) if r.returncode == 0 else None,
               "down_s": r3(t_down) if d.returncode == 0 else None}
        if r.returncode != 0 or d.returncode != 0:
            res["error"] = (r.stderr + d.stderr).strip()[-500:]
        self.out["podman"].append(res)
        print(f"  podman    {variant:9s} {n:4d}: kube play {t_play:7.3f} s, kube down {t_down:7.3f} s"
              + (f"  FAILED: {res['error'][-200:]}" if "error" in res else ""), flush=True)

    # --- one pod on an idle node, and the floor -------------------------------------
    def one_pod(self, rounds):
        floor = None
        post, from_added, answer, fl = [], [], [], []
        for i in range(rounds + 1):  # the first is a warm-up, and gives the floor its bundle
            name = f"ub-one-{i:03d}"
            c = self.conn()
            t0 = now()
            self.request(c, "POST", "/api/v1/namespaces/default/pods", manifests.pod(name, "plain"))
            t_answer = now() - t0
            t_ready = self.watch.wait_all([name], "ready", 120)[name]
            t_added = self.watch.times([name], "added")[name]
            if floor is None:
                floor = self._floor(c, name)
            self.request(c, "DELETE", f"/api/v1/namespaces/default/pods/{name}")
            c.close()
            self.watch.wait_all([name], "deleted", 120)
            self.settle()
            time.sleep(0.2)
            f = floor.round(i)
            time.sleep(0.2)
            if i == 0:
                continue
            post.append(t_ready - t0)
            from_added.append(t_ready - t_added)
            answer.append(t_answer)
            fl.append(f)

        def stats(xs):
            return {"p50": ms(pct(xs, 50)), "p99": ms(pct(xs, 99)), "max": ms(max(xs)),
                    "samples": [ms(x) for x in xs]}

        res = {"rounds": rounds, "post_to_ready_ms": stats(post), "added_to_ready_ms": stats(from_added),
               "post_answer_ms": stats(answer),
               "floor": {"what": "ip netns add + CNI ADD (nodelet's conflist: bridge/host-local, portmap) "
                                 "+ runc run -d of the same config.json joining that netns "
                                 "(rootfs unpacked beforehand)",
                         **{k: stats([x[k] for x in fl]) for k in ("total", "netns_add", "cni_add", "runc_run",
                                                             "cni_add_cpu", "runc_run_cpu")}}}
        self.out["one_pod"] = res
        print(f"  one pod, {rounds} rounds (ms): POST sent → Ready p50 {res['post_to_ready_ms']['p50']}, "
              f"p99 {res['post_to_ready_ms']['p99']}; ADDED → Ready p50 {res['added_to_ready_ms']['p50']}, "
              f"p99 {res['added_to_ready_ms']['p99']}; the POST's answer p50 {res['post_answer_ms']['p50']}")
        fr = res["floor"]
        print(f"  floor (ms): total p50 {fr['total']['p50']}, p99 {fr['total']['p99']} = ip netns add "
              f"{fr['netns_add']['p50']} + CNI ADD {fr['cni_add']['p50']} + runc run -d {fr['runc_run']['p50']} (p50s); CPU used by the CNI plugins p50 "
              f"{fr['cni_add_cpu']['p50']}, by runc run -d {fr['runc_run_cpu']['p50']}")
        return res

    def _floor(self, c, name):
        pod = self.request(c, "GET", f"/api/v1/namespaces/default/pods/{name}")
        cid = pod["status"]["containerStatuses"][0]["containerID"].split("://")[-1]
        config = os.path.join(self.a.root, "containers", cid, "bundle", "config.json")
        conflists = sorted(glob.glob(os.path.join(self.a.root, "cni", "conf", "*.conflist")))
        if not os.path.exists(config) or not conflists:
            raise SystemExit(f"bench/user.sh: no bundle at {config} or no conflist under {self.a.root}/cni/conf")
        return Floor(self.a.tmp, config, conflists[0], os.path.join(self.a.images, "testbin.tar"),
                     os.environ.get("USERBENCH_TAG", f"ubf{os.getpid()}"))

    # --- the in-process engine ---------------------------------------------------
    def engine(self):
        """One round of the in-process engine's figure, appended to those of
        earlier calls (None when it failed, so that round k here stays
        beside the API's 50-pod postStart round k: report.py pairs them)."""
        env = dict(os.environ, NODELET_TEST_IMAGES=self.a.images,
                   NODELET_MONITOR=os.path.join(os.path.dirname(self.a.nodelet), "nodelet-monitor"))
        r = subprocess.run([self.a.engine, "--up50", "1"], env=env, capture_output=True,
                           text=True, timeout=1800)
        line = next((x for x in r.stdout.splitlines() if x.startswith("engine_up50_ms")), None)
        eng = self.out.setdefault("engine", {"up50_s": []})
        if r.returncode != 0 or line is None or len(line.split()) != 2:
            eng["up50_s"].append(None)
            eng.setdefault("errors", []).append((r.stdout + r.stderr)[-1000:])
            print(f"  engine: FAILED ({r.returncode}): {(r.stdout + r.stderr)[-500:]}")
            return None
        got = float(line.split()[1]) / 1e3
        eng["up50_s"].append(got)
        v = [x for x in eng["up50_s"] if x is not None]
        eng["median_s"] = r3(median(v))
        print(f"  engine (in-process, bench_lifecycle --up50): 50 pods with postStart → all Running "
              f"{got:.3f} s (median so far {median(v):.3f} s)")
        return got

    # --- many pods running: memory and CPU ---------------------------------------------
    def many(self, n):
        path, names = manifests.write(self.mdir, f"ub-m{n}", n, "plain")
        t0 = now()
        run_ok([self.a.nodelet, "apply", "-f", path], env=self.nenv)
        t_apply = now() - t0
        ready = self.watch.wait_all(names, "ready", 1800)
        t_ready = max(ready.values()) - t0
        print(f"  {n} pods (nodelet apply): apply returned {t_apply:.2f} s, all Ready {t_ready:.2f} s")
        time.sleep(2)
        s = self.snapshot(f"pods{n}")
        s["apply_s"], s["all_ready_s"] = r3(t_apply), r3(t_ready)
        self.print_mem(f"{n} pods", s, n)
        self.idle_cpu(f"cpu_idle_10s_pods{n}")
        t1 = now()
        run_ok([self.a.nodelet, "delete", "pod", *names], env=self.nenv, timeout=1800)
        self.watch.wait_all(names, "deleted", 1800)
        s["all_gone_s"] = r3(now() - t1)
        self.settle(900)
        return s

    @staticmethod
    def print_mem(label, s, n):
        per = (s["agent_pss_kib"] + s["monitors_pss_kib"]) / max(n, 1) / 1024
        print(f"  memory, {label}: agent RSS {s['agent_rss_kib'] / 1024:.1f} MiB (PSS "
              f"{s['agent_pss_kib'] / 1024:.1f}), {s['monitors']} monitors PSS "
              f"{s['monitors_pss_kib'] / 1024:.1f} MiB ({s['monitor_pss_kib_each']} KiB each)"
              + (f"; agent+monitors {per:.2f} MiB per pod" if n else ""), flush=True)


def main():
    p = argparse.ArgumentParser()
    for f in ("nodelet", "kubectl", "engine", "images", "tmp", "root", "run", "addr", "out"):
        p.add_argument("--" + f, required=True)
    p.add_argument("--server-pid", type=int, required=True)
    p.add_argument("--quick", action="store_true")
    a = p.parse_args()
    b = Bench(a)
    sizes = (1, 50) if a.quick else (1, 50, 200)

    def reps(n, variant):
        """Rounds per client. The two figures the targets compare run more
        often: the 50-pod postStart pair (each beside an engine round and a
        podman play; report.py takes the median of the pairs' ratios) and
        the 200 plain pods. Odd counts, so each median is a round's own."""
        if (n, variant) == (50, "poststart"):
            return 3 if a.quick else 5
        if (n, variant) == (200, "plain"):
            return 3
        return {1: 2, 50: 1}[n] if a.quick else {1: 3, 50: 3, 200: 1}[n]
    one_rounds = 10 if a.quick else 30

    print("-- idle --")
    time.sleep(2)
    b.print_mem("idle", b.snapshot("idle"), 0)
    b.idle_cpu("cpu_idle_10s")

    print(f"-- one pod on an idle node, {one_rounds} rounds, and the floor --")
    b.one_pod(one_rounds)

    print("-- N pods in one file: apply → all Ready in one watch, delete → all gone; "
          "after each 50-pod postStart pair, one round of the in-process engine and one "
          "podman kube play --")
    mem_at = 50 if a.quick else 200
    for n in sizes:
        for variant in manifests.VARIANTS:
            for k in range(reps(n, variant)):
                for client in CLIENTS:
                    hook = None
                    if n == mem_at and variant == "plain" and client == "nodelet" and k == 0:
                        def hook(n=n):
                            time.sleep(1)
                            b.print_mem(f"{n} pods", b.snapshot(f"pods{n}"), n)
                    b.round(client, variant, n, k, hook)
                if n == 50 and variant == "poststart":
                    # The two figures the 50-pod targets compare against,
                    # taken beside each round so a slow hour of this VM
                    # slows both sides of the ratio.
                    b.engine()
                    b.podman("poststart", 50)

    print("-- podman kube play / kube down of the same files --")
    for n in sizes:
        for variant in manifests.VARIANTS:
            if (variant, n) != ("poststart", 50):  # measured beside its rounds
                b.podman(variant, n)

    if not a.quick:
        print("-- 500 pods running --")
        b.many(500)

    print("-- idle again --")
    b.print_mem("idle after the run", b.snapshot("idle_end"), 0)
    b.idle_cpu("cpu_idle_10s_end")

    b.out["loadavg_end"] = open("/proc/loadavg").read().split()[:3]
    report.finish(b.out, a.out)


if __name__ == "__main__":
    main()
