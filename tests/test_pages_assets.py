"""The pages' assets (issue 9 item 5): /ops carries neither Leaflet nor the grids; static files
by content-hashed URL are cacheable for a year, others revalidate by ETag; the grid layers
come from GET /map/layers with an ETag (304 on a repeat load)."""

from __future__ import annotations

import hashlib
import json
import re

import asyncpg
from fastapi.testclient import TestClient

from gridsvc.settings import PROJECT_ROOT

STATIC = PROJECT_ROOT / "gridsvc" / "static"


def _config(page: str) -> dict:
    found = re.search(r'<script id="gridsvc-config" type="application/json">(.*?)</script>', page, re.S)
    assert found, "no config in the page"
    return json.loads(found.group(1))


def test_ops_links_hashed_static_files_and_inlines_no_map(client: TestClient) -> None:
    answer = client.get("/ops", params={"j": "LI"})
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "no-store"
    page = answer.text
    assert "FeatureCollection" not in page and "L.map(" not in page
    assert len(answer.content) < 20_000, len(answer.content)  # was ~650 KB with folium
    urls = re.findall(r'(?:src|href)="(/static/[^"]+)"', page)
    assert any("vendor/leaflet/leaflet.js" in u for u in urls) and any("ops/map.js" in u for u in urls)
    for url in urls:
        path, _, version = url.removeprefix("/static/").partition("?v=")
        assert version == hashlib.sha256((STATIC / path).read_bytes()).hexdigest()[:16], url
        got = client.get(url)
        assert got.status_code == 200, url
        assert got.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert got.content == (STATIC / path).read_bytes()


def test_static_without_hash_revalidates_by_etag(client: TestClient) -> None:
    body = (STATIC / "ops" / "ops.js").read_bytes()
    plain = client.get("/static/ops/ops.js", headers={"Accept-Encoding": "identity"})
    assert plain.status_code == 200 and plain.content == body
    assert plain.headers["cache-control"] == "no-cache"
    assert "content-encoding" not in plain.headers
    again = client.get("/static/ops/ops.js", headers={"If-None-Match": plain.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    # a stale hash (an old page) gets today's file, but not for a year
    stale = client.get("/static/ops/ops.js", params={"v": "0123456789abcdef"})
    assert stale.status_code == 200 and stale.headers["cache-control"] == "no-cache"
    # text is sent gzipped to a browser that takes it (under another ETag: other bytes)
    packed = client.get("/static/ops/ops.js", headers={"Accept-Encoding": "gzip"})
    assert packed.headers["content-encoding"] == "gzip" and packed.content == body
    assert packed.headers["etag"] != plain.headers["etag"]
    assert int(packed.headers["content-length"]) < len(body)
    assert packed.headers["vary"] == "Accept-Encoding"
    for path in ("nope.js", "../settings.py", "ops/../../settings.py", "ops"):
        missing = client.get(f"/static/{path}")
        assert missing.status_code == 404, path


async def test_map_layers_are_data_with_an_etag(client: TestClient, db: asyncpg.Connection) -> None:
    answer = client.get("/map/layers", params={"jurisdiction": "LI"}, headers={"Accept-Encoding": "gzip"})
    assert answer.status_code == 200
    assert answer.headers["content-encoding"] == "gzip"
    assert answer.headers["cache-control"] == "private, no-cache"
    data = answer.json()
    layers = {layer["name"]: layer for layer in data["layers"]}
    assert data["layers"][0]["name"] == "boundary" and not layers["boundary"]["interactive"]
    counts = {
        r["layer"]: r["n"]
        for r in await db.fetch(
            "SELECT g.layer, count(*) AS n FROM current_grids g JOIN jurisdictions j "
            "ON j.id = g.jurisdiction_id WHERE j.code = 'LI' GROUP BY g.layer"
        )
    }
    assert {
        name: len(layer["features"]["features"]) for name, layer in layers.items() if name != "boundary"
    } == (counts)
    assert layers["enforcement"]["shown"] and layers["community"]["shown"]
    assert not any(layer["shown"] for name, layer in layers.items() if name.startswith("specialist:"))
    assert layers["community"]["style"]["fillColor"] == layers["community"]["style"]["color"]
    # the page names the same layers in the same order before it fetches them
    config = _config(client.get("/ops", params={"j": "LI"}).text)
    assert config["map"]["layers"] == [layer["name"] for layer in data["layers"]]
    assert config["map"]["layers_url"] == "/map/layers?jurisdiction=LI"
    again = client.get(
        "/map/layers", params={"jurisdiction": "LI"}, headers={"If-None-Match": answer.headers["etag"]}
    )
    assert again.status_code == 304
    plain = client.get("/map/layers", params={"jurisdiction": "LI"}, headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers and plain.json() == data
    unknown = client.get("/map/layers", params={"jurisdiction": "NOPE"})
    assert unknown.status_code == 422 and "query.jurisdiction" in unknown.text
    assert client.get("/map/layers").status_code == 422


def test_ops_serves_the_vendored_marker_clusters_with_their_licence(client: TestClient) -> None:
    page = client.get("/ops", params={"j": "LI"}).text
    urls = re.findall(r'(?:src|href)="(/static/[^"]+)"', page)
    for name in ("leaflet.markercluster.js", "MarkerCluster.css"):
        assert any(f"vendor/leaflet.markercluster/{name}?v=" in u for u in urls), name
    vendor = STATIC / "vendor" / "leaflet.markercluster"
    assert "Permission is hereby granted" in (vendor / "MIT-LICENCE.txt").read_text(encoding="utf-8")
    bundle = (vendor / "leaflet.markercluster.js").read_text(encoding="utf-8")
    assert "MarkerClusterGroup" in bundle and "sourceMappingURL" not in bundle
