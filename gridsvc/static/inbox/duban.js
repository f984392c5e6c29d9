/* 督办 in the phone inbox: what was sent to this account (the responsible unit, a township
 * leader, a county supervisor), each waiting for a written reply until answered. Reloaded when
 * the page opens, when the live stream reports a change, and every 60 s. */
(function () {
  "use strict";
  var I = window.I18N, T = I.t, esc = I.escape;
  var box = document.getElementById("duban");
  if (!box) return;
  var drafts = {};

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

  function card(d) {
    var head = "<header><span class='lv lv-" + esc(d.level) + "'>" +
      esc(I.tOr("duban.level." + d.level, d.level_zh)) + "</span> <span class='left sla-overdue'>" +
      esc(T("duban.overdue", {n: d.overdue_minutes})) + "</span></header>";
    var answer = d.replied ?
      "<p class='reply' data-testid='duban-reply'>" + esc(d.reply) + "</p>" :
      "<form class='more' data-id='" + esc(d.id) + "'><label>" + esc(T("duban.reply")) +
      "<textarea name='text' rows='3' required data-testid='duban-reply-text' placeholder='" +
      esc(T("duban.reply_placeholder")) + "'></textarea></label><div class='buttons'>" +
      "<button type='submit' class='primary' data-testid='duban-reply-submit'>" +
      esc(T("panel.submit")) + "</button></div></form>";
    return "<article class='card duban sla-overdue' data-testid='duban-card' data-id='" + esc(d.id) +
      "' data-replied='" + (d.replied ? 1 : 0) + "'>" + head + "<h2>" + esc(d.event.title) + "</h2>" +
      (d.event.address ? "<p class='addr'>" + esc(d.event.address) + "</p>" : "") +
      "<p class='meta'>" + esc(I.tOr("stage." + d.stage, d.stage_zh)) + " · " +
      esc(d.event.responsible_name || "") + (d.event.external_id ? " · " + esc(d.event.external_id) : "") +
      "</p>" + answer + "</article>";
  }

  function load() {
    return request("/duban?limit=50").then(function (r) {
      var open = r.duban.filter(function (d) { return !d.replied; });
      var answered = r.duban.filter(function (d) { return d.replied; }).slice(0, 5);
      box.hidden = !r.duban.length;
      box.innerHTML = "<h2 class='section'>" + esc(T("inbox.duban_title")) + " <b>" + open.length +
        "</b></h2>" + open.concat(answered).map(card).join("");
      box.querySelectorAll("form").forEach(function (form) {
        var draft = drafts[form.getAttribute("data-id")];
        if (draft) form.elements.text.value = draft;
      });
      box.setAttribute("data-ready", "1");
    }).catch(function () { box.setAttribute("data-ready", "1"); });
  }

  box.addEventListener("input", function (ev) {
    var form = ev.target.closest("form");
    if (form) drafts[form.getAttribute("data-id")] = ev.target.value;
  });
  box.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var form = ev.target;
    var text = form.elements.text.value.trim();
    if (!text) { form.elements.text.focus(); return; }
    form.querySelector("button").disabled = true;
    request("/duban/" + form.getAttribute("data-id") + "/reply", {
      method: "POST", body: JSON.stringify({text: text}),
      headers: {"Content-Type": "application/json", "Accept": "application/json"}
    }).then(function () {
      delete drafts[form.getAttribute("data-id")];
      return load();
    }).catch(function (err) {
      form.querySelector("button").disabled = false;
      var error = document.createElement("p");
      error.className = "error";
      error.textContent = T("msg.error") + ": " + err.message;
      form.appendChild(error);
    });
  });

  I.ready.then(function () {
    load();
    I.onChange(load);
    setInterval(load, 60000);
  });
  window.InboxDuban = {reload: load};
})();
