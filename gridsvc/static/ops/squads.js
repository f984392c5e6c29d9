/* A squad's popup on the operator's map: status (在岗/忙碌/休息/离线) with its reason, open
 * cases, and the desk's way to change the status (POST /squads/{id}/status) when a squad
 * calls in by radio. Built with the DOM API: names and reasons are inserted as text. */
(function () {
  "use strict";
  var I = window.I18N, T = I.t;
  var STATUSES = ["available", "busy", "off_duty", "offline"];

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text != null) node.textContent = text;
    return node;
  }

  function summary(s) {
    return T("squad." + s.status) + (s.status_reason ? "（" + s.status_reason + "）" : "") +
      " · " + T("squad.open_cases", {n: s.open_cases || 0});
  }

  function popup(s) {
    var box = el("div", {"class": "sq-popup", "data-testid": "squad-popup", "data-squad": s.id});
    box.appendChild(el("b", {}, s.name));
    var line = el("p", {"data-testid": "squad-popup-status"}, summary(s));
    box.appendChild(line);
    var select = el("select", {"data-testid": "squad-popup-select"});
    STATUSES.forEach(function (status) {
      var option = el("option", {value: status}, T("squad." + status));
      if (status === s.status) option.selected = true;
      select.appendChild(option);
    });
    var reason = el("input", {"data-testid": "squad-popup-reason", maxlength: "500",
                              placeholder: T("status.reason")});
    var button = el("button", {type: "button", "data-testid": "squad-popup-save"}, T("status.set"));
    var error = el("p", {"class": "error"});
    error.hidden = true;
    button.addEventListener("click", function () {
      error.hidden = true;
      var body = {status: select.value, reason: reason.value.trim() || null};
      if (body.status !== "available" && !body.reason) {
        error.textContent = T("status.reason_needed");
        error.hidden = false;
        return;
      }
      button.disabled = true;
      window.OpsApi("/squads/" + s.id + "/status", {
        method: "POST", body: JSON.stringify(body),
        headers: {"Content-Type": "application/json", "Accept": "application/json"}
      }).then(function (squad) {
        line.textContent = summary(squad);
        reason.value = "";
      }).catch(function (err) {
        error.textContent = T("msg.error") + ": " + err.message;
        error.hidden = false;
      }).then(function () { button.disabled = false; });
    });
    [select, reason, button, error].forEach(function (n) { box.appendChild(n); });
    return box;
  }

  window.SquadStatus = {popup: popup};
})();
