# ruff: noqa: S608 - SQL is composed of this module's constant clauses; every value is a $n
"""SQL of the leaders' figures: the facts of each day (one statement for both the rollup
and the direct aggregate, so that the two cannot disagree), the rollups, their upkeep.

Facts and their day (the local day, in the time zone of the event's jurisdiction):

- received cohort, on the day of receipt: received, signed for, signed in time, the arrival
  bucket (minutes from receipt to the first 到场);
- closed, closed in time: on the day of closing;
- 回访 results: on the day the callback came;
- 退单: the day of the return; 延期: the day an extension was approved; 督办: the day raised.
"""

from __future__ import annotations

DIMENSIONS = ("jurisdiction", "township", "department", "squad", "grid", "matter")
# The sums of report_daily, in this order everywhere.
MEASURES = (
    "received",
    "signed_for",
    "signed_in_time",
    "closed",
    "closed_in_time",
    "revisited",
    "satisfied",
    "resolved",
    "redone",
    "returns",
    "extensions",
    "duban",
)

# The jurisdiction (and its time zone) of each enforcement grid, every version.
ZONES = """
SELECT g.id AS grid_id, j.code AS jurisdiction, j.timezone
FROM grids g JOIN layer_versions v ON v.id = g.layer_version_id
JOIN layers l ON l.id = v.layer_id JOIN jurisdictions j ON j.id = l.jurisdiction_id
WHERE l.kind = 'enforcement'
"""

# An event's dimensions; e: events, z: zones, s: squads. $4: the home time zone.
_DIMS = """coalesce(z.jurisdiction, '') AS jurisdiction,
    coalesce(e.grids -> 'enforcement' ->> 'code', '') AS township,
    CASE WHEN e.responsible_kind = 'department' THEN coalesce(e.responsible_code, '') ELSE '' END
        AS department,
    coalesce(s.code, '') AS squad,
    coalesce(e.grids -> 'community' ->> 'code', '') AS grid,
    coalesce(e.matter_code, '') AS matter"""
_JOINS = """LEFT JOIN zones z ON z.grid_id = (e.grids -> 'enforcement' ->> 'id')::bigint
    LEFT JOIN squads s ON s.id = e.squad_id"""
_ZONE = "coalesce(z.timezone, $4)"
_ZERO = {m: "0" for m in MEASURES}

# Arrival minutes (rounded up to whole minutes) -> bucket 0..25, whose upper bound is
# ARRIVE_BOUNDS[i] (README "Reports"); beyond the last bound: the last bucket. {m}: minutes.
ARRIVE_BOUNDS: tuple[int, ...] = (5, 10, 15, 20, 25, 30, 40, 50, 60, 75, 90, 120, 150, 180, 240)
ARRIVE_BOUNDS += (300, 360, 480, 600, 720, 960, 1440, 2880, 4320, 10080, 43200)
ARRIVALS = tuple(f"a{i}" for i in range(len(ARRIVE_BOUNDS)))


def arrive_bucket(minutes: str) -> str:
    bounds = "{" + ",".join(str(b) for b in ARRIVE_BOUNDS) + "}"
    last = len(ARRIVE_BOUNDS) - 1
    return f"least(width_bucket((ceil({minutes}) - 1)::float8, '{bounds}'::float8[]), {last})"


def _branch(day_at: str, source: str, measures: dict[str, str], bucket: str = "NULL::int") -> str:
    values = {**_ZERO, **measures}
    columns = ",\n    ".join(f"({values[m]})::int AS {m}" for m in MEASURES)
    return (
        f"SELECT ({day_at} AT TIME ZONE {_ZONE})::date AS day, {_DIMS},\n    {columns},\n"
        f"    {bucket} AS arrive_bucket\n{source}"
    )


_MINUTES = "greatest(extract(epoch FROM f.arrived_at - e.received_at) / 60, 0)"

# Every fact of the days $3 (date[]), found in [$1, $2) (the days widened by a day each side,
# for any time zone). $4: home time zone, $5: the 签收 limit in minutes.
FACTS = (
    "WITH zones AS ("
    + ZONES
    + "),\nfacts AS (\n"
    + "\nUNION ALL\n".join(
        [
            _branch(
                "e.received_at",
                f"""FROM events e {_JOINS}
    LEFT JOIN LATERAL (
        SELECT min(t.at) FILTER (WHERE t.action = 'sign_for') AS signed_at,
               min(t.at) FILTER (WHERE t.action = 'arrive') AS arrived_at
        FROM event_transitions t
        WHERE t.event_id = e.id AND t.action IN ('sign_for', 'arrive')) f ON true
    LEFT JOIN LATERAL (
        SELECT max(t.at) AS sent_at FROM event_transitions t
        WHERE f.signed_at IS NOT NULL AND t.event_id = e.id
          AND t.action IN ('dispatch', 'transfer') AND t.at <= f.signed_at) d ON true
    WHERE e.received_at >= $1 AND e.received_at < $2""",
                {
                    "received": "1",
                    "signed_for": "f.signed_at IS NOT NULL",
                    "signed_in_time": "f.signed_at IS NOT NULL AND f.signed_at - "
                    "coalesce(d.sent_at, e.received_at) <= $5::float8 * interval '1 minute'",
                },
                f"CASE WHEN f.arrived_at IS NULL THEN NULL ELSE {arrive_bucket(_MINUTES)} END",
            ),
            _branch(
                "e.closed_at",
                f"FROM events e {_JOINS}\n    WHERE e.closed_at >= $1 AND e.closed_at < $2",
                {
                    "closed": "1",
                    "closed_in_time": "e.handle_due_at IS NULL OR e.closed_at <= e.handle_due_at",
                },
            ),
            _branch(
                "r.received_at",
                f"FROM revisits r JOIN events e ON e.id = r.event_id {_JOINS}\n"
                "    WHERE r.received_at >= $1 AND r.received_at < $2",
                {
                    "revisited": "1",
                    "satisfied": "r.satisfaction IN ('satisfied', 'basically_satisfied')",
                    "resolved": "r.satisfaction <> 'dissatisfied' OR r.declined_at IS NOT NULL",
                    "redone": "r.outcome = 'reopened' AND r.declined_at IS NULL",
                },
            ),
            _branch(
                "t.at",
                f"FROM event_transitions t JOIN events e ON e.id = t.event_id {_JOINS}\n"
                "    WHERE t.action = 'return' AND t.at >= $1 AND t.at < $2",
                {"returns": "1"},
            ),
            _branch(
                "x.decided_at",
                f"FROM event_extensions x JOIN events e ON e.id = x.event_id {_JOINS}\n"
                "    WHERE x.approved AND x.decided_at >= $1 AND x.decided_at < $2",
                {"extensions": "1"},
            ),
            _branch(
                "x.raised_at",
                f"FROM escalations x JOIN events e ON e.id = x.event_id {_JOINS}\n"
                "    WHERE x.raised_at >= $1 AND x.raised_at < $2",
                {"duban": "1"},
            ),
        ]
    )
    + "\n)"
)

_SUMS = ", ".join(
    [f"sum({m})::bigint AS {m}" for m in MEASURES]
    + [f"count(*) FILTER (WHERE arrive_bucket = {i}) AS {a}" for i, a in enumerate(ARRIVALS)]
)
_ROLLED_SUMS = ", ".join(f"sum({c})::bigint AS {c}" for c in MEASURES + ARRIVALS)
_SCOPE = "jurisdiction, township, department"

# Rebuild the rollups of the days $3 (the caller deletes them first, in the same transaction):
# one row per day, dimension, scope (jurisdiction, township, department) and unit, and the
# same without the township and department split (UNSCOPED in both: what the desk and county
# supervisors read, a few rows a day per unit instead of one per township and department).
UNSCOPED = "*"
ROLLUP = f"""{FACTS},
wanted AS MATERIALIZED (SELECT * FROM facts WHERE day = ANY($3::date[]))
INSERT INTO report_daily (day, dimension, {_SCOPE}, key, {", ".join(MEASURES + ARRIVALS)})
""" + "\nUNION ALL\n".join(
    [
        f"SELECT day, '{d}', {_SCOPE}, {d}, {_SUMS} FROM wanted GROUP BY day, {_SCOPE}, {d}"
        for d in ("township", "department", "squad", "grid", "matter")
    ]
    + [
        f"SELECT day, '{d}', jurisdiction, '{UNSCOPED}', '{UNSCOPED}', {d}, {_SUMS} FROM wanted "
        f"GROUP BY day, jurisdiction, {d}"
        for d in ("township", "department", "squad", "grid", "matter")
    ]
)
DELETE_DAYS = "DELETE FROM report_daily WHERE day = ANY($1::date[])"
MARK_ROLLED = """
INSERT INTO report_rollup_days (day, rolled_at) SELECT unnest($1::date[]), now()
ON CONFLICT (day) DO UPDATE SET rolled_at = excluded.rolled_at
"""
ROLLED_DAYS = "SELECT day FROM report_rollup_days WHERE day BETWEEN $1 AND $2"
ROLLUP_STATE = "SELECT seen_until FROM report_rollup_state"
SET_ROLLUP_STATE = """
INSERT INTO report_rollup_state (id, seen_until) VALUES (true, $1)
ON CONFLICT (id) DO UPDATE SET seen_until = excluded.seen_until
"""
DB_NOW = "SELECT now()"
FIRST_EVENT = "SELECT min(received_at) FROM events"

# The local days touched by changes since $1 ($2: home time zone): every day on which a
# changed event has a fact, since a change (a transfer, a late 签收) can move any of them.
DIRTY_DAYS = (
    "WITH zones AS ("
    + ZONES
    + """),
changed AS (
    SELECT id AS event_id FROM events WHERE updated_at > $1
    UNION SELECT event_id FROM revisits WHERE received_at > $1 OR declined_at > $1
    UNION SELECT event_id FROM escalations WHERE raised_at > $1
    UNION SELECT event_id FROM event_extensions WHERE decided_at > $1
),
moments AS (
    SELECT e.id AS event_id, e.received_at AS at FROM events e JOIN changed c ON c.event_id = e.id
    UNION ALL SELECT e.id, e.closed_at FROM events e JOIN changed c ON c.event_id = e.id
        WHERE e.closed_at IS NOT NULL
    UNION ALL SELECT r.event_id, r.received_at FROM revisits r JOIN changed c USING (event_id)
    UNION ALL SELECT t.event_id, t.at FROM event_transitions t JOIN changed c USING (event_id)
        WHERE t.action = 'return'
    UNION ALL SELECT x.event_id, x.decided_at FROM event_extensions x JOIN changed c USING (event_id)
        WHERE x.approved
    UNION ALL SELECT x.event_id, x.raised_at FROM escalations x JOIN changed c USING (event_id)
)
SELECT DISTINCT (m.at AT TIME ZONE coalesce(z.timezone, $2))::date AS day
FROM moments m JOIN events e ON e.id = m.event_id
LEFT JOIN zones z ON z.grid_id = (e.grids -> 'enforcement' ->> 'id')::bigint
ORDER BY 1
"""
)


def _filters(first: int) -> str:
    """Scope filters on the dimensions: ${first} jurisdiction codes (text[] or NULL),
    ${first+1} townships (text[] or NULL), ${first+2} department (text or NULL)."""
    j, t, d = first, first + 1, first + 2
    return (
        f"(${j}::text[] IS NULL OR jurisdiction = ANY(${j}::text[]))"
        f" AND (${t}::text[] IS NULL OR township = ANY(${t}::text[]))"
        f" AND (${d}::text IS NULL OR department = ${d}::text)"
    )


def summary_from_rollups(dimension: str, *, scoped: bool) -> str:
    """Sums per unit of ``dimension`` and period (0: from $1, 1: before it) from the rollups
    of the days [$2, $3] (only rolled-up days have rows: a day's rows and its
    report_rollup_days row are written together); $4..$6 the scope filters. ``scoped``: a
    township or department filter applies (the rows split by township and department), else
    the unsplit rows. A range, not a list of days: a list is searched for every row."""
    assert dimension in DIMENSIONS
    split = f"township <> '{UNSCOPED}'" if scoped else f"township = '{UNSCOPED}'"
    filters = _filters(4) if scoped else "($4::text[] IS NULL OR jurisdiction = ANY($4::text[]))"
    unused = "" if scoped else " AND $5::text[] IS NULL AND $6::text IS NULL"
    return f"""
SELECT CASE WHEN day >= $1 THEN 0 ELSE 1 END AS period, key, {_ROLLED_SUMS}
FROM report_daily
WHERE dimension = '{dimension}' AND day BETWEEN $2 AND $3 AND {split}
  AND {filters}{unused}
GROUP BY 1, 2
"""


def summary_direct(dimension: str) -> str:
    """The same answer as :func:`summary_from_rollups`, from the events themselves, for the
    days $3 (date[]) found in [$1, $2); $4 home time zone, $5 签收 limit; $6..$8 scope;
    $9 first day of the current period."""
    assert dimension in DIMENSIONS
    return f"""{FACTS}
SELECT CASE WHEN day >= $9 THEN 0 ELSE 1 END AS period, {dimension} AS key, {_SUMS}
FROM facts WHERE day = ANY($3::date[]) AND {_filters(6)}
GROUP BY 1, 2
"""


# Display names of the units ('' keys are named by the service).
NAMES = {
    "township": """
SELECT DISTINCT ON (g.code) g.code AS key, coalesce(g.name_zh, g.name) AS name
FROM grids g JOIN layer_versions v ON v.id = g.layer_version_id JOIN layers l ON l.id = v.layer_id
WHERE l.kind = 'enforcement' ORDER BY g.code, v.valid_to IS NULL DESC, v.id DESC""",
    "grid": """
SELECT DISTINCT ON (g.code) g.code AS key, coalesce(g.name_zh, g.name) AS name
FROM grids g JOIN layer_versions v ON v.id = g.layer_version_id JOIN layers l ON l.id = v.layer_id
WHERE l.kind = 'community' ORDER BY g.code, v.valid_to IS NULL DESC, v.id DESC""",
    "department": "SELECT code AS key, coalesce(name_zh, name) AS name FROM departments",
    "squad": "SELECT code AS key, coalesce(name_zh, name) AS name FROM squads",
    "matter": "SELECT code AS key, name FROM matters",
    "jurisdiction": "SELECT code AS key, coalesce(name_zh, name) AS name FROM jurisdictions",
}

# The jurisdiction and those below it.
JURISDICTION_TREE = """
WITH RECURSIVE tree AS (
    SELECT id, code, timezone, 0 AS depth FROM jurisdictions WHERE code = $1
    UNION ALL SELECT j.id, j.code, j.timezone, t.depth + 1
    FROM jurisdictions j JOIN tree t ON j.parent_id = t.id
)
SELECT code, timezone, depth FROM tree ORDER BY depth
"""
HOME_TIMEZONE = """
SELECT j.timezone FROM jurisdictions j JOIN layers l ON l.jurisdiction_id = j.id
GROUP BY j.id, j.timezone ORDER BY count(*) DESC, j.id LIMIT 1
"""
LEADER_REACH = "SELECT reach, township_codes FROM duban_leaders WHERE user_id = $1"

# Cases of the period (received in [$1, $2)) whose handling ran past its deadline: closed
# late, or still open after it ($3: now); $4..$6: scope filters as above.
OVERDUE_CASES = (
    "WITH zones AS ("
    + ZONES
    + """),
cases AS (
    SELECT e.id, e.external_id, e.title, e.matter_code, m.name AS matter_name, e.state,
           e.responsible_name, e.received_at, e.handle_due_at, e.closed_at,
           """
    + _DIMS
    + """
    FROM events e """
    + _JOINS
    + """
    LEFT JOIN matters m ON m.code = e.matter_code
    WHERE e.received_at >= $1 AND e.received_at < $2
      AND e.handle_due_at IS NOT NULL AND e.handle_due_at < coalesce(e.closed_at, $3)
)
SELECT *, extract(epoch FROM coalesce(closed_at, $3) - handle_due_at) / 3600 AS hours_over
FROM cases WHERE """
    + _filters(4)
    + """
ORDER BY hours_over DESC, id LIMIT 10000
"""
)
