"""ETAs over a customizable contraction hierarchy (CCH), the method for city-sized graphs.

Why (measured by ``benchmarks/eta.py --scenario city``, 2 cores, the 1M-node synthetic
graph, 300 squads): the per-node shortest-path trees of :mod:`gridsvc.eta.engine` answer an
event in well under a millisecond, but every squad that moves onto another edge needs a new
full search (~0.2-0.5 s and 8 MB each there), so 30 moves a second would need 6-14 cores and
300 squads' trees several GB per worker. A CCH (RoutingKit's, through ``routingkit-cch``)
answers "every pinned origin to this scene" in one sweep: a move only re-pins the origins
(well under a millisecond), memory is the hierarchy itself (shared by all squads), and the
result is exact on the hierarchy's integer weights. The cost moves to the event side (tens
of milliseconds on 1M nodes, sub-millisecond on a county), which is why small graphs keep
the trees (``GRIDSVC_ETA_METHOD=auto`` picks by node count).

Weights are integers in units of 0.1 ms (:data:`UNIT_S`): rounding each edge by at most
0.05 ms keeps whole routes within a fraction of a second of the float times, while RoutingKit's
32-bit distances still reach ~59 hours.

Nested-dissection order (inertial flow) is the expensive, metric-independent step (about two
minutes on 1M nodes): it is computed once per network and kept next to the graph's cache file.
"""

from __future__ import annotations

import logging
import os
import queue
import tempfile
import threading
import weakref
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import routingkit_cch as rk
from numpy.typing import NDArray

from gridsvc.roads.cache import RoadGraph

log = logging.getLogger(__name__)

T = TypeVar("T")

UNIT_S = 1e-4
"""Seconds per integer weight unit."""


def order_path(directory: Path, cache_key: str) -> Path:
    return directory / f"{cache_key}.cch-order.npy"


def _load_order(path: Path, node_count: int) -> list[int] | None:
    try:
        order = np.load(path, allow_pickle=False)
    except (FileNotFoundError, ValueError, OSError):
        return None
    if order.shape != (node_count,):
        return None
    return [int(x) for x in order]


def _save_order(path: Path, order: list[int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(handle, "wb") as stream:
        np.save(stream, np.asarray(order, dtype=np.int32))
    os.replace(temporary, path)


def _as_seconds(values: list[int | None]) -> NDArray[np.float64]:
    return np.fromiter(
        (np.inf if v is None else v * UNIT_S for v in values), dtype=np.float64, count=len(values)
    )


class _Owner:
    """A thread that owns the RoutingKit objects: the binding's query objects are
    *unsendable* (pyo3): used or dropped on any other thread than their creator's, they fail.
    Every call runs on this thread; the objects die with it when the index is dropped."""

    def __init__(self, build: Callable[[], dict[str, Any]]) -> None:
        self._jobs: queue.SimpleQueue[tuple[Callable[[dict[str, Any]], Any], Future[Any]] | None] = (
            queue.SimpleQueue()
        )
        ready: Future[None] = Future()
        threading.Thread(target=self._run, args=(build, ready), name="cch", daemon=True).start()
        ready.result()

    def _run(self, build: Callable[[], dict[str, Any]], ready: Future[None]) -> None:
        try:
            state = build()
        except BaseException as error:  # handed to the constructor's caller
            ready.set_exception(error)
            return
        ready.set_result(None)
        while (job := self._jobs.get()) is not None:
            function, future = job
            try:
                future.set_result(function(state))
            except BaseException as error:  # handed to the caller
                future.set_exception(error)
        state.clear()  # dropped here, on the thread that made them

    def call(self, function: Callable[[dict[str, Any]], T]) -> T:
        future: Future[T] = Future()
        self._jobs.put((function, future))
        return future.result()

    def close(self) -> None:
        self._jobs.put(None)


class CchIndex:
    """A CCH over one :class:`RoadGraph`, customised with its travel times.

    Arc ``i`` of the hierarchy is edge ``i`` of the graph, so paths come back as edge ids.
    Queries run one at a time on the index's own thread (see :class:`_Owner`).

    Parameters
    ----------
    graph : RoadGraph
    cache_dir : Path, optional
        Where the nested-dissection order is kept between processes (``<cache_key>.cch-order.npy``).
    """

    def __init__(self, graph: RoadGraph, *, cache_dir: Path | None = None) -> None:
        self.graph = graph
        tail = graph.edge_u.astype(np.int64).tolist()
        head = graph.edge_v.astype(np.int64).tolist()
        order = None
        path = order_path(cache_dir, graph.cache_key) if cache_dir and graph.cache_key else None
        if path is not None:
            order = _load_order(path, graph.node_count)
        if order is None:
            log.info("computing the CCH order of %s (%d nodes)", graph.cache_key, graph.node_count)
            order = rk.compute_order_inertial(
                graph.node_count, tail, head, graph.node_lat.tolist(), graph.node_lng.tolist()
            )
            if path is not None:
                _save_order(path, order)
        weights = np.maximum(np.rint(graph.edge_time / UNIT_S), 0).astype(np.int64).tolist()
        inputs = [order, tail, head, weights]
        del order, tail, head, weights

        def build() -> dict[str, Any]:
            # the Python lists (hundreds of MB on 1M nodes) are dropped once RoutingKit has them
            order, tail, head, weights = inputs
            inputs.clear()
            cch = rk.CCH(order, tail, head, False)
            del order, tail, head
            metric = rk.CCHMetric(cch, weights)
            return {"cch": cch, "metric": metric, "query": rk.CCHQuery(metric), "pinned": None, "m2o": None}

        self._owner = _Owner(build)
        weakref.finalize(self, self._owner.close)

    def pin(self, sources: tuple[int, ...]) -> None:
        """Pin the origin nodes later queries answer for (cheap: a move costs this)."""
        self._owner.call(lambda state: _pinned(state, sources))

    def to_scene(self, sources: tuple[int, ...], entries: list[tuple[int, float]]) -> NDArray[np.float64]:
        """Seconds from each source node to the scene, joined at ``entries`` (node, seconds
        from that node to the scene); inf where unreachable."""
        targets = [(node, round(seconds / UNIT_S)) for node, seconds in entries]
        return _as_seconds(
            self._owner.call(lambda state: _pinned(state, sources).distances_to_multi(targets))
        )

    def from_origin(self, source: int, targets: list[int]) -> NDArray[np.float64]:
        """Seconds from one node to each target node (for many scenes at once)."""

        def run(state: dict[str, Any]) -> list[int | None]:
            query = rk.CCHOneToMany(state["metric"], targets)
            try:
                return query.distances_from(source)
            finally:
                del query

        return _as_seconds(self._owner.call(run))

    def path(
        self, sources: list[tuple[int, float]], targets: list[tuple[int, float]]
    ) -> tuple[float, list[int], list[int]]:
        """The fastest path from any source to any target (each with its seconds to add):
        total seconds, the nodes passed and the edges driven; (inf, [], []) when none."""
        starts = [(node, round(s / UNIT_S)) for node, s in sources]
        ends = [(node, round(s / UNIT_S)) for node, s in targets]

        def run(state: dict[str, Any]) -> tuple[float, list[int], list[int]]:
            result = state["query"].run_multi(starts, ends)
            try:
                if result.distance is None:
                    return np.inf, [], []
                return result.distance * UNIT_S, list(result.node_path), list(result.arc_path)
            finally:
                del result  # the binding refuses a new query while a result is alive

        return self._owner.call(run)


def _pinned(state: dict[str, Any], sources: tuple[int, ...]) -> Any:
    """The many-to-one query pinned on ``sources`` (re-pinned only when they changed)."""
    if state["m2o"] is None:
        state["m2o"] = rk.CCHManyToOne(state["metric"], list(sources))
    elif sources != state["pinned"]:
        state["m2o"].repin_sources(list(sources))
    state["pinned"] = sources
    return state["m2o"]


@dataclass(frozen=True)
class Exits:
    """Origins' ways out, padded to two per origin (one-way roads have one).

    ``nodes`` are the distinct exit nodes (sorted: what the index pins); per origin and way,
    ``position`` indexes ``nodes``, ``node`` is the node (-1: no such way), ``seconds`` and
    ``metres`` the drive from the origin to it (inf and 0 where there is no way).
    """

    nodes: tuple[int, ...]
    position: NDArray[np.intp]
    node: NDArray[np.int32]
    seconds: NDArray[np.float64]
    metres: NDArray[np.float64]

    @staticmethod
    def of(graph: RoadGraph, edge: NDArray[np.int32], frac: NDArray[np.float64]) -> Exits:
        """The ways out of points at ``frac`` along canonical edges: forward to the edge's
        ``v``, and on two-way roads back along its twin to ``u`` (vectorised: a squad's
        move costs microseconds here, whatever the number of squads)."""
        twin = graph.edge_twin[edge]
        two = twin >= 0
        back = np.where(two, twin, edge)
        node = np.stack([graph.edge_v[edge], np.where(two, graph.edge_u[edge], -1)], axis=1).astype(np.int32)
        seconds = np.stack(
            [(1 - frac) * graph.edge_time[edge], np.where(two, frac * graph.edge_time[back], np.inf)], axis=1
        )
        metres = np.stack(
            [(1 - frac) * graph.edge_length[edge], np.where(two, frac * graph.edge_length[back], 0.0)], axis=1
        ).astype(np.float64)
        distinct = np.unique(node[node >= 0])
        position = np.searchsorted(distinct, np.maximum(node, 0)).clip(0, max(len(distinct) - 1, 0))
        return Exits(tuple(distinct.tolist()), position, node, seconds, metres)


def matrix_arrays(
    index: CchIndex,
    exits: Exits,
    entry_node: NDArray[np.int32],
    entry_s: NDArray[np.float64],
    entry_m: NDArray[np.float64],
    *,
    metres_top: int,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.int32], NDArray[np.int32]]:
    """Fastest drive from each origin to each scene (its two ways in, ``(2, m)`` arrays as
    :meth:`EtaEngine._entries` gives them).

    Returns drive seconds, metres, exit node and entry node, each ``(k, m)``. Metres need a
    path unpacked per origin, so only the ``metres_top`` fastest origins of each scene get
    them (NaN for the others): a dispatcher reads the distance of the few it may send.
    """
    k, m = len(exits.node), entry_node.shape[1]
    nodes = exits.nodes
    # seconds from each pinned node to each scene (entry leg included), and by which side
    to_scene = np.full((len(nodes), m), np.inf)
    side_of = np.full((len(nodes), m), -1, dtype=np.int8)  # -1: not known (one sweep, both sides)
    if not nodes:
        pass
    elif m <= 2 or 2 * m <= len(nodes):
        # few scenes (an event): one sweep per scene over every pinned origin
        for col in range(m):
            entries = [
                (int(entry_node[side, col]), float(entry_s[side, col]))
                for side in (0, 1)
                if np.isfinite(entry_s[side, col])
            ]
            to_scene[:, col] = index.to_scene(nodes, entries)
    else:
        # many scenes (coverage): one sweep per origin node over every scene's entries
        targets = entry_node.reshape(-1).astype(np.int64).tolist()
        for i, node in enumerate(nodes):
            seconds = index.from_origin(node, targets).reshape(2, m) + entry_s
            side_of[i] = np.argmin(seconds, axis=0)
            to_scene[i] = np.min(seconds, axis=0)
    # (origin, way out, scene): pick the faster way out
    totals = to_scene[exits.position] + exits.seconds[:, :, None]
    way = np.argmin(totals, axis=1)
    drive_s = np.take_along_axis(totals, way[:, None, :], axis=1)[:, 0, :]
    rows = np.arange(k)[:, None]
    exit_node = np.where(np.isfinite(drive_s), exits.node[rows, way], -1).astype(np.int32)
    side = side_of[exits.position[rows, way], np.arange(m)[None, :]]
    best_entry = np.where(side >= 0, entry_node[np.maximum(side, 0), np.arange(m)[None, :]], -1).astype(
        np.int32
    )
    drive_m = np.full((k, m), np.nan)
    for col in range(m):
        finite = np.flatnonzero(np.isfinite(drive_s[:, col]))
        for row in finite[np.argsort(drive_s[finite, col], kind="stable")][:metres_top].tolist():
            chosen = int(way[row, col])
            start = int(exits.node[row, chosen])
            sides = [s for s in (0, 1) if np.isfinite(entry_s[s, col])]
            _total, path_nodes, arcs = index.path(
                [(start, float(exits.seconds[row, chosen]))],
                [(int(entry_node[s, col]), float(entry_s[s, col])) for s in sides],
            )
            if not path_nodes:
                continue
            joined = next(s for s in sides if int(entry_node[s, col]) == path_nodes[-1])
            best_entry[row, col] = path_nodes[-1]
            drive_m[row, col] = (
                float(exits.metres[row, chosen])
                + float(index.graph.edge_length[np.asarray(arcs, dtype=np.int64)].sum())
                + float(entry_m[joined, col])
            )
    return drive_s, drive_m, exit_node, best_entry
