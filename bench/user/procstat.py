"""Memory and CPU of the agent and its nodelet-monitor processes, from
/proc: RSS (VmRSS), PSS (smaps_rollup: shared pages divided among the
processes mapping them, so summing the monitors' PSS does not count their
one shared binary once per pod) and user+system CPU ticks."""

import os

TICK = os.sysconf("SC_CLK_TCK")


def _read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def kib(pid, field, path="status"):
    for line in _read(f"/proc/{pid}/{path}").splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def rss_kib(pid):
    return kib(pid, "VmRSS")


def pss_kib(pid):
    return kib(pid, "Pss", "smaps_rollup")


def cpu_s(pid, children=False):
    """User + system CPU seconds of every thread of `pid`; with
    `children`, of its reaped children instead (runc, CNI plugins and the
    like that the agent ran and waited for)."""
    stat = _read(f"/proc/{pid}/stat")
    rest = stat.rsplit(")", 1)[-1].split()
    if len(rest) < 15:
        return 0.0
    i = 13 if children else 11  # fields 16 and 17, or 14 and 15
    return (int(rest[i]) + int(rest[i + 1])) / TICK


def monitors(tmp):
    """Pids of the nodelet-monitor processes of this run's agent."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        argv = _read(f"/proc/{d}/cmdline").split("\0")
        if argv and os.path.basename(argv[0]) == "nodelet-monitor" and any(tmp in a for a in argv):
            out.append(int(d))
    return out


def snapshot(agent, tmp):
    mons = monitors(tmp)
    mon_pss = sum(pss_kib(p) for p in mons)
    return {"agent_rss_kib": rss_kib(agent), "agent_pss_kib": pss_kib(agent),
            "agent_cpu_s": round(cpu_s(agent), 2), "monitors": len(mons),
            "monitors_pss_kib": mon_pss, "monitors_rss_kib": sum(rss_kib(p) for p in mons),
            "monitor_pss_kib_each": round(mon_pss / len(mons), 1) if mons else None}
