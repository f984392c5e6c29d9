/* The operator's live map: events coloured by SLA (fill) and state (ring), clustered at low
 * zoom (Leaflet.markercluster; a cluster takes the colour of the most urgent event in it),
 * squads at their live positions with their full names in a pane above the events, coverage
 * on demand, a legend, the counter strip; all kept current by the SSE stream. */
(function () {
  "use strict";
  var I = window.I18N, M = window.GRIDSVC_MAP;
  if (!M) return;
  var map = M.map;
  var events = {};      // id -> {data, marker}
  var squads = {};      // id -> {data, marker}
  // Clusters up to z15; from z16 (where the queue and the panel fly to) every event is its
  // own marker, so what an operator opened is always there to see and click.
  var CLUSTER_UNTIL = 16;
  var WORST = ["overdue", "due_soon", "on_time", "none"];  // most urgent first
  var eventLayer = L.markerClusterGroup({
    maxClusterRadius: 48, disableClusteringAtZoom: CLUSTER_UNTIL, showCoverageOnHover: false,
    spiderfyOnMaxZoom: false, chunkedLoading: true, iconCreateFunction: clusterIcon,
    // no split/merge animation: while one runs (~0.2 s) the group ignores the map's moves, and
    // a pan right after a zoom (a queue row, then another) left the area without markers
    animate: false
  }).addTo(map);
  // squads above the events (markerPane is 600; tooltips 650 and popups 700 stay on top)
  map.createPane("squads").style.zIndex = 640;
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
    // layers other scripts offer (heat.js: the hotspots), {key, label (dictionary key), layer}
    (window.OpsOverlays || []).forEach(function (extra) {
      overlays["<span data-layer='" + I.escape(extra.key) + "'>" + I.t(extra.label) + "</span>"] = extra.layer;
    });
    control = L.control.layers(null, overlays, {collapsed: false, position: "topright"});
    control.addTo(map);
    legend();
    I.leaflet(map.getContainer());
  }

  var legendControl = null;
  function legend() {
    if (legendControl) legendControl.remove();
    legendControl = L.control({position: "bottomleft"});
    legendControl.onAdd = function () {
      var div = L.DomUtil.create("div", "legend");
      div.setAttribute("data-testid", "map-legend");
      var rows = ["on_time", "due_soon", "overdue"].map(function (s) {
        return "<div data-sla='" + s + "'><i class='ev sla-" + s + "'></i>" + I.t("sla." + s) + "</div>";
      });
      var states = ["routed", "dispatched", "signed_for", "on_scene", "handled", "returned"]
        .map(function (s) {
          return "<div><i class='ev ring st-" + s + "'></i>" + I.t("state." + s) + "</div>";
        });
      var cluster = "<div class='lg-cluster'><i class='evc sla-overdue'><span>12</span></i>" +
        I.t("legend.cluster") + "</div>";
      // the arrival-time coverage: one swatch per class, its upper bound in minutes
      var cover = BREAKS.map(function (b, i) {
        var label = i === BREAKS.length - 1 ? ">" + BREAKS[i - 1][0] : "≤" + b[0];
        return "<span class='sw' style='background:" + b[1] + "' title='" + I.escape(label) + "'>" +
          I.escape(label) + "</span>";
      }).join("");
      div.innerHTML = "<b>" + I.t("legend.title") + "</b>" + rows.join("") + cluster +
        "<hr>" + states.join("") + "<hr><b>" + I.t("legend.coverage") + "</b>" +
        "<div class='lg-cover' data-testid='legend-coverage'>" + cover + "</div>" +
        "<small>" + I.t("legend.coverage_unit") + "</small>";
      return div;
    };
    legendControl.addTo(map);
  }

  // A cluster's icon: how many events, coloured by the most urgent SLA status among them.
  function clusterIcon(cluster) {
    var found = {};
    cluster.getAllChildMarkers().forEach(function (m) { found[m.options.sla || "none"] = true; });
    var worst = WORST.filter(function (s) { return found[s]; })[0] || "none";
    var n = cluster.getChildCount();
    var size = n < 10 ? 30 : n < 100 ? 36 : 44;
    return L.divIcon({
      className: "",
      html: "<div class='evc sla-" + worst + "' data-testid='event-cluster' data-sla='" + worst +
            "' data-count='" + n + "' style='width:" + size + "px;height:" + size + "px'><span>" + n +
            "</span></div>",
      iconSize: [size, size], iconAnchor: [size / 2, size / 2]
    });
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
    var sla = I.slaStatus(e.sla, e.state);
    if (!known) {
      var marker = L.marker([e.lat, e.lng], {icon: icon(e), riseOnHover: true, sla: sla});
      marker.bindPopup(popup(e));
      marker.on("click", function () { window.OpsPanel.open(e.id); });
      eventLayer.addLayer(marker);
      events[e.id] = {data: e, marker: marker, sla: sla};
    } else {
      var moved = !known.marker.getLatLng().equals([e.lat, e.lng]);
      known.data = e;
      known.marker.setIcon(icon(e));
      known.marker.setPopupContent(popup(e));
      if (moved) {  // re-added, so that the clusters are rebuilt around its new place
        eventLayer.removeLayer(known.marker);
        known.marker.setLatLng([e.lat, e.lng]);
        eventLayer.addLayer(known.marker);
      }
      recolour(known, sla);
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

  // a new SLA status: the marker's own colour and its cluster's
  function recolour(known, sla) {
    if (known.sla === sla) return;
    known.sla = sla;
    known.marker.options.sla = sla;
    known.marker.setIcon(icon(known.data));
    eventLayer.refreshClusters(known.marker);
  }

  /* Bring an event's own marker into view (zoomed in past the clusters); tests and the
   * queue use it. */
  function show(id) {
    var known = events[id];
    if (!known) return false;
    map.setView(known.marker.getLatLng(), Math.max(map.getZoom(), CLUSTER_UNTIL), {animate: false});
    return true;
  }

  // -- squads -------------------------------------------------------------------------

  function squadIcon(s) {
    // the full name (CSS centres the label on the point, whatever its width)
    var label = s.name || s.code || "";
    return L.divIcon({
      className: "sq-icon",
      html: "<div class='sq sq-" + I.escape(s.status) + " pos-" + I.escape(s.position.kind) +
            "' data-squad='" + I.escape(s.id) + "' data-open='" + I.escape(s.open_cases || 0) +
            "' title='" + I.escape(s.code || "") + "'>" + I.escape(label) + "</div>",
      iconSize: [0, 0], iconAnchor: [0, 0]
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
      var marker = L.marker([s.position.lat, s.position.lng], {icon: squadIcon(s), pane: "squads"});
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
      recolour(known, I.slaStatus(known.data.sla, known.data.state));
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
  // The county switcher (present when the account sees several jurisdictions): names in the
  // page's language, a choice reopens /ops on that county (map, layers, coverage follow ?j=).
  var switcher = document.getElementById("jurisdiction-switcher");
  function nameSwitcher() {
    var names = {};
    (I.config.jurisdictions || []).forEach(function (j) {
      names[j.code] = I.lang() === "en" ? j.name : j.name_zh;
    });
    Array.prototype.forEach.call(switcher.options, function (o) {
      if (names[o.value]) o.textContent = names[o.value];
    });
    switcher.setAttribute("aria-label", I.t("ops.switch_jurisdiction"));
    switcher.title = I.t("ops.switch_jurisdiction");
  }
  if (switcher) {
    I.ready.then(nameSwitcher);
    I.onChange(nameSwitcher);
    switcher.addEventListener("change", function () {
      var url = new URL(location.href);
      url.searchParams.set("j", switcher.value);
      location.assign(url.pathname + url.search);
    });
  }
  window.OpsMap = {events: events, squads: squads, map: map, eventLayer: eventLayer, show: show};
})();
