"""The compact road graph the ETA engine loads: CSR arrays plus what snapping needs.

One ``.npz`` file per imported network, named by the network's ``cache_key`` (a fresh
UUID per import), so a cache can never be mistaken for another import's. When the file is
missing or was written by another format version it is rebuilt from PostGIS.

Memory (measured by :meth:`RoadGraph.routing_nbytes`): the routing core is CSR
``indptr`` (int32) + ``indices`` (int32) + ``weight`` (float64 seconds) + the CSR slot's
edge (int32), and per edge ``u``, ``v`` (int32), time (float64), length (float32) and the
opposite-direction twin (int32): 40 bytes per edge and 20 per node. Edge geometries
(for snapping and route drawing) are kept apart as one flat float64 coordinate array.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

FORMAT_VERSION = 1
_KEEP_FILES = 6  # cache files kept in the folder (older imports' files are removed)


@dataclass
class RoadGraph:
    """A strongly connected directed road graph in compact arrays.

    Attributes
    ----------
    indptr, indices, weight : CSR arrays
        ``weight`` is the travel time in seconds (float64) of the fastest edge from the
        row node to the column node (parallel edges collapsed to the fastest).
    slot_edge : int32 array
        The edge behind each CSR slot.
    edge_u, edge_v : int32 arrays (E,)
    edge_time : float64 array (E,)
        Seconds.
    edge_length : float32 array (E,)
        Metres.
    edge_twin : int32 array (E,)
        The edge that runs the same geometry the other way (two-way roads), else -1.
    edge_class : uint8 array (E,)
        Index into ``class_names``.
    class_names : str array
    node_lng, node_lat : float64 arrays (N,)
        WGS84 degrees.
    geom_ptr : int64 array (E+1,), geom_xy : float64 array (P, 2)
        Edge polylines, WGS84 lon/lat, oriented u -> v.
    cache_key : str
    """

    indptr: NDArray[np.int32]
    indices: NDArray[np.int32]
    weight: NDArray[np.float64]
    slot_edge: NDArray[np.int32]
    edge_u: NDArray[np.int32]
    edge_v: NDArray[np.int32]
    edge_time: NDArray[np.float64]
    edge_length: NDArray[np.float32]
    edge_twin: NDArray[np.int32]
    edge_class: NDArray[np.uint8]
    class_names: NDArray[np.str_]
    node_lng: NDArray[np.float64]
    node_lat: NDArray[np.float64]
    geom_ptr: NDArray[np.int64]
    geom_xy: NDArray[np.float64]
    cache_key: str = ""

    @property
    def node_count(self) -> int:
        return len(self.node_lng)

    @property
    def edge_count(self) -> int:
        return len(self.edge_u)

    def csr(self) -> sp.csr_matrix:
        """The graph as a scipy CSR matrix sharing this object's arrays (no copy)."""
        n = self.node_count
        matrix = sp.csr_matrix((self.weight, self.indices, self.indptr), shape=(n, n), copy=False)
        matrix.has_sorted_indices = True
        return matrix

    def routing_nbytes(self) -> int:
        """Bytes of the routing core (CSR, per-edge and per-node arrays, no geometry)."""
        arrays = (
            self.indptr,
            self.indices,
            self.weight,
            self.slot_edge,
            self.edge_u,
            self.edge_v,
            self.edge_time,
            self.edge_length,
            self.edge_twin,
            self.node_lng,
            self.node_lat,
        )
        return sum(a.nbytes for a in arrays)

    def geometry_nbytes(self) -> int:
        return self.geom_ptr.nbytes + self.geom_xy.nbytes + self.edge_class.nbytes

    @classmethod
    def build(
        cls,
        *,
        edge_u: NDArray[np.integer],
        edge_v: NDArray[np.integer],
        edge_time: NDArray[np.floating],
        edge_length: NDArray[np.floating],
        edge_oneway: NDArray[np.bool_],
        node_lng: NDArray[np.floating],
        node_lat: NDArray[np.floating],
        geom_ptr: NDArray[np.integer] | None = None,
        geom_xy: NDArray[np.floating] | None = None,
        edge_class: NDArray[np.object_] | None = None,
        edge_twin: NDArray[np.integer] | None = None,
        cache_key: str = "",
    ) -> RoadGraph:
        """Assemble the compact graph from per-edge arrays.

        Without ``geom_ptr``/``geom_xy`` edges are straight lines between their nodes.
        Without ``edge_twin`` twins are found: for a two-way edge u->v, the edge v->u of the
        same length (to the centimetre).
        """
        n = len(node_lng)
        u = np.asarray(edge_u, dtype=np.int32)
        v = np.asarray(edge_v, dtype=np.int32)
        time_s = np.asarray(edge_time, dtype=np.float64)
        if len(u) and (time_s <= 0).any():
            raise ValueError("edge travel times must be positive")
        indptr, indices, weight, slot_edge = _csr(n, u, v, time_s)
        if geom_ptr is None or geom_xy is None:
            geom_ptr = np.arange(0, 2 * len(u) + 1, 2, dtype=np.int64)
            geom_xy = np.empty((2 * len(u), 2), dtype=np.float64)
            geom_xy[0::2, 0], geom_xy[0::2, 1] = node_lng[u], node_lat[u]
            geom_xy[1::2, 0], geom_xy[1::2, 1] = node_lng[v], node_lat[v]
        classes = np.asarray(edge_class if edge_class is not None else ["road"] * len(u), dtype=object)
        names, codes = np.unique(classes.astype(str), return_inverse=True)
        twin = (
            np.asarray(edge_twin, dtype=np.int32)
            if edge_twin is not None
            else find_twins(u, v, np.asarray(edge_length), np.asarray(edge_oneway))
        )
        return cls(
            indptr=indptr,
            indices=indices,
            weight=weight,
            slot_edge=slot_edge,
            edge_u=u,
            edge_v=v,
            edge_time=time_s,
            edge_length=np.asarray(edge_length, dtype=np.float32),
            edge_twin=twin,
            edge_class=codes.astype(np.uint8),
            class_names=names.astype(str),
            node_lng=np.asarray(node_lng, dtype=np.float64),
            node_lat=np.asarray(node_lat, dtype=np.float64),
            geom_ptr=np.asarray(geom_ptr, dtype=np.int64),
            geom_xy=np.asarray(geom_xy, dtype=np.float64),
            cache_key=cache_key,
        )

    # -- files ---------------------------------------------------------------------

    def save(self, directory: Path) -> Path:
        """Write ``<cache_key>.npz`` atomically into ``directory``; prune old files."""
        if not self.cache_key:
            raise ValueError("a cache needs the network's cache_key")
        directory.mkdir(parents=True, exist_ok=True)
        target = directory / f"{self.cache_key}.npz"
        arrays = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "cache_key"}
        handle, temporary = tempfile.mkstemp(dir=directory, suffix=".tmp")
        with os.fdopen(handle, "wb") as stream:
            np.savez(stream, format_version=np.int32(FORMAT_VERSION), **arrays)
        os.replace(temporary, target)
        _prune(directory, keep=target)
        return target

    @classmethod
    def load(cls, directory: Path, cache_key: str) -> RoadGraph | None:
        """The cached graph of ``cache_key``, or None when absent or of another format."""
        path = directory / f"{cache_key}.npz"
        try:
            with np.load(path, allow_pickle=False) as data:
                if int(data["format_version"]) != FORMAT_VERSION:
                    return None
                arrays = {f.name: data[f.name] for f in fields(cls) if f.name != "cache_key"}
        except (FileNotFoundError, KeyError, ValueError, OSError):
            return None
        os.utime(path)  # pruning keeps recently used files
        return cls(**arrays, cache_key=cache_key)


def _csr(
    n: int, u: NDArray[np.int32], v: NDArray[np.int32], time_s: NDArray[np.float64]
) -> tuple[NDArray[np.int32], NDArray[np.int32], NDArray[np.float64], NDArray[np.int32]]:
    """CSR of the fastest edge per (u, v); self-loops never shorten a path and are left out."""
    keep = np.flatnonzero(u != v)
    # Sort by row, column, then time, so the first of each (u, v) run is the fastest.
    order = keep[np.lexsort((time_s[keep], v[keep], u[keep]))]
    su, sv = u[order], v[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = (su[1:] != su[:-1]) | (sv[1:] != sv[:-1])
    order = order[first]
    indptr = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(np.bincount(u[order], minlength=n), out=indptr[1:])
    return indptr, v[order].astype(np.int32), time_s[order].copy(), order.astype(np.int32)


def find_twins(
    u: NDArray[np.int32], v: NDArray[np.int32], length: NDArray[np.floating], oneway: NDArray[np.bool_]
) -> NDArray[np.int32]:
    """For each two-way edge u->v, the v->u edge of the same length (cm), else -1."""
    twin = np.full(len(u), -1, dtype=np.int32)
    candidates: dict[tuple[int, int, int], list[int]] = {}
    centimetres = np.round(np.asarray(length, dtype=np.float64) * 100).astype(np.int64)
    two_way = np.flatnonzero(~np.asarray(oneway, dtype=bool))
    for e in two_way.tolist():
        candidates.setdefault((int(u[e]), int(v[e]), int(centimetres[e])), []).append(e)
    for e in two_way.tolist():
        if twin[e] >= 0:
            continue
        for other in candidates.get((int(v[e]), int(u[e]), int(centimetres[e])), []):
            if other != e and twin[other] < 0:
                twin[e], twin[other] = other, e
                break
    return twin


def _prune(directory: Path, *, keep: Path) -> None:
    files = sorted(directory.glob("*.npz"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in [f for f in files if f != keep][_KEEP_FILES - 1 :]:
        old.unlink(missing_ok=True)
    stale = time.time() - 3600  # a temporary file this old belongs to a crashed writer
    for stray in directory.glob("*.tmp"):
        if stray.stat().st_mtime < stale:
            stray.unlink(missing_ok=True)
