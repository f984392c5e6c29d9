"""Leaders' summary benchmark: ``GET /reports/summary``'s service over N seeded events, from
the daily rollups and from the direct aggregate (the same SQL over the events), same run.

Run: ``python benchmarks/reports.py`` (default 1,000,000 events over a year; ``--events``,
``--repeat``). Uses GRIDSVC_DATABASE_URL's server or the private cluster, in a scratch
database of its own (dropped at the end) with every migration applied.

Seeded: one county (Asia/Shanghai) with 20 townships (enforcement grids, one squad each),
20 community grids per township, 48 matters; 10 % of cases a department's; events received
over 365 days up to now; 95 % dispatched, signed for and on scene (3 audit rows each), 85 %
closed, a third of those with a 回访 result, 2 % 退单, 3 % 延期 approved, 5 % 督办. Then the
rollups are built (``service.rebuild``, timed) and the summary of the whole year (and the
year before, its previous period) is asked for each ``by``: median of ``--repeat`` runs from
the rollups (today computed directly, as in production) against the direct aggregate.
Target: <= 1 s from the rollups.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402

from gridsvc.database.embedded import resolve_database_url  # noqa: E402
from gridsvc.database.migrate import upgrade  # noqa: E402
from gridsvc.database.pool import connect  # noqa: E402
from gridsvc.reports import service  # noqa: E402
from gridsvc.reports.models import Summary  # noqa: E402
from gridsvc.settings import get_settings  # noqa: E402

TOWNS = 20
SIGN_FOR_MINUTES = 30.0

SEED = """
INSERT INTO integrations (name, secret) VALUES ('bench-hotline', 'x');
INSERT INTO departments (code, name, name_zh) VALUES
    ('bench_forestry', 'Forestry', '林业局'), ('bench_market', 'Market', '市场监管局'),
    ('bench_env', 'Environment', '生态环境局') ON CONFLICT DO NOTHING;
INSERT INTO matters (code, kind, major_code, major_name, minor_code, name)
SELECT 'EV-' || lpad(ma::text, 2, '0') || '-' || lpad(mi::text, 2, '0'), 'event',
       lpad(ma::text, 2, '0'), '大类' || ma, lpad(mi::text, 2, '0'), '事项' || ma || '-' || mi
FROM generate_series(1, 8) ma, generate_series(1, 6) mi ON CONFLICT DO NOTHING;
INSERT INTO jurisdictions (code, name, name_zh, level, timezone)
VALUES ('BN', 'Bench county', '基准县', 'county', 'Asia/Shanghai');
INSERT INTO layers (jurisdiction_id, name, kind)
SELECT id, 'enforcement', 'enforcement' FROM jurisdictions WHERE code = 'BN';
INSERT INTO layer_versions (layer_id, version, h3_resolution)
SELECT id, 1, 10 FROM layers WHERE name = 'enforcement'
  AND jurisdiction_id = (SELECT id FROM jurisdictions WHERE code = 'BN');
INSERT INTO grids (layer_version_id, code, name, name_zh, geom, area_m2)
SELECT v.id, 'T' || lpad(t::text, 2, '0'), 'Town ' || t, '乡镇' || t,
       ST_Multi(ST_MakeEnvelope(114 + t * 0.01, 22.7, 114.009 + t * 0.01, 22.709, 4326)), 1e6
FROM layer_versions v JOIN layers l ON l.id = v.layer_id, generate_series(0, 19) t
WHERE l.name = 'enforcement' AND l.jurisdiction_id = (SELECT id FROM jurisdictions WHERE code = 'BN');
INSERT INTO squads (code, name, name_zh, station)
SELECT 'SQ-T' || lpad(t::text, 2, '0'), 'Squad ' || t, '中队' || t,
       ST_SetSRID(ST_MakePoint(114.005 + t * 0.01, 22.705), 4326)
FROM generate_series(0, 19) t;
"""

EVENTS = """
INSERT INTO events (source, integration_id, external_id, title, matter_code, received_at, state,
                    responsible_kind, responsible_code, squad_id, grids, handle_due_at,
                    closed_at, dispatched_at)
SELECT CASE WHEN hot THEN 'hotline' ELSE 'operator' END,
       CASE WHEN hot THEN $4::bigint END,
       CASE WHEN hot THEN 'B' || i END,
       '占道经营',
       'EV-' || lpad((1 + i % 8)::text, 2, '0') || '-' || lpad((1 + (i / 8) % 6)::text, 2, '0'),
       received,
       CASE WHEN closed THEN 'closed' WHEN i % 20 = 0 THEN 'routed' ELSE 'on_scene' END,
       CASE WHEN i % 10 = 3 THEN 'department' ELSE 'squad' END,
       CASE WHEN i % 10 = 3 THEN (ARRAY['bench_forestry','bench_market','bench_env'])[1 + i % 3]
            ELSE 'T' || lpad(town::text, 2, '0') END,
       CASE WHEN i % 10 = 3 OR i % 20 = 0 THEN NULL ELSE $5::bigint + town END,
       jsonb_build_object(
         'enforcement', jsonb_build_object('id', $6::bigint + town, 'code', 'T' || lpad(town::text, 2, '0')),
         'community', jsonb_build_object('code', 'T' || lpad(town::text, 2, '0') || '-'
                                                 || lpad(((i / 20) % 20)::text, 2, '0'))),
       received + interval '48 hours',
       CASE WHEN closed THEN received + ((i % 72) + 1) * interval '1 hour' END,
       CASE WHEN i % 20 <> 0 THEN received + interval '2 minutes' END
FROM generate_series($1::bigint, $2::bigint) AS i,
     LATERAL (SELECT i % 5 <> 0 AS hot, (i % 20)::int AS town,
                     $3::timestamptz - ((i * 7) % (365 * 24 * 60)) * interval '1 minute' AS received,
                     i % 20 <> 0 AND i % 100 < 85 AS closed) AS x
"""

# every fact of the summary, by the events' own numbers (the id stands for i)
FACTS = """
INSERT INTO event_transitions (event_id, at, actor, action, from_state, to_state)
SELECT e.id, e.received_at + s.after, 'bench', s.action, s.from_state, s.to_state
FROM events e, LATERAL (VALUES
    ('dispatch', 'routed', 'dispatched', interval '2 minutes'),
    ('sign_for', 'dispatched', 'signed_for', ((e.id % 40) + 3) * interval '1 minute'),
    ('arrive', 'signed_for', 'on_scene', ((e.id % 50) + 45) * interval '1 minute'))
    AS s(action, from_state, to_state, after)
WHERE e.dispatched_at IS NOT NULL AND e.id BETWEEN $1 AND $2;
INSERT INTO event_transitions (event_id, at, actor, action, from_state, to_state, note)
SELECT id, received_at + interval '1 hour', 'bench', 'return', 'on_scene', 'returned', '退单'
FROM events WHERE id % 50 = 7 AND id BETWEEN $1 AND $2;
INSERT INTO revisits (event_id, integration_id, revisit_key, work_order_no, satisfaction, received_at,
                      outcome, reason, state_before, redo_count)
SELECT id, integration_id, 'k' || id, external_id,
       CASE WHEN id % 10 < 7 THEN 'satisfied' WHEN id % 10 = 7 THEN 'basically_satisfied'
            ELSE 'dissatisfied' END,
       closed_at + interval '1 day',
       CASE WHEN id % 10 >= 8 AND id % 2 = 0 THEN 'reopened' ELSE 'recorded' END, 'bench', 'closed',
       CASE WHEN id % 10 >= 8 AND id % 2 = 0 THEN 1 ELSE 0 END
FROM events WHERE closed_at IS NOT NULL AND integration_id IS NOT NULL AND id % 3 = 0
  AND id BETWEEN $1 AND $2;
INSERT INTO event_extensions (event_id, requested_by, requested_at, extra_minutes, reason, decided_by,
                              decided_at, approved)
SELECT id, 'bench', received_at + interval '2 hours', 60, '延期', 'bench',
       received_at + interval '3 hours', true
FROM events WHERE id % 30 = 11 AND id BETWEEN $1 AND $2;
INSERT INTO escalations (event_id, stage, due_at, raised_at, level)
SELECT id, 'sign_for', received_at + interval '30 minutes', received_at + interval '31 minutes', 1
FROM events WHERE id % 20 = 13 AND id BETWEEN $1 AND $2;
"""

TRIGGERED = ("events", "event_transitions", "revisits", "escalations", "event_extensions")


async def seed(db: asyncpg.Connection, events: int, now: datetime) -> None:
    await db.execute(SEED)
    integration = await db.fetchval("SELECT id FROM integrations WHERE name = 'bench-hotline'")
    first_squad = await db.fetchval("SELECT min(id) FROM squads WHERE code LIKE 'SQ-T%'")
    first_grid = await db.fetchval("SELECT min(id) FROM grids WHERE code LIKE 'T%'")
    for table in TRIGGERED:  # no NOTIFY or notice job per row: the live stream is not measured
        await db.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
    step = 200_000
    for first in range(1, events + 1, step):
        last = min(first + step - 1, events)
        before = await db.fetchval("SELECT coalesce(max(id), 0) FROM events")
        await db.execute(EVENTS, first, last, now, integration, first_squad, first_grid)
        after = await db.fetchval("SELECT max(id) FROM events")
        # the facts of this chunk's events (ids are literals: a multi-statement text)
        await db.execute(FACTS.replace("$1", str(int(before) + 1)).replace("$2", str(int(after))))
        print(f"  seeded {last:,} events", file=sys.stderr)
    for table in TRIGGERED:
        await db.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")
    await db.execute("VACUUM ANALYZE")


async def timed(repeat: int, task: Callable[[], Awaitable[Summary]]) -> tuple[float, Summary]:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        answer = await task()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), answer


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    server = resolve_database_url(get_settings())
    name = f"gridsvc_bench_reports_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(server)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        db = await connect(f"{server.rpartition('/')[0]}/{name}")
        try:
            await db.execute("CREATE EXTENSION IF NOT EXISTS postgis")
            await upgrade(db)
            now = datetime.now(UTC).replace(microsecond=0)
            started = time.perf_counter()
            await seed(db, args.events, now)
            seeded = time.perf_counter() - started
            started = time.perf_counter()
            days = await service.rebuild(
                db, first=None, last=None, now=now, sign_for_minutes=SIGN_FOR_MINUTES
            )
            rolled = time.perf_counter() - started
            rows = await db.fetchval("SELECT count(*) FROM report_daily")
            await db.execute("VACUUM ANALYZE report_daily")
            today = now.astimezone(ZoneInfo("Asia/Shanghai")).date()
            first_day = today - timedelta(days=365)
            counts = await db.fetchrow(
                "SELECT (SELECT count(*) FROM events) AS events, "
                "(SELECT count(*) FROM event_transitions) AS transitions, "
                "(SELECT count(*) FROM revisits) AS revisits, "
                "pg_size_pretty(pg_total_relation_size('report_daily')) AS size"
            )
            version = await db.fetchval("SHOW server_version")
            print(
                f"# Reports benchmark: {counts['events']:,} events, {counts['transitions']:,} audit rows, "
                f"{counts['revisits']:,} 回访; PostgreSQL {version}"
            )
            print(
                f"seeded in {seeded:.0f} s; rollups of {len(days)} days built in {rolled:.1f} s "
                f"({rows:,} rows, {counts['size']})"
            )
            print(f"summary of {first_day} .. {today} (every event) and the 366 days before it")
            print()
            print("| by | rows | received | rollups ms (median) | direct ms | ratio | identical |")
            print("|---|---:|---:|---:|---:|---:|---|")
            worst = 0.0
            for by in ("township", "department", "squad", "grid", "matter"):

                def ask(use: bool, by: str = by) -> Awaitable[Summary]:
                    return service.summary(
                        db,
                        by=by,
                        first=first_day,
                        last=today,
                        jurisdiction=None,
                        scope=service.ReportScope(),
                        now=now,
                        sign_for_minutes=SIGN_FOR_MINUTES,
                        use_rollups=use,
                    )

                fast, rolled_answer = await timed(args.repeat, lambda: ask(True))
                slow, direct_answer = await timed(1, lambda: ask(False))
                same = rolled_answer.model_dump() == direct_answer.model_dump()
                worst = max(worst, fast)
                summary = rolled_answer
                print(
                    f"| {by} | {len(summary.rows)} | {summary.total.received:,} | {fast:.0f} | "
                    f"{slow:.0f} | {slow / fast:.0f}× | {'yes' if same else 'NO'} |"
                )
            # what is always computed from the events: today (and the day before from rollups)
            today_ms, today_answer = await timed(
                args.repeat,
                lambda: service.summary(
                    db,
                    by="township",
                    first=today,
                    last=today,
                    jurisdiction=None,
                    scope=service.ReportScope(),
                    now=now,
                    sign_for_minutes=SIGN_FOR_MINUTES,
                ),
            )
            print(
                f"| (today only, by township: the direct part of every answer) | "
                f"{len(today_answer.rows)} | {today_answer.total.received:,} | {today_ms:.0f} | | | |"
            )
            print()
            verdict = "[ok]" if worst <= 1000 else "[FAIL]"
            print(f"{verdict} slowest summary from the rollups: {worst:.0f} ms (target <= 1000 ms)")
        finally:
            await db.close()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
