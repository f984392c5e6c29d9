"""SQL of 回访 and 重办. Values always travel as parameters."""

EVENT_OF_WORK_ORDER = "SELECT id FROM events WHERE integration_id = $1 AND external_id = $2"

REVISIT_COLUMNS = """
r.id, r.event_id, r.work_order_no, r.revisit_key, r.satisfaction, r.comment, r.visited_at,
r.received_at, r.outcome, r.reason, r.state_before, r.redo_count, r.handle_due_at,
r.declined_by, r.declined_at, r.decline_reason
"""

BY_KEY = f"""
SELECT {REVISIT_COLUMNS} FROM revisits r WHERE r.integration_id = $1 AND r.revisit_key = $2
"""  # noqa: S608 - a constant column list, no values

INSERT = f"""
WITH r AS (
    INSERT INTO revisits (event_id, integration_id, revisit_key, work_order_no, satisfaction,
                          comment, visited_at, outcome, reason, state_before, redo_count,
                          handle_due_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
    RETURNING *
)
SELECT {REVISIT_COLUMNS} FROM r
"""  # noqa: S608

SET_SATISFACTION = """
UPDATE events SET satisfaction = $2, satisfaction_comment = $3, revisited_at = $4,
    updated_at = now()
WHERE id = $1
"""

# 重办: back to the same unit, dispatched again, with a new handling deadline.
REOPEN = """
UPDATE events SET state = 'dispatched', suspended_from = NULL, stage = 'sign_for',
    stage_started_at = $2, due_at = $3, dispatched_at = $2, handle_due_at = $4,
    overdue_since = NULL, closed_at = NULL, redo_count = redo_count + 1, updated_at = now()
WHERE id = $1
RETURNING redo_count
"""

# The operator declines a reopening: the case is closed again, with the reason.
DECLINE = """
UPDATE events SET state = 'closed', suspended_from = NULL, stage = NULL, stage_started_at = $2,
    due_at = NULL, overdue_since = NULL, closed_at = $2, redo_count = greatest(redo_count - 1, 0),
    updated_at = now()
WHERE id = $1
RETURNING redo_count
"""

# The latest 重办 of a case or its refusal (an operator may decline a 重办 not declined yet).
LAST_REDO = """
SELECT t.id, t.action, t.at FROM event_transitions t
WHERE t.event_id = $1 AND t.action IN ('redo', 'decline_redo')
ORDER BY t.id DESC LIMIT 1
"""

MARK_DECLINED = """
UPDATE revisits SET declined_by = $2, declined_at = $3, decline_reason = $4
WHERE id = (SELECT id FROM revisits WHERE event_id = $1 AND outcome = 'reopened'
            ORDER BY id DESC LIMIT 1)
  AND declined_at IS NULL
"""

OF_EVENT = f"""
SELECT {REVISIT_COLUMNS} FROM revisits r WHERE r.event_id = $1 ORDER BY r.id
"""  # noqa: S608

LIST = f"""
SELECT {REVISIT_COLUMNS} FROM revisits r
WHERE ($1::text IS NULL OR r.satisfaction = $1)
  AND ($2::text IS NULL OR r.outcome = $2)
  AND ($3::timestamptz IS NULL OR r.received_at >= $3)
  AND ($4::timestamptz IS NULL OR r.received_at < $4)
  AND ($5::bigint IS NULL OR r.id < $5)
ORDER BY r.id DESC
LIMIT $6
"""  # noqa: S608

# The figures of a period (another issue turns them into 满意率 / 重办率).
SUMMARY = """
SELECT count(*) AS revisits,
       count(*) FILTER (WHERE satisfaction = 'satisfied') AS satisfied,
       count(*) FILTER (WHERE satisfaction = 'basically_satisfied') AS basically_satisfied,
       count(*) FILTER (WHERE satisfaction = 'dissatisfied') AS dissatisfied,
       count(*) FILTER (WHERE outcome = 'reopened') AS reopened,
       count(*) FILTER (WHERE declined_at IS NOT NULL) AS declined,
       count(DISTINCT event_id) AS cases
FROM revisits
WHERE ($1::timestamptz IS NULL OR received_at >= $1)
  AND ($2::timestamptz IS NULL OR received_at < $2)
"""
