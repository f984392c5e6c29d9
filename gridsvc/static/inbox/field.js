/* The inbox's own reports and status (issue 8 items 4 and 7), beside the assignments:
 * - 巡查上报: a grid head or squad reports a finding (matter picked from a searchable list,
 *   note, photo, the phone's GPS position); it goes through the same intake as every event
 *   (POST /events, source patrol) and lands in 我的上报 with the unit it was routed to;
 * - a squad account sets its status (在岗/忙碌/休息/离线, with a reason) and sees its caseload.
 * Everything the server answers is inserted as text (I18N.escape). */
(function () {
  "use strict";
  var I = window.I18N, T = I.t, esc = I.escape;
  var user = I.config.user || {};
  var maxBytes = I.config.attachment_max_bytes || 5 * 1024 * 1024;
  var form = document.getElementById("patrol");
  var reportsBox = document.getElementById("reports");
  var statusBox = document.getElementById("status");
  var reports = {};          // id -> event (GET /events shape)
  var picked = null;         // the chosen matter {code, name}
  var fix = null;            // the phone's position {lat, lng, crs, accuracy}
  var searchTimer = null;

  function toast(text, kind) {
    var box = document.getElementById("toast");
    box.textContent = text;
    box.className = kind || "";
    box.hidden = false;
    setTimeout(function () { box.hidden = true; }, 4000);
  }

  function request(path, options) {
    return fetch(path, Object.assign({credentials: "same-origin"}, options || {}))
      .then(function (r) {
        if (r.status === 401) { location.href = "/login?next=/inbox"; throw new Error("401"); }
        return r.json().then(function (body) {
          if (!r.ok) {
            var fields = (body.fields || []).map(function (f) { return f.reason; }).join("；");
            throw new Error(fields || body.message || ("HTTP " + r.status));
          }
          return body;
        });
      });
  }

  function send(path, method, body) {
    return request(path, {method: method, body: JSON.stringify(body),
                          headers: {"Content-Type": "application/json"}});
  }

  // -- 我的上报 -------------------------------------------------------------------------

  function reportItem(e) {
    var unit = e.responsible_name || (e.responsible && e.responsible.name) || T("patrol.triage");
    return "<li data-id='" + esc(e.id) + "' data-state='" + esc(e.state) +
      "' data-testid='my-report'><b>" + esc(e.title) + "</b> <span class='badge st-" +
      esc(e.state) + "'>" + esc(T("state." + e.state)) + "</span><div class='meta'>" +
      esc(I.time(e.received_at)) + " · " + esc(T("patrol.routed_to", {unit: unit})) +
      "</div></li>";
  }

  function renderReports() {
    var list = Object.keys(reports).map(function (id) { return reports[id]; })
      .sort(function (a, b) { return b.id - a.id; });
    reportsBox.querySelector("ul").innerHTML = list.map(reportItem).join("");
    reportsBox.querySelector(".none").hidden = list.length > 0;
  }

  function loadReports() {
    // GET /events lists what the account may see, its own reports included wherever they
    // were routed; the newest 200 are enough for the phone's history.
    return request("/events?limit=200").then(function (body) {
      reports = {};
      body.events.forEach(function (e) {
        if (e.reported_by === user.user_id) reports[e.id] = e;
      });
      renderReports();
    });
  }

  // Live updates of the account's own reports (inbox.js passes every event message on).
  window.FieldReports = {
    update: function (e) {
      if (!reports[e.id]) return;
      reports[e.id] = Object.assign({}, reports[e.id], {state: e.state,
        responsible_name: (e.responsible && e.responsible.name) || reports[e.id].responsible_name});
      renderReports();
    }
  };

  // -- the report form -----------------------------------------------------------------

  function locate() {
    var line = form.querySelector("[data-testid='patrol-position']");
    fix = null;
    line.textContent = T("patrol.locating");
    line.className = "pos";
    if (!navigator.geolocation) { line.textContent = T("patrol.no_position"); return; }
    navigator.geolocation.getCurrentPosition(function (p) {
      fix = {lat: p.coords.latitude, lng: p.coords.longitude, crs: "wgs84"};
      line.textContent = T("patrol.located", {acc: Math.round(p.coords.accuracy || 0)});
      line.className = "pos ok";
    }, function () {
      line.textContent = T("patrol.no_position");
      line.className = "pos error";
    }, {enableHighAccuracy: true, timeout: 15000, maximumAge: 30000});
  }

  function showMatches(matters) {
    var box = form.querySelector(".matches");
    if (!matters.length) {
      box.innerHTML = "<li class='none'>" + esc(T("patrol.no_match")) + "</li>";
      return;
    }
    box.innerHTML = matters.slice(0, 20).map(function (m) {
      return "<li><button type='button' class='option' data-testid='patrol-matter-option' " +
        "data-code='" + esc(m.code) + "' data-name='" + esc(m.name) + "'>" + esc(m.name) +
        " <small>" + esc(m.major_name + " · " + m.code) + "</small></button></li>";
    }).join("");
  }

  function search() {
    var q = form.elements.q.value.trim();
    var path = "/matters?kind=event" + (q ? "&q=" + encodeURIComponent(q) : "");
    request(path).then(showMatches).catch(function (err) {
      toast(T("msg.error") + ": " + err.message, "error");
    });
  }

  function pick(code, name) {
    picked = {code: code, name: name};
    var chosen = form.querySelector("[data-testid='patrol-matter']");
    chosen.textContent = name + "（" + code + "）";
    chosen.hidden = false;
    form.querySelector(".matches").innerHTML = "";
    form.elements.q.value = "";
  }

  function open() {
    form.reset();
    form.querySelector("[data-testid='patrol-photo-name']").textContent = "";
    picked = null;
    form.querySelector("[data-testid='patrol-matter']").hidden = true;
    form.querySelector(".matches").innerHTML = "";
    form.hidden = false;
    locate();
    form.elements.q.focus();
  }

  function upload(id, file) {
    if (!file) return Promise.resolve(null);
    var data = new FormData();
    data.append("file", file, file.name);
    return request("/events/" + id + "/attachments", {method: "POST", body: data});
  }

  function submit() {
    var note = form.elements.note.value.trim();
    var file = form.elements.photo.files[0];
    if (!picked) { toast(T("patrol.pick_matter"), "error"); form.elements.q.focus(); return; }
    if (!fix) { toast(T("patrol.no_position"), "error"); locate(); return; }
    if (file && file.size > maxBytes) { toast(T("inbox.too_big"), "error"); return; }
    if (file && ["image/jpeg", "image/png", "image/webp"].indexOf(file.type) < 0) {
      toast(T("inbox.bad_type"), "error"); return;
    }
    var button = form.querySelector("[data-testid='patrol-submit']");
    button.disabled = true;
    // A report is acknowledged once stored; the photo follows (a failed upload leaves the
    // report in place and says so).
    send("/events", "POST", {source: "patrol", title: picked.name, description: note || null,
                             matter_code: picked.code, location: fix})
      .then(function (created) {
        return upload(created.id, file).then(function () { return created; }, function (err) {
          toast(T("patrol.photo_failed") + ": " + err.message, "error");
          return created;
        });
      })
      .then(function (created) {
        form.hidden = true;
        toast(T("patrol.sent", {unit: created.responsible.name || T("patrol.triage")}), "ok");
        return loadReports();
      })
      .catch(function (err) { toast(T("msg.error") + ": " + err.message, "error"); })
      .then(function () { button.disabled = false; });
  }

  form.addEventListener("input", function (ev) {
    if (ev.target.name !== "q") return;
    clearTimeout(searchTimer);
    searchTimer = setTimeout(search, 250);
  });
  form.addEventListener("click", function (ev) {
    var option = ev.target.closest("button[data-code]");
    if (option) { pick(option.getAttribute("data-code"), option.getAttribute("data-name")); return; }
    var act = ev.target.closest("button[data-act]");
    if (!act) return;
    if (act.getAttribute("data-act") === "cancel") form.hidden = true;
    if (act.getAttribute("data-act") === "relocate") locate();
  });
  form.addEventListener("submit", function (ev) { ev.preventDefault(); submit(); });
  // The browser's own file button speaks the browser's language: it is hidden behind a
  // label of ours, and the chosen photo's name shown beside it.
  form.elements.photo.addEventListener("change", function () {
    var file = form.elements.photo.files[0];
    form.querySelector("[data-testid='patrol-photo-name']").textContent = file ? file.name : "";
  });
  document.getElementById("patrol-open").addEventListener("click", open);

  // -- a squad's status ------------------------------------------------------------------

  function showStatus(squad) {
    statusBox.setAttribute("data-status", squad.status);
    statusBox.querySelector("[data-testid='squad-status']").textContent =
      T("squad." + squad.status) + (squad.status_reason ? "（" + squad.status_reason + "）" : "") +
      " · " + T("squad.open_cases", {n: squad.open_cases});
    statusBox.querySelectorAll("button[data-status]").forEach(function (b) {
      b.classList.toggle("primary", b.getAttribute("data-status") === squad.status);
    });
  }

  function setStatus(status) {
    var reason = statusBox.querySelector("input[name='reason']").value.trim();
    if (status !== "available" && !reason) {
      toast(T("status.reason_needed"), "error");
      statusBox.querySelector("input[name='reason']").focus();
      return;
    }
    send("/squads/" + user.squad_id + "/status", "POST", {status: status, reason: reason || null})
      .then(function (squad) {
        showStatus(squad);
        statusBox.querySelector("input[name='reason']").value = "";
        toast(T("status.changed", {status: T("squad." + squad.status)}), "ok");
      })
      .catch(function (err) { toast(T("msg.error") + ": " + err.message, "error"); });
  }

  if (user.role === "squad" && user.squad_id != null) {
    statusBox.hidden = false;
    statusBox.addEventListener("click", function (ev) {
      var b = ev.target.closest("button[data-status]");
      if (b) setStatus(b.getAttribute("data-status"));
    });
  }

  I.ready.then(function () {
    loadReports().catch(function () { /* the list stays empty; the next report reloads it */ });
    if (!statusBox.hidden) request("/squads/" + user.squad_id).then(showStatus);
    I.onChange(renderReports);
  });
})();
