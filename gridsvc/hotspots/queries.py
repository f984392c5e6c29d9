# ruff: noqa: S608 - the WHERE clauses are this package's constants and the events search's; values are $n
"""SQL of the hotspots: located events of a time window with their local ISO week.

PostgreSQL has no H3 here: points are grouped by (week, class, point) in SQL and put on cells
in Python (h3ronpy, vectorised). A merged duplicate (并单) is the same problem again: left out.
"""

from __future__ import annotations

MATTER_CLASS = "(split_part(e.matter_code, '-', 1) || '-' || split_part(e.matter_code, '-', 2))"


def points(where: list[str]) -> str:
    """``$1``/``$2``: window [start, end); ``$3``: time zone; ``$4``: the window's first
    Monday; ``where``: further clauses. One row of parallel arrays: week index, class, lng,
    lat, events there."""
    extra = "".join(f" AND {clause}" for clause in where)
    return f"""
SELECT coalesce(array_agg(w), '{{}}') AS week, coalesce(array_agg(k), '{{}}') AS klass,
       coalesce(array_agg(x), '{{}}') AS lng, coalesce(array_agg(y), '{{}}') AS lat,
       coalesce(array_agg(n), '{{}}') AS n
FROM (
  SELECT (date_trunc('week', e.received_at AT TIME ZONE $3)::date - $4::date) / 7 AS w,
         {MATTER_CLASS} AS k, ST_X(e.geom) AS x, ST_Y(e.geom) AS y, count(*)::int AS n
  FROM events e
  WHERE e.received_at >= $1 AND e.received_at < $2 AND e.geom IS NOT NULL
    AND e.duplicate_of IS NULL{extra}
  GROUP BY 1, 2, 3, 4
) g
"""


JURISDICTION = "SELECT code, timezone, boundary IS NOT NULL AS bounded FROM jurisdictions WHERE code = $1"
IN_JURISDICTION = "ST_Intersects(e.geom, (SELECT boundary FROM jurisdictions WHERE code = {param}))"
CLASS_NAMES = """
SELECT DISTINCT ON (1) (split_part(code, '-', 1) || '-' || split_part(code, '-', 2)) AS matter_class,
       major_name
FROM matters ORDER BY 1, major_name
"""
