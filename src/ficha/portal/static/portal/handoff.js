// Captive portal: send the login form to the Wi-Fi gateway at once. Without JavaScript
// the customer taps the form's Continue button instead.
document.addEventListener("DOMContentLoaded", function () {
  var form = document.getElementById("handoff");
  if (form) {
    form.submit();
  }
});
