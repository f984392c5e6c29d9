"""The work queue's export (``GET /events-export``): the filtered list as CSV or Excel.

Pure: API answers (:func:`gridsvc.events.read.present`) in, bytes out. Column titles and
values (states, SLA status, sources, "剩 2 小时 5 分") come from the pages' own dictionaries
(``gridsvc/static/i18n/*.json``), so the file says what the queue on screen says, in Chinese
unless English is asked for. The caller is not exported at all: a file leaves every audit.

Text from callers and hotlines is data, never a formula: a CSV cell starting with = + - @
(or a tab / carriage return) gets a leading apostrophe (OWASP's CSV-injection rule), and
Excel cells are written as strings explicitly (openpyxl would store "=..." as a formula).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping
from datetime import datetime, tzinfo
from functools import cache
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.utils import get_column_letter

I18N = Path(__file__).resolve().parent.parent / "static" / "i18n"
LANGS = ("zh-CN", "en")
COLUMNS = (
    "id",
    "work_order",
    "title",
    "state",
    "sla",
    "time_left",
    "due_at",
    "matter",
    "address",
    "township",
    "grid",
    "responsible",
    "source",
    "located",
    "received_at",
)
WIDTHS = {"title": 30, "address": 30, "matter": 22, "responsible": 22, "time_left": 16}
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
CSV_MEDIA = "text/csv; charset=utf-8"
XLSX_MEDIA = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@cache
def dictionary(lang: str) -> dict[str, str]:
    loaded: dict[str, str] = json.loads((I18N / f"{lang}.json").read_text(encoding="utf-8"))
    return loaded


def _t(words: Mapping[str, str], key: str, fallback: str = "", **values: Any) -> str:
    text = words.get(key, fallback)
    for name, value in values.items():
        text = text.replace("{" + name + "}", str(value))
    return text


def time_left(words: Mapping[str, str], seconds: int | None) -> str:
    """The queue's "剩 2 小时 5 分" / "超时 3 天 1 小时" (i18n.js ``timeLeft``)."""
    if seconds is None:
        return ""
    minutes = round(seconds / 60)
    way, n = ("left" if minutes >= 0 else "over"), abs(minutes)
    if n >= 1440:
        return _t(words, f"time.{way}_d", d=n // 1440, h=n % 1440 // 60)
    if n >= 120:
        return _t(words, f"time.{way}_h", h=n // 60, m=n % 60)
    return _t(words, f"time.{way}_min", n=n)


def _local(value: datetime | None, zone: tzinfo) -> datetime | None:
    # Excel has no time zones: the county's wall-clock time, as the page shows it
    return value.astimezone(zone).replace(tzinfo=None) if value else None


def _grid(event: Mapping[str, Any], layer: str) -> str:
    grid = (event.get("grids") or {}).get(layer) or {}
    return str(grid.get("name") or grid.get("code") or "")


def row_of(event: Mapping[str, Any], words: Mapping[str, str], zone: tzinfo) -> dict[str, Any]:
    """One exported row of an event's API answer (times as local datetimes)."""
    sla = event.get("sla") or {}
    kind = event.get("responsible_kind")
    unit = event.get("responsible_name") or event.get("responsible_code") or ""
    return {
        "id": event["id"],
        "work_order": event.get("external_id") or "",
        "title": event.get("title") or "",
        "state": _t(words, f"state.{event['state']}", event["state"]),
        "sla": _t(words, f"sla.{sla.get('status', 'none')}", sla.get("status", "")),
        "time_left": time_left(words, sla.get("time_left_s")),
        "due_at": _local(sla.get("due_at"), zone),
        "matter": event.get("matter_name") or event.get("matter_text") or event.get("matter_code") or "",
        "address": event.get("address") or "",
        "township": _grid(event, "enforcement"),
        "grid": _grid(event, "community"),
        "responsible": _t(words, "kind.triage") if kind == "triage" else unit,
        "source": _t(words, f"source.{event['source']}", event["source"]),
        "located": _t(words, "queue.located" if event.get("lat") is not None else "queue.unlocated"),
        "received_at": _local(event.get("received_at"), zone),
    }


def headers(words: Mapping[str, str]) -> list[str]:
    return [_t(words, f"queue.col.{c}", c) for c in COLUMNS]


def _safe_text(value: str) -> str:
    return "'" + value if value.startswith(FORMULA_START) else value


def to_csv(events: Iterable[Mapping[str, Any]], *, lang: str, zone: tzinfo) -> bytes:
    """UTF-8 with a byte-order mark: Excel on a Chinese Windows opens it as UTF-8 then."""
    words = dictionary(lang)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(headers(words))
    for event in events:
        row = row_of(event, words, zone)
        writer.writerow(
            [
                row[c].strftime("%Y-%m-%d %H:%M")
                if isinstance(row[c], datetime)
                else _safe_text(str(row[c]))
                if isinstance(row[c], str)
                else row[c]
                for c in COLUMNS
            ]
        )
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def to_xlsx(events: Iterable[Mapping[str, Any]], *, lang: str, zone: tzinfo) -> bytes:
    words = dictionary(lang)
    book = Workbook(write_only=True)
    sheet = book.create_sheet(_t(words, "queue.title", "queue")[:31])
    for index, column in enumerate(COLUMNS, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = WIDTHS.get(column, 14)
    sheet.freeze_panes = "A2"
    sheet.append(headers(words))
    for event in events:
        row = row_of(event, words, zone)
        cells = []
        for column in COLUMNS:
            cell = WriteOnlyCell(sheet, value=row[column])
            if isinstance(row[column], str):
                cell.data_type = "s"  # text stays text, even "=..."
            elif isinstance(row[column], datetime):
                cell.number_format = "yyyy-mm-dd hh:mm"
            cells.append(cell)
        sheet.append(cells)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
