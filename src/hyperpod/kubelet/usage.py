"""CPU and memory of containers and of this machine, read with psutil when asked (never polled).

A container is the process group its shim started (``pgid`` in the attempt record, see
``kubelet.processes``). Its CPU counter is kept monotonic across processes that come and go:
each sample adds, per live pid, what that pid used since the last sample. Rates (cores used)
are the counter's change between two samples at least a second apart; the first sample of a
container uses its average since it started. Simulated pods run no process: their usage is
reported as their requests (documented simulation, so ``kubectl top`` has figures).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from hyperpod.kubelet import processes

Obj = dict[str, Any]
_MIN_WINDOW = 1.0


@dataclass
class Usage:
    cpu_seconds: float  # cumulative CPU time (container_cpu_usage_seconds_total)
    cpu_cores: float  # current rate, cores
    memory_bytes: int  # working set (resident set size of the group)
    window: float  # seconds the rate covers
    pids: list[int] = field(default_factory=list)


@dataclass
class _State:
    per_pid: dict[int, float] = field(default_factory=dict)
    total: float = 0.0
    last_total: float = 0.0
    last_time: float = 0.0
    rate: float = 0.0
    window: float = 0.0


def _groups() -> dict[int, list[int]]:
    """pgid -> pids of every process of this machine (one getpgid per process)."""
    out: dict[int, list[int]] = {}
    for pid in psutil.pids():
        try:
            out.setdefault(os.getpgid(pid), []).append(pid)
        except OSError:
            continue
    return out


class UsageSampler:
    """Samples the containers of the pods under ``<data_dir>/pods`` and the machine itself."""

    def __init__(self, data_dir: Path) -> None:
        self.root = Path(data_dir) / "pods"
        self._state: dict[tuple[str, str], _State] = {}
        self._node = _State()
        self._procs: dict[int, psutil.Process] = {}

    def _attempt_pgid(self, uid: str, container: str) -> tuple[int, float] | None:
        attempt = processes.latest(self.root / uid / container)
        if attempt is None:
            return None
        rec = attempt.record()
        if not rec or rec.get("finishedAt") or not rec.get("pgid"):
            return None
        return int(rec["pgid"]), float(rec.get("startedAt") or time.time())

    def containers(self, pods: list[Obj]) -> dict[tuple[str, str], Usage]:
        """(pod uid, container) -> usage, for the running containers of ``pods``."""
        groups: dict[int, list[int]] | None = None
        now = time.time()
        out: dict[tuple[str, str], Usage] = {}
        live: set[tuple[str, str]] = set()
        for pod in pods:
            uid = pod["metadata"].get("uid", "")
            for c in (pod.get("spec") or {}).get("containers") or []:
                found = self._attempt_pgid(uid, c.get("name", ""))
                if found is None:
                    continue
                if groups is None:
                    groups = _groups()
                pgid, started = found
                key = (uid, c["name"])
                live.add(key)
                out[key] = self._sample(key, groups.get(pgid, []), started, now)
        for key in [k for k in self._state if k not in live]:
            del self._state[key]
        return out

    def _process(self, pid: int) -> psutil.Process:
        proc = self._procs.get(pid)
        if proc is None:
            proc = self._procs[pid] = psutil.Process(pid)
        return proc

    def _sample(self, key: tuple[str, str], pids: list[int], started: float, now: float) -> Usage:
        st = self._state.get(key)
        first = st is None
        if st is None:
            st = self._state[key] = _State(last_time=started)
        rss = 0
        seen: dict[int, float] = {}
        for pid in pids:
            try:
                proc = self._process(pid)
                with proc.oneshot():
                    t = proc.cpu_times()
                    rss += proc.memory_info().rss
            except psutil.Error:
                self._procs.pop(pid, None)
                continue
            used = t.user + t.system + t.children_user + t.children_system
            seen[pid] = used
            st.total += max(0.0, used - st.per_pid.get(pid, 0.0))
        st.per_pid = seen
        self._update_rate(st, now, first)
        return Usage(st.total, st.rate, rss, st.window, pids)

    @staticmethod
    def _update_rate(st: _State, now: float, first: bool) -> None:
        dt = now - st.last_time
        if first or dt >= _MIN_WINDOW:
            st.rate = max(0.0, (st.total - st.last_total) / dt) if dt > 0 else 0.0
            st.window = dt
            st.last_total, st.last_time = st.total, now

    def node(self) -> Usage:
        """This machine: busy CPU seconds since boot, current cores used, memory in use."""
        t = psutil.cpu_times()
        busy = sum(t) - t.idle - getattr(t, "iowait", 0.0)
        st = self._node
        now = time.time()
        first = st.last_time == 0.0
        if first:
            st.last_time = psutil.boot_time()
        st.total = busy
        self._update_rate(st, now, first)
        vm = psutil.virtual_memory()
        return Usage(busy, st.rate, int(vm.total - vm.available), st.window)

    def forget_processes(self) -> None:
        """Drop cached process handles of pids that are gone (called after each scrape)."""
        for pid in [p for p, proc in self._procs.items() if not proc.is_running()]:
            del self._procs[pid]
