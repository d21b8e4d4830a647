// gitorch UI: progressive enhancement only; every page works without this file.
// 1. Live regions: every [data-live][id] is refreshed from the same URL every few
//    seconds (while the tab is visible); a failed fetch shows "disconnected, retrying".
// 2. Logs: <pre id="log" data-stream=URL> is replaced by the live stream of the log.
// Nothing here builds HTML from strings: server HTML is parsed by DOMParser (which never
// runs scripts) and log text is set with textContent.
(function () {
  "use strict";
  var EVERY_MS = 2000, conn = document.getElementById("conn");
  function setDown(down) { if (conn) conn.hidden = !down; }

  function refresh() {
    var live = document.querySelectorAll("[data-live][id]");
    if (!live.length || document.hidden) return;
    fetch(location.href, { credentials: "same-origin", headers: { "X-Gitorch-Live": "1" } })
      .then(function (r) {
        if (!r.ok && r.status >= 500) throw new Error(r.status);
        return r.text();
      })
      .then(function (html) {
        setDown(false);
        var doc = new DOMParser().parseFromString(html, "text/html");
        live.forEach(function (el) {
          var fresh = doc.getElementById(el.id);
          if (fresh && fresh.innerHTML !== el.innerHTML) el.replaceWith(document.adoptNode(fresh));
        });
      })
      .catch(function () { setDown(true); });
  }
  setInterval(refresh, EVERY_MS);

  var log = document.getElementById("log");
  if (log && log.dataset.stream && window.ReadableStream && window.TextDecoder) {
    var follow = document.getElementById("follow");
    if (follow) follow.parentNode.hidden = false;
    var stick = function () { if (!follow || follow.checked) log.scrollTop = log.scrollHeight; };
    var open = function () {
      fetch(log.dataset.stream, { credentials: "same-origin" }).then(function (r) {
        if (!r.ok || !r.body) throw new Error(r.status);
        setDown(false);
        var reader = r.body.getReader(), dec = new TextDecoder(), first = true;
        function pump() {
          return reader.read().then(function (part) {
            if (part.done) return;
            var text = dec.decode(part.value, { stream: true });
            if (first) { log.textContent = ""; first = false; }
            log.appendChild(document.createTextNode(text));
            stick();
            return pump();
          });
        }
        return pump();
      }).catch(function () { setDown(true); setTimeout(open, 3000); });
    };
    stick();
    open();
  }
})();
