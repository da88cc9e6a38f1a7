// Optional: a "Copy link" button beside a link's box. Without script the buttons stay
// hidden and the box is selectable as it is. No inline handlers: the CSP allows only
// our own files.
(function () {
  var buttons = document.querySelectorAll("button.copy[data-copy]");
  Array.prototype.forEach.call(buttons, function (button) {
    var box = document.getElementById(button.getAttribute("data-copy"));
    if (!box) return;
    var status = button.parentNode.parentNode.querySelector(".copy-status");
    function say(text) { if (status) status.textContent = text; }
    box.addEventListener("focus", function () { box.select(); });
    button.hidden = false;
    button.addEventListener("click", function () {
      box.select();
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(box.value).then(
          function () { say("Copied."); },
          function () { say(document.execCommand("copy") ? "Copied." : "Press and hold the link to copy it."); }
        );
      } else {
        say(document.execCommand("copy") ? "Copied." : "Press and hold the link to copy it.");
      }
    });
  });
})();
