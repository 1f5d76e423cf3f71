"""Request-body decoding with bounded work: YAML aliases, nesting depth and list sizes.

A YAML alias is a reference, so a 1 KB document of nested aliases ("billion laughs") expands
to billions of nodes once anything walks it. The loader here counts every node as it would
be expanded and refuses a document whose expansion exceeds its own size by more than
``MAX_EXPANSION`` nodes; it also refuses nesting deeper than ``MAX_DEPTH`` (Python and orjson
recurse, and orjson cannot encode past 254 levels). ``check_bounds`` applies the depth and
list-length limits to any decoded body (JSON and protobuf included).
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.events import AliasEvent
from yaml.nodes import Node

from hyperpod.apiserver.errors import BadRequest, RequestEntityTooLarge

MAX_DEPTH = 128
MAX_LIST_ITEMS = 100_000
MAX_EXPANSION = 10_000


class _Limit(yaml.YAMLError):
    pass


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader that counts expanded nodes and nesting depth while composing."""

    def __init__(self, stream: bytes, budget: int) -> None:
        super().__init__(stream)
        self._budget = budget
        self._expanded = 0
        self._depth = 0
        self._sizes: dict[int, int] = {}

    def _spend(self, n: int) -> None:
        self._expanded += n
        if self._expanded > self._budget:
            raise _Limit(
                f"YAML aliases expand to more than {self._budget} nodes; "
                "write the repeated values out or use fewer aliases"
            )

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        if self.check_event(AliasEvent):
            anchor = self.peek_event().anchor
            target = self.anchors.get(anchor)
            self._spend(self._sizes.get(id(target), 1) if target is not None else 1)
            return super().compose_node(parent, index)
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise _Limit(f"the document is nested deeper than {MAX_DEPTH} levels")
        before = self._expanded
        self._spend(1)
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        if node is not None:
            self._sizes[id(node)] = self._expanded - before
        return node


def load_yaml(raw: bytes) -> Any:
    """One YAML document, safely and boundedly; raises BadRequest."""
    loader = _BoundedLoader(raw, budget=len(raw) + MAX_EXPANSION)
    try:
        return loader.get_single_data()
    except _Limit as exc:
        raise BadRequest(f"the request body is refused: {exc}") from exc
    except yaml.YAMLError as exc:
        raise BadRequest(f"the request body is not valid YAML: {exc}") from exc
    except RecursionError as exc:
        raise BadRequest(f"the document is nested deeper than {MAX_DEPTH} levels") from exc
    finally:
        loader.dispose()


def check_bounds(value: Any) -> Any:
    """``value`` unchanged, or BadRequest/413 when too deep or a list is too long."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            if len(item) > MAX_LIST_ITEMS:
                raise RequestEntityTooLarge(
                    f"the request body has a list of {len(item)} items; "
                    f"at most {MAX_LIST_ITEMS} are accepted"
                )
            children = item
        else:
            continue
        if depth > MAX_DEPTH:
            raise BadRequest(f"the request body is nested deeper than {MAX_DEPTH} levels")
        stack.extend((c, depth + 1) for c in children if isinstance(c, dict | list))
    return value
