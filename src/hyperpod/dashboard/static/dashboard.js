// hyperpod dashboard: live updates over Server-Sent Events. No framework, no build step.
// The server re-renders the page's <main> when an object it shows changes (registry watch)
// and sends it as a "main" event; EventSource reconnects by itself when the stream drops.
"use strict";
(function () {
  const live = document.getElementById("live");
  const conn = document.getElementById("conn");
  if (!live) return;
  function state(on) {
    conn.textContent = on ? "live" : "reconnecting";
    conn.className = on ? "on" : "off";
  }
  const page = live.dataset.page || "";
  const es = new EventSource("/dashboard/stream?page=" + encodeURIComponent(page));
  es.addEventListener("open", function () { state(true); });
  es.addEventListener("error", function () { state(false); });
  es.addEventListener("main", function (ev) {
    state(true);
    live.innerHTML = ev.data;
    live.dataset.updated = String(Date.now());
  });

  // Live logs of one container (job pages): a second stream, followed until closed.
  const panel = document.getElementById("logpanel");
  const text = document.getElementById("logtext");
  let logs = null;
  function closeLogs() {
    if (logs) logs.close();
    logs = null;
    panel.hidden = true;
  }
  document.getElementById("logclose").addEventListener("click", closeLogs);
  document.addEventListener("click", function (ev) {
    const b = ev.target.closest("button.logs");
    if (!b) return;
    closeLogs();
    text.textContent = "";
    document.getElementById("logtitle").textContent =
      "Logs of " + b.dataset.pod + " / " + b.dataset.container;
    panel.hidden = false;
    const q = new URLSearchParams({
      namespace: b.dataset.ns, pod: b.dataset.pod, container: b.dataset.container,
    });
    logs = new EventSource("/dashboard/logs?" + q.toString());
    logs.addEventListener("log", function (e) {
      const stick = text.scrollTop + text.clientHeight >= text.scrollHeight - 4;
      text.textContent += e.data + "\n";
      if (stick) text.scrollTop = text.scrollHeight;
    });
    logs.addEventListener("end", function () {
      text.textContent += "-- end of log --\n";
      logs.close();
    });
  });
})();
