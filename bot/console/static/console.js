// Live counters and previews for the composer. The server is the truth: each change asks
// /console/posts/check (the same functions that check a post before it is stored) and
// shows its answer. Without JavaScript the "Check" button does the same.
(function () {
  "use strict";
  var form = document.querySelector("form[data-compose]");
  if (!form || !window.fetch || !window.URLSearchParams) {
    return;
  }
  var url = form.getAttribute("data-check-url");
  var timer = null;
  var asked = 0;

  function show(id, counter) {
    var element = document.getElementById(id);
    if (!element || !counter) {
      return;
    }
    element.textContent = counter.text;
    element.classList.toggle("over", counter.over);
  }

  function check() {
    var body = new URLSearchParams(new FormData(form));
    body.set("action", "check");
    var mine = ++asked;
    fetch(url, {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: { Accept: "application/json" }
    })
      .then(function (response) {
        return response.ok ? response.json() : null;
      })
      .then(function (answer) {
        if (!answer || mine !== asked) {
          return; // a later keystroke has asked again
        }
        answer.x.forEach(function (counter, index) {
          show("count-x-" + (index + 1), counter);
        });
        show("count-facebook", answer.facebook);
        var preview = document.getElementById("preview");
        if (preview) {
          preview.innerHTML = answer.preview; // rendered and escaped by the server
        }
      })
      .catch(function () {
        // Offline or signed out: the counters stay as they were; "Check" still works.
      });
  }

  form.addEventListener("input", function () {
    window.clearTimeout(timer);
    timer = window.setTimeout(check, 250);
  });
})();
