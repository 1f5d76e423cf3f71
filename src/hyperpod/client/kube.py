"""Access to a cluster through the official ``kubernetes`` client, built from a kubeconfig.

The client is imported on first use (it takes about a second to import), so commands that
never talk to a cluster start fast; reads of custom objects (job lists and gets) skip it
altogether through :mod:`hyperpod.client.lean` when the kubeconfig context allows.
"""

from __future__ import annotations

from typing import Any

from hyperpod.client import lean
from hyperpod.client.errors import ClusterUnreachable


class Kube:
    """API objects for one kubeconfig context (``None``: the default file / current context)."""

    def __init__(self, kubeconfig: str | None = None, context: str | None = None) -> None:
        self.kubeconfig = kubeconfig
        self.context = context
        self._api: Any = None
        self._lean: lean.LeanRest | bool | None = False  # False: not looked at yet

    def lean(self) -> lean.LeanRest | None:
        """The lean HTTPS path for this context, or None where the official client is needed."""
        if self._lean is False:
            from hyperpod.client import kubeconfig as kc

            path = self.kubeconfig or str(kc.default_path())
            self._lean = lean.from_kubeconfig(path, self.context)
        return self._lean if isinstance(self._lean, lean.LeanRest) else None

    def api_client(self) -> Any:
        if self._api is None:
            from kubernetes import config
            from kubernetes.config.config_exception import ConfigException

            from hyperpod.client import kubeconfig as kc

            path = self.kubeconfig or str(kc.default_path())
            try:
                self._api = config.new_client_from_config(config_file=path, context=self.context)
            except ConfigException as exc:
                raise ClusterUnreachable(
                    f"no usable kubeconfig context ({path}): {exc}",
                    "create a local cluster with `hyp create`, or pass --kubeconfig/--context",
                ) from exc
            except FileNotFoundError as exc:
                raise ClusterUnreachable(
                    f"kubeconfig {path} does not exist",
                    "create a local cluster with `hyp create` (it writes the context), or pass --kubeconfig",
                ) from exc
            # Fail fast when the cluster is down instead of retrying for seconds.
            self._api.configuration.retries = 0
        return self._api

    def server(self) -> str:
        rest = self.lean()
        if rest is not None and self._api is None:
            return rest.server
        return str(self.api_client().configuration.host)

    def core(self) -> Any:
        rest = self.lean()
        if rest is not None:
            return lean.LeanCoreV1(rest, self._official_core)
        return self._official_core()

    def _official_core(self) -> Any:
        from kubernetes import client

        return client.CoreV1Api(self.api_client())

    def custom(self) -> Any:
        rest = self.lean()
        if rest is not None:
            return lean.LeanCustomObjects(rest, self._official_custom)
        return self._official_custom()

    def _official_custom(self) -> Any:
        from kubernetes import client

        return client.CustomObjectsApi(self.api_client())
