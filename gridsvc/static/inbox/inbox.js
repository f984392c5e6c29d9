/* The field inbox (grid heads, squads), phone first: my assignments, 签收 / 到场 (with the
 * phone's position) / 处置 (reply text + optional photo) / 退单 (reason); new assignments
 * arrive over the live stream. */
(function () {
  "use strict";
  var I = window.I18N, T = I.t, esc = I.escape;
  var list = document.getElementById("list");
  var empty = document.getElementById("empty");
  var toastBox = document.getElementById("toast");
  var ASSIGNED = ["dispatched", "signed_for", "on_scene"];
  var FIELD = ["sign_for", "arrive", "handle", "return"];
  var items = {};   // id -> summary
  // id -> updated_at of a card that left the list: a late, older live message for it (the
  // stream can lag behind the answer to our own action) must not bring it back as "new"
  var gone = {};
  var maxBytes = I.config.attachment_max_bytes || 5 * 1024 * 1024;
  var toastTimer = null;

  function toast(text, kind) {
    toastBox.textContent = text;
    toastBox.className = kind || "";
    toastBox.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(function () { toastBox.hidden = true; }, 4000);
  }

  function request(path, options) {
    return fetch(path, Object.assign({credentials: "same-origin"}, options || {}))
      .then(function (r) {
        if (r.status === 401) { location.href = "/login?next=/inbox"; throw new Error("401"); }
        return r.json().then(function (body) {
          if (!r.ok) throw new Error(body.message || ("HTTP " + r.status));
          return body;
        });
      });
  }

  function post(path, body) {
    return request(path, {method: "POST", body: JSON.stringify(body || {}),
                          headers: {"Content-Type": "application/json"}});
  }
  // shared with the page's other parts (whistles.js: a department's 报到 / 到场)
  window.GridInbox = {request: request, post: post, toast: toast, position: position};

  // The caller as the server shows this role: masked (刘** / 150****9511), or absent when
  // confidential; a consented number is fetched for the call through the audited reveal.
  function caller(e) {
    var r = e.reporter;
    if (!r || !(r.name || r.phone)) return "";
    return "<p class='caller'>" + esc(T("inbox.caller")) + esc(r.name || "") +
      " <span class='phone'>" + esc(r.phone || "") + "</span>" +
      (r.can_reveal ? " <button data-act='reveal' class='ghost'>" + esc(T("inbox.call")) +
        "</button>" : "") + "</p>";
  }

  function revealed(article, body) {
    var line = article.querySelector("p.caller");
    var number = String(body.phone || "");
    line.innerHTML = esc(T("inbox.caller")) + esc(body.name || "") +
      " <a class='phone' href='tel:" + esc(number.replace(/[^0-9+]/g, "")) + "'>" +
      esc(number) + "</a>";
    busy(article, false);
    toast(T("inbox.revealed"), "ok");
  }

  function card(e) {
    var sla = I.slaStatus(e.sla, e.state);
    var allowed = (e.allowed_actions || []).filter(function (a) { return FIELD.indexOf(a) >= 0; });
    var buttons = allowed.map(function (a) {
      return "<button data-act='" + a + "' class='" + (a === "return" ? "ghost" : "primary") +
        "'>" + T("action." + a) + "</button>";
    }).join("");
    return "<article class='card sla-" + sla + "' data-id='" + esc(e.id) + "' data-state='" +
      esc(e.state) + "'>" +
      "<header><span class='badge st-" + esc(e.state) + "'>" + esc(T("state." + e.state)) +
      "</span>" +
      "<span class='left sla-" + sla + "'>" + esc(I.timeLeft(e.sla)) + "</span></header>" +
      "<h2>" + esc(e.title) + "</h2>" +
      (e.address ? "<p class='addr'>" + esc(e.address) + "</p>" : "") +
      (e.description ? "<p class='desc'>" + esc(e.description) + "</p>" : "") +
      "<p class='meta'>" + esc(e.matter_name || "") + (e.external_id ? " · " +
        esc(e.external_id) : "") + " · " + esc(I.time(e.received_at)) + "</p>" + caller(e) +
      "<div class='buttons'>" + buttons + "</div><form class='more' hidden></form></article>";
  }

  function render() {
    var ids = Object.keys(items).map(Number).sort(function (a, b) {
      var da = items[a].sla.due_at || "", db = items[b].sla.due_at || "";
      return da < db ? -1 : da > db ? 1 : b - a;
    });
    ids.forEach(function (id, index) {
      var e = items[id];
      var existing = list.querySelector("article[data-id='" + id + "']");
      var open = existing && !existing.querySelector("form.more").hidden;
      if (!existing || existing.getAttribute("data-state") !== e.state || !open) {
        var holder = document.createElement("div");
        holder.innerHTML = card(e);
        var fresh = holder.firstChild;
        if (existing) list.replaceChild(fresh, existing); else list.appendChild(fresh);
        existing = fresh;
      }
      if (list.children[index] !== existing) list.insertBefore(existing, list.children[index]);
    });
    Array.prototype.slice.call(list.children).forEach(function (child) {
      if (!items[child.getAttribute("data-id")]) list.removeChild(child);
    });
    empty.hidden = ids.length > 0;
    if (window.InboxMap) window.InboxMap.update(items);
  }

  // A report of this account sent to another unit reaches it too (its history): not a task.
  function notMine(e) {
    var me = I.config.user || {};
    if (e.reported_by == null || e.reported_by !== me.user_id) return false;
    if (me.role === "squad") return e.squad_id !== me.squad_id;
    var grids = me.grid_codes || [];
    return grids.indexOf(e.community) < 0 && !(e.responsible && e.responsible.kind ===
      "grid_head" && grids.indexOf(e.responsible.code) >= 0);
  }

  function upsert(e, announce) {
    if (notMine(e)) return;
    var known = items[e.id];
    var seen = known ? known.updated_at : gone[e.id];
    if (seen && e.updated_at && e.updated_at <= seen && !(known && e.updated_at === seen)) return;
    if (ASSIGNED.indexOf(e.state) < 0) {
      if (known) { delete items[e.id]; render(); }
      gone[e.id] = e.updated_at;
      return;
    }
    delete gone[e.id];
    items[e.id] = e;
    if (announce && !known) toast(T("inbox.new") + ": " + e.title, "new");
    render();
  }

  function reload() {
    return request("/live/events?assignments=true").then(function (body) {
      items = {};
      body.events.forEach(function (e) { items[e.id] = e; });
      render();
      document.body.setAttribute("data-ready", "1");
    });
  }

  function position() {
    return new Promise(function (resolve) {
      if (!navigator.geolocation) { resolve(null); return; }
      navigator.geolocation.getCurrentPosition(function (p) {
        resolve({lat: p.coords.latitude, lng: p.coords.longitude, crs: "wgs84"});
      }, function () { resolve(null); }, {enableHighAccuracy: true, timeout: 10000,
                                          maximumAge: 60000});
    });
  }

  function busy(article, yes) {
    article.querySelectorAll("button").forEach(function (b) { b.disabled = yes; });
  }

  function done(id) {
    return function (view) {
      toast(T("msg.done") + ": " + T("state." + view.state), "ok");
      if (ASSIGNED.indexOf(view.state) < 0) { delete items[id]; gone[id] = view.updated_at; render(); }
      else { items[id] = Object.assign({}, items[id], {state: view.state,
        allowed_actions: view.allowed_actions, updated_at: view.updated_at,
        sla: Object.assign({}, items[id].sla, {due_at: view.sla.due_at,
                                               stage_started_at: view.stage_started_at})});
        render(); }
    };
  }

  function failed(article) {
    return function (err) { busy(article, false); toast(T("msg.error") + ": " + err.message, "error"); };
  }

  function showForm(article, action) {
    var form = article.querySelector("form.more");
    if (action === "handle") {
      form.innerHTML = "<label>" + T("inbox.reply") + "<textarea name='note' rows='3' required>" +
        "</textarea></label><label>" + T("inbox.photo") + "<input type='file' name='photo' " +
        "accept='image/jpeg,image/png,image/webp' capture='environment'></label>";
    } else {
      form.innerHTML = "<label>" + T("inbox.reason") + "<textarea name='note' rows='2' required>" +
        "</textarea></label>";
    }
    form.innerHTML += "<div class='buttons'><button type='submit' class='primary'>" +
      T("panel.submit") + "</button><button type='button' class='ghost' data-act='cancel'>" +
      T("panel.cancel") + "</button></div>";
    form.setAttribute("data-action", action);
    form.hidden = false;
    form.elements.note.focus();
  }

  function upload(id, file) {
    if (!file) return Promise.resolve(null);
    if (file.size > maxBytes) return Promise.reject(new Error(T("inbox.too_big")));
    if (["image/jpeg", "image/png", "image/webp"].indexOf(file.type) < 0) {
      return Promise.reject(new Error(T("inbox.bad_type")));
    }
    var data = new FormData();
    data.append("file", file, file.name);
    return request("/events/" + id + "/attachments", {method: "POST", body: data});
  }

  function submit(article, form) {
    var id = +article.getAttribute("data-id");
    var action = form.getAttribute("data-action");
    var note = form.elements.note.value.trim();
    if (!note) { form.elements.note.focus(); return; }
    busy(article, true);
    var photo = form.elements.photo && form.elements.photo.files[0];
    var first = action === "handle" ? upload(id, photo) : Promise.resolve(null);
    first.then(function () { return post("/events/" + id + "/actions/" + action, {note: note}); })
      .then(done(id)).catch(failed(article));
  }

  list.addEventListener("click", function (ev) {
    var button = ev.target.closest("button[data-act]");
    if (!button) return;
    var article = button.closest("article");
    var id = +article.getAttribute("data-id");
    var action = button.getAttribute("data-act");
    if (action === "cancel") { article.querySelector("form.more").hidden = true; return; }
    if (action === "handle" || action === "return") { showForm(article, action); return; }
    busy(article, true);
    if (action === "reveal") {
      post("/events/" + id + "/reporter/reveal", {reason: T("inbox.call")})
        .then(function (body) { revealed(article, body); }).catch(failed(article));
      return;
    }
    if (action === "arrive") {
      position().then(function (where) {
        toast(where ? T("inbox.located") : T("inbox.no_position"), where ? "ok" : "error");
        return post("/events/" + id + "/actions/arrive", where ? {position: where} : {});
      }).then(done(id)).catch(failed(article));
      return;
    }
    post("/events/" + id + "/actions/" + action, {}).then(done(id)).catch(failed(article));
  });
  list.addEventListener("submit", function (ev) {
    ev.preventDefault();
    submit(ev.target.closest("article"), ev.target);
  });

  I.ready.then(function () {
    I.onChange(function () {
      Array.prototype.slice.call(list.children).forEach(function (c) { list.removeChild(c); });
      render();
    });
    window.GridLive.connect({
      hello: reload,
      resync: reload,
      event: function (m) {
        upsert(m.event, true);
        if (window.InboxDuban) window.InboxDuban.reload();  // a 督办 may have come with it
        if (window.FieldReports) window.FieldReports.update(m.event);
      },
      removed: function (m) {
        if (items[m.id]) { delete items[m.id]; render(); toast(T("inbox.removed")); }
      }
    });
    setInterval(function () {
      list.querySelectorAll("article").forEach(function (a) {
        var e = items[a.getAttribute("data-id")];
        var left = a.querySelector(".left");
        if (e && left) left.textContent = I.timeLeft(e.sla);
      });
    }, 30000);
  });
})();
