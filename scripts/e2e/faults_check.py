#!/usr/bin/env python3
"""Checks of the fault-injection suite (run by scripts/faults-e2e-real.sh
and scripts/soak-faults.sh). Standard library only.

Usage:
  faults_check.py containers ROOT RUN < pods.json
      The agent's containers against its pods (`kubectl get pods -o json`
      on stdin): every container record (ROOT/containers/*/record.json)
      has its runc container (`runc --root RUN/runc list`) and the other
      way round, belongs to a pod the API lists (no orphan), is the only
      one of its pod, container name and attempt (no duplicate); at most
      one runs per pod and container name, and it is the one the status
      reports running; the attempts are 0..restartCount, each once.
      Prints `ok ...`/`not ok ...` lines and one line per pod container.
  faults_check.py grace TIMELINE.json CONTAINER SECONDS
      From a PodTimeline: the time from the pod's deletion (its first
      PodDeleted mark) to CONTAINER's last Exited mark must be SECONDS
      ± 1 s; prints `ok ...`/`not ok ...` and the exit code.
"""

import json
import os
import subprocess
import sys
from datetime import datetime


def ts(s):
    # RFC 3339 with up to nanoseconds; Python takes microseconds.
    s = s.replace("Z", "+00:00")
    if "." in s:
        head, rest = s.split(".", 1)
        frac = rest
        tz = ""
        for sep in ("+", "-"):
            if sep in rest:
                frac, tz = rest.split(sep, 1)
                tz = sep + tz
                break
        s = head + "." + (frac + "000000")[:6] + tz
    return datetime.fromisoformat(s)


def runc_list(run):
    out = subprocess.run(
        ["runc", "--root", os.path.join(run, "runc"), "list", "-f", "json"],
        capture_output=True, text=True, check=False,
    )
    if out.returncode != 0:
        raise SystemExit("not ok runc list failed: " + out.stderr.strip())
    return {c["id"]: c["status"] for c in (json.loads(out.stdout or "null") or [])}


def records(root):
    d = os.path.join(root, "containers")
    out = {}
    for cid in sorted(os.listdir(d)) if os.path.isdir(d) else []:
        p = os.path.join(d, cid, "record.json")
        try:
            with open(p) as f:
                out[cid] = json.load(f)
        except FileNotFoundError:
            out[cid] = None
    return out


def containers(root, run):
    pods = json.load(sys.stdin).get("items", [])
    by_uid = {p["metadata"]["uid"]: p for p in pods}
    runc = runc_list(run)
    recs = records(root)
    bad = []
    for cid, status in runc.items():
        if cid not in recs:
            bad.append(f"runc container {cid} ({status}) has no record")
    groups = {}
    for cid, r in recs.items():
        if r is None:
            bad.append(f"container dir {cid} without record.json")
            continue
        labels = r.get("labels", {})
        pod = labels.get("io.kubernetes.pod.name", "?")
        if cid not in runc:
            bad.append(f"{pod}/{r['name']} attempt {r['attempt']}: record {cid} without a runc container")
        if r["pod_uid"] not in by_uid:
            bad.append(f"orphan: {pod}/{r['name']} attempt {r['attempt']} ({cid}, {runc.get(cid)}) of a pod the API does not list")
            continue
        groups.setdefault((r["pod_uid"], r["name"]), []).append((r["attempt"], cid, runc.get(cid)))
    lines = []
    for uid, p in sorted(by_uid.items(), key=lambda kv: kv[1]["metadata"]["name"]):
        name = p["metadata"]["name"]
        st = p.get("status", {})
        for cs in st.get("initContainerStatuses", []) + st.get("containerStatuses", []):
            got = sorted(groups.get((uid, cs["name"]), []))
            attempts = [a for a, _, _ in got]
            running = [cid for _, cid, s in got if s == "running"]
            rc = cs.get("restartCount", 0)
            lines.append(f"# {name}/{cs['name']}: restartCount {rc}, containers {len(got)}, attempts {attempts}, running {len(running)}")
            if len(set(attempts)) != len(attempts):
                bad.append(f"{name}/{cs['name']}: duplicate attempts {attempts}")
            if len(running) > 1:
                bad.append(f"{name}/{cs['name']}: {len(running)} running containers {running}")
            want_id = (cs.get("containerID") or "").split("://")[-1]
            if "running" in cs.get("state", {}):
                if running != [want_id]:
                    bad.append(f"{name}/{cs['name']}: status says {want_id} runs, runc runs {running}")
            # Attempts 0..n, each once; while a restart is being made the
            # status may still show the previous count.
            if got and (attempts != list(range(len(attempts))) or not rc <= len(attempts) - 1 <= rc + 1):
                bad.append(f"{name}/{cs['name']}: attempts {attempts} for restartCount {rc}")
    for l in lines:
        print(l)
    for b in bad:
        print("not ok " + b)
    if not bad:
        print(f"ok {len(recs)} containers, {len(runc)} in runc, each once, none orphaned")
    return 1 if bad else 0


def grace(path, container, seconds):
    with open(path) as f:
        tl = json.load(f)
    marks = tl.get("marks", [])
    deleted = [ts(m["time"]) for m in marks if m["kind"] == "PodDeleted"]
    exited = [m for m in marks if m["kind"] == "Exited" and m.get("container") == container]
    if not deleted or not exited:
        print(f"not ok timeline has {len(deleted)} PodDeleted and {len(exited)} Exited marks of {container}")
        return 1
    took = (ts(exited[-1]["time"]) - deleted[0]).total_seconds()
    code = exited[-1].get("exitCode")
    want = float(seconds)
    if abs(took - want) <= 1.0:
        print(f"ok exit {took:.2f}s after the deletion (grace {seconds}s), exit code {code}")
        return 0
    print(f"not ok exit {took:.2f}s after the deletion, want {seconds}s ± 1 s (exit code {code})")
    return 1


def main(argv):
    if len(argv) == 4 and argv[1] == "containers":
        return containers(argv[2], argv[3])
    if len(argv) == 5 and argv[1] == "grace":
        return grace(argv[2], argv[3], argv[4])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
