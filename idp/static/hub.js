// Progressive enhancement only: every page works without it.
// Adds a "show password" switch beside each password field.
(function () {
  var body = document.body;
  var showText = body.getAttribute("data-show-password") || "Show password";
  var hideText = body.getAttribute("data-hide-password") || "Hide password";
  var fields = document.querySelectorAll("input[type=password]");
  Array.prototype.forEach.call(fields, function (field) {
    if (!field.id) return;
    var button = document.createElement("button");
    button.type = "button";
    button.className = "toggle-password";
    button.setAttribute("aria-controls", field.id);
    button.setAttribute("aria-pressed", "false");
    button.textContent = showText;
    button.addEventListener("click", function () {
      var shown = field.type === "text";
      field.type = shown ? "password" : "text";
      button.setAttribute("aria-pressed", shown ? "false" : "true");
      button.textContent = shown ? showText : hideText;
    });
    field.insertAdjacentElement("afterend", button);
  });
  // A form submitted with the password shown still hands the browser a password field.
  Array.prototype.forEach.call(document.forms, function (form) {
    form.addEventListener("submit", function () {
      Array.prototype.forEach.call(form.querySelectorAll(".toggle-password"), function (b) {
        var field = document.getElementById(b.getAttribute("aria-controls"));
        if (field) field.type = "password";
      });
    });
  });
})();
