"""``gridsvc events archive``: closed events of the past out of the live tables."""

from __future__ import annotations

from typing import Annotated

import typer

from gridsvc.archive import service
from gridsvc.archive.models import ArchiveInvalid, ArchiveRequest, ArchiveResult
from gridsvc.cli_support import fail, progress, run
from gridsvc.database.pool import connect
from gridsvc.settings import Settings

events_app = typer.Typer(help="Events: the archive of closed history.", no_args_is_help=True)

OPTIONS = {
    "before": "--before",
    "since": "--since",
    "jurisdiction": "--jurisdiction",
    "batch_size": "--batch",
}


def _refuse(error: ArchiveInvalid) -> ValueError:
    return ValueError(f"{OPTIONS.get(error.field, error.field)}: {error.reason}")


@events_app.command("archive")
def archive_command(
    before: Annotated[
        str, typer.Option("--before", help="archive closed events received before this day (UTC)")
    ],
    jurisdiction: Annotated[
        str | None,
        typer.Option("--jurisdiction", help="only this jurisdiction's events (and those below it)"),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option("--since", help="only events received on or after this day (a year at a time)"),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="count what would move (every batch is done and rolled back)")
    ] = False,
    batch: Annotated[int, typer.Option("--batch", help="events per transaction")] = 5000,
) -> None:
    """Move closed events received before --before, with their audit trail, callbacks, 督办,
    notices, 延期, 吹哨, photos' records and 回访, into schema ``archive``; open events and the
    并单 originals of events that stay are never moved. GET /events/{id} still shows them."""
    try:
        request = ArchiveRequest(
            before=service.parse_day("before", before),
            since=service.parse_day("since", since) if since else None,
            jurisdiction=jurisdiction,
            dry_run=dry_run,
            batch_size=batch,
        )
    except ArchiveInvalid as error:
        fail(str(_refuse(error)))

    async def main(_: Settings, url: str) -> ArchiveResult:
        connection = await connect(url)
        try:
            total = await service.count_candidates(connection, request=request)
            bar = progress(total, "archive", "event")
            try:
                return await service.archive(connection, request=request, progress=bar.update)
            finally:
                bar.close()
        except ArchiveInvalid as error:
            raise _refuse(error) from error
        finally:
            await connection.close()

    result = run(main)
    events, batches = result.moved["events"], result.batches
    if dry_run:
        typer.echo(f"dry run: would move {events:,} events in {batches} batches (nothing was moved)")
    else:
        typer.echo(f"moved {events:,} events in {batches} batches to schema archive")
    width = max(len(t) for t in result.moved)
    for table, n in result.moved.items():
        note = "  (copied; live rows stay, unlinked)" if table in service.KEPT_LIVE else ""
        typer.echo(f"  {table:<{width}} {n:>12,}{note}")
    if result.kept_linked:
        typer.echo(f"kept live: {result.kept_linked:,} closed events, the 并单 originals of events that stay")
    if result.kept_pending:
        typer.echo(
            f"kept live: {result.kept_pending:,} closed events with a callback or notice still to send"
        )
