"""The demo's matters, delegation lists, calendar and hotline integration.

The real Yuncheng city-management standard becomes the matter catalogue. Following the
pattern of the source articles (city-management matters delegated down to township squads,
specialist matters kept by county departments), each township's delegation list (Liechtenstein's
and Ninghua's) holds the matters owned by urban management (城市管理), plus, for the larger townships, the
market-supervision matters; the rest go to their departments (清单之外无执法). Urgent matters
(limits in hours) are auto-dispatched; the others wait for an operator to confirm.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from gridsvc.calendar.service import import_file as import_calendar
from gridsvc.delegations.service import create_list
from gridsvc.matters.service import import_files as import_matters
from gridsvc.settings import PROJECT_ROOT, Settings
from gridsvc.webhooks.service import save_integration

DEMO_INTEGRATION = "hotline-demo"
# Liechtenstein and Ninghua (gridsvc.demo.ninghua): one centre, two counties.
DEMO_COUNTIES = ("LI", "350424")
LARGER_TOWNSHIPS = {"LI-VADUZ", "LI-SCHAAN", "LI-TRIESEN", "LI-BALZERS", "LI-ESCHEN"}


async def build_demo_events(
    connection: asyncpg.Connection,
    settings: Settings,
    *,
    callback_url: str | None = None,
    echo: Callable[[str], None] = print,
) -> dict[str, Any]:
    categories = settings.shared_geodata / "categories"
    for kind, name in (
        ("event", "yuncheng_events_normalized.csv"),
        ("part", "yuncheng_components_normalized.csv"),
    ):
        report = await import_matters(connection, [categories / name], kind=kind)
        echo(
            f"matters ({kind}): {report['matters']} ({report['conditions']} conditions), "
            f"{len(report['unparsed'])} time limits left unparsed"
        )
    await connection.execute(
        "UPDATE matters m SET auto_dispatch = true WHERE EXISTS (SELECT 1 FROM matter_conditions c"
        " WHERE c.matter_code = m.code AND c.position = 1 AND c.limit_unit = 'clock_hours')"
    )
    calendar_file = PROJECT_ROOT / "geodata" / "calendar_cn_2026.csv"
    if calendar_file.exists():
        await import_calendar(connection, calendar_file)
    towns = [
        r["code"]
        for r in await connection.fetch(
            "SELECT code FROM current_grids WHERE layer = 'enforcement' AND jurisdiction_id IN "
            "(SELECT id FROM jurisdictions WHERE code = ANY($1)) ORDER BY code",
            list(DEMO_COUNTIES),
        )
    ]
    city = [
        r["code"]
        for r in await connection.fetch(
            "SELECT code FROM matters WHERE owner_department = 'urban_management' ORDER BY code"
        )
    ]
    market = [
        r["code"]
        for r in await connection.fetch(
            "SELECT code FROM matters WHERE owner_department = 'market' ORDER BY code"
        )
    ]
    # Per township: a re-run adds the lists of a county added since (Ninghua) and keeps the rest.
    listed = {
        r["enforcement_code"]
        for r in await connection.fetch(
            "SELECT DISTINCT enforcement_code FROM delegation_lists WHERE enforcement_code = ANY($1)", towns
        )
    }
    missing = [town for town in towns if town not in listed]
    if missing:
        start = datetime.now(UTC) - timedelta(days=30)
        for town in missing:
            codes = city + (market if town in LARGER_TOWNSHIPS else [])
            await create_list(
                connection,
                enforcement_code=town,
                effective_from=start,
                matter_codes=codes,
                name=f"{town} 赋权事项清单（演示）",
                source="gridsvc demo",
            )
        echo(
            f"delegation lists: {len(missing)} townships, {len(city)} urban-management matters "
            f"each (+{len(market)} market matters for the larger ones)"
        )
    integration = await save_integration(connection, name=DEMO_INTEGRATION, callback_url=callback_url)
    echo(f"12345 integration {DEMO_INTEGRATION!r}: callbacks to {callback_url or '(none yet)'}")
    return {"matters": report, "integration": integration["name"]}
