"""Work-queue benchmark: ``GET /events``'s SQL (search, filters, sort, paging, counts) on a
seeded events table, with migrations 014 and 017's indexes, with 014's alone (as before 017)
and without either.

Run: ``python benchmarks/work_queue.py`` (``--events 5000000`` for the city-scale issue's size;
default 1,000,000; ``--repeat``). Uses GRIDSVC_DATABASE_URL's server or the private cluster, in
a scratch database of its own (dropped at the end) with every migration applied.

The statements are the API's own (:mod:`gridsvc.events.search`, with the real column list),
so what is measured is what the queue sends. Seeded table: Chinese titles and addresses
drawn from word lists (so trigram selectivity is realistic, not unique strings), a hotline
work-order number and a caller's phone on 80 % of events, 20 townships × 20 community grids,
10 % address-only, 4 % open (a county closes most of what it receives; at 5M events that is
200k open), received over two years. For each query: median wall time of ``--repeat`` runs
and the plan's access path (from ``EXPLAIN``), then the same with 014's indexes only (017
undone: its covering and township indexes dropped, 014's ``events_open_id`` and ascending
``events_open_received`` back), then without either.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402

from gridsvc.database.embedded import resolve_database_url  # noqa: E402
from gridsvc.database.migrate import upgrade  # noqa: E402
from gridsvc.database.pool import connect  # noqa: E402
from gridsvc.events import queries, search  # noqa: E402
from gridsvc.settings import get_settings  # noqa: E402

INDEXES_014 = (
    "events_search_trgm",
    "events_phone_suffix",
    "events_open_due",
    "events_open_received",
    "events_open_id",
    "events_unlocated",
    "events_township",
    "events_grid",
    "events_responsible",
)
INDEXES_017 = ("events_open_received_desc", "events_open_township_due", "events_open_facets")
# what 017 dropped, as 014 made them (to measure "before 017")
BEFORE_017 = (
    "CREATE INDEX events_open_received ON events (received_at, id) WHERE state <> 'closed'",
    "CREATE INDEX events_open_id ON events (id) WHERE state <> 'closed'",
)

SEED = """
INSERT INTO integrations (name, secret) VALUES ('bench-hotline', 'x') ON CONFLICT DO NOTHING;
INSERT INTO matters (code, kind, major_code, major_name, minor_code, name)
SELECT 'EV-' || lpad(ma::text, 2, '0') || '-' || lpad(mi::text, 2, '0'), 'event',
       lpad(ma::text, 2, '0'), '大类' || ma, lpad(mi::text, 2, '0'), '事项' || ma || '-' || mi
FROM generate_series(1, 8) ma, generate_series(1, 6) mi
ON CONFLICT DO NOTHING;
"""

# Word lists: titles and addresses are combinations, so a two- or four-character Chinese
# query matches a realistic share of events, not exactly one.
FILL = """
WITH w AS (
  SELECT ARRAY['占道经营','乱堆物料','违章搭建','噪音扰民','油烟污染','共享单车','垃圾满溢',
               '井盖缺失','路灯不亮','违规广告','渣土撒漏','露天烧烤','私搭乱建','绿地破坏',
               '违停占道','工地夜间施工'] AS t,
         ARRAY['龙岗大道','布吉街','横岗路','平湖大街','坂田北路','南湾路','龙城大道','宝荷路',
               '爱联路','吉华路','深惠路','清林路'] AS s
)
INSERT INTO events (source, integration_id, external_id, title, description, matter_code,
                    address, geom, reporter, received_at, state, stage, stage_started_at,
                    due_at, responsible_kind, responsible_code, responsible_name, grids)
SELECT CASE WHEN hot THEN 'hotline' WHEN i % 7 = 0 THEN 'patrol' ELSE 'operator' END,
       CASE WHEN hot THEN (SELECT id FROM integrations WHERE name = 'bench-hotline') END,
       CASE WHEN hot THEN 'SZ' || to_char(received, 'YYYYMMDD') || lpad(i::text, 8, '0') END,
       w.t[1 + (i * 7919) % 16] || '，' || w.t[1 + (i * 104729) % 16],
       '市民来电反映：' || w.s[1 + i % 12] || '附近' || w.t[1 + (i * 31) % 16] || '，请尽快处理。',
       'EV-' || lpad((1 + i % 8)::text, 2, '0') || '-' || lpad((1 + i % 6)::text, 2, '0'),
       w.s[1 + (i * 13) % 12] || (1 + i % 300) || '号',
       CASE WHEN i % 10 = 0 THEN NULL
            ELSE ST_SetSRID(ST_MakePoint(114.2 + (i % 997) / 5000.0, 22.7 + (i % 991) / 5000.0), 4326)
       END,
       CASE WHEN i % 5 = 0 THEN '{}'::jsonb
            ELSE jsonb_build_object('name', '张三', 'phone',
                                    '13' || lpad(((i * 2654435761) % 1000000000)::text, 9, '0'),
                                    'confidential', i % 50 = 1) END,
       received,
       st,
       CASE st WHEN 'closed' THEN NULL WHEN 'routed' THEN 'dispatch' WHEN 'dispatched' THEN 'sign_for'
               ELSE 'handle' END,
       received,
       CASE WHEN st = 'closed' THEN NULL ELSE $3::timestamptz + ((i % 97) - 20) * interval '1 hour' END,
       CASE WHEN i % 10 = 0 THEN 'triage' ELSE 'squad' END,
       CASE WHEN i % 10 = 0 THEN NULL ELSE town END,
       CASE WHEN i % 10 = 0 THEN NULL ELSE '中队' || (i % 20) END,
       CASE WHEN i % 10 = 0 THEN '{}'::jsonb ELSE jsonb_build_object(
         'enforcement', jsonb_build_object('code', town, 'name', '街道' || (i % 20)),
         'community', jsonb_build_object('code', town || '-' || lpad((i / 20 % 20)::text, 2, '0'),
                                         'name', '社区' || (i % 20) || '-' || (i / 20 % 20))) END
FROM w, generate_series($1::bigint, $2::bigint) AS i,
     LATERAL (SELECT i % 5 <> 0 AS hot, 'T' || lpad((i % 20)::text, 2, '0') AS town,
                     $3::timestamptz - ((i * 7) % (730 * 24 * 60)) * interval '1 minute' AS received,
                     CASE WHEN i % 25 = 0 THEN (ARRAY['routed','dispatched','on_scene'])[1 + i % 3]
                          ELSE 'closed' END AS st) AS x
"""


def cases(now: datetime) -> list[tuple[str, search.EventSearch, search.Scope, str, bool]]:
    """(name, query, scope, viewer role, counts?)"""

    def q(**kwargs: Any) -> search.EventSearch:
        facets: dict[str, tuple[str, ...]] = {f: () for f in search.FACETS}
        facets.update(kwargs.pop("facets", {}))
        return search.EventSearch(facets=facets, **kwargs)

    everyone = search.Scope()
    head = search.Scope(grid_codes=("T07-03",))
    return [
        (
            "open queue, by due_at, page 1",
            q(open_only=True, sort="due_at", descending=False),
            everyone,
            "admin",
            False,
        ),
        (
            "open queue, by received_at, offset 2000",
            q(open_only=True, sort="received_at", offset=2000),
            everyone,
            "admin",
            False,
        ),
        ("q 4 Chinese chars (井盖缺失), open", q(open_only=True, q="井盖缺失"), everyone, "admin", False),
        ("q 4 Chinese chars, all states", q(q="井盖缺失"), everyone, "admin", False),
        ("q 2 Chinese chars (井盖), open", q(open_only=True, q="井盖"), everyone, "admin", False),
        ("q address (龙岗大道12号)", q(q="龙岗大道12号"), everyone, "admin", False),
        ("q work-order number", q(q="SZ{day}00012346"), everyone, "admin", False),
        ("q phone suffix 4 digits (centre)", q(q="4321"), everyone, "admin", False),
        ("q phone suffix 8 digits (centre)", q(q="87654321"), everyone, "admin", False),
        (
            "township filter, open, by due_at",
            q(open_only=True, sort="due_at", descending=False, facets={"township": ("T05",)}),
            everyone,
            "admin",
            False,
        ),
        (
            "sla overdue, open, by due_at",
            q(open_only=True, sort="due_at", descending=False, facets={"sla": ("overdue",)}),
            everyone,
            "admin",
            False,
        ),
        ("unlocated, open", q(open_only=True, facets={"located": ("unlocated",)}), everyone, "admin", False),
        (
            "grid head scope, open",
            q(open_only=True, sort="due_at", descending=False),
            head,
            "grid_head",
            False,
        ),
        ("grid head scope, all states", q(), head, "grid_head", False),
        ("counts: open queue (9 facets + total)", q(open_only=True), everyone, "admin", True),
        (
            "counts: open, township filter",
            q(open_only=True, facets={"township": ("T05",)}),
            everyone,
            "admin",
            True,
        ),
        ("counts: q 4 chars, all states", q(q="井盖缺失"), everyone, "admin", True),
    ]


def access_path(plan: Any) -> str:
    """The scans of a plan: 'Index Scan using events_open_due', 'Seq Scan', ..."""
    found: list[str] = []

    def walk(node: dict[str, Any]) -> None:
        kind, name = node.get("Node Type", ""), node.get("Index Name")
        if name:  # index scans, and a bitmap heap scan's index scans below it
            found.append(f"{kind} {name}")
        elif kind == "Seq Scan" and node.get("Relation Name") == "events":
            found.append(kind)
        for child in node.get("Plans", []):
            walk(child)

    walk(plan[0]["Plan"])
    return ", ".join(dict.fromkeys(found)) or "-"


async def measure(
    db: asyncpg.Connection, now: datetime, repeat: int, day: str
) -> list[tuple[str, float, int, str]]:
    out = []
    for name, query, scope, role, counts in cases(now):
        if query.q and "{day}" in query.q:
            query = dataclasses.replace(query, q=query.q.replace("{day}", day))
        if counts:
            text, params = search.counts_query(query, scope=scope, viewer=role, now=now)
        else:
            text, params = search.list_query(
                query, scope=scope, viewer=role, now=now, columns=queries.EVENT_COLUMNS
            )
        plan = await db.fetchval("EXPLAIN (FORMAT JSON) " + text, *params)
        times, rows = [], 0
        for _ in range(repeat):
            started = time.perf_counter()
            rows = len(await db.fetch(text, *params))
            times.append((time.perf_counter() - started) * 1000)
        out.append((name, statistics.median(times), rows, access_path(plan)))
        print(f"  {name}: {statistics.median(times):.1f} ms", file=sys.stderr)
    return out


def table(title: str, results: list[tuple[str, float, int, str]]) -> str:
    lines = [f"### {title}", "", "| query | median ms | rows | access path |", "|---|---:|---:|---|"]
    lines += [f"| {n} | {ms:.1f} | {rows} | {path} |" for n, ms, rows, path in results]
    return "\n".join(lines)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    server = resolve_database_url(get_settings())
    name = f"gridsvc_bench_queue_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(server)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        db = await connect(f"{server.rpartition('/')[0]}/{name}")
        try:
            await db.execute("CREATE EXTENSION IF NOT EXISTS postgis")
            await upgrade(db)
            await db.execute(SEED)
            now = datetime.now(UTC).replace(microsecond=0)
            started = time.perf_counter()
            # triggers off while seeding: no NOTIFY per row (the live stream is not measured);
            # 014's indexes built once afterwards from the migration itself, as on a live table
            await db.execute("ALTER TABLE events DISABLE TRIGGER USER")
            for index in INDEXES_014 + INDEXES_017:
                await db.execute(f"DROP INDEX IF EXISTS {index}")
            step = 200_000
            for first in range(1, args.events + 1, step):
                await db.execute(FILL, first, min(first + step - 1, args.events), now)
                print(f"  seeded {min(first + step - 1, args.events)}", file=sys.stderr)
            await db.execute("ALTER TABLE events ENABLE TRIGGER USER")
            seeded = time.perf_counter() - started
            started = time.perf_counter()
            await db.execute((ROOT / "migrations" / "014_queue.sql").read_text(encoding="utf-8"))
            await db.execute((ROOT / "migrations" / "017_queue_indexes.sql").read_text(encoding="utf-8"))
            indexed = time.perf_counter() - started
            await db.execute("VACUUM ANALYZE events")
            stats = await db.fetchrow(
                "SELECT count(*) AS n, count(*) FILTER (WHERE state <> 'closed') AS open, "
                "pg_size_pretty(pg_total_relation_size('events')) AS size FROM events"
            )
            day = await db.fetchval(
                "SELECT substr(external_id, 3, 8) FROM events WHERE external_id LIKE '%00012346'"
            )
            version = await db.fetchval("SHOW server_version")
            print(f"# Work-queue benchmark, {stats['n']:,} events ({stats['open']:,} open)")
            print(f"table with indexes: {stats['size']}; PostgreSQL {version}")
            print(f"seeded in {seeded:.0f} s, 014's and 017's indexes built in {indexed:.0f} s")
            print()
            print(table("with migrations 014 and 017", await measure(db, now, args.repeat, day or "")))
            for index in INDEXES_017:
                await db.execute(f"DROP INDEX {index}")
            for statement in BEFORE_017:
                await db.execute(statement)
            await db.execute("VACUUM ANALYZE events")
            print()
            print(table("with 014 only (before 017)", await measure(db, now, args.repeat, day or "")))
            for index in INDEXES_014:
                await db.execute(f"DROP INDEX {index}")
            await db.execute("ANALYZE events")
            print()
            print(
                table("without them (001–013 indexes only)", await measure(db, now, args.repeat, day or ""))
            )
        finally:
            await db.close()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
