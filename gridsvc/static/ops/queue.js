/* The work queue beside the map: every open event the operator may see, a page at a time
 * (GET /events?open=true, the server filters, searches, sorts and counts), address-only
 * events included. Filters show how many events each choice gives; a row click (or Enter)
 * opens the event panel and flies the map to the event; up/down move through the rows.
 * The filtered list exports to CSV and Excel (GET /events-export, same parameters). */
(function () {
  "use strict";
  var I = window.I18N, T = I.t, esc = I.escape;
  var root = document.getElementById("queue");
  if (!root) return;
  var PAGE = 100;
  var FACETS = ["state", "stage", "sla", "township", "grid", "matter_class", "responsible",
                "source", "located"];
  var table = root.querySelector("[data-testid='event-queue']");
  var body = table.querySelector("tbody");
  var search = root.querySelector("[data-testid='event-search']");
  var sortSelect = root.querySelector("#q-sort");
  var filters = {};       // facet -> selected value ("" = any)
  var counts = {};        // facet -> [{value, name, count}]
  var rows = [];          // events of the page shown
  var offset = 0, total = 0, selected = null, pending = null, generation = 0;

  // ops.js's fetch helper (401: to the login); a page without a map has none, so a plain one
  function api(path) {
    if (window.OpsApi) return window.OpsApi(path);
    return fetch(path, {credentials: "same-origin"}).then(function (r) { return r.json(); });
  }

  function params(paging) {
    var p = new URLSearchParams();
    p.set("open", "true");
    p.set("sort", sortSelect.value);
    var q = search.value.trim();
    if (q) p.set("q", q);
    FACETS.forEach(function (f) {
      if (!filters[f]) return;
      if (f === "located") p.set("located", filters[f] === "located" ? "true" : "false");
      else p.set(f, filters[f]);
    });
    if (paging) { p.set("offset", String(offset)); p.set("limit", String(PAGE)); p.set("counts", "true"); }
    return p;
  }

  function label(facet, c) {
    if (c.value == null) return T("queue.none");
    if (facet === "state" || facet === "stage" || facet === "sla" || facet === "source") {
      return I.tOr(facet + "." + c.value, c.value);
    }
    if (facet === "located") return T("queue." + c.value);
    if (facet === "responsible" && c.value.indexOf("triage:") === 0) return T("kind.triage");
    return c.name || c.value;
  }

  function renderFilters() {
    FACETS.forEach(function (facet) {
      var select = root.querySelector("select[data-facet='" + facet + "']");
      if (!select) return;
      var list = (counts[facet] || []).filter(function (c) { return c.value != null; });
      var chosen = filters[facet] || "";
      if (chosen && !list.some(function (c) { return c.value === chosen; })) {
        list = list.concat([{value: chosen, name: chosen, count: 0}]);
      }
      select.innerHTML = "<option value=''>" + esc(T("queue.col." + facet)) + " · " +
        esc(T("queue.any")) + "</option>" + list.map(function (c) {
          return "<option value='" + esc(c.value) + "' data-count='" + c.count + "'>" +
            esc(label(facet, c)) + " (" + c.count + ")</option>";
        }).join("");
      select.value = chosen;
      select.classList.toggle("on", !!chosen);
    });
  }

  function where(e) {
    var g = e.grids || {};
    var town = g.enforcement ? (g.enforcement.name || g.enforcement.code) : "";
    var grid = g.community ? (g.community.name || g.community.code) : "";
    return [town, grid].filter(Boolean).join(" / ");
  }

  function unit(e) {
    if (e.responsible_kind === "triage") return T("kind.triage");
    return e.responsible_name || e.responsible_code || "";
  }

  function cell(text, cls) {
    return "<td" + (cls ? " class='" + cls + "'" : "") + " title='" + esc(text) + "'>" +
      esc(text) + "</td>";
  }

  function renderRows() {
    body.innerHTML = rows.map(function (e) {
      var sla = I.slaStatus({due_at: e.sla && e.sla.due_at, stage_started_at: e.stage_started_at},
                            e.state);
      var located = e.lat != null;
      return "<tr data-event-id='" + esc(e.id) + "' data-sla='" + sla + "' data-located='" +
        (located ? "1" : "0") + "' aria-selected='" + (e.id === selected) + "'>" +
        "<td><span class='badge st-" + esc(e.state) + "'>" + esc(T("state." + e.state)) +
        "</span></td>" +
        "<td class='left'><span class='badge sla-" + sla + "'>" + esc(T("sla." + sla)) +
        "</span> <span class='t'>" + esc(I.timeLeft(e.sla)) + "</span></td>" +
        cell(e.matter_name || e.matter_text || e.title) +
        "<td title='" + esc(e.address || "") + "'>" + (located ? "" :
          "<span class='tag unloc'>" + esc(T("queue.unlocated")) + "</span> ") +
        esc(e.address || "") + "</td>" +
        cell(where(e)) + cell(unit(e)) + cell(I.tOr("source." + e.source, e.source)) +
        cell(e.external_id || "", "wo") + "</tr>";
    }).join("");
    var empty = root.querySelector(".q-empty");
    empty.hidden = rows.length > 0;
    root.querySelector("#q-total").textContent = T("queue.total", {n: total});
    root.querySelector("#q-page").textContent = rows.length ?
      T("queue.page", {a: offset + 1, b: offset + rows.length}) : "";
    root.querySelector("#q-prev").disabled = offset === 0;
    root.querySelector("#q-next").disabled = offset + rows.length >= total;
    root.setAttribute("data-total", String(total));
  }

  function exportLinks() {
    var p = params(false);
    p.set("lang", I.lang());
    ["csv", "xlsx"].forEach(function (format) {
      p.set("format", format);
      root.querySelector("#q-" + format).setAttribute("href", "/events-export?" + p.toString());
    });
  }

  function load() {
    var mine = ++generation;
    root.setAttribute("data-loading", "1");
    exportLinks();
    return api("/events?" + params(true).toString()).then(function (answer) {
      if (mine !== generation) return;  // a newer request is on its way
      rows = answer.events;
      total = answer.total;
      counts = answer.counts || {};
      if (offset > 0 && offset >= total) { offset = Math.max(0, total - PAGE); return load(); }
      renderFilters();
      renderRows();
      root.removeAttribute("data-loading");
      root.setAttribute("data-ready", "1");
    }).catch(function (err) {
      if (mine !== generation) return;
      root.removeAttribute("data-loading");
      body.innerHTML = "<tr><td colspan='8' class='error'>" + esc(err.message) + "</td></tr>";
    });
  }

  /* Filters or search changed: back to the first page. */
  function restart() { offset = 0; return load(); }

  /* Something changed on the stream: reload within a second, once for a burst of changes
   * (at a busy intake every change would otherwise cost each operator a counted query). */
  function changed() {
    if (pending) return;
    pending = setTimeout(function () { pending = null; load(); }, 1000);
  }

  function rowOf(id) { return body.querySelector("tr[data-event-id='" + id + "']"); }

  function select(id, scroll) {
    selected = id;
    body.querySelectorAll("tr[aria-selected='true']").forEach(function (tr) {
      tr.setAttribute("aria-selected", "false");
    });
    var tr = rowOf(id);
    if (tr) {
      tr.setAttribute("aria-selected", "true");
      if (scroll) tr.scrollIntoView({block: "nearest"});
    }
  }

  function open(id) {
    select(id, true);
    var e = rows.filter(function (r) { return r.id === id; })[0];
    if (e && e.lat != null && window.OpsMap) {
      var map = window.OpsMap.map;
      map.flyTo([e.lat, e.lng], Math.max(map.getZoom(), 16), {duration: 0.6});
    }
    if (window.OpsPanel) window.OpsPanel.open(id);
  }

  function move(step) {
    if (!rows.length) return;
    var at = rows.map(function (r) { return r.id; }).indexOf(selected);
    var next = at < 0 ? (step > 0 ? 0 : rows.length - 1) :
      Math.min(rows.length - 1, Math.max(0, at + step));
    select(rows[next].id, true);
  }

  table.addEventListener("click", function (ev) {
    var tr = ev.target.closest("tr[data-event-id]");
    if (tr) { table.focus(); open(+tr.getAttribute("data-event-id")); }
  });
  table.addEventListener("keydown", function (ev) {
    if (ev.key === "ArrowDown") { ev.preventDefault(); move(1); }
    else if (ev.key === "ArrowUp") { ev.preventDefault(); move(-1); }
    else if (ev.key === "Enter" && selected != null) { ev.preventDefault(); open(selected); }
  });
  search.addEventListener("keydown", function (ev) {
    if (ev.key === "ArrowDown" && rows.length) {  // from the search box: the first row
      ev.preventDefault(); table.focus(); select(rows[0].id, true);
    }
    else if (ev.key === "Enter") { ev.preventDefault(); restart(); }
  });
  var typing = null;
  search.addEventListener("input", function () {
    clearTimeout(typing);
    typing = setTimeout(restart, 250);  // one request per pause in typing, not per key
  });
  root.querySelector(".q-filters").addEventListener("change", function (ev) {
    var facet = ev.target.getAttribute("data-facet");
    if (!facet) return;
    filters[facet] = ev.target.value;
    restart();
  });
  sortSelect.addEventListener("change", restart);
  root.querySelector("#q-clear").addEventListener("click", function () {
    filters = {};
    search.value = "";
    restart();
  });
  root.querySelector("#q-prev").addEventListener("click", function () {
    offset = Math.max(0, offset - PAGE); load();
  });
  root.querySelector("#q-next").addEventListener("click", function () {
    if (offset + PAGE < total) { offset += PAGE; load(); }
  });

  I.ready.then(function () {
    load();
    I.onChange(function () { renderFilters(); renderRows(); exportLinks(); });
    setInterval(function () {  // the time-left column follows the clock
      body.querySelectorAll("tr[data-event-id]").forEach(function (tr) {
        var e = rows.filter(function (r) { return r.id === +tr.getAttribute("data-event-id"); })[0];
        var t = e && tr.querySelector("td.left .t");
        if (t) t.textContent = I.timeLeft(e.sla);
      });
    }, 30000);
  });

  window.OpsQueue = {reload: load, changed: changed, open: open};
})();
