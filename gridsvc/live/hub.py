"""The live hub of one app process: NOTIFY from PostgreSQL, fanned out to SSE subscribers.

Every process behind the public address hears, through its one
:class:`~gridsvc.listener.Listener`, ``gridsvc_events`` (the events table's trigger:
``{"id", "state", "op"}``) and ``gridsvc_squads`` (squads and their AVL positions,
``squad:<id>`` / ``position:<id>``). A change committed through any process therefore
reaches the pages connected to every process. When the listener lost its connection (a
database restart, a terminated backend), whatever was notified meanwhile is gone: on the
resync the hub tells every subscriber to ``resync`` (reload), marks the gap for
``Last-Event-ID`` catch-up, and pushes the events changed since the listener was last
known alive, every squad and the counters, so a stream that stays open is current again.

Notifications are coalesced and handled by one worker task, in order: the events named since
the last round are read in one query, each summary is offered to every subscriber whose
principal may see it (a grid head only gets the events of its grids; an event that leaves a
subscriber's scope is sent as ``removed``), and the counter strip is recomputed once per
round for the operators. Each message has an id ``<boot>.<seq>``; a reconnecting client that
sends ``Last-Event-ID`` gets what it missed from a ring buffer, or ``resync`` (reload) when the
id is from another process or too old.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import orjson
from sse_starlette import ServerSentEvent

from gridsvc.events.models import EventView
from gridsvc.listener import Gap, Listener
from gridsvc.live import views

log = logging.getLogger("gridsvc.live")
EVENTS_CHANNEL = "gridsvc_events"
SQUADS_CHANNEL = "gridsvc_squads"
NOTICES_CHANNEL = "gridsvc_notices"
OPERATOR_ROLES = frozenset({"admin", "operator"})
CATCH_UP_S = 120.0  # changes are still built this long after the last page left (catch-up)
# Read back this much before the listener was last known alive: a transaction stamps
# updated_at when it starts but notifies when it commits.
RESYNC_MARGIN = timedelta(seconds=30)
RESYNC_MAX_EVENTS = 2000  # more changed than this: pages reload, streams are not replayed

Visible = Callable[[Any, EventView], bool]


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


class _Message(ServerSentEvent):
    """An SSE message written out once, however many streams send it (sse-starlette writes
    a message out on every send)."""

    written: bytes | None = None

    def encode(self) -> bytes:
        if self.written is None:
            self.written = super().encode()
        return self.written


def encode(name: str, data: dict[str, Any], message_id: str | None = None) -> ServerSentEvent:
    """One SSE message (``data`` is one line of JSON), written out by sse-starlette."""
    body = orjson.dumps(data, default=_default, option=orjson.OPT_NON_STR_KEYS).decode()
    return _Message(body, event=name, id=message_id, sep="\n")


@dataclass(eq=False)
class Subscriber:
    principal: Any
    queue: asyncio.Queue[ServerSentEvent] = field(default_factory=lambda: asyncio.Queue(maxsize=2000))
    seen: set[int] = field(default_factory=set)
    overflowed: bool = False

    @property
    def operator(self) -> bool:
        return getattr(self.principal, "role", None) in OPERATOR_ROLES

    def put(self, message: ServerSentEvent) -> None:
        if self.overflowed:
            return
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:  # a client that stopped reading: tell it to reload
            self.overflowed = True
            while not self.queue.empty():
                self.queue.get_nowait()
            self.queue.put_nowait(encode("resync", {"reason": "too far behind"}))


@dataclass
class _Sent:
    seq: int
    name: str
    data: dict[str, Any]
    view: EventView | None  # the event's read model, for the scope check; None: operators only
    # the message, encoded once for every subscriber that may see it (50 pages open at 200
    # work orders a second would otherwise encode ~10,000 messages a second)
    encoded: ServerSentEvent | None = None

    def message(self, boot: str) -> ServerSentEvent:
        if self.encoded is None:
            self.encoded = encode(self.name, self.data, f"{boot}.{self.seq}")
        return self.encoded


class LiveHub:
    """LISTEN/NOTIFY -> subscribers, for one app process."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        listener: Listener,
        *,
        visible: Visible,
        stale_after_s: float,
        history: int = 1000,
        catch_up_s: float = CATCH_UP_S,
    ) -> None:
        self._pool = pool
        self._visible = visible
        self._stale_after_s = stale_after_s
        self.boot = secrets.token_hex(4)
        self.subscribers: set[Subscriber] = set()
        self._seq = 0
        self._history: deque[_Sent] = deque(maxlen=history)
        self._pending_events: dict[int, str] = {}
        self._pending_squads: set[int] = set()
        self._squads_all = False
        self._wake = asyncio.Event()
        self._worker: asyncio.Task[None] | None = None
        self._lost_through = 0  # messages up to this seq were never built (no subscribers)
        self._last_listened = time.monotonic()
        self._catch_up_s = catch_up_s
        self.closing = False
        self.notifications = 0  # how many NOTIFYs this process heard (for tests / health)
        self.resyncs = 0  # how many times the listener came back after a loss
        listener.on(EVENTS_CHANNEL, self._on_event)
        listener.on(SQUADS_CHANNEL, self._on_squad)
        listener.on_resync(self._resync)

    # -- lifecycle ------------------------------------------------------------------

    async def start(self) -> None:
        self._worker = asyncio.create_task(self._run())

    async def stop(self) -> None:
        self.closing = True
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
        for subscriber in list(self.subscribers):
            subscriber.put(encode("bye", {"reason": "server stopping"}))

    async def _resync(self, gap: Gap) -> None:
        """The listener is back after a loss: NOTIFYs in between were never heard."""
        self.resyncs += 1
        # Pages reload; a Last-Event-ID from before the gap gets ``resync`` too.
        self._seq += 1
        self._lost_through = self._seq
        self._history.clear()
        self.broadcast_resync("live updates were interrupted (database connection lost)")
        if gap.alive_at is None:
            return
        changed = await views.changed_event_ids(
            self._pool, since=gap.alive_at - RESYNC_MARGIN, limit=RESYNC_MAX_EVENTS + 1
        )
        if len(changed) <= RESYNC_MAX_EVENTS:
            for event_id in changed:
                self._pending_events.setdefault(event_id, "UPDATE")
        self._squads_all = True
        self._wake.set()

    # -- notifications --------------------------------------------------------------

    def _on_event(self, payload: str) -> None:
        self.notifications += 1
        try:
            data = json.loads(payload)
            event_id = int(data["id"])
        except (ValueError, KeyError, TypeError):
            log.warning("live hub: unreadable %s payload %r", EVENTS_CHANNEL, payload)
            return
        op = str(data.get("op") or "UPDATE")
        self._pending_events[event_id] = "INSERT" if self._pending_events.get(event_id) == "INSERT" else op
        self._wake.set()

    def _on_squad(self, payload: str) -> None:
        self.notifications += 1
        kind, _, squad_id = payload.partition(":")
        if squad_id.isdigit():
            self._pending_squads.add(int(squad_id))
        else:
            self._squads_all = True
        self._wake.set()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            events, self._pending_events = self._pending_events, {}
            squads, self._pending_squads = self._pending_squads, set()
            squads_all, self._squads_all = self._squads_all, False
            if not self.subscribers and time.monotonic() - self._last_listened > self._catch_up_s:
                # Nobody has listened for a while (e.g. a busy intake process): read nothing,
                # but note the gap so that a page coming back with an older id reloads.
                self._seq += 1
                self._lost_through = self._seq
                self._history.clear()
                continue
            try:
                if events:
                    await self._push_events(events)
                if squads or squads_all:
                    await self._push_squads(None if squads_all else squads)
            except (OSError, asyncpg.PostgresError) as error:
                log.error("live hub: reading changes failed: %s", error)
                self.broadcast_resync("a change could not be read")
            except Exception:  # never let one bad row stop live updates
                log.exception("live hub: pushing changes failed")
            await asyncio.sleep(0.05)  # let a burst of notifications gather

    async def _push_events(self, changed: dict[int, str]) -> None:
        async with self._pool.acquire() as connection:
            found = await views.event_views(connection, sorted(changed), viewer=views.STREAM)
        # The events go out before the counters are read: the counter strip's queries grow
        # with the open desk and the history's tallies, and a new case on the map must not
        # wait for them (benchmarks/history.py: webhook -> stream at 5M events).
        for view in found:
            self.publish_event(view, op=changed.get(view.id, "UPDATE"))
        if self._has_operators():
            async with self._pool.acquire() as connection:
                counters = await views.counters(connection)
            self._publish("counters", counters, view=None)

    async def _push_squads(self, ids: set[int] | None) -> None:
        async with self._pool.acquire() as connection:
            if ids is None:
                rows = await views.squad_summaries(connection, stale_after_s=self._stale_after_s)
            else:
                rows = []
                for squad_id in sorted(ids):
                    rows += await views.squad_summaries(
                        connection, stale_after_s=self._stale_after_s, squad_id=squad_id
                    )
        for row in rows:
            self._publish("squad", row, view=None)

    def _has_operators(self) -> bool:
        return any(s.operator for s in self.subscribers)

    # -- fan-out --------------------------------------------------------------------

    def publish_event(self, view: EventView, *, op: str = "UPDATE") -> None:
        data = {"op": op, "event": views.event_summary(view)}
        self._seq += 1
        sent = _Sent(self._seq, "event", data, view)
        self._history.append(sent)
        for subscriber in list(self.subscribers):
            self._offer(subscriber, sent)

    def _publish(self, name: str, data: dict[str, Any], *, view: EventView | None) -> None:
        self._seq += 1
        sent = _Sent(self._seq, name, data, view)
        self._history.append(sent)
        for subscriber in list(self.subscribers):
            self._offer(subscriber, sent)

    def _offer(self, subscriber: Subscriber, sent: _Sent) -> None:
        if sent.view is None:
            if subscriber.operator:
                subscriber.put(sent.message(self.boot))
            return
        event_id = sent.view.id
        if self._may_see(subscriber, sent.view):
            subscriber.seen.add(event_id)
            subscriber.put(sent.message(self.boot))
        elif event_id in subscriber.seen:
            subscriber.seen.discard(event_id)
            subscriber.put(encode("removed", {"id": event_id}, f"{self.boot}.{sent.seq}"))

    def _may_see(self, subscriber: Subscriber, view: EventView) -> bool:
        try:
            return bool(self._visible(subscriber.principal, view))
        except Exception:  # a scope rule that fails must not leak the event
            log.exception("live hub: scope check failed")
            return False

    def broadcast_resync(self, reason: str) -> None:
        for subscriber in list(self.subscribers):
            subscriber.put(encode("resync", {"reason": reason}))

    # -- subscribers ----------------------------------------------------------------

    def subscribe(self, principal: Any, *, last_event_id: str | None = None) -> Subscriber:
        subscriber = Subscriber(principal)
        self.subscribers.add(subscriber)
        if last_event_id:
            self._catch_up(subscriber, last_event_id)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self.subscribers.discard(subscriber)
        self._last_listened = time.monotonic()

    def _catch_up(self, subscriber: Subscriber, last_event_id: str) -> None:
        boot, _, seq = last_event_id.partition(".")
        oldest = self._history[0].seq if self._history else self._seq + 1
        if boot != self.boot or not seq.isdigit() or int(seq) < oldest - 1 or int(seq) < self._lost_through:
            subscriber.put(encode("resync", {"reason": "missed updates: reload"}))
            return
        for sent in self._history:
            if sent.seq > int(seq):
                self._offer(subscriber, sent)

    def hello(self, subscriber: Subscriber) -> ServerSentEvent:
        return encode(
            "hello",
            {"boot": self.boot, "at": datetime.now(UTC), "role": getattr(subscriber.principal, "role", None)},
        )
