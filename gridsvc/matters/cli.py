"""``gridsvc matters ...``: import the case standard, list and set matters."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from gridsvc.database.pool import connect
from gridsvc.settings import Settings

app = typer.Typer(help="The matter catalogue (事项清单) and county departments.", no_args_is_help=True)


def _run(task: Any) -> Any:
    from gridsvc.cli_support import run  # the shared runner (database resolution, error printing)

    return run(task)


@app.command("import")
def matters_import(
    files: Annotated[list[Path], typer.Argument(help="CSV or XLSX files (one transaction)")],
    kind: Annotated[
        str | None,
        typer.Option(help="event | part (CSV: required; XLSX: taken from the sheet names 事件/部件)"),
    ] = None,
    sheet: Annotated[str | None, typer.Option(help="XLSX: only this sheet")] = None,
    report_json: Annotated[Path | None, typer.Option(help="also write the report here")] = None,
) -> None:
    """Import matters and their conditions; re-import upserts (conditions replaced)."""
    from gridsvc.cli_support import fail
    from gridsvc.matters.importer import MatterImportError, check_kind
    from gridsvc.matters.service import import_files

    try:
        check_kind(kind)
    except MatterImportError as error:
        fail(str(error))

    async def task(_: Settings, url: str) -> dict[str, Any]:
        connection = await connect(url)
        try:
            return await import_files(connection, files, kind=kind, sheet=sheet)
        finally:
            await connection.close()

    report = _run(task)
    print_report(report)
    if report_json:
        report_json.write_text(json.dumps(report, ensure_ascii=False, indent=2))


def print_report(report: dict[str, Any]) -> None:
    for kind, entry in sorted(report["by_kind"].items()):
        typer.echo(
            f"{kind}: {entry['matters']} matters in {entry['classes']} classes, "
            f"{entry['conditions']} conditions"
        )
    typer.echo(f"created {report['created']}, updated {report['updated']}")
    unparsed = report["unparsed"]
    if unparsed:
        typer.secho(
            f"{len(unparsed)} time limit(s) not parsed (stored without a limit):", fg=typer.colors.YELLOW
        )
        for item in unparsed:
            typer.secho(
                f"  {item['file']} row {item['row']} ({item['matter_code']}): {item['text']!r}"
                + (f" ({item['problem']})" if item.get("problem") else ""),
                fg=typer.colors.YELLOW,
            )
    else:
        typer.echo(f"every time limit parsed ({report['conditions']} conditions)")
    unmatched = report["unmatched_departments"]
    if unmatched:
        typer.secho(
            f"{len(unmatched)} matter(s) with no owner department (主管部门 matched no rule):",
            fg=typer.colors.YELLOW,
        )
        for item in unmatched:
            typer.secho(
                f"  {item['matter_code']} (row {item['row']}): {item['supervising_department'] or '(blank)'}",
                fg=typer.colors.YELLOW,
            )


@app.command("list")
def matters_list(
    kind: Annotated[str | None, typer.Option(help="event | part")] = None,
    q: Annotated[str | None, typer.Option(help="search code, names, filing conditions")] = None,
) -> None:
    """List matters with their owner department and time limits."""
    from gridsvc.matters.service import list_matters

    async def task(_: Settings, url: str) -> list[dict[str, Any]]:
        connection = await connect(url)
        try:
            return await list_matters(connection, kind=kind, q=q)
        finally:
            await connection.close()

    for matter in _run(task):
        limits = ", ".join(c["time_limit_text"] or "-" for c in matter["conditions"])
        flags = (" auto" if matter["auto_dispatch"] else "") + (
            " grid" if matter["handling_level"] == "grid" else ""
        )
        typer.echo(
            f"{matter['code']:<10} {matter['name']:<16} "
            f"owner={matter['owner_department'] or '-':<18}{flags} [{limits}]"
        )


@app.command("set")
def matters_set(
    code: str,
    auto_dispatch: Annotated[
        bool | None, typer.Option("--auto-dispatch/--no-auto-dispatch", help="dispatch without an operator")
    ] = None,
    handling_level: Annotated[str | None, typer.Option(help="grid | township")] = None,
    owner_department: Annotated[str | None, typer.Option(help="department code")] = None,
    auto_merge: Annotated[
        bool | None,
        typer.Option(
            "--auto-merge/--no-auto-merge", help="并单: link a same-matter duplicate without an operator"
        ),
    ] = None,
    related: Annotated[
        str | None,
        typer.Option(help="并单: comma-separated matter codes offered as candidates too ('' clears)"),
    ] = None,
) -> None:
    """Set a matter's dispatch and 并单 options."""
    from gridsvc.matters.service import update_matter

    changes: dict[str, Any] = {
        "auto_dispatch": auto_dispatch,
        "handling_level": handling_level,
        "auto_merge": auto_merge,
    }
    if owner_department is not None:
        changes["owner_department"] = owner_department
    if related is not None:
        changes["related_matters"] = [c.strip() for c in related.split(",") if c.strip()]

    async def task(_: Settings, url: str) -> dict[str, Any]:
        connection = await connect(url)
        try:
            return await update_matter(connection, code=code, **changes)
        finally:
            await connection.close()

    matter = _run(task)
    typer.echo(
        f"{matter['code']} {matter['name']}: auto_dispatch={matter['auto_dispatch']} "
        f"handling_level={matter['handling_level']} "
        f"owner_department={matter['owner_department']} auto_merge={matter['auto_merge']} "
        f"related_matters={','.join(matter['related_matters']) or '-'}"
    )


@app.command("departments")
def departments(
    file: Annotated[
        Path | None, typer.Option(help="CSV code,name,name_zh (default: geodata/departments.csv)")
    ] = None,
) -> None:
    """Load (upsert) the county departments and list them."""
    from gridsvc.matters.service import DEPARTMENTS_FILE, ensure_departments, list_departments

    async def task(_: Settings, url: str) -> list[dict[str, Any]]:
        connection = await connect(url)
        try:
            await ensure_departments(connection, path=file or DEPARTMENTS_FILE)
            return await list_departments(connection)
        finally:
            await connection.close()

    for row in _run(task):
        typer.echo(f"{row['code']:<20} {row['name_zh']:<10} {row['name']}")
