// gitorch UI: progressive enhancement only; every page works without this file.
// 1. Live regions: every [data-live][id] is refetched from the same URL when the agent's
//    event stream says something changed (/ui/events, Server-Sent Events): at most one
//    fetch in flight, one trailing refetch for changes during it. Where EventSource is
//    missing or the stream is refused (403, 404), the regions are polled every 2 s
//    instead. <body data-live-mode> says which: "stream", "poll" (or "connecting").
//    A failed fetch or a dropped stream shows "disconnected, retrying" until the agent
//    answers again (the stream reconnects by itself, then the regions are refetched).
// 2. Logs: <pre id="log" data-stream=URL> is replaced by the live stream of the log.
// Nothing here builds HTML from strings: server HTML is parsed by DOMParser (which never
// runs scripts) and log text is set with textContent.
(function () {
  "use strict";
  var EVERY_MS = 2000, RETRY_STREAM_MS = 15000;
  var conn = document.getElementById("conn"), body = document.body;
  var busy = false, again = false, missed = false, poller = null;
  function setDown(down) { if (conn) conn.hidden = !down; }
  function setMode(mode) { body.setAttribute("data-live-mode", mode); }

  function refresh() {
    if (!document.querySelector("[data-live][id]")) return;
    if (document.hidden) { missed = true; return; }
    if (busy) { again = true; return; }
    busy = true; again = false;
    fetch(location.href, { credentials: "same-origin", headers: { "X-Gitorch-Live": "1" } })
      .then(function (r) {
        if (!r.ok && r.status >= 500) throw new Error(r.status);
        return r.text();
      })
      .then(function (html) {
        setDown(false);
        var doc = new DOMParser().parseFromString(html, "text/html");
        document.querySelectorAll("[data-live][id]").forEach(function (el) {
          var fresh = doc.getElementById(el.id);
          if (fresh && fresh.innerHTML !== el.innerHTML) el.replaceWith(document.adoptNode(fresh));
        });
      })
      .catch(function () { setDown(true); })
      .then(function () {
        busy = false;
        if (again) refresh();
      });
  }
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden && missed) { missed = false; refresh(); }
  });

  function poll(retryStream) {
    setMode("poll");
    if (!poller) poller = setInterval(refresh, EVERY_MS);
    if (retryStream) setTimeout(stream, RETRY_STREAM_MS);
  }

  function stream() {
    if (poller) { clearInterval(poller); poller = null; }
    setMode("connecting");
    var es = new EventSource("/ui/events"), opened = false;
    es.addEventListener("change", refresh);
    es.onopen = function () {
      setDown(false);
      setMode("stream");
      if (opened) refresh();  // reconnected: changes may have been missed meanwhile
      opened = true;
    };
    es.onerror = function () {
      if (es.readyState === 2) {  // CLOSED: refused (403, 404), or gave up reconnecting
        es.close();
        poll(opened);
        if (opened) { setDown(true); refresh(); }
      } else {
        setDown(true);  // CONNECTING: the browser reconnects by itself
      }
    };
  }

  if (document.querySelector("[data-live][id]")) {
    if (window.EventSource) stream(); else poll(false);
  }

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
