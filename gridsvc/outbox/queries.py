"""SQL of the feedback outbox."""

# The next message of each event (nothing earlier for that event still pending or dead: order
# per event is kept), due now; rows another sender holds are skipped.
CLAIM = """
SELECT o.id, o.event_id, o.kind, o.payload, o.idempotency_key, o.attempts,
       i.name AS integration, i.callback_url, i.secret
FROM outbox o JOIN integrations i ON i.id = o.integration_id
WHERE o.status = 'pending' AND o.next_attempt_at <= now()
  AND NOT EXISTS (SELECT 1 FROM outbox p
                  WHERE p.event_id = o.event_id AND p.id < o.id AND p.status <> 'delivered')
ORDER BY o.id
LIMIT $1
FOR UPDATE OF o SKIP LOCKED
"""

DELIVERED = """
UPDATE outbox SET status = 'delivered', attempts = attempts + 1, delivered_at = now(),
    last_error = NULL
WHERE id = $1
"""

FAILED = """
UPDATE outbox SET attempts = attempts + 1, last_error = $2,
    status = CASE WHEN attempts + 1 >= $3 THEN 'dead' ELSE 'pending' END,
    next_attempt_at = now() + make_interval(secs => $4)
WHERE id = $1
"""

LIST = """
SELECT o.id, o.event_id, o.kind, o.payload, o.idempotency_key, o.status, o.attempts,
       o.next_attempt_at, o.last_error, o.created_at, o.delivered_at, i.name AS integration
FROM outbox o JOIN integrations i ON i.id = o.integration_id
WHERE ($1::text IS NULL OR o.status = $1) AND ($2::bigint IS NULL OR o.event_id = $2)
  AND ($4::bigint IS NULL OR o.integration_id = $4)
ORDER BY o.id DESC
LIMIT $3
"""

RETRY = """
UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = now(), last_error = NULL
WHERE id = $1 AND status = 'dead' RETURNING id
"""

STATS = """
SELECT count(*) FILTER (WHERE status = 'pending') AS pending,
       count(*) FILTER (WHERE status = 'dead') AS dead,
       count(*) FILTER (WHERE status = 'delivered') AS delivered,
       extract(epoch FROM now() - min(created_at) FILTER (WHERE status = 'pending'))
           AS oldest_pending_s
FROM outbox
WHERE ($1::bigint IS NULL OR integration_id = $1)
"""
