"""Per-recipient webhook notices: a squad's or grid head's own forward of new assignments.

When an event is dispatched (or transferred), every account that may see it in its inbox and
has a ``webhook_url`` gets a signed JSON notice there, so a county can relay assignments to
its messaging app. It works like the 12345 feedback outbox:

* a trigger queues each dispatch/transfer in the same transaction (``notice_queue``);
* the producer turns queued rows into ``recipient_notices`` rows, one per recipient, chosen
  by the same scope rule as the pages (:func:`gridsvc.auth.scope.event_visible`);
* the sender POSTs them with ``X-Timestamp`` / ``X-Signature`` (HMAC-SHA256 with the
  recipient's own secret, see ``GET /notices/secret``) and an ``Idempotency-Key``; a non-2xx
  answer is retried with backoff, in order per recipient, until the attempts run out (dead).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import asyncpg
import httpx

from gridsvc.background import HttpWorker
from gridsvc.events.models import EventView, Viewer
from gridsvc.events.read import as_seen_by
from gridsvc.live import views
from gridsvc.outbox.service import backoff_seconds
from gridsvc.settings import Settings
from gridsvc.webhooks.signing import new_secret, post_signed

log = logging.getLogger("gridsvc.notices")
CHANNEL = "gridsvc_notices"

CLAIM_QUEUE = """
SELECT q.transition_id, q.event_id, t.action, t.at, t.actor, t.note
FROM notice_queue q JOIN event_transitions t ON t.id = q.transition_id
ORDER BY q.transition_id
LIMIT $1
FOR UPDATE OF q SKIP LOCKED
"""
DELETE_QUEUED = "DELETE FROM notice_queue WHERE transition_id = ANY($1::bigint[])"
RECIPIENTS = """
SELECT u.id, u.name, u.role, u.grid_codes, u.squad_id, u.webhook_url, u.display_name
FROM users u
WHERE u.webhook_url IS NOT NULL AND NOT u.disabled AND u.role IN ('grid_head', 'squad')
ORDER BY u.id
"""
INSERT_NOTICE = """
INSERT INTO recipient_notices (event_id, user_id, transition_id, url, kind, payload,
                               idempotency_key)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (idempotency_key) DO NOTHING
"""
CLAIM_NOTICES = """
SELECT n.id, n.user_id, n.url, n.payload, n.idempotency_key, n.attempts, u.name AS recipient
FROM recipient_notices n JOIN users u ON u.id = n.user_id
WHERE n.status = 'pending' AND n.next_attempt_at <= now()
  AND NOT EXISTS (SELECT 1 FROM recipient_notices p
                  WHERE p.user_id = n.user_id AND p.id < n.id AND p.status <> 'delivered')
ORDER BY n.id
LIMIT $1
FOR UPDATE OF n SKIP LOCKED
"""
DELIVERED = """
UPDATE recipient_notices SET status = 'delivered', attempts = attempts + 1,
    delivered_at = now(), last_error = NULL
WHERE id = $1
"""
FAILED = """
UPDATE recipient_notices SET attempts = attempts + 1, last_error = $2,
    status = CASE WHEN attempts + 1 >= $3 THEN 'dead' ELSE 'pending' END,
    next_attempt_at = now() + make_interval(secs => $4)
WHERE id = $1
"""
# DO UPDATE (not DO NOTHING + SELECT): when another transaction is making the secret at the
# same moment, this waits for it and returns its secret instead of none at all.
SECRET_OF = """
INSERT INTO notice_secrets (user_id, secret) VALUES ($1, $2)
ON CONFLICT (user_id) DO UPDATE SET secret = notice_secrets.secret
RETURNING secret
"""
LIST = """
SELECT n.id, n.event_id, u.name AS recipient, n.url, n.kind, n.status, n.attempts,
       n.last_error, n.created_at, n.delivered_at, n.payload
FROM recipient_notices n JOIN users u ON u.id = n.user_id
WHERE ($1::bigint IS NULL OR n.event_id = $1) AND ($2::bigint IS NULL OR n.user_id = $2)
ORDER BY n.id DESC LIMIT $3
"""

PrincipalOf = Callable[[dict[str, Any]], Any]
Visible = Callable[[Any, EventView], bool]


async def secret_of(connection: asyncpg.Connection | asyncpg.Pool, *, user_id: int) -> str:
    """The recipient's signing secret (made on first use)."""
    return str(await connection.fetchval(SECRET_OF, user_id, new_secret()))


def notice_payload(view: EventView, queued: asyncpg.Record) -> dict[str, Any]:
    """A recipient's notice of a dispatch or transfer, cut from the event's read model (as
    the recipient sees it: the caller masked, or None when confidential)."""
    summary = views.event_summary(view)
    kind = "transferred" if queued["action"] == "transfer" else "dispatched"
    return {"kind": kind, "kind_zh": "改派" if kind == "transferred" else "派遣",
            "event_id": view.id, "work_order_no": view.external_id,
            "title": view.title, "address": view.address,
            "matter": summary["matter_name"], "state": view.state,
            "state_zh": view.state_zh, "lat": view.lat, "lng": view.lng,
            "responsible": summary["responsible"], "squad_id": view.squad_id,
            "due_at": summary["sla"]["due_at"], "handle_due_at": summary["sla"]["handle_due_at"],
            "at": queued["at"], "by": queued["actor"], "note": queued["note"],
            "reporter": summary["reporter"], "inbox": "/inbox"}


async def produce(connection: asyncpg.Connection, *, principal_of: PrincipalOf,
                  visible: Visible, batch: int = 100) -> int:
    """Turn queued dispatches into notices (one transaction); returns notices written."""
    written = 0
    async with connection.transaction():
        queued = await connection.fetch(CLAIM_QUEUE, batch)
        if not queued:
            return 0
        recipients = [dict(r) for r in await connection.fetch(RECIPIENTS)]
        if recipients:
            found = {v.id: v for v in await views.event_views(
                connection, sorted({q["event_id"] for q in queued}))}
            for row in queued:
                view = found.get(row["event_id"])
                if view is None:
                    continue
                # The recipient sees the event as it is now; the notice says what happened.
                for user in recipients:
                    if not visible(principal_of(user), view):
                        continue
                    # the caller as this recipient may see it (stored so, listed so later)
                    seen = as_seen_by(view, Viewer(role=user["role"], name=user["name"]))
                    payload = json.loads(json.dumps(notice_payload(seen, row), default=str))
                    status = await connection.execute(
                        INSERT_NOTICE, view.id, user["id"], row["transition_id"],
                        user["webhook_url"], payload["kind"], payload,
                        f"notice:{user['id']}:{row['transition_id']}")
                    written += status.endswith(" 1")
        await connection.execute(DELETE_QUEUED, [q["transition_id"] for q in queued])
    return written


async def deliver_due(connection: asyncpg.Connection, *, client: httpx.AsyncClient,
                      settings: Settings, batch: int = 20) -> int:
    """POST the notices due now; returns how many were tried."""
    async with connection.transaction():
        rows = await connection.fetch(CLAIM_NOTICES, batch)
        for row in rows:
            secret = await secret_of(connection, user_id=row["user_id"])
            error = await _post(client, row, secret)
            if error is None:
                await connection.execute(DELIVERED, row["id"])
            else:
                wait = backoff_seconds(row["attempts"] + 1, settings.outbox_backoff_max_s)
                await connection.execute(FAILED, row["id"], error[:500],
                                         settings.outbox_max_attempts, wait)
                log.warning("notice %s to %s failed: %s; next try in %.0f s", row["id"],
                            row["recipient"], error, wait)
    return len(rows)


async def _post(client: httpx.AsyncClient, row: asyncpg.Record, secret: str) -> str | None:
    return await post_signed(client, row["url"], secret=secret, payload=row["payload"],
                             idempotency_key=row["idempotency_key"],
                             headers={"X-Recipient": row["recipient"]})


async def list_notices(connection: asyncpg.Connection | asyncpg.Pool, *, event_id: int | None,
                       user_id: int | None, limit: int) -> list[dict[str, Any]]:
    return [dict(r) for r in await connection.fetch(LIST, event_id, user_id, limit)]


class NoticeSender(HttpWorker):
    """Producer + sender in one background worker: turns queued dispatches into notices for
    their recipients, then delivers what is due."""

    name = "notice sender"

    def __init__(self, pool: asyncpg.Pool, settings: Settings, *, principal_of: PrincipalOf,
                 visible: Visible) -> None:
        super().__init__(pool, channel=CHANNEL, idle_s=1.0)
        self._settings = settings
        self._principal_of = principal_of
        self._visible = visible

    async def work(self, connection: asyncpg.Connection) -> int:
        made = await produce(connection, principal_of=self._principal_of, visible=self._visible)
        tried = await deliver_due(connection, client=self.client, settings=self._settings)
        return made + tried
