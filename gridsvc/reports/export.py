"""The leaders' workbook (``gridsvc report export``, ``GET /reports/export.xlsx``): sheets
按乡镇, 按部门, 按事项, 超期案件, 吹哨评分, formatted for printing (Chinese headers, widths,
frozen header row, a totals row, landscape fitted to the page width); and the by-township
table as CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from gridsvc.reports import queries, service
from gridsvc.reports.models import Summary, SummaryRow
from gridsvc.whistles import service as whistles

XLSX_MEDIA = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_MEDIA = "text/csv; charset=utf-8"
SHEETS = ("按乡镇", "按部门", "按事项", "超期案件", "吹哨评分")
_HEADER_FILL = PatternFill("solid", fgColor="DDE6F0")
_BOLD = Font(bold=True)


@dataclass(frozen=True)
class Column:
    title: str
    width: float
    value: Callable[[Any], Any]
    percent: bool = False


def _pct(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _unit_columns(unit: str, *, whistle: bool = False) -> list[Column]:
    r: Callable[[str], Callable[[SummaryRow], Any]] = lambda name: lambda row: getattr(row, name)  # noqa: E731
    columns = [
        Column("代码", 16, r("key")),
        Column(unit, 22, r("name")),
        Column("受理数", 9, r("received")),
        Column("签收数", 9, r("signed_for")),
        Column("按时签收数", 11, r("signed_in_time")),
        Column("响应率", 9, lambda row: _pct(row.response_rate), percent=True),
        Column("到场P50(分钟)", 13, r("arrive_p50_min")),
        Column("到场P90(分钟)", 13, r("arrive_p90_min")),
        Column("办结数", 9, r("closed")),
        Column("按时办结数", 11, r("closed_in_time")),
        Column("按时办结率", 11, lambda row: _pct(row.on_time_close_rate), percent=True),
        Column("回访数", 9, r("revisited")),
        Column("解决率", 9, lambda row: _pct(row.resolution_rate), percent=True),
        Column("满意率", 9, lambda row: _pct(row.satisfaction_rate), percent=True),
        Column("重办率", 9, lambda row: _pct(row.redo_rate), percent=True),
        Column("退单数", 9, r("returns")),
        Column("延期数", 9, r("extensions")),
        Column("督办数", 9, r("duban")),
        Column("上期受理数", 11, lambda row: row.previous.received),
        Column("受理数环比", 11, lambda row: row.change.get("received")),
        Column("响应率环比", 11, lambda row: row.change.get("response_rate"), percent=True),
        Column("满意率环比", 11, lambda row: row.change.get("satisfaction_rate"), percent=True),
    ]
    if whistle:
        columns.insert(18, Column("吹哨报到得分", 12, r("whistle_score")))
    return columns


_STATE_ZH = {
    "received": "已接收",
    "routed": "已分拨",
    "dispatched": "已派遣",
    "signed_for": "已签收",
    "on_scene": "已到场",
    "handled": "已处置",
    "verified": "已核查",
    "closed": "已结案",
    "returned": "已退单",
    "suspended": "已挂账",
}


def _overdue_columns(zone: ZoneInfo) -> list[Column]:
    def local(name: str) -> Callable[[dict[str, Any]], Any]:
        def value(row: dict[str, Any]) -> Any:
            moment = row.get(name)
            return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M") if moment else None

        return value

    return [
        Column("事件编号", 10, lambda row: row["id"]),
        Column("工单号", 18, lambda row: row["external_id"]),
        Column("标题", 30, lambda row: row["title"]),
        Column("事项", 22, lambda row: row["matter_name"] or row["matter_code"]),
        Column("乡镇", 14, lambda row: row["township"] or None),
        Column("责任单位", 18, lambda row: row["responsible_name"]),
        Column("状态", 9, lambda row: _STATE_ZH.get(row["state"], row["state"])),
        Column("受理时间", 17, local("received_at")),
        Column("办结期限", 17, local("handle_due_at")),
        Column("结案时间", 17, local("closed_at")),
        Column("超期(小时)", 11, lambda row: round(float(row["hours_over"]), 1)),
    ]


_WHISTLE_COLUMNS = [
    Column("部门代码", 14, lambda row: row["department"]),
    Column("部门", 20, lambda row: row["name_zh"] or row["name"]),
    Column("吹哨次数", 10, lambda row: row["summoned"]),
    Column("报到数", 9, lambda row: row["acknowledged"]),
    Column("按时报到数", 11, lambda row: row["acknowledged_on_time"]),
    Column("到场数", 9, lambda row: row["arrived"]),
    Column("按时到场数", 11, lambda row: row["arrived_on_time"]),
    Column("按时报到率", 11, lambda row: _pct(row["ack_on_time_rate"]), percent=True),
    Column("按时到场率", 11, lambda row: _pct(row["arrive_on_time_rate"]), percent=True),
    Column("平均报到(分钟)", 14, lambda row: row["mean_minutes_to_ack"]),
    Column("平均到场(分钟)", 14, lambda row: row["mean_minutes_to_arrive"]),
    Column("得分", 8, lambda row: row["score"]),
]


def _sheet(
    book: Workbook,
    title: str,
    caption: str,
    columns: Sequence[Column],
    rows: Sequence[Any],
    total: Any | None,
) -> Worksheet:
    sheet = book.create_sheet(title)
    sheet.append([c.title for c in columns])
    for cell in sheet[1]:
        cell.font, cell.fill = _BOLD, _HEADER_FILL
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
    for row in rows:
        sheet.append([c.value(row) for c in columns])
    if total is not None:
        sheet.append([c.value(total) for c in columns])
        for cell in sheet[sheet.max_row]:
            cell.font = _BOLD
    for index, column in enumerate(columns, start=1):
        letter = get_column_letter(index)
        sheet.column_dimensions[letter].width = column.width
        if column.percent:
            for (cell,) in sheet.iter_rows(min_row=2, min_col=index, max_col=index):
                cell.number_format = "0.0%"
    sheet.freeze_panes = "A2"
    sheet.print_title_rows = "1:1"
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.paperSize = sheet.PAPERSIZE_A4
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
    sheet.oddHeader.center.text = caption
    sheet.oddFooter.center.text = "第 &P 页，共 &N 页"
    return sheet


@dataclass(frozen=True, kw_only=True)
class ReportData:
    first: date
    last: date
    timezone: str
    by_township: Summary
    by_department: Summary
    by_matter: Summary
    overdue: list[dict[str, Any]]
    whistles: list[dict[str, Any]]


async def gather(
    connection: asyncpg.Connection,
    *,
    first: date,
    last: date,
    jurisdiction: str | None,
    scope: service.ReportScope,
    now: datetime,
    sign_for_minutes: float,
) -> ReportData:
    """Everything the workbook shows, for the caller's scope."""
    summaries = {}
    for by in ("township", "department", "matter"):
        summaries[by] = await service.summary(
            connection,
            by=by,
            first=first,
            last=last,
            jurisdiction=jurisdiction,
            scope=scope,
            now=now,
            sign_for_minutes=sign_for_minutes,
        )
    area = await service.area_of(connection, jurisdiction)
    start, end = service.local_bounds(first, last, area.timezone)
    filters = service.overdue_filters(area, scope)
    overdue = [dict(r) for r in await connection.fetch(queries.OVERDUE_CASES, start, end, now, *filters)]
    scored: list[dict[str, Any]] = []
    single = scope.townships is None or len(scope.townships) == 1
    if single:
        township = scope.townships[0] if scope.townships else None
        scored = await whistles.scores(connection, start=start, end=end, township_code=township)
        if scope.department is not None:
            scored = [r for r in scored if r["department"] == scope.department]
    return ReportData(
        first=first,
        last=last,
        timezone=area.timezone,
        by_township=summaries["township"],
        by_department=summaries["department"],
        by_matter=summaries["matter"],
        overdue=overdue,
        whistles=scored,
    )


def to_xlsx(data: ReportData) -> bytes:
    book = Workbook()
    assert book.active is not None
    book.remove(book.active)
    period = f"{data.first:%Y-%m-%d} 至 {data.last:%Y-%m-%d}"
    _sheet(
        book,
        "按乡镇",
        f"按乡镇统计 {period}",
        _unit_columns("乡镇"),
        data.by_township.rows,
        data.by_township.total,
    )
    _sheet(
        book,
        "按部门",
        f"按部门统计 {period}",
        _unit_columns("部门", whistle=True),
        data.by_department.rows,
        data.by_department.total,
    )
    _sheet(
        book,
        "按事项",
        f"按事项统计 {period}",
        _unit_columns("事项"),
        data.by_matter.rows,
        data.by_matter.total,
    )
    overdue_total = {
        "id": "合计",
        "external_id": None,
        "title": f"{len(data.overdue)} 件",
        "matter_name": None,
        "matter_code": None,
        "township": None,
        "responsible_name": None,
        "state": "",
        "hours_over": sum(float(r["hours_over"]) for r in data.overdue),
    }
    _sheet(
        book,
        "超期案件",
        f"超期案件 {period}",
        _overdue_columns(ZoneInfo(data.timezone)),
        data.overdue,
        overdue_total,
    )
    whistle_total = {
        "department": "合计",
        "name": "",
        "name_zh": "",
        **{
            k: sum(int(r[k]) for r in data.whistles)
            for k in ("summoned", "acknowledged", "acknowledged_on_time", "arrived", "arrived_on_time")
        },
        "ack_on_time_rate": None,
        "arrive_on_time_rate": None,
        "mean_minutes_to_ack": None,
        "mean_minutes_to_arrive": None,
        "score": None,
    }
    _sheet(book, "吹哨评分", f"吹哨报到评分 {period}", _WHISTLE_COLUMNS, data.whistles, whistle_total)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def to_csv(summary: Summary) -> bytes:
    """The by-township table as CSV (UTF-8 with BOM, so that Excel reads the Chinese)."""
    columns = _unit_columns("乡镇")
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([c.title for c in columns])
    for row in [*summary.rows, summary.total]:
        writer.writerow(["" if (v := c.value(row)) is None else v for c in columns])
    return ("\ufeff" + out.getvalue()).encode("utf-8")
