/* The 定位 section of the event panel, for an event that came without coordinates: the
 * candidates GET /geocode found for its address (listed, and drawn on the map, each placeable
 * with one click) and click-on-the-map as the fallback. Placing posts the point to
 * POST /events/{id}/location, where the server stores it and routes the event.
 * panel.js owns the panel; it passes the panel element and hooks (post, refresh, the id of
 * the event shown now) and calls section / draw / stop / clear / pick / placeCandidate. */
(function () {
  "use strict";
  var I = window.I18N, T = I.t, esc = I.escape;

  window.OpsLocate = function (panel, hooks) {
    var candidates = [], layer = null, picking = null;

    function unlocated(e) {
      return e.lng == null && ["received", "returned"].indexOf(e.state) >= 0;
    }

    // The candidates GET /geocode found for the address, each placeable with one click, and
    // the map as the fallback (the operator clicks where the event is).
    function section(e, found) {
      if (!unlocated(e)) return "";
      candidates = (found && found.candidates) || [];
      var rows = candidates.map(function (c, i) {
        return "<li data-testid='geocode-candidate' data-lng='" + esc(c.lng) + "' data-lat='" +
          esc(c.lat) + "'><span class='text'>" + esc(c.text) + "</span> <span class='tag'>" +
          esc(I.tOr("precision." + c.precision, c.precision)) + "</span> <span class='conf' title='" +
          esc(T("panel.confidence")) + "'>" + esc(Math.round(c.confidence * 100)) + "%</span> " +
          "<button class='small' data-act='place-candidate' data-index='" + i + "'>" +
          esc(T("panel.place_here")) + "</button></li>";
      }).join("");
      var hint = !e.address ? "panel.no_address" :
        candidates.length ? "panel.geocode_pick" : "panel.geocode_none";
      return "<section class='locate' data-testid='locate'><h3>" + esc(T("panel.locate")) + "</h3>" +
        "<p class='note'>" + esc(T(hint)) + "</p>" +
        (rows ? "<ol class='geocode' data-testid='geocode-candidates'>" + rows + "</ol>" : "") +
        "<button data-act='pick-on-map' data-testid='place-on-map'>" + esc(T("panel.pick_on_map")) +
        "</button><p class='hint' data-testid='pick-hint' hidden>" + esc(T("panel.pick_hint")) +
        "</p></section>";
    }

    function clear() {
      if (layer) { layer.remove(); layer = null; }
    }

    function draw(e) {
      clear();
      if (!window.OpsMap || !unlocated(e) || !candidates.length) return;
      layer = L.layerGroup().addTo(window.OpsMap.map);
      candidates.forEach(function (c, i) {
        L.circleMarker([c.lat, c.lng], {radius: 8, color: "#6a1b9a", weight: 2, fillOpacity: 0.3})
          .bindTooltip(esc(c.text) + " " + esc(Math.round(c.confidence * 100)) + "%")
          .on("click", function () { placeAt(c.lng, c.lat, T("panel.placed_candidate") + ": " + c.text); })
          .addTo(layer);
        if (i === 0) window.OpsMap.map.panTo([c.lat, c.lng]);
      });
    }

    function stop() {
      if (!picking) return;
      picking.map.off("click", picking.handler);
      picking.map.getContainer().classList.remove("picking");
      document.removeEventListener("keydown", picking.escape);
      picking = null;
    }

    function pick() {
      if (!window.OpsMap) return;
      stop();
      var map = window.OpsMap.map;
      var id = hooks.current();
      var hint = panel.querySelector("[data-testid=pick-hint]");
      if (hint) hint.hidden = false;
      picking = {
        map: map,
        handler: function (ev) {
          stop();
          if (id === hooks.current()) placeAt(ev.latlng.lng, ev.latlng.lat, T("panel.placed_on_map"));
        },
        escape: function (ev) {
          if (ev.key !== "Escape") return;
          stop();
          if (hint) hint.hidden = true;
        }
      };
      map.getContainer().classList.add("picking");
      map.on("click", picking.handler);
      document.addEventListener("keydown", picking.escape);
    }

    // POST /events/{id}/location: the server stores the point and routes the event by the rules.
    function placeAt(lng, lat, note) {
      var error = panel.querySelector(".error");
      panel.querySelectorAll("button").forEach(function (b) { b.disabled = true; });
      return hooks.post("/events/" + hooks.current() + "/location", {location: {lng: lng, lat: lat}, note: note})
        .then(function () { clear(); return hooks.refresh(); })
        .catch(function (err) {
          panel.querySelectorAll("button").forEach(function (b) { b.disabled = false; });
          if (error) { error.textContent = T("msg.error") + ": " + err.message; error.hidden = false; }
        });
    }

    function placeCandidate(index) {
      var c = candidates[index];
      if (c) placeAt(c.lng, c.lat, T("panel.placed_candidate") + ": " + c.text);
    }

    return {unlocated: unlocated, section: section, draw: draw, clear: clear, stop: stop,
      pick: pick, placeCandidate: placeCandidate};
  };
})();
