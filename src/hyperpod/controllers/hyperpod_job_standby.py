"""The program a HyperPodPyTorchJob spare pod runs: load the trainer, wait for a rank, train.

Run as ``python -m hyperpod.controllers.hyperpod_job_standby -- <the container's command>``
(the operator wraps a spare's command so, see :func:`hyperpod_job_rules.build_spare`). It
imports the training module up front (``python -m <module>``: the module, and with it torch),
prints ``spare ready``, then waits for ``$HYPERPOD_SANDBOX/spare-assignment.json`` that the
operator writes when this spare takes over a failed rank. With the rank's environment in place
it runs the program in this same process, so the takeover skips interpreter start and imports.
A command that is not ``python -m <module>`` or ``python <script>`` is exec'd instead.
"""

from __future__ import annotations

import importlib
import json
import os
import runpy
import sys
import time
from pathlib import Path

ASSIGNMENT = "spare-assignment.json"
POLL_SECONDS = 0.05


def _python_module(command: list[str]) -> str | None:
    python = len(command) >= 3 and os.path.basename(command[0]).startswith("python")
    return command[2] if python and command[1] == "-m" else None


def _python_script(command: list[str]) -> str | None:
    python = len(command) >= 2 and os.path.basename(command[0]).startswith("python")
    return command[1] if python and command[1].endswith(".py") else None


def warm(command: list[str]) -> None:
    """Import the training module now, so a takeover finds it (and torch) loaded."""
    module = _python_module(command)
    if module is None:
        return
    try:
        importlib.import_module(module)
    except Exception as err:  # the real run reports it properly
        print(f"spare: could not preload {module}: {err}", flush=True)


def wait_for_assignment(path: Path) -> dict[str, str]:
    while not path.exists():
        time.sleep(POLL_SECONDS)
    data = json.loads(path.read_text())
    return {str(k): str(v) for k, v in (data.get("env") or {}).items()}


def run(command: list[str]) -> int:
    module = _python_module(command)
    script = _python_script(command)
    if module is not None:
        sys.argv = [module, *command[3:]]
        runpy.run_module(module, run_name="__main__", alter_sys=True)
        return 0
    if script is not None:
        sys.argv = [script, *command[2:]]
        runpy.run_path(script, run_name="__main__")
        return 0
    os.execvp(command[0], command)
    return 0  # not reached


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["--"]:
        args = args[1:]
    if not args:
        print("usage: python -m hyperpod.controllers.hyperpod_job_standby -- COMMAND...")
        return 2
    sandbox = os.environ.get("HYPERPOD_SANDBOX")
    if not sandbox:
        print("spare: HYPERPOD_SANDBOX is not set; running the command now", flush=True)
        return run(args)
    path = Path(sandbox) / ASSIGNMENT
    if not path.exists():
        warm(args)
        print(f"spare ready: standing by at {time.time():.3f}", flush=True)
    env = wait_for_assignment(path)
    os.environ.update(env)
    print(f"spare taking over node rank {env.get('NODE_RANK')} at {time.time():.3f}", flush=True)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
