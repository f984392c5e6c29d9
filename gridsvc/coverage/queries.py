"""SQL of the coverage domain. Values always travel as ``$n`` parameters."""

JURISDICTIONS_WITH_SQUADS = """
SELECT DISTINCT j.id, j.code FROM squads s JOIN jurisdictions j ON j.id = s.jurisdiction_id
WHERE j.boundary IS NOT NULL
ORDER BY j.code
"""

JURISDICTION_SQUADS = """
SELECT s.id, s.code, s.name, s.station FROM squads s
WHERE s.jurisdiction_id = $1 ORDER BY s.id
"""

CURRENT_RUN = """
SELECT r.id, r.signature, r.network_id, r.h3_resolution, r.computed_at, r.report
FROM coverage_runs r WHERE r.jurisdiction_id = $1 AND r.is_current
"""

# Serialises refreshes of one jurisdiction across processes.
LOCK_JURISDICTION = "SELECT pg_advisory_xact_lock(hashtext('gridsvc_coverage'), $1::int)"

RETIRE_RUNS = """
DELETE FROM coverage_runs WHERE jurisdiction_id = $1
"""

INSERT_RUN = """
INSERT INTO coverage_runs (jurisdiction_id, network_id, signature, h3_resolution, report)
VALUES ($1, $2, $3, $4, $5)
RETURNING id
"""

CELL_COLUMNS = ["run_id", "cell", "squad_id", "time_s", "distance_m", "offroad_m", "area_m2", "centre"]

RUN_INFO = """
SELECT r.id, j.code AS jurisdiction, r.computed_at, r.h3_resolution, r.network_id, r.report
FROM coverage_runs r JOIN jurisdictions j ON j.id = r.jurisdiction_id
WHERE r.is_current AND j.code = $1
"""

# $2 layer name, $3..$5 thresholds in seconds. A cell belongs to the grid containing its
# centre (cells are ~15,000 m² at resolution 10, so shares of area are shares of cells
# weighted by their exact areas).
PER_GRID = """
SELECT g.code, g.name, g.name_zh, g.squad_name,
       count(*) AS cells, sum(c.area_m2) AS area_m2,
       count(*) FILTER (WHERE c.time_s <= $3) AS cells_1,
       count(*) FILTER (WHERE c.time_s <= $4) AS cells_2,
       count(*) FILTER (WHERE c.time_s <= $5) AS cells_3,
       coalesce(sum(c.area_m2) FILTER (WHERE c.time_s <= $3), 0) AS area_1,
       coalesce(sum(c.area_m2) FILTER (WHERE c.time_s <= $4), 0) AS area_2,
       coalesce(sum(c.area_m2) FILTER (WHERE c.time_s <= $5), 0) AS area_3,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY c.time_s) AS median_s,
       max(c.time_s) AS max_s,
       (SELECT array_agg(s.code ORDER BY s.code) FROM squads s
        WHERE g.code = ANY (s.grid_codes)) AS squads
FROM coverage_runs r
JOIN jurisdictions j ON j.id = r.jurisdiction_id AND j.code = $1
JOIN coverage_cells c ON c.run_id = r.id
JOIN current_grids g ON g.layer = $2 AND g.jurisdiction_id = r.jurisdiction_id
     AND ST_Contains(g.geom, c.centre)
WHERE r.is_current
GROUP BY g.id, g.code, g.name, g.name_zh, g.squad_name
ORDER BY g.code
"""

TOTAL = """
SELECT count(*) AS cells, sum(c.area_m2) AS area_m2,
       count(*) FILTER (WHERE c.time_s <= $2) AS cells_1,
       count(*) FILTER (WHERE c.time_s <= $3) AS cells_2,
       count(*) FILTER (WHERE c.time_s <= $4) AS cells_3,
       coalesce(sum(c.area_m2) FILTER (WHERE c.time_s <= $2), 0) AS area_1,
       coalesce(sum(c.area_m2) FILTER (WHERE c.time_s <= $3), 0) AS area_2,
       coalesce(sum(c.area_m2) FILTER (WHERE c.time_s <= $4), 0) AS area_3,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY c.time_s) AS median_s,
       max(c.time_s) AS max_s
FROM coverage_runs r
JOIN jurisdictions j ON j.id = r.jurisdiction_id AND j.code = $1
JOIN coverage_cells c ON c.run_id = r.id
WHERE r.is_current
"""

MAP_CELLS = """
SELECT c.cell, c.time_s, c.distance_m, s.code AS squad_code, s.name AS squad_name
FROM coverage_runs r
JOIN jurisdictions j ON j.id = r.jurisdiction_id
JOIN coverage_cells c ON c.run_id = r.id
LEFT JOIN squads s ON s.id = c.squad_id
WHERE r.is_current AND ($1::text IS NULL OR j.code = $1)
"""

MAP_SQUADS = """
SELECT s.code, s.name, s.name_zh, s.station, s.station_name, s.station_rule, s.status
FROM squads s LEFT JOIN jurisdictions j ON j.id = s.jurisdiction_id
WHERE $1::text IS NULL OR j.code = $1
ORDER BY s.code
"""

COVERED_JURISDICTIONS = """
SELECT j.code FROM coverage_runs r JOIN jurisdictions j ON j.id = r.jurisdiction_id
WHERE r.is_current ORDER BY j.code
"""
