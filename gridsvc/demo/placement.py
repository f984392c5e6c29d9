"""Where the demo squads are stationed: a real tagged building of their municipality.

Rule, recorded on every squad (``station_rule``): the municipality's fire station, else
its town hall, else its police station (a name containing the municipality's name first,
then named ones, then by OSM id, so the choice is stable); a municipality with none of
them gets its centroid moved onto the nearest drivable road (``centroid_snapped``).
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
from shapely.geometry import Point

from gridsvc.eta.snap import Snapper
from gridsvc.squads.service import SquadRecord

STATION_PREFERENCE = ("fire_station", "townhall", "police")
DEMO_SQUAD_SIZE = 6  # a placeholder: OSM says nothing about staffing


def _rank(station: dict[str, Any], municipality: str) -> tuple[int, int, int, str]:
    name = station.get("name")
    named = isinstance(name, str) and bool(name.strip())
    return (
        STATION_PREFERENCE.index(station["kind"]),
        0 if isinstance(name, str) and municipality.lower() in name.lower() else 1,
        0 if named else 1,
        str(station["osm_id"]),
    )


def place_demo_squads(
    municipalities: gpd.GeoDataFrame, stations: gpd.GeoDataFrame, *, snapper: Snapper, jurisdiction: str
) -> list[SquadRecord]:
    """One squad per municipality (enforcement grid), stationed by the rule above.

    Parameters
    ----------
    municipalities : GeoDataFrame
        ``code``, ``name``, ``name_zh``, ``squad_name`` and polygon geometry (EPSG:4326).
    stations : GeoDataFrame
        ``osm_id``, ``kind``, ``name``, ``municipality_code`` and point geometry.
    snapper : Snapper
        The road graph's nearest-edge search (for the centroid rule).
    jurisdiction : str
        Code of the county the squads belong to.
    """
    records = []
    for muni in municipalities.itertuples(index=False):
        candidates = [
            {"osm_id": s.osm_id, "kind": s.kind, "name": s.name, "geometry": s.geometry}
            for s in stations.itertuples(index=False)
            if s.municipality_code == muni.code and s.kind in STATION_PREFERENCE
        ]
        if candidates:
            best = min(candidates, key=lambda s: _rank(s, muni.name))
            name = best["name"] if isinstance(best["name"], str) else None
            station, rule, source = best["geometry"], f"osm:{best['kind']}", best["osm_id"]
            station_name = name or f"{best['kind'].replace('_', ' ')} ({best['osm_id']})"
        else:
            centre = muni.geometry.centroid
            snap = snapper.snap(np.array([centre.x]), np.array([centre.y]))
            station = Point(float(snap.lng[0]), float(snap.lat[0]))
            rule, source = "centroid_snapped", f"centroid of {muni.code}"
            station_name = (
                f"{muni.name} centre, on the nearest road ({snap.offroad_m[0]:.0f} m from the centroid)"
            )
        records.append(
            SquadRecord(
                code=f"SQ-{muni.code}",
                name=muni.squad_name,
                name_zh=f"{muni.name_zh}综合执法中队",
                jurisdiction=jurisdiction,
                station=Point(station.x, station.y),
                station_name=station_name,
                station_rule=rule,
                station_source=source,
                grid_codes=[muni.code],
                size=DEMO_SQUAD_SIZE,
                status="available",
            )
        )
    return records
