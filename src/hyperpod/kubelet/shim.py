"""The container shim: runs one container attempt and records how it ended.

``python -m hyperpod.kubelet.shim RECORD LOG [--memory-limit BYTES] -- ARGV...`` is started by
the kubelet in a session of its own, so it outlives the control plane. It starts ARGV in a new
process group (the group the kubelet signals), writes each output line to LOG in the CRI
format (``<RFC3339Nano> stdout|stderr F|P <text>``), and keeps RECORD (JSON, replaced
atomically) up to date: ``shimPid``, ``pid``/``pgid``, ``startedAt`` at start; ``exitCode``
(128+signal when signalled), ``signal``, ``reason`` (Completed, Error, OOMKilled, StartError),
``message`` and ``finishedAt`` at the end. With ``--memory-limit`` it polls the resident set of
the whole process group and SIGKILLs it past the limit (reported as OOMKilled). The shim is the
child subreaper of the container, so descendants that left its process group (``setsid``) are
still its descendants, and all of them are killed when the container ends. Imports stay
minimal so a container starts fast.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from typing import IO, Any

POLL_S = 0.2
PR_SET_CHILD_SUBREAPER = 36  # linux/prctl.h


def now_nano() -> str:
    """RFC 3339 with nanoseconds, like CRI log lines and ``kubectl logs --timestamps``."""
    ns = time.time_ns()
    secs, frac = divmod(ns, 1_000_000_000)
    return datetime.fromtimestamp(secs, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{frac:09d}Z"


def write_record(path: str, record: dict[str, Any]) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(record, f)
    os.replace(tmp, path)


def _pump(stream: IO[bytes], name: bytes, out: IO[bytes], lock: threading.Lock) -> None:
    for line in iter(stream.readline, b""):
        full = line.endswith(b"\n")
        text = line[:-1] if full else line
        entry = b"%s %s %s %s\n" % (now_nano().encode(), name, b"F" if full else b"P", text)
        with lock:
            out.write(entry)
            out.flush()
    stream.close()


def _group_rss(pid: int) -> int:
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            continue
    return total


def become_subreaper() -> bool:
    """Orphaned descendants (a ``setsid`` daemon whose parent exited) become our children."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def signal_descendants(sig: int) -> None:
    """``sig`` to every descendant, including those in sessions of their own."""
    import psutil

    try:
        procs = psutil.Process().children(recursive=True)
    except psutil.Error:
        return
    for p in procs:
        with contextlib.suppress(psutil.Error):
            p.send_signal(sig)


def run(record_path: str, log_path: str, argv: list[str], memory_limit: int | None) -> int:
    record: dict[str, Any] = {"shimPid": os.getpid(), "startedAt": time.time()}
    become_subreaper()
    log = open(log_path, "ab")  # noqa: SIM115 - closed at the end of run
    try:
        child = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            process_group=0,
        )
    except OSError as exc:
        record.update(exitCode=128, reason="StartError", message=str(exc), finishedAt=time.time())
        write_record(record_path, record)
        log.close()
        return 128
    record.update(pid=child.pid, pgid=child.pid)
    write_record(record_path, record)

    def forward(signum: int, _frame: object) -> None:
        try:
            os.killpg(child.pid, signum)
        except ProcessLookupError:
            pass
        signal_descendants(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)

    lock = threading.Lock()
    assert child.stdout is not None and child.stderr is not None
    pumps = [
        threading.Thread(target=_pump, args=(child.stdout, b"stdout", log, lock), daemon=True),
        threading.Thread(target=_pump, args=(child.stderr, b"stderr", log, lock), daemon=True),
    ]
    for t in pumps:
        t.start()
    oom = False
    while True:
        try:
            rc = child.wait(timeout=POLL_S if memory_limit else None)
            break
        except subprocess.TimeoutExpired:
            if memory_limit and _group_rss(child.pid) > memory_limit:
                oom = True
                try:
                    os.killpg(child.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
    # The container ends with its main process: whatever is left of the group goes too,
    # and so does every other descendant (setsid escapes included).
    try:
        os.killpg(child.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    signal_descendants(signal.SIGKILL)
    _reap()
    for t in pumps:
        t.join(timeout=2)
    finished = time.time()
    if rc < 0:
        record.update(exitCode=128 - rc, signal=-rc)
    else:
        record.update(exitCode=rc)
    if oom:
        record.update(reason="OOMKilled", exitCode=137, signal=signal.SIGKILL)
    else:
        record["reason"] = "Completed" if rc == 0 else "Error"
    record["finishedAt"] = finished
    write_record(record_path, record)
    with lock:
        log.close()
    return 0


def _reap() -> None:
    """Collect the exit status of adopted orphans so none stays a zombie."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def main(args: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if args is None else args)
    if "--" not in args:
        print("usage: shim RECORD LOG [--memory-limit BYTES] -- ARGV...", file=sys.stderr)
        return 2
    split = args.index("--")
    head, argv = args[:split], args[split + 1 :]
    memory_limit = None
    if "--memory-limit" in head:
        i = head.index("--memory-limit")
        memory_limit = int(head[i + 1])
        del head[i : i + 2]
    if len(head) != 2 or not argv:
        print("usage: shim RECORD LOG [--memory-limit BYTES] -- ARGV...", file=sys.stderr)
        return 2
    return run(head[0], head[1], argv, memory_limit)


if __name__ == "__main__":
    sys.exit(main())
