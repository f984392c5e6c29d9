"""Folium maps that work without internet access.

County government networks are often closed, and folium loads Leaflet, jQuery and Bootstrap
from public CDNs. Our maps need only Leaflet, which is vendored under
``gridsvc/static/vendor/leaflet`` (BSD-2-Clause) and inlined into every HTML file written, so
a map opened from disk shows its grids with or without a network (base tiles need one).
"""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

import folium

LEAFLET_DIR = Path(__file__).resolve().parent.parent / "static" / "vendor" / "leaflet"


def new_map(**kwargs: Any) -> folium.Map:
    """A ``folium.Map`` that loads nothing from CDNs (Leaflet is inlined by :func:`save`)."""
    fmap = folium.Map(**kwargs)
    fmap.default_js = []
    fmap.default_css = []
    return fmap


def leaflet_css() -> str:
    """Leaflet's CSS with its images as data URIs, so it works inlined."""
    css = (LEAFLET_DIR / "leaflet.css").read_text(encoding="utf-8")

    def embed(match: re.Match[str]) -> str:
        data = base64.b64encode((LEAFLET_DIR / match.group(1)).read_bytes()).decode()
        return f"url(data:image/png;base64,{data})"

    return re.sub(r"url\((images/[a-z0-9-]+\.png)\)", embed, css)


def leaflet_js() -> str:
    return (LEAFLET_DIR / "leaflet.js").read_text(encoding="utf-8")


def default_icon_js() -> str:
    """Leaflet's default marker icon as data URIs: Leaflet finds its images through the CSS
    path of ``marker-icon.png``, which an inlined stylesheet no longer has."""

    def uri(name: str) -> str:
        return (
            "data:image/png;base64," + base64.b64encode((LEAFLET_DIR / "images" / name).read_bytes()).decode()
        )

    return (
        "L.Icon.Default.imagePath = '';\n"
        f"L.Icon.Default.mergeOptions({{iconUrl: '{uri('marker-icon.png')}', "
        f"iconRetinaUrl: '{uri('marker-icon-2x.png')}', shadowUrl: '{uri('marker-shadow.png')}'}});"
    )


def save(fmap: folium.Map, out: Path) -> Path:
    """Write ``fmap`` to ``out`` as one self-contained HTML file."""
    html = fmap.get_root().render()
    assets = f"<style>{leaflet_css()}</style>\n<script>{leaflet_js()}\n{default_icon_js()}</script>\n"
    html = html.replace("</head>", assets + "</head>", 1)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html, encoding="utf-8")
    return out
