"""The metric families a cluster's ``/metrics`` serves (``hyp get-monitoring --list`` locally).

Read with the kubeconfig's credentials, as Prometheus scrapes it; each family is its name, its
type and its help text from the ``# TYPE``/``# HELP`` lines of the Prometheus text format.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from dataclasses import dataclass

from hyperpod.client.dashboard import ssl_context
from hyperpod.client.errors import ClusterUnreachable
from hyperpod.client.monitoring import Target


@dataclass(frozen=True)
class Family:
    name: str
    type: str
    help: str


def parse(text: str) -> list[Family]:
    """Families in the order of their first ``# HELP`` or ``# TYPE`` line."""
    types: dict[str, str] = {}
    helps: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split(" ", 3)
        if len(parts) >= 3 and parts[0] == "#" and parts[1] in ("TYPE", "HELP"):
            table = types if parts[1] == "TYPE" else helps
            table.setdefault(parts[2], parts[3] if len(parts) > 3 else "")
    names = list(dict.fromkeys([*helps, *types]))
    return [Family(n, types.get(n, "untyped"), helps.get(n, "")) for n in names]


def fetch(t: Target, timeout: float = 15.0) -> list[Family]:
    """The families ``t``'s ``/metrics`` serves now."""
    headers = {"Authorization": f"Bearer {t.token}"} if t.token else {}
    req = urllib.request.Request(t.metrics_url, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=ssl_context(t)) as resp:
            text = resp.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as err:
        hint = {
            401: "the kubeconfig's credentials were refused",
            403: "your identity may not get the non-resource URL /metrics (RBAC)",
        }.get(err.code, "this cluster serves no /metrics here")
        raise ClusterUnreachable(f"cannot read {t.metrics_url}: HTTP {err.code}", hint) from err
    except (OSError, ValueError) as exc:
        raise ClusterUnreachable(
            f"cannot reach {t.metrics_url}: {exc}",
            "start the cluster with `hyp create` (or check --kubeconfig/--context)",
        ) from exc
    return parse(text)
