"""Typed in/out of the geocoder: index entries, candidates, the answer of a query."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, Field

Kind = Literal["address", "street", "poi", "place", "division"]


@dataclass
class Entry:
    """One thing the index can find: an address, a named street (one per way), a POI, a
    place or a division name; WGS84 point."""

    kind: Kind
    name: str
    lng: float
    lat: float
    street: str | None = None
    housenumber: str | None = None
    postcode: str | None = None
    towns: list[str] = field(default_factory=list)
    osm_id: str | None = None
    # The jurisdiction whose extract the entry comes from (None: division names, or a
    # build from one extract given without one).
    jurisdiction: str | None = None


class Candidate(BaseModel):
    """A place an address may mean, with how sure the geocoder is (0..1)."""

    text: str = Field(description="the matched entry as written in the data, with its town")
    kind: Kind
    lng: float
    lat: float
    confidence: float = Field(ge=0, le=1)
    precision: Literal["address", "street", "poi", "place", "division", "county"] = Field(
        description="what the point stands for: the house, a point on the street, ..."
    )
    town: str | None = None
    osm_id: str | None = None
    jurisdiction: str | None = Field(
        default=None, description="code of the jurisdiction whose extract holds the entry"
    )


class GeocodeAnswer(BaseModel):
    """``GET /geocode``: candidates, best first; ``located`` when the best one is confident
    enough to place a work order without an operator."""

    query: str
    located: bool
    candidates: list[Candidate]
    build_id: int | None = Field(description="the index build that answered (None: no index)")


class BuildReport(BaseModel):
    build_id: int
    source: str
    entries: int
    by_kind: dict[str, int]
    towns: int
    skipped: dict[str, int]
    seconds: float
