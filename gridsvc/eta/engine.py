"""The ETA engine: every squad's travel time to a scene, in microseconds per event.

Strategy (chosen by measurement, ``benchmarks/eta.py`` prints the numbers): a shortest-path
tree is kept in memory for each road node a squad can leave its road edge by, so an event
costs a few array look-ups per squad instead of a graph search. Measured on 2 cores, 20
squads, scene snapping included: an event takes ~0.26 ms on Liechtenstein and ~0.35 ms on a
1M-node graph, while one reverse search from the scene (the stateless alternative) takes
~1 ms and ~0.6 s. Trees cost one search per *edge change* of a squad (moving along an
edge costs nothing, and the node it just passed usually has its tree already): ~0.7 ms on
Liechtenstein, ~0.9 s on 1M nodes (search plus road metres), run in a worker thread as
soon as a ping arrives and coalesced. Dispatch needs events fast and predictable (an
operator is waiting, coverage asks for thousands of cells at once); AVL updates tolerate a
second's delay, so the cost belongs on the update side. On a county graph one core keeps
up with ~1,400 edge changes per second; a 1M-node graph only ~1 per second, which is the
limit of this design for very large graphs: there the engine is built with
``method="cch"`` (:mod:`gridsvc.eta.cch`, a customizable contraction hierarchy: a move
re-pins exit nodes in about a millisecond, an event is one many-to-one sweep), chosen by
graph size (:func:`engine_for`).

Trees are computed with :func:`scipy.sparse.csgraph.dijkstra` over the CSR arrays, the
fastest of the libraries measured for one full search (1M nodes: scipy ~0.21 s, rustworkx
~1.1 s, igraph ~1.4 s). Road distance along the chosen (fastest) path comes from the
predecessor tree by pointer jumping (log-depth vectorised passes).

Points are snapped to the nearest road *edge* (not node) in a local transverse Mercator
projection; the leg between the point and the road is added at a slow off-road speed.
All times are seconds, distances metres, coordinates WGS84 (EPSG:4326) degrees.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from scipy.sparse.csgraph import dijkstra

from gridsvc.eta.cch import CchIndex, Exits, matrix_arrays
from gridsvc.eta.snap import Snap, Snapper
from gridsvc.roads.cache import RoadGraph
from gridsvc.settings import Settings

_NO_PRED = -9999  # scipy's marker for "no predecessor"


@dataclass
class EtaMatrix:
    """Travel from each origin (rows) to each scene (columns).

    ``drive_s``/``drive_m`` are on the road only; ``total_s`` adds both off-road legs.
    ``exit_node``/``entry_node`` say how the best path leaves the origin's edge and joins
    the scene's (-1 when origin and scene share an edge and the direct way wins).
    """

    drive_s: NDArray[np.float64]
    drive_m: NDArray[np.float64]
    total_s: NDArray[np.float64]
    exit_node: NDArray[np.int32]
    entry_node: NDArray[np.int32]


@dataclass
class Origins:
    """Origins placed on the graph with their trees at hand (built by
    :meth:`EtaEngine.origins`, reused for every event until an origin moves).

    ``ways[i]`` lists, for origin ``i``, each node it can leave its edge by with the seconds
    and metres to get there and that node's tree (times, metres).
    """

    snap: Snap
    ways: list[list[tuple[int, float, float, NDArray[np.float32], NDArray[np.float32]]]]
    exits: Exits | None = None
    """Set when prepared for the CCH (no trees then: the arrays of ``ways`` are empty)."""

    def __len__(self) -> int:
        return len(self.snap)


def engine_for(graph: RoadGraph, settings: Settings) -> EtaEngine:
    """The engine the settings ask for (``eta_method``; 'auto' picks the CCH for big graphs)."""
    method = settings.eta_method
    if method == "auto":
        method = "cch" if graph.node_count >= settings.eta_cch_min_nodes else "trees"
    return EtaEngine(
        graph,
        offroad_speed_kmh=settings.eta_offroad_speed_kmh,
        tree_capacity=settings.eta_tree_cache_size,
        method=method,
        cache_dir=settings.road_cache_dir,
        distance_top=settings.eta_cch_distance_top,
    )


class TreeCache:
    """Shortest-path trees from single road nodes, least recently used dropped first.

    Each tree is the travel time (float32 seconds) and road distance along that fastest
    path (float32 metres) from its node to every node: 8 bytes per node.
    """

    def __init__(self, graph: RoadGraph, capacity: int = 256) -> None:
        self.graph = graph
        self.capacity = capacity
        self._csr = graph.csr()
        self._slot_length = graph.edge_length[graph.slot_edge].astype(np.float64)
        self._trees: OrderedDict[int, tuple[NDArray[np.float32], NDArray[np.float32]]] = OrderedDict()
        self._lock = threading.Lock()
        self._compute_lock = threading.Lock()
        self.computed = 0

    def __contains__(self, node: int) -> bool:
        return node in self._trees

    def missing(self, nodes: Iterable[int]) -> list[int]:
        return sorted({int(n) for n in nodes if int(n) not in self._trees})

    def get(self, nodes: Iterable[int]) -> dict[int, tuple[NDArray[np.float32], NDArray[np.float32]]]:
        """Trees of ``nodes``, computing the missing ones (CPU-heavy: call off the loop)."""
        wanted = sorted({int(n) for n in nodes})
        if self.missing(wanted):
            with self._compute_lock:  # one computation at a time; others wait and reuse it
                todo = self.missing(wanted)
                if todo:
                    computed = self._compute(todo)
                    with self._lock:
                        self._trees.update(computed)
        with self._lock:
            found = {}
            for node in wanted:
                self._trees.move_to_end(node)
                found[node] = self._trees[node]
            while len(self._trees) > max(self.capacity, len(wanted)):
                self._trees.popitem(last=False)
            return found

    def _compute(self, nodes: list[int]) -> dict[int, tuple[NDArray[np.float32], NDArray[np.float32]]]:
        times, preds = dijkstra(self._csr, directed=True, indices=nodes, return_predecessors=True)
        self.computed += len(nodes)
        return {
            node: (times[i].astype(np.float32), self._metres(preds[i], node)) for i, node in enumerate(nodes)
        }

    def _metres(self, pred: NDArray[np.int32], root: int) -> NDArray[np.float32]:
        """Road metres from the root along the tree, by pointer jumping (log depth passes)."""
        graph = self.graph
        child = np.flatnonzero(pred != _NO_PRED)
        parent = pred[child]
        start = graph.indptr[parent]
        degree = graph.indptr[parent + 1] - start
        slot = np.full(len(child), -1, dtype=np.int64)
        for k in range(int(degree.max()) if len(degree) else 0):
            candidate = np.minimum(start + k, len(graph.indices) - 1)
            hit = (k < degree) & (graph.indices[candidate] == child)
            slot[hit] = candidate[hit]
        metres = np.zeros(graph.node_count, dtype=np.float64)
        ancestor = np.full(graph.node_count, -1, dtype=np.int64)
        metres[child] = self._slot_length[slot]
        ancestor[child] = parent
        active = child
        while len(active):
            up = ancestor[active]
            metres[active] = metres[active] + metres[up]
            ancestor[active] = ancestor[up]
            active = active[ancestor[active] >= 0]
        unreachable = pred == _NO_PRED
        unreachable[root] = False
        metres[unreachable] = np.inf
        return metres.astype(np.float32)


class EtaEngine:
    """Snapping, trees and ETA matrices over one :class:`RoadGraph` (thread-safe reads).

    Parameters
    ----------
    graph : RoadGraph
    offroad_speed_kmh : float
        Speed of the leg between a point and its road (walking pace by default).
    tree_capacity : int
        Trees kept in memory (8 bytes per node each).
    method : {"trees", "cch"}
        How origins are prepared: a shortest-path tree per exit node (county graphs), or a
        customizable contraction hierarchy (city graphs; :mod:`gridsvc.eta.cch` says why).
    cache_dir : Path, optional
        Where the CCH keeps its node order between processes.
    distance_top : int
        With the CCH, how many of the fastest origins per scene get road metres.
    """

    def __init__(
        self,
        graph: RoadGraph,
        *,
        offroad_speed_kmh: float = 5.0,
        tree_capacity: int = 256,
        method: str = "trees",
        cache_dir: Path | None = None,
        distance_top: int = 5,
    ) -> None:
        if method not in ("trees", "cch"):
            raise ValueError(f"unknown ETA method {method!r}: 'trees' or 'cch'")
        self.graph = graph
        self.method = method
        self.offroad_mps = offroad_speed_kmh / 3.6
        self.snapper = Snapper(graph)
        self.trees = TreeCache(graph, tree_capacity)
        self.cch = CchIndex(graph, cache_dir=cache_dir) if method == "cch" else None
        self.distance_top = distance_top

    # -- how points join the graph --------------------------------------------------

    def exits(self, origins: Snap) -> list[list[tuple[int, float, float]]]:
        """Per origin: (node, seconds, metres) to each node it can leave its edge by."""
        g = self.graph
        result = []
        for edge, frac in zip(origins.edge.tolist(), origins.frac.tolist(), strict=True):
            twin = int(g.edge_twin[edge])
            ways = [
                (int(g.edge_v[edge]), (1 - frac) * g.edge_time[edge], (1 - frac) * float(g.edge_length[edge]))
            ]
            if twin >= 0:
                ways.append(
                    (int(g.edge_u[edge]), frac * g.edge_time[twin], frac * float(g.edge_length[twin]))
                )
            result.append(ways)
        return result

    def _entries(self, scenes: Snap) -> tuple[NDArray[np.int32], NDArray[np.float64], NDArray[np.float64]]:
        """Per scene, the two ways onto its edge: node (2, M), seconds, metres (inf: none)."""
        g = self.graph
        edge, frac = scenes.edge, scenes.frac
        twin = g.edge_twin[edge]
        has_twin = twin >= 0
        safe_twin = np.where(has_twin, twin, edge)
        node = np.stack([g.edge_u[edge], g.edge_v[edge]]).astype(np.int32)
        seconds = np.stack(
            [frac * g.edge_time[edge], np.where(has_twin, (1 - frac) * g.edge_time[safe_twin], np.inf)]
        )
        metres = np.stack(
            [frac * g.edge_length[edge], np.where(has_twin, (1 - frac) * g.edge_length[safe_twin], np.inf)]
        )
        return node, seconds, metres

    def tree_nodes(self, origins: Snap) -> list[int]:
        return sorted({node for ways in self.exits(origins) for node, _s, _m in ways})

    def ready(self, origins: Snap) -> bool:
        """Whether every tree these origins need is in memory (cheap to prepare then)."""
        return self.cch is not None or not self.trees.missing(self.tree_nodes(origins))

    def origins(self, snap: Snap) -> Origins:
        """Prepare origins for ETAs, computing missing trees (CPU-heavy off the cache:
        call off the event loop unless :meth:`ready`); with the CCH, pin their exits."""
        if self.cch is not None:
            padded = Exits.of(self.graph, snap.edge, snap.frac)
            self.cch.pin(padded.nodes)
            return Origins(snap=snap, ways=[], exits=padded)
        exits = self.exits(snap)
        trees = self.trees.get(node for ways in exits for node, _s, _m in ways)
        return Origins(
            snap=snap,
            ways=[[(node, out_s, out_m, *trees[node]) for node, out_s, out_m in ways] for ways in exits],
        )

    # -- ETA ------------------------------------------------------------------------

    def matrix(self, origins: Origins | Snap, scenes: Snap) -> EtaMatrix:
        """Fastest travel from every origin to every scene."""
        if isinstance(origins, Snap):
            origins = self.origins(origins)
        if origins.exits is not None:
            return self._cch_matrix(origins, origins.exits, scenes)
        if len(scenes) == 1:
            return self._one_scene(origins, scenes)
        entry_node, entry_s, entry_m = self._entries(scenes)
        k, m = len(origins), len(scenes)
        # (origin, way out, way in, scene): every combination at once, padded with inf
        # where an origin has a single way out (one-way edge).
        drive_s = np.full((k, 2, 2, m), np.inf)
        drive_m = np.full((k, 2, 2, m), np.inf)
        exit_node = np.full((k, 2), -1, dtype=np.int32)
        flat_entry = entry_node.reshape(-1)
        for row, ways in enumerate(origins.ways):
            for way, (node, out_s, out_m, times, metres) in enumerate(ways):
                drive_s[row, way] = times[flat_entry].reshape(2, m) + (out_s + entry_s)
                drive_m[row, way] = metres[flat_entry].reshape(2, m) + (out_m + entry_m)
                exit_node[row, way] = node
        combos_s = drive_s.reshape(k, 4, m)
        combos_m = drive_m.reshape(k, 4, m)
        best = np.argmin(combos_s, axis=1)[:, None, :]
        best_s = np.take_along_axis(combos_s, best, axis=1)[:, 0, :]
        best_m = np.take_along_axis(combos_m, best, axis=1)[:, 0, :]
        best = best[:, 0, :]
        best_exit = np.take_along_axis(exit_node, best // 2, axis=1)
        best_entry = entry_node[best % 2, np.arange(m)[None, :]]
        return self._finish(origins.snap, scenes, best_s, best_m, best_exit, best_entry)

    def _cch_matrix(self, origins: Origins, exits: Exits, scenes: Snap) -> EtaMatrix:
        if self.cch is None:
            raise ValueError("these origins were prepared for the CCH; this engine has none")
        entry_node, entry_s, entry_m = self._entries(scenes)
        drive_s, drive_m, exit_node, entry = matrix_arrays(
            self.cch, exits, entry_node, entry_s, entry_m, metres_top=self.distance_top
        )
        return self._finish(origins.snap, scenes, drive_s, drive_m, exit_node, entry)

    def _one_scene(self, origins: Origins, scene: Snap) -> EtaMatrix:
        """One scene: plain scalar look-ups beat numpy's per-call cost at this size."""
        entry_node, entry_s, entry_m = self._entries(scene)
        entries = [
            (int(entry_node[side, 0]), float(entry_s[side, 0]), float(entry_m[side, 0]))
            for side in (0, 1)
            if np.isfinite(entry_s[side, 0])
        ]
        k = len(origins)
        best_s, best_m = np.full((k, 1), np.inf), np.full((k, 1), np.inf)
        best_exit = np.full((k, 1), -1, dtype=np.int32)
        best_entry = np.full((k, 1), -1, dtype=np.int32)
        for row, ways in enumerate(origins.ways):
            fastest = np.inf
            for node, out_s, out_m, times, metres in ways:
                for entry, in_s, in_m in entries:
                    total = out_s + float(times[entry]) + in_s
                    if total < fastest:
                        fastest = total
                        best_m[row, 0] = out_m + float(metres[entry]) + in_m
                        best_exit[row, 0], best_entry[row, 0] = node, entry
            best_s[row, 0] = fastest
        return self._finish(origins.snap, scene, best_s, best_m, best_exit, best_entry)

    def _finish(
        self,
        origins: Snap,
        scenes: Snap,
        drive_s: NDArray[np.float64],
        drive_m: NDArray[np.float64],
        best_exit: NDArray[np.int32],
        best_entry: NDArray[np.int32],
    ) -> EtaMatrix:
        self._direct(origins, scenes, drive_s, drive_m, best_exit, best_entry)
        offroad = (origins.offroad_m[:, None] + scenes.offroad_m[None, :]) / self.offroad_mps
        return EtaMatrix(
            drive_s=drive_s,
            drive_m=drive_m,
            total_s=drive_s + offroad,
            exit_node=best_exit,
            entry_node=best_entry,
        )

    def _direct(
        self,
        origins: Snap,
        scenes: Snap,
        drive_s: NDArray[np.float64],
        drive_m: NDArray[np.float64],
        best_exit: NDArray[np.int32],
        best_entry: NDArray[np.int32],
    ) -> None:
        """Origin and scene on the same road: drive straight along it when allowed."""
        g = self.graph
        rows, cols = np.nonzero(origins.edge[:, None] == scenes.edge[None, :])
        for row, col in zip(rows.tolist(), cols.tolist(), strict=True):
            edge = int(origins.edge[row])
            start, end = float(origins.frac[row]), float(scenes.frac[col])
            twin = int(g.edge_twin[edge])
            if end >= start:
                seconds = (end - start) * g.edge_time[edge]
                metres = (end - start) * float(g.edge_length[edge])
            elif twin >= 0:
                seconds = (start - end) * g.edge_time[twin]
                metres = (start - end) * float(g.edge_length[twin])
            else:
                continue  # one-way the wrong way: must go round
            if seconds <= drive_s[row, col]:
                drive_s[row, col], drive_m[row, col] = seconds, metres
                best_exit[row, col] = best_entry[row, col] = -1

    def eta(self, origins: Origins | Snap, scene: Snap) -> EtaMatrix:
        """Every origin's travel to one scene: an :class:`EtaMatrix` of one column."""
        return self.matrix(origins, scene)

    # -- routes ---------------------------------------------------------------------

    def route(self, origin: Snap, scene: Snap) -> NDArray[np.float64]:
        """The fastest route's WGS84 coordinates from one origin's road point to a scene's.

        One search from the exit node, bounded by the known travel time.
        """
        result = self.matrix(origin, scene)
        g = self.graph
        o_edge, o_frac = int(origin.edge[0]), float(origin.frac[0])
        s_edge, s_frac = int(scene.edge[0]), float(scene.frac[0])
        exit_node, entry_node = int(result.exit_node[0, 0]), int(result.entry_node[0, 0])
        if exit_node < 0:
            return self.snapper.piece(o_edge, o_frac, s_frac)
        # Leaving by v means driving the edge forward; by u, driving its twin backward.
        first = self.snapper.piece(o_edge, o_frac, 1.0 if exit_node == g.edge_v[o_edge] else 0.0)
        last = self.snapper.piece(s_edge, 0.0 if entry_node == g.edge_u[s_edge] else 1.0, s_frac)
        middle = self._path_coordinates(exit_node, entry_node, float(result.drive_s[0, 0]) + 1.0)
        return np.vstack([first, middle, last])

    def _path_coordinates(self, source: int, target: int, limit: float) -> NDArray[np.float64]:
        g = self.graph
        if source == target:
            return np.empty((0, 2))
        if self.cch is not None:  # the hierarchy unpacks the path without a graph search
            _s, _nodes, arcs = self.cch.path([(source, 0.0)], [(target, 0.0)])
            return np.vstack([g.geom_xy[g.geom_ptr[e] : g.geom_ptr[e + 1]] for e in arcs])
        _times, pred = dijkstra(
            self.trees._csr, directed=True, indices=source, return_predecessors=True, limit=limit
        )
        nodes = [target]
        while nodes[-1] != source:
            nodes.append(int(pred[nodes[-1]]))
        nodes.reverse()
        pieces = []
        for a, b in zip(nodes[:-1], nodes[1:], strict=True):
            row = g.indices[g.indptr[a] : g.indptr[a + 1]]
            edge = int(g.slot_edge[g.indptr[a] + int(np.flatnonzero(row == b)[0])])
            pieces.append(g.geom_xy[g.geom_ptr[edge] : g.geom_ptr[edge + 1]])
        return np.vstack(pieces)

    # -- the per-event alternative, kept for the benchmark ------------------------------

    def eta_by_reverse_search(self, origins: Snap, scene: Snap, limit: float = np.inf) -> NDArray[np.float64]:
        """Drive seconds per origin by one search from the scene over the reversed graph.

        The strategy the trees were measured against: no state, one search per event.
        """
        if not hasattr(self, "_reverse_csr"):
            self._reverse_csr = self.trees._csr.T.tocsr()
        entry_node, entry_s, _m = self._entries(scene)
        sides = [s for s in (0, 1) if np.isfinite(entry_s[s, 0])]
        back = dijkstra(
            self._reverse_csr, directed=True, indices=[int(entry_node[s, 0]) for s in sides], limit=limit
        )
        back = np.atleast_2d(back)
        drive = np.full(len(origins), np.inf)
        for row, ways in enumerate(self.exits(origins)):
            for node, out_s, _out_m in ways:
                for i, side in enumerate(sides):
                    drive[row] = min(drive[row], out_s + back[i, node] + entry_s[side, 0])
        same = np.flatnonzero(origins.edge == scene.edge[0])
        if len(same):
            direct = self.matrix(origins.take(same), scene).drive_s[:, 0]
            drive[same] = np.minimum(drive[same], direct)
        return drive
