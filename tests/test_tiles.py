"""The offline base map: /tiles/{z}/{x}/{y}.mvt from PostGIS, decoded with mapbox-vector-tile.

Expected contents are read from the imported tables with bounds computed here (not by the
tile SQL), and decoded coordinates are mapped back to the ground and compared with the
stored geometry, so a flipped axis or a wrong envelope fails.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import mapbox_vector_tile
import pytest
import shapely
from fastapi.testclient import TestClient

from gridsvc.app import create_app
from gridsvc.database.pool import connect
from gridsvc.settings import Settings
from gridsvc.tiles.osm import tile_bounds, tile_of
from gridsvc.tiles.service import import_basemap
from tests.auth_support import bearer
from tests.roads_support import scratch_database

VADUZ = (9.5209, 47.1410)
LONGGANG = "cn_shenzhen_longgang.osm"
MVT = "application/vnd.mapbox-vector-tile"
EARTH = 20037508.342789244  # half the web-mercator world, metres


async def in_thread(function: Callable[..., Any], *args: Any) -> Any:
    return await asyncio.to_thread(function, *args)


def vaduz_tile(z: int = 15) -> tuple[int, int, int]:
    return (z, *tile_of(*VADUZ, z))


def decode(data: bytes) -> dict[str, Any]:
    decoded: dict[str, Any] = mapbox_vector_tile.decode(data, default_options={"y_coord_down": True})
    return decoded


def to_mercator(z: int, x: int, y: int, extent: int, px: float, py: float) -> tuple[float, float]:
    """Tile coordinates (y down) back to EPSG:3857 metres."""
    size = 2 * EARTH / 2**z
    return -EARTH + (x + px / extent) * size, EARTH - (y + py / extent) * size


async def names_in(db: asyncpg.Connection, z: int, x: int, y: int, *, grow: float) -> set[str]:
    """Names of the roads drawn at zoom z crossing the tile's bounds grown by ``grow`` (a
    fraction of the tile; negative shrinks), bounds computed in Python."""
    west, south, east, north = tile_bounds(z, x, y)
    dx, dy = (east - west) * grow, (north - south) * grow
    rows = await db.fetch(
        "SELECT DISTINCT name FROM basemap_roads WHERE name IS NOT NULL AND min_zoom <= $5 AND "
        "ST_Intersects(geom, ST_Transform(ST_MakeEnvelope($1, $2, $3, $4, 4326), 3857))",
        west - dx,
        south - dy,
        east + dx,
        north + dy,
        z,
    )
    return {r["name"] for r in rows}


async def test_vaduz_tile_is_a_valid_mvt_with_every_layer(client: TestClient, db: asyncpg.Connection) -> None:
    z, x, y = vaduz_tile()
    response = client.get(f"/tiles/{z}/{x}/{y}.mvt")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == MVT
    layers = decode(response.content)
    assert {"roads", "buildings", "landuse"} <= set(layers)
    roads = layers["roads"]["features"]
    assert isinstance(roads, list) and roads
    classes = {f["properties"]["class"] for f in roads}
    assert classes <= {
        "motorway",
        "trunk",
        "primary",
        "secondary",
        "tertiary",
        "minor",
        "service",
        "track",
        "path",
    }
    names = {f["properties"]["name"] for f in roads if f["properties"].get("name")}
    # every street crossing the inner half of the tile is there; none from farther than the buffer
    assert await names_in(db, z, x, y, grow=-0.25) <= names
    assert names <= await names_in(db, z, x, y, grow=0.05)


async def test_decoded_street_lies_on_the_stored_street(client: TestClient, db: asyncpg.Connection) -> None:
    z, x, y = vaduz_tile(16)
    layer = decode(client.get(f"/tiles/{z}/{x}/{y}.mvt").content)["roads"]
    extent = int(str(layer["extent"]))
    named = [f for f in layer["features"] if f["properties"].get("name")]
    assert named
    for feature in named[:10]:
        geometry = feature["geometry"]
        lines = (
            geometry["coordinates"] if geometry["type"] == "MultiLineString" else [geometry["coordinates"]]
        )
        points = [to_mercator(z, x, y, extent, px, py) for line in lines for px, py in line]
        stored = await db.fetchval(
            "SELECT ST_Collect(geom) FROM basemap_roads WHERE name = $1", feature["properties"]["name"]
        )
        # a tile unit at z16 is ~0.6 m; allow a few for quantisation
        worst = max(shapely.distance(stored, shapely.Point(p)) for p in points)
        assert worst < 3.0, (feature["properties"]["name"], worst)


def test_outside_the_data_is_204(client: TestClient) -> None:
    z, x, y = 15, *tile_of(-150.0, -40.0, 15)  # the South Pacific
    response = client.get(f"/tiles/{z}/{x}/{y}.mvt")
    assert response.status_code == 204
    assert response.content == b""
    assert response.headers["etag"]


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/tiles/23/0/0.mvt", "path.z"),
        ("/tiles/-1/0/0.mvt", "path.z"),
        ("/tiles/3/8/0.mvt", "path.x"),
        ("/tiles/3/0/8.mvt", "path.y"),
        ("/tiles/3/0/-1.mvt", "path.y"),
        ("/tiles/a/0/0.mvt", "path.z"),
        ("/tiles/3/1.5/0.mvt", "path.x"),
        ("/tiles/3/0/y.mvt", "path.y"),
    ],
)
def test_bad_tile_address_names_the_field(client: TestClient, path: str, field: str) -> None:
    response = client.get(path)
    assert response.status_code == 422, response.text
    body = response.json()
    assert [f["field"] for f in body["fields"]] == [field]
    assert body["fields"][0]["reason"]


def test_etag_and_304(client: TestClient) -> None:
    z, x, y = vaduz_tile(14)
    first = client.get(f"/tiles/{z}/{x}/{y}.mvt")
    assert first.status_code == 200
    etag = first.headers["etag"]
    assert etag.startswith('"') and etag.endswith('"')
    assert first.headers["cache-control"].startswith("private, max-age=")
    again = client.get(f"/tiles/{z}/{x}/{y}.mvt")
    assert again.headers["x-tile-cache"] == "hit" and again.content == first.content
    for header in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        revalidated = client.get(f"/tiles/{z}/{x}/{y}.mvt", headers={"If-None-Match": header})
        assert revalidated.status_code == 304, header
        assert revalidated.content == b""
        assert revalidated.headers["etag"] == etag
    stale = client.get(f"/tiles/{z}/{x}/{y}.mvt", headers={"If-None-Match": '"0-old"'})
    assert stale.status_code == 200 and stale.content == first.content


@pytest.fixture(scope="module")
async def longgang_url(server_url: str, shared_geodata: Path) -> AsyncIterator[str]:
    """A database of its own holding only the Longgang (Shenzhen) base map."""
    async with scratch_database(server_url, "tiles") as url:
        connection = await connect(url)
        try:
            await import_basemap(connection, source=shared_geodata / "osm" / LONGGANG)
        finally:
            await connection.close()
        yield url


async def test_chinese_street_names_and_reimport_changes_the_etag(
    longgang_url: str, shared_geodata: Path
) -> None:
    connection = await connect(longgang_url)
    try:
        row = await connection.fetchrow(
            "SELECT name_zh, ST_Transform(ST_LineInterpolatePoint(geom, 0.5), 4326) AS mid "
            "FROM basemap_roads WHERE name_zh IS NOT NULL AND min_zoom <= 15 "
            "ORDER BY ST_Length(geom) DESC LIMIT 1"
        )
    finally:
        await connection.close()
    name, mid = row["name_zh"], row["mid"]
    assert any("\u4e00" <= ch <= "\u9fff" for ch in name)
    z, (x, y) = 15, tile_of(mid.x, mid.y, 15)
    path = f"/tiles/{z}/{x}/{y}.mvt"
    settings = Settings(database_url=longgang_url, background_workers=False)
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=transport,
            base_url="http://test",
            headers=await in_thread(bearer, longgang_url, "admin"),
        ) as http,
    ):
        response = await http.get(path)
        assert response.status_code == 200
        roads = decode(response.content)["roads"]["features"]
        assert name in {f["properties"].get("name_zh") for f in roads}
        etag = response.headers["etag"]
        connection = await connect(longgang_url)
        try:
            await import_basemap(connection, source=shared_geodata / "osm" / LONGGANG)
        finally:
            await connection.close()
        after = await http.get(path, headers={"If-None-Match": etag})
        assert after.status_code == 200  # a new import: the old ETag no longer matches
        assert after.headers["etag"] != etag
        assert after.headers["x-tile-cache"] == "miss"
        assert after.content == response.content  # the same file: the same tile


@pytest.fixture(scope="module")
async def empty_url(server_url: str) -> AsyncIterator[str]:
    async with scratch_database(server_url, "tilescli") as url:
        yield url


def test_cli_import_and_info(empty_url: str, shared_geodata: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from gridsvc.cli import app as cli_app
    from gridsvc.settings import get_settings

    monkeypatch.setenv("GRIDSVC_DATABASE_URL", empty_url)
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        assert "no base map imported" in runner.invoke(cli_app, ["tiles", "info"]).output
        extract = shared_geodata / "osm" / "cn_sanming_ninghua.osm"
        imported = runner.invoke(cli_app, ["tiles", "import", str(extract)])
        assert imported.exit_code == 0, imported.output
        assert "roads" in imported.output and "buildings" in imported.output
        info = runner.invoke(cli_app, ["tiles", "info"])
        assert "cn_sanming_ninghua.osm" in info.output and "bounds" in info.output
        missing = runner.invoke(cli_app, ["tiles", "import", str(extract.with_name("nope.osm"))])
        assert missing.exit_code == 2 and "not found" in missing.output
    finally:
        get_settings.cache_clear()
