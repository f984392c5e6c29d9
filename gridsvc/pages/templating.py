"""HTML pages from Jinja2 templates, and content-hashed URLs of the static files they load.

``render(request, "ops.html", **context)`` renders ``gridsvc/pages/templates/ops.html`` with
autoescape on (every ``{{ value }}`` is HTML-escaped; names and addresses come from imported
files and citizens) into an ``HTMLResponse`` marked ``no-store`` (a page carries the viewer's
config). ``static_url("ops/ops.js")`` (also a template global) gives
``/static/ops/ops.js?v=<hash of the file's bytes>``: such a URL never changes meaning, so the
static route lets browsers keep it a year (``immutable``); a new file is a new URL. Hashes
are computed once per file per process, at first use (files are part of the installed
package and do not change under a running server).
"""

from __future__ import annotations

import gzip
import hashlib
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup

TEMPLATES = Path(__file__).resolve().parent / "templates"
STATIC = Path(__file__).resolve().parent.parent / "static"
# what the static route compresses (text); images and fonts are sent as they are
COMPRESSIBLE = {".js", ".css", ".json", ".svg", ".html", ".txt"}


@dataclass(frozen=True)
class StaticFile:
    """A static file's bytes, gzipped bytes (text only) and content hash."""

    path: Path
    digest: str
    body: bytes
    gzipped: bytes | None


class StaticFileMissing(LookupError):
    pass


def static_file(path: str) -> StaticFile:
    """The file at ``path`` under ``gridsvc/static`` (read and hashed once per process);
    :class:`StaticFileMissing` for anything else (outside the folder, not a file)."""
    target = (STATIC / path).resolve()
    if not target.is_relative_to(STATIC) or not target.is_file():
        raise StaticFileMissing(path)
    # keyed by the resolved path: "ops/./ops.js" is not a second copy in memory
    return _load(target)


@cache
def _load(target: Path) -> StaticFile:
    body = target.read_bytes()
    packed = gzip.compress(body, compresslevel=9, mtime=0) if target.suffix in COMPRESSIBLE else None
    return StaticFile(
        path=target,
        digest=hashlib.sha256(body).hexdigest()[:16],
        body=body,
        gzipped=packed if packed is not None and len(packed) < len(body) else None,
    )


def static_url(path: str) -> str:
    """``/static/<path>?v=<content hash>``; a missing file is an error at render time."""
    return f"/static/{path}?v={static_file(path).digest}"


def script_json(data: Any) -> str:
    """``data`` as JSON safe inside ``<script type="application/json">``: no ``<`` (so no
    ``</script>`` nor ``<!--``), ``>`` or ``&`` in the text."""
    return (
        json.dumps(data, ensure_ascii=False)
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
    )


ENVIRONMENT = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
ENVIRONMENT.globals["static_url"] = static_url
ENVIRONMENT.filters["script_json"] = lambda data: Markup(script_json(data))


def render(request: Request, template_name: str, /, **context: Any) -> HTMLResponse:
    """The page ``template_name`` (under ``gridsvc/pages/templates``) as a ``no-store`` answer."""
    page = ENVIRONMENT.get_template(template_name).render(request=request, **context)
    return HTMLResponse(page, headers={"Cache-Control": "no-store"})
