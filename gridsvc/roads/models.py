"""Pydantic shapes of the roads API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from gridsvc.filenames import FileName, Report


class RoadNetworkInfo(BaseModel):
    """The current road network and its import report."""

    id: int
    source_file: FileName
    jurisdiction: str | None = Field(
        default=None, description="the jurisdiction the network belongs to (null: the installation's)"
    )
    clip_jurisdiction: str | None = None
    node_count: int
    edge_count: int
    imported_at: datetime
    report: Report = Field(description="kept and left-out ways, components dropped, speed rules, timings (s)")


class RoadEdgesGeoJSON(BaseModel):
    """Directed road edges as a GeoJSON FeatureCollection (EPSG:4326)."""

    type: str = "FeatureCollection"
    features: list[dict[str, Any]]
    truncated: bool = Field(description="true when more edges lie in the box than the limit")
