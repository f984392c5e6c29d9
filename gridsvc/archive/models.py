"""Typed in and out of the archive: what a run was asked, what it moved."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

# The live tables an archive run moves, parents before children: the order rows are copied
# in, and reversed, the order they are deleted in (children first, so that every delete is
# counted and none happens by cascade behind the counts' back).
TABLES = (
    "events",
    "event_transitions",
    "event_extensions",
    "escalations",
    "duban_recipients",
    "outbox",
    "recipient_notices",
    "whistles",
    "whistle_attendance",
    "attachments",
    "revisits",
    "patrol_findings",
    "target_violations",
)


class ArchiveInvalid(ValueError):
    """A request the archive refuses before touching anything; ``field`` names the input
    (``before``, ``since``, ``jurisdiction``), the CLI shows it as its option."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@dataclass(frozen=True, kw_only=True)
class ArchiveRequest:
    """Closed events received in [since, before) (``since`` None: from the first), of
    ``jurisdiction`` and those below it (None: every event, unlocated ones included)."""

    before: datetime
    since: datetime | None = None
    jurisdiction: str | None = None
    dry_run: bool = False
    batch_size: int = 5000


@dataclass(kw_only=True)
class ArchiveResult:
    """Rows moved per table (with ``dry_run``: rows that would move; every batch was done and
    rolled back, so the figures are exact), the batches, and the closed events left live on
    purpose: the 并单 originals of events that stay, and those with undelivered messages."""

    request: ArchiveRequest
    moved: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TABLES, 0))
    batches: int = 0
    kept_linked: int = 0
    kept_pending: int = 0
