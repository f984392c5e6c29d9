"""SQL of the roads domain. Values always travel as ``$n`` parameters."""

CURRENT_NETWORK = """
SELECT n.id, n.cache_key, n.source_file, n.node_count, n.edge_count, n.report, n.imported_at,
       j.code AS clip_jurisdiction
FROM road_networks n LEFT JOIN jurisdictions j ON j.id = n.clip_jurisdiction_id
WHERE n.is_current
"""

INSERT_NETWORK = """
INSERT INTO road_networks (cache_key, source_file, clip_jurisdiction_id, node_count,
                           edge_count, report, is_current)
VALUES ($1, $2, $3, $4, $5, $6, false)
RETURNING id
"""

# Lock the current row so two imports serialise instead of both becoming current.
LOCK_CURRENT = "SELECT id FROM road_networks WHERE is_current FOR UPDATE"

RETIRE_CURRENT = "UPDATE road_networks SET is_current = false WHERE is_current RETURNING id"

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

EDGES_IN_BBOX = """
SELECT e.edge, e.source, e.target, e.osm_way_id, e.highway, e.name, e.oneway, e.maxspeed_kmh,
       e.speed_kmh, e.speed_source, e.urban, e.length_m, e.time_s, e.geom
FROM road_edges e JOIN road_networks n ON n.id = e.network_id AND n.is_current
WHERE e.geom && ST_MakeEnvelope($1, $2, $3, $4, 4326)
ORDER BY e.edge
LIMIT $5
"""
