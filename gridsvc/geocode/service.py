"""The offline geocoder: build the index from an OSM extract and the division codes, and
answer typed addresses with candidates and a confidence.

A build reads the extract (:mod:`gridsvc.geocode.extract`), adds the townships of the
jurisdictions table (their names and Chinese names become towns of the entries inside them)
and the division codes (统计用区划代码: township and village names, placed at their
county when the county's boundary is loaded), then replaces the current index in one
transaction. Each app process keeps the current build in memory and notices a new one by
its id (one small query per geocode), so every process answers from the same build.
"""

from __future__ import annotations

import asyncio
import csv
import json
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import asyncpg
import shapely
from shapely.geometry.base import BaseGeometry

from gridsvc.geocode import queries
from gridsvc.geocode.extract import ExtractError, add_towns, read_extract
from gridsvc.geocode.index import GeocodeIndex
from gridsvc.geocode.models import BuildReport, Candidate, Entry, GeocodeAnswer
from gridsvc.jurisdictions import service as jurisdictions
from gridsvc.settings import Settings

Progress = Callable[[str], None]
BUILD_STEPS = ("read extract", "jurisdictions", "division codes", "write PostGIS", "done")
_COPY_CHUNK = 20_000

__all__ = ["BUILD_STEPS", "ExtractError", "build_index", "current_index", "geocode", "locate"]


async def _jurisdiction_areas(connection: asyncpg.Connection) -> dict[str, dict[str, Any]]:
    """Townships and counties with a boundary: code -> name, name_zh, level, boundary."""
    found = {}
    for level in ("township", "county"):
        for row in await jurisdictions.list_all(connection, level=level):
            full = await jurisdictions.get(connection, code=row["code"])
            if full and full.get("boundary") is not None:
                found[row["code"]] = full
    return found


def _division_entries(areas: dict[str, dict[str, Any]]) -> list[Entry]:
    entries = []
    for area in areas.values():
        inside = area["boundary"].representative_point()
        for name in dict.fromkeys(n for n in (area["name_zh"], area["name"]) if n):
            entries.append(Entry(kind="division", name=name, lng=inside.x, lat=inside.y, osm_id=None))
    return entries


def _division_code_entries(
    directory: Path, areas: dict[str, dict[str, Any]], skipped: Counter[str]
) -> list[Entry]:
    """Township and village names of the division codes, each at a point of its county (the
    codes carry no geometry; the candidate says so with precision ``county``)."""
    townships: dict[str, tuple[str, str]] = {}  # code -> (name, county code)
    entries = []
    path = directory / "targets_townships.csv"
    rows = list(csv.DictReader(path.open(encoding="utf-8"))) if path.exists() else []
    for row in rows:
        townships[row["code"]] = (row["name"], row["areaCode"])
    path = directory / "targets_villages.csv"
    villages = list(csv.DictReader(path.open(encoding="utf-8"))) if path.exists() else []
    named: list[tuple[str, str, str, list[str]]] = [(r["code"], r["name"], r["areaCode"], []) for r in rows]
    named += [
        (v["code"], v["name"], v["areaCode"], [townships.get(v["streetCode"], ("", ""))[0]]) for v in villages
    ]
    for code, name, county_code, parents in named:
        county = areas.get(county_code)
        if county is None:
            skipped["division code without a loaded county boundary"] += 1
            continue
        inside = county["boundary"].representative_point()
        towns = [t for t in (county["name_zh"], county["name"], *parents) if t]
        entries.append(
            Entry(
                kind="division", name=name, lng=inside.x, lat=inside.y, towns=towns, osm_id=f"adcode:{code}"
            )
        )
    return entries


async def build_index(
    connection: asyncpg.Connection,
    *,
    settings: Settings,
    source: Path | None = None,
    extracts: Sequence[tuple[Path, str | None]] = (),
    progress: Progress | None = None,
) -> BuildReport:
    """Build the geocoder's index from ``source`` or from several ``extracts`` (file,
    jurisdiction code: each entry is tagged with the jurisdiction of its extract) and make
    it current (atomic replace).

    Raises
    ------
    ExtractError
        An extract is missing or holds nothing to index (the current index is kept).
    """
    started = time.monotonic()
    step = progress or (lambda _s: None)
    sources = list(extracts) + ([(source, None)] if source is not None else [])
    if not sources:
        raise ExtractError("no OSM extract given")
    step("read extract")
    entries: list[Entry] = []
    ranges = []  # the entries of each extract are contiguous: their ids tell the jurisdiction
    skipped: Counter[str] = Counter()
    for path, jurisdiction in sources:
        extract = await asyncio.to_thread(read_extract, path)
        for entry in extract.entries:
            entry.jurisdiction = jurisdiction
        ranges.append(
            {
                "source": str(path),
                "jurisdiction": jurisdiction,
                "first": len(entries),
                "entries": len(extract.entries),
            }
        )
        entries += extract.entries
        skipped.update(extract.skipped)
    step("jurisdictions")
    areas = await _jurisdiction_areas(connection)
    townships = [
        (name, area["boundary"])
        for area in areas.values()
        if area["level"] == "township"
        for name in (area["name"], area["name_zh"])
        if name
    ]
    add_towns(entries, townships)
    entries += _division_entries({c: a for c, a in areas.items() if a["level"] == "township"})
    step("division codes")
    entries += _division_code_entries(settings.division_codes_dir, areas, skipped)
    by_kind: Counter[str] = Counter(e.kind for e in entries)
    towns = {t for e in entries for t in e.towns}
    report = {"by_kind": dict(by_kind), "towns": len(towns), "skipped": dict(skipped), "extracts": ranges}
    source_text = ", ".join(str(path) for path, _ in sources)
    step("write PostGIS")
    async with connection.transaction():
        await connection.execute(queries.LOCK_BUILDS)
        build_id: int = await connection.fetchval(queries.INSERT_BUILD, source_text, len(entries), report)
        await _copy_entries(connection, build_id, entries)
        retired = [r["id"] for r in await connection.fetch(queries.RETIRE_CURRENT)]
        if retired:
            await connection.execute(queries.DELETE_BUILD_ENTRIES, retired)
        await connection.execute(queries.MAKE_CURRENT, build_id)
    step("done")
    return BuildReport(
        build_id=build_id,
        source=source_text,
        entries=len(entries),
        by_kind=dict(by_kind),
        towns=len(towns),
        skipped=dict(skipped),
        seconds=round(time.monotonic() - started, 2),
    )


async def _copy_entries(connection: asyncpg.Connection, build_id: int, entries: list[Entry]) -> None:
    points: list[BaseGeometry] = shapely.set_srid(
        shapely.points([(e.lng, e.lat) for e in entries]), 4326
    ).tolist()
    rows = [
        (build_id, i, e.kind, e.name, e.street, e.housenumber, e.postcode, e.towns, e.osm_id, points[i])
        for i, e in enumerate(entries)
    ]
    for start in range(0, len(rows), _COPY_CHUNK):
        await connection.copy_records_to_table(
            "geocode_entries", records=rows[start : start + _COPY_CHUNK], columns=queries.ENTRY_COLUMNS
        )


def _tag_jurisdictions(entries: list[Entry], report: Any) -> None:
    """Tag entries with their extract's jurisdiction from the build report's id ranges."""
    if isinstance(report, str):
        report = json.loads(report)
    for extract in (report or {}).get("extracts", []):
        for entry in entries[extract["first"] : extract["first"] + extract["entries"]]:
            entry.jurisdiction = extract["jurisdiction"]


# -- the index of this process -------------------------------------------------------------

_loaded: dict[str, GeocodeIndex] = {}
_loading = asyncio.Lock()


async def current_index(connection: asyncpg.Connection | asyncpg.Pool) -> GeocodeIndex | None:
    """The current build's index (loaded once per process and build), or None before the
    first build."""
    build = await connection.fetchrow(queries.CURRENT_BUILD)
    if build is None:
        return None
    # The build's time too: two databases (tests, a restored dump) may both have build 1.
    identity = f"{build['id']}@{build['built_at'].isoformat()}"
    hit = _loaded.get(identity)
    if hit is not None:
        return hit
    async with _loading:
        hit = _loaded.get(identity)
        if hit is None:
            rows = await connection.fetch(queries.BUILD_ENTRIES, build["id"])
            entries = [Entry(**dict(r)) for r in rows]
            _tag_jurisdictions(entries, build["report"])
            hit = await asyncio.to_thread(GeocodeIndex, build["id"], entries)
            _loaded.clear()  # keep only the newest build of this process
            _loaded[identity] = hit
    return hit


async def geocode(
    connection: asyncpg.Connection | asyncpg.Pool, *, query: str, min_confidence: float, limit: int = 5
) -> GeocodeAnswer:
    """Candidates for a typed address, best first; ``located`` when the best is at least
    ``min_confidence`` sure."""
    index = await current_index(connection)
    if index is None:
        return GeocodeAnswer(query=query, located=False, candidates=[], build_id=None)
    candidates = index.search(query, limit=limit)
    located = bool(candidates) and candidates[0].confidence >= min_confidence
    return GeocodeAnswer(query=query, located=located, candidates=candidates, build_id=index.build_id)


async def locate(
    connection: asyncpg.Connection | asyncpg.Pool, *, address: str, min_confidence: float
) -> tuple[Candidate | None, GeocodeAnswer]:
    """The confident match of an address (None when there is none), and the full answer."""
    answer = await geocode(connection, query=address, min_confidence=min_confidence)
    return (answer.candidates[0] if answer.located else None), answer
