"""Geocoder benchmark: addresses drawn from the OSM extract, typed the ways 12345 operators
type them, located by the offline geocoder and by an exact-match baseline in the same run.

Run: ``.venv/bin/python benchmarks/geocode.py [--addresses 400] [--osm FILE]`` (uses
GRIDSVC_DATABASE_URL or the private cluster; works in a scratch database of its own, dropped
at the end). Each address (``addr:street`` + ``addr:housenumber`` of a node or building) is
rewritten three ways: "Street 12, 9490 Town", "Town, Street 12", "列支敦士登 Town Street
12号" (the town is ``addr:city`` or the municipality it lies in, the postcode ``addr:postcode``
or the town's most common one). The truth is the node, or the centroid of the building's
outline. The same three forms are run again with operator noise (Str., Straße, no space before
the number, full-width digits, lower case, a letter left out); the targets apply to the three
forms as the issue states them. Baseline: an exact lookup of "street number" after splitting
off what looks like a postcode and a town by commas and spaces, no normalisation, no fuzzy
matching.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import statistics
import sys
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path

import asyncpg
import osmium
from shapely.geometry import Point, Polygon

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gridsvc.database.embedded import resolve_database_url  # noqa: E402
from gridsvc.database.migrate import upgrade  # noqa: E402
from gridsvc.database.pool import connect  # noqa: E402
from gridsvc.geocode import service  # noqa: E402
from gridsvc.geocode.extract import read_extract  # noqa: E402
from gridsvc.geocode.index import distance_m  # noqa: E402
from gridsvc.settings import get_settings  # noqa: E402

NOISE = " + noise"
FORMS = ("Street 12, 9490 Town", "Town, Street 12", "列支敦士登 Town Street 12号")


def truth_addresses(path: Path) -> list[dict]:
    """Addresses of the extract with their true point, town and postcode."""
    areas = read_extract(path).areas  # admin areas, the most local first
    found = []
    for obj in osmium.FileProcessor(str(path)).with_locations():
        if not isinstance(obj, osmium.osm.Node | osmium.osm.Way):
            continue
        tags = obj.tags
        if "addr:street" not in tags or "addr:housenumber" not in tags:
            continue
        try:
            if isinstance(obj, osmium.osm.Node):
                point = Point(obj.location.lon, obj.location.lat)
            else:
                coords = [(n.lon, n.lat) for n in obj.nodes]
                shape = Polygon(coords) if len(coords) > 3 and coords[0] == coords[-1] else None
                point = (
                    shape.centroid
                    if shape is not None and shape.is_valid
                    else Point(coords[len(coords) // 2])
                )
        except osmium.InvalidLocationError:
            continue
        town = tags.get("addr:city") or next((n for n, a in areas if a.contains(point)), None)
        if town is None:
            continue
        found.append(
            {
                "street": tags["addr:street"],
                "number": tags["addr:housenumber"],
                "town": town,
                "postcode": tags.get("addr:postcode"),
                "lng": point.x,
                "lat": point.y,
            }
        )
    by_town: dict[str, Counter[str]] = defaultdict(Counter)
    for a in found:
        if a["postcode"]:
            by_town[a["town"]][a["postcode"]] += 1
    for a in found:
        if not a["postcode"] and by_town[a["town"]]:
            a["postcode"] = by_town[a["town"]].most_common(1)[0][0]
    return found


def typed(address: dict, form: str) -> str:
    street, number, town, postcode = (
        address["street"],
        address["number"],
        address["town"],
        address["postcode"],
    )
    if form == FORMS[0]:
        return f"{street} {number}, {postcode or ''} {town}".replace("  ", " ")
    if form == FORMS[1]:
        return f"{town}, {street} {number}"
    return f"列支敦士登 {town} {street} {number}号"


_FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


def noisy(query: str, rng: random.Random) -> str:
    """The same query as a hurried operator types it: one of Str. for strasse, Straße, no
    space before the number, full-width digits, lower case, or one letter of the street left
    out."""
    kind = rng.randrange(6)
    if kind == 0 and "strasse" in query:
        return query.replace("strasse", "str.", 1)
    if kind == 1 and "strasse" in query:
        return query.replace("strasse", "straße", 1)
    if kind == 2:
        return re.sub(r"([^\W\d]) (\d)", r"\1\2", query, count=1)
    if kind == 3:
        return query.translate(_FULL_WIDTH)
    if kind == 4:
        return query.lower()
    words = [w for w in re.findall(r"[^\W\d]{6,}", query) if not w.startswith("列")]
    if words:
        word = rng.choice(words)
        cut = rng.randrange(1, len(word) - 1)
        return query.replace(word, word[:cut] + word[cut + 1 :], 1)
    return query


class ExactBaseline:
    """Exact "street number" lookup: what a plain dictionary of the extract finds."""

    def __init__(self, addresses: list[dict]) -> None:
        self.points: dict[str, tuple[float, float]] = {}
        for a in addresses:
            self.points.setdefault(f"{a['street']} {a['number']}", (a["lng"], a["lat"]))

    def search(self, query: str) -> tuple[float, float] | None:
        for part in query.split(","):
            part = re.sub(r"^\d{4}\s+\S+$", "", part.strip())  # "9490 Vaduz"
            hit = self.points.get(part) or self.points.get(part.split(" ", 1)[-1])
            if hit:
                return hit
        return None


async def measure(url: str, osm: Path, count: int, seed: int) -> dict[str, dict]:
    settings = get_settings()
    connection = await connect(url)
    try:
        await upgrade(connection)
        started = time.perf_counter()
        build = await service.build_index(connection, settings=settings, source=osm)
        build_s = time.perf_counter() - started
        await service.current_index(connection)  # load it once, as a running app would
        addresses = truth_addresses(osm)
        sample = random.Random(seed).sample(addresses, min(count, len(addresses)))
        baseline = ExactBaseline(addresses)
        results: dict[str, dict] = {}
        rng = random.Random(seed)
        for form, noise in [(f, False) for f in FORMS] + [(f, True) for f in FORMS]:
            errors, base_errors, times = [], [], []
            for address in sample:
                query = noisy(typed(address, form), rng) if noise else typed(address, form)
                truth = (address["lng"], address["lat"])
                t0 = time.perf_counter()
                answer = await service.geocode(
                    connection, query=query, min_confidence=settings.geocode_min_confidence
                )
                times.append((time.perf_counter() - t0) * 1000)
                best = answer.candidates[0] if answer.candidates else None
                errors.append(distance_m((best.lng, best.lat), truth) if best else float("inf"))
                hit = baseline.search(query)
                base_errors.append(distance_m(hit, truth) if hit else float("inf"))
            results[f"{form}{NOISE if noise else ''}"] = {"errors": errors, "base": base_errors, "ms": times}
        results["_build"] = {"entries": build.entries, "seconds": build_s, "addresses": len(addresses)}
        return results
    finally:
        await connection.close()


def share_within(errors: list[float], metres: float = 100.0) -> float:
    return sum(e <= metres for e in errors) / len(errors)


def median_m(errors: list[float]) -> str:
    value = statistics.median(errors)
    return "no match" if value == float("inf") else f"{value:.1f} m"


async def in_scratch_database(server_url: str, osm: Path, count: int, seed: int) -> dict[str, dict]:
    name = f"gridsvc_bench_geocode_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(server_url)
    await admin.execute(f'CREATE DATABASE "{name}"')  # our own name, not input
    try:
        url = f"{server_url.rpartition('/')[0]}/{name}"
        setup = await asyncpg.connect(url)
        await setup.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        await setup.close()
        return await measure(url, osm, count, seed)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--addresses", type=int, default=400, help="addresses drawn from the extract")
    parser.add_argument("--osm", type=Path, default=None, help="extract (default: Liechtenstein)")
    parser.add_argument("--seed", type=int, default=12345)
    args = parser.parse_args()
    settings = get_settings()
    osm = args.osm or settings.demo_pbf
    results = asyncio.run(in_scratch_database(resolve_database_url(settings), osm, args.addresses, args.seed))
    build = results.pop("_build")
    print(
        f"\n{osm.name}: {build['addresses']} addresses in the extract, {args.addresses} drawn (seed "
        f"{args.seed}); index of {build['entries']} entries built in {build['seconds']:.1f} s"
    )
    rows = []
    every_error, every_base, every_ms = [], [], []
    noisy_error, noisy_base = [], []
    for form, r in results.items():
        fuzzy, exact = share_within(r["errors"]), share_within(r["base"])
        ratio = f"{fuzzy / exact:.1f}x" if exact else "inf"
        rows.append((f'"{form}": within 100 m', f"{fuzzy:.1%}", f"{exact:.1%}", ratio, ""))
        rows.append((f'"{form}": median error', median_m(r["errors"]), median_m(r["base"]), "", ""))
        every_ms += r["ms"]
        if form.endswith(NOISE):
            noisy_error += r["errors"]
            noisy_base += r["base"]
            continue
        every_error += r["errors"]
        every_base += r["base"]
    share, base_share = share_within(every_error), share_within(every_base)
    p95 = statistics.quantiles(every_ms, n=20)[-1]
    rows += [
        (
            "three forms: within 100 m",
            f"{share:.1%}",
            f"{base_share:.1%}",
            f"{share / base_share:.1f}x" if base_share else "inf",
            f"{'[ok]' if share >= 0.9 else '[FAIL]'} >= 90 %",
        ),
        ("three forms: median error", median_m(every_error), median_m(every_base), "", ""),
        (
            "three forms + noise: within 100 m",
            f"{share_within(noisy_error):.1%}",
            f"{share_within(noisy_base):.1%}",
            f"{share_within(noisy_error) / max(share_within(noisy_base), 1e-9):.1f}x",
            "",
        ),
        (
            "time per address (all rows), mean (p95)",
            f"{statistics.fmean(every_ms):.2f} ms ({p95:.2f})",
            "",
            "",
            f"{'[ok]' if p95 <= 20 else '[FAIL]'} <= 20 ms",
        ),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"\n{'measure':<{width}}  {'geocoder':>18}  {'exact baseline':>14}  {'ratio':>6}  target")
    print("-" * (width + 64))
    for name, value, base, ratio, target in rows:
        print(f"{name:<{width}}  {value:>18}  {base:>14}  {ratio:>6}  {target}")


if __name__ == "__main__":
    main()
