#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets (fuzz/seeds/<target>/).

Seeds are small real inputs: a fuzzer mutating them reaches the parsers'
deep paths much sooner than from random bytes. The files are kept in the
repo; run this again only to change them (python3 fuzz/seeds/make.py).
"""

import gzip
import io
import json
import os
import re
import struct
import tarfile
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def put(target, name, data):
    d = os.path.join(HERE, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


# --- unpack_layer: tar layers, hostile ones included ----------------------

def layer(entries, compress=None):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for e in entries:
            ti = tarfile.TarInfo(e["name"])
            ti.type = e.get("type", tarfile.REGTYPE)
            ti.mode = e.get("mode", 0o644)
            ti.linkname = e.get("link", "")
            ti.pax_headers = e.get("pax", {})
            data = e.get("data", b"")
            ti.size = len(data) if ti.type == tarfile.REGTYPE else 0
            t.addfile(ti, io.BytesIO(data) if ti.type == tarfile.REGTYPE else None)
    raw = buf.getvalue()
    if compress == "gzip":
        return gzip.compress(raw, mtime=0)
    return raw


D = tarfile.DIRTYPE
S = tarfile.SYMTYPE
H = tarfile.LNKTYPE
put("unpack_layer", "plain.tar", layer([
    {"name": "etc/", "type": D, "mode": 0o755},
    {"name": "etc/passwd", "data": b"root:x:0:0:root:/root:/bin/sh\n"},
    {"name": "bin/", "type": D, "mode": 0o755},
    {"name": "bin/su", "data": b"\x7fELF", "mode": 0o4755},
    {"name": "bin/sh", "type": S, "link": "busybox"},
    {"name": "bin/ls", "type": H, "link": "etc/passwd"},
    {"name": "run/fifo", "type": tarfile.FIFOTYPE},
]))
put("unpack_layer", "whiteouts.tar.gz", layer([
    {"name": "etc/.wh.passwd"},
    {"name": "var/.wh..wh..opq"},
    {"name": "usr/", "type": D, "pax": {"SCHILY.xattr.user.k": "v"}},
], "gzip"))
put("unpack_layer", "hostile.tar", layer([
    {"name": "../escape", "data": b"x"},
    {"name": "/abs", "data": b"y"},
    {"name": "lnk", "type": S, "link": "/tmp"},
    {"name": "lnk/through", "data": b"z"},
    {"name": "hard", "type": H, "link": "/etc/shadow"},
    {"name": "dev", "type": tarfile.CHRTYPE},
    {"name": "sub/.wh...", "data": b""},
]))

# --- cri_log: 4 option bytes, then a CRI log file -------------------------

LOG = (b"2026-01-01T00:00:00.000000001Z stdout F one\n"
       b"2026-01-01T00:00:01.000000001Z stdout P tw\n"
       b"2026-01-01T00:00:01.500000001Z stdout F o\n"
       b"2026-01-01T00:00:02.000000001Z stderr F three\n"
       b"2026-01-01T00:00:03.000000001Z stdout F \xff\xfe not utf-8\n"
       b"2026-01-01T00:00:04.000000001Z stdout F:x tagged\n"
       b"half a line without newline")
put("cri_log", "all", b"\x00\x00\x00\x80" + LOG)
put("cri_log", "tail-limit-timestamps", b"\x82\x84\x07\x40" + LOG)

# --- api_body: selector byte, then a body -----------------------------------

POD = {"apiVersion": "v1", "kind": "Pod",
       "metadata": {"name": "web", "labels": {"app": "web"}},
       "spec": {"containers": [{"name": "c", "image": "busybox",
                                "command": ["sh", "-c", "sleep 1d"],
                                "env": [{"name": "A", "value": "1"}],
                                "ports": [{"containerPort": 80}]}]}}
put("api_body", "create.json", b"\x00" + json.dumps(POD).encode())
put("api_body", "create.yaml", b"\x01" + b"""apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  containers:
  - name: c
    image: busybox
    securityContext: {runAsUser: 1000}
    resources: {limits: {cpu: 100m, memory: 64Mi}}
""")
put("api_body", "no-type.json", b"\x02" + json.dumps({"metadata": {"name": "x"}, "spec": POD["spec"]}).encode())
put("api_body", "protobuf", b"\x03k8s\x00\x0a\x09\x0a\x02v1\x12\x03Pod\x12\x00")
put("api_body", "json-patch", b"\x40" + json.dumps([
    {"op": "replace", "path": "/spec/containers/0/image", "value": "nginx"},
    {"op": "add", "path": "/metadata/labels/x", "value": "y"},
    {"op": "test", "path": "/metadata/name", "value": "fuzz"},
    {"op": "remove", "path": "/metadata/annotations"}]).encode())
put("api_body", "merge-patch", b"\x41" + json.dumps({"metadata": {"labels": {"app": None, "b": "c"}}}).encode())
put("api_body", "strategic-patch", b"\x42" + json.dumps({
    "metadata": {"$setElementOrder/finalizers": ["a"]},
    "spec": {"containers": [{"name": "c", "image": "nginx",
                             "env": [{"name": "A", "$patch": "delete"}]}],
             "$setElementOrder/containers": [{"name": "c"}]}}).encode())
put("api_body", "apply-patch", b"\x43" + b"""apiVersion: v1
kind: Pod
metadata:
  name: fuzz
spec:
  containers:
  - name: c
    image: nginx
""")

# --- stream_framing: SPDY/3.1 session or exec channel messages -------------

src = open(os.path.join(ROOT, "crates/nodelet-api/src/portforward/dict.rs")).read()
names = re.findall(r'^\s+"([^"]*)",$', src.split("const TAIL")[0], re.M)
tail = re.search(r'const TAIL: &str = "(.*)";', src).group(1)
DICT = b"".join(struct.pack(">I", len(n)) + n.encode() for n in names) + tail.encode()
assert len(DICT) == 1423, len(DICT)
z = zlib.compressobj(zdict=DICT)


def headers(h):
    raw = struct.pack(">I", len(h))
    for k, v in h:
        raw += struct.pack(">I", len(k)) + k.encode() + struct.pack(">I", len(v)) + v.encode()
    return z.compress(raw) + z.flush(zlib.Z_SYNC_FLUSH)


def control(ty, flags, payload):
    return struct.pack(">HHI", 0x8003, ty, (flags << 24) | len(payload)) + payload


def syn(sid, h, fin=False):
    return control(1, 1 if fin else 0, struct.pack(">II", sid, 0) + b"\x00\x00" + headers(h))


def data(sid, d, fin=False):
    return struct.pack(">II", sid, ((1 if fin else 0) << 24) | len(d)) + d


session = (syn(1, [("streamtype", "error"), ("port", "80"), ("requestid", "0")])
           + syn(3, [("streamtype", "data"), ("port", "80"), ("requestid", "0")])
           + data(3, b"GET / HTTP/1.0\r\n\r\n")
           + control(6, 0, struct.pack(">I", 1))
           + data(3, b"", True)
           + control(3, 0, struct.pack(">II", 1, 5))
           + control(7, 0, struct.pack(">II", 0, 0)))
put("stream_framing", "spdy-port-forward", b"\x00" + session)


def msgs(*ms):
    return b"".join(struct.pack(">H", len(m)) + m for m in ms)


ex = msgs(b"\x00ls -l\n", b'\x04{"Width":80,"Height":24}', b"\xff\x00", b"\x01x", b"")
put("stream_framing", "exec-v5", b"\x01" + ex)
put("stream_framing", "exec-v4", b"\x02" + ex)

# --- registry_manifest: what registries answer ------------------------------

D1 = "sha256:" + "a" * 64
D2 = "sha256:" + "b" * 64
put("registry_manifest", "oci-index.json", json.dumps({
    "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
    "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": D1, "size": 10,
         "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": D2, "size": 11,
         "platform": {"os": "linux", "architecture": "amd64"}},
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": D2, "size": 11,
         "platform": {"os": "unknown", "architecture": "unknown"}}]}))
put("registry_manifest", "docker-manifest.json", json.dumps({
    "schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
    "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 1469, "digest": D1},
    "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 2, "digest": D2}]}))
put("registry_manifest", "oci-manifest.json", json.dumps({
    "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": 7, "digest": D1},
    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+zstd", "size": 2, "digest": D2}],
    "annotations": {"org.opencontainers.image.ref.name": "latest"}}))
put("registry_manifest", "schema1.json", json.dumps({"schemaVersion": 1, "name": "x", "fsLayers": []}))
put("registry_manifest", "config.json", json.dumps({
    "architecture": "amd64", "os": "linux",
    "config": {"Env": ["PATH=/bin"], "Entrypoint": ["/bin/sh"], "Cmd": ["-c", "id"],
               "User": "1000:1000", "WorkingDir": "/w", "ExposedPorts": {"80/tcp": {}},
               "StopSignal": "SIGTERM"},
    "rootfs": {"type": "layers", "diff_ids": [D2]},
    "history": [{"created_by": "x"}]}))
put("registry_manifest", "reference", b"registry.k8s.io/pause:3.10@sha256:" + b"c" * 64)

# --- the stored pod of api_body's patches ----------------------------------

stored = {"apiVersion": "v1", "kind": "Pod",
          "metadata": {"name": "fuzz", "namespace": "default", "uid": "0b3c2a4e-1111-2222-3333-444455556666",
                       "resourceVersion": "7", "generation": 1, "labels": {"app": "web"},
                       "annotations": {"a": "b"}, "creationTimestamp": "2026-01-01T00:00:00Z"},
          "spec": {"containers": [{"name": "c", "image": "busybox", "imagePullPolicy": "Always",
                                   "env": [{"name": "A", "value": "1"}],
                                   "ports": [{"containerPort": 80, "protocol": "TCP"}],
                                   "resources": {}, "terminationMessagePath": "/dev/termination-log",
                                   "terminationMessagePolicy": "File"}],
                   "restartPolicy": "Always", "terminationGracePeriodSeconds": 30,
                   "dnsPolicy": "ClusterFirst", "schedulerName": "default-scheduler",
                   "enableServiceLinks": True, "preemptionPolicy": "PreemptLowerPriority",
                   "priority": 0, "securityContext": {}, "serviceAccountName": "default",
                   "tolerations": []},
          "status": {"phase": "Running", "qosClass": "BestEffort"}}
with open(os.path.join(HERE, "stored_pod.json"), "w") as f:
    json.dump(stored, f, indent=1)
    f.write("\n")
