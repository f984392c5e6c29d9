"""The app's live ETA state: the road graph, every squad's origin, trees kept warm.

Each app process holds one :class:`EtaHolder`. It loads the current road graph at startup
(off the event loop; with no roads the app still starts and ``/eta`` answers 503), the
squads and their latest positions, and listens for NOTIFY on ``gridsvc_roads`` (a road
import: reload the graph) and ``gridsvc_squads`` (a squad changed or a position came in,
possibly through another process), both through the process's one
:class:`~gridsvc.listener.Listener`, which asks for a resync (graph and squads re-read)
after a lost connection. Shortest-path trees for the squads' current road
edges are computed in a worker thread as soon as a squad moves, so an event finds them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import asyncpg
import numpy as np

from gridsvc.eta.engine import EtaEngine, Origins, Snap, reachable
from gridsvc.listener import Gap, Listener
from gridsvc.roads.service import current_network, load_graph
from gridsvc.settings import Settings
from gridsvc.squads import service as squads_service

log = logging.getLogger("gridsvc.eta")
ROADS_CHANNEL = "gridsvc_roads"
SQUADS_CHANNEL = "gridsvc_squads"
COVERAGE_DEBOUNCE_S = 1.0


class EtaUnavailable(RuntimeError):
    """No road graph is loaded; the message says what to do."""


@dataclass
class LivePosition:
    lng: float
    lat: float
    observed_at: datetime
    accuracy_m: float | None
    snap: Snap


@dataclass
class SquadOrigin:
    """A squad as the ETA engine sees it: home station and latest applied position."""

    id: int
    code: str
    name: str
    name_zh: str | None
    status: str
    station_lng: float
    station_lat: float
    station_snap: Snap
    live: LivePosition | None = None


class CoverageRefresh(Protocol):
    def __call__(
        self, connection: asyncpg.Connection, *, settings: Settings, engine: EtaEngine
    ) -> Awaitable[Any]: ...


class EtaHolder:
    """Road graph + squads of one app process, reloaded on NOTIFY."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        settings: Settings,
        listener: Listener,
        *,
        refresh_coverage: CoverageRefresh | None = None,
    ) -> None:
        self._pool = pool
        # given by the app: coverage is computed from this package's engine, so eta must not
        # import coverage (no import cycle)
        self._refresh_coverage_with = refresh_coverage
        self.settings = settings
        self.engine: EtaEngine | None = None
        self.network: dict[str, Any] | None = None
        self.squads: dict[int, SquadOrigin] = {}
        self.unavailable = "the road graph is still loading"
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        self._origins: tuple[tuple[Any, ...], Origins] | None = None
        self._warming = False
        self._warm_again = False
        self._coverage: asyncio.Task[None] | None = None
        listener.on(ROADS_CHANNEL, self._on_roads)
        listener.on(SQUADS_CHANNEL, self._on_squads)
        listener.on_resync(self._resync)

    # -- lifecycle ------------------------------------------------------------------

    async def start(self) -> None:
        try:
            await self.reload_graph()
        except Exception:  # the app must start (and say why /eta is down) without roads
            log.exception("road graph failed to load")
            self.unavailable = "the road graph failed to load; see the server log"
        await self.reload_squads()

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _on_roads(self, _payload: str) -> None:
        self._spawn(self._guarded(self.reload_graph()))

    def _on_squads(self, payload: str) -> None:
        kind, _, squad_id = payload.partition(":")
        if kind == "position" and squad_id.isdigit():
            self._spawn(self._guarded(self.reload_position(int(squad_id))))
        else:
            self._spawn(self._guarded(self.reload_squads()))

    async def _resync(self, _gap: Gap) -> None:
        """After a lost LISTEN: road imports and squad changes may have been missed."""
        await self.reload_graph()  # a no-op when the network is unchanged
        await self.reload_squads()

    async def _guarded(self, coroutine: Any) -> None:
        try:
            await coroutine
        except Exception:  # keep serving what we have
            log.exception("ETA state reload failed")

    # -- loading --------------------------------------------------------------------

    async def reload_graph(self) -> None:
        """Load the current road network's compact graph (no-op when unchanged)."""
        async with self._lock:
            network = await current_network(self._pool)
            if network is None:
                self.engine, self.network = None, None
                self.unavailable = (
                    "no road network is loaded: import one with "
                    "`gridsvc roads import FILE` (or `gridsvc demo build`)"
                )
                return
            if self.network and self.network["cache_key"] == network["cache_key"]:
                return
            graph = await load_graph(self._pool, cache_dir=self.settings.road_cache_dir)
            if graph is None:
                return
            engine = await asyncio.to_thread(
                EtaEngine,
                graph,
                offroad_speed_kmh=self.settings.eta_offroad_speed_kmh,
                tree_capacity=self.settings.eta_tree_cache_size,
            )
            self.engine, self.network, self._origins = engine, network, None
            log.info(
                "road graph %s loaded: %d nodes, %d edges", network["id"], graph.node_count, graph.edge_count
            )
        await self.reload_squads()

    async def reload_squads(self) -> None:
        """Re-read every squad and its latest position; re-snap them to the roads."""
        rows = await squads_service.list_squads(self._pool)
        positions = await squads_service.latest_positions(self._pool)
        engine = self.engine
        squads: dict[int, SquadOrigin] = {}
        if engine is not None and rows:
            station_snaps = await asyncio.to_thread(
                engine.snapper.snap,
                np.array([r["station"].x for r in rows]),
                np.array([r["station"].y for r in rows]),
            )
            for i, row in enumerate(rows):
                squads[row["id"]] = SquadOrigin(
                    id=row["id"],
                    code=row["code"],
                    name=row["name"],
                    name_zh=row["name_zh"],
                    status=row["status"],
                    station_lng=row["station"].x,
                    station_lat=row["station"].y,
                    station_snap=station_snaps.take([i]),
                )
            for squad_id, position in positions.items():
                if squad_id in squads:
                    squads[squad_id].live = self._live(engine, position)
            self._flag_unreachable(squads.values())
        async with self._lock:
            if engine is self.engine:
                self.squads, self._origins = squads, None
        self._warm()
        self._schedule_coverage()

    def _schedule_coverage(self) -> None:
        """Recompute coverage soon (roads or squads changed); coalesces bursts of changes."""
        if self._coverage is None or self._coverage.done():
            self._coverage = asyncio.get_running_loop().create_task(self._refresh_coverage())
            self._tasks.add(self._coverage)
            self._coverage.add_done_callback(self._tasks.discard)

    async def _refresh_coverage(self) -> None:
        await asyncio.sleep(COVERAGE_DEBOUNCE_S)
        if self.engine is None or self._refresh_coverage_with is None:
            return
        try:
            async with self._pool.acquire() as connection:
                # Skipped inside when the stored run already matches roads and stations.
                await self._refresh_coverage_with(connection, settings=self.settings, engine=self.engine)
        except Exception:  # coverage is a planning view; never take the app down for it
            log.exception("coverage refresh failed")

    async def reload_position(self, squad_id: int) -> None:
        """Take one squad's latest applied position from the database."""
        engine = self.engine
        squad = self.squads.get(squad_id)
        if engine is None or squad is None:
            return
        found = await squads_service.latest_positions(self._pool, squad_id=squad_id)
        if squad_id in found:
            self.set_position(squad_id, found[squad_id])

    def set_position(self, squad_id: int, position: dict[str, Any]) -> None:
        """Move a squad to a newer applied position (older ones are ignored)."""
        engine, squad = self.engine, self.squads.get(squad_id)
        if engine is None or squad is None:
            return
        if squad.live is not None and squad.live.observed_at >= position["observed_at"]:
            return
        squad.live = self._live(engine, position)
        self._flag_unreachable([squad])
        self._warm()

    # -- origins with no road within reach (issue 13, D1) -------------------------------

    def reachable(self, snap: Snap) -> bool:
        """Whether a one-point snap has a road within ``squad_max_road_distance_m``."""
        return bool(reachable(snap, self.settings.squad_max_road_distance_m)[0])

    def _flag_unreachable(self, squads: Any) -> None:
        """Log the stations and positions (stored before checks, or by hand) that ETAs skip:
        the app keeps serving every other squad instead of failing to start."""
        for squad in squads:
            if not self.reachable(squad.station_snap):
                log.warning(
                    "squad %s: station (%s, %s) has no road within %g m; it is "
                    "'unreachable' in ETAs until its station is corrected",
                    squad.code,
                    squad.station_lat,
                    squad.station_lng,
                    self.settings.squad_max_road_distance_m,
                )
            if squad.live is not None and not self.reachable(squad.live.snap):
                log.warning(
                    "squad %s: position (%s, %s) has no road within %g m; it is "
                    "'unreachable' in ETAs until a good position comes in",
                    squad.code,
                    squad.live.lat,
                    squad.live.lng,
                    self.settings.squad_max_road_distance_m,
                )

    def road_distance_m(self, lng: float, lat: float) -> float | None:
        """Metres from a WGS84 point to the nearest road (inf: none within reach), or None
        when nothing can be checked: no road graph loaded, or the point lies beyond the
        graph's extent (a jurisdiction whose roads were not imported)."""
        engine = self.engine
        bounds = engine.snapper.bounds if engine is not None else None
        if engine is None or bounds is None:
            return None
        margin = self.settings.squad_max_road_distance_m / 111_320.0  # degrees of latitude
        margin_lng = margin / max(float(np.cos(np.radians(lat))), 0.01)
        west, south, east, north = bounds
        if not (west - margin_lng <= lng <= east + margin_lng and south - margin <= lat <= north + margin):
            return None
        return float(engine.snapper.snap(np.array([lng]), np.array([lat])).offroad_m[0])

    @staticmethod
    def _live(engine: EtaEngine, position: dict[str, Any]) -> LivePosition:
        snap = engine.snapper.snap(np.array([position["lng"]]), np.array([position["lat"]]))
        return LivePosition(
            lng=position["lng"],
            lat=position["lat"],
            observed_at=position["observed_at"],
            accuracy_m=position.get("accuracy_m"),
            snap=snap,
        )

    def _warm(self) -> None:
        """Compute missing trees for every squad's current origins in a worker thread."""
        if self._warming:
            self._warm_again = True
            return
        self._warming = True
        self._spawn(self._warm_loop())

    async def _warm_loop(self) -> None:
        try:
            while True:
                self._warm_again = False
                engine = self.engine
                if engine is None or not self.squads:
                    return
                snaps = [s.station_snap for s in self.squads.values()]
                snaps += [s.live.snap for s in self.squads.values() if s.live is not None]
                snaps = [snap for snap in snaps if self.reachable(snap)]
                await asyncio.to_thread(engine.origins, Snap.concat(snaps))
                if not self._warm_again:
                    return
        finally:
            self._warming = False

    # -- origins at a moment ---------------------------------------------------------

    def choose_origins(self, now: datetime) -> list[tuple[SquadOrigin, str, str | None]]:
        """Per squad: (squad, 'live' or 'station', why the station when it is)."""
        stale = self.settings.squad_position_stale_s
        chosen: list[tuple[SquadOrigin, str, str | None]] = []
        for squad in sorted(self.squads.values(), key=lambda s: s.id):
            if squad.live is None:
                chosen.append((squad, "station", "no position received"))
                continue
            age = (now - squad.live.observed_at).total_seconds()
            if age > stale:
                chosen.append(
                    (
                        squad,
                        "station",
                        f"last position is {age / 60:.1f} min old, older than the {stale / 60:.0f} min limit",
                    )
                )
            else:
                chosen.append((squad, "live", None))
        return chosen

    async def origins(self, chosen: list[tuple[SquadOrigin, str, str | None]]) -> Origins:
        """The engine's prepared origins for these choices (cached until one changes)."""
        engine = self.engine
        if engine is None:
            raise EtaUnavailable(self.unavailable)
        key = (
            id(engine),
            *(
                (s.id, kind, s.live.observed_at if kind == "live" and s.live else None)
                for s, kind, _why in chosen
            ),
        )
        cached = self._origins
        if cached is not None and cached[0] == key:
            return cached[1]
        snap = Snap.concat(
            [s.live.snap if kind == "live" and s.live else s.station_snap for s, kind, _why in chosen]
        )
        if engine.ready(snap):
            prepared = engine.origins(snap)
        else:  # trees to compute: CPU-heavy, keep the loop free
            prepared = await asyncio.to_thread(engine.origins, snap)
        self._origins = (key, prepared)
        return prepared
