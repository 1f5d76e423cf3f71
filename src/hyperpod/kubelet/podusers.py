"""Each namespace's process pods as a Unix user of their own (``kubelet.podUsers``).

``kubelet.podUsers: shared`` (the default) runs every pod as the control plane's own user.
``perNamespace`` -- honoured only when the control plane runs as root and ``setpriv`` exists --
gives every namespace a block of 65,536 ids from a reserved range (``BASE`` = 2,000,000,000;
the blocks are handed out in order and kept in ``<data_dir>/pod-users.json``), like the ids a
Kubernetes pod with ``hostUsers: false`` gets from its user namespace:

- a container runs as ``block + runAsUser`` / ``block + runAsGroup`` (container
  ``securityContext`` over the pod's; 0 when not given, i.e. the block's first id), with
  ``block + fsGroup`` and ``block + supplementalGroups`` as supplementary groups. Values are
  0..65535 like user-namespace pods; another value is a CreateContainerConfigError. So a pod
  can never take another namespace's ids, the host's root, or a host user's uid;
- the pod's own files are ``<sandbox>/work`` (its default working dir and ``HOME``), its
  emptyDir volumes and the directories of its claims under the data dir: owned by its user
  and its fsGroup (group-writable, setgid, as kubelet's fsGroup ownership does). Everything
  the kubelet (root) writes -- the sandbox itself, logs and attempt records, the projected
  token, configMap/secret volumes -- stays root's with the pod's group, ``0750``/``0640``: the
  pod reads them but cannot add, swap or symlink entries where root writes. Progress reports
  go to ``<sandbox>/progress/`` (root's, group-writable, sticky; read with ``O_NOFOLLOW``);
- the data directory becomes ``0711`` (others may pass through to ``pods/``, ``storage/`` and
  ``volumes/``, not list them) and everything else in it is made owner-only, so the admin kubeconfig, token, keys and
  ``state.db`` cannot be read by a pod; a sandbox is open to its own pod's group only, so one
  team cannot read another's files, and processes of different uids cannot signal or ptrace
  each other.

Every parent directory of the data dir must be searchable by others (``chmod o+x``): a data
dir under ``/root`` (``0700``) makes pods fail with a message saying so, never run as root.
The user drop is the innermost step of the start (after the mount-namespace wrappers, which
need root): ``setpriv --reuid --regid --groups|--clear-groups`` then the container's command.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hyperpod.kubelet.volumes import VolumeError

MODES = ("shared", "perNamespace")
BASE = 2_000_000_000
BLOCK = 65_536
MAX_BLOCKS = (2**31 - 1 - BASE) // BLOCK  # stay below 2^31: some tools misread larger ids
STATE_FILE = "pod-users.json"
PASSABLE = ("pods", "storage", "volumes")


class PodUserError(VolumeError):
    """A pod asks for ids the per-namespace users cannot give it (CreateContainerConfigError)."""


@dataclass(frozen=True)
class Identity:
    uid: int
    gid: int
    groups: tuple[int, ...] = ()


def _sc(obj: Mapping[str, Any] | None) -> Mapping[str, Any]:
    sc = (obj or {}).get("securityContext")
    return sc if isinstance(sc, dict) else {}


class PodUsers:
    """The namespace -> id block table of one kubelet, and what it implies for a pod."""

    def __init__(self, data_dir: Path, mode: str) -> None:
        self.data_dir = Path(data_dir)
        self.requested = mode if mode in MODES else "shared"
        self.setpriv = shutil.which("setpriv")
        self.enabled = (
            self.requested == "perNamespace" and os.geteuid() == 0 and self.setpriv is not None
        )
        self._blocks: dict[str, int] | None = None

    def why_not(self) -> str:
        if self.requested != "perNamespace":
            return "kubelet.podUsers is shared"
        if os.geteuid() != 0:
            return "the control plane does not run as root"
        return "setpriv (util-linux) is not installed"

    # ------------------------------------------------------------------ the id table
    def _load(self) -> dict[str, int]:
        if self._blocks is None:
            try:
                raw = json.loads((self.data_dir / STATE_FILE).read_text())
            except (OSError, ValueError):
                raw = {}
            self._blocks = {str(k): int(v) for k, v in raw.items() if isinstance(v, int) and v >= 0}
        return self._blocks

    def block(self, namespace: str) -> int:
        """The first id of ``namespace``'s block (allocated and saved on first use)."""
        blocks = self._load()
        if namespace not in blocks:
            used = set(blocks.values())
            free = next((i for i in range(MAX_BLOCKS) if i not in used), None)
            if free is None:
                raise PodUserError(f"no free id block for namespace {namespace!r}")
            blocks[namespace] = free
            path = self.data_dir / STATE_FILE
            tmp = path.with_suffix(".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as fh:
                json.dump(blocks, fh, sort_keys=True)
            os.replace(tmp, path)
        return BASE + blocks[namespace] * BLOCK

    # ------------------------------------------------------------------ identities
    def identity(self, pod: Mapping[str, Any], container: Mapping[str, Any] | None) -> Identity:
        """The ids ``container`` (the pod's own when None) runs as."""
        md = pod.get("metadata") or {}
        base = self.block(str(md.get("namespace") or "default"))
        pod_sc = _sc(pod.get("spec"))
        c_sc = _sc(container)

        def pick(field: str) -> int:
            value = c_sc.get(field, pod_sc.get(field))
            return base + _offset(field, value if value is not None else 0)

        groups = []
        if pod_sc.get("fsGroup") is not None:
            groups.append(base + _offset("fsGroup", pod_sc["fsGroup"]))
        for g in pod_sc.get("supplementalGroups") or []:
            groups.append(base + _offset("supplementalGroups", g))
        return Identity(pick("runAsUser"), pick("runAsGroup"), tuple(dict.fromkeys(groups)))

    def owner(self, pod: Mapping[str, Any]) -> tuple[int, int]:
        """(uid, gid) that owns the pod's shared files: its user, and fsGroup if set."""
        ident = self.identity(pod, None)
        return ident.uid, ident.groups[0] if _sc(pod.get("spec")).get(
            "fsGroup"
        ) is not None else ident.gid

    def wrap(self, argv: list[str], ident: Identity) -> list[str]:
        assert self.setpriv is not None
        groups = (
            ["--groups", ",".join(str(g) for g in ident.groups)]
            if ident.groups
            else ["--clear-groups"]
        )
        return [
            self.setpriv,
            f"--reuid={ident.uid}",
            f"--regid={ident.gid}",
            *groups,
            "--inh-caps=-all",
            "--",
            *argv,
        ]

    # ------------------------------------------------------------------ files
    def reachable(self) -> str | None:
        """Why a pod user cannot reach ``<data_dir>/pods`` (a parent not searchable), or None."""
        for parent in [self.data_dir.resolve(), *self.data_dir.resolve().parents]:
            try:
                mode = parent.stat().st_mode
            except OSError as exc:
                return f"cannot stat {parent}: {exc.strerror}"
            if parent != self.data_dir.resolve() and not mode & stat.S_IXOTH:
                return (
                    f"kubelet.podUsers perNamespace: pods cannot reach their sandbox because "
                    f"{parent} is not searchable by other users (chmod o+x {parent}, or use a "
                    "data directory outside it)"
                )
        return None

    def lock_data_dir(self) -> None:
        """Data dir passable (0711), everything in it owner-only but the ways to pods' files.

        ``pods/`` (sandboxes) and ``storage/``, ``volumes/`` (claims' directories, see
        controllers/volumes_provisioner.py) are passable too, not listable; what lies below
        them is each pod's own.
        """
        self.data_dir.chmod(0o711)
        pods = self.data_dir / "pods"
        pods.mkdir(exist_ok=True)
        with os.scandir(self.data_dir) as it:
            for entry in it:
                if entry.name in PASSABLE:
                    with contextlib.suppress(OSError):
                        if entry.is_dir(follow_symlinks=False):
                            os.chmod(entry.path, 0o711)
                    continue
                with contextlib.suppress(OSError):
                    mode = entry.stat(follow_symlinks=False).st_mode
                    if not stat.S_ISLNK(mode) and mode & 0o077:
                        os.chmod(entry.path, stat.S_IMODE(mode) & 0o700)

    def own_sandbox(self, pod: Mapping[str, Any], sandbox: Path, extra: Iterable[str] = ()) -> None:
        """Hand the pod what it may write, and nothing the kubelet (root) writes into.

        The sandbox and every directory the kubelet writes in (container logs and records,
        the token, configMap/secret volumes) stay root's, group ``gid`` and ``0750``: the pod
        reads them but cannot add, swap or symlink entries there. Its own are ``work/`` (the
        default working dir and HOME), emptyDir volumes and ``extra`` (claims under the data
        dir); ``progress/`` is root's, group-writable and sticky, read with O_NOFOLLOW.
        """
        uid, gid = self.owner(pod)
        sandbox.mkdir(parents=True, exist_ok=True)
        _own(sandbox, 0, gid, 0o750)
        spec = pod.get("spec") or {}
        scratch = {
            str(v.get("name", ""))
            for v in spec.get("volumes") or []
            if isinstance(v, dict) and "emptyDir" in v
        }
        vols = sandbox / "volumes"
        for path in _subdirs(sandbox):
            if path.name not in ("work", "progress"):
                _own(path, 0, gid, 0o750)
        for path in _subdirs(vols):
            if path.name in scratch:
                _own(path, uid, gid, 0o2770)
            else:
                _own(path, 0, gid, 0o750)
        for sub, owner, mode in (("work", uid, 0o2770), ("progress", 0, 0o3770)):
            (sandbox / sub).mkdir(exist_ok=True)
            _own(sandbox / sub, owner, gid, mode)
        for p in extra:
            _own(Path(p), uid, gid, 0o2770)
        hosts = sandbox / "hosts"
        with contextlib.suppress(OSError):
            if stat.S_ISREG(hosts.lstat().st_mode):
                hosts.chmod(0o644)
        sa = sandbox / "serviceaccount"
        if sa.is_dir() and not sa.is_symlink():
            for f in sa.iterdir():
                if not f.name.startswith("."):
                    _own(f, 0, gid, 0o640)

    def under_data_dir(self, path: str) -> bool:
        try:
            Path(path).resolve().relative_to(self.data_dir.resolve())
        except (OSError, ValueError):
            return False
        return True


def _offset(field: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < BLOCK:
        raise PodUserError(
            f"securityContext.{field}: {value!r} is outside 0..{BLOCK - 1}: with "
            "kubelet.podUsers perNamespace each namespace has 65536 ids, as a pod with "
            "hostUsers: false has"
        )
    return value


def _subdirs(path: Path) -> list[Path]:
    out = []
    with contextlib.suppress(OSError), os.scandir(path) as it:
        for entry in it:
            if entry.is_dir(follow_symlinks=False):
                out.append(Path(entry.path))
    return out


def _own(path: Path, uid: int, gid: int, mode: int) -> None:
    with contextlib.suppress(FileNotFoundError):
        st = path.lstat()
        if stat.S_ISLNK(st.st_mode):
            return
        if (st.st_uid, st.st_gid) != (uid, gid):
            os.lchown(path, uid, gid)
        if stat.S_IMODE(st.st_mode) != mode:
            path.chmod(mode)
