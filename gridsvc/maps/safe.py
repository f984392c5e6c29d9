"""Folium tooltips and popups that show imported or user-given text as text, never as HTML.

Folium's own ``GeoJsonTooltip`` puts feature properties into ``innerHTML``, and ``Tooltip`` /
``Popup`` paste their string into a JavaScript template literal: a grid named
``<img src=x onerror=...>`` (or ``${...}``) ran script in every map that showed it (D3).
These replacements hand the text to the browser as JSON (with ``<``, ``>``, ``&`` and ``'``
escaped, see :func:`js_literal`) and put it on the page with ``textContent``: nothing in a name can be
markup or code. Labels of layer controls (which Leaflet also sets as HTML) go through
:func:`label`.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from typing import Any

import folium
from branca.element import MacroElement
from folium.template import Template

__all__ = ["SafeGeoJsonTooltip", "TextPopup", "TextTooltip", "js_literal", "label"]


def js_literal(value: Any) -> str:
    """``value`` as a JavaScript literal safe inside ``<script>``: JSON with ``<``, ``>``,
    ``&`` and ``'`` escaped (as Jinja's ``tojson`` does), Chinese left readable."""
    return (
        json.dumps(value, ensure_ascii=False)
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("'", "\\u0027")
    )


def label(text: str) -> str:
    """``text`` for a place Leaflet renders as HTML (layer-control names)."""
    return html.escape(text, quote=True)


class SafeGeoJsonTooltip(folium.GeoJsonTooltip):
    """``folium.GeoJsonTooltip`` (same arguments) building its table with ``textContent``."""

    _template = Template("""
    {% macro script(this, kwargs) %}
    {{ this._parent.get_name() }}.bindTooltip(function (layer) {
        var fields = {{ this.fields | tojson }}, aliases = {{ this.aliases | tojson }};
        var table = document.createElement("table");
        fields.forEach(function (field, i) {
            var value = layer.feature.properties[field], row = table.insertRow();
            {% if this.labels %}
            var th = document.createElement("th");
            th.textContent = aliases[i];
            row.appendChild(th);
            {% endif %}
            row.insertCell().textContent = value == null ? "" :
                (typeof value === "object" ? JSON.stringify(value) : String(value));
        });
        var div = L.DomUtil.create("div");
        div.appendChild(table);
        return div;
    }, {{ this.tooltip_options | tojavascript }});
    {% endmacro %}
    """)


class TextTooltip(MacroElement):
    """A tooltip of plain text for a marker or shape (``TextTooltip(name).add_to(marker)``)."""

    _template = Template("""
    {% macro script(this, kwargs) %}
    {{ this._parent.get_name() }}.bindTooltip(function () {
        var div = document.createElement("div");
        div.textContent = {{ this.text_js }};
        return div;
    }, {{ this.options | tojavascript }});
    {% endmacro %}
    """)

    def __init__(self, text: str, **options: Any) -> None:
        super().__init__()
        self._name = "TextTooltip"
        self.text = str(text)
        self.text_js = js_literal(self.text)
        self.options = {"sticky": True, **options}


class TextPopup(MacroElement):
    """A popup of plain-text lines, the first in bold; no jQuery, no HTML."""

    _template = Template("""
    {% macro script(this, kwargs) %}
    {{ this._parent.get_name() }}.bindPopup(function () {
        var div = document.createElement("div");
        {{ this.lines_js }}.forEach(function (line, i) {
            var part = document.createElement(i === 0 ? "b" : "div");
            part.textContent = line;
            div.appendChild(part);
        });
        return div;
    }, {{ this.options | tojavascript }});
    {% endmacro %}
    """)

    def __init__(self, lines: Sequence[str], **options: Any) -> None:
        super().__init__()
        self._name = "TextPopup"
        self.lines = [str(line) for line in lines]
        self.lines_js = js_literal(self.lines)
        self.options = {"maxWidth": 300, **options}
