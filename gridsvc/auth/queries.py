"""SQL of the auth domain. Values always travel as ``$n`` parameters."""

USER_COLUMNS = """
u.id, u.name, u.role, u.grid_codes, u.squad_id, s.code AS squad_code,
u.integration_id, i.name AS integration, u.webhook_url, u.display_name, u.created_at,
u.disabled, u.department_code, u.station_codes, u.township_codes
"""

USER_BY_NAME = f"""
SELECT {USER_COLUMNS}
FROM users u LEFT JOIN squads s ON s.id = u.squad_id
     LEFT JOIN integrations i ON i.id = u.integration_id
WHERE u.name = $1
"""  # noqa: S608 - a constant column list, no values

LIST_USERS = f"""
SELECT {USER_COLUMNS}
FROM users u LEFT JOIN squads s ON s.id = u.squad_id
     LEFT JOIN integrations i ON i.id = u.integration_id
ORDER BY u.name
"""  # noqa: S608

INSERT_USER = """
INSERT INTO users (name, role, grid_codes, squad_id, integration_id, webhook_url, display_name,
                   department_code, station_codes, township_codes)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
RETURNING id
"""

SET_DISABLED = "UPDATE users SET disabled = $2 WHERE name = $1 RETURNING id"

SQUAD_BY_CODE = "SELECT id FROM squads WHERE code = $1"
INTEGRATION_BY_NAME = "SELECT id FROM integrations WHERE name = $1"
DEPARTMENT_EXISTS = "SELECT EXISTS (SELECT 1 FROM departments WHERE code = $1)"

# Which of the given codes are not current grids of ``layer`` ($2): a department's stations
# (specialist:<code>) or townships (enforcement).
UNKNOWN_GRIDS = """
SELECT c.code FROM unnest($1::text[]) AS c(code)
WHERE NOT EXISTS (SELECT 1 FROM current_grids g WHERE g.layer = $2 AND g.code = c.code)
ORDER BY c.code
"""

# Which of the given codes are not current community grids.
UNKNOWN_COMMUNITY_GRIDS = """
SELECT c.code FROM unnest($1::text[]) AS c(code)
WHERE NOT EXISTS (SELECT 1 FROM current_grids g WHERE g.layer = 'community' AND g.code = c.code)
ORDER BY c.code
"""

INSERT_TOKEN = """
INSERT INTO api_tokens (user_id, token_hash, token_prefix, label) VALUES ($1, $2, $3, $4)
RETURNING id, token_prefix, label, created_at
"""

TOKENS_OF_USERS = """
SELECT user_id, id, token_prefix, label, created_at, last_used_at, revoked_at
FROM api_tokens WHERE user_id = ANY($1::bigint[]) ORDER BY id
"""

TOKENS_BY_PREFIX = """
SELECT t.id, t.token_prefix, t.revoked_at, u.name AS user
FROM api_tokens t JOIN users u ON u.id = t.user_id
WHERE t.token_prefix LIKE $1 || '%' AND t.revoked_at IS NULL
ORDER BY t.id
"""

REVOKE_TOKEN = """
UPDATE api_tokens t SET revoked_at = coalesce(t.revoked_at, now())
FROM users u WHERE t.id = $1 AND u.id = t.user_id
RETURNING t.id, t.token_prefix, t.label, t.created_at, t.last_used_at, t.revoked_at,
          u.name AS user
"""

# The account behind a token hash, in one round trip: the token's last_used_at is written
# only when it is older than a minute, so a busy phone does not turn every read into a write.
PRINCIPAL_BY_TOKEN = """
WITH found AS (
    SELECT t.id AS token_id, t.revoked_at, t.last_used_at, u.id AS user_id, u.name, u.role,
           u.grid_codes, u.squad_id, u.integration_id, i.name AS integration,
           i.active AS integration_active, u.webhook_url, u.display_name, u.disabled,
           u.department_code, u.station_codes, u.township_codes
    FROM api_tokens t JOIN users u ON u.id = t.user_id
         LEFT JOIN integrations i ON i.id = u.integration_id
    WHERE t.token_hash = $1
), touched AS (
    UPDATE api_tokens SET last_used_at = now()
    WHERE id = (SELECT token_id FROM found WHERE revoked_at IS NULL AND NOT disabled)
      AND (last_used_at IS NULL OR last_used_at < now() - make_interval(secs => $2))
)
SELECT * FROM found
"""

# What the scope rules need of one event (scoped roles only; operators skip this).
EVENT_SCOPE = """
SELECT id, squad_id, integration_id, grids, responsible_kind, responsible_code, reported_by
FROM events WHERE id = $1
"""

# The grids of several events (a department's whistles: is the scene in its areas?).
EVENT_GRIDS = "SELECT id, grids FROM events WHERE id = ANY($1::bigint[])"

OUTBOX_INTEGRATION = "SELECT integration_id FROM outbox WHERE id = $1"

# The jurisdictions a field account works in: those of its grids ($1) or its squad ($2; a
# squad of no jurisdiction: where its station lies), and their ancestors (coverage is kept for
# the county its squads belong to).
SCOPE_JURISDICTIONS = """
WITH RECURSIVE own AS (
    SELECT g.jurisdiction_id AS id FROM current_grids g WHERE g.code = ANY ($1::text[])
    UNION
    SELECT s.jurisdiction_id FROM squads s WHERE s.id = $2 AND s.jurisdiction_id IS NOT NULL
    UNION
    SELECT j.id FROM squads s JOIN jurisdictions j ON ST_Covers(j.boundary, s.station)
    WHERE s.id = $2 AND s.jurisdiction_id IS NULL
), up AS (
    SELECT j.id, j.parent_id, j.code, 0 AS depth FROM jurisdictions j JOIN own ON own.id = j.id
    UNION
    SELECT p.id, p.parent_id, p.code, up.depth + 1
    FROM jurisdictions p JOIN up ON p.id = up.parent_id
    WHERE up.depth < 10
)
SELECT DISTINCT code FROM up ORDER BY code
"""
