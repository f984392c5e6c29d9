"""Files as API answers name them: the file name, never the server's folders (issue 13, item 8).

Imports keep the full path in the database (operators at the server's command line want it,
and rows stored by earlier versions have it anyway); the API models cut it down on the way out,
so no answer shows how the server's disk is laid out.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator

# "osmnx:宁化县, 三明市", "https://...": a source that is not a file keeps its whole text.
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:")
# Keys of import reports that hold a file reference.
_FILE_KEYS = frozenset({"source", "source_file", "file", "path", "cache_file"})


def file_name(value: str | None) -> str | None:
    """``/srv/data/grids/community.geojson`` -> ``community.geojson`` (also ``C:\\...``)."""
    if value is None or _SCHEME.match(value):
        return value
    return re.split(r"[/\\]", value)[-1]


def without_folders(report: Any) -> Any:
    """A copy of an import report with every file reference cut down to its file name."""
    if isinstance(report, dict):
        return {
            key: file_name(value) if key in _FILE_KEYS and isinstance(value, str) else without_folders(value)
            for key, value in report.items()
        }
    if isinstance(report, list):
        return [without_folders(item) for item in report]
    return report


FileName = Annotated[str, AfterValidator(file_name)]
Report = Annotated[dict[str, Any], AfterValidator(without_folders)]
