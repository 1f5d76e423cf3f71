"""flowcontrol.apiserver.k8s.io/v1 PriorityLevelConfiguration: one level's share and queues.

Defaults as upstream's: a Limited level's ``nominalConcurrencyShares`` 30, ``lendablePercent``
0, a Queuing ``limitResponse`` 64 queues, hand size 8, queue length 50. The API server gives
each level its share of the in-flight budget (apiserver/flowcontrol.py).
"""

from __future__ import annotations

from typing import Any

from hyperpod.apiserver import errors
from hyperpod.apiserver.kinds import Cause, Obj, Row, Strategy
from hyperpod.apiserver.kinds import columns as cols
from hyperpod.apiserver.kinds.flowschema import GROUP
from hyperpod.apiserver.resources import ResourceType


class PriorityLevelStrategy(Strategy):
    def resource_type(self) -> ResourceType:
        return ResourceType(
            GROUP,
            "v1",
            "PriorityLevelConfiguration",
            "prioritylevelconfigurations",
            "prioritylevelconfiguration",
            False,
            subresources=["status"],
        )

    def default(self, obj: Obj) -> None:
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return
        limited = spec.get("limited")
        if spec.get("type") == "Limited" and isinstance(limited, dict):
            limited.setdefault("nominalConcurrencyShares", 30)
            limited.setdefault("lendablePercent", 0)
            resp = limited.get("limitResponse")
            if isinstance(resp, dict) and resp.get("type") == "Queuing":
                q = resp.setdefault("queuing", {})
                if isinstance(q, dict):
                    q.setdefault("queues", 64)
                    q.setdefault("handSize", 8)
                    q.setdefault("queueLengthLimit", 50)
        exempt = spec.get("exempt")
        if spec.get("type") == "Exempt" and isinstance(exempt, dict):
            exempt.setdefault("nominalConcurrencyShares", 0)
            exempt.setdefault("lendablePercent", 0)

    def validate(self, obj: Obj, old: Obj | None) -> list[Cause]:
        spec = cols.d(obj.get("spec"))
        typ = spec.get("type")
        if typ not in ("Exempt", "Limited"):
            return [
                errors.cause(
                    "spec.type",
                    f'Unsupported value: {typ!r}: supported values: "Exempt", "Limited"',
                    "FieldValueNotSupported",
                )
            ]
        if typ == "Exempt":
            return _ints("spec.exempt", cols.d(spec.get("exempt")))
        limited = spec.get("limited")
        if not isinstance(limited, dict):
            return [errors.cause("spec.limited", "Required value", "FieldValueRequired")]
        out = _ints("spec.limited", limited)
        resp = cols.d(limited.get("limitResponse"))
        rtype = resp.get("type")
        if rtype not in ("Queuing", "Reject"):
            out.append(
                errors.cause(
                    "spec.limited.limitResponse.type",
                    f'Unsupported value: {rtype!r}: supported values: "Queuing", "Reject"',
                    "FieldValueNotSupported",
                )
            )
        if rtype == "Queuing":
            q = cols.d(resp.get("queuing"))
            for key, lo in (("queues", 1), ("handSize", 1), ("queueLengthLimit", 1)):
                v = q.get(key)
                if isinstance(v, bool) or not isinstance(v, int) or v < lo:
                    out.append(
                        errors.cause(
                            f"spec.limited.limitResponse.queuing.{key}",
                            f"Invalid value: {v!r}: must be positive",
                        )
                    )
            hs, qs = q.get("handSize"), q.get("queues")
            if isinstance(hs, int) and isinstance(qs, int) and hs > qs:
                out.append(
                    errors.cause(
                        "spec.limited.limitResponse.queuing.handSize",
                        f"Invalid value: {hs}: should not be greater than queues ({qs})",
                    )
                )
        return out

    def table(self) -> tuple[list[Obj], Row]:
        def lim(o: Obj) -> Obj:
            return cols.d(cols.d(o.get("spec")).get("limited"))

        def queuing(o: Obj, key: str) -> str:
            q = cols.d(cols.d(lim(o).get("limitResponse")).get("queuing"))
            return str(q[key]) if key in q else "<none>"

        return cols.name_age_table(
            [
                ("Type", "string", lambda o: str(cols.d(o.get("spec")).get("type"))),
                (
                    "NominalConcurrencyShares",
                    "string",
                    lambda o: str(lim(o).get("nominalConcurrencyShares", "<none>")),
                ),
                ("Queues", "string", lambda o: queuing(o, "queues")),
                ("HandSize", "string", lambda o: queuing(o, "handSize")),
                ("QueueLengthLimit", "string", lambda o: queuing(o, "queueLengthLimit")),
            ]
        )


def _ints(at: str, part: dict[str, Any]) -> list[Cause]:
    out: list[Cause] = []
    for key, hi in (("nominalConcurrencyShares", 2**31 - 1), ("lendablePercent", 100)):
        v = part.get(key)
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, int) or v < 0 or (hi is not None and v > hi):
            rng = f"between 0 and {hi}, inclusive"
            out.append(errors.cause(f"{at}.{key}", f"Invalid value: {v!r}: must be {rng}"))
    return out


STRATEGY = PriorityLevelStrategy()
