"""SQL of the roads domain. Values always travel as ``$n`` parameters."""

_NETWORK_COLUMNS = """
n.id, n.cache_key, n.source_file, n.node_count, n.edge_count, n.report, n.imported_at,
n.jurisdiction_id, c.code AS clip_jurisdiction, o.code AS jurisdiction
"""

# Every current network (one per jurisdiction, and the installation's, jurisdiction NULL).
CURRENT_NETWORKS = f"""
SELECT {_NETWORK_COLUMNS}
FROM road_networks n
LEFT JOIN jurisdictions c ON c.id = n.clip_jurisdiction_id
LEFT JOIN jurisdictions o ON o.id = n.jurisdiction_id
WHERE n.is_current
ORDER BY n.jurisdiction_id NULLS FIRST
"""  # noqa: S608 - a constant column list, no values

# The network a jurisdiction's scenes and squads use: its own, else its nearest ancestor's
# (a city-wide network serves its counties), else the installation's (jurisdiction NULL).
# $1 the jurisdiction's code (NULL: the installation's network).
NETWORK_FOR = f"""
WITH RECURSIVE chain AS (
    SELECT id, parent_id, 0 AS depth FROM jurisdictions WHERE code = $1
    UNION ALL
    SELECT j.id, j.parent_id, chain.depth + 1
    FROM jurisdictions j JOIN chain ON j.id = chain.parent_id
    WHERE chain.depth < 10
)
SELECT {_NETWORK_COLUMNS}
FROM road_networks n
LEFT JOIN chain ON chain.id = n.jurisdiction_id
LEFT JOIN jurisdictions c ON c.id = n.clip_jurisdiction_id
LEFT JOIN jurisdictions o ON o.id = n.jurisdiction_id
WHERE n.is_current AND (chain.id IS NOT NULL OR n.jurisdiction_id IS NULL)
ORDER BY chain.depth NULLS LAST
LIMIT 1
"""  # noqa: S608 - a constant column list, no values

# Per jurisdiction: the network its scenes and squads use (NULL: none), as NETWORK_FOR.
NETWORK_BY_JURISDICTION = """
WITH RECURSIVE chain AS (
    SELECT id AS jurisdiction_id, id, parent_id, 0 AS depth FROM jurisdictions
    UNION ALL
    SELECT chain.jurisdiction_id, j.id, j.parent_id, chain.depth + 1
    FROM jurisdictions j JOIN chain ON j.id = chain.parent_id
    WHERE chain.depth < 10
)
SELECT j.id AS jurisdiction_id, j.code,
       coalesce(
           (SELECT n.id FROM chain JOIN road_networks n
                ON n.jurisdiction_id = chain.id AND n.is_current
            WHERE chain.jurisdiction_id = j.id ORDER BY chain.depth LIMIT 1),
           (SELECT n.id FROM road_networks n WHERE n.is_current AND n.jurisdiction_id IS NULL)
       ) AS network_id
FROM jurisdictions j
"""

# A jurisdiction's boundary, else the union of its descendants' (a city drawn as its counties).
DESCENDANTS_BOUNDARY = """
WITH RECURSIVE below AS (
    SELECT id, boundary, 0 AS depth FROM jurisdictions WHERE code = $1
    UNION ALL
    SELECT j.id, j.boundary, below.depth + 1
    FROM jurisdictions j JOIN below ON j.parent_id = below.id
    WHERE below.depth < 10
)
SELECT ST_Multi(ST_Union(boundary)) FROM below WHERE depth > 0 AND boundary IS NOT NULL
"""

INSERT_NETWORK = """
INSERT INTO road_networks (cache_key, source_file, clip_jurisdiction_id, node_count,
                           edge_count, report, is_current, jurisdiction_id)
VALUES ($1, $2, $3, $4, $5, $6, false, $7)
RETURNING id
"""

# Serialise two imports of one jurisdiction's roads (its first import has no row to lock).
LOCK_JURISDICTION = "SELECT pg_advisory_xact_lock(hashtext('gridsvc_roads'), coalesce($1::bigint, 0)::int)"

RETIRE_CURRENT = """
UPDATE road_networks SET is_current = false
WHERE is_current AND jurisdiction_id IS NOT DISTINCT FROM $1::bigint
RETURNING id
"""

DELETE_NODES = "DELETE FROM road_nodes WHERE network_id = ANY($1::bigint[])"
DELETE_EDGES = "DELETE FROM road_edges WHERE network_id = ANY($1::bigint[])"

MAKE_CURRENT = "UPDATE road_networks SET is_current = true WHERE id = $1"

NODE_COLUMNS = ["network_id", "node", "osm_id", "geom"]
EDGE_COLUMNS = [
    "network_id",
    "edge",
    "source",
    "target",
    "osm_way_id",
    "highway",
    "name",
    "oneway",
    "maxspeed_kmh",
    "speed_kmh",
    "speed_source",
    "urban",
    "length_m",
    "time_s",
    "geom",
]

# Rebuilding the compact cache from PostGIS (when its file is missing).
NETWORK_NODES = """
SELECT node, ST_X(geom) AS lng, ST_Y(geom) AS lat FROM road_nodes
WHERE network_id = $1 ORDER BY node
"""

NETWORK_EDGES = """
SELECT edge, source, target, time_s, length_m, oneway, highway, ST_AsBinary(geom) AS wkb
FROM road_edges WHERE network_id = $1 ORDER BY edge
"""

LIST_NETWORKS = """
SELECT n.id, n.source_file, n.node_count, n.edge_count, n.imported_at, n.is_current,
       j.code AS clip_jurisdiction
FROM road_networks n LEFT JOIN jurisdictions j ON j.id = n.clip_jurisdiction_id
ORDER BY n.id DESC
LIMIT $1
"""

# $6: the network ids to read (NULL: every current network).
EDGES_IN_BBOX = """
SELECT e.network_id, e.edge, e.source, e.target, e.osm_way_id, e.highway, e.name, e.oneway,
       e.maxspeed_kmh, e.speed_kmh, e.speed_source, e.urban, e.length_m, e.time_s, e.geom
FROM road_edges e JOIN road_networks n ON n.id = e.network_id AND n.is_current
WHERE e.geom && ST_MakeEnvelope($1, $2, $3, $4, 4326)
  AND ($6::bigint[] IS NULL OR n.id = ANY ($6::bigint[]))
ORDER BY e.network_id, e.edge
LIMIT $5
"""
