/* The hotspot layer of /ops (事件热点): H3 cells of GET /reports/hotspots for the last four
 * weeks (widened to ISO weeks by the API), coloured by their count, with a small legend.
 * Loaded before ops.js, it offers its layer through window.OpsOverlays (ops.js puts every
 * entry in the layer control); the data come when the layer is switched on, and again
 * when the zoom crosses from block cells (res 8) to street cells (res 9) or back.
 * document.body's data-heat says how many cells are drawn (tests wait on it). */
(function () {
  "use strict";
  var I = window.I18N, M = window.GRIDSVC_MAP;
  if (!M || !I) return;
  var map = M.map;
  var layer = L.featureGroup();
  var DAYS = 28, STREET_ZOOM = 15;
  var RAMP = ["#ffffb2", "#fecc5c", "#fd8d3c", "#f03b20", "#bd0026"];
  var shownRes = null, loading = 0, legend = null;

  window.OpsOverlays = window.OpsOverlays || [];
  window.OpsOverlays.push({key: "heat", label: "layer.heat", layer: layer});

  function day(offset) {
    var when = new Date(Date.now() + offset * 86400000);
    // en-CA formats as YYYY-MM-DD; the day is the jurisdiction's, not the browser's
    return new Intl.DateTimeFormat("en-CA", {timeZone: I.config.timezone}).format(when);
  }

  function colour(count, max) {
    var i = Math.min(RAMP.length - 1, Math.floor((count / Math.max(max, 1)) * RAMP.length));
    return RAMP[Math.max(0, i)];
  }

  function tip(cell) {
    return I.escape(I.t("heat.tooltip", {count: cell.count, mean: cell.trend.previous_mean})) +
      "<br>" + I.escape(I.t("dash.trend_dir." + cell.trend.direction)) +
      (cell.classes.length ? "<br>" + I.escape(cell.classes[0].name || cell.classes[0].matter_class || "") : "");
  }

  function showLegend(max) {
    if (legend) legend.remove();
    legend = L.control({position: "bottomright"});
    legend.onAdd = function () {
      var div = L.DomUtil.create("div", "legend heat-legend");
      div.setAttribute("data-testid", "heat-legend");
      var rows = RAMP.map(function (c, i) {
        var low = Math.floor(i * max / RAMP.length) + 1, high = Math.floor((i + 1) * max / RAMP.length);
        if (high < low) return "";
        return "<div><i style='display:inline-block;vertical-align:middle;width:14px;height:10px;" +
          "margin-right:6px;background:" + c + "'></i>" + (low === high ? low : low + "–" + high) + "</div>";
      });
      div.innerHTML = "<b>" + I.escape(I.t("heat.legend")) + "</b>" + rows.join("");
      return div;
    };
    legend.addTo(map);
  }

  function draw(answer) {
    layer.clearLayers();
    var cells = answer.cells.filter(function (c) { return c.count > 0; });
    var max = cells.reduce(function (m, c) { return Math.max(m, c.count); }, 0);
    cells.forEach(function (cell) {
      var ring = cell.boundary.map(function (p) { return [p[1], p[0]]; });
      L.polygon(ring, {color: "#7f2704", weight: 1, fillColor: colour(cell.count, max),
                       fillOpacity: 0.6, className: "heat-cell"})
        .bindTooltip(tip(cell), {sticky: true})
        .addTo(layer);
    });
    showLegend(max);
    document.body.setAttribute("data-heat", String(cells.length));
  }

  function load() {
    var res = map.getZoom() >= STREET_ZOOM ? 9 : 8;
    if (res === shownRes) return;
    shownRes = res;
    var mine = ++loading;
    var q = new URLSearchParams({from: day(-(DAYS - 1)), to: day(0), res: String(res)});
    if (I.config.jurisdiction) q.set("jurisdiction", I.config.jurisdiction);
    fetch("/reports/hotspots?" + q.toString(), {credentials: "same-origin",
                                                 headers: {Accept: "application/json"}})
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
      .then(function (answer) { if (mine === loading && map.hasLayer(layer)) draw(answer); })
      .catch(function (err) {
        shownRes = null;
        if (window.console) console.error("hotspots: " + err.message);
      });
  }

  map.on("overlayadd", function (e) { if (e.layer === layer) { shownRes = null; load(); } });
  map.on("overlayremove", function (e) {
    if (e.layer !== layer) return;
    if (legend) { legend.remove(); legend = null; }
    document.body.removeAttribute("data-heat");
  });
  map.on("zoomend", function () { if (map.hasLayer(layer)) load(); });
  I.onChange(function () { if (map.hasLayer(layer) && legend) { shownRes = null; load(); } });
})();
