/* A department's whistles in its phone inbox (吹哨报到): the open summons of its department,
 * each with its time left and the one step due now — 报到, then 到场 with the phone's
 * position — made by the department's own account. Other roles have no whistles here. */
(function () {
  "use strict";
  var I = window.I18N, T = I.t, esc = I.escape;
  var me = (I.config.user || {});
  if (me.role !== "department" || !me.department_code) return;
  var box = document.createElement("section");
  box.id = "whistles";
  box.setAttribute("data-testid", "whistles");
  box.hidden = true;
  document.getElementById("list").before(box);
  var whistles = [];

  function mine(w) {
    return (w.departments || []).filter(function (d) { return d.department === me.department_code; })[0];
  }

  function card(w) {
    var a = mine(w);
    if (!a) return "";
    var step = a.status === "awaiting_ack" ? a.ack : a.arrive;
    var late = a.overdue ? "sla-overdue" : "sla-on_time";
    var act = a.status === "awaiting_ack" ? "ack" : a.status === "acknowledged" ? "arrive" : null;
    var left = step && step.due_at && !step.at ? I.timeLeft({due_at: step.due_at}) : "";
    return "<article class='card whistle " + late + "' data-testid='whistle-card' data-whistle='" +
      esc(w.id) + "' data-status='" + esc(a.status) + "'>" +
      "<header><span class='badge wh-" + esc(a.status) + "'>" + esc(T("whistle." + a.status)) +
      "</span><span class='left " + late + "'>" + esc(left) + "</span></header>" +
      "<h2><span class='tag'>" + esc(T("whistle.title")) + "</span> " + esc(w.event.title) + "</h2>" +
      (w.event.address ? "<p class='addr'>" + esc(w.event.address) + "</p>" : "") +
      "<p class='meta'><span title='" + esc(w.township_code) + "'>" + esc(w.township_name || w.township_code) +
        "</span> · " + esc(T("whistle.summoned")) + " " +
      esc(I.time(w.summoned_at)) + "</p>" +
      (act ? "<div class='buttons'><button class='primary' data-testid='whistle-" + act +
        "' data-wact='" + act + "'>" + esc(T("whistle." + act)) + "</button></div>" : "") +
      "</article>";
  }

  function render() {
    var open = whistles.filter(function (w) { return w.open && mine(w); });
    box.innerHTML = open.length ? "<h2 class='section'>" + esc(T("whistle.section")) + "</h2>" +
      open.map(card).join("") : "";
    box.hidden = open.length === 0;
  }

  function reload() {
    return window.GridInbox.request("/whistles?open=true&limit=50").then(function (body) {
      whistles = body.whistles;
      render();
    }).catch(function () { /* shown again on the next poll */ });
  }

  box.addEventListener("click", function (ev) {
    var button = ev.target.closest("button[data-wact]");
    if (!button) return;
    var id = button.closest("article").getAttribute("data-whistle");
    var step = button.getAttribute("data-wact");
    var path = "/whistles/" + id + "/departments/" + encodeURIComponent(me.department_code) + "/" + step;
    var inbox = window.GridInbox;
    button.disabled = true;
    var send = step === "arrive" ? inbox.position().then(function (where) {
      inbox.toast(where ? T("inbox.located") : T("inbox.no_position"), where ? "ok" : "error");
      return inbox.post(path, where ? {position: where} : {});
    }) : inbox.post(path, {});
    send.then(function (body) {
      whistles = whistles.map(function (w) { return w.id === body.whistle.id ? body.whistle : w; });
      render();
      inbox.toast(T("msg.done") + ": " + T("whistle." + step), "ok");
    }).catch(function (err) {
      button.disabled = false;
      inbox.toast(T("msg.error") + ": " + err.message, "error");
    });
  });

  I.ready.then(function () {
    I.onChange(render);
    reload();
    setInterval(reload, 30000);
  });
})();
