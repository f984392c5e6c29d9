"""``gridsvc inspections ...``: import 一店一档 targets, set departments' matters, keep the
首违不罚 list."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from gridsvc.settings import Settings

inspections_app = typer.Typer(
    help="一店一档, 综合查一次, the negative list and 首违不罚.", no_args_is_help=True
)
targets_app = typer.Typer(help="Inspection targets (一店一档).", no_args_is_help=True)
matters_app = typer.Typer(help="Each department's inspection matters per target type.", no_args_is_help=True)
lenient_app = typer.Typer(help="The 首违不罚 list of matters.", no_args_is_help=True)
inspections_app.add_typer(targets_app, name="targets")
inspections_app.add_typer(matters_app, name="matters")
inspections_app.add_typer(lenient_app, name="lenient")


def _run(task: Any) -> Any:
    from gridsvc.cli_support import run  # the shared runner (database resolution, error printing)

    return run(task)


@targets_app.command("import")
def import_targets(
    file: Annotated[
        Path,
        typer.Argument(
            help="CSV (UTF-8) or Excel (.xlsx) with name, credit_code, "
            "address, type, lng, lat (or 名称, 统一社会信用代码, 地址, 类型, 经度, 纬度)"
        ),
    ],
) -> None:
    """Import targets (insert or update by credit code): every row is checked first, a bad
    row names file, row, column and problem and nothing is imported."""
    from gridsvc.cli_support import fail, progress
    from gridsvc.database.pool import connect
    from gridsvc.errors import APIError
    from gridsvc.grids.service import load_overlay
    from gridsvc.inspections import service

    if not file.is_file():
        fail(f"{file}: no such file")
    try:
        rows = service.parse_targets(str(file), service.read_table(file))
    except APIError as error:
        fail(error.message)
    except Exception as error:  # noqa: BLE001 - any unreadable file (bad zip, bad encoding) is one message
        fail(f"{file}: cannot read it as CSV (UTF-8) or Excel (.xlsx): {error}")

    async def task(_: Settings, url: str) -> dict[str, int]:
        connection = await connect(url)
        try:
            overlay = await load_overlay(connection)
            bar = progress(len(rows), "targets", "row")
            try:
                return await service.import_targets(
                    connection, rows=rows, overlay=overlay, actor="cli", on_row=lambda _row: bar.update(1)
                )
            finally:
                bar.close()
        finally:
            await connection.close()

    typer.echo(json.dumps(_run(task), ensure_ascii=False))


@matters_app.command("set")
def set_matters(
    department: Annotated[str, typer.Argument(help="department code, e.g. market")],
    target_type: Annotated[str, typer.Argument(help="company, shop or small_venue")],
    matters: Annotated[list[str], typer.Argument(help="matter codes (replace the department's list)")],
) -> None:
    """What a department checks at targets of a type (replaces its list for that type)."""
    from gridsvc.cli_support import fail
    from gridsvc.database.pool import connect
    from gridsvc.errors import APIError
    from gridsvc.inspections import service

    async def task(_: Settings, url: str) -> dict[str, Any]:
        connection = await connect(url)
        try:
            return await service.set_matters(
                connection, department=department, target_type=target_type, matter_codes=matters
            )
        except APIError as error:
            fail(error.message)
        finally:
            await connection.close()

    typer.echo(json.dumps(_run(task), ensure_ascii=False))


@lenient_app.command("add")
def add_lenient(matter: Annotated[str, typer.Argument(help="matter code")]) -> None:
    """Put a matter on the 首违不罚 list: a target's first minor violation of it is education."""
    from gridsvc.cli_support import fail
    from gridsvc.database.pool import connect
    from gridsvc.errors import APIError
    from gridsvc.inspections import service

    async def task(_: Settings, url: str) -> dict[str, Any]:
        connection = await connect(url)
        try:
            return await service.add_lenient(connection, matter_code=matter, actor="cli")
        except APIError as error:
            fail(error.message)
        finally:
            await connection.close()

    typer.echo(json.dumps(_run(task), ensure_ascii=False))
