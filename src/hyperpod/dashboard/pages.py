"""Server-rendered HTML of the dashboard pages (the views' data in, escaped markup out)."""

from __future__ import annotations

from html import escape
from typing import Any
from urllib.parse import quote

Obj = dict[str, Any]
NAV = [("", "Overview"), ("nodes", "Nodes"), ("queues", "Queues"), ("jobs", "Jobs")]


def e(value: Any) -> str:
    return escape("" if value is None else str(value), quote=True)


def eta(seconds: Any) -> str:
    if seconds is None:
        return ""
    s = max(0, int(seconds))
    if s >= 3600:
        return f"{s // 3600}h {s % 3600 // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m {s % 60:02d}s"
    return f"{s}s"


def layout(title: str, page: str, main: str, identity: str, stamp: str = "") -> str:
    nav = "".join(
        f'<a href="/dashboard/{p}"{" class=on" if page.split("/")[0] == p else ""}>{e(t)}</a>'
        for p, t in NAV
    )
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        f"<title>{e(title)} · hyperpod</title>"
        '<link rel=stylesheet href="/dashboard/static/dashboard.css">'
        '<script defer src="/dashboard/static/dashboard.js"></script></head><body>'
        f'<header><b>hyperpod</b><nav>{nav}</nav><span id=conn class=off title="live updates">'
        f"offline</span><span class=who>{e(identity)} · "
        '<a href="/dashboard/logout">log out</a></span></header>'
        f'<main id=live data-page="{e(page)}" data-stamp="{e(stamp)}">{main}</main>'
        "<section id=logpanel hidden><h2 id=logtitle></h2>"
        "<button id=logclose>close</button><pre id=logtext></pre></section></body></html>"
    )


def message_page(title: str, text: str) -> str:
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{e(title)} · hyperpod</title>"
        '<link rel=stylesheet href="/dashboard/static/dashboard.css"></head><body>'
        f"<header><b>hyperpod</b></header><main><h1>{e(title)}</h1><p>{text}</p></main>"
        "</body></html>"
    )


def _hidden(hidden: set[str]) -> str:
    if not hidden:
        return ""
    return (
        "<p class=note>Not shown: you may not list "
        + ", ".join(f"<code>{e(h)}</code>" for h in sorted(hidden))
        + ".</p>"
    )


def _table(head: list[str], rows: list[str], empty: str) -> str:
    if not rows:
        return f"<p class=empty>{e(empty)}</p>"
    th = "".join(f"<th>{e(h)}</th>" for h in head)
    return f"<table><thead><tr>{th}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def overview(d: Obj, hidden: set[str]) -> str:
    tiles = [
        ("Nodes ready", f"{d['nodesReady']} / {d['nodes']}"),
        ("GPUs in use", f"{d['gpusUsed']} / {d['gpus']}"),
        ("Pending workloads", str(d["pendingWorkloads"])),
        ("Cluster queues", str(d["clusterQueues"])),
    ]
    t = "".join(f"<div class=tile><small>{e(k)}</small><b>{e(v)}</b></div>" for k, v in tiles)
    phases = "".join(
        f"<li data-phase={e(k)}>{e(k)} <b>{v}</b></li>" for k, v in d["podPhases"].items()
    )
    states = "".join(
        f"<li data-state={e(k)}>{e(k)} <b>{v}</b></li>" for k, v in d["jobStates"].items()
    )
    return (
        f"<h1>Cluster overview</h1><div class=tiles>{t}</div>"
        f"<h2>Pods by phase</h2><ul class=counts id=pod-phases>{phases or '<li>none</li>'}</ul>"
        f"<h2>Jobs by state</h2><ul class=counts id=job-states>{states or '<li>none</li>'}</ul>"
        + _hidden(hidden)
    )


def nodes(rows: list[Obj], hidden: set[str]) -> str:
    out = []
    for n in rows:
        gpu = "".join(
            f"<div class=gpu>#{e(s['index'])} {e(s['util'])}% "
            f"<progress max=100 value={e(s['util'])}></progress> "
            f"{e(s['memUsedMiB'])}/{e(s['memTotalMiB'])} MiB {e(s['tempC'])}°C"
            f"{' ' + e(s['pod']) if s.get('pod') else ''}</div>"
            for s in n["gpuSamples"]
        ) or ("<span class=dim>no telemetry (simulated)</span>" if n["gpus"] else "")
        ready = "Ready" if n["ready"] else "NotReady"
        if n["unschedulable"]:
            ready += ",SchedulingDisabled"
        out.append(
            f'<tr data-key="{e(n["name"])}"><td>{e(n["name"])}</td><td>{e(n["instanceType"])}'
            f'</td><td class="{"ok" if n["ready"] else "bad"}">{e(ready)}</td>'
            f"<td>{e(n['health'] or '-')}</td><td>{n['gpusUsed']} / {n['gpus']}</td>"
            f"<td>{n['pods']}</td><td>{gpu}</td></tr>"
        )
    return (
        f"<h1>Nodes ({len(rows)})</h1>"
        + _table(
            ["Node", "Instance type", "Status", "Health", "GPUs used", "Pods", "GPU telemetry"],
            out,
            "No nodes.",
        )
        + _hidden(hidden)
    )


def queues(d: Obj, hidden: set[str]) -> str:
    parts = ["<h1>Team queues</h1>"]
    for cq in d["clusterQueues"]:
        res = [
            f"<tr><td>{e(r['flavor'])}</td><td>{e(r['resource'])}</td><td>{e(r['usage'])}</td>"
            f"<td>{e(r['quota'])}</td><td><progress max=100 value={min(r['percent'], 100)}>"
            f"</progress> {r['percent']}%</td><td>{e(r['borrowed'])}</td>"
            f"<td>{e(r['borrowingLimit'] or '-')}</td></tr>"
            for r in cq["resources"]
        ]
        pend = [
            f'<tr data-key="{e(w["namespace"])}/{e(w["name"])}"><td>{i}</td>'
            f"<td>{e(w['namespace'])}/{e(w['name'])}</td><td>{e(w['owner'])}</td>"
            f"<td>{e(w['queue'])}</td><td>{w['priority']}</td>"
            f"<td class=reason>{e(w['reason'])}</td></tr>"
            for i, w in enumerate(cq["pending"], 1)
        ]
        cohort = f" · cohort <b>{e(cq['cohort'])}</b>" if cq["cohort"] else ""
        parts.append(
            f'<section class=cq data-key="{e(cq["name"])}"><h2>{e(cq["name"])}</h2>'
            f"<p>{e(cq['strategy'])}{cohort} · admitted <b>{cq['admitted']}</b> · pending "
            f"<b>{cq['pendingCount']}</b></p>"
            + _table(
                ["Flavor", "Resource", "Usage", "Quota", "Used", "Borrowed", "Borrowing limit"],
                res,
                "No quota.",
            )
            + "<h3>Pending workloads, in admission order</h3>"
            + _table(
                ["#", "Workload", "Job", "LocalQueue", "Priority", "Waiting because"],
                pend,
                "Nothing pending.",
            )
            + "</section>"
        )
    if not d["clusterQueues"]:
        parts.append("<p class=empty>No ClusterQueues.</p>")
    lq = [
        f"<tr><td>{e(q['namespace'])}</td><td>{e(q['name'])}</td><td>{e(q['clusterQueue'])}</td>"
        f"<td>{q['pending']}</td><td>{q['admitted']}</td></tr>"
        for q in d["localQueues"]
    ]
    parts.append(
        "<h2>LocalQueues</h2>"
        + _table(["Namespace", "Name", "ClusterQueue", "Pending", "Admitted"], lq, "None.")
    )
    if d["unqueued"]:
        rows = [
            f"<tr><td>{e(w['namespace'])}/{e(w['name'])}</td><td>{e(w['queue'])}</td>"
            f"<td class=reason>{e(w['reason'])}</td></tr>"
            for w in d["unqueued"]
        ]
        parts.append(
            "<h2>Workloads without a ClusterQueue</h2>"
            + _table(["Workload", "LocalQueue", "Waiting because"], rows, "")
        )
    return "".join(parts) + _hidden(hidden)


def _progress(j: Obj) -> str:
    if j["percent"] is None:
        return "<span class=dim>-</span>"
    p = float(j["percent"])
    return (
        f"<progress max=100 value={p:.1f}></progress> <span class=pct>{p:.0f}%</span> "
        f"<small>({e(j['step'])}/{e(j['totalSteps'])})</small>"
    )


def job_link(j: Obj) -> str:
    path = "/".join(quote(str(x), safe="") for x in (j["slug"], j["namespace"], j["name"]))
    return f"/dashboard/jobs/{path}"


def jobs(rows: list[Obj], hidden: set[str]) -> str:
    out = [
        f'<tr data-key="{e(j["namespace"])}/{e(j["name"])}" data-state="{e(j["state"])}">'
        f'<td>{e(j["namespace"])}</td><td><a href="{job_link(j)}">{e(j["name"])}</a></td>'
        f"<td>{e(j['kind'])}</td><td>{e(j['queue'])}</td>"
        f'<td class="st {e(j["state"])}">{e(j["state"])}</td><td>{_progress(j)}</td>'
        f"<td class=eta>{e(eta(j['eta']))}</td><td>{j['restarts']}</td>"
        f"<td>{j['podsRunning']}/{j['pods']}</td><td class=reason>{e(j['reason'])}</td></tr>"
        for j in rows
    ]
    head = ["Namespace", "Name", "Kind", "Queue", "State", "Progress", "ETA", "Restarts"]
    return (
        f"<h1>Jobs ({len(rows)})</h1>"
        + _table([*head, "Pods", "Why"], out, "No jobs.")
        + _hidden(hidden)
    )


def job(j: Obj | None, hidden: set[str]) -> str:
    if j is None:
        return "<h1>Job not found</h1><p>It was deleted, or you may not list it.</p>"
    metrics = " ".join(f"{e(k)}={e(v)}" for k, v in sorted(j["metrics"].items()))
    facts = [
        ("Kind", e(j["kind"])),
        ("State", f'<span class="st {e(j["state"])}" id=job-state>{e(j["state"])}</span>'),
        ("Why", f"<span class=reason id=job-reason>{e(j['reason'])}</span>"),
        ("Progress", f"<span id=job-progress>{_progress(j)}</span>"),
        ("ETA", f"<span id=job-eta>{e(eta(j['eta']))}</span>"),
        ("Last metrics", metrics or "-"),
        ("Queue", e(j["queue"] or "-")),
        ("Workload", e(j["workload"] or "-")),
        ("Restarts", f"{j['restarts']} (job) · {j['podRestarts']} (containers)"),
    ]
    dl = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts)
    conds = [
        f"<tr><td>{e(c['type'])}</td><td>{e(c['status'])}</td><td>{e(c['reason'])}</td>"
        f"<td>{e(c['message'])}</td><td>{e(c['lastTransitionTime'])}</td></tr>"
        for c in j["conditions"]
    ]
    pods = []
    for p in j["podList"]:
        logs = (
            "".join(
                f'<button class=logs data-ns="{e(j["namespace"])}" data-pod="{e(p["name"])}" '
                f'data-container="{e(c)}">logs {e(c)}</button>'
                for c in p["containers"]
            )
            if j["canLogs"]
            else ""
        )
        pods.append(
            f'<tr data-key="{e(p["name"])}"><td>{e(p["name"])}</td><td>{e(p["phase"])}</td>'
            f"<td>{e(p['node'])}</td><td>{p['restarts']}</td><td>{logs}</td></tr>"
        )
    events = [
        f'<tr class="{e(ev["type"])}"><td class=time>{e(ev["last"])}</td><td>{e(ev["type"])}</td>'
        f"<td>{e(ev['reason'])}</td><td>{e(ev['object'])}</td><td>{e(ev['message'])}</td>"
        f"<td>{ev['count']}</td></tr>"
        for ev in reversed(j["events"])
    ]
    return (
        f"<h1>{e(j['namespace'])}/{e(j['name'])}</h1><dl class=facts>{dl}</dl>"
        "<h2>Conditions</h2>"
        + _table(["Type", "Status", "Reason", "Message", "Since"], conds, "None yet.")
        + "<h2>Pods</h2>"
        + _table(["Pod", "Phase", "Node", "Restarts", "Live logs"], pods, "No pods.")
        + "<h2>Events</h2>"
        + _table(["Last seen", "Type", "Reason", "Object", "Message", "Count"], events, "None.")
        + _hidden(hidden)
    )
