// Optional: keeps the "time left" text current. The page works without it.
(function () {
  var time = document.querySelector(".countdown time");
  var out = document.querySelector(".countdown strong");
  if (!time || !out) return;
  var at = Date.parse(time.getAttribute("datetime"));
  function unit(n, w) { return n + " " + w + (n === 1 ? "" : "s"); }
  function tick() {
    var m = Math.floor((at - Date.now()) / 60000);
    if (m < 1) { out.textContent = "less than a minute"; return; }
    var d = Math.floor(m / 1440), h = Math.floor((m % 1440) / 60), r = m % 60;
    out.textContent = d ? unit(d, "day") + (h ? ", " + unit(h, "hour") : "")
      : h ? unit(h, "hour") + (r ? ", " + unit(r, "minute") : "") : unit(r, "minute");
  }
  setInterval(tick, 30000);
})();
