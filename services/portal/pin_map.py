"""A map question's pins drawn on the server as SVG (pure, no I/O but the tile addresses).

The pins come as the results keep them: counts per cell of a grid (``contracts.map``), so the
drawing is as small as the grid, whatever the number of responses. With the council's map
(``maps.MapView``) the cells are circles over its tiles; without one, over a plain frame with
the same projection (north up). Like the other charts it is ``role="img"`` with a title and
described by the data table next to it; the circles' area grows with their count and each
category has its own colour and a legend.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from jinja2 import Environment, pass_context
from jinja2.runtime import Context
from markupsafe import Markup

from contracts.map import PinCell
from services.portal.charts import FONT, GRID, HALO, INK, MUTED, short
from services.portal.i18n import N_, Catalogues
from services.portal.maps import (
    MAX_ZOOM,
    MIN_ZOOM,
    TILE_SIZE,
    MapView,
    tile_url,
    view_for,
    world_pixel,
)
from services.portal.settings import PortalSettings

WIDTH = 640
HEIGHT = 420
LEGEND = 28
"""Room under the map for the legend of categories."""
MARGIN = 30
COLOURS = ("#0b4f8a", "#8a4b00", "#1f6f3a", "#7a1f6b", "#a0241b", "#3b3f99", "#4a5360")
"""Categories' colours (3:1 or more on white and on the grid tiles); the last for no category."""
FRAME = "#f3f5f8"


def _n(value: float) -> str:
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _fit(pins: Sequence[PinCell], view: MapView | None) -> tuple[int, float, float]:
    """The zoom and the world-pixel centre that show every cell (or the council's view)."""
    if not pins:
        if view is None:
            return MIN_ZOOM, *world_pixel(0, 0, MIN_ZOOM)
        return view.zoom, *world_pixel(view.lat, view.lon, view.zoom)
    south, north = min(p.lat for p in pins), max(p.lat for p in pins)
    west, east = min(p.lon for p in pins), max(p.lon for p in pins)
    top = view.zoom if view is not None else 14
    for zoom in range(min(top, MAX_ZOOM), MIN_ZOOM - 1, -1):
        x0, y0 = world_pixel(north, west, zoom)
        x1, y1 = world_pixel(south, east, zoom)
        if x1 - x0 <= WIDTH - 2 * MARGIN and y1 - y0 <= HEIGHT - 2 * MARGIN:
            return zoom, (x0 + x1) / 2, (y0 + y1) / 2
    x0, y0 = world_pixel(north, west, MIN_ZOOM)
    x1, y1 = world_pixel(south, east, MIN_ZOOM)
    return MIN_ZOOM, (x0 + x1) / 2, (y0 + y1) / 2


def pin_map(
    pins: Sequence[PinCell],
    categories: Sequence[str],
    view: MapView | None,
    *,
    chart_id: str,
    described_by: str,
    title: str,
    no_category: str,
) -> Markup:
    """The SVG of a map question's pins (see the module's docstring)."""
    zoom, cx, cy = _fit(pins, view)
    left, top = cx - WIDTH / 2, cy - HEIGHT / 2
    parts = [
        Markup(
            '<svg xmlns="http://www.w3.org/2000/svg" class="pin-map" id="{id}" '
            'viewBox="0 0 {w} {h}" width="100%" role="img" focusable="false" '
            'aria-labelledby="{id}-title" aria-describedby="{table}" '
            'font-family="{font}" font-size="14">'
            '<title id="{id}-title">{title}</title>'
            '<rect x="0" y="0" width="{w}" height="{h}" fill="{paper}"/>'
            '<svg x="0" y="0" width="{w}" height="{mh}" overflow="hidden">'
            '<rect x="0" y="0" width="{w}" height="{mh}" fill="{frame}"/>'
        ).format(
            id=chart_id,
            w=WIDTH,
            h=HEIGHT + LEGEND,
            mh=HEIGHT,
            table=described_by,
            font=FONT,
            title=title,
            paper=HALO,
            frame=FRAME,
        )
    ]
    if view is not None:
        n = 2**zoom
        for ty in range(
            max(0, math.floor(top / TILE_SIZE)), min(n, math.floor((top + HEIGHT) / TILE_SIZE) + 1)
        ):
            for tx in range(
                math.floor(left / TILE_SIZE), math.floor((left + WIDTH) / TILE_SIZE) + 1
            ):
                parts.append(
                    Markup(
                        '<image href="{href}" x="{x}" y="{y}" width="{s}" height="{s}"/>'
                    ).format(
                        href=tile_url(view.tiles, zoom, tx, ty),
                        x=_n(tx * TILE_SIZE - left),
                        y=_n(ty * TILE_SIZE - top),
                        s=TILE_SIZE,
                    )
                )
    else:
        for step in range(1, 8):
            x, y = WIDTH * step / 8, HEIGHT * step / 8
            parts.append(
                Markup('<path d="M{x} 0V{h}M0 {y}H{w}" stroke="{c}" stroke-width="1"/>').format(
                    x=_n(x), y=_n(y), h=HEIGHT, w=WIDTH, c=GRID
                )
            )
    colour = {c: COLOURS[i % (len(COLOURS) - 1)] for i, c in enumerate(categories)}
    most = max((p.count for p in pins), default=1)
    for pin in sorted(pins, key=lambda p: -p.count):
        x, y = world_pixel(pin.lat, pin.lon, zoom)
        radius = 4 + 12 * math.sqrt(pin.count / most)
        parts.append(
            Markup(
                '<circle cx="{x}" cy="{y}" r="{r}" fill="{c}" fill-opacity="0.8" '
                'stroke="{halo}" stroke-width="1.5"/>'
            ).format(
                x=_n(x - left),
                y=_n(y - top),
                r=_n(radius),
                c=colour.get(pin.category, COLOURS[-1]),
                halo=HALO,
            )
        )
    parts.append(
        Markup('<rect x="0.5" y="0.5" width="{w}" height="{h}" fill="none" stroke="{c}"/>').format(
            w=WIDTH - 1, h=HEIGHT - 1, c=MUTED
        )
    )
    if view is not None and view.attribution:
        parts.append(
            Markup(
                '<text x="{x}" y="{y}" text-anchor="end" font-size="11" fill="{c}" '
                'stroke="{halo}" stroke-width="3" paint-order="stroke">{t}</text>'
            ).format(x=WIDTH - 6, y=HEIGHT - 6, c=INK, halo=HALO, t=short(view.attribution, 80))
        )
    parts.append(Markup("</svg>"))
    shown = [c for c in categories if any(p.category == c for p in pins)]
    if any(not p.category for p in pins):
        shown.append("")
    x = 6.0
    for category in shown:
        label = short(category, 22) if category else no_category
        parts.append(
            Markup(
                '<circle cx="{cx}" cy="{cy}" r="6" fill="{c}"/>'
                '<text x="{tx}" y="{ty}" fill="{ink}">{label}</text>'
            ).format(
                cx=_n(x + 6),
                cy=HEIGHT + 16,
                c=colour.get(category, COLOURS[-1]),
                tx=_n(x + 16),
                ty=HEIGHT + 21,
                ink=INK,
                label=label,
            )
        )
        x += 26 + 7.5 * len(label)
    parts.append(Markup("</svg>"))
    return Markup("").join(parts)


MAP_TITLE = N_("Map: the places marked in question %(n)s")
NO_CATEGORY = N_("No kind given")


def install(env: Environment, settings: PortalSettings, catalogues: Catalogues) -> None:
    """Give the templates ``map_view(tenant)`` (the council's map or None) and
    ``pin_map(question_result, n)`` (the pins of question ``n`` as SVG, described by the table
    ``pins-<key>``)."""

    def view_of(tenant: str) -> MapView | None:
        return view_for(settings, tenant)

    @pass_context
    def draw(context: Context, q: Any, n: int) -> Markup:
        council = context.get("council")
        tenant = getattr(council, "tenant", "")
        lang = context.get("lang", catalogues.default)
        categories = [o.option for o in getattr(q, "options", ())]
        return pin_map(
            q.pins,
            categories,
            view_of(tenant),
            chart_id=f"pin-map-{q.key}",
            described_by=f"pins-{q.key}",
            title=catalogues.gettext(lang, MAP_TITLE) % {"n": n},
            no_category=catalogues.gettext(lang, NO_CATEGORY),
        )

    env.globals.update(map_view=view_of, pin_map=draw)
