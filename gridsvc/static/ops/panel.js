/* The side panel of one event: routing explanation, candidate squads with ETA, one-click
 * dispatch / route / transfer (route and transfer with an inline target + reason form), 并单
 * (candidate duplicates the operator confirms, or the link to undo), the photos and the audit
 * trail. Refreshed whenever the stream reports a change to the event. */
(function () {
  "use strict";
  var I = window.I18N, T = I.t, esc = I.escape;
  var panel = document.getElementById("panel");
  var currentId = null, squadsById = {}, loading = null, squadsLoading = null;
  // Unlocated events: the geocoder's candidates (also drawn on the map) and click-to-place.
  var where = window.OpsLocate(panel, {
    post: function (path, body) { return post(path, body); },
    refresh: function () { return refresh(); },
    current: function () { return currentId; }
  });

  function api(path, options) { return window.OpsApi(path, options); }

  function post(path, body) {
    return api(path, {method: "POST", body: JSON.stringify(body || {}),
                      headers: {"Content-Type": "application/json",
                                "Accept": "application/json"}});
  }

  function row(label, value) {
    if (value == null || value === "") return "";
    return "<tr><th>" + esc(label) + "</th><td>" + value + "</td></tr>";
  }

  // The desk sees the caller in full, with what the caller asked for (回访 consent, 保密).
  function caller(r) {
    if (!r || !(r.name || r.phone)) return "";
    var tags = (r.consent_to_contact ? " <span class='tag'>" + esc(T("panel.consent")) +
      "</span>" : "") + (r.confidential ? " <span class='tag rec'>" + esc(T("panel.confidential")) +
      "</span>" : "");
    return esc((r.name || "") + " " + (r.phone || "")) + tags;
  }

  // 回访: the hotline's latest satisfaction result and the citizen's words.
  function revisit(e) {
    if (!e.satisfaction) return "";
    return "<span data-testid='revisit-satisfaction' data-satisfaction='" + esc(e.satisfaction) +
      "'>" + esc(T("satisfaction." + e.satisfaction)) + "</span>" +
      (e.satisfaction_comment ? "：" + esc(e.satisfaction_comment) : "");
  }

  // A reopened case (重办) the unit has not handled again may still be declined by the desk.
  function redoPending(e) {
    var last = (e.history || []).filter(function (h) {
      return h.action === "redo" || h.action === "decline_redo";
    }).pop();
    return !!last && last.action === "redo" &&
      ["dispatched", "signed_for", "on_scene", "returned", "suspended"].indexOf(e.state) >= 0;
  }

  // A routing reason in the page's language: the rule's sentence from the dictionary with
  // the names the server gave (why.params), else the stored Chinese / English text.
  function said(prefix, why) {
    if (!why || !why.code || !I.has(prefix + why.code)) return null;
    var p = Object.assign({}, why.params);
    if (p.listed !== undefined) p.why = T(p.listed ? "route.not_on_list" : "route.no_list");
    return T(prefix + why.code, p);
  }

  // The Chinese page shows the stored Chinese reason (it may name more, e.g. the station);
  // another language writes the rule's sentence from its dictionary with the server's names.
  function reasonOf(r) {
    if (I.lang() === "zh-CN" && r.reason_zh) return r.reason_zh;
    return said("route.", r.why) || r.reason;
  }

  function routing(e) {
    var r = e.routing || {};
    // names; the code only in the title (hover), the layer said in words
    var grids = Object.keys(r.grids || {}).map(function (layer) {
      var g = r.grids[layer];
      var kind = I.tOr("layer." + layer.split(":")[0], "");
      return "<span title='" + esc(g.code) + "'>" + esc(g.name || g.code) + "</span>" +
        (kind ? " <small>" + esc(kind) + "</small>" : "");
    }).join("<br>");
    // the list by its township's name and version (its own name, which may carry the code,
    // in the title)
    var d = r.delegation;
    var town = (r.grids || {}).enforcement;
    var list = d ? "<span title='" + esc(d.name || "") + "'>" +
      esc(T("panel.delegation_list", {township: town ? town.name || town.code : "", version: d.version})) +
      "</span> · " + T(d.delegated ? "panel.delegated_yes" : "panel.delegated_no") : "";
    return "<h3>" + T("panel.routing") + "</h3><table class='kv routing'>" +
      row(T("panel.rule"), esc(I.tOr("rule." + r.rule, r.rule || ""))) +
      row(T("panel.reason"), esc(reasonOf(r))) +
      row(T("panel.grids"), grids) +
      row(T("panel.delegation"), list) + "</table>";
  }

  function minutes(seconds) {
    return seconds == null ? T("panel.no_eta") : Math.round(seconds / 60) + " " + T("panel.minutes");
  }

  function candidates(e, ranked) {
    var canSend = e.allowed_actions.indexOf("dispatch") >= 0;
    var canMove = e.allowed_actions.indexOf("transfer") >= 0;
    if (!ranked || !ranked.candidates || !(canSend || canMove)) return "";
    var recommended = ranked.recommended ? ranked.recommended.id : null;
    var rows = ranked.candidates.slice(0, 8).map(function (c) {
      var button = "";
      if ((canSend && e.responsible_kind === "squad") || canMove) {
        var act = canSend ? "dispatch" : "transfer";
        button = "<button class='small' data-act='" + act + "-squad' data-squad='" +
          esc(c.id) + "'>" + esc(T("action." + act)) + "</button>";
      }
      return "<tr class='" + (c.id === recommended ? "rec" : "") + "'><td>" + esc(c.name) +
        (c.serves_grid ? " <span class='tag'>" + T("panel.local") + "</span>" : "") +
        (c.id === recommended ? " <span class='tag rec'>" + T("panel.recommended") + "</span>" : "") +
        "</td><td class='sq-" + esc(c.status) + "' title='" + esc(c.status_reason || "") + "'>" +
        esc(T("squad." + c.status)) + "</td><td class='load" + (c.blocked === "full" ? " full" : "") +
        "' data-testid='cand-open'>" + esc(T("squad.open_cases", {n: c.open_cases})) + "</td><td>" +
        esc(minutes(c.eta_s)) + "</td><td>" + button + "</td></tr>";
    }).join("");
    return "<h3>" + T("panel.candidates") + "</h3>" + why(ranked) +
      (ranked.note ? "<p class='note'>" + esc(ranked.note_why ?
        T("eta_note." + ranked.note_why.code, ranked.note_why.params) : ranked.note) + "</p>" : "") +
      "<table class='cands'><thead><tr><th></th><th></th><th></th><th>" + T("panel.eta") +
      "</th><th></th></tr></thead><tbody>" + rows + "</tbody></table>";
  }

  // The system's audit notes are stored in Chinese; the panel says them in the operator's
  // language from the row's data (data.say: a dictionary key and its params; the geocoder's
  // candidates).
  function trailNote(h) {
    var d = h.data || {};
    if (d.say && I.lang() !== "zh-CN") {
      var text = said(h.action === "route" ? "route." : "trail.", d.say);
      if (text) return text;
    }
    if (h.action === "dispatch" && h.actor === "system" && I.lang() !== "zh-CN") {
      return T("trail.auto_dispatch");
    }
    var say = function (c) { return c.text + " " + Math.round(c.confidence * 100) + "%"; };
    if (h.action === "locate" && d.candidate) return T("panel.located_by_address") + ": " + say(d.candidate);
    if (h.action === "geocode" && d.candidates) {
      return T("panel.not_located_by_address") + ": " +
        (d.candidates.length ? d.candidates.map(say).join("; ") : T("panel.no_candidate"));
    }
    return h.note;
  }

  // Why this squad is recommended (or none), from the dictionary: the server's structured
  // reason (why.code + params), so the English UI is English too.
  function why(ranked) {
    var w = ranked.why;
    if (!w) return "";
    var p = Object.assign({}, w.params);
    p.eta = p.eta_min == null ? "" : T("why.eta", {min: p.eta_min});
    p.local = (p.blocked || []).map(function (b) {
      if (b.blocked === "full") return T("why.full", {name: b.name, open: b.open, max: p.max});
      return T(b.reason ? "why.status_reason" : "why.status",
               {name: b.name, status: T("squad." + b.blocked), reason: b.reason});
    }).join(T("why.sep"));
    var key = w.code === "none" && p.local ? "why.none_local" : "why." + w.code;
    return "<p class='why' data-testid='recommend-why' data-code='" + esc(w.code) + "'>" +
      esc(T(key, p)) + "</p>";
  }

  // 并单: a link is the operator's decision, so candidates are offered with what they are
  // judged by (distance, minutes apart, text similarity), each with its own confirm button.
  function merging(e) {
    var out = "";
    if (e.duplicate_of != null) {
      out = "<p class='dup-of' data-testid='duplicate-of'>" + esc(T("panel.duplicate_of")) + " #" +
        esc(e.duplicate_of) + " <button class='small' data-act='unlink-duplicate' " +
        "data-testid='unlink-duplicate'>" + esc(T("action.unlink_duplicate")) + "</button></p>";
    } else if (e.duplicate_candidates && e.duplicate_candidates.length) {
      out = "<table class='cands dups' data-testid='duplicate-candidates'><thead><tr><th>" +
        T("panel.event") + "</th><th>" + T("panel.distance") + "</th><th>" + T("panel.apart") +
        "</th><th>" + T("panel.similarity") + "</th><th></th></tr></thead><tbody>" +
        e.duplicate_candidates.map(function (c) {
          return "<tr data-candidate='" + esc(c.event_id) + "'><td>#" + esc(c.event_id) + " " +
            esc(c.title) + (c.matter_code !== e.matter_code ?
              " <span class='tag'>" + esc(T("panel.related_matter")) + "</span>" : "") +
            "</td><td>" + esc(Math.round(c.distance_m)) + " " + T("panel.metres") + "</td><td>" +
            esc(Math.round(c.minutes_apart)) + " " + T("panel.minutes") + "</td><td>" +
            esc(Math.round(c.similarity * 100)) + "%</td><td><button class='small' " +
            "data-act='link-duplicate' data-original='" + esc(c.event_id) + "' data-testid=" +
            "'merge-confirm-" + esc(c.event_id) + "'>" + esc(T("panel.merge_confirm")) +
            "</button></td></tr>";
        }).join("") + "</tbody></table>";
    }
    var merged = (e.duplicates || []).map(function (d) {
      return "<li>#" + esc(d.id) + (d.external_id ? " " + esc(d.external_id) : "") + " · " +
        esc(T("state." + d.state)) + "</li>";
    }).join("");
    if (merged) out += "<p>" + esc(T("panel.merged")) + "</p><ul class='dups'>" + merged + "</ul>";
    return out ? "<h3>" + T("panel.merge") + "</h3>" + out : "";
  }

  function history(e) {
    var items = (e.history || []).slice().reverse().map(function (h) {
      var note = trailNote(h);
      return "<li><time>" + esc(I.time(h.at)) + "</time> <b>" +
        esc(I.tOr("action." + h.action, h.action)) + "</b> " +
        (h.from_state && h.from_state !== h.to_state ?
          esc(T("state." + h.from_state)) + " → " : "") +
        (h.from_state !== h.to_state ? esc(T("state." + h.to_state)) : "") +
        " <span class='actor'>" + esc(h.actor === "system" ? T("panel.system") : h.actor) + "</span>" +
        (note ? "<div class='note'>" + esc(note) + "</div>" : "") + "</li>";
    }).join("");
    return "<h3>" + T("panel.history") + "</h3><ol class='trail'>" + items + "</ol>";
  }

  function photos(list) {
    if (!list || !list.length) return "";
    return "<h3>" + T("panel.photos") + "</h3><div class='photos'>" + list.map(function (a) {
      return "<a href='" + esc(a.url) + "' target='_blank' rel='noopener'><img src='" +
        esc(a.url) + "' alt=''></a>";
    }).join("") + "</div>";
  }

  function actions(e, ranked) {
    var allowed = e.allowed_actions || [];
    var out = [];
    if (allowed.indexOf("dispatch") >= 0) {
      var to = e.responsible_kind === "squad" && ranked && ranked.recommended ?
        " → " + esc(ranked.recommended.name) : "";
      out.push("<button class='primary' data-act='dispatch'>" + T("action.dispatch") + to +
               "</button>");
    }
    if (allowed.indexOf("route") >= 0) {
      out.push("<button data-act='route'>" + T("panel.route_rules") + "</button>");
      out.push("<button data-act='route-form'>" + T("panel.route_to") + "</button>");
    }
    if (allowed.indexOf("transfer") >= 0) {
      out.push("<button data-act='transfer-form'>" + T("action.transfer") + "…</button>");
    }
    ["verify", "close"].forEach(function (a) {
      if (allowed.indexOf(a) >= 0) out.push("<button data-act='" + a + "'>" + T("action." + a) + "</button>");
    });
    if (redoPending(e)) {
      out.push("<button data-act='decline-redo-form' data-testid='decline-redo'>" +
               T("panel.decline_redo_form") + "</button>");
    }
    if (["handled", "verified", "closed"].indexOf(e.state) >= 0) {
      out.push("<button data-act='redo-form' data-testid='redo'>" + T("panel.redo_form") + "</button>");
    }
    return "<div class='actions'>" + out.join("") + "</div><form class='target' hidden></form>" +
      "<p class='error' hidden></p>";
  }

  // 重办 or its refusal: a reason, then POST /events/{id}/redo or /redo/decline.
  function reasonForm(kind) {
    var form = panel.querySelector("form.target");
    form.innerHTML =
      "<label>" + T("panel.reason_input") + " <textarea name='note' rows='2' required " +
      "data-testid='redo-reason'></textarea></label>" +
      "<button type='submit' class='primary' data-testid='redo-submit'>" + T("panel.submit") +
      "</button> <button type='button' data-act='cancel'>" + T("panel.cancel") + "</button>";
    form.setAttribute("data-redo", kind);
    form.hidden = false;
  }

  function optionsOfSquads() {
    return Object.keys(squadsById).map(function (id) {
      var s = squadsById[id];
      return "<option value='" + esc(id) + "'>" + esc(s.name) + "</option>";
    }).join("");
  }

  function targetForm(action) {
    var form = panel.querySelector("form.target");
    form.removeAttribute("data-redo");
    var squadOptions = optionsOfSquads();
    form.innerHTML =
      "<label>" + T("panel.target_kind") + " <select name='kind'>" +
      ["squad", "department", "grid_head"].map(function (k) {
        return "<option value='" + k + "'>" + T("kind." + k) + "</option>";
      }).join("") + "</select></label>" +
      "<label class='squad'>" + T("kind.squad") + " <select name='squad'>" + squadOptions +
      "</select></label>" +
      "<label class='code' hidden>" + T("panel.target_code") +
      " <input name='code' autocomplete='off'></label>" +
      "<label>" + T("panel.reason_input") + " <textarea name='note' rows='2' required></textarea></label>" +
      "<button type='submit' class='primary'>" + T("panel.submit") + "</button> " +
      "<button type='button' data-act='cancel'>" + T("panel.cancel") + "</button>";
    form.setAttribute("data-action", action);
    form.hidden = false;
    if (!Object.keys(squadsById).length && squadsLoading) {
      // opened before the squads arrived (a slow answer): fill the list when they do
      squadsLoading.then(function () {
        var select = form.elements.squad;
        if (select && !select.options.length) select.innerHTML = optionsOfSquads();
      });
    }
    form.elements.kind.addEventListener("change", function () {
      var squad = form.elements.kind.value === "squad";
      form.querySelector("label.squad").hidden = !squad;
      form.querySelector("label.code").hidden = squad;
    });
  }

  function submitTarget(form) {
    var action = form.getAttribute("data-action");
    var kind = form.elements.kind.value;
    var body = {note: form.elements.note.value.trim()};
    if (kind === "squad") {
      var squad = squadsById[form.elements.squad.value];
      if (!squad) return;
      body.target = {kind: "squad", code: squad.grid_codes[0] || squad.code, name: squad.name};
      if (action === "transfer") body.squad_id = squad.id;
    } else {
      body.target = {kind: kind, code: form.elements.code.value.trim()};
    }
    act(action, body);
  }

  function act(action, body) {
    return send("/events/" + currentId + "/actions/" + action, body);
  }

  function send(path, body) {
    var error = panel.querySelector(".error");
    panel.querySelectorAll("button").forEach(function (b) { b.disabled = true; });
    return post(path, body)
      .then(function () { return refresh(); })
      .catch(function (err) {
        panel.querySelectorAll("button").forEach(function (b) { b.disabled = false; });
        if (error) { error.textContent = T("msg.error") + ": " + err.message; error.hidden = false; }
      });
  }

  function render(e, ranked, attachments, found) {
    var sla = I.slaStatus(e.sla && {due_at: e.sla.due_at, stage_started_at: e.stage_started_at},
                          e.state);
    panel.innerHTML =
      "<header><h2>" + esc(e.title) + "</h2><button class='x' data-act='close-panel' " +
      "aria-label='" + T("panel.close") + "'>×</button></header>" +
      "<p class='badges'><span class='badge st-" + esc(e.state) + "' data-state='" +
      esc(e.state) + "'>" + esc(T("state." + e.state)) + "</span> <span class='badge sla-" + sla +
      "'>" + T("sla." + sla) +
      "</span> <span class='left'>" + esc(I.timeLeft({due_at: e.sla && e.sla.due_at})) +
      "</span></p>" +
      "<table class='kv'>" +
      row(T("panel.source"), esc(I.tOr("source." + e.source, e.source))) +
      row(T("panel.work_order"), esc(e.external_id)) +
      row(T("panel.matter"), esc(e.matter_name || e.matter_text || e.matter_code)) +
      row(T("panel.address"), esc(e.address)) +
      row(T("panel.caller"), caller(e.reporter)) +
      row(T("panel.responsible"), esc(e.responsible_kind === "triage" ? T("kind.triage") :
        I.tOr("kind." + e.responsible_kind, "") + " " + (e.responsible_name || ""))) +
      row(T("panel.due"), esc(I.time(e.sla && e.sla.due_at))) +
      row(T("panel.handle_due"), esc(I.time(e.sla && e.sla.handle_due_at))) +
      row(T("panel.revisit"), revisit(e)) +
      row(T("panel.redo_count"), e.redo_count ?
        "<span data-testid='redo-count'>" + esc(e.redo_count) + "</span>" : "") +
      "</table>" + (e.description ? "<p class='desc'>" + esc(e.description) + "</p>" : "") +
      actions(e, ranked) + where.section(e, found) + "<div class='duban-slot'></div>" + merging(e) +
      routing(e) +
      candidates(e, ranked) + photos(attachments) + history(e);
    if (window.OpsBoards) window.OpsBoards.section(e.id, panel);  // 督办 and their replies
    panel.hidden = false;
    panel.setAttribute("data-event", e.id);
    panel.setAttribute("data-state", e.state);
    panel.setAttribute("data-located", e.lng == null ? "false" : "true");
    where.draw(e);
  }

  function refresh() {
    if (currentId == null) return Promise.resolve();
    var id = currentId;
    var wantsCandidates = true;
    loading = Promise.all([
      api("/events/" + id),
      wantsCandidates ? api("/events/" + id + "/candidates").catch(function () { return null; }) : null,
      api("/events/" + id + "/attachments").then(function (b) { return b.attachments; })
        .catch(function () { return []; })
    ]).then(function (parts) {
      var e = parts[0];
      var ask = where.unlocated(e) && e.address ?
        api("/geocode?q=" + encodeURIComponent(e.address)).catch(function () { return null; }) :
        Promise.resolve(null);
      return ask.then(function (found) {
        if (id === currentId) render(e, parts[1], parts[2], found);
      });
    }).catch(function (err) {
      if (id === currentId) panel.innerHTML = "<p class='error'>" + esc(err.message) + "</p>";
    });
    return loading;
  }

  function layout(opened) {
    document.body.classList.toggle("panel-open", opened);
    if (window.OpsMap) setTimeout(function () { window.OpsMap.map.invalidateSize(); }, 50);
  }

  function open(id) {
    if (id !== currentId) { where.stop(); where.clear(); }
    currentId = id;
    panel.hidden = false;
    layout(true);
    panel.innerHTML = "<p>" + T("panel.loading") + "</p>";
    if (!Object.keys(squadsById).length && !squadsLoading) {
      squadsLoading = api("/live/squads").then(function (b) {
        b.squads.forEach(function (s) { squadsById[s.id] = s; });
      }).catch(function () { squadsLoading = null; });
    }
    return refresh();
  }

  panel.addEventListener("click", function (ev) {
    var button = ev.target.closest("button[data-act]");
    if (!button) return;
    var what = button.getAttribute("data-act");
    if (what === "close-panel") {
      currentId = null; panel.hidden = true; where.stop(); where.clear(); layout(false); return;
    }
    if (what === "pick-on-map") { where.pick(); return; }
    if (what === "place-candidate") { where.placeCandidate(+button.getAttribute("data-index")); return; }
    if (what === "cancel") { panel.querySelector("form.target").hidden = true; return; }
    if (what === "route-form") { targetForm("route"); return; }
    if (what === "transfer-form") { targetForm("transfer"); return; }
    if (what === "redo-form") { reasonForm("redo"); return; }
    if (what === "decline-redo-form") { reasonForm("decline"); return; }
    if (what === "link-duplicate") {
      send("/events/" + currentId + "/duplicate_of", {event_id: +button.getAttribute("data-original")});
      return;
    }
    if (what === "unlink-duplicate") {
      api("/events/" + currentId + "/duplicate_of", {method: "DELETE"})
        .then(function () { return refresh(); })
        .catch(function (err) {
          var error = panel.querySelector(".error");
          if (error) { error.textContent = T("msg.error") + ": " + err.message; error.hidden = false; }
        });
      return;
    }
    if (what === "dispatch-squad") {
      act("dispatch", {squad_id: +button.getAttribute("data-squad")});
      return;
    }
    if (what === "transfer-squad") {
      var squad = squadsById[button.getAttribute("data-squad")];
      targetForm("transfer");
      if (squad) panel.querySelector("form.target").elements.squad.value = String(squad.id);
      return;
    }
    act(what, {});
  });
  panel.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var kind = ev.target.getAttribute("data-redo");
    if (kind) {
      var text = ev.target.elements.note.value.trim();
      send("/events/" + currentId + (kind === "decline" ? "/redo/decline" : "/redo"),
           kind === "decline" ? {reason: text} : {note: text});
      return;
    }
    submitTarget(ev.target);
  });

  window.OpsPanel = {
    open: open, refresh: refresh,
    current: function () { return currentId; }
  };
})();
