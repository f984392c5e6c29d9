"""The FastAPI application factory. Nothing connects at import time."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from starlette.middleware.gzip import GZipMiddleware

from gridsvc import errors
from gridsvc.attachments.api import router as attachments_router
from gridsvc.auth.api import router as auth_router
from gridsvc.auth.deps import authorise
from gridsvc.background import JobWorker
from gridsvc.calendar.api import router as calendar_router
from gridsvc.clock import SYSTEM, Clock
from gridsvc.coverage.api import router as coverage_router
from gridsvc.coverage.service import refresh_all as refresh_coverage
from gridsvc.database.embedded import resolve_database_url
from gridsvc.database.pool import create_pool
from gridsvc.delegations.api import router as delegations_router
from gridsvc.duban.api import router as duban_router
from gridsvc.eta.api import router as eta_router
from gridsvc.eta.live import EtaHolder
from gridsvc.events.api import router as events_router
from gridsvc.events.lifecycle import STAGE_OF_STATE, STATES
from gridsvc.geocode.api import router as geocode_router
from gridsvc.grids.api import router as grids_router
from gridsvc.grids.live_overlay import OverlayHolder
from gridsvc.health.api import router as health_router
from gridsvc.hotspots.api import router as hotspots_router
from gridsvc.inspections.api import router as inspections_router
from gridsvc.inspections.page import router as inspection_lists_page
from gridsvc.jsonsafe import JSONBodyGuard
from gridsvc.jurisdictions.api import router as jurisdictions_router
from gridsvc.listener import Listener
from gridsvc.live.api import new_hub
from gridsvc.live.api import router as live_router
from gridsvc.matters.api import router as matters_router
from gridsvc.observability.api import router as metrics_router
from gridsvc.observability.console import with_console_summary
from gridsvc.observability.logs import configure_logging
from gridsvc.observability.middleware import RequestContextMiddleware
from gridsvc.outbox.api import router as outbox_router
from gridsvc.pages.api import router as pages_router
from gridsvc.pages.dashboard import router as dashboard_router
from gridsvc.patrols.api import router as patrols_router
from gridsvc.patrols.flows import position_hook as patrol_position_hook
from gridsvc.reports.api import router as reports_router
from gridsvc.revisits.api import router as revisits_router
from gridsvc.roads.api import router as roads_router
from gridsvc.settings import Settings, get_settings
from gridsvc.squads.api import router as squads_router
from gridsvc.tiles.api import router as tiles_router
from gridsvc.webhooks.api import router as webhooks_router
from gridsvc.whistles.api import router as whistles_router

log = logging.getLogger("gridsvc")


def create_app(settings: Settings | None = None, *, clock: Clock | None = None) -> FastAPI:
    """``clock``: where the app reads the time (tests pass a FrozenClock; default: real)."""
    settings = settings or get_settings()
    app_clock: Clock = clock or SYSTEM
    configure_logging(
        settings.log_level,
        json_lines=settings.log_json,
        console=settings.log_console,
        log_dir=settings.log_dir,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        url = await asyncio.to_thread(resolve_database_url, settings)
        bouncer = settings.database_pgbouncer
        pool = await create_pool(
            url, min_size=settings.pool_min_size, max_size=settings.pool_max_size, pgbouncer=bouncer
        )
        # reads that may be a second stale go to the replica (gridsvc/database/replica.py)
        read_pool = pool
        if settings.database_replica_url:
            try:
                # min_size 0: a replica that is down does not keep the node from starting
                # (/health reports it; the reads routed to it fail until it is back)
                read_pool = await create_pool(
                    settings.database_replica_url,
                    min_size=0,
                    max_size=settings.pool_max_size,
                    pgbouncer=bouncer,
                )
            except BaseException:
                await pool.close()
                raise
        app.state.read_pool = read_pool
        # the process's one LISTEN connection (not a pool one); the holders and the hub
        # register their channels and resyncs on it before it connects. LISTEN needs a session
        # of its own, which a transaction-pooling PgBouncer does not keep: it may go direct.
        listen_url = settings.database_listen_url or url
        listener = Listener(
            listen_url,
            health_interval_s=settings.listener_health_interval_s,
            backoff_max_s=settings.listener_backoff_max_s,
        )
        app.state.listener = listener
        overlay = OverlayHolder(pool, listener)
        app.state.pool = pool
        app.state.overlay = overlay
        # roads / squads / ETA: the road graph loads off the event loop; no roads -> 503s
        app.state.eta = EtaHolder(pool, settings, listener, refresh_coverage=refresh_coverage)
        # callbacks, notices, SLA checks: pgqueuer jobs (gridsvc/background.py)
        jobs = JobWorker(listen_url, settings)  # pgqueuer LISTENs on its pool: direct too
        app.state.live = new_hub(app.state)  # LISTEN/NOTIFY -> SSE pages
        try:
            await listener.start()  # listening before the first loads: nothing falls between
            await overlay.start()
            await app.state.eta.start()
            await app.state.live.start()
            if settings.background_workers:
                await jobs.start()
            yield
        finally:
            if settings.background_workers:
                await jobs.stop()
            await app.state.live.stop()
            await app.state.eta.stop()
            await overlay.stop()
            await listener.stop()
            if read_pool is not pool:
                await read_pool.close()
            await pool.close()

    app = FastAPI(
        title="gridsvc",
        summary="Grid overlay, routing and dispatch for 综合行政执法 dispatch centres",
        version="0.1.0",
        lifespan=with_console_summary(lifespan, settings=settings, clock=app_clock),
        # Every route passes the access policy (gridsvc/auth/policy.py); a route without a
        # rule there is refused to everyone.
        dependencies=[Depends(authorise)],
    )
    app.state.settings = settings
    app.state.clock = app_clock
    # called after every stored AVL ping (squads know no patrols): patrol visits by dwell
    app.state.position_hooks = (patrol_position_hook,)
    # /metrics lists every lifecycle state and stage (observability, core, knows no events)
    app.state.event_states = tuple(STATES)
    app.state.event_stages = tuple(sorted(set(STAGE_OF_STATE.values())))
    errors.install(app)
    # JSON bodies: size checked before reading, nesting limited (inside the access log)
    app.add_middleware(
        JSONBodyGuard, max_body_bytes=settings.json_max_body_bytes, max_depth=settings.json_max_depth
    )
    # JSON, CSV and tiles gzipped for clients that take it: the operator's page loads ~340 KB
    # of events and queue JSON. Starlette skips text/event-stream (the live stream must not
    # be buffered) and answers that already carry a Content-Encoding (pre-gzipped statics).
    # zlib's default level: level 9 (Starlette's) took 3.4 ms for a 337 KB work-queue page, 6 takes
    # 2.1 ms for 2 % more bytes
    app.add_middleware(GZipMiddleware, minimum_size=settings.gzip_minimum_bytes, compresslevel=6)
    # request id, access log line and request metrics for every request
    app.add_middleware(RequestContextMiddleware)
    app.include_router(health_router)
    app.include_router(auth_router)
    app.include_router(metrics_router)
    app.include_router(grids_router)
    app.include_router(jurisdictions_router)
    app.include_router(roads_router)
    app.include_router(squads_router)
    app.include_router(eta_router)
    app.include_router(coverage_router)
    app.include_router(matters_router)
    app.include_router(delegations_router)
    app.include_router(duban_router)
    app.include_router(calendar_router)
    app.include_router(events_router)
    app.include_router(geocode_router)
    app.include_router(webhooks_router)
    app.include_router(revisits_router)
    app.include_router(outbox_router)
    app.include_router(whistles_router)
    app.include_router(hotspots_router)
    app.include_router(reports_router)
    app.include_router(patrols_router)
    app.include_router(inspections_router)
    app.include_router(inspection_lists_page)
    app.include_router(live_router)
    app.include_router(attachments_router)
    app.include_router(tiles_router)
    app.include_router(pages_router)
    app.include_router(dashboard_router)
    return app
