"""Reading the text files counties hand over: CSVs saved by Excel on Chinese Windows are
often GB18030 rather than UTF-8, so both are accepted (a UTF-8 BOM is dropped)."""

from __future__ import annotations

from pathlib import Path


def read_text(path: Path) -> str | None:
    """The file's text, or None when it is neither UTF-8 nor GB18030.

    Raises ``FileNotFoundError`` for a missing file; callers turn both cases into messages
    that name the file.
    """
    data = path.read_bytes()
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return None
