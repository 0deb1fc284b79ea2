"""Small shared pieces of bench/user.sh's driver: the clock, percentiles,
the admin TLS context taken from the agent's kubeconfig, and commands that
must succeed."""

import base64
import json
import os
import ssl
import subprocess
import tempfile
import time

now = time.monotonic


def pct(xs, q):
    """Nearest-rank percentile (as bench/volumes.sh): p99 of 20 samples is
    the largest, never an interpolation below it."""
    xs = sorted(xs)
    if not xs:
        return None
    return xs[max(0, min(len(xs) - 1, -(-len(xs) * q // 100) - 1))]


def median(xs):
    return pct(xs, 50)


def r3(x):
    return None if x is None else round(x, 3)


def ms(x):
    return None if x is None else round(x * 1e3, 1)


def tls_context(kubectl, tmp):
    """An SSL context with the kubeconfig's CA and admin client certificate
    (the driver's own HTTP client: a kubectl process per request would add
    its start-up to every figure that is not about kubectl)."""
    cfg = json.loads(run_ok([kubectl, "config", "view", "--raw", "--minify", "-o", "json"]))
    cluster = cfg["clusters"][0]["cluster"]
    user = cfg["users"][0]["user"]
    d = tempfile.mkdtemp(dir=tmp, prefix="tls.")
    paths = {}
    for key, name in (("certificate-authority-data", "ca.crt"),):
        paths[name] = os.path.join(d, name)
        with open(paths[name], "wb") as f:
            f.write(base64.b64decode(cluster[key]))
    for key, name in (("client-certificate-data", "client.crt"), ("client-key-data", "client.key")):
        paths[name] = os.path.join(d, name)
        with open(paths[name], "wb") as f:
            f.write(base64.b64decode(user[key]))
    ctx = ssl.create_default_context(cafile=paths["ca.crt"])
    ctx.load_cert_chain(paths["client.crt"], paths["client.key"])
    return ctx


def run_ok(cmd, env=None, input=None, timeout=900):
    """Runs `cmd`; its stdout, or SystemExit naming it with its stderr."""
    r = subprocess.run(cmd, env=env, input=input, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise SystemExit(f"bench/user.sh: {' '.join(cmd[:4])}… failed ({r.returncode}): {r.stderr.strip()[-2000:]}")
    return r.stdout
