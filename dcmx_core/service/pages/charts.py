"""Charts as SVG, drawn on the server: no JavaScript library, nothing from outside.

Each function returns markup (every text escaped) for a ``<svg role="img">`` with its title,
scaled by its ``viewBox`` to the width of its box. Every mark carries its exact value in a
``data-value`` attribute and a ``<title>`` (a tooltip); the page puts the same numbers in a
table beside the chart, for readers who cannot see it and for tests. Colours come from
classes styled by the site's stylesheet (the Content-Security-Policy allows no inline style).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import count as _ids

from markupsafe import Markup, escape

__all__ = ["bars", "grouped", "hbars", "line", "nice_top", "short_number"]

WIDTH, HEIGHT = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 56, 14, 14, 40
_next_id = _ids(1)


def nice_top(value: float) -> float:
    """The axis maximum: ``value`` rounded up to 1, 2, 2.5 or 5 times a power of ten."""
    if value <= 0 or not math.isfinite(value):
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    for m in (1, 2, 2.5, 5, 10):
        if value <= m * power * (1 + 1e-9):
            return m * power
    return 10 * power


def short_number(value: float) -> str:
    """Axis labels: 950, 1.2k, 3.4M."""
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            text = f"{value / limit:.1f}".rstrip("0").rstrip(".")
            return f"{text}{suffix}"
    if value == int(value):
        return str(int(value))
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _num(x: float) -> str:
    return f"{x:.1f}".rstrip("0").rstrip(".")


def _frame(title: str, height: float, body: list[str], css: str) -> Markup:
    ident = f"chart-{next(_next_id)}"
    head = (f'<svg class="chart {escape(css)}" viewBox="0 0 {WIDTH} {_num(height)}" '
            f'role="img" aria-labelledby="{ident}" preserveAspectRatio="xMidYMid meet" '
            f'xmlns="http://www.w3.org/2000/svg"><title id="{ident}">{escape(title)}</title>')
    return Markup(head + "".join(body) + "</svg>")


def _grid(top: float, bottom_y: float, plot_h: float, unit: str) -> list[str]:
    out = []
    for i in range(5):
        v = top * i / 4
        y = bottom_y - plot_h * i / 4
        out.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{_num(y)}" '
                   f'y2="{_num(y)}"/>')
        out.append(f'<text class="tick" x="{LEFT - 6}" y="{_num(y + 4)}" text-anchor="end">'
                   f'{escape(short_number(v))}{escape(unit) if i == 4 else ""}</text>')
    return out


def _x_labels(labels: Sequence[str], xs: Sequence[float], y: float) -> list[str]:
    every = max(1, math.ceil(len(labels) / 8))
    out = []
    for i, (label, x) in enumerate(zip(labels, xs, strict=True)):
        if i % every == 0:
            out.append(f'<text class="tick" x="{_num(x)}" y="{_num(y)}" '
                       f'text-anchor="middle">{escape(label)}</text>')
    return out


def _shown(values: Sequence[float | None], raw: Sequence[object] | None, i: int) -> str:
    if raw is not None:
        return str(raw[i])
    v = values[i]
    return "" if v is None else _num(v) if v != int(v) else str(int(v))


def bars(
    title: str,
    labels: Sequence[str],
    values: Sequence[float | None],
    *,
    raw: Sequence[object] | None = None,
    unit: str = "",
    css: str = "",
) -> Markup:
    """Vertical bars, one per label (say, per minute or day). ``raw``: the exact values for
    ``data-value`` and the tooltips (``values`` only place the bars); None: no bar."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    bottom_y = TOP + plot_h
    top = nice_top(max((v for v in values if v is not None), default=0))
    step = plot_w / max(1, len(values))
    body = _grid(top, bottom_y, plot_h, unit)
    xs = []
    for i, (label, v) in enumerate(zip(labels, values, strict=True)):
        x = LEFT + step * i
        xs.append(x + step / 2)
        if v is None:
            continue
        h = plot_h * max(0.0, v) / top
        shown = _shown(values, raw, i)
        body.append(f'<rect class="bar" x="{_num(x + step * 0.1)}" y="{_num(bottom_y - h)}" '
                    f'width="{_num(max(1.0, step * 0.8))}" height="{_num(h)}" '
                    f'data-label="{escape(label)}" data-value="{escape(shown)}">'
                    f'<title>{escape(label)}: {escape(shown)}{escape(unit)}</title></rect>')
    body.append(f'<line class="axis" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{_num(bottom_y)}" '
                f'y2="{_num(bottom_y)}"/>')
    body += _x_labels(labels, xs, bottom_y + 18)
    return _frame(title, HEIGHT, body, css)


def grouped(
    title: str,
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float], Sequence[object]]],
    *,
    unit: str = "",
    css: str = "",
) -> Markup:
    """Bars side by side per label, one per series ``(name, values, exact values)``; the
    n-th series' bars have class ``s<n>`` (the page's legend uses the same classes)."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    bottom_y = TOP + plot_h
    top = nice_top(max((v for _, vs, _ in series for v in vs), default=0))
    step = plot_w / max(1, len(labels))
    width = step * 0.8 / max(1, len(series))
    body = _grid(top, bottom_y, plot_h, unit)
    xs = []
    for i, label in enumerate(labels):
        x0 = LEFT + step * (i + 0.1)
        xs.append(LEFT + step * (i + 0.5))
        for k, (name, values, raw) in enumerate(series):
            h = plot_h * max(0.0, values[i]) / top
            body.append(f'<rect class="bar s{k}" x="{_num(x0 + width * k)}" '
                        f'y="{_num(bottom_y - h)}" width="{_num(max(1.0, width))}" '
                        f'height="{_num(h)}" data-series="{escape(name)}" '
                        f'data-label="{escape(label)}" data-value="{escape(str(raw[i]))}">'
                        f'<title>{escape(name)}, {escape(label)}: {escape(str(raw[i]))}'
                        f'{escape(unit)}</title></rect>')
    body.append(f'<line class="axis" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{_num(bottom_y)}" '
                f'y2="{_num(bottom_y)}"/>')
    body += _x_labels(labels, xs, bottom_y + 18)
    return _frame(title, HEIGHT, body, css)


def line(
    title: str,
    labels: Sequence[str],
    values: Sequence[float | None],
    *,
    raw: Sequence[object] | None = None,
    unit: str = "",
    css: str = "",
) -> Markup:
    """A line through the values; None leaves a gap (no sample there), a lone value is a
    dot."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    bottom_y = TOP + plot_h
    top = nice_top(max((v for v in values if v is not None), default=0))
    step = plot_w / max(1, len(values))
    body = _grid(top, bottom_y, plot_h, unit)
    xs = [LEFT + step * (i + 0.5) for i in range(len(values))]
    run: list[str] = []
    points = []
    for i, v in enumerate(values):
        if v is None:
            if len(run) > 1:
                body.append(f'<polyline class="line" points="{" ".join(run)}"/>')
            run = []
            continue
        y = bottom_y - plot_h * max(0.0, v) / top
        run.append(f"{_num(xs[i])},{_num(y)}")
        shown = _shown(values, raw, i)
        points.append(f'<circle class="dot" cx="{_num(xs[i])}" cy="{_num(y)}" r="3" '
                      f'data-label="{escape(labels[i])}" data-value="{escape(shown)}">'
                      f'<title>{escape(labels[i])}: {escape(shown)}{escape(unit)}</title>'
                      "</circle>")
    if len(run) > 1:
        body.append(f'<polyline class="line" points="{" ".join(run)}"/>')
    body += points
    body.append(f'<line class="axis" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{_num(bottom_y)}" '
                f'y2="{_num(bottom_y)}"/>')
    body += _x_labels(labels, xs, bottom_y + 18)
    return _frame(title, HEIGHT, body, css)


def hbars(
    title: str,
    labels: Sequence[str],
    values: Sequence[float],
    *,
    raw: Sequence[object] | None = None,
    shown: Sequence[str] | None = None,
    css: str = "",
) -> Markup:
    """Horizontal bars, one row per label (a ranking); the label left, the value at the
    bar's end (``shown``: its text, default the raw value)."""
    row, label_w = 32, 290
    height = TOP + row * max(1, len(values)) + 8
    top = nice_top(max(values, default=0))
    plot_w = WIDTH - label_w - 90
    body = []
    for i, (label, v) in enumerate(zip(labels, values, strict=True)):
        y = TOP + row * i
        w = plot_w * max(0.0, v) / top
        exact = _shown(values, raw, i)
        text = shown[i] if shown is not None else exact
        cut = label if len(label) <= 32 else label[:31] + "…"
        body.append(f'<text class="label" x="{label_w - 8}" y="{_num(y + row / 2 + 4)}" '
                    f'text-anchor="end">{escape(cut)}</text>')
        body.append(f'<rect class="bar" x="{label_w}" y="{_num(y + 5)}" '
                    f'width="{_num(max(1.0, w))}" height="{row - 10}" '
                    f'data-label="{escape(label)}" data-value="{escape(exact)}">'
                    f'<title>{escape(label)}: {escape(text)}</title></rect>')
        body.append(f'<text class="value" x="{_num(label_w + max(1.0, w) + 6)}" '
                    f'y="{_num(y + row / 2 + 4)}">{escape(text)}</text>')
    return _frame(title, height, body, css)
