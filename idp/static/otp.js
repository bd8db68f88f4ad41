// Counts down to when a new one-time code may be sent; the server enforces the same wait.
(function () {
  var button = document.querySelector("[data-resend-in]");
  if (!button) return;
  var left = parseInt(button.getAttribute("data-resend-in"), 10) || 0;
  var hint = document.getElementById("resend-hint");
  var template = hint ? hint.textContent.replace(/\d+/, "{n}") : "";
  function tick() {
    if (left <= 0) {
      button.disabled = false;
      if (hint) hint.textContent = "";
      return;
    }
    button.disabled = true;
    if (hint && template.indexOf("{n}") >= 0) hint.textContent = template.replace("{n}", left);
    left -= 1;
    setTimeout(tick, 1000);
  }
  tick();
})();
