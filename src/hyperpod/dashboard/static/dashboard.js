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
  const es = new EventSource("/dashboard/stream?page=" + encodeURIComponent(page) +
    "&stamp=" + encodeURIComponent(live.dataset.stamp || ""));
  es.addEventListener("open", function () { state(true); });
  es.addEventListener("error", function () { state(false); });
  // Rows with a data-key are patched one by one when nothing else on the page changed, so a
  // progress tick on a page of 1,000 jobs re-lays out one row, not the whole table.
  let shown = null; // {skeleton, keys, rows} of what is on screen
  function remember(root) {
    const box = document.createElement("div");
    root.childNodes.forEach(function (n) { box.appendChild(n.cloneNode(true)); });
    const trs = Array.from(box.querySelectorAll("tr[data-key]"));
    const rows = trs.map(function (tr) { return tr.outerHTML; });
    const keys = trs.map(function (tr) { return tr.dataset.key; }).join("\n");
    trs.forEach(function (tr) { tr.textContent = ""; });
    return { skeleton: box.innerHTML, keys: keys, rows: rows };
  }
  function update(html) {
    const t = document.createElement("template");
    t.innerHTML = html;
    const next = remember(t.content);
    const rows = next.rows;
    const onScreen = live.querySelectorAll("tr[data-key]");
    if (shown && rows.length && shown.keys === next.keys && shown.skeleton === next.skeleton &&
        onScreen.length === rows.length) {
      for (let i = 0; i < rows.length; i++) {
        if (rows[i] === shown.rows[i]) continue;
        const one = document.createElement("template");
        one.innerHTML = "<table><tbody>" + rows[i] + "</tbody></table>";
        onScreen[i].replaceWith(one.content.querySelector("tr"));
      }
    } else {
      live.innerHTML = html;
    }
    shown = next;
    live.dataset.updated = String(Date.now());
  }
  // The page as served is already current: keep it, and remember it for row patches.
  es.addEventListener("same", function () {
    state(true);
    shown = remember(live);
    live.dataset.updated = String(Date.now());
  });
  es.addEventListener("main", function (ev) {
    state(true);
    update(ev.data);
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
