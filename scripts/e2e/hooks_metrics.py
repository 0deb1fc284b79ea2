#!/usr/bin/env python3
"""A strict parser of the Prometheus/OpenMetrics text nodelet serves on
`/metrics` (run by scripts/hooks-e2e-real.sh).

Usage:
  hooks_metrics.py parse FILE
      parses FILE, prints `series value` lines (labels sorted); exit 1 with
      the offending line on any syntax error.
  hooks_metrics.py increased BEFORE AFTER SELECTOR...
      both files must parse; every SELECTOR (`name` or
      `name{label="value",...}`, a subset of labels) summed over the
      matching series must be larger in AFTER than in BEFORE.

Strict means: every sample's family has a `# TYPE` before it; names and
label names match the exposition grammar; label values are quoted with
only \\\\, \\" and \\n escapes; values are floats (or +Inf/-Inf/NaN); no
series twice; histogram buckets have an `le`, are cumulative
(non-decreasing) and end at `+Inf` equal to `_count`; OpenMetrics' `# EOF`
is the last line when present. Nothing outside the standard library.
"""

import math
import re
import sys

NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
TYPES = {"counter", "gauge", "histogram", "summary", "untyped", "unknown", "info", "stateset", "gaugehistogram"}
SUFFIXES = ("_total", "_created", "_bucket", "_count", "_sum", "_info", "_gcount", "_gsum")


class Bad(Exception):
    pass


def parse_labels(s, i, lineno):
    """Parses `{a="b",...}` starting at s[i] == '{'; returns (dict, next index)."""
    labels = {}
    i += 1
    while True:
        if s[i] == "}":
            return labels, i + 1
        m = LABEL.match(s, i)
        if not m:
            raise Bad(f"line {lineno}: bad label name at {s[i:]!r}")
        key = m.group(0)
        i = m.end()
        if s[i : i + 2] != '="':
            raise Bad(f"line {lineno}: label {key} without =\"")
        i += 2
        val = []
        while True:
            if i >= len(s):
                raise Bad(f"line {lineno}: unterminated value of label {key}")
            c = s[i]
            if c == "\\":
                e = s[i + 1 : i + 2]
                if e not in ("\\", '"', "n"):
                    raise Bad(f"line {lineno}: bad escape \\{e} in label {key}")
                val.append("\n" if e == "n" else e)
                i += 2
            elif c == '"':
                i += 1
                break
            else:
                val.append(c)
                i += 1
        if key in labels:
            raise Bad(f"line {lineno}: label {key} twice")
        labels[key] = "".join(val)
        if s[i] == ",":
            i += 1
        elif s[i] != "}":
            raise Bad(f"line {lineno}: expected , or }} after label {key}")


def parse_value(v, lineno):
    if v in ("+Inf", "Inf"):
        return math.inf
    if v == "-Inf":
        return -math.inf
    if v == "NaN":
        return math.nan
    if not re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", v):
        raise Bad(f"line {lineno}: bad value {v!r}")
    return float(v)


def family_of(name, types):
    if name in types:
        return name
    for suf in SUFFIXES:
        if name.endswith(suf) and name[: -len(suf)] in types:
            return name[: -len(suf)]
    return None


def parse(text):
    types, samples = {}, {}
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    eof = False
    for n, line in enumerate(lines, 1):
        if eof:
            raise Bad(f"line {n}: content after # EOF")
        if line == "# EOF":
            eof = True
            continue
        if line.startswith("#"):
            parts = line.split(" ", 3)
            if len(parts) < 3 or parts[0] != "#" or parts[1] not in ("HELP", "TYPE", "UNIT"):
                raise Bad(f"line {n}: bad comment {line!r}")
            if not NAME.fullmatch(parts[2]):
                raise Bad(f"line {n}: bad metric name {parts[2]!r}")
            if parts[1] == "TYPE":
                if len(parts) != 4 or parts[3] not in TYPES:
                    raise Bad(f"line {n}: bad TYPE {line!r}")
                if parts[2] in types:
                    raise Bad(f"line {n}: TYPE of {parts[2]} twice")
                types[parts[2]] = parts[3]
            continue
        if not line.strip():
            raise Bad(f"line {n}: empty line")
        m = NAME.match(line)
        if not m:
            raise Bad(f"line {n}: bad sample {line!r}")
        name, i = m.group(0), m.end()
        labels = {}
        if i < len(line) and line[i] == "{":
            labels, i = parse_labels(line, i, n)
        rest = line[i:]
        if not rest.startswith(" "):
            raise Bad(f"line {n}: no space before the value")
        fields = rest[1:].split(" ")
        if len(fields) not in (1, 2):
            raise Bad(f"line {n}: trailing fields {rest!r}")
        value = parse_value(fields[0], n)
        fam = family_of(name, types)
        if fam is None:
            raise Bad(f"line {n}: sample {name} has no # TYPE before it")
        key = (name, tuple(sorted(labels.items())))
        if key in samples:
            raise Bad(f"line {n}: series {fmt(key)} twice")
        samples[key] = value
    check_histograms(types, samples)
    return samples


def check_histograms(types, samples):
    for fam, t in types.items():
        if t != "histogram":
            continue
        groups = {}
        for (name, labels), v in samples.items():
            if name != fam + "_bucket":
                continue
            d = dict(labels)
            if "le" not in d:
                raise Bad(f"{fam}_bucket without le: {labels}")
            le = parse_value(d.pop("le"), 0)
            groups.setdefault(tuple(sorted(d.items())), []).append((le, v))
        for labels, buckets in groups.items():
            buckets.sort()
            counts = [v for _, v in buckets]
            if counts != sorted(counts):
                raise Bad(f"{fam}{dict(labels)}: buckets not cumulative: {buckets}")
            if buckets[-1][0] != math.inf:
                raise Bad(f"{fam}{dict(labels)}: no +Inf bucket")
            count = samples.get((fam + "_count", labels))
            if count != buckets[-1][1]:
                raise Bad(f"{fam}{dict(labels)}: _count {count} != +Inf bucket {buckets[-1][1]}")


def fmt(key):
    name, labels = key
    if not labels:
        return name
    return name + "{" + ",".join(f'{k}="{v}"' for k, v in labels) + "}"


def select(samples, selector):
    m = re.fullmatch(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?", selector)
    if not m:
        raise Bad(f"bad selector {selector!r}")
    want = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="([^"]*)"', m.group(3) or ""))
    hits = [v for (name, labels), v in samples.items() if name == m.group(1) and want.items() <= dict(labels).items()]
    return sum(hits), len(hits)


def main():
    try:
        if sys.argv[1] == "parse":
            samples = parse(open(sys.argv[2]).read())
            for key, v in sorted(samples.items()):
                print(fmt(key), repr(v) if not float(v).is_integer() else int(v))
            return 0
        if sys.argv[1] == "increased":
            before = parse(open(sys.argv[2]).read())
            after = parse(open(sys.argv[3]).read())
            rc = 0
            for sel in sys.argv[4:]:
                b, _ = select(before, sel)
                a, n = select(after, sel)
                if n and a > b:
                    print(f"ok {sel}: {b:g} -> {a:g}")
                else:
                    print(f"not ok {sel}: {b:g} -> {a:g} ({n} series)")
                    rc = 1
            return rc
    except Bad as e:
        print(f"not ok metrics do not parse: {e}", file=sys.stderr)
        return 1
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
