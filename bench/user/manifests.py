"""The pods of bench/user.sh: the pod of bench/lifecycle.sh's engine figure
(nodelet.local/testbin `pause`, which exits on SIGTERM, grace 10 s) in
three variants, as one multi-document YAML file (JSON documents are YAML)
that nodelet, kubectl and podman all read."""

import json
import os

IMAGE = "nodelet.local/testbin:latest"
VARIANTS = ("plain", "poststart", "readiness")


def pod(name, variant):
    c = {"name": "c", "image": IMAGE, "imagePullPolicy": "IfNotPresent",
         "command": ["/testbin", "pause"]}
    if variant == "poststart":
        c["lifecycle"] = {"postStart": {"exec": {"command": ["true"]}}}
    elif variant == "readiness":
        c["readinessProbe"] = {"exec": {"command": ["true"]}, "periodSeconds": 1}
    elif variant != "plain":
        raise ValueError(variant)
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default", "labels": {"bench": "user"}},
            "spec": {"terminationGracePeriodSeconds": 10, "containers": [c]}}


def write(dirpath, prefix, n, variant):
    """Writes `<prefix>.yaml` with pods `<prefix>-000`…; (path, names)."""
    names = [f"{prefix}-{i:03d}" for i in range(n)]
    path = os.path.join(dirpath, f"{prefix}.yaml")
    with open(path, "w") as f:
        f.write("\n---\n".join(json.dumps(pod(nm, variant)) for nm in names) + "\n")
    return path, names
