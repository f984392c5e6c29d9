"""Seeding for ``benchmarks/history.py``: years of closed cases with their audit rows, hotline
callbacks and 督办, written set-based (INSERT ... SELECT over generate_series) on the demo's
real grids, squads and matters, plus a fixed set of open cases (the live desk).

Event ids are the series numbers (``id = i``), so children are written from the same numbers
without reading the events back. Distributions (every figure a deterministic function of i):

- received over five years up to a day ago, uniformly (a multiplicative hash of i);
- 80 % from the 12345 hotline (work-order number, caller), 10 % operator, 10 % patrol;
- 8 audit rows a closed case (route, dispatch, sign_for, arrive, handle, verify, close, a
  note), a ninth on a third of them (回访): ~8.3 on average;
- three delivered hotline callbacks per hotline case (签收, 办结, 结案): ~2.4 a case;
- 督办 on 5 % of cases (a tenth of those a second level), nine in ten answered;
- 并单: every 50th case a duplicate of the case before it (closed with it);
- 回访 result on a third of the hotline cases;
- open cases: received in the last seven days, dispatched / signed for / on scene, deadlines
  from two hours ago to two days ahead (some overdue: the SLA sweep has work).

Row triggers (live NOTIFY, notice jobs, tallies) are switched off while seeding (a NOTIFY or a
notice job per seeded row is not what history costs) and the tallies rebuilt after, as
migration 023 builds them.
"""

from __future__ import annotations

HELPERS = """
DROP TABLE IF EXISTS bench_grids, bench_matters;
CREATE TABLE bench_grids AS
SELECT (row_number() OVER (ORDER BY c.code) - 1)::int AS n, c.id AS cid, c.code AS ccode,
       coalesce(c.name_zh, c.name) AS cname, e.id AS eid, e.code AS ecode,
       coalesce(e.name_zh, e.name) AS ename,
       ST_X(ST_PointOnSurface(c.geom)) AS lng, ST_Y(ST_PointOnSurface(c.geom)) AS lat,
       s.id AS squad_id, s.code AS squad_code, coalesce(s.name_zh, s.name) AS squad_name
FROM current_grids c
JOIN current_grids e ON e.layer = 'enforcement' AND e.code = c.enforcement_code
LEFT JOIN LATERAL (SELECT id, code, name, name_zh FROM squads WHERE e.code = ANY (grid_codes)
                   ORDER BY id LIMIT 1) s ON true
WHERE c.layer = 'community' AND c.code LIKE 'LI-%';
ALTER TABLE bench_grids ADD PRIMARY KEY (n);
CREATE TABLE bench_matters AS
SELECT (row_number() OVER (ORDER BY code) - 1)::int AS n, code, name FROM matters WHERE kind = 'event';
ALTER TABLE bench_matters ADD PRIMARY KEY (n);
ANALYZE bench_grids; ANALYZE bench_matters;
"""

TRIGGERS = ("events", "event_transitions", "outbox", "escalations")


def switch_triggers(on: bool) -> str:
    verb = "ENABLE" if on else "DISABLE"
    return "".join(f"ALTER TABLE {table} {verb} TRIGGER USER;" for table in TRIGGERS)


# $1..$2: the series (event ids); $3: now; $4: open (bool). One row per event.
EVENTS = """
WITH w AS (
  SELECT ARRAY['占道经营','乱堆物料','违章搭建','噪音扰民','油烟污染','共享单车乱停','垃圾满溢',
               '井盖缺失','路灯不亮','违规广告','渣土撒漏','露天烧烤','私搭乱建','绿地破坏',
               '违停占道','工地夜间施工'] AS t,
         (SELECT count(*) FROM bench_grids)::int AS ng, (SELECT count(*) FROM bench_matters)::int AS nm,
         (SELECT id FROM integrations WHERE name = 'hotline-demo') AS hotline
)
INSERT INTO events (id, source, integration_id, external_id, title, description, matter_code,
                    address, geom, reporter, received_at, state, stage, stage_started_at, due_at,
                    responsible_kind, responsible_code, responsible_name, grids, routing,
                    squad_id, duplicate_of, dispatched_at, handle_due_at, closed_at, updated_at,
                    satisfaction, revisited_at)
SELECT i, src, CASE WHEN src = 'hotline' THEN w.hotline END,
       CASE WHEN src = 'hotline' THEN 'H' || to_char(rec, 'YYYYMMDD') || lpad(i::text, 9, '0') END,
       w.t[1 + (i * 7919) % 16], '市民反映：' || g.cname || '附近' || w.t[1 + (i * 31) % 16] || '，请处理。',
       m.code, g.cname || (1 + i % 300) || '号',
       ST_SetSRID(ST_MakePoint(g.lng + ((i * 37) % 101 - 50) / 40000.0,
                               g.lat + ((i * 53) % 101 - 50) / 60000.0), 4326),
       CASE WHEN src = 'hotline' THEN jsonb_build_object('name', '市民', 'phone',
            '13' || lpad(((i * 2654435761) % 1000000000)::text, 9, '0')) ELSE '{}'::jsonb END,
       rec, st,
       CASE st WHEN 'closed' THEN NULL WHEN 'dispatched' THEN 'sign_for' WHEN 'signed_for' THEN 'arrive'
               ELSE 'handle' END,
       rec + interval '10 minutes',
       CASE WHEN st = 'closed' THEN NULL ELSE $3::timestamptz + ((i % 50) - 2) * interval '1 hour' END,
       'squad', g.ecode, g.squad_name,
       jsonb_build_object('enforcement', jsonb_build_object('id', g.eid, 'code', g.ecode, 'name', g.ename),
                          'community', jsonb_build_object('id', g.cid, 'code', g.ccode, 'name', g.cname)),
       jsonb_build_object('rule', 'delegated', 'seeded', true),
       g.squad_id,
       CASE WHEN NOT $4 AND i % 50 = 0 AND i > $1 THEN i - 1 END,
       rec + interval '5 minutes', rec + interval '3 days',
       CASE WHEN st = 'closed' THEN rec + interval '2 days' END,
       CASE WHEN st = 'closed' THEN rec + interval '2 days' ELSE rec END,
       CASE WHEN st = 'closed' AND src = 'hotline' AND i % 3 = 0
            THEN (ARRAY['satisfied','satisfied','basically_satisfied','dissatisfied'])[1 + i % 4] END,
       CASE WHEN st = 'closed' AND src = 'hotline' AND i % 3 = 0 THEN rec + interval '3 days' END
FROM w, generate_series($1::bigint, $2::bigint) AS i
JOIN bench_grids g ON g.n = i % (SELECT count(*) FROM bench_grids)
JOIN bench_matters m ON m.n = (i * 31) % (SELECT count(*) FROM bench_matters),
LATERAL (SELECT CASE WHEN i % 10 < 8 THEN 'hotline' WHEN i % 10 = 8 THEN 'operator' ELSE 'patrol' END AS src,
                CASE WHEN $4 THEN $3::timestamptz - ((i * 7919) % (7 * 24 * 60)) * interval '1 minute'
                     ELSE $3::timestamptz - interval '1 day'
                          - ((i * 2654435761) % (5 * 365 * 24 * 60)) * interval '1 minute' END AS rec,
                CASE WHEN $4 THEN (ARRAY['dispatched','signed_for','on_scene'])[1 + i % 3]
                     ELSE 'closed' END AS st) AS x
"""

# The audit trail of the events $1..$2: closed ones in full, open ones up to their state.
TRANSITIONS = """
WITH steps(s, action, from_state, to_state) AS (VALUES
  (1, 'route', 'received', 'routed'), (2, 'dispatch', 'routed', 'dispatched'),
  (3, 'sign_for', 'dispatched', 'signed_for'), (4, 'arrive', 'signed_for', 'on_scene'),
  (5, 'handle', 'on_scene', 'handled'), (6, 'verify', 'handled', 'verified'),
  (7, 'close', 'verified', 'closed'), (8, 'note', 'closed', 'closed'), (9, 'revisit', 'closed', 'closed'))
INSERT INTO event_transitions (event_id, at, actor, action, from_state, to_state, note, data)
SELECT e.id, e.received_at + st.s * interval '20 minutes',
       CASE WHEN st.s <= 2 THEN 'system' ELSE 'squad:' || coalesce(e.responsible_code, 'x') END,
       st.action, st.from_state, st.to_state,
       CASE st.action WHEN 'handle' THEN '已到现场处置完毕' WHEN 'note' THEN '回复市民' END, '{}'::jsonb
FROM events e JOIN steps st ON st.s <= CASE e.state WHEN 'closed' THEN 8 + (e.id % 3 = 0)::int
                                                 WHEN 'dispatched' THEN 2 WHEN 'signed_for' THEN 3
                                                 ELSE 4 END
WHERE e.id BETWEEN $1 AND $2
"""

OUTBOX = """
INSERT INTO outbox (event_id, integration_id, kind, payload, idempotency_key, status, attempts,
                    next_attempt_at, created_at, delivered_at)
SELECT e.id, e.integration_id, k.kind, jsonb_build_object('work_order_no', e.external_id, 'status', k.kind),
       'seed-' || e.id || '-' || k.kind, 'delivered', 1, e.received_at + k.n * interval '1 hour',
       e.received_at + k.n * interval '1 hour', e.received_at + k.n * interval '1 hour'
FROM events e, (VALUES (1, 'signed_for'), (2, 'handled'), (3, 'closed')) AS k(n, kind)
WHERE e.id BETWEEN $1 AND $2 AND e.integration_id IS NOT NULL AND e.state = 'closed'
"""

# nine in ten answered: (id / 20) % 10, as every id with id % 20 = 3 has id % 10 = 3
ESCALATIONS = """
INSERT INTO escalations (event_id, stage, due_at, raised_at, level, audience, factor,
                         reply, replied_by, replied_at)
SELECT e.id, 'handle', e.received_at + interval '1 day', e.received_at + l.level * interval '1 day',
       l.level, CASE l.level WHEN 1 THEN 'unit' ELSE 'township' END, l.level,
       CASE WHEN e.id / 20 % 10 <> 3 THEN '已督促' END, CASE WHEN e.id / 20 % 10 <> 3 THEN 'leader:seed' END,
       CASE WHEN e.id / 20 % 10 <> 3 THEN e.received_at + interval '30 hours' END
FROM events e, (VALUES (1), (2)) AS l(level)
WHERE e.id BETWEEN $1 AND $2 AND e.state = 'closed' AND e.id % 20 = 3 AND (l.level = 1 OR e.id % 200 = 3)
"""

RETALLY = """
DELETE FROM tallies;
INSERT INTO tallies (kind, label, shard, n)
SELECT 'events_state', state, 0, count(*) FROM events GROUP BY state
UNION ALL SELECT 'outbox_status', status, 0, count(*) FROM outbox GROUP BY status
UNION ALL SELECT 'escalation_level', level::text, 0, count(*) FROM escalations GROUP BY level
UNION ALL SELECT 'escalation_replied_level', level::text, 0, count(*) FROM escalations
          WHERE replied_at IS NOT NULL GROUP BY level
UNION ALL SELECT 'notice_kind_status', kind || ':' || status, 0, count(*) FROM recipient_notices
          GROUP BY kind, status;
SELECT setval('events_id_seq', (SELECT max(id) FROM events));
"""
