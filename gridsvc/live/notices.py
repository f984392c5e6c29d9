"""Per-recipient webhook notices: a squad's, grid head's or department's own forward of new
assignments.

When an event is dispatched (or transferred), every account that may see it in its inbox and
has a ``webhook_url`` gets a signed JSON notice there, so a county can relay assignments to
its messaging app. It runs on the job queue (:mod:`gridsvc.jobs`):

* a trigger on ``event_transitions`` queues a ``notices.fanout`` job for each dispatch or
  transfer, in the transaction of the change (migrations/008_jobs.sql);
* :func:`fan_out` (that job) writes one ``recipient_notices`` row per recipient, chosen by the
  same scope rule as the pages (:func:`gridsvc.auth.scope.event_visible`), and queues the
  delivery job of each, in one transaction;
* ``notices.deliver`` POSTs a notice with ``X-Timestamp`` / ``X-Signature`` (HMAC-SHA256 with
  the recipient's own secret, see ``GET /notices/secret``) and an ``Idempotency-Key``; a
  non-2xx answer is retried with backoff, in order per recipient, one notice in flight per
  recipient, until the attempts run out (dead) (:mod:`gridsvc.jobs.delivery`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

import asyncpg

from gridsvc.events.models import EventView, Viewer
from gridsvc.events.read import as_seen_by
from gridsvc.jobs import delivery
from gridsvc.live import views
from gridsvc.webhooks.signing import new_secret

log = logging.getLogger("gridsvc.notices")
NOTICES = delivery.Outbox(
    table="recipient_notices",
    destination="user_id",
    lane="user_id",
    entrypoint="notices.deliver",
    lock_class=0x6E6F74,
)
FANOUT = "notices.fanout"

TRANSITION = """
SELECT t.id AS transition_id, t.event_id, t.action, t.at, t.actor, t.note, t.data
FROM event_transitions t WHERE t.id = $1
"""
RECIPIENTS = """
SELECT u.id, u.name, u.role, u.grid_codes, u.squad_id, u.webhook_url, u.display_name,
       u.department_code, u.station_codes, u.township_codes
FROM users u
WHERE u.webhook_url IS NOT NULL AND NOT u.disabled
  AND u.role IN ('grid_head', 'squad', 'department')
ORDER BY u.id
"""
INSERT_NOTICE = """
INSERT INTO recipient_notices (event_id, user_id, transition_id, url, kind, payload,
                               idempotency_key)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (idempotency_key) DO NOTHING
RETURNING id
"""
LOAD = """
SELECT n.id, n.user_id, n.url, n.payload, n.idempotency_key, n.attempts, u.name AS recipient
FROM recipient_notices n JOIN users u ON u.id = n.user_id
WHERE n.id = $1
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

# transition action -> the notice's kind (a 重办 reaches the unit as a dispatch does)
NOTICE_KINDS = {
    "dispatch": ("dispatched", "派遣"),
    "transfer": ("transferred", "改派"),
    "redo": ("redo", "重办"),
    "whistle": ("whistle", "吹哨"),  # to the departments a whistle summons
}

PrincipalOf = Callable[[dict[str, Any]], Any]
Visible = Callable[[Any, EventView], bool]
# (principal, departments a whistle summons, its event) -> is the principal one of them?
Summoned = Callable[[Any, list[str], EventView], bool]


async def secret_of(connection: asyncpg.Connection | asyncpg.Pool, *, user_id: int) -> str:
    """The recipient's signing secret (made on first use)."""
    return str(await connection.fetchval(SECRET_OF, user_id, new_secret()))


def notice_payload(view: EventView, queued: asyncpg.Record) -> dict[str, Any]:
    """A recipient's notice of a dispatch, transfer or whistle, cut from the event's read
    model (as the recipient sees it: the caller masked, or None when confidential)."""
    summary = views.event_summary(view)
    kind, kind_zh = NOTICE_KINDS.get(queued["action"], ("dispatched", "派遣"))
    notice = {
        "kind": kind,
        "kind_zh": kind_zh,
        "event_id": view.id,
        "work_order_no": view.external_id,
        "title": view.title,
        "address": view.address,
        "matter": summary["matter_name"],
        "state": view.state,
        "state_zh": view.state_zh,
        "lat": view.lat,
        "lng": view.lng,
        "responsible": summary["responsible"],
        "squad_id": view.squad_id,
        "due_at": summary["sla"]["due_at"],
        "handle_due_at": summary["sla"]["handle_due_at"],
        "at": queued["at"],
        "by": queued["actor"],
        "note": queued["note"],
        "reporter": summary["reporter"],
        "inbox": "/inbox",
    }
    if kind == "whistle":
        # 吹哨: who is summoned, and by when each step is due
        data = _data(queued)
        notice["whistle"] = {
            k: data.get(k)
            for k in ("whistle_id", "township_code", "departments", "ack_due_at", "arrive_due_at")
        }
    return notice


def _data(queued: Mapping[str, Any]) -> dict[str, Any]:
    data = queued["data"] or {}
    return dict(json.loads(data) if isinstance(data, str) else data)


async def fan_out(
    connection: asyncpg.Connection,
    *,
    transition_id: int,
    principal_of: PrincipalOf,
    visible: Visible,
    summoned: Summoned | None = None,
) -> int:
    """The ``notices.fanout`` job: one notice per recipient who sees the event (of a
    whistle: per account of a summoned department, by ``summoned``), each with its delivery
    job, in one transaction; returns notices written (0 when run again)."""
    written = 0
    async with connection.transaction():
        queued = await connection.fetchrow(TRANSITION, transition_id)
        recipients = [dict(r) for r in await connection.fetch(RECIPIENTS)]
        if queued is None or not recipients:
            return 0
        found = await views.event_views(connection, [queued["event_id"]])
        if not found:
            return 0
        view = found[0]
        # The recipient sees the event as it is now; the notice says what happened.
        is_whistle = queued["action"] == "whistle"
        departments = list(_data(queued).get("departments") or []) if is_whistle else []
        for user in recipients:
            who = principal_of(user)
            if is_whistle:
                if summoned is None or not summoned(who, departments, view):
                    continue
            elif not visible(who, view):
                continue
            # the caller as this recipient may see it (stored so, listed so later)
            seen = as_seen_by(view, Viewer(role=user["role"], name=user["name"]))
            notice_id = await write_notice(
                connection,
                event_id=view.id,
                user=user,
                transition_id=transition_id,
                payload=notice_payload(seen, queued),
                key=f"notice:{user['id']}:{transition_id}",
            )
            written += notice_id is not None
    return written


async def write_notice(
    connection: asyncpg.Connection,
    *,
    event_id: int,
    user: Mapping[str, Any],
    transition_id: int,
    payload: dict[str, Any],
    key: str,
) -> int | None:
    """One notice to ``user``'s webhook (``payload["kind"]`` says what it is) and the job that
    delivers it, in the caller's transaction; None when ``key`` was written already. Every
    kind of notice (派遣/改派 fan-out, 督办) goes through here, so all share the same signing,
    order per recipient, retries and dead letters."""
    body = json.loads(json.dumps(payload, default=str))
    notice_id = await connection.fetchval(
        INSERT_NOTICE, event_id, user["id"], transition_id, user["webhook_url"], body["kind"], body, key
    )
    if notice_id is not None:
        await delivery.enqueue_message(connection, NOTICES, notice_id)
    return int(notice_id) if notice_id is not None else None


async def load(connection: asyncpg.Connection, notice_id: int) -> Mapping[str, Any]:
    """The notice as a try sends it, with the recipient's signing secret."""
    row = dict(await connection.fetchrow(LOAD, notice_id))
    row["secret"] = await secret_of(connection, user_id=row["user_id"])
    return row


async def retry(pool: asyncpg.Pool, *, notice_id: int) -> bool:
    """Send a dead notice again (pending, attempts reset, its job queued)."""
    async with pool.acquire() as connection:
        return await delivery.retry_dead(connection, NOTICES, notice_id)


async def list_notices(
    connection: asyncpg.Connection | asyncpg.Pool, *, event_id: int | None, user_id: int | None, limit: int
) -> list[dict[str, Any]]:
    return [dict(r) for r in await connection.fetch(LIST, event_id, user_id, limit)]
