/* The inbox's map: my assignments on the offline street base map (GridBasemap), above the
 * list. inbox.js calls InboxMap.update(items) whenever its list changes; a tap on a marker
 * scrolls to that card. The view fits the assignments, else the jurisdiction. */
(function () {
  "use strict";
  var I = window.I18N;
  var box = document.getElementById("inboxmap");
  if (!box || !window.L || !window.GridBasemap) return;
  var config = I.config || {};
  var map = L.map(box, {zoomControl: true, attributionControl: true, zoomSnap: 0.5});
  var bounds = config.bounds;  // [west, south, east, north] of the jurisdiction
  if (bounds) map.fitBounds([[bounds[1], bounds[0]], [bounds[3], bounds[2]]]);
  else map.setView([30, 115], 5);
  var basemap = window.GridBasemap.layer().addTo(map);
  var markers = L.layerGroup().addTo(map);
  var fitted = false;

  function update(items) {
    markers.clearLayers();
    var points = [];
    Object.keys(items).forEach(function (id) {
      var e = items[id];
      if (e.lat == null || e.lng == null) return;
      var sla = I.slaStatus(e.sla, e.state);
      var marker = L.marker([e.lat, e.lng], {icon: L.divIcon({
        className: "",
        html: "<div class='pin sla-" + sla + "' data-id='" + I.escape(e.id) + "'></div>",
        iconSize: [18, 18], iconAnchor: [9, 9]
      }), title: e.title});
      marker.on("click", function () {
        var card = document.querySelector("article[data-id='" + e.id + "']");
        if (card) card.scrollIntoView({behavior: "smooth", block: "center"});
      });
      marker.addTo(markers);
      points.push([e.lat, e.lng]);
    });
    if (!fitted && points.length) {
      fitted = true;
      // no animation: a first view, and a view set meanwhile must not be undone by its end
      map.fitBounds(points, {maxZoom: 16, padding: [24, 24], animate: false});
    }
  }

  function said() { box.setAttribute("aria-label", I.t("inbox.map")); I.leaflet(box); }
  I.ready.then(said);
  I.onChange(said);
  window.InboxMap = {map: map, basemap: basemap, update: update};
})();
