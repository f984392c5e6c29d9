"""The offline geocoder on the real extracts: Liechtenstein (the demo, built by `demo build`)
and Longgang, Shenzhen (Chinese street names, its own scratch database); placement at intake
through the one intake flow; GET /geocode.

Expected points are never typed in: they are read from the extract with pyosmium here, the
way an independent reader would, and the geocoder must land within 100 m of them.
"""

from __future__ import annotations

import math
import random
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import osmium
import pytest
import shapely
from shapely.geometry import LineString, Point, Polygon
from shapely.geometry.base import BaseGeometry

from gridsvc.database.pool import connect
from gridsvc.geocode import service
from gridsvc.geocode.normalise import housenumber_key, key, parse, vocabulary_of
from gridsvc.settings import Settings
from tests.events_support import post_order
from tests.roads_support import scratch_database

pytestmark = pytest.mark.usefixtures("demo")


def osm_addresses(path: Path) -> list[dict]:
    """Every node/way with addr:street + addr:housenumber, its point (node) or outline (way)
    and addr:city, read independently of the geocoder."""
    found = []
    for obj in osmium.FileProcessor(str(path)).with_locations():
        if not isinstance(obj, osmium.osm.Node | osmium.osm.Way):
            continue
        tags = obj.tags
        if "addr:street" not in tags or "addr:housenumber" not in tags:
            continue
        shape: BaseGeometry
        if isinstance(obj, osmium.osm.Node):
            shape = Point(obj.location.lon, obj.location.lat)
        else:
            coords = [(n.lon, n.lat) for n in obj.nodes]
            shape = Polygon(coords) if len(coords) > 3 and coords[0] == coords[-1] else LineString(coords)
        found.append(
            {
                "street": tags["addr:street"],
                "number": tags["addr:housenumber"],
                "city": tags.get("addr:city"),
                "postcode": tags.get("addr:postcode"),
                "shape": shape,
            }
        )
    return found


def off_by_m(address: dict, lng: float, lat: float) -> float:
    """Metres from a point to the addressed object (0 inside a building's outline), in a
    local equirectangular frame (exact enough at 100 m)."""
    scale = (111_320.0 * math.cos(math.radians(lat)), 110_574.0)
    local = shapely.transform(address["shape"], lambda xy: (xy - (lng, lat)) * scale)
    return float(local.distance(Point(0, 0)))


# -- normalisation ---------------------------------------------------------------------------


def test_spellings_reduce_to_one_key():
    assert key("Zollstr.") == key("Zollstraße") == key("Zoll Strasse") == key("ZOLLSTRASSE")
    assert key("Josef-Murr-Weg") == key("Josef Murr Weg") == key("josefmurrweg")
    assert key("Städtle") == key("Staedtle") == key("Stadtle")
    assert key("龙翔 大道") == key("龙翔大道")
    assert housenumber_key("１２号") == housenumber_key("12") == "12"
    assert housenumber_key("12 A") == "12a"


def test_a_typed_address_is_split_into_its_parts():
    vocabulary = vocabulary_of(["Vaduz", "Schaan", "瓦杜兹", "深圳市"], ["9490", "9494"])
    for typed in (
        "Städtle 43, 9490 Vaduz",
        "Vaduz, Städtle 43",
        "列支敦士登 Vaduz Städtle 43号",
        "瓦杜兹 Städtle 43",
    ):
        parsed = parse(typed, vocabulary)
        assert key(parsed.text) == key("Städtle"), typed
        assert parsed.housenumber == "43", typed
        assert parsed.towns == (key("瓦杜兹" if "瓦杜兹" in typed else "Vaduz"),), typed
    parsed = parse("Städtle43, 9490 Vaduz", vocabulary)
    assert (key(parsed.text), parsed.housenumber, parsed.postcode) == (key("Städtle"), "43", "9490")
    parsed = parse("中国广东省深圳市龙岗区龙翔大道２００１号", vocabulary)
    assert (parsed.text, parsed.housenumber) == ("龙翔大道", "2001")


# -- Liechtenstein (the demo's index) -----------------------------------------------------


def _rewrites(address: dict, town: str) -> list[str]:
    street, number, postcode = address["street"], address["number"], address["postcode"] or ""
    return [
        f"{street} {number}, {postcode} {town}".replace("  ", " "),
        f"{town}, {street} {number}",
        f"列支敦士登 {town} {street} {number}号",
    ]


async def test_liechtenstein_addresses_typed_three_ways_land_within_100_m(db, settings: Settings):
    addresses = [a for a in osm_addresses(settings.demo_pbf) if a["city"]]
    sample = random.Random(9).sample(addresses, 60)
    within, total = 0, 0
    for address in sample:
        for typed in _rewrites(address, address["city"]):
            answer = await service.geocode(db, query=typed, min_confidence=settings.geocode_min_confidence)
            total += 1
            if answer.candidates:
                best = answer.candidates[0]
                within += off_by_m(address, best.lng, best.lat) <= 100
    assert within / total >= 0.9, f"{within}/{total} within 100 m"


def test_get_geocode_answers_candidates_with_confidence(client, settings: Settings):
    address = next(a for a in osm_addresses(settings.demo_pbf) if a["street"] == "Städtle" and a["city"])
    response = client.get("/geocode", params={"q": f"{address['city']}，Ｓｔädtle {address['number']}号"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["located"] is True and body["build_id"] is not None
    best = body["candidates"][0]
    assert best["kind"] == "address" and best["precision"] == "address"
    assert 0 < best["confidence"] <= 1
    assert off_by_m(address, best["lng"], best["lat"]) <= 100


def test_get_geocode_refuses_a_blank_or_missing_query(client):
    for params in ({"q": "   "}, {}, {"q": "Städtle", "limit": 0}):
        response = client.get("/geocode", params=params)
        assert response.status_code == 422, response.text
        assert response.json()["fields"][0]["field"].startswith("query."), response.text


async def delegated_matter(db) -> str:
    """A matter the townships handle (so a placed event is routed to the township's squad)."""
    code = await db.fetchval(
        "SELECT code FROM matters WHERE owner_department = 'urban_management' AND kind = 'event' "
        "AND NOT auto_dispatch ORDER BY code LIMIT 1"
    )
    assert code is not None
    return code


async def test_a_confident_address_places_the_work_order_at_intake_and_routes_it(
    client, db, settings: Settings
):
    # Mauren: a township the older tests leave alone (no 并单 with their events)
    address = next(a for a in osm_addresses(settings.demo_pbf) if a["city"] == "Mauren")
    typed = f"{address['street']} {address['number']}, {address['postcode'] or ''} Mauren"
    created = client.post(
        "/events", json={"title": "地址工单", "address": typed, "matter_code": await delegated_matter(db)}
    )
    assert created.status_code == 201, created.text
    event = client.get(f"/events/{created.json()['id']}").json()
    assert event["lng"] is not None
    assert off_by_m(address, event["lng"], event["lat"]) <= 100
    located = [h for h in event["history"] if h["action"] == "locate"]
    assert len(located) == 1 and located[0]["actor"] == "system"
    # the audit line in Chinese (the desk's language); what matched and how sure also as data
    assert located[0]["note"].startswith(f"按地址定位：{address['street']} {address['number']}")
    confidence = float(located[0]["note"].rsplit("，", 1)[1])
    assert located[0]["data"]["candidate"]["confidence"] == pytest.approx(confidence, abs=0.01)
    assert confidence >= settings.geocode_min_confidence
    assert event["state"] == "routed"
    assert event["grids"]["enforcement"]["code"] == "LI-MAUREN"


async def test_a_vague_address_stays_unlocated_with_candidates_until_placed(client, db):
    matter = await delegated_matter(db)
    created = client.post(
        "/events", json={"title": "只有街名", "address": "Landstrasse", "matter_code": matter}
    )
    assert created.status_code == 201, created.text
    event = client.get(f"/events/{created.json()['id']}").json()
    assert event["lng"] is None and event["state"] == "received"
    geocoded = [h for h in event["history"] if h["action"] == "geocode"]
    assert geocoded and geocoded[0]["note"].startswith("地址未能自动定位：")
    candidates = geocoded[0]["data"]["candidates"]
    assert len(candidates) >= 2  # Landstrasse runs through several municipalities
    # The operator picks one (what the panel does): the event is placed and routed.
    pick = client.get("/geocode", params={"q": event["address"]}).json()["candidates"][0]
    placed = client.post(
        f"/events/{event['id']}/location", json={"location": {"lng": pick["lng"], "lat": pick["lat"]}}
    )
    assert placed.status_code == 200, placed.text
    assert placed.json()["state"] == "routed"
    assert placed.json()["responsible_kind"] == "squad"


async def test_a_hotline_work_order_with_an_address_is_placed_by_the_same_flow(
    client, db, settings: Settings
):
    secret = await db.fetchval("SELECT secret FROM integrations WHERE name = 'hotline-demo'")
    address = next(a for a in osm_addresses(settings.demo_pbf) if a["city"] == "Eschen")
    order = {
        "work_order_no": f"G{uuid.uuid4().hex[:12]}",
        "title": "噪声扰民",
        "address": f"列支敦士登 Eschen {address['street']} {address['number']}号",
        "matter_code": await delegated_matter(db),
    }
    response = post_order(client, secret, order)
    assert response.status_code == 201, response.text
    event = client.get(f"/events/{response.json()['id']}").json()
    assert off_by_m(address, event["lng"], event["lat"]) <= 100
    assert event["grids"]["enforcement"]["code"] == "LI-ESCHEN"


# -- Longgang, Shenzhen: Chinese street names (its own database) --------------------------


@pytest.fixture(scope="module")
async def longgang(server_url: str, shared_geodata: Path) -> AsyncIterator[tuple[str, Path]]:
    extract = shared_geodata / "osm" / "cn_shenzhen_longgang.osm"
    async with scratch_database(server_url, "geocode_cn") as url:
        connection = await connect(url)
        try:
            settings = Settings(database_url=url, shared_geodata=shared_geodata)
            await service.build_index(connection, settings=settings, source=extract)
        finally:
            await connection.close()
        yield url, extract


async def test_longgang_chinese_addresses_and_streets(longgang):
    url, extract = longgang
    connection = await connect(url)
    try:
        addresses = osm_addresses(extract)
        assert addresses
        for address in addresses:
            number = housenumber_key(address["number"])
            full_width = number.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
            for typed in (
                f"深圳市龙岗区{address['street']}{full_width}号",
                f"{address['street']} {number}",
                f"广东省 深圳市 {address['street']}{number}號",
            ):
                answer = await service.geocode(connection, query=typed, min_confidence=0.8)
                assert answer.located, typed
                best = answer.candidates[0]
                assert off_by_m(address, best.lng, best.lat) <= 100, typed
        # A street without a number: a candidate on that street, never placed on its own.
        street = next(
            o.tags["name"]
            for o in osmium.FileProcessor(str(extract), osmium.osm.WAY)
            if o.tags.get("highway") and o.tags.get("name") == "龙飞大道"
        )
        answer = await service.geocode(connection, query=f"龙岗区{street}", min_confidence=0.8)
        assert answer.candidates[0].text.startswith(street)
        assert answer.candidates[0].precision == "street"
        assert not answer.located
    finally:
        await connection.close()


async def connect_and_upgrade(url: str) -> bool:
    from gridsvc.database.migrate import upgrade

    connection = await connect(url)
    try:
        await connection.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        await upgrade(connection)
        return True
    finally:
        await connection.close()


# -- the command line ------------------------------------------------------------------------


def test_geocode_build_and_search_commands(server_url: str, shared_geodata: Path, monkeypatch):
    """`gridsvc geocode build --osm` in a database of its own, then `gridsvc geocode search`;
    a missing extract is a one-line error with exit code 2 (the index is kept)."""
    import asyncio
    import json

    from typer.testing import CliRunner

    from gridsvc.cli import app
    from gridsvc.settings import get_settings

    extract = shared_geodata / "osm" / "cn_sanming_ninghua.osm"
    street = next(
        o.tags["name"]
        for o in osmium.FileProcessor(str(extract), osmium.osm.WAY)
        if o.tags.get("highway") and o.tags.get("name")
    )

    async def in_scratch(task):  # each asyncio.run has its own loop: a fresh connection
        admin = await connect(server_url)
        try:
            return await task(admin)
        finally:
            await admin.close()

    name = f"gridsvc_geocode_cli_{uuid.uuid4().hex[:10]}"
    url = f"{server_url.rpartition('/')[0]}/{name}"
    asyncio.run(in_scratch(lambda admin: admin.execute(f'CREATE DATABASE "{name}"')))
    try:
        setup = asyncio.run(connect_and_upgrade(url))
        assert setup
        monkeypatch.setenv("GRIDSVC_DATABASE_URL", url)
        get_settings.cache_clear()
        runner = CliRunner()
        built = runner.invoke(app, ["geocode", "build", "--osm", str(extract)])
        assert built.exit_code == 0, built.output
        assert "geocoder build" in built.output and "'street':" in built.output
        found = runner.invoke(app, ["geocode", "search", f"三明市宁化县{street}"])
        assert found.exit_code == 0, found.output
        answer = json.loads(found.stdout)
        assert answer["candidates"][0]["text"].startswith(street)
        missing = runner.invoke(app, ["geocode", "build", "--osm", str(extract.with_name("nowhere.osm"))])
        assert missing.exit_code == 2
        assert "not found" in missing.output and "Traceback" not in missing.output
        again = runner.invoke(app, ["geocode", "search", street])
        assert json.loads(again.stdout)["build_id"] == answer["build_id"]
        # Two counties in one index, each entry tagged with its extract's jurisdiction.
        liechtenstein = shared_geodata / "osm" / "liechtenstein-latest.osm.pbf"
        both = runner.invoke(
            app, ["geocode", "build", "--osm", f"{liechtenstein}=LI", "--osm", f"{extract}=350424"]
        )
        assert both.exit_code == 0, both.output
        for typed, jurisdiction in ((street, "350424"), ("Städtle 1, Vaduz", "LI")):
            best = json.loads(runner.invoke(app, ["geocode", "search", typed]).stdout)["candidates"][0]
            assert best["jurisdiction"] == jurisdiction, (typed, best)
    finally:
        get_settings.cache_clear()
        asyncio.run(in_scratch(lambda admin: admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')))
