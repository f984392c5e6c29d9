"""Read a matter catalogue (事项清单) in the GB/T 30428 style from CSV or XLSX.

The tables have the columns 大类代码, 大类名称, 小类代码, 小类名称, 处置单位, 主管部门, 立案条件,
结案条件, 处置时限. One (大类, 小类) pair is one matter, coded ``EV-<major>-<minor>`` for events
(事件) and ``PT-<major>-<minor>`` for parts (部件); each of its rows is one condition.

Reading rules (the same for both formats, so that a sheet and its CSV export give the same
matters and conditions):

* XLSX: merged cells are filled from their top-left cell. A row whose condition cells
  (立案条件, 结案条件, 处置时限) are all continuations of merged cells started above is the
  same condition as the row above, not a new one (the Yuncheng 事件 sheet merges two rows for
  one condition). The header row is found in the first 20 rows (titles above it are
  skipped); row numbers are the sheet's own.
* CSV (UTF-8 with or without BOM, or GB18030): the header is the first line; row numbers
  are spreadsheet rows (header = row 1).
* A blank 大类代码 continues the class of the row above when its 大类名称 is blank or the same;
  a blank 小类代码 continues the matter above when its 小类名称 is blank or the same. Any
  other blank code is an error. Numeric codes are written with two digits (1 -> "01").
* 处置单位 and 主管部门 belong to the matter: the first non-blank value is kept, and a
  different non-blank value on a later row of the same matter is an error.
* A row with no 立案条件, 结案条件 and 处置时限 adds no condition.
* Time limits go through :func:`gridsvc.matters.timelimits.parse`; a text it refuses leaves
  the condition without a limit and is listed under ``unparsed`` (nothing is guessed).
* 主管部门 -> ``owner_department``: the text is split into department names (at 、，,;/ and
  blanks); the names are tried in written order (the standards list the lead department
  first) against :data:`DEPARTMENT_RULES` in order, and the first name that matches a rule
  decides. No match -> NULL, listed under ``unmatched_departments``.

Every problem that makes the file unusable raises :class:`MatterImportError` naming the
file, sheet, row and problem; nothing is written before the whole input has been read.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gridsvc.matters import timelimits
from gridsvc.textfiles import read_text

COLUMNS = (
    "大类代码",
    "大类名称",
    "小类代码",
    "小类名称",
    "处置单位",
    "主管部门",
    "立案条件",
    "结案条件",
    "处置时限",
)
CONDITION_COLUMNS = ("立案条件", "结案条件", "处置时限")
KIND_PREFIX = {"event": "EV", "part": "PT"}
SHEET_KINDS = {"事件": "event", "部件": "part"}
HEADER_SEARCH_ROWS = 20

# (department code, keywords): tried in this order on each name of the 主管部门 text.
DEPARTMENT_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("urban_management", ("城市管理", "城管")),
    ("market", ("市场监管", "市场监督")),
    ("forestry", ("林业",)),
    ("natural_resources", ("自然资源", "国土")),
    ("ecology", ("生态环境", "环保", "环境保护")),
    ("housing", ("住建", "住房", "城乡建设")),
    ("transport", ("交通",)),
    ("water", ("水利", "水务")),
    ("agriculture", ("农业农村", "农业", "农委")),
    ("culture_tourism", ("文化", "旅游", "文旅")),
    ("emergency", ("应急",)),
    ("public_security", ("公安",)),
    ("health", ("卫健", "卫生")),
    ("civil_affairs", ("民政",)),
    ("sports", ("体育",)),
    ("fire_rescue", ("消防",)),
    ("industry_it", ("工信", "工业和信息化")),
    ("development_reform", ("发改", "发展和改革", "发展改革")),
    ("energy", ("能源",)),
    ("education", ("教育",)),
)
_NAME_SEPARATORS = re.compile(r"[、，,;；/\s]+")
_CODE = re.compile(r"^[0-9A-Za-z]+$")


class MatterImportError(ValueError):
    """The input cannot be imported; the message names file, row and problem."""


@dataclass
class SourceRow:
    number: int
    values: dict[str, str | None]
    continued: bool = False  # XLSX: the condition cells continue a merge from above


@dataclass
class ConditionIn:
    position: int
    filing_condition: str | None
    closing_condition: str | None
    time_limit_text: str | None
    limit_amount: float | None
    limit_unit: str | None
    row: int


@dataclass
class MatterIn:
    code: str
    kind: str
    major_code: str
    major_name: str
    minor_code: str
    name: str
    handling_unit: str | None
    supervising_department: str | None
    owner_department: str | None
    source: str
    first_row: int
    last_row: int
    conditions: list[ConditionIn] = field(default_factory=list)


@dataclass
class Catalogue:
    matters: list[MatterIn] = field(default_factory=list)
    unparsed: list[dict[str, Any]] = field(default_factory=list)
    unmatched_departments: list[dict[str, Any]] = field(default_factory=list)
    sources: list[dict[str, Any]] = field(default_factory=list)

    def extend(self, other: Catalogue) -> None:
        known = {m.code: m for m in self.matters}
        for matter in other.matters:
            if matter.code in known:
                raise MatterImportError(
                    f"{matter.source} row {matter.first_row}: matter {matter.code} is also "
                    f"defined in {known[matter.code].source} (row {known[matter.code].first_row})"
                )
        self.matters.extend(other.matters)
        self.unparsed.extend(other.unparsed)
        self.unmatched_departments.extend(other.unmatched_departments)
        self.sources.extend(other.sources)


def owner_department(text: str | None) -> str | None:
    """The department code for a 主管部门 text, or None (see the module docstring)."""
    if not text:
        return None
    for name in _NAME_SEPARATORS.split(text):
        if not name:
            continue
        for code, keywords in DEPARTMENT_RULES:
            if any(keyword in name for keyword in keywords):
                return code
    return None


def check_kind(kind: str | None) -> str | None:
    if kind is not None and kind not in KIND_PREFIX:
        raise MatterImportError(f"unknown kind {kind!r}: use event or part")
    return kind


# -- reading -------------------------------------------------------------------------


def _text(value: Any) -> str | None:
    """A cell as text: None/blank -> None; 1 and 1.0 -> "1"."""
    if value is None:
        return None
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    return text or None


def _header_name(value: Any) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", str(value or "")))


def _column_positions(where: str, header: list[Any], row_number: int) -> dict[str, int]:
    names = [_header_name(v) for v in header]
    missing = [c for c in COLUMNS if c not in names]
    if missing:
        present = ", ".join(n for n in names if n) or "nothing"
        raise MatterImportError(
            f"{where} row {row_number}: missing column(s) {', '.join(missing)} (the header has: {present})"
        )
    duplicated = sorted({c for c in COLUMNS if names.count(c) > 1})
    if duplicated:
        raise MatterImportError(
            f"{where} row {row_number}: column(s) {', '.join(duplicated)} appear twice in the header"
        )
    return {c: names.index(c) for c in COLUMNS}


def read_csv_rows(path: Path) -> list[SourceRow]:
    text = read_text(path)
    if text is None:
        raise MatterImportError(f"{path}: neither UTF-8 nor GB18030 text")
    if not text.strip():
        raise MatterImportError(f"{path}: the file is empty")
    records = list(csv.reader(io.StringIO(text, newline="")))
    while records and not any(cell.strip() for cell in records[0]):
        records.pop(0)
    if not records:
        raise MatterImportError(f"{path}: the file is empty")
    positions = _column_positions(str(path), records[0], 1)
    rows = []
    for number, record in enumerate(records[1:], start=2):
        values = {c: _text(record[i]) if i < len(record) else None for c, i in positions.items()}
        rows.append(SourceRow(number=number, values=values))
    return rows


def read_sheet_rows(path: Path, worksheet: Any) -> list[SourceRow]:
    """Rows of one openpyxl worksheet below its header, merged cells filled."""
    where = f"{path} sheet {worksheet.title}"
    filled: dict[tuple[int, int], Any] = {}
    continuation: set[tuple[int, int]] = set()
    for merged in worksheet.merged_cells.ranges:
        value = worksheet.cell(merged.min_row, merged.min_col).value
        for row in range(merged.min_row, merged.max_row + 1):
            for column in range(merged.min_col, merged.max_col + 1):
                if (row, column) != (merged.min_row, merged.min_col):
                    filled[(row, column)] = value
                    continuation.add((row, column))
    header_row = None
    for row in range(1, min(worksheet.max_row, HEADER_SEARCH_ROWS) + 1):
        cells = [worksheet.cell(row, c).value for c in range(1, worksheet.max_column + 1)]
        if "大类代码" in {_header_name(v) for v in cells}:
            header_row = row
            header = cells
            break
    if header_row is None:
        raise MatterImportError(
            f"{where}: no header row with 大类代码 in the first "
            f"{HEADER_SEARCH_ROWS} rows (expected columns: {', '.join(COLUMNS)})"
        )
    positions = _column_positions(where, header, header_row)
    rows = []
    for row in range(header_row + 1, worksheet.max_row + 1):
        values: dict[str, str | None] = {}
        for name, index in positions.items():
            key = (row, index + 1)
            values[name] = _text(filled[key] if key in filled else worksheet.cell(*key).value)
        condition_cells = [(row, positions[c] + 1) for c in CONDITION_COLUMNS]
        merged_in = [key in continuation for key in condition_cells]
        own = [
            key not in continuation and worksheet.cell(*key).value not in (None, "")
            for key in condition_cells
        ]
        rows.append(SourceRow(number=row, values=values, continued=any(merged_in) and not any(own)))
    return rows


# -- assembling matters --------------------------------------------------------------


def _code(where: str, row: int, column: str, value: str | None) -> str | None:
    if value is None:
        return None
    code = unicodedata.normalize("NFKC", value).strip()
    if not _CODE.match(code):
        raise MatterImportError(f"{where} row {row}: {column} {value!r} is not a code (letters and digits)")
    return code.zfill(2) if code.isdigit() else code


def assemble(where: str, rows: list[SourceRow], kind: str) -> Catalogue:
    """Group rows into matters with their conditions (see the module docstring)."""
    prefix = KIND_PREFIX[kind]
    catalogue = Catalogue()
    seen: dict[tuple[str, str], MatterIn] = {}
    current: MatterIn | None = None
    major: tuple[str, str] | None = None
    for row in rows:
        v = row.values
        if not any(v.values()):
            continue
        n = row.number
        major_code = _code(where, n, "大类代码", v["大类代码"])
        major_name = v["大类名称"]
        if major_code is None:
            if major is None or major_name not in (None, major[1]):
                raise MatterImportError(f"{where} row {n}: no 大类代码")
            major_code = major[0]
        if major_name is None:
            if major is None or major[0] != major_code:
                raise MatterImportError(f"{where} row {n}: no 大类名称 for class {major_code}")
            major_name = major[1]
        if major is not None and major[0] == major_code and major[1] != major_name:
            raise MatterImportError(
                f"{where} row {n}: class {major_code} is named {major_name!r} here but {major[1]!r} above"
            )
        major = (major_code, major_name)

        minor_code = _code(where, n, "小类代码", v["小类代码"])
        minor_name = v["小类名称"]
        if minor_code is None:
            if current is None or current.major_code != major_code or minor_name not in (None, current.name):
                raise MatterImportError(f"{where} row {n}: no 小类代码")
            minor_code = current.minor_code
        key = (major_code, minor_code)
        if current is None or (current.major_code, current.minor_code) != key:
            if key in seen:
                earlier = seen[key]
                raise MatterImportError(
                    f"{where} row {n}: matter {earlier.code} appears again (first at rows "
                    f"{earlier.first_row}–{earlier.last_row})"
                )
            if minor_name is None:
                raise MatterImportError(f"{where} row {n}: no 小类名称 for {major_code}-{minor_code}")
            if row.continued:
                raise MatterImportError(f"{where} row {n}: condition cells merged across two matters")
            current = MatterIn(
                code=f"{prefix}-{major_code}-{minor_code}",
                kind=kind,
                major_code=major_code,
                major_name=major_name,
                minor_code=minor_code,
                name=minor_name,
                handling_unit=None,
                supervising_department=None,
                owner_department=None,
                source=where,
                first_row=n,
                last_row=n,
            )
            seen[key] = current
            catalogue.matters.append(current)
        elif minor_name is not None and minor_name != current.name:
            raise MatterImportError(
                f"{where} row {n}: {current.code} is named {minor_name!r} "
                f"here but {current.name!r} at row {current.first_row}"
            )
        current.last_row = n
        for column, attribute in (("处置单位", "handling_unit"), ("主管部门", "supervising_department")):
            value = v[column]
            if value is None:
                continue
            before = getattr(current, attribute)
            if before is None:
                setattr(current, attribute, value)
            elif before != value:
                raise MatterImportError(
                    f"{where} row {n}: {column} of {current.code} is {value!r} here but {before!r} above"
                )
        if row.continued:
            continue
        filing, closing, limit_text = (v[c] for c in CONDITION_COLUMNS)
        if filing is None and closing is None and limit_text is None:
            continue
        amount = unit = None
        try:
            limit = timelimits.parse(limit_text)
            amount, unit = limit.amount, limit.unit
        except timelimits.TimeLimitError as error:
            catalogue.unparsed.append(
                {
                    "file": where,
                    "row": n,
                    "matter_code": current.code,
                    "text": limit_text or "",
                    "problem": str(error),
                }
            )
        current.conditions.append(
            ConditionIn(
                position=len(current.conditions) + 1,
                filing_condition=filing,
                closing_condition=closing,
                time_limit_text=limit_text,
                limit_amount=amount,
                limit_unit=unit,
                row=n,
            )
        )
    if not catalogue.matters:
        raise MatterImportError(f"{where}: no matters (the table has a header but no rows)")
    for matter in catalogue.matters:
        matter.owner_department = owner_department(matter.supervising_department)
        if matter.owner_department is None:
            catalogue.unmatched_departments.append(
                {
                    "file": where,
                    "row": matter.first_row,
                    "matter_code": matter.code,
                    "supervising_department": matter.supervising_department or "",
                }
            )
    catalogue.sources.append(
        {
            "file": where,
            "kind": kind,
            "matters": len(catalogue.matters),
            "conditions": sum(len(m.conditions) for m in catalogue.matters),
            "classes": len({m.major_code for m in catalogue.matters}),
        }
    )
    return catalogue


def read_catalogue(path: Path, *, kind: str | None = None, sheet: str | None = None) -> Catalogue:
    """Read one CSV or XLSX file (every 事件/部件 sheet of a workbook unless ``sheet``)."""
    check_kind(kind)
    if not path.exists():
        raise MatterImportError(f"{path}: file not found")
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        return _read_workbook(path, kind=kind, sheet=sheet)
    if suffix in (".csv", ".txt"):
        if sheet is not None:
            raise MatterImportError(f"{path}: --sheet is for XLSX workbooks")
        if kind is None:
            raise MatterImportError(
                f"{path}: say which kind of matters the CSV holds (--kind event or --kind part)"
            )
        return assemble(str(path), read_csv_rows(path), kind)
    raise MatterImportError(f"{path}: unsupported file type {path.suffix!r} (CSV or XLSX)")


def _read_workbook(path: Path, *, kind: str | None, sheet: str | None) -> Catalogue:
    import zipfile

    import openpyxl

    if path.stat().st_size == 0:
        raise MatterImportError(f"{path}: the file is empty")
    try:
        workbook = openpyxl.load_workbook(path, data_only=True)
    except (zipfile.BadZipFile, OSError, KeyError, ValueError) as error:
        raise MatterImportError(f"{path}: not a readable XLSX workbook ({error})") from None
    try:
        if sheet is not None:
            if sheet not in workbook.sheetnames:
                raise MatterImportError(
                    f"{path}: no sheet {sheet!r} (sheets: {', '.join(workbook.sheetnames)})"
                )
            chosen = [sheet]
        else:
            chosen = [
                s
                for s in workbook.sheetnames
                if _sheet_kind(s) is not None and kind in (None, _sheet_kind(s))
            ]
            if not chosen and kind is not None and len(workbook.sheetnames) == 1:
                chosen = list(workbook.sheetnames)
            if not chosen:
                raise MatterImportError(
                    f"{path}: no sheet named like 事件 or 部件 (sheets: "
                    f"{', '.join(workbook.sheetnames)}); pick one with --sheet and --kind"
                )
        catalogue = Catalogue()
        for name in chosen:
            sheet_kind = kind or _sheet_kind(name)
            if sheet_kind is None:
                raise MatterImportError(
                    f"{path} sheet {name}: say which kind of matters it holds (--kind event or --kind part)"
                )
            rows = read_sheet_rows(path, workbook[name])
            catalogue.extend(assemble(f"{path} sheet {name}", rows, sheet_kind))
        return catalogue
    finally:
        workbook.close()


def _sheet_kind(name: str) -> str | None:
    found = {kind for word, kind in SHEET_KINDS.items() if word in name}
    return found.pop() if len(found) == 1 else None
