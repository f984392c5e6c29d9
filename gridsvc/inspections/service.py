"""一店一档 and 综合查一次: inspection targets, departments' matters, planned inspections
merged into joint visits, savings.

Targets are keyed by their unified social credit code; each target's community grid is
looked up from its point with the grid overlay (the same index as ``/grids/lookup``).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any, TypeAlias

import asyncpg
import numpy as np

from gridsvc.errors import Invalid, NotFound
from gridsvc.grids.lookup import NONE, Overlay
from gridsvc.inspections import models, queries

Connection: TypeAlias = asyncpg.Connection | asyncpg.Pool


class InspectionInvalid(Invalid):
    """Bad inspection input: 422 naming the field and the reason."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}", fields=[{"field": field, "reason": reason}])


class TargetImportError(Invalid):
    """A bad row of an import file: names the file, the row and the column."""

    def __init__(self, file: str, row: int, column: str, reason: str) -> None:
        super().__init__(
            f"{file}: row {row}, column {column}: {reason}",
            fields=[{"field": column, "reason": reason, "row": row, "file": file}],
        )


# -- targets -----------------------------------------------------------------------------


def community_grids(overlay: Overlay, lng: list[float], lat: list[float]) -> list[str | None]:
    """The community grid code at each point (None outside every community grid)."""
    index = overlay.layers.get("community")
    if index is None or not lng:
        return [None] * len(lng)
    positions = overlay.locate(np.asarray(lng, float), np.asarray(lat, float)).get("community")
    if positions is None:
        return [None] * len(lng)
    return [None if p == NONE else str(index.summaries[p]["code"]) for p in positions.tolist()]


def target_view(row: asyncpg.Record | dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "name": row["name"],
        "credit_code": row["credit_code"],
        "address": row["address"],
        "type": row["type"],
        "point": {"lng": row["lng"], "lat": row["lat"]},
        "grid_code": row["grid_code"],
    }


def check_credit_code(code: str, field: str = "credit_code") -> str:
    code = code.strip().upper()
    problem = models.credit_code_problem(code)
    if problem:
        raise InspectionInvalid(field, problem)
    return code


async def list_targets(
    connection: Connection, *, type: str | None, grid_code: str | None, limit: int, offset: int
) -> list[dict[str, Any]]:
    rows = await connection.fetch(queries.LIST_TARGETS, type, grid_code, limit, offset)
    return [target_view(r) for r in rows]


async def get_target(connection: Connection, target_id: int) -> dict[str, Any]:
    row = await connection.fetchrow(queries.TARGET, target_id)
    if row is None:
        raise NotFound(f"inspection target {target_id} does not exist")
    return target_view(row)


async def create_target(
    connection: Connection, *, body: models.TargetIn, overlay: Overlay, actor: str
) -> dict[str, Any]:
    code = check_credit_code(body.credit_code)
    grid = community_grids(overlay, [body.point.lng], [body.point.lat])[0]
    row = await connection.fetchrow(
        queries.UPSERT_TARGET,
        code,
        body.name.strip(),
        body.address.strip(),
        body.type,
        body.point.lng,
        body.point.lat,
        grid,
        actor,
    )
    assert row is not None
    return await get_target(connection, row["id"])


async def update_target(
    connection: Connection, *, target_id: int, body: models.TargetPatch, overlay: Overlay, actor: str
) -> dict[str, Any]:
    old = await get_target(connection, target_id)
    code = check_credit_code(body.credit_code) if body.credit_code is not None else old["credit_code"]
    other = await connection.fetchval(queries.TARGET_BY_CODE, code)
    if other is not None and other != target_id:
        raise InspectionInvalid("credit_code", f"{code} is already target {other}")
    point = body.point.model_dump() if body.point is not None else old["point"]
    grid = community_grids(overlay, [point["lng"]], [point["lat"]])[0]
    await connection.execute(
        queries.UPDATE_TARGET,
        target_id,
        code,
        body.name.strip() if body.name is not None else old["name"],
        body.address.strip() if body.address is not None else old["address"],
        body.type or old["type"],
        point["lng"],
        point["lat"],
        grid,
        actor,
    )
    return await get_target(connection, target_id)


# -- import ------------------------------------------------------------------------------

# Column headers accepted (English or the Chinese of a 一店一档 register).
HEADERS = {
    "name": "name",
    "名称": "name",
    "credit_code": "credit_code",
    "统一社会信用代码": "credit_code",
    "address": "address",
    "地址": "address",
    "type": "type",
    "类型": "type",
    "lng": "lng",
    "经度": "lng",
    "lat": "lat",
    "纬度": "lat",
}
REQUIRED = ("name", "credit_code", "type", "lng", "lat")
TYPE_WORDS = {
    "company": "company",
    "企业": "company",
    "公司": "company",
    "shop": "shop",
    "商铺": "shop",
    "店铺": "shop",
    "small_venue": "small_venue",
    "三小场所": "small_venue",
}


@dataclass(frozen=True)
class TargetRow:
    row: int
    name: str
    credit_code: str
    address: str
    type: str
    lng: float
    lat: float


def read_table(path: Path) -> list[list[str]]:
    """The rows of a CSV (UTF-8, BOM allowed) or Excel (.xlsx, first sheet) file, as text."""
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        from openpyxl import load_workbook

        book = load_workbook(path, read_only=True, data_only=True)
        try:
            sheet = book.worksheets[0]
            return [
                ["" if v is None else str(v).strip() for v in r] for r in sheet.iter_rows(values_only=True)
            ]
        finally:
            book.close()
    text = path.read_bytes().decode("utf-8-sig")
    return [[c.strip() for c in r] for r in csv.reader(io.StringIO(text))]


def parse_targets(file: str, table: list[list[str]]) -> list[TargetRow]:
    """Validate every row (row numbers as a spreadsheet shows them: the header is row 1);
    the first bad one raises :class:`TargetImportError`."""
    if not table:
        raise TargetImportError(file, 1, "header", "the file is empty")
    columns: dict[str, int] = {}
    for i, header in enumerate(table[0]):
        key = HEADERS.get(header.strip().lower()) or HEADERS.get(header.strip())
        if key:
            columns[key] = i
    for key in REQUIRED:
        if key not in columns:
            raise TargetImportError(file, 1, key, "column missing from the header")
    seen: dict[str, int] = {}
    rows: list[TargetRow] = []
    for number, cells in enumerate(table[1:], start=2):
        if not any(cells):
            continue

        def cell(key: str, cells: list[str] = cells) -> str:
            i = columns.get(key)
            return cells[i] if i is not None and i < len(cells) else ""

        name = cell("name")
        if not name:
            raise TargetImportError(file, number, "name", "empty")
        code = cell("credit_code").upper()
        problem = models.credit_code_problem(code)
        if problem:
            raise TargetImportError(file, number, "credit_code", problem)
        if code in seen:
            raise TargetImportError(file, number, "credit_code", f"{code} repeats row {seen[code]}")
        seen[code] = number
        kind = TYPE_WORDS.get(cell("type").lower()) or TYPE_WORDS.get(cell("type"))
        if kind is None:
            raise TargetImportError(
                file, number, "type", f"{cell('type')!r} is not one of company, shop, small_venue"
            )
        coordinates = {}
        for key, limit in (("lng", 180.0), ("lat", 90.0)):
            try:
                value = float(cell(key))
            except ValueError:
                raise TargetImportError(file, number, key, f"{cell(key)!r} is not a number") from None
            if not -limit <= value <= limit:
                raise TargetImportError(file, number, key, f"{value} is out of range ±{limit:g}")
            coordinates[key] = value
        rows.append(
            TargetRow(number, name, code, cell("address"), kind, coordinates["lng"], coordinates["lat"])
        )
    return rows


async def import_targets(
    connection: asyncpg.Connection,
    *,
    rows: list[TargetRow],
    overlay: Overlay,
    actor: str,
    on_row: Any = None,
) -> dict[str, int]:
    """Insert or update every row in one transaction (all or nothing)."""
    grids = community_grids(overlay, [r.lng for r in rows], [r.lat for r in rows])
    created = updated = 0
    async with connection.transaction():
        for row, grid in zip(rows, grids, strict=True):
            result = await connection.fetchrow(
                queries.UPSERT_TARGET,
                row.credit_code,
                row.name,
                row.address,
                row.type,
                row.lng,
                row.lat,
                grid,
                actor,
            )
            assert result is not None
            created += bool(result["created"])
            updated += not result["created"]
            if on_row is not None:
                on_row(row)
    return {"rows": len(rows), "created": created, "updated": updated, "outside_grids": grids.count(None)}


# -- matters -----------------------------------------------------------------------------


async def check_department(connection: Connection, code: str, field: str = "department") -> None:
    if await connection.fetchval(queries.DEPARTMENT_EXISTS, code) is None:
        raise InspectionInvalid(field, f"no department {code!r}")


def clean_codes(codes: list[str], field: str) -> list[str]:
    cleaned = sorted({c.strip() for c in codes if c.strip()})
    if not cleaned:
        raise InspectionInvalid(field, "at least one matter code")
    return cleaned


async def set_matters(
    connection: asyncpg.Connection, *, department: str, target_type: str, matter_codes: list[str]
) -> dict[str, Any]:
    await check_department(connection, department)
    if target_type not in models.TARGET_TYPES:
        raise InspectionInvalid(
            "target_type", f"{target_type!r} is not one of {', '.join(models.TARGET_TYPES)}"
        )
    codes = clean_codes(matter_codes, "matter_codes")
    async with connection.transaction():
        await connection.execute(queries.SET_MATTERS_DELETE, department, target_type)
        await connection.execute(queries.SET_MATTERS_INSERT, department, target_type, codes)
    return {"department": department, "target_type": target_type, "matter_codes": codes}


async def list_matters(connection: Connection, *, department: str | None) -> list[dict[str, Any]]:
    return [dict(r) for r in await connection.fetch(queries.MATTERS, department)]


# -- joint visits (综合查一次) ---------------------------------------------------------------


def lead_of(members: list[dict[str, Any]]) -> str:
    """The lead department of a joint visit: the one with the most matters to check there
    (it carries most of the visit's checklist), ties broken by department code so that the
    choice does not depend on who asked first."""
    matters: dict[str, set[str]] = {}
    for m in members:
        matters.setdefault(m["department"], set()).update(m["matter_codes"])
    return min(matters, key=lambda d: (-len(matters[d]), d))


def first_working_day(start: date, is_working_day: Any) -> date:
    day = start
    for _ in range(60):  # a calendar with no working day in two months is a data error
        if is_working_day(day):
            return day
        day += timedelta(days=1)
    return start


def window_of(members: list[dict[str, Any]]) -> date:
    return min(m["planned_on"] for m in members)


def savings_view(planned: int, joint: int) -> dict[str, Any]:
    saved = planned - joint
    return {
        "planned_separately": planned,
        "joint_visits": joint,
        "saved": saved,
        "share": round(saved / planned, 4) if planned else 0.0,
    }


def inspection_view(row: asyncpg.Record | dict[str, Any]) -> dict[str, Any]:
    view = dict(row)
    view["matter_codes"] = list(view["matter_codes"])
    if isinstance(view.get("result"), str):
        view["result"] = json.loads(view["result"])
    return view


async def list_inspections(
    connection: Connection, *, department: str | None, start: date, end: date
) -> list[dict[str, Any]]:
    rows = await connection.fetch(queries.LIST_INSPECTIONS, department, start, end)
    return [inspection_view(r) for r in rows]


async def get_inspection(connection: Connection, inspection_id: int) -> dict[str, Any]:
    row = await connection.fetchrow(queries.INSPECTION, inspection_id)
    if row is None:
        raise NotFound(f"inspection {inspection_id} does not exist")
    return inspection_view(row)


# -- 首违不罚 list ---------------------------------------------------------------------------


async def list_lenient(connection: Connection) -> list[dict[str, Any]]:
    return [dict(r) for r in await connection.fetch(queries.LENIENT)]


async def add_lenient(connection: Connection, *, matter_code: str, actor: str) -> dict[str, Any]:
    code = matter_code.strip()
    if not code:
        raise InspectionInvalid("matter_code", "empty")
    await connection.execute(queries.ADD_LENIENT, code, actor)
    return {"matter_code": code}
