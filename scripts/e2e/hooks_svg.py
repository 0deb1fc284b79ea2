#!/usr/bin/env python3
"""Checks a `nodelet timeline pod NAME -o svg` picture (run by
scripts/hooks-e2e-real.sh).

Usage: hooks_svg.py FILE deleted|crashloop CONTAINER

The SVG is parsed with xml.etree (so it must be well-formed) and its
elements are found by the classes and `data-*` attributes the renderer
gives them (crates/nodelet-timeline/src/render/svg.rs).

  deleted    the seed pod after `kubectl delete`: a lane for CONTAINER, a
             Running state bar, a postStart and a preStop hook bar, the
             pod's deletion mark, the stop signal and the exit; in time
             order postStart start <= its end <= deletion <= preStop start
             <= its end <= stop signal <= exit, and the Running bar starts
             before the deletion.
  crashloop  a container that exits at once under restartPolicy Always:
             at least two restarts, three exits with their code, back-off
             marks (or bars) after an exit, each in time order.

In both, the lane's state bars follow one another in time and in a
container's lifecycle order (created, starting, running, terminating,
exited, back-off, created again ...).

Prints `ok <what>` per check; exit 1 at the first failure with what was
found.
"""

import sys
import xml.etree.ElementTree as ET
from datetime import datetime

SVG = "{http://www.w3.org/2000/svg}"


def fail(msg):
    print(f"not ok {msg}", file=sys.stderr)
    sys.exit(1)


def ok(msg):
    print(f"ok {msg}")


def t(s):
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


def classes(e):
    return set(e.get("class", "").split())


def main():
    path, mode, container = sys.argv[1:4]
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as e:
        fail(f"{path} is not well-formed XML: {e}")
    if root.tag != SVG + "svg":
        fail(f"root element is {root.tag}, not svg")
    t0, t1 = t(root.get("data-t0")), t(root.get("data-t1"))
    if not t0 < t1:
        fail(f"time range {t0} .. {t1} is empty")
    ok(f"SVG parses; pod {root.get('data-pod')}, {t0.isoformat()} .. {t1.isoformat()}")
    allel = list(root.iter())
    if not any("axis" in classes(e) for e in allel) or not any("tick" in classes(e) for e in allel):
        fail("no time axis with ticks")
    if not any("legend" in classes(e) for e in allel):
        fail("no legend")
    ok("time axis and legend drawn")
    lane = next((e for e in allel if "lane" in classes(e) and e.get("data-container") == container), None)
    if lane is None:
        fail(f"no lane for container {container}: {[e.get('data-container') for e in allel if 'lane' in classes(e)]}")
    ok(f"lane for container {container} (restarts {lane.get('data-restarts')})")
    segs = [(e.get("data-state"), t(e.get("data-start")), t(e.get("data-end"))) for e in lane.iter() if "seg" in classes(e)]
    hooks = [(e.get("data-hook").lower(), e.get("data-result"), t(e.get("data-start")), t(e.get("data-end"))) for e in lane.iter() if "hook" in classes(e)]
    marks = [(e.get("data-kind"), t(e.get("data-t")), e) for e in lane.iter() if "mark" in classes(e)]
    pod_marks = [(e.get("data-kind"), t(e.get("data-t"))) for e in allel if "pod-mark" in classes(e)]
    for s, a, b in segs:
        if not (t0 <= a <= b <= t1):
            fail(f"state bar {s} {a} .. {b} is not inside {t0} .. {t1}")
    for h, _r, a, b in hooks:
        if not a <= b:
            fail(f"hook bar {h} ends before it starts: {a} .. {b}")
    print(f"# states: {[s for s, _, _ in segs]}")
    # The lane's states follow a container's lifecycle: a created
    # container's entrypoint starts (or it fails), nothing runs again
    # before a new container is created.
    follows = {
        "waiting": {"created"},
        "created": {"starting", "exited", "terminating"},
        "starting": {"running", "terminating", "exited"},
        "running": {"terminating", "exited"},
        "terminating": {"exited"},
        "exited": {"backoff", "created", "waiting"},
        "backoff": {"created", "waiting"},
    }
    # Back-off is an exited container's wait (the layout turns its exit
    # into back-off when a restart is scheduled): it may stand wherever an
    # exit may.
    for nxt in follows.values():
        if "exited" in nxt:
            nxt.add("backoff")
    for (sa, a0, a1), (sb, b0, _b1) in zip(segs, segs[1:]):
        if sb not in follows.get(sa, set()):
            fail(f"state {sb} at {b0.isoformat()} follows {sa} at {a0.isoformat()}: {[x for x, _, _ in segs]}")
        if not a0 <= a1 <= b0:
            fail(f"state bars overlap or go back: {sa} {a0.isoformat()} .. {a1.isoformat()}, then {sb} at {b0.isoformat()}")
    ok("states in lifecycle order, one after the other")
    print(f"# hooks: {[(h, r) for h, r, _, _ in hooks]}")
    print(f"# marks: {[k for k, _, _ in marks]} pod marks: {[k for k, _ in pod_marks]}")

    def first(kind):
        return next((x for k, x, _ in marks if k == kind), None)

    if mode == "deleted":
        running = [a for s, a, _ in segs if s == "running"]
        if not running:
            fail(f"no Running state bar: {segs}")
        ok("Running state bar")
        post = next((h for h in hooks if h[0] == "poststart"), None)
        pre = next((h for h in hooks if h[0] == "prestop"), None)
        if post is None or pre is None:
            fail(f"missing a hook bar (postStart {post}, preStop {pre})")
        ok(f"postStart bar ({post[1]}) and preStop bar ({pre[1]})")
        deleted = next((x for k, x in pod_marks if k == "PodDeleted"), None)
        if deleted is None:
            fail(f"no deletion mark: {pod_marks}")
        ok("deletion mark")
        stop, exited = first("StopSignal"), first("Exited")
        if stop is None or exited is None:
            fail(f"no stop signal ({stop}) or no exit ({exited}) mark")
        ok("stop signal and exit marks")
        order = [
            ("postStart start", post[2]),
            ("postStart end", post[3]),
            ("deletion", deleted),
            ("preStop start", pre[2]),
            ("preStop end", pre[3]),
            ("stop signal", stop),
            ("exit", exited),
        ]
        for (na, a), (nb, b) in zip(order, order[1:]):
            if not a <= b:
                fail(f"{na} ({a.isoformat()}) is after {nb} ({b.isoformat()})")
        if not running[0] <= deleted:
            fail(f"Running starts ({running[0]}) after the deletion ({deleted})")
        ok("in time order: " + " <= ".join(n for n, _ in order) + "; Running before the deletion")
    elif mode == "crashloop":
        restarts = int(lane.get("data-restarts") or 0)
        if restarts < 2:
            fail(f"lane says {restarts} restarts, want >= 2")
        exits = [(x, e.get("data-exit-code")) for k, x, e in marks if k == "Exited"]
        if len(exits) < 3 or any(c is None for _, c in exits):
            fail(f"want >= 3 exits with their code: {exits}")
        ok(f"{restarts} restarts, exits with codes {[c for _, c in exits]}")
        backoffs = [x for k, x, _ in marks if k == "BackOff"] + [a for s, a, _ in segs if s == "backoff"]
        if len(backoffs) < 2:
            fail(f"want >= 2 back-off marks or bars: {[k for k, _, _ in marks]} {[s for s, _, _ in segs]}")
        ok(f"{len(backoffs)} back-offs drawn")
        starts = sorted(a for s, a, _ in segs if s == "starting")
        times = [x for x, _ in exits]
        if times != sorted(times):
            fail(f"exits out of order: {times}")
        for b in backoffs:
            if not any(x <= b for x in times):
                fail(f"back-off at {b} has no exit before it")
            if not any(x >= b for x in starts) and b < max(starts):
                fail(f"back-off at {b} has no start after it: {starts}")
        ok("in time order: each back-off follows an exit, restarts follow")
    else:
        fail(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
