"""The app's live ETA state: the road graphs, every squad's origin, trees kept warm.

Each app process holds one :class:`EtaHolder`. It loads every current road network (one per
jurisdiction that has its own, see migration 021) at startup (off the event loop; with no
roads the app still starts and ``/eta`` answers 503), the
squads and their latest positions, and listens for NOTIFY on ``gridsvc_roads`` (a road
import: reload the graph) and ``gridsvc_squads`` (a squad changed or a position came in,
possibly through another process), both through the process's one
:class:`~gridsvc.listener.Listener`, which asks for a resync (graph and squads re-read)
after a lost connection. Shortest-path trees for the squads' current road
edges are computed in a worker thread as soon as a squad moves, so an event finds them.

A squad is computed on its jurisdiction's network (its own, else its nearest ancestor's,
else the installation's); a scene on the network of the jurisdiction it lies in (the deepest
boundary containing it), so a scene is answered by the squads on its network only.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import asyncpg
import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from gridsvc.eta.engine import EtaEngine, Origins, engine_for
from gridsvc.eta.snap import Snap, reachable
from gridsvc.jurisdictions import service as jurisdictions
from gridsvc.listener import Gap, Listener
from gridsvc.roads.service import current_networks, load_graph, networks_by_jurisdiction
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
    jurisdiction: str | None = None
    network_id: int | None = None


@dataclass
class NetworkState:
    """One loaded road network: its engine, the squads computed on it, their origins."""

    network: dict[str, Any]
    engine: EtaEngine
    squads: dict[int, SquadOrigin]
    origins: tuple[tuple[Any, ...], Origins] | None = None


class CoverageRefresh(Protocol):
    def __call__(
        self, connection: asyncpg.Connection, *, settings: Settings, engines: Mapping[str, EtaEngine]
    ) -> Awaitable[Any]: ...


_LEVEL_DEPTH = {"province": 0, "city": 1, "county": 2, "township": 3}


def _default(states: dict[int, NetworkState]) -> NetworkState | None:
    """The installation's network (jurisdiction NULL), else the only one."""
    unowned = [st for st in states.values() if st.network["jurisdiction_id"] is None]
    if unowned:
        return unowned[0]
    return next(iter(states.values())) if len(states) == 1 else None


def _state_for(
    states: dict[int, NetworkState], network_of: dict[str, int | None], jurisdiction: str | None
) -> NetworkState | None:
    """The network a jurisdiction uses (unknown or no jurisdiction: the default)."""
    if jurisdiction is None or jurisdiction not in network_of:
        return _default(states)
    network_id = network_of[jurisdiction]
    return states.get(network_id) if network_id is not None else None


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
        self.states: dict[int, NetworkState] = {}  # by network id
        self.network_of: dict[str, int | None] = {}  # jurisdiction code -> network id
        self._areas: list[tuple[int, str, BaseGeometry]] = []  # (depth, code, boundary)
        self.squads: dict[int, SquadOrigin] = {}
        # the newest ping this process applied per squad: a reload reads positions from the
        # database first and publishes later, so a ping applied in between (or one for a
        # squad this process has not loaded yet) is applied again on publishing, not lost
        self._pings: dict[int, dict[str, Any]] = {}
        self.unavailable = "the road graph is still loading"
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
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

    @property
    def default(self) -> NetworkState | None:
        """The installation's network (jurisdiction NULL), else the only one loaded."""
        return _default(self.states)

    @property
    def engine(self) -> EtaEngine | None:
        """The default network's engine (see :attr:`default`)."""
        state = self.default
        return state.engine if state else None

    @property
    def network(self) -> dict[str, Any] | None:
        state = self.default
        return state.network if state else None

    def state_for(self, jurisdiction: str | None) -> NetworkState | None:
        """The network a jurisdiction's squads and scenes use (None: the default)."""
        return _state_for(self.states, self.network_of, jurisdiction)

    def jurisdiction_at(self, lng: float, lat: float) -> str | None:
        """The deepest jurisdiction whose boundary contains the point, else None."""
        found = [(depth, code) for depth, code, area in self._areas if shapely.contains_xy(area, lng, lat)]
        return max(found)[1] if found else None

    def state_at(self, lng: float, lat: float, *, jurisdiction: str | None = None) -> NetworkState | None:
        """The network of a scene: that of ``jurisdiction`` when given, else of the
        jurisdiction it lies in; outside every boundary the default network, else the one
        with the nearest road."""
        code = jurisdiction or self.jurisdiction_at(lng, lat)
        if code is not None:
            return self.state_for(code)
        if (state := self.default) is not None or not self.states:
            return state
        x, y = np.array([lng]), np.array([lat])
        return min(self.states.values(), key=lambda st: float(st.engine.snapper.snap(x, y).offroad_m[0]))

    async def reload_graph(self) -> None:
        """Load every current network's compact graph (those unchanged are kept)."""
        async with self._lock:
            networks = await current_networks(self._pool)
            before = (dict(self.network_of), {k: st.network["cache_key"] for k, st in self.states.items()})
            self.network_of = dict(await networks_by_jurisdiction(self._pool))
            areas = []
            for row in await jurisdictions.boundaries(self._pool):
                shapely.prepare(row["boundary"])
                areas.append((_LEVEL_DEPTH.get(row["level"], 0), row["code"], row["boundary"]))
            self._areas = areas
            if not networks:
                self.states, self.squads = {}, {}
                self.unavailable = (
                    "no road network is loaded: import one with "
                    "`gridsvc roads import FILE` (or `gridsvc demo build`)"
                )
                return
            loaded = {st.network["cache_key"]: st for st in self.states.values()}
            states: dict[int, NetworkState] = {}
            for network in networks:
                known = loaded.get(network["cache_key"])
                if known is not None:
                    known.network = network
                    states[network["id"]] = known
                    continue
                graph = await load_graph(self._pool, cache_dir=self.settings.road_cache_dir, network=network)
                if graph is None:
                    continue
                engine = await asyncio.to_thread(engine_for, graph, self.settings)
                states[network["id"]] = NetworkState(network=network, engine=engine, squads={})
                log.info(
                    "road graph %s (%s) loaded: %d nodes, %d edges",
                    network["id"],
                    network["jurisdiction"] or "installation",
                    graph.node_count,
                    graph.edge_count,
                )
            after = (dict(self.network_of), {k: st.network["cache_key"] for k, st in states.items()})
            if after == before:
                return
            # squads are placed on the new networks before those are published: a scene is
            # never answered by a new network without its squads
            squads = await self._build_squads(states, self.network_of)
            self.states = states
            self._publish(squads)
        self._warm()
        self._schedule_coverage()

    async def reload_squads(self) -> None:
        """Re-read every squad and its latest position; snap each to its network's roads."""
        states = dict(self.states)
        squads = await self._build_squads(states, self.network_of)
        async with self._lock:
            if states.keys() == self.states.keys() and all(states[k] is self.states[k] for k in states):
                self._publish(squads)
        self._warm()
        self._schedule_coverage()

    def _publish(self, squads: dict[int, SquadOrigin]) -> None:
        self.squads = squads
        for network_id, state in self.states.items():
            state.squads = {i: s for i, s in squads.items() if s.network_id == network_id}
            state.origins = None
        for squad_id in self._pings.keys() & squads.keys():
            self._move(squad_id, self._pings[squad_id])

    async def _build_squads(
        self, states: dict[int, NetworkState], network_of: dict[str, int | None]
    ) -> dict[int, SquadOrigin]:
        rows = await squads_service.list_squads(self._pool)
        positions = await squads_service.latest_positions(self._pool)
        squads: dict[int, SquadOrigin] = {}
        groups: dict[int, list[dict[str, Any]]] = {}
        for row in rows:
            state = self._squad_state(states, network_of, row)
            if state is not None:
                groups.setdefault(state.network["id"], []).append(row)
        for network_id, members in groups.items():
            engine = states[network_id].engine
            station_snaps = await asyncio.to_thread(
                engine.snapper.snap,
                np.array([r["station"].x for r in members]),
                np.array([r["station"].y for r in members]),
            )
            for i, row in enumerate(members):
                squad = SquadOrigin(
                    id=row["id"],
                    code=row["code"],
                    name=row["name"],
                    name_zh=row["name_zh"],
                    status=row["status"],
                    station_lng=row["station"].x,
                    station_lat=row["station"].y,
                    station_snap=station_snaps.take([i]),
                    jurisdiction=row["jurisdiction"],
                    network_id=network_id,
                )
                if row["id"] in positions:
                    squad.live = self._live(engine, positions[row["id"]])
                squads[row["id"]] = squad
        self._flag_unreachable(squads.values())
        return squads

    def _schedule_coverage(self) -> None:
        """Recompute coverage soon (roads or squads changed); coalesces bursts of changes."""
        if self._coverage is None or self._coverage.done():
            self._coverage = asyncio.get_running_loop().create_task(self._refresh_coverage())
            self._tasks.add(self._coverage)
            self._coverage.add_done_callback(self._tasks.discard)

    async def _refresh_coverage(self) -> None:
        await asyncio.sleep(COVERAGE_DEBOUNCE_S)
        if not self.states or self._refresh_coverage_with is None:
            return
        engines = {st.network["cache_key"]: st.engine for st in self.states.values()}
        try:
            async with self._pool.acquire() as connection:
                # Skipped inside when the stored run already matches roads and stations.
                await self._refresh_coverage_with(connection, settings=self.settings, engines=engines)
        except Exception:  # coverage is a planning view; never take the app down for it
            log.exception("coverage refresh failed")

    def _squad_state(
        self, states: dict[int, NetworkState], network_of: dict[str, int | None], row: dict[str, Any]
    ) -> NetworkState | None:
        """A squad's network: its jurisdiction's. A squad of no jurisdiction is placed like a
        scene at its station (the jurisdiction the station lies in, the rule its scope follows),
        so that it keeps a network when several counties have one and none is the default."""
        if row["jurisdiction"] is not None:
            return _state_for(states, network_of, row["jurisdiction"])
        x, y = row["station"].x, row["station"].y
        code = self.jurisdiction_at(x, y)
        if code is not None:
            return _state_for(states, network_of, code)
        if (state := _default(states)) is not None or not states:
            return state
        lng, lat = np.array([x]), np.array([y])
        return min(states.values(), key=lambda st: float(st.engine.snapper.snap(lng, lat).offroad_m[0]))

    def _engine_of(self, squad: SquadOrigin | None) -> EtaEngine | None:
        state = self.states.get(squad.network_id) if squad and squad.network_id is not None else None
        return state.engine if state else None

    async def reload_position(self, squad_id: int) -> None:
        """Take one squad's latest applied position from the database."""
        squad = self.squads.get(squad_id)
        if self._engine_of(squad) is None:
            return
        found = await squads_service.latest_positions(self._pool, squad_id=squad_id)
        if squad_id in found:
            self.set_position(squad_id, found[squad_id])

    def set_position(self, squad_id: int, position: dict[str, Any]) -> None:
        """Move a squad to a newer applied position (older ones are ignored)."""
        kept = self._pings.get(squad_id)
        if kept is None or kept["observed_at"] < position["observed_at"]:
            self._pings[squad_id] = position
        if self._move(squad_id, position):
            self._warm()

    def _move(self, squad_id: int, position: dict[str, Any]) -> bool:
        """Whether the squad moved to ``position`` (it is known and the position newer)."""
        squad = self.squads.get(squad_id)
        engine = self._engine_of(squad)
        if engine is None or squad is None:
            return False
        if squad.live is not None and squad.live.observed_at >= position["observed_at"]:
            return False
        squad.live = self._live(engine, position)
        self._flag_unreachable([squad])
        return True

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
        state = self.state_at(lng, lat)
        engine = state.engine if state else None
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
                for state in list(self.states.values()):
                    squads = list(state.squads.values())
                    snaps = [s.station_snap for s in squads]
                    snaps += [s.live.snap for s in squads if s.live is not None]
                    snaps = [snap for snap in snaps if self.reachable(snap)]
                    if snaps:
                        await asyncio.to_thread(state.engine.origins, Snap.concat(snaps))
                if not self._warm_again:
                    return
        finally:
            self._warming = False

    # -- origins at a moment ---------------------------------------------------------

    def choose_origins(
        self, now: datetime, state: NetworkState | None = None
    ) -> list[tuple[SquadOrigin, str, str | None]]:
        """Per squad of ``state``'s network (default: every squad): (squad, 'live' or
        'station', why the station when it is)."""
        stale = self.settings.squad_position_stale_s
        chosen: list[tuple[SquadOrigin, str, str | None]] = []
        squads = self.squads if state is None else state.squads
        for squad in sorted(squads.values(), key=lambda s: s.id):
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

    async def origins(
        self, chosen: list[tuple[SquadOrigin, str, str | None]], state: NetworkState | None = None
    ) -> Origins:
        """``state``'s engine's prepared origins for these choices (cached until one
        changes); ``state`` defaults to the default network."""
        state = state or self.default
        if state is None:
            raise EtaUnavailable(self.unavailable)
        engine = state.engine
        key = (
            id(engine),
            *(
                (s.id, kind, s.live.observed_at if kind == "live" and s.live else None)
                for s, kind, _why in chosen
            ),
        )
        cached = state.origins
        if cached is not None and cached[0] == key:
            return cached[1]
        snap = Snap.concat(
            [s.live.snap if kind == "live" and s.live else s.station_snap for s, kind, _why in chosen]
        )
        if engine.ready(snap):
            prepared = engine.origins(snap)
        else:  # trees to compute: CPU-heavy, keep the loop free
            prepared = await asyncio.to_thread(engine.origins, snap)
        state.origins = (key, prepared)
        return prepared
