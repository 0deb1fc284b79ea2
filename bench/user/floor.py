"""The floor under one pod's start: what a minimal runtime must do to run
the same container with a pod network, without an agent.

  ip netns add            a named network namespace (the pod's);
  CNI ADD                 nodelet's own conflist (bridge + host-local IPAM,
                          then portmap), each plugin executed with the
                          previous one's result, as libcni does;
  runc run -d             the bundle nodelet generated for the same pod
                          (its config.json, taken from a running pod of the
                          bench), joining that network namespace; the rootfs
                          unpacked from the same image beforehand (a plain
                          directory: nodelet's overlay mount is part of what
                          nodelet adds, not of the floor).

Every step is timed on its own; teardown (runc delete, CNI DEL, netns del)
is not timed. What was set up is recorded under <tmp>/floor/pending until
it is torn down, so `floor.py cleanup <tmp>` (bench/user.sh's exit trap)
removes what an interrupted run left."""

import gzip
import io
import json
import os
import resource
import shutil
import subprocess
import sys
import tarfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import now, run_ok  # noqa: E402

CNI_DIRS = ("/usr/lib/cni", "/opt/cni/bin")
ENV_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def unpack_image(image_tar, dest):
    """Unpacks an OCI image-layout tarball's single image into `dest`
    (layers in order; the test images have no whiteouts)."""
    with tarfile.open(image_tar) as outer:
        def blob(digest):
            return outer.extractfile("blobs/sha256/" + digest.split(":", 1)[1]).read()
        index = json.load(outer.extractfile("index.json"))
        manifest = json.loads(blob(index["manifests"][0]["digest"]))
        os.makedirs(dest, exist_ok=True)
        for layer in manifest["layers"]:
            data = blob(layer["digest"])
            if layer["mediaType"].endswith("gzip"):
                data = gzip.decompress(data)
            with tarfile.open(fileobj=io.BytesIO(data)) as t:
                t.extractall(dest, numeric_owner=True)


class Floor:
    def __init__(self, tmp, runc_config, conflist_path, image_tar, tag):
        """`runc_config`: the config.json of a running pod's container;
        its pod-private bind sources (under `tmp`) are copied now, while
        they exist."""
        self.tmp, self.tag = tmp, tag
        self.dir = os.path.join(tmp, "floor")
        self.runc_root = os.path.join(self.dir, "runc")
        self.pending = os.path.join(self.dir, "pending")
        os.makedirs(self.pending, exist_ok=True)
        with open(conflist_path) as f:
            self.conflist = json.load(f)
        with open(runc_config) as f:
            spec = json.load(f)
        rootfs = os.path.join(self.dir, "rootfs")
        unpack_image(image_tar, rootfs)
        spec["root"] = {"path": rootfs, "readonly": bool(spec.get("root", {}).get("readonly"))}
        for i, m in enumerate(spec.get("mounts") or []):
            src = m.get("source") or ""
            if src.startswith(tmp + "/") and os.path.exists(src):
                dst = os.path.join(self.dir, "mnt", str(i), os.path.basename(src))
                os.makedirs(os.path.dirname(dst), exist_ok=True)
                if os.path.isdir(src):
                    shutil.copytree(src, dst, symlinks=True)
                else:
                    shutil.copy2(src, dst)
                m["source"] = dst
        spec.pop("hooks", None)
        self.spec = spec

    def _bundle(self, i, netns):
        spec = json.loads(json.dumps(self.spec))
        nss = []
        for ns in spec["linux"].get("namespaces") or []:
            ns = {"type": ns["type"]}  # new namespaces, not the gone pod's pins…
            if ns["type"] == "network":
                ns["path"] = netns  # …but the one just attached
            nss.append(ns)
        spec["linux"]["namespaces"] = nss
        spec["linux"]["cgroupsPath"] = f"/{self.tag}-{i}"
        b = os.path.join(self.dir, f"b{i}")
        os.makedirs(b, exist_ok=True)
        with open(os.path.join(b, "config.json"), "w") as f:
            json.dump(spec, f)
        return b

    def round(self, i):
        """One timed start; returns the times in seconds and tears down."""
        name = f"{self.tag}-{i}"
        netns = f"/run/netns/{name}"
        bundle = self._bundle(i, netns)
        rec = {"name": name, "netns": netns, "runc_root": self.runc_root, "conflist": self.conflist}
        self._record(rec)
        t0, c0 = now(), children_cpu()
        run_ok(["ip", "netns", "add", name])
        t1, c1 = now(), children_cpu()
        rec["result"] = cni("ADD", self.conflist, netns, name)
        t2, c2 = now(), children_cpu()
        self._record(rec)
        # The detached container inherits runc's stdio: no pipe (it would
        # be held open), a file for runc's own errors.
        with open(os.path.join(self.dir, "runc.log"), "a") as log:
            r = subprocess.run(["runc", "--root", self.runc_root, "run", "-d", "--bundle", bundle, name],
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log)
        t3, c3 = now(), children_cpu()
        if r.returncode != 0:
            with open(os.path.join(self.dir, "runc.log")) as log:
                raise SystemExit(f"bench/user.sh: runc run -d of the floor bundle failed: {log.read()[-2000:]}")
        teardown(rec)
        os.unlink(os.path.join(self.pending, name + ".json"))
        shutil.rmtree(bundle, ignore_errors=True)
        return {"netns_add": t1 - t0, "cni_add": t2 - t1, "runc_run": t3 - t2, "total": t3 - t0,
                "cni_add_cpu": c2 - c1, "runc_run_cpu": c3 - c2}

    def _record(self, rec):
        with open(os.path.join(self.pending, rec["name"] + ".json"), "w") as f:
            json.dump(rec, f)


def children_cpu():
    """User + system CPU seconds of the reaped children (and theirs) so
    far: what the plugins and runc (to its exit; not the container) cost."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def plugin_path(kind):
    for d in CNI_DIRS:
        p = os.path.join(d, kind)
        if os.access(p, os.X_OK):
            return p
    raise SystemExit(f"bench/user.sh: CNI plugin {kind} not found in {CNI_DIRS}")


def cni(command, conflist, netns, cid, prev=None):
    """Runs the conflist's plugins (reversed for DEL), libcni-style; the
    last ADD result."""
    plugins = conflist["plugins"]
    if command == "DEL":
        plugins = list(reversed(plugins))
    result = prev
    for p in plugins:
        conf = dict(p, cniVersion=conflist["cniVersion"], name=conflist["name"])
        if result is not None:
            conf["prevResult"] = result
        env = {"CNI_COMMAND": command, "CNI_CONTAINERID": cid, "CNI_NETNS": netns,
               "CNI_IFNAME": "eth0", "CNI_PATH": ":".join(CNI_DIRS), "PATH": ENV_PATH}
        r = subprocess.run([plugin_path(p["type"])], input=json.dumps(conf), env=env,
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise SystemExit(f"bench/user.sh: CNI {command} {p['type']} failed: {r.stdout} {r.stderr}")
        if command == "ADD":
            result = json.loads(r.stdout)
    return result


def teardown(rec):
    """Removes the container, the network attachment and the namespace of
    one floor round (whatever of them exists)."""
    subprocess.run(["runc", "--root", rec["runc_root"], "delete", "-f", rec["name"]],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if os.path.exists(rec["netns"]):
        try:
            cni("DEL", rec["conflist"], rec["netns"], rec["name"], rec.get("result"))
        finally:
            subprocess.run(["ip", "netns", "del", rec["name"]], stderr=subprocess.DEVNULL)


def cleanup(tmp):
    d = os.path.join(tmp, "floor", "pending")
    for f in sorted(os.listdir(d)) if os.path.isdir(d) else []:
        with open(os.path.join(d, f)) as fh:
            teardown(json.load(fh))
        os.unlink(os.path.join(d, f))


if __name__ == "__main__" and sys.argv[1:2] == ["cleanup"]:
    cleanup(sys.argv[2])
