// Marketplace: the results follow the search box and the filters as you type (debounced);
// the server renders them (escaped) at /market/results; the address bar follows, so a
// result can be shared or reloaded. Without script the form submits as usual.
(function () {
  "use strict";
  var form = document.getElementById("market-search");
  var results = document.getElementById("results");
  if (!form || !results) return;
  var url = form.getAttribute("data-results");
  var timer = null, asked = 0;

  function query() {
    var params = new URLSearchParams(new FormData(form));
    var keys = Array.from(params.keys());
    keys.forEach(function (k) { if (!params.get(k)) params.delete(k); });
    return params.toString();
  }

  function load() {
    var qs = query(), mine = ++asked;
    results.setAttribute("aria-busy", "true");
    fetch(url + (qs ? "?" + qs : ""), {credentials: "same-origin", headers: {"Accept": "text/html"}})
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (mine !== asked || html === null) return;  // a newer search is on its way
        results.innerHTML = html;
        window.history.replaceState(null, "", "/market" + (qs ? "?" + qs : ""));
      })
      .catch(function () { /* keep what is shown */ })
      .then(function () { if (mine === asked) results.removeAttribute("aria-busy"); });
  }

  function soon() {
    window.clearTimeout(timer);
    timer = window.setTimeout(load, 250);
  }

  form.addEventListener("input", soon);
  form.addEventListener("change", soon);
  form.addEventListener("submit", function (e) { e.preventDefault(); window.clearTimeout(timer); load(); });
})();
