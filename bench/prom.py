"""Prometheus text-format counters, as the benches scrape them (one
metric's lines saved to a file before and after what is measured)."""
import re


def counters(path, metric):
    """Each sample of `metric` in the file: (labels dict, value)."""
    out = []
    for line in open(path):
        m = re.match(re.escape(metric) + r'\{(.*)\} (\S+)', line)
        if m:
            out.append((dict(re.findall(r'(\w+)="([^"]*)"', m.group(1))), float(m.group(2))))
    return out


def summed(path, metric, key):
    """The samples summed by key(labels); a key of None leaves a sample out."""
    out = {}
    for labels, v in counters(path, metric):
        k = key(labels)
        if k is not None:
            out[k] = out.get(k, 0) + v
    return out
