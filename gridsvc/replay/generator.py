"""Realistic 12345 work orders over a jurisdiction's grids, for demos and benchmarks.

Points are drawn inside the community grids (weighted by area, so villages get complaints
where people live); matters come from the catalogue in the database; a share of orders
arrives in GCJ-02 or BD-09 (as AMap/Baidu-based hotline clients send them), a few with an
address only, and some repeat a nearby complaint (并单 candidates).
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import numpy as np
import shapely

from gridsvc.geo.crs import wgs84_to_bd09, wgs84_to_gcj02

_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
_GIVEN = ["伟", "芳", "娜", "敏", "静", "强", "磊", "洋", "艳", "勇", "军", "杰", "娟", "涛", "明"]
_OPENINGS = ["市民来电反映：", "群众反映：", "来电人称：", "市民通过12345平台反映："]
_CLOSINGS = ["请相关部门尽快处理。", "希望尽快处置并回复。", "已多次反映，请求核实处理。", ""]

_GRIDS = """
SELECT g.code, g.name, g.geom FROM grids g
JOIN layer_versions v ON v.id = g.layer_version_id AND v.valid_to IS NULL
JOIN layers l ON l.id = v.layer_id JOIN jurisdictions j ON j.id = l.jurisdiction_id
WHERE l.name = 'community' AND j.code = $1
"""
_MATTERS = """
SELECT m.code, m.name, m.major_name, c.filing_condition
FROM matters m LEFT JOIN matter_conditions c ON c.matter_code = m.code AND c.position = 1
WHERE m.kind = 'event' ORDER BY m.code
"""


async def generate_work_orders(
    connection: asyncpg.Connection, *, jurisdiction: str, count: int, seed: int = 12345, prefix: str = "WO"
) -> list[dict[str, Any]]:
    """``count`` work orders as the hotline would push them (JSON-ready dicts)."""
    grids = [dict(r) for r in await connection.fetch(_GRIDS, jurisdiction)]
    matters = [dict(r) for r in await connection.fetch(_MATTERS)]
    if not grids:
        raise ValueError(f"jurisdiction {jurisdiction!r} has no community grids: build the demo")
    if not matters:
        raise ValueError("the matter catalogue is empty: gridsvc matters import ...")
    rng = random.Random(seed)
    areas = np.array([shapely.area(g["geom"]) for g in grids])
    weights = (areas / areas.sum()).tolist()
    start = datetime.now(UTC).replace(microsecond=0)
    orders: list[dict[str, Any]] = []
    for number in range(count):
        grid = rng.choices(grids, weights=weights)[0]
        matter = rng.choice(matters)
        lng, lat = _point_in(grid["geom"], rng)
        if orders and rng.random() < 0.1:  # a second caller about the same spot
            previous = rng.choice(orders[-50:])
            if previous.get("location") and previous.get("matter_code"):
                matter = next(m for m in matters if m["code"] == previous["matter_code"])
                lng = previous["_wgs84"][0] + rng.uniform(-0.0004, 0.0004)
                lat = previous["_wgs84"][1] + rng.uniform(-0.0003, 0.0003)
        order: dict[str, Any] = {
            "work_order_no": f"{prefix}{start:%Y%m%d}{number:06d}",
            "title": f"{matter['name']}（{grid['name']}）",
            "content": _content(matter, grid, rng),
            "matter_code": matter["code"],
            "matter_name": matter["name"],
            "reporter": _caller(
                rng.choice(_SURNAMES) + rng.choice(_GIVEN) + rng.choice(_GIVEN),
                f"1{rng.randint(3, 9)}{rng.randint(0, 999999999):09d}",
            ),
            "reported_at": (start - timedelta(minutes=rng.randint(1, 30))).isoformat(),
            "_wgs84": [lng, lat],
        }
        roll = rng.random()
        if roll < 0.05:
            order["address"] = f"{grid['name']}附近（来电人未能提供定位）"
        else:
            crs = "wgs84" if roll < 0.6 else ("gcj02" if roll < 0.85 else "bd09")
            x, y = (lng, lat)
            if crs == "gcj02":
                gx, gy = wgs84_to_gcj02(lng, lat)
                x, y = float(gx), float(gy)
            elif crs == "bd09":
                bx, by = wgs84_to_bd09(lng, lat)
                x, y = float(bx), float(by)
            order["location"] = {"lat": round(y, 7), "lng": round(x, 7), "crs": crs}
            order["address"] = f"{grid['name']}"
        orders.append(order)
    for order in orders:
        order.pop("_wgs84")
    return orders


def _caller(name: str, phone: str) -> dict[str, Any]:
    """A caller; about 4 in 10 agree to be called back and 1 in 10 ask for 保密 (D12). The
    flags come from the number's digits, not from new random draws, so that a seed still
    makes the same sequence of orders as before."""
    return {
        "name": name,
        "phone": phone,
        "consent_to_contact": int(phone[-1]) < 4,
        "confidential": phone[-2] == "0",
    }


def _point_in(geometry: shapely.Geometry, rng: random.Random) -> tuple[float, float]:
    minx, miny, maxx, maxy = geometry.bounds
    shapely.prepare(geometry)
    while True:
        x, y = rng.uniform(minx, maxx), rng.uniform(miny, maxy)
        if shapely.contains_xy(geometry, x, y):
            return x, y


def _content(matter: dict[str, Any], grid: dict[str, Any], rng: random.Random) -> str:
    condition = matter.get("filing_condition") or matter["name"]
    return (
        f"{rng.choice(_OPENINGS)}{grid['name']}一带存在{matter['name']}问题，"
        f"{condition}。{rng.choice(_CLOSINGS)}"
    )
