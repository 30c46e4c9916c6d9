// affilut's dashboard and portal: copy buttons, select-all, confirmations and the link builder.
// Served from /static so the Content-Security-Policy can forbid every inline script.
(function () {
  "use strict";

  function copied(button) {
    var label = button.textContent;
    button.textContent = "Copied";
    button.setAttribute("data-copied", "true");
    setTimeout(function () { button.textContent = label; }, 1500);
  }

  function copy(button) {
    var field = document.getElementById(button.getAttribute("data-copy"));
    if (!field) { return; }
    var text = field.value !== undefined ? field.value : field.textContent;
    var fallback = function () {
      field.focus();
      field.select();
      try { document.execCommand("copy"); copied(button); } catch (e) { /* the text stays selected */ }
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(function () { copied(button); }, fallback);
    } else {
      fallback();
    }
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (button) { event.preventDefault(); copy(button); }
  });

  document.addEventListener("change", function (event) {
    var all = event.target.closest("[data-check-all]");
    if (!all) { return; }
    var name = all.getAttribute("data-check-all");
    all.form.querySelectorAll('input[type="checkbox"][name="' + name + '"]').forEach(function (box) {
      box.checked = all.checked;
    });
  });

  document.addEventListener("submit", function (event) {
    var message = event.target.getAttribute("data-confirm");
    if (message && !window.confirm(message)) { event.preventDefault(); }
  });

  // A field that picks one affiliate among thousands: suggestions fetched as the person types.
  var suggesting = null;
  document.addEventListener("input", function (event) {
    var input = event.target.closest("[data-suggest]");
    if (!input) { return; }
    clearTimeout(suggesting);
    suggesting = setTimeout(function () {
      var q = input.value.trim();
      var list = document.getElementById(input.getAttribute("list"));
      if (!q || !list || /^aff_[0-9a-z]{26}$/.test(q)) { return; }
      fetch(input.getAttribute("data-suggest") + "?q=" + encodeURIComponent(q), {credentials: "same-origin"})
        .then(function (res) { return res.ok ? res.json() : []; })
        .then(function (rows) {
          list.textContent = "";
          rows.forEach(function (row) {
            var option = document.createElement("option");
            option.value = row.id;
            option.label = row.name + " · " + row.email;
            option.textContent = row.name + " · " + row.email;
            list.appendChild(option);
          });
        }, function () { /* no suggestions: the field still takes an id or email */ });
    }, 150);
  });

  document.addEventListener("input", function (event) {
    var input = event.target.closest("[data-link-builder]");
    if (!input) { return; }
    var output = document.getElementById(input.getAttribute("data-output"));
    var to = input.value.trim();
    output.value = to ? input.getAttribute("data-link-builder") + "?to=" + encodeURIComponent(to) : "";
  });
}());
