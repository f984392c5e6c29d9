/* The leaders' dashboard (/dashboard): the summary by unit, weekly trends and hotspot cells,
 * drawn with the vendored ECharts. Data: GET /reports/summary (the period, and once per ISO
 * week for the trend), GET /reports/hotspots; the download links GET /reports/export.xlsx.
 * The filters live in the URL (?from=&to=&by=&jurisdiction=&res=), so a view can be shared.
 * Tests read window.DASHBOARD (the data drawn) and the charts through echarts.getInstanceByDom. */
(function () {
  "use strict";
  var T = I18N.t, config = I18N.config;
  var MAX_TREND_WEEKS = 12, TOP_CELLS = 10;
  var RATES = ["response_rate", "on_time_close_rate", "satisfaction_rate"];
  var BYS = ["township", "department", "squad", "grid", "matter"];
  var root = document.getElementById("dashboard");
  var form = document.getElementById("filters");
  var fields = {
    from: document.getElementById("f-from"), to: document.getElementById("f-to"),
    by: document.getElementById("f-by"), jurisdiction: document.getElementById("f-jurisdiction"),
    res: document.getElementById("f-res")
  };
  var state = {}, data = {summary: null, hotspots: null, trend: null}, charts = {};
  var generation = 0;
  window.DASHBOARD = {state: state, data: data, charts: charts};

  // -- dates: "YYYY-MM-DD" strings, computed in UTC so no time zone shifts a day ----------
  function parseDay(text) {
    var m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text || "");
    return m ? new Date(Date.UTC(+m[1], +m[2] - 1, +m[3])) : null;
  }
  function formatDay(d) { return d.toISOString().slice(0, 10); }
  function addDays(d, n) { return new Date(d.getTime() + n * 86400000); }
  function monday(d) { return addDays(d, -((d.getUTCDay() + 6) % 7)); }
  function isoWeek(d) {
    var thursday = addDays(monday(d), 3), year = thursday.getUTCFullYear();
    var first = monday(addDays(new Date(Date.UTC(year, 0, 4)), 0));
    var week = 1 + Math.round((monday(d) - first) / (7 * 86400000));
    return year + "-W" + (week < 10 ? "0" : "") + week;
  }

  // -- filters ---------------------------------------------------------------------------
  function readUrl() {
    var q = new URLSearchParams(location.search);
    var today = parseDay(config.today) || parseDay(formatDay(new Date()));
    var to = parseDay(q.get("to")) || today;
    var from = parseDay(q.get("from")) || addDays(to, -27);
    state.from = formatDay(from);
    state.to = formatDay(to);
    state.by = BYS.indexOf(q.get("by")) >= 0 ? q.get("by") : "township";
    state.jurisdiction = q.get("jurisdiction") || "";
    state.res = q.get("res") === "8" ? "8" : "9";
  }

  function fillForm() {
    (config.jurisdictions || []).forEach(function (j) {
      var option = document.createElement("option");
      option.value = j.code;
      option.textContent = j.name;
      fields.jurisdiction.appendChild(option);
    });
    Object.keys(fields).forEach(function (key) { fields[key].value = state[key]; });
  }

  function fromForm() {
    if (!parseDay(fields.from.value) || !parseDay(fields.to.value)) return false;
    Object.keys(fields).forEach(function (key) { state[key] = fields[key].value; });
    if (state.to < state.from) { state.to = state.from; fields.to.value = state.to; }
    var q = new URLSearchParams();
    ["from", "to", "by", "jurisdiction", "res"].forEach(function (key) {
      if (state[key]) q.set(key, state[key]);
    });
    history.replaceState(null, "", location.pathname + "?" + q.toString());
    return true;
  }

  function query(params) {
    var q = new URLSearchParams();
    Object.keys(params).forEach(function (key) {
      if (params[key] !== "" && params[key] != null) q.set(key, params[key]);
    });
    return q.toString();
  }

  function exportUrl() {
    return "/reports/export.xlsx?" + query({from: state.from, to: state.to, jurisdiction: state.jurisdiction});
  }

  // -- data ------------------------------------------------------------------------------
  function getJson(url) {
    return fetch(url, {credentials: "same-origin", headers: {Accept: "application/json"}})
      .then(function (r) {
        if (!r.ok) {
          return r.json().catch(function () { return {}; }).then(function (body) {
            throw new Error(T("dash.error", {status: r.status, message: body.message || ""}));
          });
        }
        return r.json();
      });
  }

  /* The ISO weeks the trend shows: those of the period, the last MAX_TREND_WEEKS at most. */
  function trendWeeks() {
    var weeks = [], last = parseDay(state.to), first = monday(parseDay(state.from));
    for (var d = monday(last); d >= first && weeks.length < MAX_TREND_WEEKS; d = addDays(d, -7)) {
      weeks.unshift({label: isoWeek(d), from: formatDay(d), to: formatDay(addDays(d, 6))});
    }
    return weeks;
  }

  function load() {
    var mine = ++generation;
    root.setAttribute("data-loading", "1");
    var scope = {jurisdiction: state.jurisdiction};
    var errors = [];
    function settle(promise) {
      return promise.catch(function (error) { errors.push(error.message); return null; });
    }
    var summary = settle(getJson("/reports/summary?" + query(
      {from: state.from, to: state.to, by: state.by, jurisdiction: scope.jurisdiction})));
    var hotspots = settle(getJson("/reports/hotspots?" + query(
      {from: state.from, to: state.to, res: state.res, jurisdiction: scope.jurisdiction})));
    var weeks = trendWeeks();
    var trend = settle(Promise.all(weeks.map(function (w) {
      return getJson("/reports/summary?" + query(
        {from: w.from, to: w.to, by: "township", jurisdiction: scope.jurisdiction}));
    })).then(function (answers) {
      return weeks.map(function (w, i) { return {week: w.label, total: answers[i].total}; });
    }));
    return Promise.all([summary, hotspots, trend]).then(function (answers) {
      if (mine !== generation) return;  // a newer filter change is on its way
      data.summary = answers[0];
      data.hotspots = answers[1];
      data.trend = answers[2];
      var box = document.getElementById("dash-error");
      box.textContent = errors.join("；");
      box.hidden = !errors.length;
      draw();
      root.setAttribute("data-period", state.from + "/" + state.to);
      root.removeAttribute("data-loading");
      document.body.setAttribute("data-ready", "1");
    });
  }

  // -- drawing ---------------------------------------------------------------------------
  function percent(rate) { return rate == null ? null : Math.round(rate * 1000) / 10; }
  function shown(value, key) {
    if (value == null) return "–";
    if (/_rate$/.test(key)) return percent(value).toFixed(1) + "%";
    if (/_min$/.test(key)) return String(Math.round(value));
    return String(value);
  }

  function chart(id) {
    if (!charts[id]) {
      var locale = I18N.lang() === "en" ? "EN" : "ZH";
      charts[id] = echarts.init(document.getElementById(id), null, {renderer: "canvas", locale: locale});
    }
    return charts[id];
  }

  function resetCharts() {
    Object.keys(charts).forEach(function (id) { charts[id].dispose(); delete charts[id]; });
  }

  function rateSeries(rows, yAxisIndex) {
    return RATES.map(function (key) {
      return {name: T("dash.fig." + key), type: "line", yAxisIndex: yAxisIndex, connectNulls: false,
              data: rows.map(function (r) { return percent(r[key]); })};
    });
  }

  function axes(categories, rotate) {
    return {
      grid: {left: 48, right: 52, top: 40, bottom: rotate ? 80 : 40},
      tooltip: {trigger: "axis"},
      legend: {top: 0, type: "scroll"},
      xAxis: {type: "category", data: categories, axisLabel: {rotate: rotate ? 30 : 0, interval: 0}},
      yAxis: [{type: "value", name: T("dash.axis.count"), minInterval: 1},
              {type: "value", name: "%", min: 0, max: 100}]
    };
  }

  function empty(id, text) {
    var c = chart(id);
    c.clear();
    c.setOption({title: {text: text, left: "center", top: "middle",
                         textStyle: {color: "#90a4ae", fontSize: 14, fontWeight: "normal"}}});
  }

  function drawUnits() {
    var summary = data.summary;
    if (!summary || !summary.rows.length) { empty("chart-units", T("dash.no_data")); return; }
    var rows = summary.rows;
    var option = axes(rows.map(function (r) { return r.name; }), rows.length > 6);
    option.series = [
      {name: T("dash.fig.received"), type: "bar", data: rows.map(function (r) { return r.received; })},
      {name: T("dash.fig.closed"), type: "bar", data: rows.map(function (r) { return r.closed; })}
    ].concat(rateSeries(rows, 1));
    chart("chart-units").setOption(option, true);
  }

  function drawTrend() {
    var trend = data.trend;
    if (!trend || !trend.length) { empty("chart-trend", T("dash.no_data")); return; }
    var totals = trend.map(function (w) { return w.total; });
    var option = axes(trend.map(function (w) { return w.week; }), trend.length > 8);
    option.series = [
      {name: T("dash.fig.received"), type: "bar", data: totals.map(function (t) { return t.received; })},
      {name: T("dash.fig.closed"), type: "bar", data: totals.map(function (t) { return t.closed; })}
    ].concat(rateSeries(totals, 1));
    chart("chart-trend").setOption(option, true);
  }

  function cellLabel(cell, i) {
    var top = cell.classes && cell.classes[0];
    var name = top ? (top.name || top.matter_class || T("dash.no_class")) : cell.cell;
    // two cells of one class told apart by the cell's last significant digits (unused
    // resolution digits are all f)
    return (i + 1) + ". " + name + " · " + cell.cell.replace(/f+$/, "").slice(-4);
  }

  function drawHotspots() {
    var answer = data.hotspots;
    var cells = answer ? answer.cells.filter(function (c) { return c.count > 0; }).slice(0, TOP_CELLS) : [];
    if (!cells.length) { empty("chart-hotspots", T("dash.no_hotspots")); return; }
    var ordered = cells.slice().reverse();  // the largest on top
    chart("chart-hotspots").setOption({
      grid: {left: 150, right: 30, top: 40, bottom: 30},
      legend: {top: 0},
      tooltip: {
        trigger: "axis", axisPointer: {type: "shadow"},
        formatter: function (items) {
          var cell = ordered[items[0].dataIndex];
          return I18N.escape(cell.cell) + "<br>" + T("dash.fig.count") + ": " + cell.count +
            "<br>" + T("dash.prev_mean") + ": " + cell.trend.previous_mean +
            "<br>" + T("dash.trend_dir." + cell.trend.direction);
        }
      },
      xAxis: {type: "value", minInterval: 1},
      yAxis: {type: "category", data: ordered.map(function (c) { return cellLabel(c, cells.indexOf(c)); })},
      series: [
        {name: T("dash.fig.count"), type: "bar", data: ordered.map(function (c) { return c.count; }),
         itemStyle: {color: "#d84315"}},
        {name: T("dash.prev_mean"), type: "bar",
         data: ordered.map(function (c) { return c.trend.previous_mean; }), itemStyle: {color: "#90a4ae"}}
      ]
    }, true);
  }

  function drawKpis() {
    var total = data.summary && data.summary.total;
    document.querySelectorAll("#kpis .kpi").forEach(function (card) {
      var key = card.getAttribute("data-kpi");
      card.querySelector("b").textContent = total ? shown(total[key], key) : "–";
      var small = card.querySelector("small"), change = total && total.change ? total.change[key] : null;
      small.className = "";
      if (change == null) { small.textContent = ""; return; }
      var value = /_rate$/.test(key) ? percent(change) : change;
      small.className = value > 0 ? "up" : value < 0 ? "down" : "";
      small.textContent = T("dash.vs_previous", {change: (value > 0 ? "+" : "") + value +
        (/_rate$/.test(key) ? T("dash.points") : "")});
    });
  }

  function drawTable() {
    var body = document.querySelector("[data-testid=dash-table] tbody");
    var columns = Array.prototype.map.call(
      document.querySelectorAll("[data-testid=dash-table] thead th"),
      function (th) { return th.getAttribute("data-i18n").replace("dash.fig.", ""); });
    var summary = data.summary, html = "";
    if (summary) {
      summary.rows.concat([summary.total]).forEach(function (row, i) {
        var last = i === summary.rows.length;
        html += "<tr" + (last ? " class='total'" : "") + " data-key='" + I18N.escape(last ? "" : row.key) + "'>" +
          columns.map(function (key) {
            var value = key === "name" ? (last ? T("dash.total") : row.name) : shown(row[key], key);
            return "<td>" + I18N.escape(value) + "</td>";
          }).join("") + "</tr>";
      });
    }
    body.innerHTML = html || "<tr><td class='empty' colspan='" + columns.length + "'>" +
      I18N.escape(T("dash.no_data")) + "</td></tr>";
  }

  function draw() {
    document.getElementById("download").setAttribute("href", exportUrl());
    drawKpis();
    drawUnits();
    drawTrend();
    drawHotspots();
    drawTable();
  }

  I18N.ready.then(function () {
    readUrl();
    fillForm();
    document.getElementById("download").setAttribute("href", exportUrl());
    form.addEventListener("change", function () { if (fromForm()) load(); });
    form.addEventListener("submit", function (e) { e.preventDefault(); });
    I18N.onChange(function () { resetCharts(); draw(); });
    window.addEventListener("resize", function () {
      Object.keys(charts).forEach(function (id) { charts[id].resize(); });
    });
    load();
  });
})();
