"""``gridsvc patrols ...``: plan a week of patrols, set how often a grid is visited."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from gridsvc.settings import Settings

patrols_app = typer.Typer(help="Weekly patrol plans (巡查计划) of the township squads.", no_args_is_help=True)


def _run(task: Any) -> Any:
    from gridsvc.cli_support import run  # the shared runner (database resolution, error printing)

    return run(task)


@patrols_app.command("plan")
def plan(
    jurisdiction: Annotated[str, typer.Option("--jurisdiction", help="county or township code, e.g. LI")],
    week: Annotated[str, typer.Option("--week", help="ISO week, e.g. 2026-W49")],
) -> None:
    """Plan every squad's visits of the week (replaces the week's plans); prints a summary."""
    from gridsvc.cli_support import fail, progress
    from gridsvc.database.pool import connect
    from gridsvc.errors import APIError
    from gridsvc.eta.engine import EtaEngine
    from gridsvc.patrols import service
    from gridsvc.roads.service import current_network, load_graph

    async def task(settings: Settings, url: str) -> dict[str, Any]:
        connection = await connect(url)
        try:
            network = await current_network(connection, jurisdiction=jurisdiction)
            graph = await load_graph(connection, cache_dir=settings.road_cache_dir, network=network)
            if graph is None:
                fail("no road network: run `gridsvc roads import FILE` first")
            engine = EtaEngine(graph, offroad_speed_kmh=settings.eta_offroad_speed_kmh)
            total = await service.squad_count(connection, jurisdiction)
            bar = progress(total, "squads", "squad")
            try:
                return await service.plan_week(
                    connection,
                    engine=engine,
                    jurisdiction_code=jurisdiction,
                    week=week,
                    shift=service.Shift(
                        start=settings.patrol_shift_start,
                        end=settings.patrol_shift_end,
                        dwell_s=settings.patrol_dwell_min * 60,
                        timeout_s=settings.patrol_solver_timeout_s,
                    ),
                    on_squad=lambda _code: bar.update(1),
                )
            except APIError as error:
                fail(error.message)
            finally:
                bar.close()
        finally:
            await connection.close()

    typer.echo(json.dumps(_run(task), ensure_ascii=False, indent=2))


@patrols_app.command("frequency")
def frequency(
    grid: Annotated[str, typer.Argument(help="community grid code")],
    visits: Annotated[int, typer.Argument(help="visits per week (1-7)")],
) -> None:
    """How often a community grid is visited per week (hot spots more than once)."""
    from gridsvc.cli_support import fail
    from gridsvc.database.pool import connect
    from gridsvc.errors import APIError
    from gridsvc.patrols import service

    async def task(_: Settings, url: str) -> None:
        connection = await connect(url)
        try:
            await service.set_frequency(connection, grid_code=grid, visits_per_week=visits, actor="cli")
        except APIError as error:
            fail(error.message)
        finally:
            await connection.close()

    _run(task)
    typer.echo(f"{grid}: {visits} visit(s) a week")
