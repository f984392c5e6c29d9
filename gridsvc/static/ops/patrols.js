/* Patrol coverage on /ops (巡查覆盖): this ISO week's visited / planned per township and per
 * squad from GET /patrols/coverage (no week given: the server's clock and the jurisdiction's
 * time zone decide which week it is, not the browser's), missed visits flagged and listed
 * from GET /patrols, and a map layer (巡查网格) colouring the community grids visited /
 * missed / pending. The drawer opens from the top bar's 巡查覆盖 button; it reloads every
 * minute while open. Loaded before ops.js, it offers its layer through window.OpsOverlays.
 * The drawer's data-loaded says the week shown (tests wait on it). */
(function () {
  "use strict";
  var I = window.I18N, M = window.GRIDSVC_MAP;
  var box = document.getElementById("patrols"), toggle = document.getElementById("patrol-toggle");
  if (!I || !box || !toggle) return;
  var T = I.t, esc = I.escape;
  var layer = L.featureGroup(), timer = null, loading = 0, legend = null, shown = null;
  var COLOURS = {visited: "#2e7d32", missed: "#c62828", pending: "#f9a825"};
  if (M) {
    window.OpsOverlays = window.OpsOverlays || [];
    window.OpsOverlays.push({key: "patrol", label: "layer.patrol", layer: layer});
  }

  function api(path) {
    return fetch(path, {credentials: "same-origin", headers: {Accept: "application/json"}})
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); });
  }

  function pct(share) { return share == null ? "–" : (Math.round(share * 1000) / 10) + "%"; }

  // Monday and Sunday of an ISO week "2026-W20" (dates only: no time zone involved)
  function range(week) {
    var year = +week.slice(0, 4), n = +week.slice(6);
    var jan4 = new Date(Date.UTC(year, 0, 4));
    var monday = new Date(jan4.getTime() - ((jan4.getUTCDay() + 6) % 7) * 86400000 + (n - 1) * 7 * 86400000);
    var sunday = new Date(monday.getTime() + 6 * 86400000);
    return [monday.toISOString().slice(0, 10), sunday.toISOString().slice(0, 10)];
  }

  // the grids of a map layer by code ({code: feature}); empty while the layers load
  function features(key) {
    var found = {}, group = M && M.layers[key];
    if (!group) return found;
    group.eachLayer(function (shapes) {
      (shapes.eachLayer ? shapes : {eachLayer: function (f) { f(shapes); }}).eachLayer(function (l) {
        if (l.feature && l.feature.properties) found[l.feature.properties.code] = l.feature;
      });
    });
    return found;
  }

  function nameOf(feature, code) {
    var p = feature && feature.properties;
    return (p && (p.name_zh || p.name)) || code;
  }

  function row(kind, key, name, f) {
    return "<tr data-" + kind + "='" + esc(key) + "' data-visited='" + esc(f.visited) + "' data-planned='" +
      esc(f.planned) + "' data-missed='" + esc(f.missed) + "'" + (f.missed ? " class='has-missed'" : "") +
      "><td title='" + esc(key) + "'>" + esc(name) + "</td><td class='num' data-testid='pcov-figures'>" +
      esc(f.visited) + " / " + esc(f.planned) + "</td><td class='num'>" + pct(f.share) +
      "</td><td class='num missed'>" + (f.missed ? "⚠ " : "") + esc(f.missed) + "</td></tr>";
  }

  function table(title, rows) {
    return "<h3>" + esc(title) + "</h3><table><thead><tr><th>" + esc(T("pcov.col.name")) + "</th><th>" +
      esc(T("pcov.col.visited_planned")) + "</th><th>" + esc(T("pcov.col.share")) + "</th><th>" +
      esc(T("pcov.col.missed")) + "</th></tr></thead><tbody>" + rows.join("") + "</tbody></table>";
  }

  // the week's own visits (not those carried in from an earlier week's plan)
  function ownVisits(plans) {
    var out = [];
    plans.forEach(function (p) {
      p.visits.forEach(function (v) { if (!v.carried_from_week) out.push({plan: p, visit: v}); });
    });
    return out;
  }

  function missedList(plans) {
    var all = ownVisits(plans), carriedTo = {};
    plans.forEach(function (p) {
      p.visits.forEach(function (v) { if (v.carried_from) carriedTo[v.carried_from] = v.day; });
    });
    var missed = all.filter(function (x) { return x.visit.status === "missed"; });
    if (!missed.length) return "<p class='empty'>" + esc(T("pcov.no_missed")) + "</p>";
    return "<ul class='missed'>" + missed.map(function (x) {
      var v = x.visit, to = carriedTo[v.id];
      return "<li data-testid='pcov-missed' data-visit-id='" + esc(v.id) + "'>" +
        esc(T("pcov.missed_row", {grid: v.grid_name_zh || v.grid_name || v.grid_code,
                                  squad: x.plan.squad_name_zh || x.plan.squad_name || x.plan.squad_code,
                                  day: v.day})) +
        (to ? "<small>" + esc(T("pcov.carried_to", {day: to})) + "</small>" : "") + "</li>";
    }).join("") + "</ul>";
  }

  function grids(plans) {
    var status = {};
    ownVisits(plans).forEach(function (x) {
      var v = x.visit, was = status[v.grid_code];
      var now = v.status === "done" ? "visited" : v.status === "missed" ? "missed" : "pending";
      if (was === "visited" || (was === "missed" && now === "pending")) return;
      status[v.grid_code] = now;
    });
    return status;
  }

  function drawLayer(status) {
    layer.clearLayers();
    var community = features("community"), drawn = 0;
    Object.keys(status).forEach(function (code) {
      var feature = community[code];
      if (!feature) return;
      var s = status[code];
      L.geoJSON(feature, {style: function () {
        return {color: COLOURS[s], weight: 2, fillColor: COLOURS[s], fillOpacity: 0.35, className: "pcov-grid pcov-" + s};
      }}).bindTooltip(esc(nameOf(feature, code)) + " · " + esc(T("pcov.status." + s)), {sticky: true})
        .addTo(layer);
      drawn++;
    });
    document.body.setAttribute("data-patrol-grids", String(drawn));
    if (legend) legend.remove();
    legend = null;
    if (!M || !M.map.hasLayer(layer)) return;
    legend = L.control({position: "bottomright"});
    legend.onAdd = function () {
      var div = L.DomUtil.create("div", "legend pcov-legend");
      div.innerHTML = "<b>" + esc(T("layer.patrol")) + "</b>" + ["visited", "missed", "pending"].map(function (k) {
        return "<div><i style='background:" + COLOURS[k] + "'></i>" + esc(T("pcov.status." + k)) + "</div>";
      }).join("");
      return div;
    };
    legend.addTo(M.map);
  }

  function render(cov, plans) {
    var days = range(cov.week), towns = features("enforcement");
    var head = "<header><h2>" + esc(T("pcov.title")) + "</h2><span class='meta' data-testid='pcov-week'>" +
      esc(T("pcov.week", {week: cov.week, from: days[0], to: days[1]})) + "</span>" +
      "<button type='button' class='x' data-act='close-patrols' aria-label='" + esc(T("pcov.close")) +
      "'>×</button></header>";
    if (!cov.total) {
      box.innerHTML = head + "<p class='empty'>" + esc(T("pcov.none")) + "</p>";
    } else {
      var squadName = {};
      plans.forEach(function (p) { squadName[p.squad_code] = p.squad_name_zh || p.squad_name; });
      var total = row("total", "all", T("pcov.total"), cov.total).replace("<tr ", "<tr data-testid='pcov-total' ");
      box.innerHTML = head +
        table(T("pcov.by_township"), cov.townships.map(function (t) {
          return row("township", t.township, nameOf(towns[t.township], t.township), t);
        }).concat([total])) +
        table(T("pcov.by_squad"), cov.squads.map(function (s) {
          return row("squad", s.squad_code, squadName[s.squad_code] || s.squad_code, s);
        })) +
        "<h3>" + esc(T("pcov.missed_title")) + "</h3>" + missedList(plans) +
        "<p class='meta'>" + esc(T("pcov.note")) + "</p>";
    }
    box.setAttribute("data-loaded", cov.week);
  }

  function load() {
    var code = I.config.jurisdiction;
    if (!code) return Promise.resolve();
    var mine = ++loading;
    return api("/patrols/coverage?jurisdiction=" + encodeURIComponent(code))
      .then(function (cov) {
        var q = new URLSearchParams({jurisdiction: code, week: cov.week});
        return api("/patrols?" + q.toString()).then(function (plans) { return [cov, plans]; });
      })
      .then(function (both) {
        if (mine !== loading) return;
        shown = both;
        if (!box.hidden) render(both[0], both[1]);
        return Promise.resolve(M && M.ready).then(function () {
          if (mine === loading) drawLayer(grids(both[1]));
        });
      })
      .catch(function (err) {
        if (!box.hidden) box.innerHTML = "<p class='error'>" + esc(T("pcov.error")) + "</p>";
        if (window.console) console.error("patrol coverage: " + err.message);
      });
  }

  function open() {
    if (window.OpsBoards) window.OpsBoards.hide();  // one drawer at a time in that place
    box.hidden = false;
    toggle.classList.add("on");
    box.innerHTML = "<p>" + esc(T("pcov.loading")) + "</p>";
    clearInterval(timer);
    timer = setInterval(load, 60000);
    return load();
  }

  function close() {
    box.hidden = true;
    toggle.classList.remove("on");
    if (!M || !M.map.hasLayer(layer)) clearInterval(timer);
  }

  toggle.addEventListener("click", function () { if (box.hidden) open(); else close(); });
  box.addEventListener("click", function (ev) {
    if (ev.target.closest("[data-act='close-patrols']")) close();
  });
  // the boards (督办, 吹哨) open in the same place: they close this drawer
  var boards = document.getElementById("boards");
  if (boards) {
    new MutationObserver(function () { if (!boards.hidden && !box.hidden) close(); })
      .observe(boards, {attributes: true, attributeFilter: ["hidden"]});
  }
  if (M) {
    M.map.on("overlayadd", function (e) {
      if (e.layer !== layer) return;
      clearInterval(timer);
      timer = setInterval(load, 60000);
      load();
    });
    M.map.on("overlayremove", function (e) {
      if (e.layer !== layer) return;
      if (legend) { legend.remove(); legend = null; }
      if (box.hidden) clearInterval(timer);
    });
  }
  I.onChange(function () {
    if (!shown) return;
    if (!box.hidden) render(shown[0], shown[1]);
    drawLayer(grids(shown[1]));
  });

  window.OpsPatrols = {open: open, close: close, load: load};
})();
