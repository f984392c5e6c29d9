/* The live stream (SSE, authenticated by the login cookie) with a connection indicator.
 * EventSource reconnects by itself and sends Last-Event-ID; "resync" means: reload. */
(function () {
  "use strict";
  function connect(handlers) {
    var indicator = document.getElementById("conn");
    var source = null;
    function state(name) {
      if (!indicator) return;
      indicator.className = name === "live" ? "live" : "down";
      indicator.setAttribute("data-i18n", "conn." + name);
      indicator.textContent = window.I18N.t("conn." + name);
    }
    function on(name) {
      source.addEventListener(name, function (message) {
        var data = {};
        try { data = JSON.parse(message.data); } catch (err) { return; }
        if (handlers[name]) handlers[name](data);
      });
    }
    function open() {
      source = new EventSource("/live/stream");
      source.addEventListener("open", function () { state("live"); });
      source.addEventListener("error", function () {
        state(source.readyState === EventSource.CLOSED ? "down" : "connecting");
        if (source.readyState === EventSource.CLOSED) setTimeout(open, 3000);
      });
      source.addEventListener("hello", function () {
        state("live");
        if (handlers.hello) handlers.hello();
      });
      ["event", "removed", "squad", "counters", "resync", "bye", "heartbeat"].forEach(on);
    }
    open();
    return {close: function () { source.close(); }};
  }
  window.GridLive = {connect: connect};
})();
