"""Read a grid file (anything pyogrio reads), convert it to WGS84 and validate it.

Nothing here touches the database: :func:`prepare_layer` either returns a
:class:`PreparedLayer` with its validation report, or raises :class:`GridImportError`
naming the file, the feature and the reason. Writing is the service's job, in one
transaction, so a failed import changes nothing.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
import shapely.errors
from shapely.geometry import MultiPolygon
from shapely.geometry.base import BaseGeometry
from shapely.validation import explain_validity

from gridsvc.geo.crs import WGS84, CoordinateSystem, UnknownCRSError, parse_crs
from gridsvc.geo.shapes import area_m2, as_multipolygon, geometry_to_wgs84

LAYER_PATTERN = re.compile(r"^(community|enforcement|zone|specialist:[a-z0-9_-]+)$")
# Overlaps and gaps smaller than this are digitising noise, not data errors worth a line.
MIN_REPORTED_AREA_M2 = 1.0
MAX_CODE_LENGTH = 100
# A grid smaller than this is a digitising accident (e.g. a collinear ring), not a place.
MIN_GRID_AREA_M2 = 1.0


class GridImportError(ValueError):
    """An import that must not proceed; the message names file, feature and problem."""


@dataclass
class GridRecord:
    code: str
    name: str
    geometry: MultiPolygon
    area_m2: float
    name_zh: str | None = None
    head_name: str | None = None
    head_phone: str | None = None
    squad_name: str | None = None
    department: str | None = None
    station_name: str | None = None
    enforcement_code: str | None = None
    enforcement_link: str | None = None
    properties: dict[str, Any] = field(default_factory=dict)


OPTIONAL_ATTRIBUTES = (
    "name_zh",
    "head_name",
    "head_phone",
    "squad_name",
    "department",
    "station_name",
    "enforcement_code",
)


@dataclass
class FieldMap:
    """Which attribute column feeds which grid field.

    ``None`` means: use the usual column (``code``/``name``..., or the field's own name for
    the optional ones) if the file has it. A column named explicitly must exist.
    """

    code: str | None = None
    name: str | None = None
    name_zh: str | None = None
    head_name: str | None = None
    head_phone: str | None = None
    squad_name: str | None = None
    department: str | None = None
    station_name: str | None = None
    enforcement_code: str | None = None


@dataclass
class PreparedLayer:
    layer: str
    source_file: str
    source_crs: str
    records: list[GridRecord]
    report: dict[str, Any]

    @property
    def kind(self) -> str:
        return self.layer.split(":", 1)[0]

    @property
    def department(self) -> str | None:
        return self.layer.split(":", 1)[1] if self.kind == "specialist" else None


def validate_layer_name(layer: str) -> str:
    if not LAYER_PATTERN.match(layer):
        raise GridImportError(
            f"layer {layer!r} is not one of community, enforcement, zone, "
            "specialist:<department> (department in lowercase letters, digits, - or _)"
        )
    return layer


def _read(path: Path) -> gpd.GeoDataFrame:
    if not path.exists():
        raise GridImportError(f"{path}: file not found")
    if path.is_file() and path.stat().st_size == 0:
        raise GridImportError(f"{path}: the file is empty")
    try:
        frame = gpd.read_file(path, engine="pyogrio")
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as error:
        raise GridImportError(f"{path}: cannot be read as a geodata file ({error})") from None
    except ValueError as error:
        raise GridImportError(f"{path}: cannot be read ({error})") from None
    if len(frame) == 0:
        raise GridImportError(f"{path}: the file has no features")
    return frame


def _source_crs(path: Path, frame: gpd.GeoDataFrame, crs_option: str | None) -> CoordinateSystem:
    """Decide the coordinates' real system: the file's declared CRS, refined by ``--crs``.

    GCJ-02/BD-09 files declare WGS84 (no EPSG code exists for them), so ``--crs gcj02`` is
    accepted on top of a geographic declaration; a conflicting EPSG code is refused.
    """
    try:
        option = parse_crs(crs_option) if crs_option else None
    except UnknownCRSError as error:
        raise GridImportError(f"{path}: {error}") from None
    declared = frame.crs
    if option is None:
        if declared is None:
            if path.suffix.lower() in {".geojson", ".json"}:
                return WGS84  # RFC 7946: GeoJSON is WGS84 unless stated otherwise
            raise GridImportError(
                f"{path}: the file declares no coordinate system; give one with --crs "
                "(e.g. --crs EPSG:4490, --crs gcj02)"
            )
        return parse_crs(declared.to_string())
    if option.offset is not None:
        if declared is not None and not declared.is_geographic:
            raise GridImportError(
                f"{path}: --crs {option.name} needs lon/lat coordinates, but the file "
                f"declares the projected {declared.name}"
            )
        return option
    if declared is not None and option.crs is not None and not declared.equals(option.crs):
        if not (
            declared.is_geographic
            and option.crs.is_geographic
            and declared.to_epsg() in {4326, 4490}
            and option.crs.to_epsg() in {4326, 4490}
        ):
            raise GridImportError(
                f"{path}: --crs {option.name} contradicts the file's declared CRS "
                f"{declared.to_string()}; drop --crs to use the file's"
            )
    return option


def _column(
    frame: gpd.GeoDataFrame, path: Path, wanted: str | None, usual: list[str], what: str, *, required: bool
) -> str | None:
    columns = [c for c in frame.columns if c != frame.geometry.name]
    if wanted is not None:
        if wanted in columns:
            return wanted
        if required:
            raise GridImportError(
                f"{path}: no attribute {wanted!r} for the grid {what}; "
                f"the file has {', '.join(columns) or 'no attributes'}"
            )
        return None
    lowered = {c.lower(): c for c in columns}
    for name in usual:
        if name in lowered:
            return lowered[name]
    if required:
        raise GridImportError(
            f"{path}: cannot tell which attribute is the grid {what}; "
            f"name it with --{what}-field (attributes: {', '.join(columns) or 'none'})"
        )
    return None


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    text = str(value).strip()
    return text or None


def _feature_label(position: int, code: str | None) -> str:
    return f"feature {position + 1}" + (f" (code {code})" if code else "")


def prepare_layer(
    path: Path, *, layer: str, fields: FieldMap | None = None, crs: str | None = None
) -> PreparedLayer:
    """Read, convert to WGS84 (EPSG:4326) and validate one layer file.

    Geometry problems are handled so: invalid polygons are repaired with
    ``shapely.make_valid`` and listed in the report; non-polygon, empty or missing
    geometries, duplicate or missing codes refuse the whole file.
    """
    validate_layer_name(layer)
    fields = fields or FieldMap()
    frame = _read(path)
    source = _source_crs(path, frame, crs)
    code_column = _column(
        frame, path, fields.code, ["code", "grid_code", "id", "adcode"], "code", required=True
    )
    name_column = _column(
        frame, path, fields.name, ["name", "grid_name", "名称", "name_zh"], "name", required=True
    )
    optional = {
        attribute: _column(
            frame,
            path,
            getattr(fields, attribute),
            [attribute],
            attribute.replace("_", "-"),
            required=getattr(fields, attribute) is not None,
        )
        for attribute in OPTIONAL_ATTRIBUTES
    }
    repaired: list[dict[str, Any]] = []
    records: list[GridRecord] = []
    seen: dict[str, int] = {}
    duplicates: list[str] = []
    attribute_columns = [c for c in frame.columns if c != frame.geometry.name]
    for position, (geometry, row) in enumerate(
        zip(frame.geometry, frame[attribute_columns].to_dict("records"), strict=True)
    ):
        code = _text(row.get(code_column))
        label = _feature_label(position, code)
        if code is None:
            raise GridImportError(f"{path}: {label}: the code attribute {code_column!r} is empty")
        if len(code) > MAX_CODE_LENGTH:
            raise GridImportError(
                f"{path}: feature {position + 1}: the code has {len(code)} characters; "
                f"at most {MAX_CODE_LENGTH}"
            )
        if code in seen:
            duplicates.append(f"{code} (features {seen[code] + 1} and {position + 1})")
            continue
        seen[code] = position
        polygon = _checked_geometry(path, label, geometry, repaired, code)
        polygon = geometry_to_wgs84(polygon, source)
        polygon = _within_lon_lat(path, label, polygon)
        if area_m2(polygon) < MIN_GRID_AREA_M2:
            raise GridImportError(
                f"{path}: {label}: the polygon encloses less than "
                f"{MIN_GRID_AREA_M2:g} m² (degenerate geometry)"
            )
        name = _text(row.get(name_column)) or code
        values = {k: _text(row.get(c)) if c else None for k, c in optional.items()}
        records.append(
            GridRecord(
                code=code,
                name=name,
                geometry=polygon,
                area_m2=area_m2(polygon),
                properties={k: _json_safe(v) for k, v in row.items()},
                **values,
            )
        )
    if duplicates:
        raise GridImportError(f"{path}: duplicate grid codes: {'; '.join(duplicates)}")
    report = {
        "features": len(records),
        "source_crs": source.name,
        "repaired": repaired,
        "overlaps": find_overlaps(records),
    }
    return PreparedLayer(
        layer=layer, source_file=str(path), source_crs=source.name, records=records, report=report
    )


def _checked_geometry(
    path: Path, label: str, geometry: BaseGeometry | None, repaired: list[dict[str, Any]], code: str
) -> MultiPolygon:
    if geometry is None or geometry.is_empty:
        raise GridImportError(f"{path}: {label}: has no geometry")
    if geometry.geom_type not in {"Polygon", "MultiPolygon"}:
        raise GridImportError(
            f"{path}: {label}: geometry is a {geometry.geom_type}; grids must be Polygon or MultiPolygon"
        )
    _finite(path, label, geometry)
    if not geometry.is_valid:
        reason = explain_validity(geometry)
        try:
            fixed = as_multipolygon(shapely.make_valid(geometry))
        except shapely.errors.GEOSException as error:
            raise GridImportError(
                f"{path}: {label}: invalid geometry ({reason}) cannot be repaired ({error})"
            ) from None
        if fixed is None or fixed.is_empty:
            raise GridImportError(f"{path}: {label}: invalid geometry ({reason}) cannot be repaired")
        repaired.append(
            {"code": code, "problem": reason, "repair": "shapely.make_valid", "parts_after": len(fixed.geoms)}
        )
        return fixed
    result = as_multipolygon(geometry)
    assert result is not None
    return result


def _finite(path: Path, label: str, geometry: BaseGeometry) -> None:
    """Refuse NaN/infinite coordinates up front, naming the vertex: GEOS cannot even test
    such a polygon for validity (it raised from ``make_valid``, a traceback for the user)."""
    coordinates = shapely.get_coordinates(geometry)  # x, y: a missing z is NaN too
    bad = np.flatnonzero(~np.isfinite(coordinates).all(axis=1))
    if len(bad):
        x, y = coordinates[bad[0], 0], coordinates[bad[0], 1]
        raise GridImportError(
            f"{path}: {label}: vertex {bad[0] + 1} ({x}, {y}) is not a finite number "
            f"({len(bad)} such vertices in this feature); fix or remove them"
        )


def _within_lon_lat(path: Path, label: str, geometry: MultiPolygon) -> MultiPolygon:
    minx, miny, maxx, maxy = geometry.bounds
    if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90) or not all(
        math.isfinite(v) for v in (minx, miny, maxx, maxy)
    ):
        raise GridImportError(
            f"{path}: {label}: coordinates ({minx:.6g}, {miny:.6g}, {maxx:.6g}, {maxy:.6g}) are "
            "not longitude/latitude after conversion; is --crs right?"
        )
    return geometry


def _json_safe(value: Any) -> Any:
    if value is None or isinstance(value, str | int | bool):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return str(value)


def find_overlaps(records: list[GridRecord]) -> list[dict[str, Any]]:
    """Pairs of grids of one layer that overlap, with the shared area in square metres."""
    geometries = [r.geometry for r in records]
    tree = shapely.STRtree(geometries)
    left, right = tree.query(geometries, predicate="intersects")
    overlaps = []
    for i, j in zip(left.tolist(), right.tolist(), strict=True):
        if i >= j:
            continue
        shared = area_m2(geometries[i].intersection(geometries[j]))
        if shared >= MIN_REPORTED_AREA_M2:
            overlaps.append({"codes": [records[i].code, records[j].code], "area_m2": round(shared, 1)})
    return overlaps


def find_gaps(records: list[GridRecord], boundary: BaseGeometry) -> dict[str, Any]:
    """The part of the jurisdiction boundary that no grid covers (area in m², largest pieces)."""
    covered = shapely.union_all([r.geometry for r in records])
    missing = as_multipolygon(boundary.difference(covered))
    found: list[tuple[float, BaseGeometry]] = (
        []
        if missing is None
        else sorted(((round(area_m2(p), 1), p) for p in missing.geoms), key=lambda item: -item[0])
    )
    found = [(area, p) for area, p in found if area >= MIN_REPORTED_AREA_M2]
    largest = [
        {"area_m2": area, "at": [round(p.representative_point().x, 6), round(p.representative_point().y, 6)]}
        for area, p in found[:10]
    ]
    return {"area_m2": round(sum(area for area, _ in found), 1), "pieces": len(found), "largest": largest}
