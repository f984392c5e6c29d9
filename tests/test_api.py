"""The HTTP API over the real app and database: answers that match the database, the
Chinese coordinate systems, and 4xx (never 500) answers that name the field at fault."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import asyncpg
import numpy as np
import pyproj
import pytest
import shapely
from shapely.geometry import MultiPolygon, box, shape

from gridsvc.database.pool import connect
from gridsvc.geo.crs import wgs84_to_bd09, wgs84_to_gcj02
from gridsvc.grids.importer import prepare_layer
from gridsvc.grids.service import import_layer
from gridsvc.jurisdictions import service as jurisdictions
from tests.waiting import await_until

GEOD = pyproj.Geod(ellps="WGS84")
DEMO_LAYERS = {"enforcement", "zone", "community", "specialist:forestry", "specialist:market"}
VADUZ = {"lat": 47.1410, "lng": 9.5209}  # the town hall square


def metres(lng1: float, lat1: float, lng2: float, lat2: float) -> float:
    return float(GEOD.inv(lng1, lat1, lng2, lat2)[2])


def assert_client_error(response, status: int, field: str, *reason_words: str) -> dict[str, Any]:
    """A 4xx JSON error body whose ``fields`` name ``field`` with a reason."""
    assert response.status_code == status, (response.status_code, response.text[:500])
    body = response.json()
    assert body["error"] and body["message"]
    fields = {f["field"]: f["reason"] for f in body.get("fields", [])}
    assert field in fields, body
    for word in reason_words:
        assert word.lower() in fields[field].lower(), (word, fields[field])
    # The message names the field (in full, or its last part) too.
    assert field.rsplit(".", 1)[-1] in body["message"], body
    return body


# -- reading ---------------------------------------------------------------------------


def test_health(client) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"]  # the PostGIS version string
    layers = body["overlay"]["layers"]
    assert DEMO_LAYERS <= set(layers)
    # Liechtenstein's 11 municipalities and the 2 townships of the Ninghua seat
    assert layers["enforcement"] == 11 + 2 and layers["zone"] == 2


async def test_layers_lists_the_demo_layers_with_counts(client, db: asyncpg.Connection) -> None:
    response = client.get("/layers")
    assert response.status_code == 200
    mine = {layer["name"]: layer for layer in response.json() if layer["jurisdiction"] == "LI"}
    assert set(mine) == DEMO_LAYERS
    for name, layer in mine.items():
        row = await db.fetchrow(
            """SELECT v.version,
                      (SELECT count(*) FROM grids g WHERE g.layer_version_id = v.id) AS grids,
                      (SELECT count(*) FROM grid_cells c WHERE c.layer_version_id = v.id) AS cells,
                      (SELECT count(*) FROM grid_cells c WHERE c.layer_version_id = v.id
                       AND c.straddles) AS straddling
               FROM layer_versions v JOIN layers l ON l.id = v.layer_id
               JOIN jurisdictions j ON j.id = l.jurisdiction_id
               WHERE j.code = 'LI' AND l.name = $1 AND v.valid_to IS NULL""",
            name,
        )
        assert layer["grid_count"] == row["grids"] > 0, name
        assert layer["cell_count"] == row["cells"] > layer["straddling_cell_count"], name
        assert layer["straddling_cell_count"] == row["straddling"] > 0, name
        assert layer["version"] == row["version"]
        assert layer["h3_resolution"] == 10
        assert layer["jurisdiction_name"] == "Liechtenstein"
    assert mine["enforcement"]["grid_count"] == 11
    assert mine["specialist:forestry"]["kind"] == "specialist"
    assert mine["specialist:forestry"]["department"] == "forestry"
    assert mine["enforcement"]["kind"] == "enforcement" and mine["enforcement"]["department"] is None


@pytest.mark.parametrize("layer", sorted(DEMO_LAYERS))
async def test_layer_grids_geojson_matches_the_database(layer: str, client, db: asyncpg.Connection) -> None:
    response = client.get(f"/layers/{layer}/grids", params={"jurisdiction": "LI"})
    assert response.status_code == 200
    collection = response.json()
    assert collection["type"] == "FeatureCollection"
    rows = {
        r["id"]: r
        for r in await db.fetch(
            """SELECT g.id, g.code, g.name, g.geom, g.area_m2, g.squad_name, g.department,
                  g.station_name, g.head_name, g.enforcement_code, g.version
           FROM current_grids g JOIN jurisdictions j ON j.id = g.jurisdiction_id
           WHERE g.layer = $1 AND j.code = 'LI'""",
            layer,
        )
    }
    features = collection["features"]
    assert sorted(f["id"] for f in features) == sorted(rows)
    for f in features:
        row = rows[f["id"]]
        assert f["type"] == "Feature"
        props = f["properties"]
        assert (
            props["code"],
            props["name"],
            props["layer"],
            props["jurisdiction_code"],
            props["version"],
        ) == (row["code"], row["name"], layer, "LI", row["version"])
        assert props["valid_to"] is None
        assert props["area_m2"] == pytest.approx(row["area_m2"])
        geometry = shape(f["geometry"])
        assert f["geometry"]["type"] == "MultiPolygon"
        assert geometry.equals_exact(row["geom"], 1e-12)
        responsible = props["responsible"]
        if layer in {"enforcement", "zone"}:
            assert responsible == {"role": "squad", "name": row["squad_name"]}
            assert row["squad_name"]
        elif layer == "community":
            assert responsible["role"] == "grid_head" and responsible["name"] == row["head_name"]
            assert props["enforcement_code"] == row["enforcement_code"] is not None
        else:
            assert responsible["role"] == "department"
            assert responsible["department"] == row["department"] is not None
            assert responsible["station"] == row["station_name"]


def test_colon_in_layer_path(client) -> None:
    plain = client.get("/layers/specialist:forestry/grids")
    encoded = client.get("/layers/specialist%3Aforestry/grids")
    assert plain.status_code == encoded.status_code == 200
    codes = sorted(f["properties"]["code"] for f in plain.json()["features"])
    assert codes == sorted(f["properties"]["code"] for f in encoded.json()["features"])
    assert len(codes) >= 5 and all(c.startswith("LI-FOREST-") for c in codes)
    versions = client.get("/layers/specialist:forestry/versions")
    assert versions.status_code == 200 and versions.json()[0]["version"] == 1


async def test_grid_detail(client, db: asyncpg.Connection) -> None:
    row = await db.fetchrow(
        """SELECT g.id, g.code, g.geom, g.enforcement_code, g.enforcement_link, g.head_phone
           FROM current_grids g WHERE g.layer = 'community' ORDER BY g.code LIMIT 1"""
    )
    response = client.get(f"/grids/{row['id']}")
    assert response.status_code == 200
    detail = response.json()
    assert (detail["id"], detail["code"], detail["layer"], detail["jurisdiction"]) == (
        row["id"],
        row["code"],
        "community",
        "LI",
    )
    assert detail["enforcement_link"] == row["enforcement_link"]
    assert detail["responsible"]["enforcement_code"] == row["enforcement_code"]
    assert detail["responsible"]["phone"] == row["head_phone"]
    assert detail["valid_to"] is None
    assert shape(detail["geometry"]).equals_exact(row["geom"], 1e-12)
    assert detail["properties"]["code"] == row["code"]  # the file's attributes


@pytest.mark.parametrize("grid_id", ["999999999", "0", "-1"])
def test_unknown_grid_is_404_with_json_body(client, grid_id: str) -> None:
    response = client.get(f"/grids/{grid_id}")
    assert response.status_code == 404
    body = response.json()
    assert body["error"] == "not_found"
    assert grid_id in body["message"]


def test_grid_id_not_a_number_or_too_big(client) -> None:
    assert_client_error(client.get("/grids/abc"), 422, "path.grid_id", "integer")
    response = client.get("/grids/99999999999999999999")
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["error"]


async def test_jurisdictions(client, db: asyncpg.Connection) -> None:
    response = client.get("/jurisdictions")
    assert response.status_code == 200
    listed = {j["code"]: j for j in response.json()}
    assert await db.fetchval("SELECT count(*) FROM jurisdictions") == len(listed)
    assert listed["LI"]["level"] == "county" and listed["LI"]["layer_count"] == 5
    assert listed["350802"]["parent_code"] == "350800"
    assert listed["350802"]["area_m2"] > 1e9  # Xinluo: about 2,700 km²
    assert "boundary" not in listed["LI"]
    townships = client.get("/jurisdictions", params={"level": "township"}).json()
    li_townships = [j for j in townships if j["parent_code"] == "LI"]
    assert len(li_townships) == 11 and {j["level"] for j in townships} == {"township"}
    assert_client_error(
        client.get("/jurisdictions", params={"level": "village"}), 422, "query.level", "pattern"
    )


def test_one_jurisdiction_with_boundary(client) -> None:
    response = client.get("/jurisdictions/LI")
    assert response.status_code == 200
    li = response.json()
    assert (li["code"], li["level"], li["parent_code"], li["timezone"]) == (
        "LI",
        "county",
        None,
        "Europe/Vaduz",
    )
    assert "id" not in li
    boundary = shape(li["boundary"])
    assert li["boundary"]["type"] == "MultiPolygon"
    assert boundary.contains(shapely.Point(VADUZ["lng"], VADUZ["lat"]))
    area = abs(GEOD.geometry_area_perimeter(boundary)[0])
    assert 150e6 < area < 170e6  # Liechtenstein: 160 km²
    missing = client.get("/jurisdictions/NOPE-XX")
    assert missing.status_code == 404 and "NOPE-XX" in missing.json()["message"]


def test_lookup_one_point_in_vaduz(client) -> None:
    response = client.get("/grids/lookup", params=VADUZ)
    assert response.status_code == 200
    body = response.json()
    assert body["point"]["crs"] == "wgs84"
    assert body["point"]["wgs84"] == VADUZ
    layers = body["layers"]
    assert DEMO_LAYERS <= set(layers)
    assert layers["enforcement"]["grid"]["code"] == "LI-VADUZ"
    assert layers["enforcement"]["grid"]["responsible"]["role"] == "squad"
    assert layers["zone"]["grid"]["code"] == "LI-ZONE-OBERLAND"
    assert layers["community"]["grid"]["responsible"]["enforcement_code"] == "LI-VADUZ"
    assert all(layers[name]["nearest"] is None for name in DEMO_LAYERS if layers[name]["grid"])


# -- Chinese coordinate systems ------------------------------------------------------------

API_CODE = "TEST-API"
API_LAYER = "specialist:apitest"
# Two grids side by side in Fuzhou (WGS84); the point sits 120 m west of their shared edge,
# so reading its GCJ-02/BD-09 coordinates as WGS84 (an error of 500+ m) lands in the other grid.
API_WEST = box(119.280, 26.060, 119.300, 26.080)
API_EAST = box(119.300, 26.060, 119.320, 26.080)
API_POINT = (119.300 - 120 / 100_000, 26.070)


@pytest.fixture(scope="module")
async def china_layer(client, database_url: str, tmp_path_factory) -> None:
    path = Path(tmp_path_factory.mktemp("api")) / "api.geojson"
    path.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "properties": {"code": code, "name": code, "department": "测试"},
                        "geometry": shapely.geometry.mapping(geometry),
                    }
                    for code, geometry in (("API-WEST", API_WEST), ("API-EAST", API_EAST))
                ],
            }
        )
    )
    connection = await connect(database_url)
    try:
        await jurisdictions.upsert(
            connection,
            code=API_CODE,
            name=API_CODE,
            level="county",
            boundary=MultiPolygon([box(119.27, 26.05, 119.33, 26.09)]),
        )
        await import_layer(
            connection, prepare_layer(path, layer=API_LAYER), jurisdiction_code=API_CODE, resolution=10
        )
    finally:
        await connection.close()
    await await_until(
        lambda: API_LAYER in client.get("/health").json()["overlay"]["layers"],
        30,
        message="the app did not reload its overlay",
    )


@pytest.mark.parametrize("crs", ["gcj02", "bd09", "GCJ-02", "baidu"])
def test_lookup_in_chinese_coordinates(client, china_layer, crs: str) -> None:
    lng, lat = API_POINT
    forward = wgs84_to_gcj02 if crs.lower() in {"gcj02", "gcj-02"} else wgs84_to_bd09
    x, y = (float(v[0]) for v in forward(np.array([lng]), np.array([lat])))
    assert metres(lng, lat, x, y) > 300  # the offset is real
    response = client.get("/grids/lookup", params={"lat": y, "lng": x, "crs": crs})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["point"]["lat"] == y and body["point"]["lng"] == x
    assert body["point"]["crs"] in {"gcj02", "bd09"}
    echo = body["point"]["wgs84"]
    assert metres(echo["lng"], echo["lat"], lng, lat) < 0.5
    assert body["layers"][API_LAYER]["grid"]["code"] == "API-WEST"
    # The WGS84 equivalent answers the same; the raw Chinese coordinates as WGS84 do not.
    same = client.get("/grids/lookup", params={"lat": lat, "lng": lng}).json()
    assert same["layers"][API_LAYER]["grid"]["code"] == "API-WEST"
    wrong = client.get("/grids/lookup", params={"lat": y, "lng": x}).json()
    assert wrong["layers"][API_LAYER]["grid"]["code"] == "API-EAST"
    # The demo counties are far (the Ninghua seat ~265 km, Liechtenstein ~8,900 km): no demo
    # grid, but a nearest one, never an error.
    enforcement = body["layers"]["enforcement"]
    assert enforcement["grid"] is None and enforcement["nearest"]["distance_m"] > 1e5


def test_batch_lookup_in_gcj02(client, china_layer) -> None:
    lng, lat = API_POINT
    points = [(lng, lat), (lng + 0.0025, lat), (119.29, 26.065), (119.31, 26.075)]
    x, y = wgs84_to_gcj02(np.array([p[0] for p in points]), np.array([p[1] for p in points]))
    body = {
        "crs": "gcj02",
        "points": [
            {"lat": float(b), "lng": float(a), "id": str(i)}
            for i, (a, b) in enumerate(zip(x, y, strict=True))
        ],
    }
    response = client.post("/grids/lookup", json=body)
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["point"]["id"] for r in results] == ["0", "1", "2", "3"]
    assert [r["layers"][API_LAYER]["grid"]["code"] for r in results] == [
        "API-WEST",
        "API-EAST",
        "API-WEST",
        "API-EAST",
    ]
    for (a, b), result in zip(points, results, strict=True):
        echo = result["point"]["wgs84"]
        assert metres(echo["lng"], echo["lat"], a, b) < 0.5


def test_cgcs2000_lookup(client) -> None:
    response = client.get("/grids/lookup", params={**VADUZ, "crs": "cgcs2000"})
    assert response.status_code == 200
    body = response.json()
    assert body["point"]["crs"] == "EPSG:4490"
    echo = body["point"]["wgs84"]
    assert metres(echo["lng"], echo["lat"], VADUZ["lng"], VADUZ["lat"]) < 0.1
    assert body["layers"]["enforcement"]["grid"]["code"] == "LI-VADUZ"


# -- bad input: 4xx naming the field, never 500 --------------------------------------------


@pytest.mark.parametrize(
    ("params", "field", "words"),
    [
        ({"lat": "91", "lng": "9.5"}, "query.lat", ["90"]),
        ({"lat": "-90.0001", "lng": "9.5"}, "query.lat", ["-90"]),
        ({"lat": "47", "lng": "180.5"}, "query.lng", ["180"]),
        ({"lat": "47", "lng": "-181"}, "query.lng", ["-180"]),
        ({"lat": "abc", "lng": "9.5"}, "query.lat", ["number"]),
        ({"lat": "47", "lng": "9,5"}, "query.lng", ["number"]),
        ({"lat": "", "lng": "9.5"}, "query.lat", []),
        ({"lat": "nan", "lng": "9.5"}, "query.lat", ["finite"]),
        ({"lat": "NaN", "lng": "9.5"}, "query.lat", ["finite"]),
        ({"lat": "47", "lng": "inf"}, "query.lng", ["finite"]),
        ({"lat": "-Infinity", "lng": "9.5"}, "query.lat", ["finite"]),
        ({"lat": "1e400", "lng": "9.5"}, "query.lat", ["finite"]),
        ({"lng": "9.5"}, "query.lat", ["required"]),
        ({"lat": "47"}, "query.lng", ["required"]),
        ({"lat": "47.1", "lng": "9.5", "crs": "mars-2"}, "query.crs", ["unknown", "mars-2"]),
        ({"lat": "47.1", "lng": "9.5", "crs": "EPSG:999999"}, "query.crs", ["unknown"]),
        ({"lat": "47.1", "lng": "9.5", "crs": "EPSG:3857"}, "query.crs", ["projected"]),
        ({"lat": "47.1", "lng": "9.5", "crs": "EPSG:32632"}, "query.crs", ["projected"]),
    ],
)
def test_lookup_bad_query(client, params: dict[str, str], field: str, words: list[str]) -> None:
    assert_client_error(client.get("/grids/lookup", params=params), 422, field, *words)


def _point(i: int) -> dict[str, Any]:
    return {"lat": 47.05 + (i % 1000) * 2e-4, "lng": 9.48 + (i // 1000) * 1e-2}


def test_batch_over_the_limit_is_413(client) -> None:
    body = {"points": [_point(i) for i in range(10_001)]}
    body_ok = assert_client_error(client.post("/grids/lookup", json=body), 413, "body.points", "10000")
    assert "10001" in body_ok["message"]
    exactly = client.post(
        "/grids/lookup", json={"points": [_point(i) for i in range(10_000)], "nearest": False}
    )
    assert exactly.status_code == 200 and len(exactly.json()["results"]) == 10_000


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"points": []}, "body.points", ["at least 1"]),
        ({}, "body.points", ["required"]),
        ({"points": "47.1,9.5"}, "body.points", ["list"]),
        ({"points": [{"lat": 47.1}]}, "body.points.0.lng", ["required"]),
        ({"points": [{"lat": "north", "lng": 9.5}]}, "body.points.0.lat", ["number"]),
        ({"points": [{"lat": 47.1, "lng": 9.5}, {"lat": 95, "lng": 9.5}]}, "body.points.1.lat", ["90"]),
        ({"points": [{"lat": 47.1, "lng": [9.5]}]}, "body.points.0.lng", ["number"]),
        ({"points": [{"lat": 47.1, "lng": 9.5, "id": "x" * 201}]}, "body.points.0.id", ["200"]),
        ({"points": [{"lat": 47.1, "lng": 9.5}], "nearest": "perhaps"}, "body.nearest", ["bool"]),
        ({"points": [{"lat": 47.1, "lng": 9.5}], "crs": 4326}, "body.crs", ["string"]),
        ({"points": [{"lat": 47.1, "lng": 9.5}], "crs": "gcj-03"}, "body.crs", ["unknown"]),
        ({"points": [{"lat": 47.1, "lng": 9.5}], "crs": "EPSG:2056"}, "body.crs", ["projected"]),
        ({"points": [None]}, "body.points.0", []),
        ([{"lat": 47.1, "lng": 9.5}], "body", []),
    ],
)
def test_batch_bad_body(client, body: Any, field: str, words: list[str]) -> None:
    assert_client_error(client.post("/grids/lookup", json=body), 422, field, *words)


@pytest.mark.parametrize(
    ("raw", "field", "words"),
    [
        (b'{"points": [{"lat": NaN, "lng": 9.5}]}', "body.points.0.lat", ["finite"]),
        (b'{"points": [{"lat": 47.1, "lng": Infinity}]}', "body.points.0.lng", ["finite"]),
        (b'{"points": [{"lat": 47.1, "lng": -Infinity}]}', "body.points.0.lng", ["finite"]),
        (b'{"points": [{"lat": 1e400, "lng": 9.5}]}', "body.points.0.lat", ["finite"]),
    ],
)
def test_batch_non_finite_numbers(client, raw: bytes, field: str, words: list[str]) -> None:
    response = client.post("/grids/lookup", content=raw, headers={"content-type": "application/json"})
    assert_client_error(response, 422, field, *words)


@pytest.mark.parametrize("raw", [b'{"points": [{"lat": 47.1, "lng": 9.5}', b"points=1", b"", b"\xff\xfe{}"])
def test_batch_malformed_json(client, raw: bytes) -> None:
    response = client.post("/grids/lookup", content=raw, headers={"content-type": "application/json"})
    assert 400 <= response.status_code < 500, response.text
    body = response.json()
    assert body["error"] and body["message"]
    assert any(f["field"].startswith("body") for f in body["fields"]), body


def test_layer_grids_bad_input(client) -> None:
    assert_client_error(
        client.get("/layers/enforcement/grids", params={"at": "yesterday"}), 422, "query.at", "datetime"
    )
    assert_client_error(
        client.get("/layers/enforcement/grids", params={"at": "2030-01-01T00:00:00"}),
        422,
        "query.at",
        "time zone",
    )
    missing = client.get("/layers/specialist:nothing/grids")
    assert missing.status_code == 404 and "specialist:nothing" in missing.json()["message"]
    assert client.get("/layers/nothing/versions").status_code == 404
    # A time before anything was imported: a valid, empty answer.
    early = client.get("/layers/enforcement/grids", params={"at": "2001-01-01T00:00:00+08:00"})
    assert early.status_code == 200 and early.json()["features"] == []
    extreme = client.get("/layers/enforcement/grids", params={"at": "0001-01-01T00:00:00+14:00"})
    assert 200 <= extreme.status_code < 500, extreme.text


@pytest.mark.parametrize(
    "path",
    [
        "/jurisdictions/%00",
        "/layers/%00/grids",
        "/layers/%00/versions",
        "/layers/enforcement/grids?jurisdiction=%00",
        "/grids/lookup?lat=47.1&lng=9.5&crs=%00",
        "/grids/lookup?lat=47.1&lng=9.5&crs=",
        "/jurisdictions/" + "x" * 5000,
    ],
    ids=["nul-code", "nul-layer", "nul-versions", "nul-jurisdiction", "nul-crs", "empty-crs", "long-code"],
)
def test_odd_strings_never_500(client, path: str) -> None:
    response = client.get(path)
    assert response.status_code < 500, response.text[:300]
    assert response.headers["content-type"].startswith("application/json")
