"""One squad's week of patrol visits as a vehicle-routing problem (pure: no database).

Each working day is one "vehicle" that leaves the squad's station at shift start and must be
back by shift end; each visit is a "job" with the dwell time as its service time. The
solver minimises road **distance** (what a patrol car burns) while travel **times** (from
our own road graph) and the dwell decide whether a day fits the shift.

* Balance: a day takes ``visits // days`` visits, the first ``visits % days`` days one more
  (vroom's ``max_tasks``), relaxed one step at a time only when that leaves visits
  unplanned, so a week of 10 visits over 5 days is 2 a day rather than 10 on Monday.
* A grid visited ``f`` times a week gets ``f`` jobs, the k-th allowed only on the days
  ``i`` with ``i % f == k`` (vroom skills), so they land on different days.
* A day's order is never worse than the greedy nearest-neighbour order of the same visits:
  when the solver's order is longer (possible: it is a heuristic) and the greedy one fits
  the shift, the greedy one is kept.

Library: **pyvroom** (VROOM), kept over OR-Tools after ``benchmarks/patrol.py``: on the same
matrices of a synthetic city (300 squads, 2,000 community grids) it planned every grid with
0.1 % fewer km in 8.4 s, where OR-Tools' routing solver needed a guided local search with a
time limit (0.5 s per squad: 153 s) to match; on the demo county both find the same routes.
Its model (vehicles with time windows, service times, skills, max tasks) is exactly this
problem, with no callbacks to write. Numbers in the README (Benchmarks).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import numpy as np
import vroom
from numpy.typing import NDArray

_PROFILE = "car"


@dataclass
class DayRoute:
    """One day's visits in order: indices into the problem's points (0 is the station)."""

    day_index: int
    order: list[int]  # point indices, station excluded
    arrivals_s: list[float]  # seconds after shift start at which each visit begins
    distance_m: float
    duration_s: float
    nn_distance_m: float


@dataclass
class WeekPlan:
    days: list[DayRoute]
    unplanned: list[int] = field(default_factory=list)  # job indices left out
    max_per_day: int = 0


@dataclass(frozen=True)
class Job:
    point: int  # index into the matrix (>= 1)
    days: frozenset[int] | None  # allowed day indices; None: any


def route_cost(
    order: list[int], seconds: NDArray[np.float64], metres: NDArray[np.float64], dwell_s: float
) -> tuple[float, float, list[float]]:
    """Distance, duration (station to station, dwell included) and each visit's start
    (seconds from leaving the station) of visiting ``order`` from point 0 and back."""
    distance = duration = 0.0
    arrivals = []
    here = 0
    for point in order:
        distance += float(metres[here, point])
        duration += float(seconds[here, point])
        arrivals.append(duration)
        duration += dwell_s
        here = point
    distance += float(metres[here, 0])
    duration += float(seconds[here, 0])
    return distance, duration, arrivals


def nearest_neighbour(points: list[int], metres: NDArray[np.float64]) -> list[int]:
    """Greedy order: from the station, always the nearest unvisited point (by road metres)."""
    left = list(points)
    order = []
    here = 0
    while left:
        nearest = min(left, key=lambda p: (float(metres[here, p]), p))
        order.append(nearest)
        left.remove(nearest)
        here = nearest
    return order


def _finish_day(
    index: int,
    order: list[int],
    seconds: NDArray[np.float64],
    metres: NDArray[np.float64],
    dwell_s: float,
    shift_s: float,
) -> DayRoute:
    distance, duration, arrivals = route_cost(order, seconds, metres, dwell_s)
    greedy = nearest_neighbour(order, metres)
    nn_distance, nn_duration, nn_arrivals = route_cost(greedy, seconds, metres, dwell_s)
    if nn_distance < distance and nn_duration <= shift_s:
        order, distance, duration, arrivals = greedy, nn_distance, nn_duration, nn_arrivals
    return DayRoute(index, order, arrivals, distance, duration, nn_distance)


def solve_week(
    *,
    seconds: NDArray[np.float64],
    metres: NDArray[np.float64],
    jobs: list[Job],
    day_count: int,
    shift_s: float,
    dwell_s: float,
    timeout_s: float = 5.0,
    threads: int = 1,
) -> WeekPlan:
    """Assign ``jobs`` to ``day_count`` days and order each day (pyvroom)."""
    if day_count <= 0 or not jobs:
        return WeekPlan(days=[], unplanned=list(range(len(jobs))))
    durations = np.rint(np.nan_to_num(seconds, posinf=1e9)).astype(np.int64)
    costs = np.rint(np.nan_to_num(metres, posinf=1e9)).astype(np.int64)
    # Exactly balanced first: each day takes n // days visits, the first n % days days one
    # more (capacity adds up to n, so nothing is left over if every visit fits somewhere).
    base, extra = divmod(len(jobs), day_count)
    limits = [base + (1 if day < extra else 0) for day in range(day_count)]
    slack = 0
    while True:
        solution = _vroom(
            durations, costs, jobs, [limit + slack for limit in limits], shift_s, dwell_s, timeout_s, threads
        )
        routes, unassigned = solution
        if not unassigned or max(limits) + slack >= len(jobs):
            break
        slack += 1  # balance gives way before coverage does
    per_day = max(limits) + slack
    days = [
        _finish_day(day, [jobs[j].point for j in routes.get(day, [])], seconds, metres, dwell_s, shift_s)
        for day in range(day_count)
    ]
    return WeekPlan(days=days, unplanned=sorted(unassigned), max_per_day=per_day)


def _vroom(
    durations: NDArray[np.int64],
    costs: NDArray[np.int64],
    jobs: list[Job],
    per_day: list[int],
    shift_s: float,
    dwell_s: float,
    timeout_s: float,
    threads: int,
) -> tuple[dict[int, list[int]], list[int]]:
    day_count = len(per_day)
    problem = vroom.Input()
    problem.set_durations_matrix(_PROFILE, durations)
    problem.set_costs_matrix(_PROFILE, costs)
    skills_of_day: list[set[int]] = [set() for _ in range(day_count)]
    job_skills: list[set[int]] = []
    keys: dict[frozenset[int], int] = {}
    for job in jobs:
        if job.days is None:
            job_skills.append(set())
            continue
        key = keys.setdefault(job.days, len(keys) + 1)  # one skill per distinct day set
        job_skills.append({key})
        for day in job.days:
            skills_of_day[day].add(key)
    problem.add_vehicle(
        [
            vroom.Vehicle(
                day,
                start=0,
                end=0,
                profile=_PROFILE,
                max_tasks=per_day[day],
                time_window=vroom.TimeWindow(0, int(shift_s)),
                skills=skills_of_day[day],
            )
            for day in range(day_count)
        ]
    )
    problem.add_job(
        [
            vroom.Job(i, location=job.point, default_service=int(dwell_s), skills=job_skills[i])
            for i, job in enumerate(jobs)
        ]
    )
    solution = problem.solve(exploration_level=5, nb_threads=threads, timeout=timedelta(seconds=timeout_s))
    routes: dict[int, list[int]] = {}
    frame = solution.routes
    steps = frame[frame["type"] == "job"]
    for vehicle, job_id in zip(steps["vehicle_id"].tolist(), steps["id"].tolist(), strict=True):
        routes.setdefault(int(vehicle), []).append(int(job_id))
    assigned = {j for day in routes.values() for j in day}
    return routes, [i for i in range(len(jobs)) if i not in assigned]
