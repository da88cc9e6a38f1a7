// Pledge campaigns in the console: the "Copy link" button, and the release status page
// kept up to date from the server's events. Without JavaScript the link is selectable
// text and the status page refreshes itself (<meta http-equiv=refresh>).
(function () {
  "use strict";

  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    var field = document.getElementById(button.getAttribute("data-copy"));
    var note = document.getElementById("copy-status");
    if (!field || !navigator.clipboard) {
      return; // the button stays hidden: select the text instead
    }
    button.hidden = false;
    button.addEventListener("click", function () {
      navigator.clipboard.writeText(field.value).then(
        function () {
          if (note) { note.textContent = "Link copied."; }
        },
        function () {
          field.select();
          if (note) { note.textContent = "Press Ctrl+C (or Cmd+C) to copy the selected link."; }
        }
      );
    });
  });

  var box = document.getElementById("release-status");
  if (!box || !window.EventSource || box.getAttribute("data-final") === "yes") {
    return;
  }
  var bar = document.getElementById("release-bar");
  var source = new EventSource(box.getAttribute("data-events"));

  function set(name, value) {
    box.querySelectorAll('[data-field="' + name + '"]').forEach(function (element) {
      element.textContent = String(value);
    });
  }

  source.addEventListener("status", function (event) {
    var status = JSON.parse(event.data);
    var platforms = Object.keys(status.by_platform);
    var shown = box.querySelectorAll("tbody tr").length;
    if (platforms.length !== shown) {
      window.location.reload(); // the release was written since the page was: draw it anew
      return;
    }
    ["state_text", "done", "total", "sent", "stopped", "in_flight", "pending"].forEach(
      function (name) { set(name, status[name]); }
    );
    if (bar) {
      bar.max = Math.max(1, status.total);
      bar.value = status.done;
    }
    platforms.forEach(function (platform) {
      Object.keys(status.by_platform[platform]).forEach(function (state) {
        var cell = box.querySelector('[data-cell="' + platform + ":" + state + '"]');
        if (cell) { cell.textContent = String(status.by_platform[platform][state]); }
      });
    });
    document.querySelectorAll("[data-while-releasing]").forEach(function (element) {
      element.hidden = status.state !== "releasing";
    });
  });

  source.addEventListener("final", function () {
    source.close();
    var note = box.querySelector("[data-live-note]");
    if (note) { note.textContent = "This release is final."; }
  });
})();
