/* The console's own behaviour, loaded from a file (the Content-Security-Policy allows no
   inline script or on*= handler). Everything is delegated from document, so it keeps
   working on content htmx swaps in. The pages work without it; it only saves clicks. */
(function () {
  "use strict";

  /* <select data-autosubmit>: choosing an option submits its form (the language picker). */
  document.addEventListener("change", function (e) {
    var t = e.target;
    if (t.matches && t.matches("select[data-autosubmit]") && t.form) t.form.submit();
  });

  /* <input data-select-on-click>: one click selects the whole value (a new API token). */
  document.addEventListener("click", function (e) {
    var t = e.target;
    if (t.matches && t.matches("input[data-select-on-click]")) t.select();
  });

  /* Recharge codes list: "select all", the selected count and the floating sell bar. */
  function boxes() { return document.querySelectorAll('input[name="ids"][form="selection"]'); }
  function recount() {
    var n = 0;
    boxes().forEach(function (c) { if (c.checked) n++; });
    var out = document.getElementById("selected-count");
    if (out) out.textContent = n;
    var bar = document.getElementById("sel-bar");
    if (bar) { bar.hidden = n === 0; bar.querySelector(".sel-bar-count").textContent = n; }
    var all = document.getElementById("select-all");
    if (all) {
      var total = boxes().length;
      all.checked = total > 0 && n === total;
      all.indeterminate = n > 0 && n < total;
    }
  }
  document.addEventListener("change", function (e) {
    var t = e.target;
    if (t.id === "select-all") boxes().forEach(function (c) { c.checked = t.checked; });
    if (t.id === "select-all" || t.name === "ids") recount();
  });
  document.addEventListener("htmx:afterSwap", recount);
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", recount);
  else recount();
})();
