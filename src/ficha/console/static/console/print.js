// The "Print" button of the tickets page: opens the browser's print dialog.
// Without JavaScript the button stays hidden and the page says "Press Ctrl+P".
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("[data-print]").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () { window.print(); });
  });
  document.querySelectorAll("[data-print-hint]").forEach(function (hint) {
    hint.hidden = true;
  });
});
