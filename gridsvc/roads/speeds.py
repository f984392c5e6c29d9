"""The user-editable speed table (``geodata/road_speeds.toml``) and ``maxspeed`` parsing.

Speeds are km/h everywhere in this module; travel times derived from them are seconds.
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_MPH = 1.609344
_KNOTS = 1.852
_NUMBER = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(km/h|kmh|kph|mph|knots)?\s*$")


class SpeedTableError(ValueError):
    """The speed table file is missing or malformed; the message names the entry."""


@dataclass(frozen=True)
class SpeedTable:
    """Speeds per ``highway=*`` class and the rules for tagged limits and urban areas.

    Attributes
    ----------
    class_kmh : dict of str to float
        Average speed per road class, km/h. Only listed classes are drivable.
    maxspeed_factor : float
        Share of a tagged ``maxspeed`` actually averaged.
    zones_kmh : dict of str to float
        Implicit limits such as ``CN:urban``, km/h.
    urban_factor : float
        Multiplier for class speeds inside built-up land (1.0 = off).
    urban_landuse : tuple of str
        ``landuse=*`` values that count as built-up.
    access_denied : frozenset of str
        ``access=*`` values that shut cars out.
    excluded_service : frozenset of str
        ``service=*`` values left out of the graph.
    source : str
        Where the table was read from (for import reports).
    """

    class_kmh: dict[str, float]
    maxspeed_factor: float = 0.85
    zones_kmh: dict[str, float] = field(default_factory=dict)
    urban_factor: float = 1.0
    urban_landuse: tuple[str, ...] = ()
    access_denied: frozenset[str] = frozenset({"no", "private"})
    excluded_service: frozenset[str] = frozenset()
    source: str = "built-in"

    def class_speed(self, highway: str) -> float | None:
        """Speed (km/h) of a road class, or None when the class is not drivable."""
        return self.class_kmh.get(highway)

    def as_report(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "class_kmh": self.class_kmh,
            "maxspeed_factor": self.maxspeed_factor,
            "urban_factor": self.urban_factor,
        }


def _positive(value: Any, where: str) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise SpeedTableError(f"{where}: expected a positive number, got {value!r}")
    return float(value)


def load_speed_table(path: Path) -> SpeedTable:
    """Read the speed table from a TOML file.

    Raises
    ------
    SpeedTableError
        If the file is missing, is not TOML, or holds a non-positive speed.
    """
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SpeedTableError(f"speed table {path} not found (set GRIDSVC_ROAD_SPEEDS_FILE)") from None
    except tomllib.TOMLDecodeError as error:
        raise SpeedTableError(f"speed table {path} is not valid TOML: {error}") from None
    speeds = data.get("speeds")
    if not isinstance(speeds, dict) or not speeds:
        raise SpeedTableError(f"{path}: a [speeds] table of road class = km/h is required")
    class_kmh = {str(k): _positive(v, f"{path} [speeds] {k}") for k, v in speeds.items()}
    maxspeed = data.get("maxspeed", {})
    urban = data.get("urban", {})
    access = data.get("access", {})
    factor = _positive(maxspeed.get("factor", 1.0), f"{path} [maxspeed] factor")
    urban_factor = _positive(urban.get("factor", 1.0), f"{path} [urban] factor")
    if factor > 1.5 or urban_factor > 1.0:
        raise SpeedTableError(f"{path}: maxspeed factor must be <= 1.5 and urban factor <= 1")
    return SpeedTable(
        class_kmh=class_kmh,
        maxspeed_factor=factor,
        zones_kmh={
            str(k): _positive(v, f"{path} [maxspeed.zones] {k}") for k, v in maxspeed.get("zones", {}).items()
        },
        urban_factor=urban_factor,
        urban_landuse=tuple(str(v) for v in urban.get("landuse", ())),
        access_denied=frozenset(str(v) for v in access.get("denied", ("no", "private"))),
        excluded_service=frozenset(str(v) for v in access.get("excluded_service", ())),
        source=str(path),
    )


def parse_maxspeed(value: str | None, zones_kmh: dict[str, float]) -> float | None:
    """A tagged ``maxspeed`` as km/h, or None when absent or unusable.

    Handles plain numbers (km/h), ``mph`` and ``knots`` units, zone values such as
    ``CN:urban``, and lists (``50;30``: the lowest, because the slower part governs the
    average). ``none``, ``signals`` and ``variable`` give None, so the class speed applies.
    """
    if not value:
        return None
    found = []
    for part in str(value).split(";"):
        part = part.strip()
        if part in zones_kmh:
            found.append(zones_kmh[part])
            continue
        match = _NUMBER.match(part)
        if not match:
            continue
        number = float(match.group(1))
        unit = match.group(2)
        if unit == "mph":
            number *= _MPH
        elif unit == "knots":
            number *= _KNOTS
        if number > 0:
            found.append(number)
    return min(found) if found else None
