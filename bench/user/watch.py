"""One watch on the agent's pods for the whole run, opened before the
first apply: every pod's first ADDED, first Ready=True and DELETED, with
the time this process read them (monotonic clock).

It is the API's own watch stream (`GET …/pods?watch=true`, one JSON event
per line) read by a thread, not `kubectl get -w` — no printer and no pipe
between the event and its timestamp. When the server ends the stream it is
reopened from the last resourceVersion seen, so no event is missed; pod
names are unique within a run, so the first time of each kind is the one
of that pod."""

import http.client
import json
import threading
import time

from common import now

NS = "default"


class Watcher:
    def __init__(self, addr, ctx):
        host, port = addr.rsplit(":", 1)
        self.host, self.port, self.ctx = host, int(port), ctx
        self.cond = threading.Condition()
        self.added, self.ready, self.deleted = {}, {}, {}
        self.rv = None
        self.error = None
        self.opened = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()
        if not self.opened.wait(30):
            raise SystemExit("bench/user.sh: the pod watch did not open in 30 s")

    def _run(self):
        while True:
            try:
                self._stream()
            except Exception as e:  # reopen: a transient failure must not end the run
                with self.cond:
                    self.error = repr(e)
                time.sleep(0.05)

    def _stream(self):
        conn = http.client.HTTPSConnection(self.host, self.port, context=self.ctx)
        path = f"/api/v1/namespaces/{NS}/pods?watch=true"
        if self.rv:
            path += f"&resourceVersion={self.rv}"
        conn.request("GET", path)
        resp = conn.getresponse()
        if resp.status != 200:
            body = resp.read()[:300]
            self.rv = None  # e.g. 410 Gone: list again from now
            raise RuntimeError(f"watch answered {resp.status}: {body!r}")
        self.opened.set()
        for line in resp:
            t = now()
            if not line.strip():
                continue
            ev = json.loads(line)
            kind, obj = ev.get("type"), ev.get("object") or {}
            if kind == "ERROR":  # e.g. 410 Gone: list again from now
                self.rv = None
                return
            meta = obj.get("metadata") or {}
            name = meta.get("name")
            self.rv = meta.get("resourceVersion") or self.rv
            with self.cond:
                if kind in ("ADDED", "MODIFIED"):
                    self.added.setdefault(name, t)
                    if is_ready(obj):
                        self.ready.setdefault(name, t)
                elif kind == "DELETED":
                    self.deleted.setdefault(name, t)
                self.cond.notify_all()
        conn.close()

    def wait_all(self, names, what, timeout):
        """Blocks until every name has a `what` ("ready", "deleted")
        time; returns {name: t}. SystemExit after `timeout` seconds."""
        seen = getattr(self, what)
        deadline = now() + timeout
        with self.cond:
            while True:
                missing = [n for n in names if n not in seen]
                if not missing:
                    return {n: seen[n] for n in names}
                left = deadline - now()
                if left <= 0:
                    raise SystemExit(f"bench/user.sh: {len(missing)}/{len(names)} pods not {what} "
                                     f"after {timeout} s (e.g. {missing[0]}; watch error: {self.error})")
                self.cond.wait(min(left, 1.0))

    def times(self, names, what):
        seen = getattr(self, what)
        with self.cond:
            return {n: seen[n] for n in names if n in seen}


def is_ready(pod):
    conds = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conds)
