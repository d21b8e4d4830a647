// gitorch UI, the allocation page only: progressive enhancement, the page reads without it.
// 1. Charts: #alloc-stats is fetched again every 2 s (while the tab is visible) from its
//    data-src with its data-history, and swapped in: the server draws the SVG.
// 2. Exec: a plain terminal over the UI's exec WebSocket (Nomad's JSON frames).
// 3. Log search: lines of #log that contain the text, shown in #log-hits.
// Nothing here builds HTML from strings: fragments are parsed by DOMParser (which never
// runs scripts), task output and log lines become text nodes.
(function () {
  "use strict";
  var EVERY_MS = 2000;

  // 1. Charts --------------------------------------------------------------------------
  function pollStats() {
    var box = document.getElementById("alloc-stats");
    if (!box || box.hasAttribute("data-stopped")) return;
    if (document.hidden) { setTimeout(pollStats, EVERY_MS); return; }
    var url = box.dataset.src + "?h=" + encodeURIComponent(box.dataset.history || "{}");
    fetch(url, { credentials: "same-origin" })
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.text(); })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("alloc-stats");
        if (fresh) box.replaceWith(document.adoptNode(fresh));
      })
      .catch(function () { /* ui.js shows the connection state; try again */ })
      .then(function () { setTimeout(pollStats, EVERY_MS); });
  }
  setTimeout(pollStats, EVERY_MS);

  // 2. Exec terminal -------------------------------------------------------------------
  var form = document.getElementById("exec-form");
  if (form && window.WebSocket && window.TextEncoder && window.TextDecoder) {
    var term = document.getElementById("term"), line = document.getElementById("term-line");
    var input = document.getElementById("term-in"), status = document.getElementById("exec-status");
    var stop = document.getElementById("exec-stop"), start = document.getElementById("exec-start");
    var ws = null, decoders = {};
    document.getElementById("exec-nojs").hidden = true;
    form.hidden = false;

    var say = function (text, bad) {
      status.hidden = false;
      status.textContent = text;
      status.className = bad ? "err" : "muted";
    };
    // A terminal's control sequences (colours, cursor moves, titles) and carriage
    // returns mean nothing in a <pre>: drop them, keep the text.
    var plain = function (text) {
      return text
        .replace(/\x1b\][^\x07\x1b]*(\x07|\x1b\\)/g, "")
        .replace(/\x1b\[[0-9;?]*[ -\/]*[@-~]/g, "")
        .replace(/\x1b[()][A-Za-z0-9]/g, "")
        .replace(/\x1b[=>78]/g, "")
        .replace(/\r\n/g, "\n")
        .replace(/\r/g, "");
    };
    var write = function (text, cls) {
      if (!text) return;
      var node = document.createTextNode(text);
      if (cls) {
        var span = document.createElement("span");
        span.className = cls;
        span.appendChild(node);
        node = span;
      }
      term.appendChild(node);
      term.scrollTop = term.scrollHeight;
    };
    var b64 = function (text) {
      var bytes = new TextEncoder().encode(text), bin = "";
      for (var i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
      return btoa(bin);
    };
    var unb64 = function (data) {
      var bin = atob(data), bytes = new Uint8Array(bin.length);
      for (var i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
      return bytes;
    };
    var send = function (frame) {
      if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(frame));
    };
    var ended = function () {
      start.disabled = false;
      stop.disabled = true;
      line.hidden = true;
      ws = null;
    };

    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      if (ws) ws.close();
      var tty = form.elements.tty.checked;
      var query = new URLSearchParams({
        task: form.elements.task.value,
        command: form.elements.command.value,
        tty: tty ? "true" : "false",
      });
      var scheme = location.protocol === "https:" ? "wss://" : "ws://";
      var sock = new WebSocket(scheme + location.host + form.dataset.ws + "?" + query.toString());
      ws = sock;
      decoders = { stdout: new TextDecoder(), stderr: new TextDecoder() };
      term.textContent = "";
      term.hidden = false;
      term.dataset.tty = tty ? "true" : "false";
      start.disabled = true;
      stop.disabled = false;
      say("connecting…");
      sock.onopen = function () {
        if (sock !== ws) return;
        say("connected to " + form.elements.task.value + ": " + form.elements.command.value);
        line.hidden = false;
        input.focus();
        if (tty) send({ tty_size: { height: 40, width: 120 } });
      };
      sock.onmessage = function (msg) {
        if (sock !== ws) return;
        var frame;
        try { frame = JSON.parse(msg.data); } catch (e) { return; }
        ["stdout", "stderr"].forEach(function (name) {
          var part = frame[name];
          if (part && part.data) {
            write(plain(decoders[name].decode(unb64(part.data), { stream: true })),
              name === "stderr" ? "stderr" : "");
          }
        });
        if (frame.error) {
          say("refused (" + frame.error.status + "): " + frame.error.message, true);
        }
        if (frame.exited) {
          var code = frame.result && frame.result.exit_code !== undefined ? frame.result.exit_code : "?";
          term.dataset.exit = String(code);
          say("exited with code " + code, code !== 0);
          sock.close(1000);
        }
      };
      sock.onclose = function (ev2) {
        if (sock !== ws) return;
        if (!term.dataset.exit && status.className !== "err") {
          say("disconnected (" + ev2.code + (ev2.reason ? ": " + ev2.reason : "") + ")", ev2.code !== 1000);
        }
        ended();
      };
      delete term.dataset.exit;
    });
    stop.addEventListener("click", function () { if (ws) ws.close(1000); });
    line.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var text = input.value + "\n";
      if (term.dataset.tty !== "true") write("$ " + text, "echo"); // no terminal: no echo
      send({ stdin: { data: b64(text) } });
      input.value = "";
    });
    document.getElementById("term-eof").addEventListener("click", function () {
      send({ stdin: { close: true } });
    });
  }

  // 3. Log search ----------------------------------------------------------------------
  var log = document.getElementById("log"), box = document.getElementById("log-q");
  var hits = document.getElementById("log-hits"), count = document.getElementById("log-count");
  if (log && box && hits) {
    var pending = false;
    var mark = function (target, text, needle) {
      var low = text.toLowerCase(), pos = 0, at = low.indexOf(needle);
      while (at >= 0) {
        if (at > pos) target.appendChild(document.createTextNode(text.slice(pos, at)));
        var m = document.createElement("mark");
        m.textContent = text.slice(at, at + needle.length);
        target.appendChild(m);
        pos = at + needle.length;
        at = low.indexOf(needle, pos);
      }
      if (pos < text.length) target.appendChild(document.createTextNode(text.slice(pos)));
    };
    var apply = function () {
      pending = false;
      var needle = box.value.toLowerCase();
      if (!needle) {
        hits.hidden = true;
        hits.textContent = "";
        log.hidden = false;
        if (count) count.hidden = true;
        return;
      }
      var lines = log.textContent.split("\n"), shown = document.createDocumentFragment(), n = 0;
      if (lines.length && lines[lines.length - 1] === "") lines.pop();
      lines.forEach(function (text) {
        if (text.toLowerCase().indexOf(needle) < 0) return;
        n++;
        mark(shown, text, needle);
        shown.appendChild(document.createTextNode("\n"));
      });
      hits.textContent = "";
      hits.appendChild(shown);
      hits.hidden = false;
      log.hidden = true;
      if (count) {
        count.hidden = false;
        count.textContent = n + " of " + lines.length + " lines contain \u201c" + box.value + "\u201d.";
      }
      hits.scrollTop = hits.scrollHeight;
    };
    var later = function () { if (!pending) { pending = true; setTimeout(apply, 150); } };
    box.addEventListener("input", later);
    new MutationObserver(function () { if (box.value) later(); })
      .observe(log, { childList: true, characterData: true, subtree: true });
    if (box.value) apply();
  }
})();
