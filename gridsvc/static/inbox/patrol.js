/* A squad's patrol route of the day (巡查路线, issue 10) in the phone inbox: the visits in
 * order (GET /patrols/today) above the assignments, the road polyline and numbered stops on
 * the inbox map, and 到达打卡 per visit (POST /patrols/visits/{id}/check_in with the phone's
 * GPS fix). Only for squad accounts; reloaded every 60 s (AVL dwell may mark visits done). */
(function () {
  "use strict";
  var I = window.I18N, T = I.t, esc = I.escape;
  var config = I.config || {};
  if (!config.user || config.user.role !== "squad") return;
  var box = document.createElement("section");
  box.id = "patrol-route";
  box.setAttribute("data-testid", "patrol-route");
  box.hidden = true;
  var anchor = document.getElementById("duban") || document.getElementById("inboxmap");
  if (!anchor || !anchor.parentNode) return;
  anchor.parentNode.insertBefore(box, anchor.nextSibling);
  var layer = null;
  var data = null;

  function request(path, options) {
    return fetch(path, Object.assign({credentials: "same-origin",
                                      headers: {"Accept": "application/json"}}, options || {}))
      .then(function (r) {
        return r.json().then(function (body) {
          if (!r.ok) throw new Error(body.message || ("HTTP " + r.status));
          return body;
        });
      });
  }

  function toast(text, kind) {
    var el = document.getElementById("toast");
    if (!el) return;
    el.textContent = text;
    el.className = kind || "";
    el.hidden = false;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(function () { el.hidden = true; }, 4000);
  }

  function row(v, n) {
    var done = v.status === "done";
    var button = done ? "" :
      "<button type='button' class='primary' data-testid='patrol-check-in' data-id='" + esc(v.id) +
      "'" + (v.status === "arrived" ? " disabled" : "") + ">" +
      esc(T(v.status === "arrived" ? "patrolroute.arrived" : "patrolroute.check_in")) + "</button>";
    return "<li class='visit st-" + esc(v.status) + "' data-testid='patrol-visit' data-visit-id='" +
      esc(v.id) + "' data-status='" + esc(v.status) + "'><b class='n'>" + n + "</b><span class='what'>" +
      esc(v.grid_name_zh || v.grid_name) + " <small>" + esc(v.grid_code) + "</small><br><small>" +
      esc(T("patrolroute.planned", {time: I.time(v.planned_at, "short")})) + " · <span data-testid='patrol-status'>" +
      esc(T("patrolroute.status." + v.status)) + "</span>" +
      (v.carried_from ? " · " + esc(T("patrolroute.carried")) : "") + "</small></span>" + button + "</li>";
  }

  function render() {
    if (!data) return;
    box.hidden = !data.visits.length;
    var done = data.visits.filter(function (v) { return v.status === "done"; }).length;
    box.innerHTML = "<h2 class='section'>" + esc(T("patrolroute.title")) + " <b data-testid='patrol-progress'>" +
      done + "/" + data.visits.length + "</b></h2><ol class='visits'>" +
      data.visits.map(function (v, i) { return row(v, i + 1); }).join("") + "</ol>";
    draw();
  }

  function draw() {
    var map = window.InboxMap && window.InboxMap.map;
    if (!map || !data) return;
    if (layer) layer.remove();
    layer = L.layerGroup().addTo(map);
    if (!data.visits.length) return;
    var line = data.route.map(function (p) { return [p[1], p[0]]; });
    if (line.length > 1) L.polyline(line, {color: "#1565c0", weight: 4, opacity: 0.8}).addTo(layer);
    data.visits.forEach(function (v, i) {
      L.marker([v.point.lat, v.point.lng], {icon: L.divIcon({
        className: "", iconSize: [22, 22], iconAnchor: [11, 11],
        html: "<div class='stop st-" + esc(v.status) + "'>" + (i + 1) + "</div>"
      }), title: v.grid_name_zh || v.grid_name}).addTo(layer);
    });
    if (data.station) {
      L.circleMarker([data.station.lat, data.station.lng], {radius: 6, color: "#17324d"})
        .bindTooltip(T("patrolroute.station")).addTo(layer);
    }
    if (line.length > 1) map.fitBounds(line, {maxZoom: 16, padding: [24, 24], animate: false});
  }

  function load() {
    return request("/patrols/today").then(function (today) {
      data = today;
      render();
    }).catch(function () { box.hidden = true; }).then(function () {
      box.setAttribute("data-ready", "1");
    });
  }

  function checkIn(button) {
    if (!navigator.geolocation) { toast(T("patrolroute.no_position"), "error"); return; }
    button.disabled = true;
    navigator.geolocation.getCurrentPosition(function (p) {
      request("/patrols/visits/" + button.getAttribute("data-id") + "/check_in", {
        method: "POST",
        headers: {"Content-Type": "application/json", "Accept": "application/json"},
        body: JSON.stringify({lat: p.coords.latitude, lng: p.coords.longitude,
                              accuracy: p.coords.accuracy, crs: "wgs84"})
      }).then(function () {
        toast(T("patrolroute.checked_in"), "ok");
        return load();
      }).catch(function (error) {
        button.disabled = false;
        toast(error.message, "error");
      });
    }, function () {
      button.disabled = false;
      toast(T("patrolroute.no_position"), "error");
    }, {enableHighAccuracy: true, timeout: 15000, maximumAge: 0});
  }

  box.addEventListener("click", function (ev) {
    var button = ev.target.closest("[data-testid='patrol-check-in']");
    if (button) checkIn(button);
  });
  I.ready.then(load);
  I.onChange(render);
  setInterval(load, 60000);
})();
