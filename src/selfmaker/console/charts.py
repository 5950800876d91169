"""Server-rendered SVG charts: no script, no library, readable without sight.

A chart is an image with a name (``<title>``) and a summary (``<desc>``) that screen readers announce; each bar
carries its own label (``aria-label`` and a ``<title>`` that shows on hover). Pages put a table of the same
numbers next to it for anyone who wants the figures.
"""

from __future__ import annotations

from dataclasses import dataclass

from markupsafe import Markup, escape

_WIDTH, _HEIGHT = 720, 200  # the viewBox; the image scales to its container
_TOP, _BOTTOM, _LEFT = 24, 24, 8  # room for the scale above and the bar labels below
_GAP = 0.25  # of each bar's slot left empty
_FILL, _EMPTY, _INK, _LINE = "#0b5ed7", "#d5dbdb", "#545b64", "#d5dbdb"  # the console's accent, line and muted ink


@dataclass(frozen=True)
class Bar:
    label: str  # under the bar (short: a day's number)
    value: float
    text: str  # what the bar says to a reader: "Nov 2: $0.10"


def bar_chart(bars: list[Bar], title: str, description: str, chart_id: str, scale_text: str = "") -> Markup:
    """An inline ``<svg>`` bar chart, bars scaled to the largest value (``scale_text``: that value, written at
    the top line)."""
    top = max((bar.value for bar in bars), default=0.0)
    plot = _HEIGHT - _TOP - _BOTTOM
    slot = (_WIDTH - _LEFT) / max(len(bars), 1)
    width = slot * (1 - _GAP)
    parts = [
        Markup('<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="{id}" role="img" '
               'aria-labelledby="{id}-title {id}-desc" viewBox="0 0 {w} {h}" width="100%" '
               'preserveAspectRatio="xMidYMid meet">').format(id=chart_id, w=_WIDTH, h=_HEIGHT),
        Markup('<title id="{}-title">{}</title><desc id="{}-desc">{}</desc>').format(
            chart_id, title, chart_id, description),
        Markup('<line x1="{x1}" y1="{y}" x2="{x2}" y2="{y}" stroke="{c}" stroke-dasharray="4 3"/>').format(
            x1=_LEFT, x2=_WIDTH, y=_TOP, c=_LINE),
        Markup('<line x1="{x1}" y1="{y}" x2="{x2}" y2="{y}" stroke="{c}"/>').format(
            x1=_LEFT, x2=_WIDTH, y=_TOP + plot, c=_INK),
    ]
    if scale_text:
        parts.append(Markup('<text x="{}" y="{}" font-size="12" fill="{}">{}</text>').format(
            _LEFT, _TOP - 6, _INK, scale_text))
    for index, bar in enumerate(bars):
        # A bar of nothing still shows as a sliver, so that every day has its mark.
        height = plot * bar.value / top if top > 0 else 0.0
        height = max(height, 1.0)
        x = _LEFT + index * slot + (slot - width) / 2
        parts.append(Markup(
            '<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" fill="{fill}" '
            'role="graphics-symbol" aria-label="{text}" data-value="{value:.6f}"><title>{text}</title></rect>'
        ).format(x=x, y=_TOP + plot - height, w=width, h=height, fill=_FILL if bar.value > 0 else _EMPTY,
                 text=bar.text, value=bar.value))
        parts.append(Markup('<text x="{:.1f}" y="{}" font-size="11" text-anchor="middle" fill="{}" '
                            'aria-hidden="true">{}</text>').format(x + width / 2, _HEIGHT - 8, _INK, bar.label))
    parts.append(Markup("</svg>"))
    return Markup("").join(escape(part) for part in parts)
