"""SQL of the squads domain. Values always travel as ``$n`` parameters."""

LIST = """
SELECT s.id, s.code, s.name, s.name_zh, j.code AS jurisdiction, s.station, s.station_name,
       s.station_rule, s.station_source, s.grid_codes, s.size, s.status, s.status_reason,
       s.status_since, s.status_by, s.phone, s.updated_at,
       (SELECT count(*) FROM events e WHERE e.squad_id = s.id
          AND e.state IN ('dispatched', 'signed_for', 'on_scene'))::int AS open_cases
FROM squads s LEFT JOIN jurisdictions j ON j.id = s.jurisdiction_id
ORDER BY s.code
"""

BY_ID = """
SELECT s.id, s.code, s.name, s.name_zh, j.code AS jurisdiction, s.station, s.station_name,
       s.station_rule, s.station_source, s.grid_codes, s.size, s.status, s.status_reason,
       s.status_since, s.status_by, s.phone, s.updated_at,
       (SELECT count(*) FROM events e WHERE e.squad_id = s.id
          AND e.state IN ('dispatched', 'signed_for', 'on_scene'))::int AS open_cases
FROM squads s LEFT JOIN jurisdictions j ON j.id = s.jurisdiction_id
WHERE s.id = $1
"""

UPSERT = """
INSERT INTO squads (code, name, name_zh, jurisdiction_id, station, station_name, station_rule,
                    station_source, grid_codes, size, status, phone)
VALUES ($1, $2, $3, (SELECT id FROM jurisdictions WHERE code = $4),
        ST_SetSRID($5::geometry, 4326), $6, $7, $8, $9, $10, $11, $12)
ON CONFLICT (code) DO UPDATE SET
    name = EXCLUDED.name, name_zh = EXCLUDED.name_zh,
    jurisdiction_id = EXCLUDED.jurisdiction_id, station = EXCLUDED.station,
    station_name = EXCLUDED.station_name, station_rule = EXCLUDED.station_rule,
    station_source = EXCLUDED.station_source, grid_codes = EXCLUDED.grid_codes,
    size = EXCLUDED.size, status = EXCLUDED.status, phone = EXCLUDED.phone, updated_at = now()
RETURNING id, (xmax = 0) AS created
"""

INSERT = """
INSERT INTO squads (code, name, name_zh, jurisdiction_id, station, station_name, station_rule,
                    station_source, grid_codes, size, status, phone)
VALUES ($1, $2, $3, (SELECT id FROM jurisdictions WHERE code = $4),
        ST_SetSRID($5::geometry, 4326), $6, $7, $8, $9, $10, $11, $12)
RETURNING id
"""

# $2..: new values, NULL meaning "unchanged" (the API sends only what it was given); the
# status goes through SET_STATUS, which keeps its history.
UPDATE = """
UPDATE squads SET
    name = coalesce($2, name), name_zh = coalesce($3, name_zh),
    station = coalesce(ST_SetSRID($4::geometry, 4326), station),
    station_rule = CASE WHEN $4::geometry IS NULL THEN station_rule ELSE 'given' END,
    station_source = CASE WHEN $4::geometry IS NULL THEN station_source ELSE 'api' END,
    station_name = coalesce($5, station_name), grid_codes = coalesce($6, grid_codes),
    size = coalesce($7, size), phone = coalesce($8, phone), updated_at = now()
WHERE id = $1
RETURNING id
"""

DELETE = "DELETE FROM squads WHERE id = $1 RETURNING id"

ID_BY_CODE = "SELECT id FROM squads WHERE code = $1"

JURISDICTION_EXISTS = "SELECT EXISTS (SELECT 1 FROM jurisdictions WHERE code = $1)"

LOCK_SQUAD = "SELECT id FROM squads WHERE id = $1 FOR UPDATE"

LATEST_OBSERVED = """
SELECT max(observed_at) FROM squad_positions WHERE squad_id = $1 AND applied
"""

INSERT_POSITION = """
INSERT INTO squad_positions (squad_id, observed_at, device_time, received_at, geom,
                             source_crs, accuracy_m, applied)
VALUES ($1, $2, $3, $4, ST_SetSRID($5::geometry, 4326), $6, $7, $8)
RETURNING id
"""

# The latest applied position of every squad (or of one: $1 NULL means all).
LATEST_POSITIONS = """
SELECT DISTINCT ON (p.squad_id) p.squad_id, ST_X(p.geom) AS lng, ST_Y(p.geom) AS lat,
       p.observed_at, p.received_at, p.accuracy_m, p.source_crs
FROM squad_positions p
WHERE p.applied AND ($1::bigint IS NULL OR p.squad_id = $1)
ORDER BY p.squad_id, p.observed_at DESC
"""

TRACK = """
SELECT p.id, ST_X(p.geom) AS lng, ST_Y(p.geom) AS lat, p.observed_at, p.device_time,
       p.received_at, p.accuracy_m, p.source_crs, p.applied
FROM squad_positions p WHERE p.squad_id = $1
ORDER BY p.observed_at DESC, p.id DESC
LIMIT $2
"""

SQUADS_SIGNATURE = """
SELECT coalesce(string_agg(id::text || '@' || ST_AsText(station), ',' ORDER BY id), '')
FROM squads
"""

# Is the point ($1 lng, $2 lat) inside, or within $4 metres of, a jurisdiction (the one coded
# $3, or any when $3 is NULL)? ``bounded`` is false when no such jurisdiction has a
# boundary: then nothing can be checked. The && test (a box widened by $4 metres at that
# latitude, in degrees) lets the index skip far jurisdictions before the geography test.
NEAR_JURISDICTION = """
WITH p AS (SELECT ST_SetSRID(ST_MakePoint($1, $2), 4326) AS g),
j AS (SELECT boundary FROM jurisdictions WHERE boundary IS NOT NULL
      AND ($3::text IS NULL OR code = $3))
SELECT EXISTS (SELECT 1 FROM j) AS bounded,
       EXISTS (SELECT 1 FROM j, p
               WHERE j.boundary && ST_Expand(p.g, $4 / 111320.0
                                                  / greatest(cos(radians($2)), 0.01))
                 AND (ST_Covers(j.boundary, p.g)
                      OR ST_DWithin(j.boundary::geography, p.g::geography, $4))) AS near
"""

# A status change ($2 status, $3 reason, $4 actor) with its history row, in one statement;
# no row when the squad does not exist. PATCH /squads changes the status through it too.
SET_STATUS = """
WITH old AS (SELECT id, status FROM squads WHERE id = $1 FOR UPDATE),
changed AS (
    UPDATE squads s SET status = $2, status_reason = $3, status_by = $4, status_since = now(),
        updated_at = now()
    FROM old WHERE s.id = old.id
    RETURNING s.id
), logged AS (
    INSERT INTO squad_status_changes (squad_id, actor, from_status, to_status, reason)
    SELECT old.id, $4, old.status, $2, $3 FROM old
)
SELECT id FROM changed
"""

STATUS_HISTORY = """
SELECT at, actor, from_status, to_status, reason FROM squad_status_changes
WHERE squad_id = $1 ORDER BY id DESC LIMIT $2
"""

# Open cases per squad: the ones in its hands ($1: workload.ACTIVE_STATES).
OPEN_CASELOADS = """
SELECT squad_id, count(*)::int AS open_cases FROM events
WHERE squad_id IS NOT NULL AND state = ANY($1::text[])
GROUP BY squad_id
"""
