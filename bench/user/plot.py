"""A plain SVG line plot (no plotting library): time to all pods Ready
against the number of pods, one line per series."""

from xml.sax.saxutils import escape

COLORS = ("#1f77b4", "#2ca02c", "#9467bd", "#17becf", "#d62728", "#ff7f0e", "#8c564b", "#7f7f7f")


def nice_max(v):
    """The smallest 1/2/5×10^k not below v."""
    k = 1e-3
    while True:
        for m in (1, 2, 5):
            if m * k >= v:
                return m * k
        k *= 10


def svg(series, title, xlabel, ylabel, dashed=()):
    """`series`: [(label, [(x, y), ...])]; labels in `dashed` are drawn
    dashed (the peers, so they read apart from nodelet's lines)."""
    w, h, left, right, top, bottom = 840, 440, 70, 290, 40, 55
    pw, ph = w - left - right, h - top - bottom
    xs = sorted({x for _, pts in series for x, _ in pts})
    ymax = nice_max(max([y for _, pts in series for _, y in pts if y is not None] + [0.001]))
    xmax = max(xs) if xs else 1

    def px(x):
        return left + pw * x / xmax

    def py(y):
        return top + ph * (1 - y / ymax)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
           f'font-family="sans-serif" font-size="12">',
           f'<rect width="{w}" height="{h}" fill="white"/>',
           f'<text x="{left}" y="22" font-size="14" font-weight="bold">{escape(title)}</text>']
    for i in range(6):  # y grid
        y = ymax * i / 5
        out.append(f'<line x1="{left}" y1="{py(y):.1f}" x2="{left + pw}" y2="{py(y):.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{left - 6}" y="{py(y) + 4:.1f}" text-anchor="end">{y:g}</text>')
    for x in xs:
        out.append(f'<line x1="{px(x):.1f}" y1="{top + ph}" x2="{px(x):.1f}" y2="{top + ph + 5}" stroke="black"/>')
        out.append(f'<text x="{px(x):.1f}" y="{top + ph + 18}" text-anchor="middle">{x}</text>')
    out.append(f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + ph}" stroke="black"/>')
    out.append(f'<line x1="{left}" y1="{top + ph}" x2="{left + pw}" y2="{top + ph}" stroke="black"/>')
    out.append(f'<text x="{left + pw / 2}" y="{h - 12}" text-anchor="middle">{escape(xlabel)}</text>')
    out.append(f'<text transform="translate(18 {top + ph / 2}) rotate(-90)" text-anchor="middle">'
               f'{escape(ylabel)}</text>')
    for i, (label, pts) in enumerate(series):
        color = COLORS[i % len(COLORS)]
        pts = [(x, y) for x, y in sorted(pts) if y is not None]
        dash = ' stroke-dasharray="6 4"' if label in dashed else ""
        if len(pts) > 1:
            path = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in pts)
            out.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"{dash}/>')
        for x, y in pts:
            out.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3.5" fill="{color}">'
                       f'<title>{escape(label)}: {x} pods, {y:.3f} s</title></circle>')
        ly = top + 10 + 20 * i
        out.append(f'<line x1="{left + pw + 15}" y1="{ly}" x2="{left + pw + 40}" y2="{ly}" '
                   f'stroke="{color}" stroke-width="2"{dash}/>')
        out.append(f'<text x="{left + pw + 46}" y="{ly + 4}">{escape(label)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"
