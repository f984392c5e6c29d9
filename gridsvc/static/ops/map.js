/* The operator map of /ops: a plain Leaflet map, and the jurisdiction's boundary and grid
 * layers fetched as GeoJSON from GET /map/layers (cached by the browser: ETag, 304).
 *
 * window.GRIDSVC_MAP = {map, layers, ready}: `layers` has one group per layer key from the
 * page config at once (so the layer control can be built before the data arrives), filled
 * when the data comes; `ready` resolves then (it never rejects: the map works without grids). */
(function () {
  "use strict";
  var node = document.getElementById("gridsvc-config");
  var config = node ? JSON.parse(node.textContent) : {};
  var setup = config.map || {};
  var el = document.getElementById("opsmap");
  if (!el) return;
  var map = L.map(el, {center: [30.0, 115.0], zoom: 5, zoomControl: true, preferCanvas: false});
  L.control.scale().addTo(map);
  if (setup.tile_url) L.tileLayer(setup.tile_url, {attribution: "county tile server"}).addTo(map);
  var b = config.bounds;  // west, south, east, north
  if (b) map.fitBounds([[b[1], b[0]], [b[3], b[2]]]);

  var layers = {};
  (setup.layers || []).forEach(function (name) { layers[name] = L.featureGroup(); });

  // names come from imported files: a tooltip's text is set as text, never as HTML
  function tooltip(layer) {
    var p = layer.feature.properties, table = document.createElement("table");
    ["name_zh", "code", "responsible"].forEach(function (field) {
      var value = p[field];
      table.insertRow().insertCell().textContent = value == null ? "" : String(value);
    });
    var div = L.DomUtil.create("div");
    div.appendChild(table);
    return div;
  }

  function draw(spec) {
    var group = layers[spec.name];
    if (!group) return;
    var style = spec.style;
    var shapes = L.geoJSON(spec.features, {
      style: function () { return style; },
      interactive: spec.interactive
    });
    if (spec.interactive) {
      shapes.bindTooltip(tooltip, {sticky: true, className: "foliumtooltip"});
      shapes.on("mouseover", function (e) { e.layer.setStyle({weight: 4, fillOpacity: 0.3}); });
      shapes.on("mouseout", function (e) { shapes.resetStyle(e.layer); });
    }
    shapes.addTo(group);
  }

  // the groups shown at start go on the map now, in drawing order (boundary first)
  (setup.shown || []).forEach(function (name) { if (layers[name]) layers[name].addTo(map); });

  var ready = !setup.layers_url ? Promise.resolve() :
    fetch(setup.layers_url, {credentials: "same-origin"}).then(function (r) {
      if (!r.ok) throw new Error("HTTP " + r.status);
      return r.json();
    }).then(function (data) {
      data.layers.forEach(draw);
    }).catch(function (err) {
      if (window.console) console.error("grid layers: " + err.message);
    });

  window.GRIDSVC_MAP = {map: map, layers: layers, ready: ready};
})();
