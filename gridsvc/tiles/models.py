"""Shapes of the base map: what a tile request answers, what an import left."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, Field

MAX_ZOOM = 22  # deeper than any street map needs; beyond it a request is refused (422)
MEDIA_TYPE = "application/vnd.mapbox-vector-tile"


@dataclass(frozen=True)
class TileAnswer:
    """One tile: its bytes (empty: nothing there), its ETag, and how it was served."""

    etag: str
    data: bytes
    not_modified: bool = False
    cached: bool = False


class BasemapInfo(BaseModel):
    import_id: int
    source_file: str = Field(description="file name of the OSM extract")
    counts: dict[str, int] = Field(description="features per layer (and objects skipped)")
    imported_at: datetime
    bounds: list[float] | None = Field(description="west, south, east, north of the roads (WGS84)")
