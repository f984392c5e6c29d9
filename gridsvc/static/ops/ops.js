/* The operator's live map: events coloured by SLA (fill) and state (ring), squads at their
 * live positions, coverage on demand, the counter strip; all kept current by the SSE stream. */
(function () {
  "use strict";
  var I = window.I18N, M = window.GRIDSVC_MAP;
  if (!M) return;
  var map = M.map;
  var events = {};      // id -> {data, marker}
  var squads = {};      // id -> {data, marker}
  var eventLayer = L.layerGroup().addTo(map);
  var squadLayer = L.layerGroup().addTo(map);
  var coverageLayer = L.layerGroup();
  var control = null, coverageLoaded = false;
  var OPEN = ["received", "routed", "dispatched", "signed_for", "on_scene", "handled",
              "verified", "returned", "suspended"];

  function layerLabel(key) {
    if (key.indexOf("specialist:") === 0) {
      return I.t("layer.specialist") + " · " + I.tOr("department." + key.slice(11), key.slice(11));
    }
    return I.t("layer." + key);
  }

  function buildControl() {
    if (control) control.remove();
    var overlays = {};
    Object.keys(M.layers).forEach(function (key) {
      overlays["<span data-layer='" + I.escape(key) + "'>" + I.escape(layerLabel(key)) + "</span>"] =
        M.layers[key];
    });
    overlays["<span data-layer='events'>" + I.t("layer.events") + "</span>"] = eventLayer;
    overlays["<span data-layer='squads'>" + I.t("layer.squads") + "</span>"] = squadLayer;
    overlays["<span data-layer='coverage'>" + I.t("layer.coverage") + "</span>"] = coverageLayer;
    control = L.control.layers(null, overlays, {collapsed: false, position: "topright"});
    control.addTo(map);
    legend();
  }

  var legendControl = null;
  function legend() {
    if (legendControl) legendControl.remove();
    legendControl = L.control({position: "bottomleft"});
    legendControl.onAdd = function () {
      var div = L.DomUtil.create("div", "legend");
      var rows = ["on_time", "due_soon", "overdue"].map(function (s) {
        return "<div><i class='ev sla-" + s + "'></i>" + I.t("sla." + s) + "</div>";
      });
      var states = ["routed", "dispatched", "signed_for", "on_scene", "handled", "returned"]
        .map(function (s) {
          return "<div><i class='ev ring st-" + s + "'></i>" + I.t("state." + s) + "</div>";
        });
      div.innerHTML = "<b>" + I.t("legend.title") + "</b>" + rows.join("") +
        "<hr>" + states.join("");
      return div;
    };
    legendControl.addTo(map);
  }

  // -- events -------------------------------------------------------------------------

  function icon(e) {
    var sla = I.slaStatus(e.sla, e.state);
    return L.divIcon({
      className: "",
      html: "<div class='ev sla-" + sla + " st-" + I.escape(e.state) + "' data-id='" +
            I.escape(e.id) + "' data-state='" + I.escape(e.state) + "' data-sla='" + sla +
            "' title='" + I.escape(e.title) + "'></div>",
      iconSize: [20, 20], iconAnchor: [10, 10], popupAnchor: [0, -10]
    });
  }

  function popup(e) {
    var sla = I.slaStatus(e.sla, e.state);
    return "<div class='pop'><b>" + I.escape(e.title) + "</b><br>" +
      "<span class='badge st-" + I.escape(e.state) + "'>" + I.escape(I.t("state." + e.state)) +
      "</span> " +
      "<span class='badge sla-" + sla + "'>" + I.t("sla." + sla) + "</span> " +
      I.escape(I.timeLeft(e.sla)) + "<br>" +
      I.escape((e.responsible && e.responsible.name) || "") + "</div>";
  }

  function upsertEvent(e) {
    var known = events[e.id];
    if (known && known.data.updated_at && e.updated_at && e.updated_at < known.data.updated_at) {
      return;  // an older snapshot arriving after a pushed update
    }
    if (OPEN.indexOf(e.state) < 0 || e.lat == null || e.lng == null) {
      removeEvent(e.id);
      if (known || e.state === "closed") changed(e);
      return;
    }
    if (!known) {
      var marker = L.marker([e.lat, e.lng], {icon: icon(e), riseOnHover: true});
      marker.bindPopup(popup(e));
      marker.on("click", function () { window.OpsPanel.open(e.id); });
      marker.addTo(eventLayer);
      events[e.id] = {data: e, marker: marker};
    } else {
      known.data = e;
      known.marker.setLatLng([e.lat, e.lng]);
      known.marker.setIcon(icon(e));
      known.marker.setPopupContent(popup(e));
    }
    changed(e);
  }

  function changed(e) {
    if (window.OpsPanel && window.OpsPanel.current() === e.id) window.OpsPanel.refresh();
  }

  function removeEvent(id) {
    var known = events[id];
    if (known) { eventLayer.removeLayer(known.marker); delete events[id]; }
  }

  // -- squads -------------------------------------------------------------------------

  function squadIcon(s) {
    var label = (s.name || s.code || "").replace(/(综合)?执法(中队|队)$/, "").slice(0, 8);
    return L.divIcon({
      className: "",
      html: "<div class='sq sq-" + I.escape(s.status) + " pos-" + I.escape(s.position.kind) +
            "' data-squad='" + I.escape(s.id) + "' data-open='" + I.escape(s.open_cases || 0) +
            "'>" + I.escape(label) + "</div>",
      iconSize: [64, 18], iconAnchor: [32, 9]
    });
  }

  function squadTip(s) {
    return I.escape(s.name) + " · " + I.escape(I.t("squad." + s.status)) +
      (s.status_reason ? "（" + I.escape(s.status_reason) + "）" : "") + " · " +
      I.escape(I.t("squad.open_cases", {n: s.open_cases || 0})) + " · " +
      I.escape(I.t("squad." + s.position.kind)) +
      (s.position.observed_at ? " " + I.escape(I.time(s.position.observed_at)) : "");
  }

  function upsertSquad(s) {
    if (!s.position || s.position.lat == null) return;
    var known = squads[s.id];
    if (!known) {
      var marker = L.marker([s.position.lat, s.position.lng], {icon: squadIcon(s),
                                                               zIndexOffset: -100});
      marker.bindTooltip(squadTip(s));
      // the desk sets a squad's status from its popup (squads.js), with the latest data
      marker.bindPopup(function () {
        return window.SquadStatus ? window.SquadStatus.popup(squads[s.id].data) : "";
      });
      marker.addTo(squadLayer);
      squads[s.id] = {data: s, marker: marker};
    } else {
      known.data = s;
      known.marker.setLatLng([s.position.lat, s.position.lng]);
      known.marker.setIcon(squadIcon(s));
      known.marker.setTooltipContent(squadTip(s));
    }
  }

  // -- coverage -----------------------------------------------------------------------

  var BREAKS = [[5, "#1a9850"], [10, "#66bd63"], [15, "#a6d96a"], [20, "#fee08b"],
                [30, "#fdae61"], [45, "#f46d43"], [60, "#d73027"], [1e9, "#a50026"]];
  function coverageColour(minutes) {
    for (var i = 0; i < BREAKS.length; i++) if (minutes <= BREAKS[i][0]) return BREAKS[i][1];
    return "#a50026";
  }
  map.on("overlayadd", function (e) {
    if (e.layer !== coverageLayer || coverageLoaded) return;
    coverageLoaded = true;
    api("/live/coverage?jurisdiction=" + encodeURIComponent(I.config.jurisdiction || ""))
      .then(function (geo) {
        L.geoJSON(geo, {
          interactive: true,
          style: function (f) {
            return {fillColor: coverageColour(f.properties.minutes), fillOpacity: 0.45,
                    weight: 0, color: "none"};
          },
          onEachFeature: function (f, layer) {
            layer.bindTooltip(I.escape(f.properties.minutes) + " " + I.t("panel.minutes") +
                              (f.properties.squad ? " · " + I.escape(f.properties.squad) : ""));
          }
        }).addTo(coverageLayer);
        document.body.setAttribute("data-coverage", String(geo.features.length));
      })
      .catch(function () { coverageLoaded = false; });
  });

  // -- counters, data, stream ---------------------------------------------------------

  function counters(values) {
    Object.keys(values).forEach(function (key) {
      var cell = document.querySelector("[data-counter='" + key + "'] b");
      if (cell) cell.textContent = values[key];
    });
  }

  function api(path, options) {
    return fetch(path, Object.assign({credentials: "same-origin",
                                      headers: {"Accept": "application/json"}}, options || {}))
      .then(function (r) {
        if (r.status === 401) { location.href = "/login?next=/ops"; throw new Error("401"); }
        return r.json().then(function (body) {
          if (!r.ok) throw new Error(body.message || ("HTTP " + r.status));
          return body;
        });
      });
  }
  window.OpsApi = api;

  // the work queue (queue.js) lists address-only events too: it reloads on every change
  function queueChanged() { if (window.OpsQueue) window.OpsQueue.changed(); }

  function reload() {
    queueChanged();
    return Promise.all([
      api("/live/events").then(function (body) {
        var seen = {};
        body.events.forEach(function (e) { seen[e.id] = true; upsertEvent(e); });
        Object.keys(events).forEach(function (id) { if (!seen[id]) removeEvent(+id); });
      }),
      api("/live/squads").then(function (body) { body.squads.forEach(upsertSquad); }),
      api("/live/counters").then(counters),
      M.ready  // the grid layers (map.js) are drawn too
    ]).then(function () { document.body.setAttribute("data-ready", "1"); });
  }

  function tick() {
    Object.keys(events).forEach(function (id) {
      var known = events[id];
      var now = I.slaStatus(known.data.sla, known.data.state);
      var el = known.marker.getElement && known.marker.getElement();
      var shown = el && el.firstChild && el.firstChild.getAttribute("data-sla");
      if (shown !== now) known.marker.setIcon(icon(known.data));
    });
    var clock = document.getElementById("clock");
    if (clock) clock.textContent = I.time(new Date().toISOString(), "sec");
  }

  function fit() {
    var layer = M.layers.enforcement || M.layers.boundary;
    if (!layer || !layer.getBounds) return;
    var bounds = layer.getBounds();
    map.options.zoomSnap = 0.25;
    if (bounds.isValid()) map.fitBounds(bounds, {padding: [16, 16]});
  }

  I.ready.then(function () {
    map.invalidateSize();
    Promise.resolve(M.ready).then(fit);  // once the grids are there (map.js loads them)
    buildControl();
    I.onChange(function () {
      buildControl();
      Object.keys(events).forEach(function (id) {
        events[id].marker.setPopupContent(popup(events[id].data));
      });
      Object.keys(squads).forEach(function (id) {
        squads[id].marker.setTooltipContent(squadTip(squads[id].data));
      });
      if (window.OpsPanel) window.OpsPanel.refresh();
    });
    window.GridLive.connect({
      hello: reload,
      resync: reload,
      event: function (m) { upsertEvent(m.event); queueChanged(); },
      removed: function (m) { removeEvent(m.id); queueChanged(); },
      squad: upsertSquad,
      counters: counters
    });
    tick();
    setInterval(tick, 1000);
  });
  window.OpsMap = {events: events, squads: squads, map: map};
})();
