// dcmx pages: parts of a page that refresh themselves.
// An element with data-refresh="<url>" data-every="<seconds>" gets its content fetched again
// from that URL (HTML rendered and escaped by the server) while the tab is visible.
(function () {
  "use strict";
  function refresh(el) {
    var url = el.getAttribute("data-refresh");
    var every = Math.max(2, parseInt(el.getAttribute("data-every"), 10) || 15) * 1000;
    var busy = false;
    function tick() {
      if (busy || document.hidden) return;
      busy = true;
      fetch(url, {credentials: "same-origin", headers: {"Accept": "text/html"}})
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) {
          if (html !== null) {
            el.innerHTML = html;
            el.setAttribute("data-refreshed", String(Date.now()));
          }
        })
        .catch(function () { /* offline or rate-limited: keep what is shown */ })
        .then(function () { busy = false; });
    }
    window.setInterval(tick, every);
  }
  document.addEventListener("DOMContentLoaded", function () {
    var parts = document.querySelectorAll("[data-refresh]");
    for (var i = 0; i < parts.length; i++) refresh(parts[i]);
  });
})();
