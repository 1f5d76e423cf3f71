"""``pods/exec``: run a command inside a running container of this node.

A container here is a process group, not a namespace, so "inside" means what a user can see
of a container: the command gets the environment and the working directory of the
container's main process (read from ``/proc/<pid>``), exactly what the kubelet gave it
(env, valueFrom, envFrom, ``CUDA_VISIBLE_DEVICES``, the PyTorchJob variables). It runs in a
session of its own, with pipes, or with a pseudo-terminal when a TTY is asked for (then
stdout carries everything, as with a real TTY, and resizes are applied to the terminal).

Errors found before the command starts are the API's own (400 with the reason), so the HTTP
layer can refuse the upgrade with a Status that kubectl prints.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import pty
import shutil
import signal
import struct
import sys
import termios
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hyperpod.apiserver.errors import BadRequest
from hyperpod.kubelet.logs import default_container, pod_dir
from hyperpod.kubelet.processes import latest, pid_running

STDOUT = 1
STDERR = 2
CHUNK = 1 << 16
CONTAINER_POLL_S = 0.25
START_WAIT_S = 2.0

# Started with the pseudo-terminal as fds 0-2 in a new session: make it the controlling
# terminal (so shells get job control and ^C reaches the foreground), then become the command.
_TTY_HELPER = (
    "import fcntl, os, sys, termios\n"
    "fcntl.ioctl(0, termios.TIOCSCTTY, 0)\n"
    "os.execvp(sys.argv[1], sys.argv[1:])\n"
)


async def _container_process(data_dir: Path, pod: Mapping[str, Any], container: str) -> int:
    name = pod["metadata"]["name"]
    phase = (pod.get("status") or {}).get("phase")
    if phase in ("Succeeded", "Failed"):
        raise BadRequest(
            f"cannot exec into a container in a completed pod; current phase is {phase}"
        )
    sandbox = pod_dir(data_dir, pod)
    if not sandbox.is_dir():
        node = (pod.get("spec") or {}).get("nodeName")
        if not node:
            raise BadRequest(f'pod "{name}" is not scheduled yet: there is no container to exec in')
        raise BadRequest(
            f'pod "{name}" has no processes on this machine: node {node} is simulated or not '
            "run by this cluster's kubelet"
        )
    attempt = latest(sandbox / container)
    # The shim notes the command's pid a moment after the kubelet reports the container
    # started: give it that moment.
    deadline = time.monotonic() + START_WAIT_S
    while attempt is not None and attempt.finished() is None:
        rec = attempt.record() or {}
        if rec.get("pid"):
            return int(rec["pid"])
        if time.monotonic() > deadline:
            break
        await asyncio.sleep(0.02)
    raise BadRequest(f'container "{container}" in pod "{name}" is not running')


def _environment(pid: int, container: str) -> tuple[dict[str, str], str]:
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
        cwd = os.readlink(f"/proc/{pid}/cwd")
    except OSError as exc:
        raise BadRequest(f'container "{container}" is not running (its process is gone)') from exc
    env: dict[str, str] = {}
    for item in raw.split(b"\0"):
        key, sep, value = item.partition(b"=")
        if sep:
            env[key.decode(errors="replace")] = value.decode(errors="replace")
    return env, cwd


class ExecProcess:
    """One exec'd command: outputs as (channel, bytes), stdin, resize, exit code."""

    def __init__(
        self,
        proc: asyncio.subprocess.Process,
        master: int | None,
        has_stdin: bool,
        container_pid: int = 0,
    ) -> None:
        self.proc = proc
        self.master = master
        self.container_pid = container_pid
        self._queue: asyncio.Queue[tuple[int, bytes] | None] = asyncio.Queue(maxsize=64)
        self._open = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._stdin_open = has_stdin
        if master is not None:
            self._open = 1
            self._tasks.append(asyncio.create_task(self._pump_tty(master)))
        else:
            for channel, stream in ((STDOUT, proc.stdout), (STDERR, proc.stderr)):
                if stream is not None:
                    self._open += 1
                    self._tasks.append(asyncio.create_task(self._pump(channel, stream)))
        if self._open == 0:
            self._queue.put_nowait(None)
        self._watcher = asyncio.create_task(self._end_with_container()) if container_pid else None

    async def _end_with_container(self) -> None:
        """A command exec'd in a container ends when the container does, as in a pod."""
        while self.proc.returncode is None:
            if not pid_running(self.container_pid):
                self.kill_command()
                return
            await asyncio.sleep(CONTAINER_POLL_S)

    async def _pump(self, channel: int, stream: asyncio.StreamReader) -> None:
        try:
            while data := await stream.read(CHUNK):
                await self._queue.put((channel, data))
        finally:
            await self._closed_one()

    async def _pump_tty(self, master: int) -> None:
        loop = asyncio.get_running_loop()
        readable = asyncio.Event()
        loop.add_reader(master, readable.set)
        try:
            while True:
                await readable.wait()
                readable.clear()
                try:
                    data = os.read(master, CHUNK)
                except BlockingIOError:
                    continue
                except OSError:  # EIO: the terminal's last user has closed it
                    break
                if not data:
                    break
                await self._queue.put((STDOUT, data))
        finally:
            if self.master == master:  # not closed (and perhaps reused) by kill() meanwhile
                loop.remove_reader(master)
            await self._closed_one()

    async def _closed_one(self) -> None:
        self._open -= 1
        if self._open == 0:
            await self._queue.put(None)

    async def read(self) -> tuple[int, bytes] | None:
        """The next piece of output, or None once every output has ended."""
        return await self._queue.get()

    async def write(self, data: bytes) -> None:
        if self.master is not None:
            while data and self.master is not None:
                try:
                    data = data[os.write(self.master, data) :]
                except BlockingIOError:  # the terminal's input buffer is full: let it drain
                    await asyncio.sleep(0.01)
                except OSError:
                    return
            return
        if not self._stdin_open or self.proc.stdin is None:
            return
        try:
            self.proc.stdin.write(data)
            await self.proc.stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            self._stdin_open = False

    def close_stdin(self) -> None:
        if self.master is not None:
            with contextlib.suppress(OSError):
                os.write(self.master, b"\x04")  # end of input on a terminal is ^D
            return
        if self._stdin_open and self.proc.stdin is not None:
            self._stdin_open = False
            with contextlib.suppress(OSError):
                self.proc.stdin.close()

    def resize(self, width: int, height: int) -> None:
        if self.master is None or width <= 0 or height <= 0:
            return
        with contextlib.suppress(OSError):
            fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))

    async def wait(self) -> int:
        """The exit code (128 + signal when a signal ended it)."""
        rc = await self.proc.wait()
        if self._watcher is not None:
            self._watcher.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._close_master()
        return 128 - rc if rc < 0 else rc

    def kill_command(self) -> None:
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)

    def kill(self) -> None:
        """End the command and whatever it started (its session), and free the terminal."""
        self.kill_command()
        if self._watcher is not None:
            self._watcher.cancel()
        for t in self._tasks:
            t.cancel()
        self._close_master()

    def _close_master(self) -> None:
        if self.master is not None:
            fd, self.master = self.master, None
            asyncio.get_running_loop().remove_reader(fd)
            with contextlib.suppress(OSError):
                os.close(fd)


async def prepare(data_dir: Path, pod: Mapping[str, Any], container: str | None) -> str:
    """The container an exec request means, checked to be running here (400 otherwise)."""
    name = default_container(pod, container)
    await _container_process(Path(data_dir), pod, name)
    return name


async def open_exec(
    data_dir: Path,
    pod: Mapping[str, Any],
    container: str | None,
    command: list[str],
    *,
    tty: bool,
    stdin: bool,
) -> ExecProcess:
    """Start ``command`` in the container; BadRequest when it cannot start."""
    name = default_container(pod, container)
    if not command:
        raise BadRequest("you must specify at least one command for the container")
    container_pid = await _container_process(Path(data_dir), pod, name)
    env, cwd = _environment(container_pid, name)
    exe = command[0]
    if shutil.which(exe, path=env.get("PATH", os.defpath)) is None and not (
        "/" in exe and os.access(os.path.join(cwd, exe), os.X_OK)
    ):
        raise BadRequest(f'exec: "{exe}": executable file not found in $PATH')
    if tty:
        master, slave = pty.openpty()
        os.set_blocking(master, False)
        try:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                _TTY_HELPER,
                *command,
                stdin=slave,
                stdout=slave,
                stderr=slave,
                env=env,
                cwd=cwd,
                start_new_session=True,
            )
        except OSError as exc:
            os.close(master)
            raise BadRequest(f"exec failed: {exc}") from exc
        finally:
            os.close(slave)
        return ExecProcess(proc, master, has_stdin=True, container_pid=container_pid)
    try:
        proc = await asyncio.create_subprocess_exec(
            *command,
            stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
    except OSError as exc:
        raise BadRequest(f"exec failed: {exc}") from exc
    return ExecProcess(proc, None, has_stdin=stdin, container_pid=container_pid)


class LocalExec:
    """The kubelet's ``pods/exec`` backend (``services["pod_exec"]``) for the pods it runs."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)

    async def check(self, pod: Mapping[str, Any], container: str | None) -> str:
        return await prepare(self.data_dir, pod, container)

    async def open(
        self,
        pod: Mapping[str, Any],
        container: str,
        command: list[str],
        *,
        tty: bool,
        stdin: bool,
    ) -> ExecProcess:
        return await open_exec(self.data_dir, pod, container, command, tty=tty, stdin=stdin)
