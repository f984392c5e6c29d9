"""The negative list and the 首违不罚 records as CSV or Excel, with Chinese column titles
(the files go to leaders and market-supervision desks as they are).

Text is data, never a formula: a CSV cell starting with = + - @ gets a leading apostrophe,
and Excel cells are written as strings (as :mod:`gridsvc.events.export` does).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell

CSV_MEDIA = "text/csv; charset=utf-8"
XLSX_MEDIA = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

NEGATIVE_COLUMNS = (
    ("target_id", "对象编号"),
    ("name", "名称"),
    ("credit_code", "统一社会信用代码"),
    ("address", "地址"),
    ("grid_code", "社区网格"),
    ("violations", "违法次数"),
    ("status", "处置"),
    ("listed_at", "列入负面清单时间"),
    ("penalty_at", "建议处罚时间"),
)
LENIENT_COLUMNS = (
    ("id", "记录编号"),
    ("target_id", "对象编号"),
    ("name", "名称"),
    ("credit_code", "统一社会信用代码"),
    ("matter_code", "检查事项"),
    ("source", "来源"),
    ("note", "说明"),
    ("recorded_at", "记录时间"),
)
WORDS = {
    "warning": "警示",
    "penalty_recommended": "建议处罚",
    "event": "事件结案",
    "inspection": "检查结果",
}


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    return WORDS.get(str(value), str(value))


def _safe(text: str) -> str:
    return "'" + text if text.startswith(FORMULA_START) else text


def to_csv(columns: tuple[tuple[str, str], ...], rows: Iterable[dict[str, Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([title for _, title in columns])
    for row in rows:
        writer.writerow([_safe(_text(row.get(key))) for key, _ in columns])
    return ("\ufeff" + out.getvalue()).encode("utf-8")  # BOM: Excel opens UTF-8 CSV as such


def to_xlsx(columns: tuple[tuple[str, str], ...], rows: Iterable[dict[str, Any]], title: str) -> bytes:
    book = Workbook(write_only=True)
    sheet = book.create_sheet(title)
    sheet.append([t for _, t in columns])
    for row in rows:
        cells = []
        for key, _ in columns:
            cell = WriteOnlyCell(sheet, value=_text(row.get(key)))
            cell.data_type = "s"  # a string, never a formula
            cells.append(cell)
        sheet.append(cells)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
