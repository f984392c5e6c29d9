/* The offline street base map: the app's own vector tiles (/tiles/{z}/{x}/{y}.mvt, built by
 * PostGIS) drawn under the grid and event overlays by Leaflet.VectorGrid, in a light style.
 * VectorGrid draws no text, so a second canvas grid layer draws the labels from the same
 * decoded tiles (one request per tile, shared): place names at every zoom, street names
 * along their longest straight stretch from z15. Chinese names (name_zh) are shown in the
 * Chinese UI where the data have them, else the name as mapped.
 * On /ops it joins window.GRIDSVC_MAP (the layer control lists it as 底图); /inbox calls
 * GridBasemap.layer() itself. */
(function () {
  "use strict";
  var URL_TEMPLATE = "/tiles/{z}/{x}/{y}.mvt";
  var BACKGROUND = "#f4f2ee";
  var LANDUSE = {
    residential: "#ebe7e2", commercial: "#f1e4e4", retail: "#f1e4e4", industrial: "#ebe3ee",
    cemetery: "#d9e6d3", farmland: "#f0f0dc", grass: "#e2efd2", forest: "#d3e6c5",
    scrub: "#dceacc", park: "#d8ecc9", pitch: "#d4ecd9", wetland: "#dbe8e6", rock: "#e6e3de"
  };
  var WATER = "#aad3df";
  var ROADS = {  // class -> [fill, casing, width at z15]
    motorway: ["#f2a7a0", "#d77f77", 6], trunk: ["#f7c59c", "#d99a69", 6],
    primary: ["#fcd9a0", "#d5ae6e", 5.5], secondary: ["#f8f2b4", "#c8bd74", 5],
    tertiary: ["#ffffff", "#bdb7ad", 4.5], minor: ["#ffffff", "#c9c3ba", 3.6],
    service: ["#ffffff", "#d0cbc3", 2], track: ["#b59a6b", null, 1.2],
    path: ["#d98a77", null, 1]
  };
  var MAJOR = {motorway: 1, trunk: 1, primary: 1, secondary: 1};

  function width(base, zoom) {
    return Math.max(0.6, base * Math.pow(1.6, zoom - 15));
  }

  function roadStyle(p, zoom) {
    var spec = ROADS[p["class"]] || ROADS.minor;
    var w = width(spec[2], zoom);
    var fill = {color: spec[0], weight: w, opacity: 1, lineCap: "round", lineJoin: "round"};
    if (p["class"] === "track" || p["class"] === "path") {
      fill.dashArray = zoom >= 16 ? "4 3" : "2 2";
      return [fill];
    }
    if (!spec[1] || (zoom < 13 && !MAJOR[p["class"]])) return [fill];
    return [{color: spec[1], weight: w + (zoom >= 15 ? 1.6 : 1), opacity: 1, lineCap: "round",
             lineJoin: "round"}, fill];
  }

  var STYLES = {
    landuse: function (p) {
      return {fill: true, fillColor: LANDUSE[p["class"]] || "#ece9e3", fillOpacity: 1, stroke: false,
              weight: 0};
    },
    water: function (p, zoom) {
      if (p["class"] === "water") {
        return {fill: true, fillColor: WATER, fillOpacity: 1, stroke: false, weight: 0};
      }
      var base = p["class"] === "river" ? 3 : p["class"] === "canal" ? 2.5 : 1.4;
      return {color: WATER, weight: width(base, zoom), opacity: 1, fill: false};
    },
    buildings: function (_p, zoom) {
      return {fill: true, fillColor: "#ddd5cc", fillOpacity: 1, color: "#c7bbae",
              weight: zoom >= 16 ? 0.7 : 0.4, opacity: 1};
    },
    roads: roadStyle,
    places: []  // drawn as text by the label layer
  };

  // One fetch and decode per tile for both layers: the promise is kept for a while (bounded).
  var shared = new Map();
  function tilePromise(layer, coords) {
    var key = coords.z + "/" + coords.x + "/" + coords.y;
    var found = shared.get(key);
    if (!found) {
      found = L.VectorGrid.Protobuf.prototype._getVectorTilePromise.call(layer, coords)
        .catch(function () { return {layers: {}}; });
      shared.set(key, found);
      if (shared.size > 300) shared.delete(shared.keys().next().value);
    }
    return found;
  }

  var Geometry = L.VectorGrid.Protobuf.extend({
    _getVectorTilePromise: function (coords) { return tilePromise(this, coords); }
  });

  function label(p) {
    var zh = window.I18N && window.I18N.lang && window.I18N.lang() === "zh-CN";
    return (zh && p.name_zh) || p.name || p.name_zh || "";
  }

  function overlaps(box, boxes) {
    for (var i = 0; i < boxes.length; i++) {
      var b = boxes[i];
      if (box[0] < b[2] && box[2] > b[0] && box[1] < b[3] && box[3] > b[1]) return true;
    }
    return false;
  }

  function halo(ctx, text, x, y) {
    ctx.strokeText(text, x, y);
    ctx.fillText(text, x, y);
  }

  var FONT = '"Noto Sans CJK SC", "Noto Sans SC", "PingFang SC", "Microsoft YaHei", sans-serif';

  function drawPlaces(ctx, layer, scale, boxes, drawn) {
    var features = (layer.features || []).slice().sort(function (a, b) {
      return (a.properties.rank || 9) - (b.properties.rank || 9);
    });
    features.forEach(function (f) {
      var text = label(f.properties);
      if (!text || !f.geometry[0] || !f.geometry[0][0]) return;
      var pt = f.geometry[0][0], rank = f.properties.rank || 9;
      var size = rank <= 2 ? 16 : rank <= 3 ? 14 : 12;
      ctx.font = (rank <= 3 ? "600 " : "") + size + "px " + FONT;
      ctx.fillStyle = rank <= 3 ? "#2b2b2b" : "#4a4a4a";
      var x = pt.x * scale, y = pt.y * scale, w = ctx.measureText(text).width;
      var box = [x - w / 2 - 2, y - size / 2 - 2, x + w / 2 + 2, y + size / 2 + 2];
      if (overlaps(box, boxes)) return;
      boxes.push(box);
      drawn.push(text);
      halo(ctx, text, x, y);
    });
  }

  function longestStretch(geometry, scale) {
    var best = null;
    geometry.forEach(function (ring) {
      for (var i = 1; i < ring.length; i++) {
        var ax = ring[i - 1].x * scale, ay = ring[i - 1].y * scale;
        var bx = ring[i].x * scale, by = ring[i].y * scale;
        var length = Math.sqrt((bx - ax) * (bx - ax) + (by - ay) * (by - ay));
        if (!best || length > best.length) best = {ax: ax, ay: ay, bx: bx, by: by, length: length};
      }
    });
    return best;
  }

  function drawStreets(ctx, layer, scale, size, boxes, drawn) {
    var done = {};
    ctx.font = "12px " + FONT;
    ctx.fillStyle = "#3d3d3d";
    (layer.features || []).forEach(function (f) {
      var text = label(f.properties);
      if (!text || done[text]) return;
      var s = longestStretch(f.geometry, scale);
      var w = ctx.measureText(text).width;
      if (!s || s.length < w + 12) return;
      var mx = (s.ax + s.bx) / 2, my = (s.ay + s.by) / 2;
      var reach = w / 2 + 8;  // a street label wholly inside this tile (never cut at its edge)
      if (mx - reach < 0 || my - reach < 0 || mx + reach > size.x || my + reach > size.y) return;
      var box = [mx - reach, my - reach / 2, mx + reach, my + reach / 2];
      if (overlaps(box, boxes)) return;
      boxes.push(box);
      done[text] = true;
      drawn.push(text);
      var angle = Math.atan2(s.by - s.ay, s.bx - s.ax);
      if (angle > Math.PI / 2) angle -= Math.PI;
      if (angle < -Math.PI / 2) angle += Math.PI;
      ctx.save();
      ctx.translate(mx, my);
      ctx.rotate(angle);
      halo(ctx, text, 0, 0);
      ctx.restore();
    });
  }

  var Labels = L.VectorGrid.Protobuf.extend({
    _getVectorTilePromise: function (coords) { return tilePromise(this, coords); },
    // Leaflet's redraw() (on a language switch) takes the map's zoom unrounded: at a
    // fractional zoom (/ops fits the county with zoomSnap 0.25) it asked for /tiles/11.75/...
    _clampZoom: function (zoom) { return L.GridLayer.prototype._clampZoom.call(this, Math.round(zoom)); },
    createTile: function (coords, done) {
      var size = this.getTileSize(), ratio = window.devicePixelRatio || 1;
      var canvas = L.DomUtil.create("canvas", "leaflet-tile basemap-labels");
      canvas.width = size.x * ratio;
      canvas.height = size.y * ratio;
      this._getVectorTilePromise(coords).then(function (tile) {
        var ctx = canvas.getContext("2d");
        ctx.scale(ratio, ratio);
        ctx.textAlign = "center";
        ctx.textBaseline = "middle";
        ctx.lineJoin = "round";
        ctx.strokeStyle = "rgba(255,255,255,0.92)";
        ctx.lineWidth = 3;
        var boxes = [], drawn = [], layers = tile.layers || {};
        if (layers.places) drawPlaces(ctx, layers.places, size.x / layers.places.extent, boxes, drawn);
        if (coords.z >= 15 && layers.roads) {
          drawStreets(ctx, layers.roads, size.x / layers.roads.extent, size, boxes, drawn);
        }
        canvas.setAttribute("data-labels", drawn.join("|"));  // what tests (and people) can read
        done(null, canvas);
      });
      return canvas;
    }
  });

  function attribution() {
    var I = window.I18N;
    return I && I.tOr ? I.tOr("basemap.attribution", "© OpenStreetMap") : "© OpenStreetMap";
  }

  /* The base map as one Leaflet layer (geometry + labels). */
  function layer(options) {
    var opts = Object.assign({maxZoom: 20}, options || {});
    var geometry = new Geometry(URL_TEMPLATE, {
      rendererFactory: L.canvas.tile,
      vectorTileLayerStyles: STYLES,
      interactive: false,
      maxZoom: opts.maxZoom,
      fetchOptions: {credentials: "same-origin"},
      attribution: attribution(),
      className: "basemap-geometry"
    });
    var labels = new Labels(URL_TEMPLATE, {maxZoom: opts.maxZoom, interactive: false,
                                           fetchOptions: {credentials: "same-origin"},
                                           className: "basemap-text", zIndex: 2});
    var group = L.layerGroup([geometry, labels]), shownOn = null;
    group.on("add", function () {
      shownOn = group._map;
      if (shownOn) shownOn.getContainer().style.background = BACKGROUND;
    });
    group.on("remove", function () {
      if (shownOn) shownOn.getContainer().style.background = "";
    });
    function attribute() {  // the attribution in the UI's language
      var before = geometry.options.attribution;
      geometry.options.attribution = attribution();
      var control = shownOn && shownOn.attributionControl;
      if (control) control.removeAttribution(before).addAttribution(geometry.options.attribution);
    }
    if (window.I18N && window.I18N.ready) window.I18N.ready.then(attribute);
    if (window.I18N && window.I18N.onChange) {
      window.I18N.onChange(function () { labels.redraw(); attribute(); });
    }
    group.labels = labels;
    group.geometry = geometry;
    return group;
  }

  window.GridBasemap = {
    layer: layer,
    background: BACKGROUND,
    roadColours: function (kind) { var spec = ROADS[kind] || ROADS.minor; return [spec[0], spec[1]]; }
  };

  var M = window.GRIDSVC_MAP;
  if (M && M.map) {
    var base = layer();
    base.addTo(M.map);
    M.layers.basemap = base;
  }
})();
