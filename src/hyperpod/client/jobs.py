"""Training-job operations over the Kubernetes API: create, get, list, delete, pods, logs, exec, wait.

Both kinds are served: HyperPod's ``HyperPodPyTorchJob`` (what ``hyp create hyp-pytorch-job``
makes by default) and Kubeflow's ``PyTorchJob``; a job is looked up by name in either
(HyperPodPyTorchJob first), lists hold both, and a cluster that serves only one kind works too.

Results are plain dicts in wire form; errors are :mod:`hyperpod.client.errors` types.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any, TextIO, TypeVar

from hyperpod.client import job_kinds as jk
from hyperpod.client.errors import (
    ClusterUnreachable,
    JobExists,
    JobFailed,
    JobNotFound,
    KindNotServed,
    UserError,
)
from hyperpod.client.kube import Kube

T = TypeVar("T")
TERMINAL = ("Succeeded", "Completed", "Failed")
# --wait gives up on a job whose pod crash-loops this many times (the job itself keeps going).
STUCK_RESTARTS = 3
# Waiting reasons that mean a container will not start without a change by the user.
CANNOT_START = ("ErrImagePull", "ImagePullBackOff", "InvalidImageName", "CreateContainerError")
# (group, version, plural, label that names a job's pods) of each kind, the default kind first.
KINDS = {
    jk.HP_KIND: (jk.HP_GROUP, jk.HP_VERSION, jk.HP_PLURAL, jk.HP_POD_LABEL),
    jk.PT_KIND: (jk.PT_GROUP, jk.PT_VERSION, jk.PT_PLURAL, jk.PT_JOB_NAME_LABEL),
}
# The training container of each kind's pods (logs and exec go there by default).
CONTAINERS = {jk.HP_KIND: jk.HP_CONTAINER, jk.PT_KIND: jk.PT_CONTAINER}
# What to install (or use instead) when a cluster does not serve a kind.
NOT_SERVED_HINTS = {
    jk.HP_KIND: "install HyperPod's training operator (on EKS the amazon-sagemaker-hyperpod-"
    "training-operator add-on), or submit a Kubeflow PyTorchJob with --kind pytorchjob",
    jk.PT_KIND: "install the Kubeflow training operator (addons.training_operator: true for local "
    "clusters), or submit a HyperPodPyTorchJob (the default --kind)",
}


def _status_code(exc: BaseException) -> int | None:
    """The HTTP status of a kubernetes-client ``ApiException`` (or a subclass), else None."""
    if any(c.__name__ == "ApiException" for c in type(exc).__mro__):
        return int(getattr(exc, "status", 0) or 0)
    return None


def event_time(event: Any) -> str:
    """When an event (a kubernetes-client V1Event) last happened, as a sortable ISO string."""
    for attr in ("last_timestamp", "event_time", "first_timestamp"):
        value = getattr(event, attr, None)
        if value is not None:
            return str(value.isoformat())
    created = getattr(event.metadata, "creation_timestamp", None)
    return created.isoformat() if created is not None else ""


def job_state(job: dict[str, Any]) -> str:
    """The job's phase: the newest true condition (Created, Running, Restarting, Succeeded, Failed, Suspended)."""
    conditions = (job.get("status") or {}).get("conditions") or []
    true = [c for c in conditions if c.get("status") == "True"]
    for final in ("Failed", "Succeeded", "Completed"):
        if any(c.get("type") == final for c in true):
            return final
    if true:
        return str(true[-1].get("type"))
    return "Pending"


def pod_problems(pods: list[Any]) -> list[tuple[str, str, bool]]:
    """(pod, what is wrong, whether it is stuck) for each pod that is not doing well.

    Crash loops (with the restart count and the last exit code), containers that cannot
    start, and pods the scheduler cannot place (with its message).
    """
    out: list[tuple[str, str, bool]] = []
    for pod in pods:
        name = pod.metadata.name
        status = pod.status
        for cond in (status.conditions if status else None) or []:
            if cond.type == "PodScheduled" and cond.status == "False" and cond.reason:
                out.append((name, f"{cond.reason}: {cond.message or ''}".strip(), False))
        for cs in (status.container_statuses if status else None) or []:
            waiting = cs.state.waiting if cs.state else None
            if waiting is None or not waiting.reason or waiting.reason == "ContainerCreating":
                continue
            restarts = int(cs.restart_count or 0)
            text = f"{waiting.reason} (restarts {restarts})"
            last = cs.last_state.terminated if cs.last_state else None
            if last is not None and last.exit_code is not None:
                text += f", last exit code {last.exit_code}"
            if waiting.message and waiting.reason != "CrashLoopBackOff":
                text += f": {waiting.message}"
            stuck = waiting.reason in CANNOT_START or (
                waiting.reason == "CrashLoopBackOff" and restarts >= STUCK_RESTARTS
            )
            out.append((name, text, stuck))
    return out


def rank0_pod(pods: list[Any]) -> Any | None:
    """The pod that runs rank 0: a PyTorchJob's master, else the pod labelled node rank 0
    (a HyperPodPyTorchJob's, spares excluded), else the first pod; None without pods."""
    if not pods:
        return None
    for pod in pods:
        if "-master-" in pod.metadata.name:
            return pod
    for pod in pods:
        if _label(pod, jk.HP_NODE_RANK_LABEL) == "0":
            return pod
    return pods[0]


def _label(obj: Any, key: str) -> str | None:
    """A label of a client object: the official client's labels are a dict, the lean path's
    (:mod:`hyperpod.client.lean`) a read-only view whose attributes are the JSON keys."""
    labels = obj.metadata.labels
    if labels is None:
        return None
    if isinstance(labels, dict):
        return labels.get(key)
    value = getattr(labels, key, None)
    return None if value is None else str(value)


def failed_pod(pods: list[Any]) -> str | None:
    """The name of the first pod whose container last ended with a non-zero exit code."""
    for pod in pods:
        for cs in (pod.status.container_statuses if pod.status else None) or []:
            for state in (cs.state, cs.last_state):
                ended = state.terminated if state else None
                if ended is not None and ended.exit_code:
                    return str(pod.metadata.name)
    return None


def job_message(job: dict[str, Any]) -> str:
    conditions = (job.get("status") or {}).get("conditions") or []
    true = [c for c in conditions if c.get("status") == "True"]
    return str(true[-1].get("message", "")) if true else ""


class Jobs:
    """Training jobs on the cluster that ``kube`` reaches."""

    def __init__(self, kube: Kube) -> None:
        self.kube = kube

    def _call(self, fn: Callable[[], T], kind: str = jk.PT_KIND) -> T:
        """``fn``, with transport errors and an unserved ``kind`` turned into UserErrors."""
        try:
            return fn()
        except UserError:
            raise
        except Exception as exc:
            module = type(exc).__module__
            if module.startswith("urllib3") or isinstance(exc, ConnectionError):
                raise ClusterUnreachable(
                    f"cannot reach the cluster at {self.kube.server()}",
                    "is it running? `hyp list cluster-stack` shows local clusters; `hyp create` starts one",
                ) from exc
            if (
                _status_code(exc) == 404
                and "the server could not find the requested resource"
                in str(getattr(exc, "body", "")).lower()
            ):
                group, version, plural, _ = KINDS[kind]
                raise KindNotServed(
                    f"the cluster does not serve {group}/{version} {kind}s ({plural})",
                    NOT_SERVED_HINTS[kind],
                ) from exc
            raise

    def _on_job(self, fn: Callable[[], T], name: str, namespace: str, kind: str = jk.PT_KIND) -> T:
        """``fn`` (a call about one job), with 404 and 409 turned into JobNotFound / JobExists."""
        try:
            return self._call(fn, kind)
        except Exception as exc:
            code = _status_code(exc)
            if code == 404 and not self._namespace_exists(namespace):
                raise UserError(
                    f"namespace {namespace!r} does not exist",
                    "check -n/--namespace; `kubectl get namespaces` lists them",
                ) from exc
            if code == 404:
                raise JobNotFound(
                    f"no job named {name!r} in namespace {namespace!r}",
                    f"see `hyp list hyp-pytorch-job -n {namespace}`",
                ) from exc
            if code == 409:
                raise JobExists(
                    f"a job named {name!r} already exists in namespace {namespace!r}",
                    f"pick another --job-name, or `hyp delete hyp-pytorch-job --job-name {name} "
                    f"-n {namespace}` first",
                ) from exc
            raise

    def _namespace_exists(self, namespace: str) -> bool:
        try:
            self._call(partial(self.kube.core().read_namespace, namespace))
        except Exception as exc:
            return _status_code(exc) != 404
        return True

    def create(self, manifest: dict[str, Any]) -> dict[str, Any]:
        ns = manifest["metadata"]["namespace"]
        kind = manifest.get("kind", "")
        kind = kind if kind in KINDS else jk.PT_KIND
        group, version, plural, _ = KINDS[kind]
        custom = self.kube.custom()
        call = partial(custom.create_namespaced_custom_object, group, version, ns, plural, manifest)
        out: dict[str, Any] = self._on_job(call, manifest["metadata"]["name"], ns, kind)
        return out

    def get(self, name: str, namespace: str) -> dict[str, Any]:
        """The job of either kind named ``name`` (the HyperPodPyTorchJob when both exist)."""
        custom = self.kube.custom()
        missing: JobNotFound | None = None
        unserved: KindNotServed | None = None
        for kind, (group, version, plural, _) in KINDS.items():
            call = partial(
                custom.get_namespaced_custom_object, group, version, namespace, plural, name
            )
            try:
                out: dict[str, Any] = self._on_job(call, name, namespace, kind)
            except JobNotFound as exc:
                missing = missing or exc
                continue
            except KindNotServed as exc:
                unserved = unserved or exc
                continue
            return out
        error = missing or unserved
        assert error is not None
        raise error

    def list_jobs(self, namespace: str | None, *, page_size: int = 500) -> list[dict[str, Any]]:
        """Every job of both kinds (in ``namespace``, or all namespaces for None).

        A cluster that serves only one of the kinds lists that one; one that serves neither
        raises the first kind's UserError.
        """
        items: list[dict[str, Any]] = []
        unserved: list[KindNotServed] = []
        for kind in KINDS:
            try:
                items += self._list_kind(kind, namespace, page_size)
            except KindNotServed as exc:
                unserved.append(exc)
        if len(unserved) == len(KINDS):
            raise unserved[0]
        return items

    def _list_kind(self, kind: str, namespace: str | None, page_size: int) -> list[dict[str, Any]]:
        group, version, plural, _ = KINDS[kind]
        custom = self.kube.custom()
        items: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"limit": page_size}
            if token:
                kwargs["_continue"] = token
            if namespace is None:
                call = partial(custom.list_cluster_custom_object, group, version, plural)
            else:
                call = partial(
                    custom.list_namespaced_custom_object, group, version, namespace, plural
                )
            result = self._call(partial(call, **kwargs), kind)
            items.extend(result.get("items", []))
            token = (result.get("metadata") or {}).get("continue") or None
            if not token:
                return items

    def delete(self, name: str, namespace: str, *, wait: float | None = 60.0) -> str:
        """Delete the job (its pods go with it); wait up to ``wait`` s until it is gone.
        Returns the kind of the job deleted."""
        kind = str(self.get(name, namespace).get("kind", jk.PT_KIND))
        group, version, plural, _ = KINDS[kind]
        custom = self.kube.custom()
        call = partial(
            custom.delete_namespaced_custom_object,
            group,
            version,
            namespace,
            plural,
            name,
            propagation_policy="Background",
        )
        self._on_job(call, name, namespace, kind)
        deadline = time.monotonic() + (wait or 0)
        while wait and time.monotonic() < deadline:
            try:
                self.get(name, namespace)
            except JobNotFound:
                break
            time.sleep(0.2)
        return kind

    def pods(self, name: str, namespace: str, kind: str | None = None) -> list[Any]:
        """The job's pods, by ``kind``'s pod label (without a kind: HyperPod's ``HPJob``
        label first, then PyTorchJob's)."""
        kinds = [kind] if kind in KINDS else list(KINDS)
        for label in (KINDS[k][3] for k in kinds):
            call = partial(
                self.kube.core().list_namespaced_pod, namespace, label_selector=f"{label}={name}"
            )
            result = self._call(call)
            if result.items:
                return sorted(result.items, key=lambda p: p.metadata.name)
        return []

    def events(self, name: str, namespace: str) -> list[Any]:
        """Events about the job and its pods (best effort: [] if the cluster cannot say)."""
        try:
            result = self._call(lambda: self.kube.core().list_namespaced_event(namespace))
        except UserError:
            raise
        except Exception:
            return []
        prefix = f"{name}-"
        mine = [
            e
            for e in result.items
            if e.involved_object.name == name
            or (e.involved_object.kind == "Pod" and str(e.involved_object.name).startswith(prefix))
        ]
        return sorted(mine, key=event_time)

    def wait_started(self, pod: str, namespace: str, timeout: float = 120.0) -> None:
        """Wait until ``pod`` has left Pending (so its log exists)."""
        deadline = time.monotonic() + timeout
        core = self.kube.core()
        while time.monotonic() < deadline:
            try:
                phase = self._call(lambda: core.read_namespaced_pod(pod, namespace)).status.phase
            except Exception as exc:
                if _status_code(exc) != 404:
                    raise
                phase = "Pending"
            if phase != "Pending":
                return
            time.sleep(0.3)
        raise UserError(
            f"pod {pod!r} is still Pending after {timeout:g} s",
            "see `hyp describe hyp-pytorch-job` for scheduling events",
        )

    def logs(
        self,
        pod: str,
        namespace: str,
        *,
        follow: bool = False,
        container: str | None = None,
        tail: int | None = None,
    ) -> Iterator[str]:
        """The pod's log as text chunks (following until the container ends with ``follow``)."""
        core = self.kube.core()
        kwargs: dict[str, Any] = {"follow": follow, "_preload_content": False}
        if container:
            kwargs["container"] = container
        if tail is not None:
            kwargs["tail_lines"] = tail
        try:
            resp = self._call(lambda: core.read_namespaced_pod_log(pod, namespace, **kwargs))
        except Exception as exc:
            if _status_code(exc) == 404:
                raise UserError(
                    f"no pod named {pod!r} in namespace {namespace!r}",
                    "see `hyp list-pods hyp-pytorch-job --job-name NAME`",
                ) from exc
            if _status_code(exc) == 400:
                body = str(getattr(exc, "body", ""))
                raise UserError(
                    f"logs of {pod!r} are not available yet: {body[:200]}",
                    "wait until the pod has started",
                ) from exc
            raise
        try:
            for chunk in resp.stream(amt=4096, decode_content=True):
                yield chunk.decode("utf-8", errors="replace")
        finally:
            resp.release_conn()

    def exec(
        self,
        pod: str,
        namespace: str,
        command: list[str],
        *,
        out: TextIO,
        err: TextIO,
        container: str | None = None,
    ) -> int:
        """Run ``command`` in a pod's container (pods/exec over WebSocket), copying its output
        to ``out``/``err`` as it comes; returns its exit code."""
        from kubernetes.stream import stream

        core = self.kube.core()
        kwargs: dict[str, Any] = {
            "command": command,
            "stdout": True,
            "stderr": True,
            "stdin": False,
            "tty": False,
            "_preload_content": False,
        }
        if container:
            kwargs["container"] = container
        try:
            ws = self._call(
                lambda: stream(core.connect_get_namespaced_pod_exec, pod, namespace, **kwargs)
            )
        except UserError:
            raise
        except Exception as exc:
            raise UserError(
                f"cannot exec in pod {pod!r}: {_refusal(exc)}",
                "see `hyp list-pods hyp-pytorch-job --job-name NAME` for the pods and their state",
            ) from exc
        try:
            while ws.is_open():
                ws.update(timeout=1)
                if ws.peek_stdout():
                    out.write(ws.read_stdout())
                    out.flush()
                if ws.peek_stderr():
                    err.write(ws.read_stderr())
                    err.flush()
            out.write(ws.read_stdout() or "")
            err.write(ws.read_stderr() or "")
            status = _exit_status(ws.read_channel(3))
        finally:
            ws.close()
        if isinstance(status, str):
            raise UserError(f"cannot exec in pod {pod!r}: {status}", "")
        return status

    def _last_lines(self, pod: str, namespace: str, count: int = 5) -> str:
        """The last lines the pod's failed container printed, as an indented block ("" if none)."""
        core = self.kube.core()
        for previous in (True, False):
            try:
                text = core.read_namespaced_pod_log(
                    pod, namespace, previous=previous, tail_lines=count
                )
            except Exception:
                continue
            if text and str(text).strip():
                return f"\n  last log lines of {pod}:" + _indent(str(text))
        return ""

    def wait(
        self,
        name: str,
        namespace: str,
        *,
        on_change: Callable[[dict[str, Any], str, str], None] | None = None,
        timeout: float | None = None,
        interval: float = 0.5,
        on_problems: Callable[[list[str]], None] | None = None,
    ) -> dict[str, Any]:
        """Poll until the job Succeeds or Fails; raise :class:`JobFailed` on failure.

        ``on_change(job, state, replica summary)`` hears about each change of either.
        ``on_problems`` hears about crash-looping, unschedulable or unstartable pods as they
        change; a pod stuck that way ends the wait with :class:`JobFailed` naming it and
        showing its last log lines (the job itself is left running).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        last = ""
        seen: list[str] = []
        while True:
            job = self.get(name, namespace)
            state = job_state(job)
            pods = self.pods(name, namespace, job.get("kind"))
            if state not in TERMINAL:
                problems = pod_problems(pods)
                lines = [f"{pod}: {text}" for pod, text, _ in problems]
                if on_problems is not None and lines and lines != seen:
                    on_problems(lines)
                seen = lines
                stuck = next(((pod, text) for pod, text, bad in problems if bad), None)
                if stuck is not None:
                    raise JobFailed(
                        f"job {name!r} cannot make progress: pod {stuck[0]}: {stuck[1]}"
                        + self._last_lines(stuck[0], namespace),
                        f"fix the command or image, then `hyp delete hyp-pytorch-job --job-name "
                        f"{name} -n {namespace}` and create it again (it is still on the cluster)",
                    )
            replicas = replica_summary(job, pods)
            summary = f"{state}|{replicas}"
            if on_change is not None and summary != last:
                on_change(job, state, replicas)
            last = summary
            if state in ("Succeeded", "Completed"):
                return job
            if state == "Failed":
                failed = failed_pod(pods)
                raise JobFailed(
                    f"job {name!r} failed: {job_message(job) or 'see its pods'}"
                    + (self._last_lines(failed, namespace) if failed else ""),
                    f"logs: `hyp get-logs hyp-pytorch-job --job-name {name} -n {namespace}`; "
                    f"events: `hyp describe hyp-pytorch-job --job-name {name} -n {namespace}`",
                )
            if deadline is not None and time.monotonic() > deadline:
                raise UserError(
                    f"job {name!r} is still {state} after {timeout:g} s",
                    "it keeps running; follow it with `hyp describe hyp-pytorch-job`",
                )
            time.sleep(interval)


def _indent(text: str) -> str:
    return "".join(f"\n    {line}" for line in text.rstrip().splitlines())


def replica_summary(job: dict[str, Any], pods: list[Any] | None = None) -> str:
    """``Master: active 1; Worker: succeeded 2`` from a PyTorchJob's replica statuses; for a
    HyperPodPyTorchJob (no replica statuses) the phases of its ``pods``: ``pods: Running 2``."""
    statuses = (job.get("status") or {}).get("replicaStatuses") or {}
    if not statuses and pods:
        phases: dict[str, int] = {}
        for pod in pods:
            phase = str((pod.status.phase if pod.status else None) or "Pending")
            phases[phase] = phases.get(phase, 0) + 1
        return "pods: " + ", ".join(f"{phase} {n}" for phase, n in sorted(phases.items()))
    parts = []
    for rtype in sorted(statuses):
        st = statuses[rtype] or {}
        counts = ", ".join(f"{k} {st[k]}" for k in ("active", "succeeded", "failed") if st.get(k))
        parts.append(f"{rtype}: {counts or '-'}")
    return "; ".join(parts)


def _refusal(exc: BaseException) -> str:
    """The API's message from a refused exec upgrade (the client folds it into ``reason``)."""
    text = str(getattr(exc, "reason", "") or exc)
    start = text.find('{"kind":"Status"')
    if start >= 0:
        try:
            return str(json.loads(text[start:].strip())["message"])
        except (ValueError, KeyError, TypeError):
            pass
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__


def _exit_status(raw: str) -> int | str:
    """The command's exit code from the final Status, or the error message when it never ran."""
    if not raw:
        return "the connection closed before the command reported how it ended"
    try:
        status = json.loads(raw)
    except ValueError:
        return raw.strip()
    if status.get("status") == "Success":
        return 0
    if status.get("reason") == "NonZeroExitCode":
        for cause in (status.get("details") or {}).get("causes") or []:
            if cause.get("reason") == "ExitCode":
                try:
                    return int(cause.get("message"))
                except (TypeError, ValueError):
                    break
        return 1
    return str(status.get("message") or raw.strip())
