"""``gridsvc workorders generate`` and ``gridsvc replay``."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from tqdm import tqdm

from gridsvc.database.embedded import resolve_database_url
from gridsvc.database.pool import connect
from gridsvc.replay.generator import generate_work_orders
from gridsvc.replay.replay import read_orders, replay
from gridsvc.settings import get_settings
from gridsvc.webhooks.service import integration_by_name

workorders_app = typer.Typer(
    help="Realistic 12345 work orders for demos and benchmarks.", no_args_is_help=True
)


@workorders_app.command("generate")
def generate(
    out: Annotated[Path, typer.Option(help="JSON Lines file to write")],
    count: Annotated[int, typer.Option(min=1)] = 1000,
    jurisdiction: str = "LI",
    seed: int = 12345,
    prefix: Annotated[str, typer.Option(help="work-order number prefix")] = "WO",
) -> None:
    """Write ``count`` work orders over the jurisdiction's community grids."""

    async def task() -> int:
        connection = await connect(resolve_database_url(get_settings()))
        try:
            orders = await generate_work_orders(
                connection, jurisdiction=jurisdiction, count=count, seed=seed, prefix=prefix
            )
        finally:
            await connection.close()
        with out.open("w", encoding="utf-8") as handle:
            for order in orders:
                handle.write(json.dumps(order, ensure_ascii=False) + "\n")
        return len(orders)

    try:
        written = asyncio.run(task())
    except ValueError as error:
        typer.secho(f"error: {error}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None
    typer.echo(f"wrote {written} work orders to {out}")


def replay_command(
    file: Annotated[Path, typer.Argument(help="work orders, JSON Lines or a JSON array")],
    url: Annotated[str, typer.Option(help="base URL of gridsvc")] = "http://127.0.0.1:8000",
    integration: Annotated[str, typer.Option(help="integration name (X-Integration)")] = "hotline-demo",
    secret: Annotated[
        str | None, typer.Option(help="its secret (default: read from gridsvc's database)")
    ] = None,
    rate: Annotated[float, typer.Option(min=0.01, help="work orders per second")] = 5.0,
) -> None:
    """Post signed 12345 work orders at a steady rate; print latency percentiles."""
    try:
        orders = read_orders(str(file))
    except (OSError, ValueError) as error:
        typer.secho(f"error: {error}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None
    if secret is None:
        secret = asyncio.run(_secret_of(integration))
    with tqdm(total=len(orders), desc="replay", unit="order", file=sys.stderr, disable=None) as bar:
        result = asyncio.run(
            replay(
                orders,
                url=url.rstrip("/") + "/webhooks/12345",
                integration=integration,
                secret=secret,
                rate=rate,
                progress=bar.update,
            )
        )
    summary = result.summary()
    typer.echo(json.dumps(summary, ensure_ascii=False, default=str))
    for line in result.errors[:10]:
        typer.secho(line, fg=typer.colors.YELLOW, err=True)


async def _secret_of(name: str) -> str:
    connection = await connect(resolve_database_url(get_settings()))
    try:
        integration = await integration_by_name(connection, name=name)
    finally:
        await connection.close()
    if integration is None:
        typer.secho(
            f"error: no integration {name!r} (gridsvc integrations add {name})", fg=typer.colors.RED, err=True
        )
        raise typer.Exit(2)
    return str(integration["secret"])
