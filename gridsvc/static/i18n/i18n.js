/* UI language (zh-CN default, English switchable, remembered in localStorage) and times in
 * the county's time zone. Pages wait for I18N.ready before rendering. */
(function () {
  "use strict";
  var KEY = "gridsvc.lang";
  var LANGS = ["zh-CN", "en"];
  var config = JSON.parse(document.getElementById("gridsvc-config").textContent);
  var dict = {};
  var listeners = [];
  var lang = localStorage.getItem(KEY);
  if (LANGS.indexOf(lang) < 0) lang = "zh-CN";

  function t(key, vars) {
    var text = Object.prototype.hasOwnProperty.call(dict, key) ? dict[key] : key;
    if (vars) {
      Object.keys(vars).forEach(function (name) {
        text = text.split("{" + name + "}").join(String(vars[name]));
      });
    }
    return text;
  }

  /* A translation when the dictionary has one, else the fallback (e.g. a name from data). */
  function tOr(key, fallback) {
    return Object.prototype.hasOwnProperty.call(dict, key) ? dict[key] : fallback;
  }

  function apply(root) {
    (root || document).querySelectorAll("[data-i18n]").forEach(function (el) {
      el.textContent = t(el.getAttribute("data-i18n"));
    });
    (root || document).querySelectorAll("[data-i18n-placeholder]").forEach(function (el) {
      el.setAttribute("placeholder", t(el.getAttribute("data-i18n-placeholder")));
    });
    leaflet(root);
  }

  /* Leaflet's own controls carry English titles (zoom buttons, the layers toggle, its
   * attribution link): said in the page's language (pages call it again after adding one). */
  function leaflet(root) {
    var scope = root || document;
    [[".leaflet-control-zoom-in", "map.zoom_in"], [".leaflet-control-zoom-out", "map.zoom_out"],
     [".leaflet-control-layers-toggle", "map.layers"]].forEach(function (pair) {
      scope.querySelectorAll(pair[0]).forEach(function (el) {
        el.setAttribute("title", t(pair[1]));
        el.setAttribute("aria-label", t(pair[1]));
      });
    });
    scope.querySelectorAll(".leaflet-control-attribution a[title]").forEach(function (el) {
      el.removeAttribute("title");
    });
  }

  function load(next) {
    return fetch("/static/i18n/" + next + ".json", {cache: "no-cache"})
      .then(function (r) { return r.json(); })
      .then(function (d) {
        dict = d; lang = next;
        document.documentElement.lang = next;
        localStorage.setItem(KEY, next);
        var select = document.getElementById("lang");
        if (select) select.value = next;
        apply(document);
        listeners.forEach(function (fn) { fn(next); });
      });
  }

  var formatters = {};
  function formatter(kind) {
    var id = lang + kind;
    if (!formatters[id]) {
      var options = {timeZone: config.timezone, hour: "2-digit", minute: "2-digit",
                     hour12: false};
      if (kind === "full") { options.month = "2-digit"; options.day = "2-digit"; }
      if (kind === "sec") { options.second = "2-digit"; }
      formatters[id] = new Intl.DateTimeFormat(lang, options);
    }
    return formatters[id];
  }

  /* "MM-DD HH:mm" in the county's zone (today: only "HH:mm"). */
  function time(iso, kind) {
    if (!iso) return "";
    var when = new Date(iso);
    if (isNaN(when)) return "";
    if (!kind) {
      var day = new Intl.DateTimeFormat("en-CA", {timeZone: config.timezone});
      kind = day.format(when) === day.format(new Date()) ? "short" : "full";
    }
    return formatter(kind).format(when);
  }

  /* The SLA status now (the server's rule: under a quarter of the stage's time left = due
   * soon), so markers change colour as the clock runs, without a message. */
  function slaStatus(sla, state) {
    if (!sla || !sla.due_at || state === "closed") return "none";
    var due = new Date(sla.due_at).getTime(), now = Date.now();
    if (due < now) return "overdue";
    var start = sla.stage_started_at ? new Date(sla.stage_started_at).getTime() : null;
    if (start !== null && due - now < 0.25 * (due - start)) return "due_soon";
    return "on_time";
  }

  function timeLeft(sla) {
    if (!sla || !sla.due_at) return "";
    var minutes = Math.round((new Date(sla.due_at).getTime() - Date.now()) / 60000);
    var way = minutes >= 0 ? "left" : "over", n = Math.abs(minutes);
    if (n >= 1440) {
      return t("time." + way + "_d", {d: Math.floor(n / 1440), h: Math.floor(n % 1440 / 60)});
    }
    if (n >= 120) return t("time." + way + "_h", {h: Math.floor(n / 60), m: n % 60});
    return t("time." + way + "_min", {n: n});
  }

  function escape(text) {
    return String(text == null ? "" : text).replace(/[&<>"']/g, function (c) {
      return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c];
    });
  }

  function has(key) { return Object.prototype.hasOwnProperty.call(dict, key); }

  window.I18N = {
    config: config, t: t, tOr: tOr, has: has, apply: apply, leaflet: leaflet, time: time,
    slaStatus: slaStatus,
    timeLeft: timeLeft, escape: escape,
    lang: function () { return lang; },
    onChange: function (fn) { listeners.push(fn); },
    ready: load(lang)
  };
  document.addEventListener("change", function (e) {
    if (e.target && e.target.id === "lang") load(e.target.value);
  });
})();
