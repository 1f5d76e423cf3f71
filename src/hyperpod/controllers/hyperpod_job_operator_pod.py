"""The training operator's pod: ``kubectl logs`` of it returns the in-process operator's log.

HyperPod runs its training operator as a pod labelled ``hp-training-control-plane`` in namespace
``aws-hyperpod``; the real CLI's ``hyp get-operator-logs`` reads that pod's log. Here the
operator runs inside the control plane, so, like kubeadm's static control-plane pods, it is
represented by a Pod object: scheduled by no scheduler (``schedulerName:
hyperpod-control-plane``), its status written by the operator, and its log a CRI-format file
under ``<data_dir>/control-plane/pods/<uid>/`` that the operator's logger appends to. The
``pods/log`` reader is wrapped so this one pod's log comes from that file (with tail, since,
timestamps and follow as for any pod); every other pod goes to the kubelet's reader.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hyperpod.api import hyperpod_job as api
from hyperpod.apiserver.errors import AlreadyExists, ApiError, BadRequest
from hyperpod.runtime.context import OPEN_LOG, ControlPlaneContext

Obj = dict[str, Any]
POD_NAME = "hp-training-operator-hp-training-controller-manager"
CONTAINER = "manager"
SCHEDULER = "hyperpod-control-plane"


def cri_line(message: str, moment: datetime) -> str:
    stamp = moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z"
    return "".join(f"{stamp} stdout F {part}\n" for part in message.splitlines() or [""])


class CriFileHandler(logging.Handler):
    """Appends each record as CRI log lines (what the kubelet's log reader parses)."""

    def __init__(self, path: Path) -> None:
        super().__init__(logging.INFO)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.setFormatter(logging.Formatter("%(levelname)s\t%(name)s\t%(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = cri_line(self.format(record), datetime.fromtimestamp(record.created, UTC))
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(text)
        except Exception:  # logging must never break the operator
            self.handleError(record)


def pod_manifest() -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": POD_NAME,
            "namespace": api.OPERATOR_NAMESPACE,
            "labels": {
                api.OPERATOR_LABEL: "true",
                "app.kubernetes.io/name": "hp-training-operator",
            },
            "annotations": {"kubectl.kubernetes.io/default-container": CONTAINER},
        },
        "spec": {
            "schedulerName": SCHEDULER,
            "containers": [{"name": CONTAINER, "image": "hyperpod.local/hp-training-operator"}],
        },
    }


class OperatorPod:
    """Creates the operator pod, routes its log, and serves it through ``pods/log``."""

    def __init__(self, ctx: ControlPlaneContext) -> None:
        self.ctx = ctx
        self.root = Path(ctx.data_dir) / "control-plane"
        self.uid = ""
        self.inner: Any = None
        self.handler: CriFileHandler | None = None
        self.guard: asyncio.Task[None] | None = None

    def job_log_reader(self) -> Any:
        """The kubelet's log reader (for job pods), if a kubelet runs here."""
        return self.inner

    async def start(self, logger: logging.Logger) -> None:
        reg = self.ctx.reg
        try:
            reg.create(
                "namespaces",
                {
                    "apiVersion": "v1",
                    "kind": "Namespace",
                    "metadata": {"name": api.OPERATOR_NAMESPACE},
                },
            )
        except AlreadyExists:
            pass
        pod = reg.try_get("pods", POD_NAME, api.OPERATOR_NAMESPACE)
        if pod is None:
            try:
                pod = reg.create("pods", pod_manifest(), api.OPERATOR_NAMESPACE)
            except ApiError as err:
                logger.warning("operator pod not created: %s", err.message)
                return
        self.uid = str(pod["metadata"]["uid"])
        path = self.root / "pods" / self.uid / CONTAINER / "0.log"
        self.handler = CriFileHandler(path)
        logger.addHandler(self.handler)
        if logger.level == logging.NOTSET or logger.level > logging.INFO:
            logger.setLevel(logging.INFO)
        self._mark_running(pod)
        self._wrap()
        self.guard = asyncio.get_running_loop().create_task(self._keep_wrapped())

    def _wrap(self) -> None:
        current = self.ctx.services.get("pod_logs")
        if current != self.read:
            self.inner = current
            self.ctx.services["pod_logs"] = self.read

    async def _keep_wrapped(self) -> None:
        """A kubelet that starts after the operator installs its reader; wrap that one too."""
        for _ in range(100):
            await asyncio.sleep(0.1)
            self._wrap()

    def _mark_running(self, pod: Obj) -> None:
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        status = {
            "phase": "Running",
            "startTime": now,
            "podIP": "127.0.0.1",
            "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": now}],
            "containerStatuses": [
                {
                    "name": CONTAINER,
                    "image": "hyperpod.local/hp-training-operator",
                    "imageID": "",
                    "ready": True,
                    "started": True,
                    "restartCount": 0,
                    "state": {"running": {"startedAt": now}},
                }
            ],
        }
        try:
            self.ctx.reg.update("pods/status", {**pod, "status": status}, api.OPERATOR_NAMESPACE)
        except ApiError:
            logging.getLogger(__name__).exception("operator pod status not written")

    def read(self, pod: Obj, container: str | None = None, **kw: Any) -> Any:
        if self.uid and str((pod.get("metadata") or {}).get("uid")) == self.uid:
            open_log = self.ctx.services.get(OPEN_LOG)  # the kubelet's CRI log reader
            if open_log is None:
                raise BadRequest(f'pod "{POD_NAME}" has no logs here: no kubelet runs yet')
            return open_log(self.root, pod, container, **kw)
        if self.inner is None:
            raise BadRequest(
                f'pod "{pod["metadata"].get("name")}" has no logs here: no kubelet runs on '
                "this control plane"
            )
        return self.inner(pod, container, **kw)

    def stop(self, logger: logging.Logger) -> None:
        if self.guard is not None:
            self.guard.cancel()
        if self.handler is not None:
            logger.removeHandler(self.handler)
            self.handler.close()
