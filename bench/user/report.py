"""bench/user.sh's summary: medians over rounds, the ratios against issue
17's targets, user.json and user.svg."""

import json
import os

import plot
from common import median, r3

FIELDS = ("apply_s", "first_added_s", "last_added_s", "all_ready_s", "delete_s", "all_gone_s", "agent_cpu_s")


def summarise(out):
    """{variant: {n: {client: medians}}} over the rounds."""
    s = {}
    for r in out["rounds"]:
        s.setdefault(r["variant"], {}).setdefault(str(r["n"]), {}).setdefault(r["client"], []).append(r)
    for variant, by_n in s.items():
        for n, by_client in by_n.items():
            for client, rs in by_client.items():
                m = {f: r3(median([r[f] for r in rs])) for f in FIELDS}
                m["per_pod_ready_p50_ms"] = median([r["per_pod_ready_ms"]["p50"] for r in rs])
                m["per_pod_ready_p99_ms"] = median([r["per_pod_ready_ms"]["p99"] for r in rs])
                m["rounds"] = len(rs)
                by_client[client] = m
    return s


def target(name, value, limit, unit, met, detail=""):
    return {"target": name, "value": value, "limit": limit, "unit": unit,
            "met": None if value is None else met, "detail": detail}


def targets(out, s):
    def ready(variant, n, client="nodelet"):
        return ((s.get(variant) or {}).get(str(n)) or {}).get(client, {}).get("all_ready_s")

    def podman(variant, n):
        """The median kube play of the file (the 50-pod postStart one is
        played beside each of its nodelet rounds)."""
        v = [p["play_s"] for p in out["podman"]
             if p["variant"] == variant and p["n"] == n and p["play_s"] is not None]
        return r3(median(v)) if v else None

    # The 50-pod postStart figures come in pairs taken within a minute of
    # each other: `nodelet apply` round k, engine round k, podman play k.
    # This VM drifts 20-40 % within minutes, so each pair gives a ratio and
    # the target is decided on the median of those ratios; the ratio of the
    # medians is printed beside it.
    api = [r["all_ready_s"] for r in out["rounds"]
           if (r["variant"], r["n"], r["client"]) == ("poststart", 50, "nodelet")]
    engs = (out.get("engine") or {}).get("up50_s", [])
    plays = [p["play_s"] for p in out["podman"] if (p["variant"], p["n"]) == ("poststart", 50)]
    by_engine = [a / e for a, e in zip(api, engs) if a and e]
    by_podman = [p / a for a, p in zip(api, plays) if a and p]
    t = []
    eng = (out.get("engine") or {}).get("median_s")
    h50, h50k = ready("poststart", 50), ready("poststart", 50, "kubectl")
    v = r3(median(by_engine)) if by_engine else None
    t.append(target("50 pods (postStart) all Ready ≤ 1.2× the engine figure", v, 1.2, "×",
                    v is not None and v <= 1.2,
                    f"median of the pairs' ratios {[r3(x) for x in by_engine]}; "
                    f"nodelet apply {api} s, engine {engs} s; ratio of the medians "
                    f"{r3(h50 / eng) if h50 and eng else '-'}; kubectl apply {h50k} s "
                    f"({r3(h50k / eng) if h50k and eng else '-'}×)"))
    pm = podman("poststart", 50)
    v = r3(median(by_podman)) if by_podman else None
    t.append(target("50 pods ≥ 5× faster than podman kube play", v, 5, "× faster",
                    v is not None and v >= 5,
                    f"median of the pairs' ratios {[r3(x) for x in by_podman]}; podman kube play "
                    f"{plays} s (returns once started; podman 4.3 runs no postStart); ratio of the medians "
                    f"{r3(pm / h50) if pm and h50 else '-'}; "
                    f"plain: podman {podman('plain', 50)} s vs nodelet {ready('plain', 50)} s"))
    ap = [((s.get(x) or {}).get("50") or {}).get("nodelet", {}).get("apply_s") for x in s]
    ap = [x for x in ap if x is not None]
    v = median(ap) if ap else None
    t.append(target("nodelet apply of 50 objects ≤ 0.3 s", v, 0.3, "s", v is not None and v <= 0.3,
                    f"per variant {ap}; kubectl apply: "
                    f"{[((s.get(x) or {}).get('50') or {}).get('kubectl', {}).get('apply_s') for x in s]}"))
    one = out.get("one_pod") or {}
    p50 = (one.get("post_to_ready_ms") or {}).get("p50")
    fl = ((one.get("floor") or {}).get("total") or {}).get("p50")
    v = round(p50 / fl, 2) if p50 and fl else None
    t.append(target("one pod create → Ready ≤ 1.3× (runc run + network floor), p50", v, 1.3, "×",
                    v is not None and v <= 1.3, f"{p50} ms vs floor {fl} ms"))
    p99 = (one.get("post_to_ready_ms") or {}).get("p99")
    t.append(target("one pod create → Ready p99 ≤ 150 ms", p99, 150, "ms", p99 is not None and p99 <= 150,
                    f"ADDED → Ready p99 {(one.get('added_to_ready_ms') or {}).get('p99')} ms"))
    r200 = ready("plain", 200)
    v = round(r200 / 200 * 1e3, 1) if r200 else None
    t.append(target("200 pods ≤ 40 ms per pod (plain, nodelet apply → all Ready)", v, 40, "ms/pod",
                    v is not None and v <= 40,
                    f"postStart {ready('poststart', 200)} s, readiness {ready('readiness', 200)} s"
                    if r200 else "not measured (--quick)"))
    res = out["resources"]
    n, m = next(((k, res[f"pods{k}"]) for k in (500, 200, 50) if f"pods{k}" in res), (None, None))
    v = round((m["agent_pss_kib"] + m["monitors_pss_kib"]) / n / 1024, 2) if m and m["monitors"] else None
    t.append(target(f"agent+monitors < 2 MiB per pod at 500 pods (measured at {n})", v, 2, "MiB/pod",
                    v is not None and v < 2,
                    f"agent PSS {m['agent_pss_kib']} KiB, {m['monitors']} monitors PSS "
                    f"{m['monitors_pss_kib']} KiB; marginal agent growth over idle "
                    f"{round((m['agent_pss_kib'] - res['idle']['agent_pss_kib']) / n, 1)} KiB/pod" if m else ""))
    keys = [k for k in ("cpu_idle_10s", "cpu_idle_10s_end", "cpu_idle_10s_pods200", "cpu_idle_10s_pods500")
            if k in res]
    idle = [res[k]["agent_cpu_s"] for k in keys]
    v = max(idle) if idle else None
    t.append(target("zero agent CPU over 10 s idle", v, 0, "s", v is not None and v == 0,
                    "each 10 s window (" + ", ".join(
                        f"{k.removeprefix('cpu_idle_10s').lstrip('_') or 'start'}: {res[k]['agent_cpu_s']} s, "
                        f"quiet after {res[k].get('settled_after_s')} s" for k in keys) + ")"))
    return t


def finish(out, outdir):
    s = summarise(out)
    out["summary"] = s
    out["targets"] = targets(out, s)
    print("-- summary (medians over rounds; seconds) --")
    print(f"  {'variant':9s} {'N':>4s} {'client':7s} {'apply':>7s} {'all Ready':>9s} {'ms/pod':>7s} "
          f"{'ADDED→Ready p50/p99 ms':>23s} {'delete':>7s} {'all gone':>8s} {'podman play/down':>17s}")
    for variant, by_n in s.items():
        for n, by_client in by_n.items():
            pm = [p for p in out["podman"] if p["variant"] == variant and str(p["n"]) == n]
            for client, m in by_client.items():
                pms = ""
                if client == "nodelet" and pm:
                    plays = [p["play_s"] for p in pm if p["play_s"] is not None]
                    downs = [p["down_s"] for p in pm if p["down_s"] is not None]
                    pms = (f"{r3(median(plays)) if plays else None}/"
                           f"{r3(median(downs)) if downs else None}")
                print(f"  {variant:9s} {n:>4s} {client:7s} {m['apply_s']:7.3f} {m['all_ready_s']:9.3f} "
                      f"{m['all_ready_s'] / int(n) * 1e3:7.1f} "
                      f"{str(m['per_pod_ready_p50_ms']) + ' / ' + str(m['per_pod_ready_p99_ms']):>23s} "
                      f"{m['delete_s']:7.3f} {m['all_gone_s']:8.3f} {pms:>17s}")
    print("-- targets (issue 17) --")
    for t in out["targets"]:
        verdict = {True: "met", False: "NOT met", None: "not measured"}[t["met"]]
        print(f"  {t['target']}: {t['value']} {t['unit']} (limit {t['limit']}) — {verdict}; {t['detail']}")
    with open(os.path.join(outdir, "user.json"), "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    series = []
    for variant in ("plain", "poststart", "readiness"):
        for client in ("nodelet", "kubectl"):
            pts = [(int(n), by_client[client]["all_ready_s"])
                   for n, by_client in (s.get(variant) or {}).items() if client in by_client]
            if pts:
                series.append((f"nodelet, {client} apply, {variant}", pts))
    for variant in ("plain", "poststart", "readiness"):
        pts = [(p["n"], p["play_s"]) for p in out["podman"] if p["variant"] == variant and p["play_s"]]
        if pts:
            series.append((f"podman kube play, {variant}", pts))
    podman_labels = [lbl for lbl, _ in series if lbl.startswith("podman")]
    with open(os.path.join(outdir, "user.svg"), "w") as f:
        f.write(plot.svg(series, "apply → all pods Ready (nodelet: in a watch; podman: kube play returns)",
                         "pods in one file", "seconds", dashed=podman_labels))
