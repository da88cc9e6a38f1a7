// Optional: keeps the "time left" text current. The page works without it.
(function () {
  var time = document.querySelector(".countdown time");
  // the countdown's own line, and the short one beside the Support buttons
  var outs = document.querySelectorAll(".countdown strong, .support-card .lead strong");
  if (!time || !outs.length) return;
  var at = Date.parse(time.getAttribute("datetime"));
  function unit(n, w) { return n + " " + w + (n === 1 ? "" : "s"); }
  function tick() {
    var m = Math.floor((at - Date.now()) / 60000);
    var d = Math.floor(m / 1440), h = Math.floor((m % 1440) / 60), r = m % 60;
    var text = m < 1 ? "less than a minute"
      : d ? unit(d, "day") + (h ? ", " + unit(h, "hour") : "")
      : h ? unit(h, "hour") + (r ? ", " + unit(r, "minute") : "") : unit(r, "minute");
    Array.prototype.forEach.call(outs, function (out) { out.textContent = text; });
  }
  setInterval(tick, 30000);
})();
