/* The operator's boards beside the map: 督办 waiting for their written reply, and open
 * whistles (each department's 报到/到场 state, lateness, score); plus the 督办 section of the
 * event panel with its reply form. Lists reload when their counter in the top bar changes
 * (the live stream updates it), when opened, and every 30 s while open. */
(function () {
  "use strict";
  var I = window.I18N, T = I.t, esc = I.escape;
  var box = document.getElementById("boards");
  if (!box) return;
  var current = null, timer = null;

  function api(path, options) { return window.OpsApi(path, options); }

  function post(path, body) {
    return api(path, {method: "POST", body: JSON.stringify(body),
                      headers: {"Content-Type": "application/json", "Accept": "application/json"}});
  }

  function who(d) {
    if (!d.recipients.length) return "<span class='none'>" + esc(T("duban.nobody")) + "</span>";
    return d.recipients.map(function (r) {
      var status = r.notice_status ? " <small class='ns-" + esc(r.notice_status) + "'>" +
        esc(T("duban.notice." + r.notice_status)) + "</small>" : "";
      return esc(r.display_name || r.name) + status;
    }).join("、");
  }

  function level(d) {
    return "<span class='lv lv-" + esc(d.level) + "'>" + esc(I.tOr("duban.level." + d.level, d.level_zh)) +
      "</span>";
  }

  function dubanRow(d) {
    return "<li data-testid='duban-row' data-id='" + esc(d.id) + "' data-event='" + esc(d.event_id) +
      "' data-level='" + esc(d.level) + "'>" + level(d) + " <a href='#' data-open='" + esc(d.event_id) +
      "'>" + esc(d.event.title) + "</a><div class='meta'>" +
      esc(I.tOr("stage." + d.stage, d.stage_zh)) + " · " + esc(T("duban.overdue", {n: d.overdue_minutes})) +
      " · " + esc(I.time(d.raised_at)) + "</div><div class='meta'>" + esc(T("duban.to")) + "：" + who(d) +
      "</div></li>";
  }

  function lateness(d) {
    if (!d.late) return "<span class='ok'>" + esc(T("whistles.on_time")) + "</span>";
    return "<span class='late'>" + esc(T("whistles.late_min", {n: Math.round(d.late_minutes)})) + "</span>";
  }

  function whistleCard(w) {
    var rows = w.departments.map(function (d) {
      return "<tr data-testid='whistle-dept' data-department='" + esc(d.department) + "' data-status='" +
        esc(d.status) + "'><td>" + esc(I.tOr("department." + d.department, d.name_zh || d.name)) +
        "</td><td data-testid='dept-status' class='st-" + esc(d.status) + "'>" +
        esc(T("whistles.status." + d.status)) + "</td><td data-testid='dept-late'>" + lateness(d) +
        "</td><td data-testid='dept-score'>" + (d.score == null ? esc(T("whistles.no_score")) :
        esc(Number(d.score).toFixed(1))) + "</td></tr>";
    }).join("");
    return "<li data-testid='whistle-card' data-id='" + esc(w.id) + "'><a href='#' data-open='" +
      esc(w.event_id) + "'>" + esc(w.event.title) + "</a><div class='meta'><span title='" + esc(w.township_code) + "'>" +
      esc(w.township_name || w.township_code) + "</span>" +
      " · " + esc(T("whistles.summoned")) + " " + esc(I.time(w.summoned_at)) + "</div>" +
      "<table><thead><tr><th>" + esc(T("whistles.department")) + "</th><th>" + esc(T("whistles.state")) +
      "</th><th>" + esc(T("whistles.late")) + "</th><th>" + esc(T("whistles.score")) +
      "</th></tr></thead><tbody>" + rows + "</tbody></table></li>";
  }

  function load() {
    var body = box.querySelector(".body");
    if (current === "duban") {
      return api("/duban?unreplied=true&limit=200").then(function (r) {
        body.innerHTML = r.duban.length ? "<ul class='list'>" + r.duban.map(dubanRow).join("") + "</ul>" :
          "<p class='empty'>" + esc(T("duban.empty")) + "</p>";
        box.setAttribute("data-loaded", "duban");
      });
    }
    return api("/whistles/board").then(function (r) {
      body.innerHTML = r.whistles.length ? "<ul class='list'>" + r.whistles.map(whistleCard).join("") +
        "</ul>" : "<p class='empty'>" + esc(T("whistles.empty")) + "</p>";
      box.setAttribute("data-loaded", "whistles");
    });
  }

  function show(which) {
    current = which;
    box.hidden = false;
    box.setAttribute("data-board", which);
    box.querySelectorAll("[data-tab]").forEach(function (b) {
      b.classList.toggle("on", b.getAttribute("data-tab") === which);
    });
    box.querySelector(".body").innerHTML = "<p>" + esc(T("panel.loading")) + "</p>";
    clearInterval(timer);
    timer = setInterval(function () { if (!box.hidden) load(); }, 30000);
    return load();
  }

  function hide() { box.hidden = true; current = null; clearInterval(timer); }

  box.addEventListener("click", function (ev) {
    var tab = ev.target.closest("[data-tab]");
    if (tab) { show(tab.getAttribute("data-tab")); return; }
    if (ev.target.closest("[data-act='close-boards']")) { hide(); return; }
    var open = ev.target.closest("[data-open]");
    if (open) { ev.preventDefault(); window.OpsPanel.open(+open.getAttribute("data-open")); }
  });

  // The counters of the top bar open their board; a change of their number reloads it.
  [["duban_unreplied", "duban"], ["whistles_awaiting_ack", "whistles"]].forEach(function (pair) {
    var cell = document.querySelector("[data-counter='" + pair[0] + "']");
    if (!cell) return;
    cell.classList.add("clickable");
    cell.addEventListener("click", function () { show(pair[1]); });
    new MutationObserver(function () {
      if (current && !box.hidden) load();
    }).observe(cell.querySelector("b"), {childList: true, characterData: true, subtree: true});
  });

  // -- the event panel's 督办 section -------------------------------------------------

  function panelItem(d) {
    var answer = d.replied ?
      "<div class='reply' data-testid='duban-reply'>" + esc(d.reply) + "</div><div class='meta'>" +
        esc(T("duban.replied_by")) + " " + esc(d.replied_by) + " · " + esc(I.time(d.replied_at)) + "</div>" :
      "<form class='duban-reply' data-id='" + esc(d.id) + "'><textarea name='text' rows='2' required " +
        "data-testid='duban-reply-text' placeholder='" + esc(T("duban.reply_placeholder")) + "'></textarea>" +
        "<button type='submit' class='small primary' data-testid='duban-reply-submit'>" +
        esc(T("duban.reply")) + "</button></form>";
    return "<li data-testid='duban-item' data-id='" + esc(d.id) + "' data-replied='" + (d.replied ? 1 : 0) +
      "'>" + level(d) + " " + esc(I.tOr("stage." + d.stage, d.stage_zh)) + " · " +
      esc(T("duban.overdue", {n: d.overdue_minutes})) + "<div class='meta'>" + esc(T("duban.to")) + "：" +
      who(d) + "</div>" + answer + "</li>";
  }

  // A reply being written survives the panel's re-render (it redraws on every change of
  // the event).
  var drafts = {};
  document.addEventListener("input", function (ev) {
    var form = ev.target.closest && ev.target.closest("form.duban-reply");
    if (form) drafts[form.getAttribute("data-id")] = ev.target.value;
  });

  function section(eventId, panel) {
    var slot = panel.querySelector(".duban-slot");
    if (!slot) return Promise.resolve();
    return api("/duban?event_id=" + eventId).then(function (r) {
      if (!r.duban.length || !panel.contains(slot)) return;
      slot.innerHTML = "<h3>" + esc(T("duban.title")) + "</h3><ul class='duban' data-testid='panel-duban'>" +
        r.duban.map(panelItem).join("") + "</ul>";
      slot.querySelectorAll("form.duban-reply").forEach(function (form) {
        var draft = drafts[form.getAttribute("data-id")];
        if (draft) form.elements.text.value = draft;
      });
    }).catch(function () {});
  }

  document.addEventListener("submit", function (ev) {
    var form = ev.target.closest("form.duban-reply");
    if (!form) return;
    ev.preventDefault();
    var text = form.elements.text.value.trim();
    if (!text) { form.elements.text.focus(); return; }
    form.querySelector("button").disabled = true;
    post("/duban/" + form.getAttribute("data-id") + "/reply", {text: text})
      .then(function () {
        delete drafts[form.getAttribute("data-id")];
        if (current === "duban") load();
        return window.OpsPanel.refresh();
      })
      .catch(function (err) {
        form.querySelector("button").disabled = false;
        var error = document.createElement("p");
        error.className = "error";
        error.textContent = T("msg.error") + ": " + err.message;
        form.appendChild(error);
      });
  });

  I.onChange(function () { if (current && !box.hidden) load(); });  // the other language

  window.OpsBoards = {show: show, hide: hide, section: section};
})();
