"""SQL of the holiday calendar. Values always travel as ``$n`` parameters."""

# Rows for every jurisdiction ('*') and for one; the specific row wins in load_calendar.
DAYS_FOR = """
SELECT jurisdiction_code, day, working, name FROM calendar_days
WHERE jurisdiction_code = '*' OR jurisdiction_code = $1
ORDER BY day, (jurisdiction_code = '*') DESC
"""

LIST = """
SELECT jurisdiction_code, day, working, name FROM calendar_days
WHERE ($1::text IS NULL OR jurisdiction_code = '*' OR jurisdiction_code = $1)
  AND ($2::int IS NULL OR (day >= make_date($2, 1, 1) AND day < make_date($2 + 1, 1, 1)))
ORDER BY day, jurisdiction_code
"""

UPSERT = """
INSERT INTO calendar_days (jurisdiction_code, day, working, name) VALUES ($1, $2, $3, $4)
ON CONFLICT (jurisdiction_code, day) DO UPDATE SET working = EXCLUDED.working, name = EXCLUDED.name
RETURNING jurisdiction_code, day, working, name
"""

DELETE = """
DELETE FROM calendar_days WHERE jurisdiction_code = $1 AND day = $2
RETURNING jurisdiction_code, day, working, name
"""

JURISDICTION_EXISTS = "SELECT EXISTS (SELECT 1 FROM jurisdictions WHERE code = $1)"

KNOWN_JURISDICTIONS = "SELECT code FROM jurisdictions WHERE code = ANY($1::text[])"
