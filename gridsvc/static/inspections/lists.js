/* The negative list and the 首违不罚 records (/inspection-lists): GET /negative-list and
 * GET /lenient-cases (the session cookie), one table each; the buttons link the exports.
 * Tests read window.INSPECTION_LISTS (the rows drawn) and body[data-ready]. */
(function () {
  "use strict";
  var T = I18N.t;
  var data = {negative: [], lenient: []};
  window.INSPECTION_LISTS = data;

  function cell(text) { return "<td>" + I18N.escape(text == null ? "" : String(text)) + "</td>"; }
  function when(text) { return text ? I18N.time(text) : ""; }

  function draw() {
    var rows = data.negative.map(function (r) {
      return "<tr data-target='" + r.target_id + "'>" + cell(r.name) + cell(r.credit_code) +
        cell(r.grid_code) + cell(r.violations) + cell(T("insp.status." + r.status)) +
        cell(when(r.listed_at)) + "</tr>";
    });
    document.querySelector("[data-testid=negative-table] tbody").innerHTML = rows.join("") ||
      "<tr><td class='empty' colspan='6'>" + I18N.escape(T("insp.none")) + "</td></tr>";
    rows = data.lenient.map(function (r) {
      return "<tr data-target='" + r.target_id + "'>" + cell(r.name) + cell(r.credit_code) +
        cell(r.matter_code) + cell(r.note) + cell(when(r.recorded_at)) + "</tr>";
    });
    document.querySelector("[data-testid=lenient-table] tbody").innerHTML = rows.join("") ||
      "<tr><td class='empty' colspan='5'>" + I18N.escape(T("insp.none")) + "</td></tr>";
  }

  function get(path) {
    return fetch(path, {credentials: "same-origin", headers: {Accept: "application/json"}})
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); });
  }

  I18N.ready.then(function () {
    I18N.onChange(draw);
    return Promise.all([get("/negative-list"), get("/lenient-cases")]);
  }).then(function (answers) {
    data.negative = answers[0];
    data.lenient = answers[1];
    draw();
  }).catch(function () {
    var error = document.getElementById("insp-error");
    error.textContent = T("insp.error");
    error.hidden = false;
  }).then(function () { document.body.setAttribute("data-ready", "1"); });
})();
