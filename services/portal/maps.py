"""The map of a council: its tile server, centre and zoom, and the local grid tiles.

A map question shows a slippy map only where the installation names a tile server
(``PORTAL_MAP_TILES``, a URL template with ``{z}``, ``{x}`` and ``{y}``) and a view for the
council (``PORTAL_MAP_VIEWS``: ``council=lat,lon,zoom`` pairs separated by ``;``, ``*`` for
every council without its own). Anything missing means no map: the question is answered from
the list of districts, as it is whenever scripts are off or the tiles do not load. Nothing is
set by default, so no page loads anything from another host unless the region decides so; the
CSP then allows that host for images only.

The local stack serves plain grid tiles itself under ``/tiles/`` (``PORTAL_MAP_LOCAL_TILES``),
so the map can be tried with no third-party host at all.
"""

from __future__ import annotations

import functools
import math
import re
import struct
import zlib
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from fastapi import APIRouter, HTTPException, Request, Response

from services.portal.settings import PortalSettings

router = APIRouter()

TILE_SIZE: Final = 256
MIN_ZOOM: Final = 3
MAX_ZOOM: Final = 18
_TENANT_RE = re.compile(r"^(\*|[a-z][a-z0-9_-]{0,39})$")


@dataclass(frozen=True)
class MapView:
    """What a page needs to draw a council's map."""

    tiles: str
    """URL template of the tiles (``{z}/{x}/{y}``)."""
    attribution: str
    """Who made the map, shown under it (the tile server's licence usually asks for it)."""
    lat: float
    lon: float
    zoom: int


def parse_views(spec: str) -> dict[str, tuple[float, float, int]]:
    """``council=lat,lon,zoom;…`` as a dict; malformed entries are left out."""
    views: dict[str, tuple[float, float, int]] = {}
    for item in spec.split(";"):
        name, sep, value = item.strip().partition("=")
        parts = [p.strip() for p in value.split(",")]
        if not sep or not _TENANT_RE.fullmatch(name.strip()) or len(parts) != 3:
            continue
        try:
            lat, lon, zoom = float(parts[0]), float(parts[1]), int(parts[2])
        except ValueError:
            continue
        if -85 <= lat <= 85 and -180 <= lon <= 180 and MIN_ZOOM <= zoom <= MAX_ZOOM:
            views[name.strip()] = (lat, lon, zoom)
    return views


def tiles_template(settings: PortalSettings) -> str | None:
    """The tile URL template, when it is usable: names ``{z}``, ``{x}`` and ``{y}`` and is
    either on the portal itself (starts with ``/``) or on an ``http(s)`` host."""
    template = (settings.portal_map_tiles or "").strip()
    if not all(part in template for part in ("{z}", "{x}", "{y}")):
        return None
    if template.startswith("/") and not template.startswith("//"):
        return template
    split = urlsplit(template)
    return template if split.scheme in ("http", "https") and split.netloc else None


def view_for(settings: PortalSettings, tenant: str) -> MapView | None:
    """The council's map, or None when it has none (no tile server, or no view for it)."""
    template = tiles_template(settings)
    if template is None:
        return None
    views = parse_views(settings.portal_map_views)
    found = views.get(tenant) or views.get("*")
    if found is None:
        return None
    lat, lon, zoom = found
    return MapView(template, settings.portal_map_attribution, lat, lon, zoom)


def image_sources(settings: PortalSettings) -> str:
    """The tile server's origin for the CSP's ``img-src`` ('' when it is the portal itself)."""
    template = tiles_template(settings)
    if template is None or template.startswith("/"):
        return ""
    split = urlsplit(template)
    return f"{split.scheme}://{split.netloc}"


# --- web mercator ------------------------------------------------------------------------


def world_pixel(lat: float, lon: float, zoom: float) -> tuple[float, float]:
    """A point's position in pixels on the whole world's map at ``zoom``."""
    size = TILE_SIZE * 2**zoom
    lat = max(-85.05112878, min(85.05112878, lat))
    rad = math.radians(lat)
    x = (lon + 180.0) / 360.0 * size
    y = (1.0 - math.log(math.tan(rad) + 1.0 / math.cos(rad)) / math.pi) / 2.0 * size
    return x, y


def tile_url(template: str, z: int, x: int, y: int) -> str:
    """One tile's address (``x`` wrapped around the world)."""
    x %= 2**z
    return template.replace("{z}", str(z)).replace("{x}", str(x)).replace("{y}", str(y))


# --- local grid tiles --------------------------------------------------------------------

_LAND = (0xE9, 0xEF, 0xE4)
_LAND_ALT = (0xE2, 0xE9, 0xDC)
_LINE = (0xC3, 0xCE, 0xBA)
_EDGE = (0x9A, 0xA8, 0x8F)


@functools.lru_cache(maxsize=4)
def grid_tile(shade: int) -> bytes:
    """A 256 × 256 PNG of a plain grid: fine lines every 32 px, a darker tile edge, and a
    background that alternates between neighbouring tiles (``shade`` 0 or 1) so panning shows."""
    rows = []
    background = _LAND_ALT if shade else _LAND
    for y in range(TILE_SIZE):
        row = bytearray([0])  # filter: none
        for x in range(TILE_SIZE):
            if x == 0 or y == 0:
                colour = _EDGE
            elif x % 32 == 0 or y % 32 == 0:
                colour = _LINE
            else:
                colour = background
            row.extend(colour)
        rows.append(bytes(row))
    raw = zlib.compress(b"".join(rows), 9)

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", TILE_SIZE, TILE_SIZE, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


@router.get("/tiles/{z}/{x}/{y}.png", include_in_schema=False)
async def local_tile(request: Request, z: int, x: int, y: int) -> Response:
    """A plain grid tile, when this portal serves its own (the local stack)."""
    settings: PortalSettings = request.app.state.settings
    if not settings.portal_map_local_tiles:
        raise HTTPException(status_code=404)
    if not 0 <= z <= MAX_ZOOM or not 0 <= x < 2**z or not 0 <= y < 2**z:
        raise HTTPException(status_code=404)
    return Response(
        grid_tile((x + y) % 2),
        media_type="image/png",
        headers={"cache-control": "public, max-age=86400"},
    )
