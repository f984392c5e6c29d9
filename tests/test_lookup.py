"""Point lookup agrees with plain point-in-polygon, in process, over the API and in SQL.

Truth is ``shapely.contains_xy`` on the current grid polygons read from the database (and
PostGIS ``ST_Contains`` / geography ``ST_Distance`` for the SQL and distance checks), never
the lookup code itself. Points: random ones over Liechtenstein (some outside the country)
and points pushed 0.3-1 m to either side of every layer's grid borders, measured on the
WGS84 ellipsoid.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg
import h3
import numpy as np
import pyproj
import pytest
import shapely
from shapely.geometry import MultiPolygon, box

from gridsvc.database.pool import connect
from gridsvc.grids.importer import prepare_layer
from gridsvc.grids.lookup import NONE
from gridsvc.grids.service import import_layer, load_overlay
from gridsvc.jurisdictions import service as jurisdictions

GEOD = pyproj.Geod(ellps="WGS84")
DEMO_LAYERS = ("enforcement", "zone", "community", "specialist:forestry", "specialist:market")
LI_BBOX = (9.4717, 47.0484, 9.6356, 47.2706)
MARGIN_DEG = 0.03  # a couple of km beyond the country on every side
RANDOM_POINTS = 10_000
BORDER_POINTS_PER_LAYER = 2_000
BATCH = 10_000


@dataclass
class LayerTruth:
    ids: list[int]
    codes: list[str]
    geometries: list[Any]


async def current_grids(connection: asyncpg.Connection | asyncpg.Pool, layer: str) -> LayerTruth:
    # Liechtenstein's grids: the points, the LV95 checks and the bbox are Liechtenstein's (the
    # demo's other county, Ninghua, is 8,000 km away)
    rows = await connection.fetch(
        "SELECT id, code, geom FROM current_grids WHERE layer = $1 AND jurisdiction_id = "
        "(SELECT id FROM jurisdictions WHERE code = 'LI') ORDER BY id",
        layer,
    )
    return LayerTruth([r["id"] for r in rows], [r["code"] for r in rows], [r["geom"] for r in rows])


def containing(truth: LayerTruth, lng: np.ndarray, lat: np.ndarray) -> list[set[str]]:
    """Codes of the grids that contain each point (shapely, exact)."""
    inside = np.zeros((len(truth.codes), len(lng)), dtype=bool)
    for k, geometry in enumerate(truth.geometries):
        shapely.prepare(geometry)
        inside[k] = shapely.contains_xy(geometry, lng, lat)
    return [{truth.codes[k] for k in np.flatnonzero(inside[:, i])} for i in range(len(lng))]


def border_points(
    geometries: list[Any], count: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Points on random grid edges pushed 0.3-1 m along the edge's normal, either way."""
    segments = []
    for geometry in geometries:
        for ring in shapely.get_parts(shapely.boundary(geometry)):
            coords = shapely.get_coordinates(ring)
            segments.append(np.hstack([coords[:-1], coords[1:]]))
    seg = np.vstack(segments)
    az, _, length = GEOD.inv(seg[:, 0], seg[:, 1], seg[:, 2], seg[:, 3])
    keep = length > 0.01
    seg, az, length = seg[keep], az[keep], length[keep]
    chosen = rng.choice(len(seg), size=count, p=length / length.sum())
    t = rng.uniform(0.05, 0.95, count)
    base_lng = seg[chosen, 0] + t * (seg[chosen, 2] - seg[chosen, 0])
    base_lat = seg[chosen, 1] + t * (seg[chosen, 3] - seg[chosen, 1])
    side = rng.choice([-90.0, 90.0], count)
    distance = rng.uniform(0.3, 1.0, count)
    lng, lat, _ = GEOD.fwd(base_lng, base_lat, az[chosen] + side, distance)
    return np.asarray(lng), np.asarray(lat)


@pytest.fixture(scope="module")
async def truth(demo, database_url: str) -> dict[str, LayerTruth]:
    connection = await connect(database_url)
    try:
        return {layer: await current_grids(connection, layer) for layer in DEMO_LAYERS}
    finally:
        await connection.close()


@pytest.fixture(scope="module")
def points(truth: dict[str, LayerTruth]) -> dict[str, Any]:
    rng = np.random.default_rng(2024)
    x0, y0, x1, y1 = LI_BBOX
    lng = [rng.uniform(x0 - MARGIN_DEG, x1 + MARGIN_DEG, RANDOM_POINTS)]
    lat = [rng.uniform(y0 - MARGIN_DEG, y1 + MARGIN_DEG, RANDOM_POINTS)]
    for layer in DEMO_LAYERS:
        b_lng, b_lat = border_points(truth[layer].geometries, BORDER_POINTS_PER_LAYER, rng)
        lng.append(b_lng)
        lat.append(b_lat)
    all_lng, all_lat = np.concatenate(lng), np.concatenate(lat)
    expected = {layer: containing(truth[layer], all_lng, all_lat) for layer in DEMO_LAYERS}
    return {"lng": all_lng, "lat": all_lat, "expected": expected}


def test_the_points_are_a_real_test(points: dict[str, Any]) -> None:
    """Enough points, both inside and outside, and the border points really are close."""
    n = len(points["lng"])
    assert n >= RANDOM_POINTS + len(DEMO_LAYERS) * BORDER_POINTS_PER_LAYER
    for layer in DEMO_LAYERS:
        found = np.array([len(s) for s in points["expected"][layer]])
        assert found.max() <= 1, f"{layer}: overlapping grids in the demo"
        assert 0.05 * n < (found == 0).sum() < 0.95 * n, layer
    # Border points of the enforcement layer: they land inside many different grids...
    start = RANDOM_POINTS
    border = points["expected"]["enforcement"][start : start + BORDER_POINTS_PER_LAYER]
    assert len({c for s in border for c in s}) >= 10


def test_border_points_are_within_a_metre_of_a_border(
    points: dict[str, Any], truth: dict[str, LayerTruth]
) -> None:
    """Measured in LV95 (EPSG:2056, metres), independently of the geodesic offsets."""
    to_lv95 = pyproj.Transformer.from_crs(4326, 2056, always_xy=True)
    for k, layer in enumerate(DEMO_LAYERS):
        start = RANDOM_POINTS + k * BORDER_POINTS_PER_LAYER
        sl = slice(start, start + BORDER_POINTS_PER_LAYER)
        x, y = to_lv95.transform(points["lng"][sl], points["lat"][sl])
        # Edges are straight in lon/lat: densify them (5e-4 deg, ~50 m) before projecting.
        borders = [
            shapely.boundary(
                shapely.transform(
                    shapely.segmentize(g, 5e-4),
                    lambda xy: np.column_stack(to_lv95.transform(xy[:, 0], xy[:, 1])),
                )
            )
            for g in truth[layer].geometries
        ]
        projected = shapely.points(x, y)
        distance = np.min([shapely.distance(b, projected) for b in borders], axis=0)
        # At most 1 m; a few points near corners come closer to the neighbouring edge.
        assert distance.min() > 0.01 and distance.max() < 1.02, (layer, distance.min(), distance.max())
        assert np.mean(distance > 0.29) > 0.95, layer
        inside = np.array([bool(s) for s in points["expected"][layer][sl]])
        assert 0.2 < inside.mean() < 0.95, layer  # both sides of the borders


async def test_engine_agrees_with_point_in_polygon(
    points: dict[str, Any], truth: dict[str, LayerTruth], db: asyncpg.Connection
) -> None:
    overlay = await load_overlay(db)
    located = overlay.locate(points["lng"], points["lat"])
    for layer in DEMO_LAYERS:
        index = overlay.layers[layer]
        got = [None if p == NONE else index.grids[p].code for p in located[layer].tolist()]
        expected = points["expected"][layer]
        wrong = [
            (i, got[i], expected[i])
            for i in range(len(got))
            if (got[i] is None) != (not expected[i]) or (got[i] and got[i] not in expected[i])
        ]
        assert not wrong, f"{layer}: {len(wrong)} disagreements, e.g. {wrong[:5]}"
        # Ids are the database's.
        assert {g.id for g in index.grids} >= set(truth[layer].ids)


async def test_api_agrees_with_point_in_polygon(points: dict[str, Any], client) -> None:
    lng, lat = points["lng"], points["lat"]
    results: list[dict[str, Any]] = []
    for start in range(0, len(lng), BATCH):
        body: dict[str, Any] = {
            "points": [
                {"lat": float(y), "lng": float(x), "id": f"p{start + i}"}
                for i, (x, y) in enumerate(
                    zip(lng[start : start + BATCH], lat[start : start + BATCH], strict=True)
                )
            ],
            "nearest": False,
        }
        assert len(body["points"]) <= 10_000
        response = client.post("/grids/lookup", json=body)
        assert response.status_code == 200, response.text[:500]
        results.extend(response.json()["results"])
    assert len(results) == len(lng)
    assert [r["point"]["id"] for r in results] == [f"p{i}" for i in range(len(lng))]
    for layer in DEMO_LAYERS:
        expected = points["expected"][layer]
        wrong = []
        for i, result in enumerate(results):
            answer = result["layers"][layer]
            code = answer["grid"]["code"] if answer["grid"] else None
            if (code is None) != (not expected[i]) or (code and code not in expected[i]):
                wrong.append((i, code, expected[i]))
        assert not wrong, f"{layer}: {len(wrong)} disagreements, e.g. {wrong[:5]}"


async def test_cells_agree_with_st_contains(points: dict[str, Any], demo, db: asyncpg.Connection) -> None:
    """Interior cell -> the point is in that grid; straddling -> its grid is a candidate;
    empty or absent cell -> no grid contains the point. Cells from h3-py, containment from
    PostGIS."""
    rng = np.random.default_rng(5)
    sample = rng.choice(len(points["lng"]), size=3_000, replace=False)
    lng, lat = points["lng"][sample], points["lat"][sample]
    cells = [h3.str_to_int(h3.latlng_to_cell(y, x, 10)) for x, y in zip(lng, lat, strict=True)]
    rows = await db.fetch(
        """WITH p AS (SELECT * FROM unnest($1::float8[], $2::float8[], $3::bigint[])
                      WITH ORDINALITY AS p(lng, lat, cell, i)),
                v AS (SELECT v.id, l.name FROM layer_versions v JOIN layers l ON l.id = v.layer_id
                      JOIN jurisdictions j ON j.id = l.jurisdiction_id
                      WHERE v.valid_to IS NULL AND j.code = 'LI')
           SELECT p.i, v.name, c.cell IS NOT NULL AS covered, c.grid_id, c.straddles,
                  c.candidate_grid_ids,
                  ARRAY(SELECT g.id FROM grids g WHERE g.layer_version_id = v.id
                        AND ST_Contains(g.geom, ST_SetSRID(ST_MakePoint(p.lng, p.lat), 4326))
                        ORDER BY g.id) AS containing
           FROM p CROSS JOIN v
           LEFT JOIN grid_cells c ON c.layer_version_id = v.id AND c.cell = p.cell""",
        lng.tolist(),
        lat.tolist(),
        cells,
    )
    assert len(rows) == len(sample) * len(DEMO_LAYERS)
    kinds = {"interior": 0, "straddling": 0, "empty": 0, "uncovered": 0}
    for row in rows:
        containing_ids = list(row["containing"])
        if not row["covered"]:
            kinds["uncovered"] += 1
            assert containing_ids == [], dict(row)
        elif row["grid_id"] is not None:
            kinds["interior"] += 1
            assert containing_ids == [row["grid_id"]], dict(row)
        elif row["straddles"]:
            kinds["straddling"] += 1
            assert set(containing_ids) <= set(row["candidate_grid_ids"]), dict(row)
        else:
            kinds["empty"] += 1
            assert containing_ids == [], dict(row)
    assert all(n > 20 for n in kinds.values()), kinds


# -- points outside every grid ---------------------------------------------------------------


async def postgis_distances(
    connection: asyncpg.Connection, layer: str, lng: np.ndarray, lat: np.ndarray
) -> list[dict[int, float]]:
    """Per point, geodesic (spheroid) distance to every current grid of the layer."""
    rows = await connection.fetch(
        """SELECT p.i, g.id,
                  ST_Distance(g.geom::geography,
                              ST_SetSRID(ST_MakePoint(p.lng, p.lat), 4326)::geography, true) AS d
           FROM unnest($2::float8[], $3::float8[]) WITH ORDINALITY AS p(lng, lat, i)
           CROSS JOIN current_grids g WHERE g.layer = $1""",
        layer,
        lng.tolist(),
        lat.tolist(),
    )
    out: list[dict[int, float]] = [{} for _ in range(len(lng))]
    for row in rows:
        out[row["i"] - 1][row["id"]] = row["d"]
    return out


async def test_outside_points_get_the_nearest_grid(
    points: dict[str, Any], client, db: asyncpg.Connection
) -> None:
    rng = np.random.default_rng(9)
    lng_all, lat_all = points["lng"], points["lat"]
    outside_any = np.array([not s for s in points["expected"]["enforcement"]])
    pick = rng.choice(np.flatnonzero(outside_any), size=150, replace=False)
    inside = rng.choice(np.flatnonzero(~outside_any), size=50, replace=False)
    # And far away: Zurich, Innsbruck, Milan.
    far_lng, far_lat = np.array([8.5417, 11.4041, 9.19]), np.array([47.3769, 47.2692, 45.4642])
    lng = np.concatenate([lng_all[pick], lng_all[inside], far_lng])
    lat = np.concatenate([lat_all[pick], lat_all[inside], far_lat])
    order = rng.permutation(len(lng))
    lng, lat = lng[order], lat[order]
    ids = [f"q-{i}-{rng.integers(1_000_000)}" for i in range(len(lng))]
    body = {
        "points": [
            {"lat": float(y), "lng": float(x), "id": ids[i]}
            for i, (x, y) in enumerate(zip(lng, lat, strict=True))
        ]
    }
    response = client.post("/grids/lookup", json=body)
    assert response.status_code == 200, response.text[:500]
    results = response.json()["results"]
    assert [r["point"]["id"] for r in results] == ids  # nothing dropped, order kept
    assert [(r["point"]["lat"], r["point"]["lng"]) for r in results] == list(
        zip(lat.tolist(), lng.tolist(), strict=True)
    )
    checked = 0
    for layer in DEMO_LAYERS:
        distances = await postgis_distances(db, layer, lng, lat)
        for i, result in enumerate(results):
            answer = result["layers"][layer]
            if answer["grid"] is not None:
                assert answer["nearest"] is None
                assert distances[i][answer["grid"]["id"]] == 0.0
                continue
            near = answer["nearest"]
            assert near is not None, (layer, i)
            assert near["distance_m"] > 0
            true_min = min(distances[i].values())
            assert true_min > 0
            reported = distances[i][near["grid"]["id"]]
            tolerance = 0.01 * true_min + 0.1  # 1 %, plus the 0.1 m rounding of the answer
            assert abs(near["distance_m"] - true_min) <= tolerance, (layer, i, near, true_min)
            assert abs(reported - true_min) <= tolerance, (layer, i, near["grid"]["code"])
            checked += 1
    assert checked > 150


# -- a layer spanning jurisdictions at different latitudes --------------------------------


async def test_nearest_when_a_layer_spans_latitudes(rollback: asyncpg.Connection, demo, tmp_path) -> None:
    """A Fujian county imports the market layer next to the demo's (Liechtenstein, 47° N).

    Both are one layer name in the overlay; the nearest grid and its distance must still be
    right in Fujian (25° N) for points off a diagonal grid edge. The same grid alone in a
    layer of its own is the control: it shows the points and the reference are sound.
    """
    code = "TEST-LAT"
    x0, y0 = 118.50, 25.50
    diamond = shapely.Polygon([(x0, y0 - 0.02), (x0 + 0.03, y0), (x0, y0 + 0.02), (x0 - 0.03, y0)])
    await jurisdictions.upsert(
        rollback,
        code=code,
        name=code,
        level="county",
        boundary=MultiPolygon([box(*diamond.buffer(0.05).bounds)]),
    )
    path = tmp_path / "market.geojson"
    path.write_text(
        '{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": '
        '{"code": "FJ-MKT", "name": "market"}, "geometry": ' + shapely.to_geojson(diamond) + "}]}"
    )
    for layer in ("specialist:latsolo", "specialist:market"):
        await import_layer(rollback, prepare_layer(path, layer=layer), jurisdiction_code=code, resolution=10)
    overlay = await load_overlay(rollback)
    # Points 200-2000 m off the diamond's north-east edge.
    rng = np.random.default_rng(1)
    edge_az = GEOD.inv(x0 + 0.03, y0, x0, y0 + 0.02)[0]
    t = rng.uniform(0.2, 0.8, 40)
    base_lng, base_lat = x0 + 0.03 * (1 - t), y0 + 0.02 * t
    lng, lat, _ = GEOD.fwd(base_lng, base_lat, np.full(40, edge_az + 90), rng.uniform(200, 2000, 40))
    lng, lat = np.asarray(lng), np.asarray(lat)
    assert not shapely.contains_xy(diamond, lng, lat).any()
    for layer in ("specialist:latsolo", "specialist:market"):
        index = overlay.layers[layer]
        positions, distances = index.nearest_many(lng, lat)
        reference = await postgis_distances(rollback, layer, lng, lat)
        fj_id = await rollback.fetchval(
            "SELECT id FROM current_grids WHERE code = 'FJ-MKT' AND layer = $1", layer
        )
        for i in range(len(lng)):
            assert index.grids[int(positions[i])].code == "FJ-MKT", layer
            true_min = min(reference[i].values())
            assert reference[i][fj_id] == true_min
            assert abs(distances[i] - true_min) <= 0.01 * true_min, (layer, i, distances[i], true_min)
