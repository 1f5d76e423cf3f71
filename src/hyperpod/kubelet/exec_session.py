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
import subprocess
import sys
import termios
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hyperpod.apiserver.errors import BadRequest
from hyperpod.kubelet import oci
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


async def _past_wrappers(pid: int) -> None:
    """Wait (briefly) until a container started through ``setpriv`` is its own command.

    Until then the pid is still a root-run mount wrapper; a command exec'd then would run
    as root instead of the container's user (kubelet/podusers.py).
    """
    deadline = time.monotonic() + START_WAIT_S
    while time.monotonic() < deadline:
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return
        if not any(a.endswith(b"setpriv") for a in argv):
            return
        await asyncio.sleep(0.02)
    raise BadRequest("the container is still starting; try again")


def _ids(pid: int) -> dict[str, Any]:
    """Popen arguments that run a command as ``pid``'s user, groups included (podusers.py)."""
    uid = gid = -1
    groups: list[int] = []
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key == "Uid":
                uid = int(value.split()[0])
            elif key == "Gid":
                gid = int(value.split()[0])
            elif key == "Groups":
                groups = [int(g) for g in value.split()]
    except (OSError, ValueError, IndexError):
        return {}
    if uid < 0 or uid == os.geteuid():
        return {}
    return {"user": uid, "group": gid, "extra_groups": groups}


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
    """One exec'd command: outputs as (channel, bytes), stdin, resize, exit code.

    The process is a plain ``subprocess.Popen`` whose pipe (or terminal) ends this object
    owns and reads with the event loop's readers. (asyncio's subprocess transport under
    uvloop leaks its socket pairs into the child, so a background process the command starts
    would hold the exec open; with our own close-on-exec pipes it does not.)
    """

    def __init__(
        self,
        popen: subprocess.Popen[bytes],
        outputs: dict[int, int],
        stdin_fd: int | None,
        *,
        tty: bool,
        container_pid: int = 0,
    ) -> None:
        self.popen = popen
        self.tty = tty
        self.container_pid = container_pid
        self.stdin_fd = stdin_fd  # the terminal's master when tty
        self._fds: set[int] = set(outputs) | ({stdin_fd} if stdin_fd is not None else set())
        for fd in self._fds:
            os.set_blocking(fd, False)
        # Bounded, so a slow client slows the command down instead of filling memory.
        self._queue: asyncio.Queue[tuple[int, bytes] | None] = asyncio.Queue(maxsize=64)
        self._open = len(outputs)
        self._killed = False
        self._tasks = [asyncio.create_task(self._pump(ch, fd)) for fd, ch in outputs.items()]
        if self._open == 0:
            self._queue.put_nowait(None)

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def master(self) -> int | None:
        """The terminal's master side while it is open (tty sessions only)."""
        return self.stdin_fd if self.tty else None

    def _release(self, fd: int | None) -> None:
        """Stop watching and close ``fd``, once (a closed number may be reused at once)."""
        if fd is None or fd not in self._fds:
            return
        self._fds.discard(fd)
        asyncio.get_running_loop().remove_reader(fd)
        with contextlib.suppress(OSError):
            os.close(fd)
        if fd == self.stdin_fd:
            self.stdin_fd = None

    async def _pump(self, channel: int, fd: int) -> None:
        loop = asyncio.get_running_loop()
        readable = asyncio.Event()
        loop.add_reader(fd, readable.set)
        try:
            while fd in self._fds:
                await readable.wait()
                readable.clear()
                try:
                    data = os.read(fd, CHUNK)
                except BlockingIOError:
                    continue
                except OSError:  # EIO: the terminal's last user has closed it
                    break
                if not data:
                    break
                if not self._killed:
                    await self._queue.put((channel, data))
        finally:
            if not (self.tty and fd == self.stdin_fd):
                self._release(fd)
            self._open -= 1
            if self._open == 0 and not self._killed:
                await self._queue.put(None)

    async def read(self) -> tuple[int, bytes] | None:
        """The next piece of output, or None once every output has ended."""
        return await self._queue.get()

    async def write(self, data: bytes) -> None:
        """Feed stdin; input the command will never read any more is dropped."""
        while data and self.stdin_fd is not None:
            try:
                data = data[os.write(self.stdin_fd, data) :]
            except BlockingIOError:  # the pipe or terminal is full: let the command drain it
                await asyncio.sleep(0.01)
            except OSError:  # EPIPE: the command closed its stdin or exited
                if not self.tty:
                    self._release(self.stdin_fd)
                return

    def close_stdin(self) -> None:
        if self.stdin_fd is None:
            return
        if self.tty:
            with contextlib.suppress(OSError):
                os.write(self.stdin_fd, b"\x04")  # end of input on a terminal is ^D
        else:
            self._release(self.stdin_fd)

    def resize(self, width: int, height: int) -> None:
        if not self.tty or self.stdin_fd is None or width <= 0 or height <= 0:
            return
        size = struct.pack("HHHH", min(height, 0xFFFF), min(width, 0xFFFF), 0, 0)
        with contextlib.suppress(OSError):
            fcntl.ioctl(self.stdin_fd, termios.TIOCSWINSZ, size)

    async def wait(self) -> int:
        """The exit code (128 + signal when a signal ended it)."""
        delay = 0.002
        while (rc := self.popen.poll()) is None:
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.1)
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        for fd in list(self._fds):
            self._release(fd)
        return 128 - rc if rc < 0 else rc

    def kill(self) -> None:
        """End the command and its process group, drop its output, close every fd."""
        self._killed = True
        _kill_group(self.popen.pid)
        for fd in list(self._fds):
            self._release(fd)
        for t in self._tasks:
            t.cancel()
        while not self._queue.empty():
            self._queue.get_nowait()


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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
    attempt = latest(pod_dir(Path(data_dir), pod) / name)
    info = oci.marker(attempt.container_dir, attempt.number) if attempt else None
    ids: dict[str, Any] = {}
    if attempt is not None and info is not None:
        deadline = time.monotonic() + START_WAIT_S
        while not await asyncio.to_thread(oci.is_running, info):
            if time.monotonic() > deadline:
                raise BadRequest(f'container "{name}" is not running')
            await asyncio.sleep(0.05)
        # In a real container: runc runs the command with the container's env and cwd.
        env, cwd = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}, str(attempt.container_dir)
        command = oci.exec_argv(info, command, tty=tty)
    else:
        await _past_wrappers(container_pid)
        env, cwd = _environment(container_pid, name)
        ids = _ids(container_pid)  # a command runs as the container's own user
        exe = command[0]
        if shutil.which(exe, path=env.get("PATH", os.defpath)) is None and not (
            "/" in exe and os.access(os.path.join(cwd, exe), os.X_OK)
        ):
            raise BadRequest(f'exec: "{exe}": executable file not found in $PATH')
    if tty:
        return _spawn_tty(command, env, cwd, ids, container_pid)
    return _spawn_pipes(command, env, cwd, ids, container_pid, stdin=stdin)


def _spawn_tty(
    command: list[str], env: dict[str, str], cwd: str, ids: dict[str, Any], container_pid: int
) -> ExecProcess:
    """The command on a new pseudo-terminal, through the helper that makes it the controller."""
    master, slave = pty.openpty()
    try:
        popen = subprocess.Popen(
            [
                sys.executable,
                "-E",  # the container's PYTHONHOME/PYTHONPATH are not the helper's
                "-P",  # nor are the files in its working directory
                "-c",
                _TTY_HELPER,
                *command,
            ],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            cwd=cwd,
            start_new_session=True,
            **ids,
        )
    except OSError as exc:
        os.close(master)
        raise BadRequest(f"exec failed: {exc}") from exc
    finally:
        os.close(slave)
    return ExecProcess(popen, {master: STDOUT}, master, tty=True, container_pid=container_pid)


def _spawn_pipes(
    command: list[str],
    env: dict[str, str],
    cwd: str,
    ids: dict[str, Any],
    container_pid: int,
    *,
    stdin: bool,
) -> ExecProcess:
    """The command with pipes for stdout and stderr (and stdin when asked)."""
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    in_r, in_w = os.pipe() if stdin else (subprocess.DEVNULL, None)
    try:
        popen = subprocess.Popen(
            command,
            stdin=in_r,
            stdout=out_w,
            stderr=err_w,
            env=env,
            cwd=cwd,
            start_new_session=True,
            **ids,
        )
    except OSError as exc:
        for fd in (out_r, err_r, in_w):
            if fd is not None:
                os.close(fd)
        raise BadRequest(f"exec failed: {exc}") from exc
    finally:
        for fd in (out_w, err_w, in_r):
            if fd != subprocess.DEVNULL:
                os.close(fd)
    return ExecProcess(
        popen, {out_r: STDOUT, err_r: STDERR}, in_w, tty=False, container_pid=container_pid
    )


class LocalExec:
    """The kubelet's ``pods/exec`` backend (``services["pod_exec"]``) for the pods it runs.

    Every exec'd command runs in a process group of its own. The group is remembered with
    its container and killed when the container's main process ends, even after the command
    itself has returned (``sh -c 'worker &'`` must not outlive the pod).
    """

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self._groups: dict[int, int] = {}  # exec process group -> container main pid
        self._reaper: asyncio.Task[None] | None = None

    async def _reap(self) -> None:
        while self._groups:
            await asyncio.sleep(CONTAINER_POLL_S)
            for pgid, container_pid in list(self._groups.items()):
                if not pid_running(container_pid):
                    _kill_group(pgid)
                    del self._groups[pgid]
                elif not _group_alive(pgid):
                    del self._groups[pgid]

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
        proc = await open_exec(self.data_dir, pod, container, command, tty=tty, stdin=stdin)
        self._groups[proc.pid] = proc.container_pid
        if self._reaper is None or self._reaper.done():
            self._reaper = asyncio.create_task(self._reap())
        return proc
