"""Series → server-rendered SVG, for figures people would rather look at than read.

No script and no style attribute (the Content-Security-Policy allows neither): colours
come from classes in ``static/css/app.css`` (``.chart .s0`` …). Each chart names itself
for screen readers (``<title>``, ``<desc>``, ``role="img"``), carries axis titles, and
each point its own ``<title>`` (shown on hover) and ``data-value``; pages add the same
figures as a table (``Chart.rows``) for anyone who cannot use the picture.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from django.utils import formats
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 16, 56
CHAR_WIDTH = 6.5  # about one character of the 11 px tick labels, for spacing them


@dataclass(frozen=True)
class Series:
    key: str  # stable name, in ``data-series``
    name: str  # what people read (legend, point titles, table head)
    values: list[float]


@dataclass(frozen=True)
class Chart:
    id: str
    title: str
    desc: str
    x_title: str
    y_title: str
    x_labels: list[str]
    series: list[Series] = field(default_factory=list)
    bars: bool = False  # grouped bars instead of lines

    @property
    def empty(self) -> bool:
        return not self.x_labels or not self.series

    def rows(self) -> list[tuple[str, list[str]]]:
        """The table fallback: one row per x label, one column per series."""
        return [
            (label, [shown(s.values[i]) for s in self.series])
            for i, label in enumerate(self.x_labels)
        ]

    def svg(self) -> SafeString:
        top = nice_ceiling(max((v for s in self.series for v in s.values), default=0))
        plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
        n = max(len(self.x_labels), 1)
        slot = plot_w / n

        def x_at(i: int) -> float:
            return LEFT + (i + 0.5) * slot

        def y_at(value: float) -> float:
            return TOP + plot_h - (value / top) * plot_h

        parts = [
            f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="{escape(self.id)}" '
            f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
            f'aria-labelledby="{escape(self.id)}-title {escape(self.id)}-desc">',
            f'<title id="{escape(self.id)}-title">{escape(self.title)}</title>',
            f'<desc id="{escape(self.id)}-desc">{escape(self.desc)}</desc>',
        ]
        for tick in (0, top / 2, top):  # horizontal grid with the y values
            y = y_at(tick)
            parts.append(
                f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
            )
            parts.append(
                f'<text class="tick" x="{LEFT - 6}" y="{y + 4:.1f}" '
                f'text-anchor="end">{shown(tick)}</text>'
            )
        # As many x labels as fit side by side, counted back from the newest (always shown).
        longest = max((len(label) for label in self.x_labels), default=1)
        fit = max(2, int(plot_w // (longest * CHAR_WIDTH + 12)))
        every = max(1, math.ceil(n / fit))
        for i, label in enumerate(self.x_labels):
            if (n - 1 - i) % every == 0:
                parts.append(
                    f'<text class="tick" x="{x_at(i):.1f}" y="{TOP + plot_h + 16}" '
                    f'text-anchor="middle">{escape(label)}</text>'
                )
        parts.append(
            f'<line class="axis" x1="{LEFT}" x2="{WIDTH - RIGHT}" '
            f'y1="{TOP + plot_h}" y2="{TOP + plot_h}"/>'
        )
        parts.append(f'<line class="axis" x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{TOP + plot_h}"/>')
        parts.append(
            f'<text class="axis-title" x="{LEFT + plot_w / 2:.1f}" '
            f'y="{HEIGHT - 8}" text-anchor="middle">{escape(self.x_title)}</text>'
        )
        middle = TOP + plot_h / 2
        parts.append(
            f'<text class="axis-title" x="14" y="{middle:.1f}" text-anchor="middle" '
            f'transform="rotate(-90 14 {middle:.1f})">{escape(self.y_title)}</text>'
        )
        for index, series in enumerate(self.series):
            parts.append(self._series(index, series, x_at, y_at, slot))
        parts.append("</svg>")
        return mark_safe("".join(parts))  # noqa: S308 every text above is escaped

    def _series(
        self,
        index: int,
        series: Series,
        x_at: Callable[[int], float],
        y_at: Callable[[float], float],
        slot: float,
    ) -> str:
        css = f"s{index % 6}"
        out = [f'<g class="series {css}" data-series="{escape(series.key)}">']
        points = []
        for i, value in enumerate(series.values):
            label = self.x_labels[i] if i < len(self.x_labels) else str(i)
            tip = f"<title>{escape(series.name)}, {escape(label)}: {shown(value)}</title>"
            x, y = x_at(i), y_at(value)
            if self.bars:
                width = slot * 0.8 / len(self.series)
                left = x - slot * 0.4 + index * width
                out.append(
                    f'<rect class="bar" x="{left:.1f}" y="{y:.1f}" '
                    f'width="{max(width - 1, 1):.1f}" height="{y_at(0) - y:.1f}" '
                    f'data-x="{i}" data-value="{_number(value)}">{tip}</rect>'
                )
            else:
                points.append(f"{x:.1f},{y:.1f}")
                out.append(
                    f'<circle class="point" cx="{x:.1f}" cy="{y:.1f}" r="3" '
                    f'data-x="{i}" data-value="{_number(value)}">{tip}</circle>'
                )
        if points:
            out.insert(1, f'<polyline class="line" points="{" ".join(points)}"/>')
        out.append("</g>")
        return "".join(out)


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 5 × 10ⁿ at or above ``value`` (at least 1): a round axis top."""
    if value <= 1:
        return 1
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if step * power >= value:
            return float(step * power)
    return float(10 * power)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


def shown(value: float) -> str:
    """A figure as people read it in the active language (``1.234,5`` in German)."""
    whole = float(value).is_integer()
    return str(
        formats.number_format(
            int(value) if whole else value, 0 if whole else 1, use_l10n=True, force_grouping=True
        )
    )
