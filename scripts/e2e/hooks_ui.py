#!/usr/bin/env python3
"""Loads nodelet's `/ui/` page in headless Chromium, driven over the
DevTools protocol (run by scripts/hooks-e2e-real.sh).

Usage: hooks_ui.py CHROMIUM BASE_URL TOKEN_FILE NAMESPACE/POD OUT_DIR

The page is authenticated the way every API path is: the bearer token of
<root>/pki/token, sent as an `Authorization` header on every request of
the page (Network.setExtraHTTPHeaders, so the page's own watch fetch
carries it too). The agent's certificate is signed by its private CA, which
this throwaway browser profile does not trust: certificate errors are
ignored for this session only (Security.setIgnoreCertificateErrors).

Checks, each printed as `ok <what>`; the first failure exits 1 with what
was found: the index lists the pod; the pod page draws an SVG timeline with
a lane per container and the postStart/preStop hook bars with a visible
size; the live watch of the page is connected. Screenshots of both pages
go to OUT_DIR (index.png, pod.png).

Only the standard library: a minimal WebSocket client (RFC 6455 client
frames, masked; the server's unmasked, possibly fragmented) is enough for
the DevTools protocol.
"""

import base64
import json
import os
import socket
import struct
import subprocess
import sys
import time
import urllib.parse
import urllib.request


def fail(msg):
    print(f"not ok {msg}", file=sys.stderr)
    sys.exit(1)


class WS:
    def __init__(self, url):
        u = urllib.parse.urlparse(url)
        self.s = socket.create_connection((u.hostname, u.port), timeout=30)
        key = base64.b64encode(os.urandom(16)).decode()
        self.s.sendall(
            (
                f"GET {u.path} HTTP/1.1\r\nHost: {u.hostname}:{u.port}\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = self.s.recv(4096)
            if not chunk:
                raise OSError("DevTools closed the connection during the handshake")
            buf += chunk
        head, self.buf = buf.split(b"\r\n\r\n", 1)
        status = head.split(b"\r\n", 1)[0]
        if b" 101 " not in status:
            raise OSError(f"DevTools refused the WebSocket: {status!r}")
        self.next_id = 0
        self.events = []

    def _exact(self, n):
        while len(self.buf) < n:
            chunk = self.s.recv(1 << 16)
            if not chunk:
                raise OSError("DevTools closed the connection")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _frame(self):
        b0, b1 = self._exact(2)
        n = b1 & 0x7F
        if n == 126:
            (n,) = struct.unpack(">H", self._exact(2))
        elif n == 127:
            (n,) = struct.unpack(">Q", self._exact(8))
        mask = self._exact(4) if b1 & 0x80 else None
        data = self._exact(n)
        if mask:
            data = bytes(c ^ mask[i % 4] for i, c in enumerate(data))
        return b0 & 0x80, b0 & 0x0F, data

    def recv(self):
        parts = []
        while True:
            fin, op, data = self._frame()
            if op == 8:
                raise OSError("DevTools closed the WebSocket")
            if op in (9, 10):  # ping/pong: nothing to answer for this session
                continue
            parts.append(data)
            if fin:
                return json.loads(b"".join(parts))

    def send(self, obj):
        data = json.dumps(obj).encode()
        mask = os.urandom(4)
        n = len(data)
        if n < 126:
            head = struct.pack(">BB", 0x81, 0x80 | n)
        elif n < 1 << 16:
            head = struct.pack(">BBH", 0x81, 0x80 | 126, n)
        else:
            head = struct.pack(">BBQ", 0x81, 0x80 | 127, n)
        self.s.sendall(head + mask + bytes(c ^ mask[i % 4] for i, c in enumerate(data)))

    def call(self, method, **params):
        self.next_id += 1
        my = self.next_id
        self.send({"id": my, "method": method, "params": params})
        while True:
            m = self.recv()
            if m.get("id") == my:
                if "error" in m:
                    raise OSError(f"{method}: {m['error']}")
                return m.get("result", {})
            if "method" in m:
                self.events.append(m)

    def wait_event(self, method, secs):
        end = time.time() + secs
        while time.time() < end:
            for i, e in enumerate(self.events):
                if e["method"] == method:
                    return self.events.pop(i)
            m = self.recv()
            if "method" in m:
                self.events.append(m)
        raise OSError(f"no {method} within {secs}s")


def evaluate(ws, expr):
    r = ws.call("Runtime.evaluate", expression=expr, returnByValue=True, awaitPromise=True)
    if "exceptionDetails" in r:
        raise OSError(f"page script failed: {r['exceptionDetails']}")
    return r["result"].get("value")


def navigate(ws, url):
    # Chromium aborts its requests with ERR_NETWORK_CHANGED whenever an
    # address on the host changes, and pods' veths come and go on this
    # host while the page loads (the earlier sections' teardowns). That is
    # the browser reacting to the host, not the page failing: load again,
    # and say so.
    for attempt in range(5):
        ws.events.clear()
        r = ws.call("Page.navigate", url=url)
        err = r.get("errorText")
        if err == "net::ERR_NETWORK_CHANGED" and attempt < 4:
            print(f"# loading {url}: {err} (a host interface changed), loading again")
            time.sleep(0.2 * (attempt + 1))
            continue
        if err:
            fail(f"loading {url}: {err}")
        break
    ws.wait_event("Page.loadEventFired", 30)


def screenshot(ws, path):
    r = ws.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
    with open(path, "wb") as f:
        f.write(base64.b64decode(r["data"]))
    print(f"ok screenshot {path} ({os.path.getsize(path)} bytes)")


def main():
    chromium, base, token_file, pod, out = sys.argv[1:6]
    token = open(token_file).read().strip()
    ns, name = pod.split("/", 1)
    profile = os.path.join(out, "chromium-profile")
    os.makedirs(profile, exist_ok=True)
    proc = subprocess.Popen(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--no-first-run",
            "--remote-debugging-port=0",
            f"--user-data-dir={profile}",
            "--window-size=1400,1000",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=open(os.path.join(out, "chromium.log"), "wb"),
    )
    try:
        port_file = os.path.join(profile, "DevToolsActivePort")
        for _ in range(300):
            if os.path.exists(port_file) and open(port_file).read().count("\n") >= 1:
                break
            if proc.poll() is not None:
                fail(f"chromium exited ({proc.returncode}); see {out}/chromium.log")
            time.sleep(0.1)
        else:
            fail("chromium did not open its DevTools port within 30s")
        port = int(open(port_file).read().split("\n")[0])
        targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10))
        page = next((t for t in targets if t.get("type") == "page"), None)
        if page is None:
            fail(f"no page target in {targets}")
        ws = WS(page["webSocketDebuggerUrl"])
        ws.call("Page.enable")
        ws.call("Network.enable")
        ws.call("Security.setIgnoreCertificateErrors", ignore=True)

        # Without the token the page is refused like every API path.
        navigate(ws, f"{base}/ui/")
        body = evaluate(ws, "document.body.innerText")
        if "Unauthorized" not in body and "401" not in body:
            fail(f"/ui/ without credentials was not refused: {body[:300]!r}")
        print("ok /ui/ without the token is refused (401)")

        ws.call("Network.setExtraHTTPHeaders", headers={"Authorization": f"Bearer {token}"})
        navigate(ws, f"{base}/ui/")
        pods = evaluate(ws, "[...document.querySelectorAll('li[data-pod] a')].map(a => a.textContent)")
        if pod not in (pods or []):
            fail(f"/ui/ does not list {pod}: {pods}")
        print(f"ok /ui/ lists {pod} among {len(pods)} pods")
        screenshot(ws, os.path.join(out, "index.png"))

        navigate(ws, f"{base}/ui/pods/{ns}/{name}")
        time.sleep(1)  # the watch fetch connects after load
        drawn = evaluate(
            ws,
            """(() => {
              const box = e => { const r = e.getBoundingClientRect(); return [r.width, r.height]; };
              const svg = document.querySelector('svg.nodelet-timeline');
              return {
                svg: svg ? box(svg) : null,
                lanes: [...document.querySelectorAll('svg g.lane')].map(g => [g.dataset.container, box(g)]),
                hooks: [...document.querySelectorAll('svg rect.hook')].map(r => [r.dataset.container, r.dataset.hook, r.dataset.result, box(r)]),
                segs: [...document.querySelectorAll('svg rect.seg')].map(r => r.dataset.state),
                live: document.body.dataset.live || '',
                liveError: document.body.dataset.liveError || '',
              };
            })()""",
        )
        if not drawn or not drawn["svg"] or drawn["svg"][0] < 100:
            fail(f"no timeline SVG drawn on the pod page: {drawn}")
        print(f"ok the pod page draws the timeline SVG ({drawn['svg'][0]:.0f}x{drawn['svg'][1]:.0f})")
        lanes = [c for c, (w, h) in drawn["lanes"] if w > 0 and h > 0]
        if not lanes:
            fail(f"no container lane drawn: {drawn['lanes']}")
        print(f"ok container lanes drawn: {lanes}")
        if "running" not in drawn["segs"]:
            fail(f"no Running state bar: {drawn['segs']}")
        print("ok a Running state bar is drawn")
        hooks = {(c, h) for c, h, _r, (w, hh) in drawn["hooks"] if w > 0 and hh > 0}
        for want in ("PostStart", "PreStop"):
            if not any(h.lower() == want.lower() for _c, h in hooks):
                fail(f"no {want} hook bar drawn: {drawn['hooks']}")
            print(f"ok a {want} hook bar is drawn ({[r for _c, h, r, _b in drawn['hooks'] if h.lower() == want.lower()]})")
        # The page says how its watch is (data-live: on once the server
        # accepted it; reconnecting after a dropped connection; off when
        # refused or out of retries).
        live, error = drawn["live"], drawn.get("liveError")
        for _ in range(50):
            if live in ("on", "off"):
                break
            time.sleep(0.1)
            live, error = evaluate(ws, "[document.body.dataset.live || '', document.body.dataset.liveError || '']")
        if live != "on":
            fail(f"the page's live watch is not connected (data-live={live!r}: {error})")
        print(f"ok the page's live watch is connected{f' (after: {error})' if error else ''}")
        screenshot(ws, os.path.join(out, "pod.png"))
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


if __name__ == "__main__":
    try:
        main()
    except OSError as e:
        fail(str(e))
