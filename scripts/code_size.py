"""Count modules over a line limit and functions over a length limit.

Usage: python scripts/code_size.py [--module-limit 700] [--function-limit 80] [DIR ...]

Defaults to the server packages the architecture issue measures (apiserver, controllers,
kubelet). Prints every offender, then the two counts.
"""

from __future__ import annotations

import argparse
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DIRS = ["src/hyperpod/apiserver", "src/hyperpod/controllers", "src/hyperpod/kubelet"]


def long_functions(path: Path, limit: int) -> list[tuple[str, int]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            if length > limit:
                found.append((f"{node.name}:{node.lineno}", length))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--module-limit", type=int, default=700)
    parser.add_argument("--function-limit", type=int, default=80)
    parser.add_argument("dirs", nargs="*", default=DEFAULT_DIRS)
    args = parser.parse_args()
    files = sorted(p for d in args.dirs for p in (ROOT / d).rglob("*.py"))
    big_modules = 0
    big_functions = 0
    for path in files:
        rel = path.relative_to(ROOT)
        lines = len(path.read_text().splitlines())
        if lines > args.module_limit:
            big_modules += 1
            print(f"module   {rel}: {lines} lines")
        for name, length in long_functions(path, args.function_limit):
            big_functions += 1
            print(f"function {rel}:{name}: {length} lines")
    print(f"modules over {args.module_limit} lines: {big_modules}")
    print(f"functions over {args.function_limit} lines: {big_functions}")


if __name__ == "__main__":
    main()
