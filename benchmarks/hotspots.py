"""Hotspots benchmark: ``GET /reports/hotspots``'s service (SQL grouping, H3 in Python) on a
seeded events table.

Run: ``python benchmarks/hotspots.py`` (``--events 1000000`` default; ``--repeat``). Uses
GRIDSVC_DATABASE_URL's server or the private cluster, in a scratch database of its own
(dropped at the end) with every migration applied. Seeded: events received evenly over one
year, each at one of ``--spots`` points (addresses repeat: a county's events come from a few
thousand places) or, for 30 %, anywhere in a 20 × 30 km box; 20 townships, two matter
classes. Measured: median wall time of the service for periods of 1, 4 and 12 weeks at
resolution 8 and 9, unscoped (the desk) and for one township (a township leader). The
events table's own triggers (live-page NOTIFY, tallies) are off while seeding.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from datetime import date, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402

from gridsvc.database.embedded import resolve_database_url  # noqa: E402
from gridsvc.database.migrate import upgrade  # noqa: E402
from gridsvc.database.pool import connect  # noqa: E402
from gridsvc.hotspots import service  # noqa: E402
from gridsvc.settings import get_settings  # noqa: E402

SEED = """
INSERT INTO matters (code, kind, major_code, major_name, minor_code, name)
SELECT c, 'event', split_part(c, '-', 2), '类' || c, split_part(c, '-', 3), c
FROM unnest(ARRAY['BM-01-001', 'BM-02-001']) AS c
ON CONFLICT DO NOTHING;
INSERT INTO events (source, title, matter_code, geom, received_at, grids)
SELECT 'operator', 'bench',
       CASE WHEN i % 3 = 0 THEN 'BM-02-001' ELSE 'BM-01-001' END,
       CASE WHEN i % 10 < 7
            THEN ST_SetSRID(ST_MakePoint(9.45 + ((i * 7919) % $2) * 0.2 / $2,
                                         47.05 + ((i * 104729) % $2) * 0.2 / $2), 4326)
            ELSE ST_SetSRID(ST_MakePoint(9.45 + random() * 0.2, 47.05 + random() * 0.2), 4326) END,
       timestamptz '2025-01-06 00:00+00' + i * (interval '365 days' / $1),
       jsonb_build_object('enforcement', jsonb_build_object('code', 'T' || (i % 20)))
FROM generate_series(1::bigint, $1::bigint) AS i
"""


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--spots", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    server = resolve_database_url(get_settings())
    name = f"gridsvc_bench_hotspots_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(server)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = f"{server.rpartition('/')[0]}/{name}"
    try:
        connection = await connect(url)
        try:
            await connection.execute("CREATE EXTENSION IF NOT EXISTS postgis")
            await upgrade(connection)
            started = time.perf_counter()
            for statement in SEED.split(";\n")[:1]:
                await connection.execute(statement)
            # the live-page NOTIFY and tally triggers are not what is measured: off while seeding
            await connection.execute("ALTER TABLE events DISABLE TRIGGER USER")
            await connection.execute(SEED.split(";\n")[1], args.events, args.spots)
            await connection.execute("ALTER TABLE events ENABLE TRIGGER USER")
            await connection.execute("ANALYZE events")
            print(f"seeded {args.events:,} events in {time.perf_counter() - started:.0f} s")
            print("| period | res | scope | events counted | SQL rows | cells | SQL ms | total ms |")
            print("|---|---|---|---|---|---|---|---|")
            for weeks in (1, 4, 12):
                start = date(2025, 9, 1)
                end = start + timedelta(weeks=weeks) - timedelta(days=1)
                for res in (8, 9):
                    for label, visible in (
                        ("desk", service.Visibility()),
                        ("township", service.Visibility(townships=("T3",))),
                    ):
                        times = []
                        for _ in range(args.repeat):
                            t0 = time.perf_counter()
                            answer = await service.hotspots(
                                connection, visible=visible, start=start, end=end, res=res, limit=500
                            )
                            times.append((time.perf_counter() - t0) * 1000)
                        # of which the SQL (grouping by week, class and point) and its transfer
                        sql_times = []
                        mondays = [start - timedelta(weeks=4 - i) for i in range(4 + weeks)]
                        for _ in range(args.repeat):
                            t0 = time.perf_counter()
                            grouped = await service._points(
                                connection, visible, mondays, ZoneInfo(answer.timezone), None, None
                            )
                            sql_times.append((time.perf_counter() - t0) * 1000)
                        print(
                            f"| {weeks} wk (+4 before) | {res} | {label} | {answer.total:,} | "
                            f"{len(grouped.n):,} | "
                            f"{len(answer.cells)}{'+' if answer.truncated else ''} | "
                            f"{statistics.median(sql_times):.0f} | {statistics.median(times):.0f} |"
                        )
        finally:
            await connection.close()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
