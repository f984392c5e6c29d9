"""Squads (执法中队): CRUD, import from CSV/GeoJSON, and AVL positions.

Positions, in short (the API documents the same):

* Coordinates arrive in WGS84, GCJ-02 or BD-09 and are stored in WGS84.
* ``observed_at`` is the device's fix time. A ping stamped in the future by more than
  ``GRIDSVC_SQUAD_POSITION_FUTURE_TOLERANCE_S`` (clock skew) is refused: it would stay
  "fresh" for too long and make every real ping after it look out of order. Within the
  tolerance it is accepted with ``observed_at`` clamped to the time of receipt.
* A ping older than (or as old as) the squad's latest applied one is stored with
  ``applied = false``: it is kept for the track but never moves the squad back.
* A position older than ``GRIDSVC_SQUAD_POSITION_STALE_S`` is not trusted: ETAs then start
  from the home station and say so.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import numpy as np
import shapely
from shapely.geometry import Point

from gridsvc.errors import Invalid
from gridsvc.geo.crs import parse_crs, to_wgs84
from gridsvc.squads import models, queries

STATUSES = ("available", "busy", "off_duty", "offline")


class SquadError(ValueError):
    """Bad squad data (the message names the squad and the field)."""


class FutureTimestampError(ValueError):
    """A position stamped further in the future than the allowed clock skew."""


class PlacementError(Invalid):
    """A station or position where no squad can be: off the jurisdiction, or too far from
    every road (422 naming the fields and the reason, raised before anything is written)."""

    def __init__(self, fields: list[str], reason: str) -> None:
        super().__init__(
            f"{', '.join(fields)}: {reason}", fields=[{"field": f, "reason": reason} for f in fields]
        )


@dataclass(frozen=True)
class Placement:
    """Where stations and positions may be (issue 13, D1).

    ``road_distance_m(lng, lat)`` gives metres to the nearest road (inf: none within reach),
    or None while no road graph is loaded; without it only the jurisdiction is checked.
    """

    max_road_distance_m: float
    jurisdiction_margin_m: float
    road_distance_m: Callable[[float, float], float | None] | None = None


async def check_placement(
    connection: asyncpg.Connection | asyncpg.Pool,
    *,
    point: Point,
    jurisdiction: str | None,
    rules: Placement,
    fields: list[str],
) -> None:
    """Raise :class:`PlacementError` (naming ``fields``) for a WGS84 point off the
    jurisdiction (``jurisdiction``'s, or every one when None) or too far from the roads."""
    margin = rules.jurisdiction_margin_m
    row = await connection.fetchrow(queries.NEAR_JURISDICTION, point.x, point.y, jurisdiction, margin)
    where = f"({point.y:.6f}, {point.x:.6f})"
    if row["bounded"] and not row["near"]:
        of = f"jurisdiction {jurisdiction}" if jurisdiction else "every jurisdiction"
        raise PlacementError(fields, f"{where} is outside {of} (more than {margin:g} m beyond its boundary)")
    distance = rules.road_distance_m(point.x, point.y) if rules.road_distance_m else None
    if distance is not None and not distance <= rules.max_road_distance_m:
        far = (
            f"{distance:.0f} m from the nearest road"
            if np.isfinite(distance)
            else "beyond the reach of every road"
        )
        raise PlacementError(
            fields,
            f"{where} is {far}; at most "
            f"{rules.max_road_distance_m:g} m is accepted "
            "(GRIDSVC_SQUAD_MAX_ROAD_DISTANCE_M)",
        )


@dataclass
class SquadRecord:
    """A squad as imported; ``station`` in WGS84 (EPSG:4326)."""

    code: str
    name: str
    station: Point
    name_zh: str | None = None
    jurisdiction: str | None = None
    station_name: str | None = None
    station_rule: str = "given"
    station_source: str | None = None
    grid_codes: list[str] = field(default_factory=list)
    size: int | None = None
    status: str = "available"
    phone: str | None = None


def _station_point(point: models.PointIn) -> Point:
    x, y = to_wgs84(np.array([point.lng]), np.array([point.lat]), parse_crs(point.crs))
    return shapely.set_srid(Point(float(x[0]), float(y[0])), 4326)


def squad_dict(row: asyncpg.Record | dict[str, Any]) -> dict[str, Any]:
    """A squads row as the API shows it (station as lat/lng)."""
    data = dict(row)
    station = data.pop("station")
    data["station"] = {"lat": station.y, "lng": station.x}
    data.pop("updated_at", None)
    return data


async def list_squads(connection: asyncpg.Connection | asyncpg.Pool) -> list[dict[str, Any]]:
    return [dict(r) for r in await connection.fetch(queries.LIST)]


async def get_squad(connection: asyncpg.Connection | asyncpg.Pool, *, squad_id: int) -> dict[str, Any] | None:
    row = await connection.fetchrow(queries.BY_ID, squad_id)
    return dict(row) if row else None


async def _check_jurisdiction(connection: asyncpg.Connection | asyncpg.Pool, code: str | None) -> None:
    if code is not None and not await connection.fetchval(queries.JURISDICTION_EXISTS, code):
        raise SquadError(f"unknown jurisdiction {code!r}")


async def create_squad(
    connection: asyncpg.Connection | asyncpg.Pool,
    *,
    squad: models.SquadIn,
    placement: Placement | None = None,
) -> int:
    """Insert a squad; raises ``asyncpg.UniqueViolationError`` when the code exists and
    :class:`PlacementError` for a station ``placement`` refuses."""
    await _check_jurisdiction(connection, squad.jurisdiction)
    station = _station_point(squad.station)
    if placement is not None:
        await check_placement(
            connection,
            point=station,
            jurisdiction=squad.jurisdiction,
            rules=placement,
            fields=["body.station"],
        )
    squad_id: int = await connection.fetchval(
        queries.INSERT,
        squad.code,
        squad.name,
        squad.name_zh,
        squad.jurisdiction,
        station,
        squad.station_name,
        "given",
        "api",
        squad.grid_codes,
        squad.size,
        squad.status,
        squad.phone,
    )
    return squad_id


async def update_squad(
    connection: asyncpg.Connection | asyncpg.Pool,
    *,
    squad_id: int,
    patch: models.SquadPatch,
    placement: Placement | None = None,
    actor: str = "admin",
) -> bool:
    """Change the given fields; False when the squad does not exist. A new station is
    checked against ``placement`` first (:class:`PlacementError`, nothing written)."""
    station = _station_point(patch.station) if patch.station else None
    if station is not None and placement is not None:
        current = await get_squad(connection, squad_id=squad_id)
        if current is None:
            return False
        await check_placement(
            connection,
            point=station,
            jurisdiction=current["jurisdiction"],
            rules=placement,
            fields=["body.station"],
        )
    found = await connection.fetchval(
        queries.UPDATE,
        squad_id,
        patch.name,
        patch.name_zh,
        station,
        patch.station_name,
        patch.grid_codes,
        patch.size,
        patch.phone,
    )
    if found is not None and patch.status is not None:
        await connection.fetchval(queries.SET_STATUS, squad_id, patch.status, None, actor)
    return found is not None


async def delete_squad(connection: asyncpg.Connection | asyncpg.Pool, *, squad_id: int) -> bool:
    return await connection.fetchval(queries.DELETE, squad_id) is not None


async def upsert_squads(
    connection: asyncpg.Connection, *, records: list[SquadRecord], placement: Placement | None = None
) -> models.SquadImportReport:
    """Create or update squads by code, all in one transaction; with ``placement``, a
    station it refuses fails the whole import (:class:`SquadError`, nothing written)."""
    created = updated = 0
    async with connection.transaction():
        for record in records:
            await _check_jurisdiction(connection, record.jurisdiction)
            if placement is not None:
                try:
                    await check_placement(
                        connection,
                        point=record.station,
                        jurisdiction=record.jurisdiction,
                        rules=placement,
                        fields=["station"],
                    )
                except PlacementError as error:
                    raise SquadError(
                        f"{record.station_source or 'file'}: squad {record.code}: {error}"
                    ) from None
            row = await connection.fetchrow(
                queries.UPSERT,
                record.code,
                record.name,
                record.name_zh,
                record.jurisdiction,
                shapely.set_srid(record.station, 4326),
                record.station_name,
                record.station_rule,
                record.station_source,
                record.grid_codes,
                record.size,
                record.status,
                record.phone,
            )
            if row["created"]:
                created += 1
            else:
                updated += 1
    return models.SquadImportReport(created=created, updated=updated, squads=[r.code for r in records])


# -- files ---------------------------------------------------------------------------


def read_squad_file(path: Path, *, crs: str = "wgs84") -> list[SquadRecord]:
    """Squads from CSV (``lat``/``lng`` columns) or GeoJSON (Point features).

    Columns / properties: ``code``, ``name`` (required), ``name_zh``, ``jurisdiction``,
    ``station_name``, ``grid_codes`` (``;``-separated in CSV, a list in GeoJSON), ``size``,
    ``status``, ``phone``. Coordinates are in ``crs`` (wgs84, gcj02, bd09, cgcs2000).

    Raises
    ------
    SquadError
        Naming the row and field that is wrong.
    """
    system = parse_crs(crs, geographic_only=True)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        with path.open(newline="", encoding="utf-8-sig") as handle:
            rows = [(f"row {i}", dict(r)) for i, r in enumerate(csv.DictReader(handle), start=2)]
    elif suffix in {".geojson", ".json"}:
        rows = _geojson_rows(path)
    else:
        raise SquadError(f"{path.name}: squads are read from .csv or .geojson files")
    records = []
    for where, row in rows:
        try:
            lat, lng = float(row["lat"]), float(row["lng"])
        except (KeyError, TypeError, ValueError):
            raise SquadError(f"{path.name} {where}: lat and lng must be numbers") from None
        if not (np.isfinite(lat) and np.isfinite(lng) and abs(lat) <= 90 and abs(lng) <= 180):
            raise SquadError(f"{path.name} {where}: lat/lng out of range ({lat}, {lng})")
        x, y = to_wgs84(np.array([lng]), np.array([lat]), system)
        records.append(_record(path.name, where, row, Point(float(x[0]), float(y[0]))))
    codes = [r.code for r in records]
    duplicates = sorted({c for c in codes if codes.count(c) > 1})
    if duplicates:
        raise SquadError(f"{path.name}: squad codes repeated: {duplicates}")
    return records


def _geojson_rows(path: Path) -> list[tuple[str, dict[str, Any]]]:
    data = json.loads(path.read_text(encoding="utf-8"))
    rows = []
    for i, feature in enumerate(data.get("features", []), start=1):
        geometry = feature.get("geometry") or {}
        if geometry.get("type") != "Point":
            raise SquadError(f"{path.name} feature {i}: a squad station must be a Point")
        lng, lat = geometry["coordinates"][:2]
        rows.append((f"feature {i}", {**(feature.get("properties") or {}), "lat": lat, "lng": lng}))
    return rows


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _record(file: str, where: str, row: dict[str, Any], station: Point) -> SquadRecord:
    code, name = _text(row.get("code")), _text(row.get("name"))
    if not code or not name:
        raise SquadError(f"{file} {where}: code and name are required")
    grids = row.get("grid_codes") or []
    if isinstance(grids, str):
        grids = [g.strip() for g in grids.replace("|", ";").split(";") if g.strip()]
    status = _text(row.get("status")) or "available"
    if status not in STATUSES:
        raise SquadError(f"{file} {where}: status {status!r} is not one of {STATUSES}")
    size = _text(row.get("size"))
    try:
        size_value = int(float(size)) if size is not None else None
    except ValueError:
        raise SquadError(f"{file} {where}: size {size!r} is not a number") from None
    if size_value is not None and size_value < 0:
        raise SquadError(f"{file} {where}: size must not be negative")
    return SquadRecord(
        code=code,
        name=name,
        station=station,
        name_zh=_text(row.get("name_zh")),
        jurisdiction=_text(row.get("jurisdiction")),
        station_name=_text(row.get("station_name")),
        station_source=file,
        grid_codes=[str(g) for g in grids],
        size=size_value,
        status=status,
        phone=_text(row.get("phone")),
    )


# -- positions -----------------------------------------------------------------------


async def add_position(
    connection: asyncpg.Connection,
    *,
    squad_id: int,
    ping: models.PositionIn,
    stale_after_s: float,
    future_tolerance_s: float,
    now: datetime | None = None,
    placement: Placement | None = None,
) -> dict[str, Any] | None:
    """Store one AVL ping; None when the squad does not exist.

    Raises
    ------
    FutureTimestampError
        When the ping is stamped more than ``future_tolerance_s`` seconds ahead.
    PlacementError
        When ``placement`` refuses the point (off every jurisdiction, or too far from the
        roads); nothing is stored.
    """
    received = now or datetime.now(UTC)
    device_time = ping.timestamp.astimezone(UTC)
    ahead = (device_time - received).total_seconds()
    if ahead > future_tolerance_s:
        raise FutureTimestampError(
            f"timestamp {device_time.isoformat()} is {ahead:.0f} s ahead of the server clock "
            f"({received.isoformat()}); at most {future_tolerance_s:.0f} s of skew is accepted "
            "(check the device clock and time zone)"
        )
    observed = min(device_time, received)
    x, y = to_wgs84(np.array([ping.lng]), np.array([ping.lat]), parse_crs(ping.crs))
    point = shapely.set_srid(Point(float(x[0]), float(y[0])), 4326)
    if placement is not None:
        # Any jurisdiction, not only the squad's own: squads reinforce their neighbours.
        await check_placement(
            connection, point=point, jurisdiction=None, rules=placement, fields=["body.lat", "body.lng"]
        )
    async with connection.transaction():
        if await connection.fetchval(queries.LOCK_SQUAD, squad_id) is None:
            return None
        latest = await connection.fetchval(queries.LATEST_OBSERVED, squad_id)
        applied = latest is None or observed > latest
        position_id = await connection.fetchval(
            queries.INSERT_POSITION,
            squad_id,
            observed,
            device_time,
            received,
            point,
            ping.crs,
            ping.accuracy,
            applied,
        )
    reason = None
    if not applied:
        reason = (
            f"older than the squad's latest position ({latest.isoformat()}); kept for "
            "the track, not used for ETAs"
        )
    return {
        "id": position_id,
        "squad_id": squad_id,
        "applied": applied,
        "reason": reason,
        "observed_at": observed,
        "received_at": received,
        "wgs84": {"lat": point.y, "lng": point.x},
        "trusted_until": observed + timedelta(seconds=stale_after_s),
    }


async def latest_positions(
    connection: asyncpg.Connection | asyncpg.Pool, *, squad_id: int | None = None
) -> dict[int, dict[str, Any]]:
    """Latest applied position per squad id (WGS84)."""
    rows = await connection.fetch(queries.LATEST_POSITIONS, squad_id)
    return {r["squad_id"]: dict(r) for r in rows}


async def track(
    connection: asyncpg.Connection | asyncpg.Pool, *, squad_id: int, limit: int
) -> list[dict[str, Any]]:
    return [dict(r) for r in await connection.fetch(queries.TRACK, squad_id, limit)]


def position_view(
    position: dict[str, Any] | None, *, stale_after_s: float, now: datetime
) -> dict[str, Any] | None:
    """A stored position with its age and whether ETAs trust it at ``now``."""
    if position is None:
        return None
    age = (now - position["observed_at"]).total_seconds()
    return {
        "lat": position["lat"],
        "lng": position["lng"],
        "observed_at": position["observed_at"],
        "received_at": position["received_at"],
        "age_s": round(age, 1),
        "trusted": age <= stale_after_s,
        "accuracy_m": position["accuracy_m"],
        "source_crs": position["source_crs"],
    }
